//! The packet trace: every packet's journey and, for every drop, its reason.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use icebreaker_nat::DropReason;

use crate::{HostId, NatId, RealmId};

/// Why the simulator dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropCause {
    /// A NAT box refused it: filtered, no mapping, mapping expired, ports exhausted, ...
    Nat {
        /// The box.
        nat: NatId,
        /// Its reason.
        reason: DropReason,
    },
    /// Lost on the link of this realm (random loss).
    Lost {
        /// The segment.
        realm: RealmId,
    },
    /// Larger than the MTU of this realm's link.
    Mtu {
        /// The segment.
        realm: RealmId,
        /// Its MTU.
        mtu: usize,
    },
    /// Nothing in this realm owns the destination and there is no gateway out.
    NoRoute {
        /// The segment.
        realm: RealmId,
    },
    /// The endpoint sent from an address its host does not have.
    BadSource {
        /// The host.
        host: HostId,
    },
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nat { nat, reason } => write!(f, "{reason} (nat {})", nat.0),
            Self::Lost { realm } => write!(f, "lost on the link (realm {})", realm.0),
            Self::Mtu { realm, mtu } => write!(f, "larger than the MTU {mtu} (realm {})", realm.0),
            Self::NoRoute { realm } => write!(f, "no route (realm {})", realm.0),
            Self::BadSource { host } => write!(f, "source address not on host {}", host.0),
        }
    }
}

impl DropCause {
    /// A short stable name: the NAT's reason (`filtered`, `no-mapping`, `mapping-expired`, ...),
    /// `lost`, `mtu`, `no-route` or `bad-source`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Nat { reason, .. } => reason.as_str(),
            Self::Lost { .. } => "lost",
            Self::Mtu { .. } => "mtu",
            Self::NoRoute { .. } => "no-route",
            Self::BadSource { .. } => "bad-source",
        }
    }
}

/// What happened to a packet at one point of its journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceKind {
    /// An endpoint on this host sent it.
    Sent {
        /// The sending host.
        host: HostId,
    },
    /// A NAT box rewrote it; `from`/`to` of the event are the new addresses.
    Translated {
        /// The box.
        nat: NatId,
    },
    /// A NAT box looped it back inside (hairpinning); `from`/`to` are the new addresses.
    Hairpinned {
        /// The box.
        nat: NatId,
    },
    /// A link duplicated it; this event's `packet` is the copy, `original` the packet copied.
    Duplicated {
        /// The packet that was copied.
        original: u64,
    },
    /// Delivered to an endpoint on this host.
    Delivered {
        /// The receiving host.
        host: HostId,
    },
    /// Dropped, with the reason.
    Dropped(DropCause),
}

/// One entry of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceEvent {
    /// Virtual time since the simulation's epoch.
    pub elapsed: Duration,
    /// The packet's number, unique within a run (copies get their own).
    pub packet: u64,
    /// Source address at this point.
    pub from: SocketAddr,
    /// Destination address at this point.
    pub to: SocketAddr,
    /// Payload length.
    pub len: usize,
    /// What happened.
    pub kind: TraceKind,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{secs:>10.6}s #{:<5} {} -> {} ({} B) ",
            self.packet, self.from, self.to, self.len
        )?;
        match self.kind {
            TraceKind::Sent { host } => write!(f, "sent by host {}", host.0),
            TraceKind::Translated { nat } => write!(f, "translated by nat {}", nat.0),
            TraceKind::Hairpinned { nat } => write!(f, "hairpinned by nat {}", nat.0),
            TraceKind::Duplicated { original } => write!(f, "duplicate of #{original}"),
            TraceKind::Delivered { host } => write!(f, "delivered to host {}", host.0),
            TraceKind::Dropped(cause) => write!(f, "DROPPED: {cause}"),
        }
    }
}

/// A small, stable, non-cryptographic hash of the trace (FxHash-style word mixing), identical on
/// every run with the same seed and inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceHasher(u64);

impl Default for TraceHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    fn word(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn addr(&mut self, a: SocketAddr) {
        match a {
            SocketAddr::V4(v4) => {
                self.word((u64::from(v4.ip().to_bits()) << 16) | u64::from(v4.port()))
            }
            SocketAddr::V6(v6) => {
                let bits = v6.ip().to_bits();
                self.word((bits >> 64) as u64);
                self.word(bits as u64);
                self.word(u64::from(v6.port()) | (1 << 32));
            }
        }
    }

    pub(crate) fn event(&mut self, e: &TraceEvent) {
        self.word(e.elapsed.as_nanos() as u64);
        self.word(e.packet);
        self.addr(e.from);
        self.addr(e.to);
        let (tag, a, b) = match e.kind {
            TraceKind::Sent { host } => (1, host.0 as u64, 0),
            TraceKind::Translated { nat } => (2, nat.0 as u64, 0),
            TraceKind::Hairpinned { nat } => (3, nat.0 as u64, 0),
            TraceKind::Duplicated { original } => (4, original, 0),
            TraceKind::Delivered { host } => (5, host.0 as u64, 0),
            TraceKind::Dropped(cause) => match cause {
                DropCause::Nat { nat, reason } => (6, nat.0 as u64, reason as u64),
                DropCause::Lost { realm } => (7, realm.0 as u64, 0),
                DropCause::Mtu { realm, mtu } => (8, realm.0 as u64, mtu as u64),
                DropCause::NoRoute { realm } => (9, realm.0 as u64, 0),
                DropCause::BadSource { host } => (10, host.0 as u64, 0),
            },
        };
        self.word((e.len as u64) << 8 | tag);
        self.word(a);
        self.word(b);
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// The final fate of one packet, derived from the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered to this host, arriving with these addresses.
    Delivered {
        /// The receiving host.
        host: HostId,
        /// Source address seen by the receiver.
        from: SocketAddr,
        /// Destination address seen by the receiver.
        to: SocketAddr,
    },
    /// Dropped for this reason.
    Dropped(DropCause),
    /// Still in flight when the run stopped.
    InFlight,
}

/// One packet's journey summarised: who sent it, as what, and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketFate {
    /// The packet number.
    pub packet: u64,
    /// Virtual time it was sent (or duplicated).
    pub sent: Duration,
    /// The sending host (for a duplicate, the host that sent the original).
    pub host: Option<HostId>,
    /// Source address as sent.
    pub from: SocketAddr,
    /// Destination address as sent.
    pub to: SocketAddr,
    /// What became of it.
    pub fate: Fate,
}

/// Summarises a trace into one [`PacketFate`] per packet, in packet order.
pub fn fates(trace: &[TraceEvent]) -> Vec<PacketFate> {
    let mut out: Vec<PacketFate> = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    for e in trace {
        match e.kind {
            TraceKind::Sent { host } => {
                index.insert(e.packet, out.len());
                out.push(PacketFate {
                    packet: e.packet,
                    sent: e.elapsed,
                    host: Some(host),
                    from: e.from,
                    to: e.to,
                    fate: Fate::InFlight,
                });
            }
            TraceKind::Duplicated { original } => {
                let host = index
                    .get(&original)
                    .and_then(|i| out.get(*i))
                    .and_then(|p| p.host);
                index.insert(e.packet, out.len());
                out.push(PacketFate {
                    packet: e.packet,
                    sent: e.elapsed,
                    host,
                    from: e.from,
                    to: e.to,
                    fate: Fate::InFlight,
                });
            }
            TraceKind::Delivered { host } => {
                if let Some(p) = index.get(&e.packet).and_then(|i| out.get_mut(*i)) {
                    p.fate = Fate::Delivered {
                        host,
                        from: e.from,
                        to: e.to,
                    };
                }
            }
            TraceKind::Dropped(cause) => {
                if let Some(p) = index.get(&e.packet).and_then(|i| out.get_mut(*i)) {
                    p.fate = Fate::Dropped(cause);
                }
            }
            TraceKind::Translated { .. } | TraceKind::Hairpinned { .. } => {}
        }
    }
    out
}
