//! A deterministic discrete-event network simulator for sans-IO endpoints.
//!
//! A [`Sim`] holds realms (the public network and the inside of each NAT box), NAT boxes from
//! `icebreaker-nat` (chainable: a home NAT behind a carrier NAT), and hosts that run anything
//! implementing [`Endpoint`] (`handle_receive` / `handle_timeout` / `poll_transmit` /
//! `poll_timeout`). Nothing sleeps: the virtual clock ([`SimClock`]) jumps from event to event,
//! simultaneous events are ordered by a sequence number, and every random draw (link loss, jitter,
//! duplication, reordering; NAT port choices) comes from a ChaCha8 stream per component derived
//! from one seed in creation order. The same seed gives the identical trace ([`Sim::trace_hash`]).
//!
//! Each step (1) drains every endpoint's `poll_transmit`, (2) jumps the clock to the earliest of
//! the next arrival and every endpoint's `poll_timeout`, (3) delivers every arrival due in
//! `(at, seq)` order (a packet moves hop by hop: across a realm's link, through a NAT box, across
//! the next realm), and (4) fires due timers. Runs are bounded by virtual time and by step count;
//! a [`SimError`] prints `SIM_SEED=<n>` to replay it. Every packet's fate is traced with a reason
//! for every drop ([`DropCause`]): filtered by a NAT, no mapping, mapping expired, lost on the
//! link, too big for the MTU, no route. Captures at a host or either side of a NAT box become pcap
//! files (LINKTYPE_RAW with real IPv4/IPv6 and UDP headers) that tshark reads.
//!
//! Tests sweep seeds with [`seeds_from_env`]: `SIM_SEEDS=0..200 cargo test -p icebreaker-sim`
//! replays 200 seeds (a small range by default); a failing assertion or [`SimError`] names the seed.
//!
//! [`punch`] runs the UDP hole-punching scenario between two NAT specs, and [`discovery`] builds
//! the RFC 5780 topology; both take the wire codec or endpoints from the caller, so this crate
//! depends on `icebreaker-nat` only.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use icebreaker_sim::{Datagram, Endpoint, LinkConfig, RealmId, Sim};
//!
//! /// Sends one datagram, then counts what comes back.
//! struct Ping { me: SocketAddr, peer: SocketAddr, sent: bool, replies: usize }
//! /// Echoes every datagram to where it came from.
//! struct Echo { me: SocketAddr, out: Vec<Datagram> }
//!
//! impl Endpoint for Ping {
//!     fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) { self.replies += 1; }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self) -> Option<Datagram> {
//!         if self.sent { return None; }
//!         self.sent = true;
//!         Some(Datagram { from: self.me, to: self.peer, data: Bytes::from_static(b"ping") })
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//! impl Endpoint for Echo {
//!     fn handle_receive(&mut self, _: Instant, from: SocketAddr, _: SocketAddr, data: &[u8]) {
//!         self.out.push(Datagram { from: self.me, to: from, data: Bytes::copy_from_slice(data) });
//!     }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self) -> Option<Datagram> { self.out.pop() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! let mut sim = Sim::new(7, Instant::now());
//! let server_ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
//! let server = SocketAddr::new(server_ip, 7);
//! sim.add_host(RealmId::PUBLIC, &[server_ip], Box::new(Echo { me: server, out: vec![] }));
//!
//! let spec = "port-restricted+symmetric".parse().unwrap(); // home NAT behind a carrier NAT
//! let (_nats, home) = sim.add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan()).unwrap();
//! let ip = sim.alloc_ip(home).unwrap();
//! let me = SocketAddr::new(ip, 5000);
//! let host = sim.add_host(home, &[ip], Box::new(Ping { me, peer: server, sent: false, replies: 0 })).unwrap();
//!
//! sim.run_until(Duration::from_secs(1), |s| s.endpoint::<Ping>(host).unwrap().replies == 1)?;
//! assert!(sim.elapsed() >= Duration::from_millis(40)); // two internet crossings
//! # Ok::<(), icebreaker_sim::SimError>(())
//! ```
//!
//! # Relevant standards
//!
//! - [x] RFC 4787 NAT behaviour, through `icebreaker-nat` (every box, chains for RFC 6888 CGN).
//! - [x] RFC 5780 §4 NAT behaviour discovery topology: a server on two public addresses ([`discovery`]).
//! - [x] RFC 768 / RFC 791 / RFC 8200 headers and checksums in pcap captures (LINKTYPE_RAW, 101).
//! - [ ] TCP, ICMP (e.g. "port unreachable") and IP fragmentation: not simulated; oversize packets
//!   are dropped with [`DropCause::Mtu`].

pub mod discovery;
mod link;
mod pcap;
pub mod punch;
mod sim;
mod trace;

pub use link::LinkConfig;
pub use pcap::{Capture, CapturePoint, Captured, MAX_CAPTURED, PcapError, ip_udp};
pub use sim::{
    CaptureId, Datagram, Endpoint, HostId, NatId, RealmId, Sim, SimClock, SimConfig, SimError,
    SimErrorKind, Stats, derive_seed,
};
pub use trace::{DropCause, Fate, PacketFate, TraceEvent, TraceKind, fates};

/// Seeds to sweep in tests: the `SIM_SEEDS` environment variable (`N`, `A..B` or `A,B,C`), or
/// `default` when it is unset or malformed.
pub fn seeds_from_env(default: std::ops::Range<u64>) -> Vec<u64> {
    let Ok(text) = std::env::var("SIM_SEEDS") else {
        return default.collect();
    };
    parse_seeds(&text).unwrap_or_else(|| default.collect())
}

/// Parses `N`, `A..B` (exclusive) or `A,B,C`; `None` when malformed or over a million seeds.
pub fn parse_seeds(text: &str) -> Option<Vec<u64>> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if b < a || b - a > 1_000_000 {
            return None;
        }
        return Some((a..b).collect());
    }
    text.split(',').map(|s| s.trim().parse().ok()).collect()
}
