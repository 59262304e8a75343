//! The discrete-event simulator: topology, event queue, step loop.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_nat::{Ipv6Mode, Nat, NatConfig, NatSpec};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::link::{LinkConfig, header_len};
use crate::pcap::{Capture, CapturePoint, PcapError};
use crate::trace::{DropCause, TraceEvent, TraceHasher, TraceKind};

/// A host in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// A NAT box in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatId(pub usize);

/// A network segment: the public network ([`RealmId::PUBLIC`]) or the inside of one NAT box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RealmId(pub usize);

impl RealmId {
    /// The public network.
    pub const PUBLIC: Self = Self(0);
}

/// A capture started with [`Sim::capture`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaptureId(pub usize);

/// One UDP datagram an endpoint sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Source address; must be one of the host's addresses.
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// Payload.
    pub data: Bytes,
}

/// Anything sans-IO that runs on a simulated host.
///
/// Call protocol, as the simulator follows it: after `handle_receive` or `handle_timeout` it drains
/// `poll_transmit` until `None` (at the start of the next step, at the same virtual instant), and
/// calls `handle_timeout(now)` once `now` has reached `poll_timeout`. `now` never goes backwards.
pub trait Endpoint: Any {
    /// A datagram arrived, sent by `from` to this host's address `to`.
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]);
    /// The instant from `poll_timeout` has come.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send, if any.
    fn poll_transmit(&mut self) -> Option<Datagram>;
    /// When `handle_timeout` should be called next, if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// The virtual clock: an arbitrary `epoch` and the time elapsed since it. Traces log `elapsed`,
/// so they are identical across runs whatever the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimClock {
    /// The instant virtual time 0 corresponds to.
    pub epoch: Instant,
    /// Virtual time since `epoch`.
    pub elapsed: Duration,
}

impl SimClock {
    /// The current instant.
    pub fn now(&self) -> Instant {
        self.epoch + self.elapsed
    }
}

/// Simulation limits and switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// The run stops with [`SimErrorKind::StepLimit`] after this many steps.
    pub max_steps: u64,
    /// The most datagrams one endpoint may emit in one step ([`SimErrorKind::TransmitFlood`]).
    pub max_transmits_per_step: usize,
    /// Whether trace events are kept (the trace hash is computed either way).
    pub record_trace: bool,
    /// The most trace events kept; later ones are only hashed.
    pub max_trace: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_steps: 10_000_000,
            max_transmits_per_step: 100_000,
            record_trace: true,
            max_trace: 1 << 20,
        }
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimErrorKind {
    /// Virtual time reached the limit before the run's goal.
    TimeLimit,
    /// The step budget ran out.
    StepLimit,
    /// Nothing is in flight and no endpoint has a timer, yet the goal is not reached.
    Stalled,
    /// An endpoint emitted more datagrams in one step than [`SimConfig::max_transmits_per_step`].
    TransmitFlood {
        /// The flooding host.
        host: HostId,
    },
    /// A host or NAT box could not be added (unknown realm, address space exhausted).
    Topology,
}

/// A run that stopped early. Its `Display` ends with `SIM_SEED=<seed>` so it can be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimError {
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time when it stopped.
    pub elapsed: Duration,
    /// Steps taken.
    pub steps: u64,
    /// Why.
    pub kind: SimErrorKind,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SimErrorKind::TimeLimit => f.write_str("time limit reached before the goal")?,
            SimErrorKind::StepLimit => f.write_str("step limit reached")?,
            SimErrorKind::Stalled => f.write_str("stalled: nothing in flight and no timers")?,
            SimErrorKind::TransmitFlood { host } => write!(f, "host {} flooded transmits", host.0)?,
            SimErrorKind::Topology => f.write_str("could not build the topology")?,
        }
        write!(
            f,
            " at {:?} after {} steps; replay with SIM_SEED={}",
            self.elapsed, self.steps, self.seed
        )
    }
}

impl std::error::Error for SimError {}

/// Counters over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams endpoints sent.
    pub sent: u64,
    /// Datagrams delivered to endpoints.
    pub delivered: u64,
    /// Datagrams dropped (any cause).
    pub dropped: u64,
    /// Copies made by links.
    pub duplicated: u64,
    /// Steps taken.
    pub steps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Host(HostId),
    /// A NAT box reached from its outside (its public address, or an untranslated inside address).
    NatOutside(NatId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Host(HostId),
    NatFromInside(NatId),
    NatFromOutside(NatId),
}

struct Realm {
    link: LinkConfig,
    rng: ChaCha8Rng,
    gateway: Option<NatId>,
    parent: Option<RealmId>,
    routes: BTreeMap<IpAddr, Node>,
    next_v4: u32,
    next_v6: u32,
    captures: Vec<usize>,
}

struct NatBox {
    nat: Nat,
    inside: RealmId,
    outside: RealmId,
    captures: Vec<(CapturePoint, usize)>,
}

struct Host {
    realm: RealmId,
    ips: Vec<IpAddr>,
    endpoint: Box<dyn Endpoint>,
    captures: Vec<usize>,
}

/// A packet on its way to its next hop. The queue orders small `(at, seq, slot)` keys; the
/// packets themselves stay put in a slab, so heap operations move 32 bytes, not a whole packet.
struct InFlight {
    packet: u64,
    hop: Hop,
    from: SocketAddr,
    to: SocketAddr,
    data: Bytes,
}

/// Derives the seed of component `index` from the run's seed (SplitMix64 finaliser), so that each
/// component has its own stream and an extra draw in one never reshuffles another.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    // 53 random bits as a float in [0, 1).
    ((rng.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
}

/// A deterministic network simulation: realms (the public network and the inside of each NAT
/// box) with link models, NAT boxes (chainable), and hosts running [`Endpoint`]s.
///
/// Time is virtual and jumps from event to event; simultaneous events are ordered by a sequence
/// number; every random draw comes from a per-component ChaCha8 stream derived from the seed in
/// creation order. The same seed and the same construction give the identical trace
/// ([`Sim::trace_hash`]).
pub struct Sim {
    seed: u64,
    config: SimConfig,
    clock: SimClock,
    components: u64,
    realms: Vec<Realm>,
    nats: Vec<NatBox>,
    hosts: Vec<Host>,
    queue: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Option<InFlight>>,
    free: Vec<u32>,
    seq: u64,
    packets: u64,
    trace: Vec<TraceEvent>,
    hasher: TraceHasher,
    captures: Vec<Capture>,
    stats: Stats,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("elapsed", &self.clock.elapsed)
            .field("realms", &self.realms.len())
            .field("nats", &self.nats.len())
            .field("hosts", &self.hosts.len())
            .field("in_flight", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// How many public addresses a simulator hands out per realm before running out.
const MAX_ADDRESSES: u32 = 60_000;

impl Sim {
    /// A simulation with default limits, its clock's epoch at `epoch`.
    ///
    /// The public network's link is [`LinkConfig::internet`].
    pub fn new(seed: u64, epoch: Instant) -> Self {
        Self::with_config(seed, epoch, SimConfig::default())
    }

    /// A simulation with explicit limits.
    pub fn with_config(seed: u64, epoch: Instant, config: SimConfig) -> Self {
        let mut sim = Self {
            seed,
            config,
            clock: SimClock {
                epoch,
                elapsed: Duration::ZERO,
            },
            components: 0,
            realms: Vec::new(),
            nats: Vec::new(),
            hosts: Vec::new(),
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            packets: 0,
            trace: Vec::new(),
            hasher: TraceHasher::default(),
            captures: Vec::new(),
            stats: Stats::default(),
        };
        let rng = ChaCha8Rng::seed_from_u64(sim.next_seed());
        sim.realms.push(Realm {
            link: LinkConfig::internet(),
            rng,
            gateway: None,
            parent: None,
            routes: BTreeMap::new(),
            next_v4: 0,
            next_v6: 0,
            captures: Vec::new(),
        });
        sim
    }

    /// The next component seed, in creation order. Endpoints built for this simulation should
    /// take their seeds from here too.
    pub fn next_seed(&mut self) -> u64 {
        let s = derive_seed(self.seed, self.components);
        self.components += 1;
        s
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual clock.
    pub fn clock(&self) -> SimClock {
        self.clock
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Virtual time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Replaces the link model of a realm.
    pub fn set_link(&mut self, realm: RealmId, link: LinkConfig) {
        if let Some(r) = self.realms.get_mut(realm.0) {
            r.link = link;
        }
    }

    /// Allocates a fresh IPv4 address in `realm`: public realms use 203.0.113.0/24 and onward,
    /// the inside of NAT box `n` uses 10.n.0.0/16 (a firewall's inside takes addresses from the
    /// realm outside it). `None` when the realm is unknown or full.
    pub fn alloc_ip(&mut self, realm: RealmId) -> Option<IpAddr> {
        let r = self.realms.get(realm.0)?;
        if let (Some(nat), Some(parent)) = (r.gateway, r.parent)
            && !self
                .nats
                .get(nat.0)?
                .nat
                .translates(Ipv4Addr::UNSPECIFIED.into())
        {
            return self.alloc_ip(parent);
        }
        let r = self.realms.get_mut(realm.0)?;
        if r.next_v4 >= MAX_ADDRESSES {
            return None;
        }
        r.next_v4 += 1;
        let n = r.next_v4;
        let ip = if realm == RealmId::PUBLIC {
            // 203.0.113.1 ..., carrying into the third octet: 203.0.114.x and so on.
            let v = (203u32 << 24) | (113u32 << 8);
            Ipv4Addr::from_bits(v + (n / 254) * 256 + n % 254 + 1)
        } else {
            let k = u8::try_from(realm.0 % 256).unwrap_or(0);
            Ipv4Addr::new(10, k, (n >> 8) as u8, (n & 0xff) as u8)
        };
        Some(ip.into())
    }

    /// Allocates a fresh IPv6 address in `realm` (2001:db8:R::N); a realm behind a translating
    /// IPv6 NAT uses fd00:R::N.
    pub fn alloc_ip6(&mut self, realm: RealmId) -> Option<IpAddr> {
        let r = self.realms.get(realm.0)?;
        let translated = r
            .gateway
            .and_then(|n| self.nats.get(n.0))
            .is_some_and(|b| b.nat.translates(Ipv6Addr::UNSPECIFIED.into()));
        let r = self.realms.get_mut(realm.0)?;
        if r.next_v6 >= MAX_ADDRESSES {
            return None;
        }
        r.next_v6 += 1;
        let prefix = if translated { 0xfd00 } else { 0x2001 };
        let second = if translated { 0 } else { 0xdb8 };
        Some(Ipv6Addr::new(prefix, second, realm.0 as u16, 0, 0, 0, 0, r.next_v6 as u16).into())
    }

    /// Adds a NAT box whose outside is in `parent`. Its public addresses (`config.public_addresses`
    /// IPv4 ones, plus one IPv6 address when it translates IPv6) are allocated in `parent`. Returns
    /// the box and the realm behind it, whose link is `inside`.
    pub fn add_nat(
        &mut self,
        parent: RealmId,
        config: NatConfig,
        inside: LinkConfig,
    ) -> Option<(NatId, RealmId)> {
        self.realms.get(parent.0)?;
        let mut public = Vec::new();
        if config.translate {
            for _ in 0..config.public_addresses.max(1) {
                public.push(self.alloc_ip(parent)?);
            }
            if config.ipv6 == Ipv6Mode::Translate {
                public.push(self.alloc_ip6(parent)?);
            }
        }
        let nat_seed = self.next_seed();
        let link_seed = self.next_seed();
        let id = NatId(self.nats.len());
        let realm = RealmId(self.realms.len());
        let nat = Nat::new(config, &public, nat_seed);
        for ip in nat.public_ips() {
            if nat.owns(ip) {
                self.realms
                    .get_mut(parent.0)?
                    .routes
                    .insert(ip, Node::NatOutside(id));
            }
        }
        self.nats.push(NatBox {
            nat,
            inside: realm,
            outside: parent,
            captures: Vec::new(),
        });
        self.realms.push(Realm {
            link: inside,
            rng: ChaCha8Rng::seed_from_u64(link_seed),
            gateway: Some(id),
            parent: Some(parent),
            routes: BTreeMap::new(),
            next_v4: 0,
            next_v6: 0,
            captures: Vec::new(),
        });
        Some((id, realm))
    }

    /// Adds a chain of NAT boxes, innermost first as in a spec (`home+carrier`), below `parent`.
    /// Returns the boxes (innermost first) and the innermost realm, where hosts go.
    pub fn add_nat_chain(
        &mut self,
        parent: RealmId,
        spec: &NatSpec,
        inside: LinkConfig,
    ) -> Option<(Vec<NatId>, RealmId)> {
        let mut realm = parent;
        let mut ids = Vec::new();
        for config in spec.layers.iter().rev() {
            let (id, inner) = self.add_nat(realm, config.clone(), inside)?;
            ids.push(id);
            realm = inner;
        }
        ids.reverse();
        Some((ids, realm))
    }

    /// Adds a host with these addresses in `realm`, running `endpoint`. Addresses that the boxes
    /// above do not translate (a firewall, IPv6 by default) become routable from outside.
    pub fn add_host(
        &mut self,
        realm: RealmId,
        ips: &[IpAddr],
        endpoint: Box<dyn Endpoint>,
    ) -> Option<HostId> {
        self.realms.get(realm.0)?;
        let id = HostId(self.hosts.len());
        for ip in ips {
            self.realms
                .get_mut(realm.0)?
                .routes
                .insert(*ip, Node::Host(id));
            // Announce untranslated addresses upward through every box that does not translate them.
            let mut r = realm;
            while let Some((nat, parent)) = self
                .realms
                .get(r.0)
                .and_then(|x| Some((x.gateway?, x.parent?)))
            {
                if self.nats.get(nat.0)?.nat.translates(*ip) {
                    break;
                }
                self.realms
                    .get_mut(parent.0)?
                    .routes
                    .insert(*ip, Node::NatOutside(nat));
                r = parent;
            }
        }
        self.hosts.push(Host {
            realm,
            ips: ips.to_vec(),
            endpoint,
            captures: Vec::new(),
        });
        Some(id)
    }

    /// The endpoint on `host`, if it is a `T`.
    pub fn endpoint<T: Endpoint>(&self, host: HostId) -> Option<&T> {
        let e: &dyn Any = &*self.hosts.get(host.0)?.endpoint;
        e.downcast_ref::<T>()
    }

    /// The endpoint on `host`, mutably, if it is a `T`.
    pub fn endpoint_mut<T: Endpoint>(&mut self, host: HostId) -> Option<&mut T> {
        let e: &mut dyn Any = &mut *self.hosts.get_mut(host.0)?.endpoint;
        e.downcast_mut::<T>()
    }

    /// The addresses of `host`.
    pub fn host_ips(&self, host: HostId) -> &[IpAddr] {
        self.hosts.get(host.0).map_or(&[], |h| &h.ips)
    }

    /// The NAT model inside box `nat`.
    pub fn nat(&self, nat: NatId) -> Option<&Nat> {
        self.nats.get(nat.0).map(|b| &b.nat)
    }

    /// The NAT box `nat`, mutably: for scenarios that change a NAT mid-run (a reboot, say).
    pub fn nat_mut(&mut self, nat: NatId) -> Option<&mut Nat> {
        self.nats.get_mut(nat.0).map(|b| &mut b.nat)
    }

    /// The public addresses of box `nat`.
    pub fn nat_public_ips(&self, nat: NatId) -> Vec<IpAddr> {
        self.nat(nat)
            .map(|n| n.public_ips().collect())
            .unwrap_or_default()
    }

    /// Starts capturing datagrams at `point`.
    pub fn capture(&mut self, point: CapturePoint) -> CaptureId {
        let index = self.captures.len();
        self.captures.push(Capture {
            point,
            packets: Vec::new(),
            missed: 0,
        });
        match point {
            CapturePoint::Host(h) => {
                if let Some(host) = self.hosts.get_mut(h.0) {
                    host.captures.push(index);
                }
            }
            CapturePoint::NatInside(n) | CapturePoint::NatOutside(n) => {
                if let Some(b) = self.nats.get_mut(n.0) {
                    b.captures.push((point, index));
                }
            }
            CapturePoint::Realm(r) => {
                if let Some(realm) = self.realms.get_mut(r.0) {
                    realm.captures.push(index);
                }
            }
        }
        CaptureId(index)
    }

    /// The datagrams captured so far.
    pub fn captured(&self, id: CaptureId) -> Option<&Capture> {
        self.captures.get(id.0)
    }

    /// A capture as a pcap file (LINKTYPE_RAW IPv4/IPv6 + UDP).
    pub fn pcap(&self, id: CaptureId) -> Result<Vec<u8>, PcapError> {
        self.captures
            .get(id.0)
            .ok_or(PcapError::UnknownCapture)?
            .to_pcap()
    }

    /// The trace so far (empty if [`SimConfig::record_trace`] is off).
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// A hash of every trace event so far, recorded or not. Equal seeds and construction give
    /// equal hashes.
    pub fn trace_hash(&self) -> u64 {
        self.hasher.finish()
    }

    fn log(&mut self, packet: u64, from: SocketAddr, to: SocketAddr, len: usize, kind: TraceKind) {
        let event = TraceEvent {
            elapsed: self.clock.elapsed,
            packet,
            from,
            to,
            len,
            kind,
        };
        self.hasher.event(&event);
        match kind {
            TraceKind::Dropped(_) => self.stats.dropped += 1,
            TraceKind::Delivered { .. } => self.stats.delivered += 1,
            TraceKind::Duplicated { .. } => self.stats.duplicated += 1,
            TraceKind::Sent { .. } => self.stats.sent += 1,
            _ => {}
        }
        if self.config.record_trace && self.trace.len() < self.config.max_trace {
            self.trace.push(event);
        }
    }

    fn record(&mut self, index: usize, from: SocketAddr, to: SocketAddr, data: &Bytes) {
        let elapsed = self.clock.elapsed;
        if let Some(c) = self.captures.get_mut(index) {
            c.record(elapsed, from, to, data);
        }
    }

    fn record_nat(
        &mut self,
        nat: NatId,
        inside: bool,
        from: SocketAddr,
        to: SocketAddr,
        data: &Bytes,
    ) {
        let Some(b) = self.nats.get(nat.0) else {
            return;
        };
        if b.captures.is_empty() {
            return;
        }
        let wanted = if inside {
            CapturePoint::NatInside(nat)
        } else {
            CapturePoint::NatOutside(nat)
        };
        let indexes: Vec<usize> = b
            .captures
            .iter()
            .filter(|(p, _)| *p == wanted)
            .map(|(_, i)| *i)
            .collect();
        for i in indexes {
            self.record(i, from, to, data);
        }
    }

    /// Sends a datagram across `realm` towards `to`: finds the next node, applies the link model
    /// and schedules the arrival.
    fn forward(
        &mut self,
        realm: RealmId,
        packet: u64,
        from: SocketAddr,
        to: SocketAddr,
        data: Bytes,
    ) {
        let len = data.len();
        let Some(r) = self.realms.get(realm.0) else {
            return;
        };
        let hop = match r.routes.get(&to.ip()) {
            Some(Node::Host(h)) => Hop::Host(*h),
            Some(Node::NatOutside(n)) => Hop::NatFromOutside(*n),
            None => match r.gateway {
                Some(n) => Hop::NatFromInside(n),
                None => {
                    self.log(
                        packet,
                        from,
                        to,
                        len,
                        TraceKind::Dropped(DropCause::NoRoute { realm }),
                    );
                    return;
                }
            },
        };
        let link = r.link;
        if !r.captures.is_empty() {
            for i in r.captures.clone() {
                self.record(i, from, to, &data);
            }
        }
        if len + header_len(to.is_ipv4()) > link.mtu {
            let cause = DropCause::Mtu {
                realm,
                mtu: link.mtu,
            };
            self.log(packet, from, to, len, TraceKind::Dropped(cause));
            return;
        }
        let Some(r) = self.realms.get_mut(realm.0) else {
            return;
        };
        if chance(&mut r.rng, link.loss) {
            self.log(
                packet,
                from,
                to,
                len,
                TraceKind::Dropped(DropCause::Lost { realm }),
            );
            return;
        }
        let copy = chance(&mut r.rng, link.duplicate);
        self.schedule(realm, packet, hop, from, to, data.clone());
        if copy {
            self.packets += 1;
            let dup = self.packets;
            self.log(
                dup,
                from,
                to,
                len,
                TraceKind::Duplicated { original: packet },
            );
            self.schedule(realm, dup, hop, from, to, data);
        }
    }

    fn schedule(
        &mut self,
        realm: RealmId,
        packet: u64,
        hop: Hop,
        from: SocketAddr,
        to: SocketAddr,
        data: Bytes,
    ) {
        let Some(r) = self.realms.get_mut(realm.0) else {
            return;
        };
        let link = r.link;
        let mut delay = link.latency;
        let jitter = link.jitter.as_nanos();
        if jitter > 0 {
            // Jitter beyond u64 nanoseconds (584 years) is clamped.
            let bound = u64::try_from(jitter).unwrap_or(u64::MAX - 1) + 1;
            delay += Duration::from_nanos(r.rng.next_u64() % bound);
        }
        if chance(&mut r.rng, link.reorder) {
            delay += link.reorder_delay;
        }
        self.seq += 1;
        let f = InFlight {
            packet,
            hop,
            from,
            to,
            data,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Some(f);
                }
                slot
            }
            None => {
                // More than 2^32 packets in flight at once is beyond any simulation's memory.
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Some(f));
                slot
            }
        };
        // Arrival in nanoseconds since the epoch (u64 lasts 584 years of virtual time).
        let at = u64::try_from((self.clock.elapsed + delay).as_nanos()).unwrap_or(u64::MAX);
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    fn send(&mut self, host: HostId, d: Datagram) {
        self.packets += 1;
        let packet = self.packets;
        let len = d.data.len();
        let Some(h) = self.hosts.get(host.0) else {
            return;
        };
        let realm = h.realm;
        let valid = h.ips.contains(&d.from.ip());
        let captures = if h.captures.is_empty() {
            Vec::new()
        } else {
            h.captures.clone()
        };
        self.log(packet, d.from, d.to, len, TraceKind::Sent { host });
        if !valid {
            self.log(
                packet,
                d.from,
                d.to,
                len,
                TraceKind::Dropped(DropCause::BadSource { host }),
            );
            return;
        }
        for i in captures {
            self.record(i, d.from, d.to, &d.data);
        }
        self.forward(realm, packet, d.from, d.to, d.data);
    }

    fn arrive(&mut self, f: InFlight) {
        let now = self.clock.now();
        let len = f.data.len();
        match f.hop {
            Hop::Host(h) => {
                let Some(host) = self.hosts.get(h.0) else {
                    return;
                };
                if !host.captures.is_empty() {
                    for i in host.captures.clone() {
                        self.record(i, f.from, f.to, &f.data);
                    }
                }
                self.log(
                    f.packet,
                    f.from,
                    f.to,
                    len,
                    TraceKind::Delivered { host: h },
                );
                if let Some(host) = self.hosts.get_mut(h.0) {
                    host.endpoint.handle_receive(now, f.from, f.to, &f.data);
                }
            }
            Hop::NatFromInside(n) => {
                self.record_nat(n, true, f.from, f.to, &f.data);
                let Some(b) = self.nats.get_mut(n.0) else {
                    return;
                };
                let (inside, outside) = (b.inside, b.outside);
                if b.nat.owns(f.to.ip()) {
                    match b.nat.hairpin(now, f.from, f.to) {
                        Ok((from, to)) => {
                            self.log(f.packet, from, to, len, TraceKind::Hairpinned { nat: n });
                            self.forward(inside, f.packet, from, to, f.data);
                        }
                        Err(reason) => {
                            let cause = DropCause::Nat { nat: n, reason };
                            self.log(f.packet, f.from, f.to, len, TraceKind::Dropped(cause));
                        }
                    }
                    return;
                }
                match b.nat.outbound(now, f.from, f.to) {
                    Ok(from) => {
                        if from != f.from {
                            self.log(f.packet, from, f.to, len, TraceKind::Translated { nat: n });
                        }
                        self.record_nat(n, false, from, f.to, &f.data);
                        self.forward(outside, f.packet, from, f.to, f.data);
                    }
                    Err(reason) => {
                        let cause = DropCause::Nat { nat: n, reason };
                        self.log(f.packet, f.from, f.to, len, TraceKind::Dropped(cause));
                    }
                }
            }
            Hop::NatFromOutside(n) => {
                self.record_nat(n, false, f.from, f.to, &f.data);
                let Some(b) = self.nats.get_mut(n.0) else {
                    return;
                };
                let inside = b.inside;
                match b.nat.inbound(now, f.from, f.to) {
                    Ok(to) => {
                        if to != f.to {
                            self.log(f.packet, f.from, to, len, TraceKind::Translated { nat: n });
                        }
                        self.record_nat(n, true, f.from, to, &f.data);
                        self.forward(inside, f.packet, f.from, to, f.data);
                    }
                    Err(reason) => {
                        let cause = DropCause::Nat { nat: n, reason };
                        self.log(f.packet, f.from, f.to, len, TraceKind::Dropped(cause));
                    }
                }
            }
        }
    }

    /// An error of this kind at the current time, carrying the seed.
    pub fn error(&self, kind: SimErrorKind) -> SimError {
        SimError {
            seed: self.seed,
            elapsed: self.clock.elapsed,
            steps: self.stats.steps,
            kind,
        }
    }

    /// One step: drain every endpoint's transmits, jump the clock to the next event (but not past
    /// `limit`), deliver everything due, then fire due timers.
    ///
    /// Returns `Ok(true)` when something happened, `Ok(false)` when the next event lies beyond
    /// `limit` (the clock is then at `limit`) or there is none (the clock stays).
    pub fn step(&mut self, limit: Duration) -> Result<bool, SimError> {
        if self.stats.steps >= self.config.max_steps {
            return Err(self.error(SimErrorKind::StepLimit));
        }
        self.stats.steps += 1;
        // (1) Drain transmits at the current instant.
        for i in 0..self.hosts.len() {
            let mut count = 0;
            while let Some(d) = self
                .hosts
                .get_mut(i)
                .and_then(|h| h.endpoint.poll_transmit())
            {
                count += 1;
                if count > self.config.max_transmits_per_step {
                    return Err(self.error(SimErrorKind::TransmitFlood { host: HostId(i) }));
                }
                self.send(HostId(i), d);
            }
        }
        // (2) Jump to the earliest of the queue head and every endpoint's timer.
        let now = self.clock.now();
        let epoch = self.clock.epoch;
        let mut next = self
            .queue
            .peek()
            .map(|Reverse((at, _, _))| epoch + Duration::from_nanos(*at));
        for h in &self.hosts {
            if let Some(t) = h.endpoint.poll_timeout() {
                let t = t.max(now);
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let Some(next) = next else { return Ok(false) };
        let limit_at = self.clock.epoch + limit;
        if next > limit_at {
            if limit_at > now {
                self.clock.elapsed = limit;
            }
            return Ok(false);
        }
        if next > now {
            self.clock.elapsed = next - self.clock.epoch;
        }
        let now_ns = u64::try_from(self.clock.elapsed.as_nanos()).unwrap_or(u64::MAX);
        let now = self.clock.now();
        // (3) Deliver everything due, in (at, seq) order; zero-latency hops land in this loop too.
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= now_ns)
        {
            let Some(Reverse((_, _, slot))) = self.queue.pop() else {
                break;
            };
            let f = self.slots.get_mut(slot as usize).and_then(Option::take);
            self.free.push(slot);
            if let Some(f) = f {
                self.arrive(f);
            }
        }
        // (4) Fire due timers.
        for h in &mut self.hosts {
            if h.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                h.endpoint.handle_timeout(now);
            }
        }
        Ok(true)
    }

    /// Runs until `done` holds (checked before every step), returning the elapsed virtual time.
    ///
    /// Stops with an error when virtual time would pass `limit` ([`SimErrorKind::TimeLimit`]),
    /// when nothing is left to happen ([`SimErrorKind::Stalled`]), or at the step limit.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<Duration, SimError> {
        loop {
            if done(self) {
                return Ok(self.clock.elapsed);
            }
            if !self.step(limit)? {
                if done(self) {
                    return Ok(self.clock.elapsed);
                }
                let idle = self.queue.is_empty()
                    && self
                        .hosts
                        .iter()
                        .all(|h| h.endpoint.poll_timeout().is_none());
                return Err(self.error(if idle {
                    SimErrorKind::Stalled
                } else {
                    SimErrorKind::TimeLimit
                }));
            }
        }
    }

    /// Runs until virtual time reaches `until` or nothing is left to happen.
    pub fn run_for(&mut self, until: Duration) -> Result<Duration, SimError> {
        while self.step(until)? {}
        Ok(self.clock.elapsed)
    }
}
