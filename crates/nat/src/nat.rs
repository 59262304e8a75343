//! The NAT state machine: mappings, filtering, port assignment, pooling, expiry, hairpinning.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::config::{Filtering, Ipv6Mode, Mapping, NatConfig, Pooling, PortAssignment};

/// Why the NAT refused a packet. Every drop has exactly one reason, so a simulator can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Inbound: a live mapping exists, but its filtering does not admit this source (RFC 4787 §5).
    Filtered,
    /// Inbound: no mapping was ever created for this external address (or it was reclaimed long ago).
    NoMapping,
    /// Inbound: the mapping for this external address has expired (RFC 4787 §4.3).
    MappingExpired,
    /// Outbound: no free external port is left in the range (a clean refusal, RFC 4787 §4.2.1).
    PortsExhausted,
    /// Outbound: the cap on live mappings ([`NatConfig::max_mappings`]) is reached.
    MappingLimit,
    /// Outbound: the box has no public address of this address family.
    NoPublicAddress,
    /// Hairpin: the packet targets the box's own public address and hairpinning is off (RFC 4787 §6).
    HairpinDisabled,
}

impl DropReason {
    /// A short stable name, used in traces and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filtered => "filtered",
            Self::NoMapping => "no-mapping",
            Self::MappingExpired => "mapping-expired",
            Self::PortsExhausted => "ports-exhausted",
            Self::MappingLimit => "mapping-limit",
            Self::NoPublicAddress => "no-public-address",
            Self::HairpinDisabled => "hairpin-disabled",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Filtered => "filtered by the NAT",
            Self::NoMapping => "no NAT mapping",
            Self::MappingExpired => "NAT mapping expired",
            Self::PortsExhausted => "NAT ports exhausted",
            Self::MappingLimit => "NAT mapping limit reached",
            Self::NoPublicAddress => "NAT has no public address of this family",
            Self::HairpinDisabled => "NAT does not hairpin",
        })
    }
}

impl std::error::Error for DropReason {}

/// Which remote endpoints share one mapping, derived from the mapping behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Remote {
    Any,
    Ip(IpAddr),
    Endpoint(IpAddr, u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct MapKey {
    internal: SocketAddr,
    remote: Remote,
}

#[derive(Debug, Clone)]
struct Entry {
    external: SocketAddr,
    expires: Instant,
    generation: u64,
    /// Remote endpoints this mapping has sent to, with the instant their permission lapses.
    permissions: BTreeMap<(IpAddr, u16), Instant>,
}

/// What the box does with a flow of one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passthrough,
    Firewall,
    Translate,
}

/// A read-only view of one live mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MappingView {
    /// The internal endpoint (X:x).
    pub internal: SocketAddr,
    /// The external endpoint (X1':x1'); equal to `internal` on a firewall.
    pub external: SocketAddr,
    /// The remote this mapping is specific to: `None` for endpoint-independent mapping,
    /// `Some((ip, None))` for address-dependent, `Some((ip, Some(port)))` for address-and-port-dependent.
    pub remote: Option<(IpAddr, Option<u16>)>,
    /// The instant at which the mapping expires unless refreshed.
    pub expires: Instant,
}

/// Permissions kept per mapping; beyond this the earliest-lapsing one is evicted.
const MAX_PERMISSIONS: usize = 256;
/// Recently expired external addresses remembered to report [`DropReason::MappingExpired`].
const MAX_TOMBSTONES: usize = 1024;
/// Random draws before a random allocation falls back to a linear scan.
const RANDOM_TRIES: u32 = 8;

/// One NAT box (RFC 4787), sans-IO and deterministic.
///
/// Time comes in as `now` (a `now` that goes backwards is clamped to the latest one seen), and
/// randomness from the seed given to [`Nat::new`]. Mappings live in `BTreeMap`s, so behaviour never
/// depends on hash order. Expired mappings are reclaimed on the next call, and their ports can be
/// reused at once.
///
/// Addresses: `outbound` takes an internal source and a remote destination and returns the
/// external source; `inbound` takes a remote source and an external destination and returns the
/// internal destination.
#[derive(Debug, Clone)]
pub struct Nat {
    config: NatConfig,
    v4: Vec<IpAddr>,
    v6: Vec<IpAddr>,
    rng: ChaCha8Rng,
    latest: Option<Instant>,
    mappings: BTreeMap<MapKey, Entry>,
    by_external: BTreeMap<SocketAddr, MapKey>,
    expiry: BinaryHeap<Reverse<(Instant, u64, MapKey)>>,
    generation: u64,
    /// Paired pooling: internal IP -> (external IP, live mappings using it).
    pairs: BTreeMap<IpAddr, (IpAddr, usize)>,
    /// Live mappings per external IP.
    used: BTreeMap<IpAddr, u32>,
    /// Sequential assignment: the next port to try per external IP.
    cursors: BTreeMap<IpAddr, u16>,
    round_robin: usize,
    tombstones: BTreeMap<SocketAddr, Instant>,
    tombstone_order: VecDeque<(SocketAddr, Instant)>,
}

impl Nat {
    /// A NAT with this behaviour, these public addresses (IPv4 and IPv6 may be mixed; the first of
    /// each family is preferred) and a seed for its port choices.
    pub fn new(config: NatConfig, public_ips: &[IpAddr], seed: u64) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for ip in public_ips {
            let list = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
            if !list.contains(ip) {
                list.push(*ip);
            }
        }
        Self {
            config,
            v4,
            v6,
            rng: ChaCha8Rng::seed_from_u64(seed),
            latest: None,
            mappings: BTreeMap::new(),
            by_external: BTreeMap::new(),
            expiry: BinaryHeap::new(),
            generation: 0,
            pairs: BTreeMap::new(),
            used: BTreeMap::new(),
            cursors: BTreeMap::new(),
            round_robin: 0,
            tombstones: BTreeMap::new(),
            tombstone_order: VecDeque::new(),
        }
    }

    /// The behaviour this box was built with.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// The public addresses of this box, IPv4 first.
    pub fn public_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.v4.iter().chain(self.v6.iter()).copied()
    }

    /// Whether `ip` is one of this box's public addresses *and* the box translates that family,
    /// i.e. whether a packet to `ip` must go through [`Nat::inbound`] (or [`Nat::hairpin`]).
    pub fn owns(&self, ip: IpAddr) -> bool {
        self.mode(ip) == Mode::Translate && self.v4.iter().chain(self.v6.iter()).any(|a| *a == ip)
    }

    /// Whether this box rewrites addresses of this family (`false` for firewalls and open boxes).
    pub fn translates(&self, ip: IpAddr) -> bool {
        self.mode(ip) == Mode::Translate
    }

    /// Number of live mappings (as of the latest `now` seen; expired ones are reclaimed lazily).
    pub fn mapping_count(&self) -> usize {
        self.mappings.len()
    }

    /// Every mapping not yet reclaimed, in a stable order.
    pub fn mappings(&self) -> impl Iterator<Item = MappingView> + '_ {
        self.mappings.iter().map(|(key, e)| MappingView {
            internal: key.internal,
            external: e.external,
            remote: match key.remote {
                Remote::Any => None,
                Remote::Ip(ip) => Some((ip, None)),
                Remote::Endpoint(ip, port) => Some((ip, Some(port))),
            },
            expires: e.expires,
        })
    }

    /// The earliest instant at which a mapping expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.mappings.values().map(|e| e.expires).min()
    }

    fn mode(&self, ip: IpAddr) -> Mode {
        if !self.config.stateful {
            return Mode::Passthrough;
        }
        let translate = match ip {
            IpAddr::V4(_) => self.config.translate,
            IpAddr::V6(_) => match self.config.ipv6 {
                Ipv6Mode::Open => return Mode::Passthrough,
                Ipv6Mode::Firewall => false,
                Ipv6Mode::Translate => self.config.translate,
            },
        };
        if translate {
            Mode::Translate
        } else {
            Mode::Firewall
        }
    }

    /// Clamps a `now` that went backwards, then reclaims every mapping expired at `now`.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = match self.latest {
            Some(latest) if now < latest => latest,
            _ => now,
        };
        self.latest = Some(now);
        while let Some(Reverse((at, generation, key))) = self.expiry.peek().copied() {
            if at > now {
                break;
            }
            self.expiry.pop();
            let Some(entry) = self.mappings.get(&key) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            if entry.expires > now {
                // Refreshed since it was queued: queue it again at its real expiry.
                self.expiry.push(Reverse((entry.expires, generation, key)));
            } else {
                self.remove(key);
            }
        }
        now
    }

    /// Forgets every mapping at once, as a NAT that reboots (or a carrier NAT that rebalances its
    /// pool) does. The next outbound packets get fresh mappings; with sequential or random port
    /// assignment those are other ports, and packets to the old ones are dropped.
    pub fn reboot(&mut self) {
        let keys: Vec<MapKey> = self.mappings.keys().cloned().collect();
        for key in keys {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: MapKey) {
        let Some(entry) = self.mappings.remove(&key) else {
            return;
        };
        self.by_external.remove(&entry.external);
        if self.mode(key.internal.ip()) == Mode::Translate {
            if let Some(n) = self.used.get_mut(&entry.external.ip()) {
                *n = n.saturating_sub(1);
            }
            if let Some(pair) = self.pairs.get_mut(&key.internal.ip()) {
                pair.1 = pair.1.saturating_sub(1);
                if pair.1 == 0 {
                    self.pairs.remove(&key.internal.ip());
                }
            }
        }
        self.tombstones.insert(entry.external, entry.expires);
        self.tombstone_order
            .push_back((entry.external, entry.expires));
        if self.tombstone_order.len() > MAX_TOMBSTONES
            && let Some((addr, at)) = self.tombstone_order.pop_front()
            && self.tombstones.get(&addr) == Some(&at)
        {
            self.tombstones.remove(&addr);
        }
    }

    /// A private-to-public packet from `from` (internal) to `to` (remote).
    ///
    /// Creates or refreshes the mapping and the filtering permission for `to`, and returns the
    /// external source address the packet leaves with (`from` itself on a firewall or open box).
    pub fn outbound(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<SocketAddr, DropReason> {
        let now = self.advance(now);
        let mode = self.mode(from.ip());
        if mode == Mode::Passthrough {
            return Ok(from);
        }
        let remote = match (mode, self.config.mapping) {
            (Mode::Firewall, _) | (_, Mapping::EndpointIndependent) => Remote::Any,
            (_, Mapping::AddressDependent) => Remote::Ip(to.ip()),
            (_, Mapping::AddressAndPortDependent) => Remote::Endpoint(to.ip(), to.port()),
        };
        let key = MapKey {
            internal: from,
            remote,
        };
        // RFC 4787 §4.3 REQ-6: outbound packets refresh the mapping.
        let expires = now + self.config.mapping_timeout;
        if let Some(entry) = self.mappings.get_mut(&key) {
            // `advance` reclaimed every expired mapping, so this one is live.
            entry.expires = expires;
            Self::permit(&mut entry.permissions, to, expires, now);
            return Ok(entry.external);
        }
        if self.mappings.len() >= self.config.max_mappings {
            return Err(DropReason::MappingLimit);
        }
        let external = match mode {
            Mode::Translate => self.assign(from)?,
            _ => from,
        };
        self.generation += 1;
        let mut permissions = BTreeMap::new();
        Self::permit(&mut permissions, to, expires, now);
        self.mappings.insert(
            key,
            Entry {
                external,
                expires,
                generation: self.generation,
                permissions,
            },
        );
        self.by_external.insert(external, key);
        self.tombstones.remove(&external);
        self.expiry.push(Reverse((expires, self.generation, key)));
        Ok(external)
    }

    fn permit(
        permissions: &mut BTreeMap<(IpAddr, u16), Instant>,
        to: SocketAddr,
        expires: Instant,
        now: Instant,
    ) {
        let remote = (to.ip(), to.port());
        if permissions.len() >= MAX_PERMISSIONS && !permissions.contains_key(&remote) {
            permissions.retain(|_, lapses| *lapses > now);
            if permissions.len() >= MAX_PERMISSIONS {
                let earliest = permissions
                    .iter()
                    .min_by_key(|(addr, lapses)| (**lapses, **addr))
                    .map(|(addr, _)| *addr);
                if let Some(addr) = earliest {
                    permissions.remove(&addr);
                }
            }
        }
        permissions.insert(remote, expires);
    }

    /// A public-to-private packet from `from` (remote) to `to` (an external address of this box,
    /// or an internal address on a firewall). Returns the internal destination, or why it is dropped.
    pub fn inbound(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<SocketAddr, DropReason> {
        let now = self.advance(now);
        if self.mode(to.ip()) == Mode::Passthrough {
            return Ok(to);
        }
        let Some(key) = self.by_external.get(&to).copied() else {
            return Err(if self.tombstones.contains_key(&to) {
                DropReason::MappingExpired
            } else {
                DropReason::NoMapping
            });
        };
        let Some(entry) = self.mappings.get_mut(&key) else {
            return Err(DropReason::NoMapping);
        };
        let admitted = match self.config.filtering {
            // RFC 4787 §5: endpoint-independent filtering admits any source.
            Filtering::EndpointIndependent => true,
            // Address-dependent: X must have sent to Y's address (any port) through this mapping.
            Filtering::AddressDependent => entry
                .permissions
                .range((from.ip(), 0)..=(from.ip(), u16::MAX))
                .any(|(_, lapses)| *lapses > now),
            // Address-and-port-dependent: X must have sent to exactly Y:y through this mapping.
            Filtering::AddressAndPortDependent => entry
                .permissions
                .get(&(from.ip(), from.port()))
                .is_some_and(|lapses| *lapses > now),
        };
        if !admitted {
            return Err(DropReason::Filtered);
        }
        if self.config.inbound_refresh {
            entry.expires = now + self.config.mapping_timeout;
        }
        Ok(key.internal)
    }

    /// A packet from `from` (internal) to `to`, one of this box's own public addresses
    /// (RFC 4787 §6). Returns the source and destination the looped-back packet has inside.
    ///
    /// The packet creates or refreshes `from`'s mapping as any outbound packet would, then is
    /// filtered by the target mapping as if it came from the sender's external address.
    pub fn hairpin(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<(SocketAddr, SocketAddr), DropReason> {
        if !self.config.hairpin {
            self.advance(now);
            return Err(DropReason::HairpinDisabled);
        }
        let external = self.outbound(now, from, to)?;
        let internal = self.inbound(now, external, to)?;
        // RFC 4787 REQ-9: the hairpinned packet carries the sender's external source address.
        let source = if self.config.hairpin_translate_source {
            external
        } else {
            from
        };
        Ok((source, internal))
    }

    /// Chooses the external address of a new mapping for `internal`.
    fn assign(&mut self, internal: SocketAddr) -> Result<SocketAddr, DropReason> {
        let pool_len = if internal.is_ipv4() {
            self.v4.len()
        } else {
            self.v6.len()
        };
        if pool_len == 0 {
            return Err(DropReason::NoPublicAddress);
        }
        let pick = |nat: &Self, i: usize| {
            let pool = if internal.is_ipv4() { &nat.v4 } else { &nat.v6 };
            pool.get(i % pool_len).copied()
        };
        let chosen = match self.config.pooling {
            Pooling::Paired => {
                let ip = match self.pairs.get(&internal.ip()) {
                    Some((ip, _)) => *ip,
                    None => {
                        // A new internal host gets the next public address in turn.
                        let i = self.round_robin;
                        self.round_robin = self.round_robin.wrapping_add(1);
                        pick(self, i).ok_or(DropReason::NoPublicAddress)?
                    }
                };
                let port = self
                    .allocate(ip, internal.port())
                    .ok_or(DropReason::PortsExhausted)?;
                SocketAddr::new(ip, port)
            }
            Pooling::Arbitrary => {
                let start = self.rng.next_u32() as usize;
                let mut found = None;
                for i in 0..pool_len {
                    let Some(ip) = pick(self, start.wrapping_add(i)) else {
                        continue;
                    };
                    if let Some(port) = self.allocate(ip, internal.port()) {
                        found = Some(SocketAddr::new(ip, port));
                        break;
                    }
                }
                found.ok_or(DropReason::PortsExhausted)?
            }
        };
        *self.used.entry(chosen.ip()).or_insert(0) += 1;
        self.pairs
            .entry(internal.ip())
            .and_modify(|pair| pair.1 += 1)
            .or_insert((chosen.ip(), 1));
        Ok(chosen)
    }

    /// Picks a free external port on `ip` for a mapping of `internal_port`, or `None` when the
    /// range (with parity, if asked) is exhausted.
    fn allocate(&mut self, ip: IpAddr, internal_port: u16) -> Option<u16> {
        let lo = self.config.port_min;
        let hi = self.config.port_max.max(lo);
        let len = self.config.range_len();
        if self.used.get(&ip).copied().unwrap_or(0) >= len {
            return None;
        }
        // RFC 4787 §4.2.2: port parity preservation keeps even ports even and odd ports odd.
        let parity = self.config.parity.then_some(internal_port & 1);
        let free = |nat: &Self, port: u16| {
            (lo..=hi).contains(&port)
                && parity.is_none_or(|bit| port & 1 == bit)
                && !nat.by_external.contains_key(&SocketAddr::new(ip, port))
        };
        let nth = |offset: u32| -> u16 {
            // `offset % len < len <= 65536`, and `lo + that <= hi`, so this fits in u16.
            (u32::from(lo) + offset % len) as u16
        };
        let scan =
            |nat: &Self, start: u32| (0..len).map(|i| nth(start + i)).find(|p| free(nat, *p));
        match self.config.ports {
            PortAssignment::Preserve => {
                if free(self, internal_port) {
                    return Some(internal_port);
                }
                self.random_port(len, &free, &nth, &scan)
            }
            PortAssignment::Sequential => {
                let cursor = self.cursors.get(&ip).copied().unwrap_or(lo);
                let start = u32::from(cursor.saturating_sub(lo));
                let port = scan(self, start)?;
                let next = if port >= hi { lo } else { port + 1 };
                self.cursors.insert(ip, next);
                Some(port)
            }
            PortAssignment::Random => self.random_port(len, &free, &nth, &scan),
        }
    }

    fn random_port(
        &mut self,
        len: u32,
        free: &impl Fn(&Self, u16) -> bool,
        nth: &impl Fn(u32) -> u16,
        scan: &impl Fn(&Self, u32) -> Option<u16>,
    ) -> Option<u16> {
        let mut start = 0;
        for _ in 0..RANDOM_TRIES {
            start = self.rng.next_u32() % len;
            let port = nth(start);
            if free(self, port) {
                return Some(port);
            }
        }
        scan(self, start)
    }

    /// Checks the internal consistency of the tables; used by tests and fuzzing.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        assert_eq!(
            self.mappings.len(),
            self.by_external.len(),
            "one external address per mapping"
        );
        assert!(self.mappings.len() <= self.config.max_mappings);
        for (external, key) in &self.by_external {
            let entry = self.mappings.get(key);
            assert_eq!(entry.map(|e| e.external), Some(*external));
        }
        for (key, entry) in &self.mappings {
            assert!(entry.permissions.len() <= MAX_PERMISSIONS);
            if self.mode(key.internal.ip()) == Mode::Translate {
                let port = entry.external.port();
                assert!((self.config.port_min..=self.config.port_max).contains(&port));
                if self.config.parity {
                    assert_eq!(port & 1, key.internal.port() & 1, "parity");
                }
            } else {
                assert_eq!(entry.external, key.internal);
            }
            if let Some(latest) = self.latest {
                assert!(entry.expires > latest, "expired mapping not reclaimed");
            }
        }
        assert!(self.expiry.len() >= self.mappings.len());
        assert!(self.tombstone_order.len() <= MAX_TOMBSTONES);
    }
}
