//! # icebreaker
//!
//! The runtime of the icebreaker workspace and the `icebreaker` command-line tool. It is the
//! only crate that opens sockets, reads the clock and draws OS entropy: everything protocol-
//! shaped lives in the sans-IO crates (`icebreaker-stun`, `-sdp`, `-nat`, `-sim`, `-turn`,
//! `-ice`), and this crate composes them (the sans-IO [`peer::Peer`]) and drives them over real
//! sockets with tokio (DESIGN.md, "Sans-IO, everywhere but the runtime").
//!
//! The modules are usable on their own, so tests and the demo can run a server or a client
//! in-process:
//!
//! - [`decode`]: `icebreaker stun decode`, hex in, a typed report out;
//! - [`server`]: the binding server (RFC 5780 with four sockets) over tokio UDP sockets;
//! - [`client`]: one Binding transaction, and RFC 5780 NAT behaviour discovery;
//! - [`demo`]: the loopback tour `icebreaker` runs without a subcommand;
//! - [`turn_server`], [`turn_client`]: `icebreaker turn-server|turn-client` over icebreaker-turn;
//! - [`tls`]: rustls configurations for TURN over TLS (`--tls-listen`, `turns:`);
//! - [`target`]: parsing of the SERVER argument (`host:port`, `host`, `stun:` URIs);
//! - [`entropy`]: a ChaCha20 RNG seeded from the OS;
//! - [`sdp`]: `icebreaker sdp parse|fmt`, SDP validation and the canonical form;
//! - [`sim`]: `icebreaker sim nat-type|punch|run|matrix` on the simulated internet;
//! - [`scenario`]: whole ICE connection attempts on the simulated internet (NAT matrix);
//! - [`peer`]: the sans-IO Peer, ICE with SDP offer/answer and the JSON signalling messages;
//! - [`driver`]: the tokio driver of a Peer (interface sockets, timers, signal channels);
//! - [`mdns`]: resolving browsers' `<uuid>.local` host candidates (RFC 6762 one-shot queries);
//! - [`peer_cmd`], [`signal`]: `icebreaker peer` and `icebreaker signal-server`;
//! - [`cli`]: the argument grammar and the dispatch behind `main`.
//!
//! ## Example: one connection attempt on the simulated internet
//!
//! ```
//! use icebreaker::scenario::{Scenario, run};
//!
//! // A behind a port-restricted NAT, B behind a symmetric one: only a TURN relay works.
//! let attempt = Scenario::new("port-restricted".parse().unwrap(), "symmetric".parse().unwrap(), 7);
//! let outcome = run(&attempt).unwrap();
//! assert!(outcome.connected);
//! assert_eq!(outcome.verdict(), "relay");
//! ```
//!
//! Exit codes: 0 success, 1 a check or a network operation failed (an `invalid` verdict, no
//! answer from the server), 2 bad input (unusable arguments, malformed hex or STUN).

pub mod cli;
pub mod client;
pub mod decode;
pub mod demo;
pub mod driver;
pub mod entropy;
#[doc(hidden)]
pub mod fuzz;
pub mod mdns;
pub mod peer;
pub mod peer_cmd;
mod refusals;
pub mod scenario;
pub mod sdp;
pub mod server;
pub mod signal;
pub mod sim;
pub mod target;
pub mod tls;
pub mod turn_client;
pub mod turn_server;
mod udp_batch;
