//! A sans-IO, deterministic model of NAT behaviour as RFC 4787 describes it.
//!
//! A [`Nat`] is one box: it rewrites the source of outbound packets ([`Nat::outbound`]), admits or
//! drops inbound ones with a reason ([`Nat::inbound`]) and loops packets to its own public address
//! back inside ([`Nat::hairpin`]). It reads no clock and has no global randomness: every call takes
//! `now` as its first parameter, port choices come from a ChaCha8 RNG seeded in [`Nat::new`], and
//! every table is a `BTreeMap`, so the same inputs always give the same outputs. That makes it the
//! NAT of `icebreaker-sim`, where every claim about connectivity is proven.
//!
//! Behaviour is configured in RFC 4787 terms ([`NatConfig`]): mapping ([`Mapping`]), filtering
//! ([`Filtering`]), port assignment ([`PortAssignment`], port range, parity), pooling of several
//! public addresses ([`Pooling`]), mapping lifetime (refreshed by outbound and optionally inbound
//! packets, expiring exactly at `last refresh + timeout`), hairpinning, IPv6 (a firewall without
//! translation by default) and a cap on live mappings. Presets cover the classic types, and
//! [`NatSpec`] parses the spec strings of the command line, including chains (`+`).
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use icebreaker_nat::{DropReason, Nat, NatSpec};
//!
//! let spec: NatSpec = "port-restricted,timeout=30s".parse()?;
//! let mut nat = Nat::new(spec.layers[0].clone(), &["203.0.113.1".parse()?], 42);
//! let now = Instant::now();
//! let host: SocketAddr = "192.168.1.2:5000".parse()?;
//! let server: SocketAddr = "198.51.100.1:3478".parse()?;
//!
//! // Outbound: the source is translated (the port is preserved) and a mapping is created.
//! let external = nat.outbound(now, host, server)?;
//! assert_eq!(external, "203.0.113.1:5000".parse()?);
//!
//! // Inbound: the server's reply is admitted; a stranger is filtered.
//! assert_eq!(nat.inbound(now, server, external), Ok(host));
//! let stranger: SocketAddr = "198.51.100.9:3478".parse()?;
//! assert_eq!(nat.inbound(now, stranger, external), Err(DropReason::Filtered));
//!
//! // The mapping expires exactly 30 s after the last outbound packet.
//! let later = now + Duration::from_secs(30);
//! assert_eq!(nat.inbound(later, server, external), Err(DropReason::MappingExpired));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Relevant standards
//!
//! - [x] RFC 4787 NAT Behavioral Requirements for Unicast UDP: mapping (§4.1), port assignment
//!   with preservation, ranges and parity (§4.2), pooling paired/arbitrary (§4.1, REQ-2), mapping
//!   refresh and timeout (§4.3), filtering (§5), hairpinning with translated source (§6, REQ-9).
//! - [x] RFC 3489 §5 classic names: full cone, restricted cone, port-restricted cone, symmetric.
//! - [x] RFC 6888 carrier-grade NAT: modelled as a chain of boxes (`home+carrier`).
//! - [x] RFC 6092 simple IPv6 security: IPv6 flows are filtered without translation by default.
//! - [ ] TCP (RFC 5382), ICMP (RFC 5508) and fragments: not modelled; UDP only.

mod config;
mod fuzz;
mod nat;
mod spec;

pub use config::{
    DEFAULT_MAPPING_TIMEOUT, DEFAULT_MAX_MAPPINGS, Filtering, Ipv6Mode, Mapping, NatConfig,
    Pooling, PortAssignment,
};
#[doc(hidden)]
pub use fuzz::fuzz_ops;
pub use nat::{DropReason, MappingView, Nat};
#[doc(hidden)]
pub use spec::fuzz_spec;
pub use spec::{Key, MAX_LAYERS, MAX_SPEC_LEN, NatSpec, SpecError, SpecErrorKind};
