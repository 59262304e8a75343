//! # icebreaker-turn
//!
//! TURN (RFC 8656, with RFC 6156 folded in) as two sans-IO state machines: a [`Client`] that
//! allocates a relayed address and keeps it, its permissions and its channels alive, and a
//! [`Server`] that relays for its clients and nowhere it should not. Nothing here opens a
//! socket, reads a clock or draws from a global RNG: time is the `now` argument, randomness comes
//! from seeds in the configs, relayed ports from a [`PortAllocator`] the caller supplies.
//!
//! Both sides share the loop of the other icebreaker state machines:
//!
//! ```text
//! handle_receive(now, from, to, &datagram)   feed what arrived (server: also handle_peer_receive)
//! handle_timeout(now)                        once poll_timeout() has passed
//! poll_transmit(&mut buf)                    drain what to send (server: on which socket, Via)
//! poll_timeout()                             when to call handle_timeout next
//! poll_event()                               client: what happened (allocated, failed with 403 ...)
//! ```
//!
//! Over TCP and TLS, split the byte stream with
//! [`icebreaker_stun::framing::StreamFramer`] and feed each frame to `handle_receive_on`
//! (server) or `handle_receive` (client, with [`ClientConfig::transport`] set).
//!
//! ## Secure by default
//!
//! The server relays to no special-purpose address (loopback, private, CGNAT, link-local and
//! cloud metadata, multicast, documentation, benchmarking, reserved, ULA ...) however it is
//! written (`::ffff:127.0.0.1`, 6to4, NAT64, Teredo ...), nor to itself, unless an explicit
//! allow-list says so ([`PeerPolicy`]). Nonces are stateless, unauthenticated requests leave no
//! state, 401 answers are rate-limited per source and never amplify more than 2.5×, and every
//! table has a documented cap. No reason phrases and no SOFTWARE unless configured.
//!
//! ## Example: a client allocates through a server, in process
//!
//! ```
//! use std::time::Instant;
//! use icebreaker_turn::{Client, ClientConfig, Event, PortPool, Received, Server, ServerConfig};
//!
//! let now = Instant::now();
//! let server_addr = "203.0.113.1:3478".parse().unwrap();
//! let client_addr = "198.51.100.7:50000".parse().unwrap();
//! let config = ServerConfig {
//!     realm: "example.org".into(),
//!     users: vec![("alice".into(), "secret".into())],
//!     nonce_secret: [1; 32],
//!     ..Default::default()
//! };
//! let ports = PortPool::new(Some("203.0.113.1".parse().unwrap()), None, 49152..=65535, [2; 32]);
//! let mut server = Server::new(config, ports, now);
//! let mut client = Client::new(ClientConfig::new(client_addr, server_addr, "alice", "secret"));
//!
//! client.allocate(now);
//! let mut buf = Vec::new();
//! // Shuttle datagrams until both sides are quiet: 401 challenge, then the signed retry.
//! loop {
//!     let mut moved = false;
//!     while let Some(t) = client.poll_transmit(&mut buf) {
//!         server.handle_receive(now, t.from, t.to, &buf);
//!         moved = true;
//!     }
//!     while let Some(t) = server.poll_transmit(&mut buf) {
//!         assert_eq!(client.handle_receive(now, t.from, t.to, &buf), Received::Handled);
//!         moved = true;
//!     }
//!     if !moved { break; }
//! }
//! match client.poll_event() {
//!     Some(Event::Allocated { relayed, .. }) => assert_eq!(relayed[0].ip().to_string(), "203.0.113.1"),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! ## Relevant standards
//!
//! - [x] RFC 8656 TURN: Allocate, Refresh, CreatePermission, ChannelBind, Send and Data
//!   indications, ChannelData (padded over streams), lifetimes (600 s default, 3600 s max),
//!   permissions (300 s), channels (600 s, 0x4000–0x4FFF, conflict rules), EVEN-PORT and
//!   RESERVATION-TOKEN, DONT-FRAGMENT, REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY,
//!   ADDRESS-ERROR-CODE, dual allocations whose two relayed addresses each keep their own
//!   lifetime (a Refresh with REQUESTED-ADDRESS-FAMILY refreshes or deletes that family
//!   alone, §7.1; [`Client`] refreshes both together and deletes one with
//!   [`Client::delete_family`]), the error codes 400, 401, 403, 420, 437, 438, 440, 441, 442,
//!   443, 486, 508
//! - [x] RFC 6156 IPv6 relaying (folded into RFC 8656)
//! - [x] RFC 8489 long-term credentials: nonce cookie, PASSWORD-ALGORITHMS (MD5, SHA-256),
//!   USERHASH, MESSAGE-INTEGRITY-SHA256, 300 Try Alternate (followed when authenticated)
//! - [x] TURN REST API ephemeral credentials (draft-uberti-behave-turn-rest-00)
//! - [x] RFC 6890 / IANA special-purpose address registries (peer policy)
//! - [x] RFC 7983 demultiplexing of STUN and ChannelData
//! - [x] RFC 8656 §7.2, §11.2, §14 DONT-FRAGMENT: a Send indication carrying it is relayed
//!   as `Via::Relay { dont_fragment: true }`, everything else with the DF bit clear (§14's
//!   alternate behaviour: a UDP socket cannot see the incoming DF bit to copy it); in an
//!   Allocate it asks whether DF is supported. A transport that cannot set DF turns
//!   [`ServerConfig::dont_fragment`] off, and the server then answers it in an Allocate with
//!   420 and drops Send indications carrying it. The `icebreaker` runtime sends with
//!   `IP_PMTUDISC_DO` (`IPV6_PMTUDISC_DO`) for DF and `IP_PMTUDISC_DONT` (IPv6: the
//!   default, `IPV6_PMTUDISC_WANT`) otherwise; [`ClientConfig::dont_fragment`] puts it in the
//!   Allocate and in every Send indication, and with [`ClientConfig::dont_fragment_fallback`]
//!   a 420 naming it makes the client allocate again without it (§7.4)
//! - [ ] RFC 6062 TCP allocations, RFC 7635 OAuth, RFC 8016 mobility: not implemented
//! - [ ] ICMP attribute relaying: the server never sends ICMP (the runtime does not read ICMP)

mod auth;
mod client;
pub mod policy;
mod ports;
mod server;
mod table;

pub use auth::{base64, rest_password, rest_username};
pub use client::{
    CHANNEL_REFRESH, Client, ClientConfig, Error, Event, MAX_CHANNELS, MAX_PENDING,
    MAX_PERMISSIONS, MAX_QUEUED_SENDS, Operation, PERMISSION_REFRESH, Received, State,
};
pub use policy::{Cidr, PeerPolicy, PolicyError};
pub use ports::{PortAllocator, PortError, PortPool};
pub use server::{
    CHANNEL_LIFETIME, ClientRelay, MAX_AUTH_SECRETS, PERMISSION_LIFETIME, PeerRelay, Server,
    ServerConfig, ServerStats, ServerTransmit, Via,
};

use core::net::SocketAddr;

/// The transport between a TURN client and its server (relaying to peers is always UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// UDP, port 3478 by default.
    Udp = 17,
    /// TCP, port 3478 by default.
    Tcp = 6,
    /// TLS over TCP, port 5349 by default.
    Tls = 56,
}

/// What identifies an allocation (RFC 8656 §2): the client's address, the server address it
/// reached, and the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiveTuple {
    /// The client's address (as the server sees it).
    pub client: SocketAddr,
    /// The server's listening address the client sent to.
    pub server: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

/// A token-bucket bandwidth cap, in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// Sustained rate.
    pub bytes_per_second: u64,
    /// Bucket size: how much may pass at once.
    pub burst: u64,
}

mod fuzz;
#[doc(hidden)]
pub use fuzz::{fuzz_client, fuzz_server};
