//! The RFC 5780 behaviour-discovery topology: a client behind a NAT spec and a server with two
//! public addresses.
//!
//! RFC 5780 §4 needs a server reachable at two IP addresses and two ports (primary and
//! alternate); the discovery client compares the mapped addresses it sees from each (mapping
//! behaviour, §4.3) and asks the server to answer from the other address or port (filtering
//! behaviour, §4.4). This module builds that topology; the caller adds the two endpoints (from
//! `icebreaker-stun`) with [`Sim::add_host`], so this crate needs no STUN implementation.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_nat::NatSpec;

use crate::{Endpoint, HostId, LinkConfig, NatId, RealmId, Sim, SimError, SimErrorKind};

/// The primary server port.
pub const PRIMARY_PORT: u16 = 3478;
/// The alternate server port.
pub const ALTERNATE_PORT: u16 = 3479;
/// The client's port.
pub const CLIENT_PORT: u16 = 5000;

/// The discovery topology, ready for its two endpoints.
#[derive(Debug)]
pub struct Topology {
    /// The simulation (public link [`LinkConfig::internet`], LAN links [`LinkConfig::lan`]).
    pub sim: Sim,
    /// The NAT boxes, innermost first.
    pub nats: Vec<NatId>,
    /// The realm where the client goes.
    pub client_realm: RealmId,
    /// The client's address (its host gets this IP).
    pub client: SocketAddr,
    /// The server's primary address (`PRIMARY_PORT` on the first IP).
    pub primary: SocketAddr,
    /// The server's alternate address (`ALTERNATE_PORT` on the second IP).
    pub alternate: SocketAddr,
}

impl Topology {
    /// Builds the topology for `spec`. `None` if the address space runs out.
    pub fn new(spec: &NatSpec, seed: u64, epoch: Instant) -> Option<Self> {
        let mut sim = Sim::new(seed, epoch);
        let ip1 = sim.alloc_ip(RealmId::PUBLIC)?;
        let ip2 = sim.alloc_ip(RealmId::PUBLIC)?;
        let (nats, client_realm) = sim.add_nat_chain(RealmId::PUBLIC, spec, LinkConfig::lan())?;
        let client_ip = sim.alloc_ip(client_realm)?;
        Some(Self {
            sim,
            nats,
            client_realm,
            client: SocketAddr::new(client_ip, CLIENT_PORT),
            primary: SocketAddr::new(ip1, PRIMARY_PORT),
            alternate: SocketAddr::new(ip2, ALTERNATE_PORT),
        })
    }

    /// The server host's two IP addresses (primary first).
    pub fn server_ips(&self) -> [IpAddr; 2] {
        [self.primary.ip(), self.alternate.ip()]
    }

    /// Adds `server` (listening on both server IPs) and `client` (on [`Topology::client`]), then
    /// runs until `finished(client)` holds, within `limit` of virtual time. Returns the client's
    /// host, whose endpoint [`Sim::endpoint`] reads back.
    pub fn run<E: Endpoint>(
        &mut self,
        server: Box<dyn Endpoint>,
        client: E,
        limit: Duration,
        finished: impl Fn(&E) -> bool,
    ) -> Result<HostId, SimError> {
        let ips = self.server_ips();
        self.sim
            .add_host(RealmId::PUBLIC, &ips, server)
            .ok_or_else(|| self.sim.error(SimErrorKind::Topology))?;
        let host = self
            .sim
            .add_host(self.client_realm, &[self.client.ip()], Box::new(client))
            .ok_or_else(|| self.sim.error(SimErrorKind::Topology))?;
        self.sim
            .run_until(limit, |s| s.endpoint::<E>(host).is_some_and(&finished))?;
        Ok(host)
    }
}
