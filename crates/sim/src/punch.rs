//! UDP hole punching between two probe endpoints behind NAT specs.
//!
//! Each [`Probe`] learns its public address from a STUN-style server (a [`Reflector`]), is told
//! the other's learned address (the signalling channel), sends binding requests to it every
//! 50 ms, answers every request to the address it came from, and adopts that address as the
//! peer's. A probe is *connected* once it receives a response from the peer; the path is *direct*
//! when both are. The wire format comes from a [`ProbeCodec`] (tests and the command line use real
//! STUN from `icebreaker-stun`), so this crate does not depend on a STUN implementation.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_nat::NatSpec;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::pcap::CapturePoint;
use crate::{
    Datagram, Endpoint, HostId, LinkConfig, NatId, PacketFate, RealmId, Sim, SimError,
    SimErrorKind, fates,
};

/// A decoded probe message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMessage {
    /// A binding request.
    Request {
        /// Its transaction id.
        tid: [u8; 12],
    },
    /// A binding success response carrying the requester's address as the responder saw it.
    Response {
        /// The transaction id of the request.
        tid: [u8; 12],
        /// The (XOR-)mapped address.
        mapped: SocketAddr,
    },
}

/// The wire format of probes: STUN binding requests and responses in practice.
pub trait ProbeCodec: 'static {
    /// Writes a binding request into `buf` (cleared first by the caller).
    fn encode_request(&mut self, tid: [u8; 12], buf: &mut Vec<u8>);
    /// Writes a binding success response into `buf` (cleared first by the caller).
    fn encode_response(&mut self, tid: [u8; 12], mapped: SocketAddr, buf: &mut Vec<u8>);
    /// Decodes a datagram; `None` for anything else.
    fn decode(&mut self, data: &[u8]) -> Option<ProbeMessage>;
}

/// How often a probe retries the server before it has learned its address.
pub const SERVER_RETRY: Duration = Duration::from_millis(100);
/// How often a probe sends to its peer before it is connected.
pub const PEER_RETRY: Duration = Duration::from_millis(50);
/// How often a connected probe keeps the path alive.
pub const KEEPALIVE: Duration = Duration::from_secs(1);

/// A hole-punching probe.
#[derive(Debug)]
pub struct Probe<C> {
    local: SocketAddr,
    server: SocketAddr,
    codec: C,
    rng: ChaCha8Rng,
    server_tid: Option<[u8; 12]>,
    learned: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    connected: bool,
    answered: u64,
    next: Option<Instant>,
    latest: Instant,
    out: VecDeque<Datagram>,
    buf: Vec<u8>,
}

impl<C: ProbeCodec> Probe<C> {
    /// A probe bound to `local`, asking `server`, starting at `now`.
    pub fn new(now: Instant, local: SocketAddr, server: SocketAddr, codec: C, seed: u64) -> Self {
        Self {
            local,
            server,
            codec,
            rng: ChaCha8Rng::seed_from_u64(seed),
            server_tid: None,
            learned: None,
            peer: None,
            connected: false,
            answered: 0,
            next: Some(now),
            latest: now,
            out: VecDeque::new(),
            buf: Vec::new(),
        }
    }

    /// The public address the server reported.
    pub fn learned(&self) -> Option<SocketAddr> {
        self.learned
    }

    /// The peer address in use: the signalled one, or the one a peer's request came from.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether a response from the peer has arrived.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// How many peer requests were answered.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// The signalling channel delivers the peer's learned address. Takes effect at once.
    pub fn set_peer(&mut self, peer: SocketAddr) {
        if self.peer.is_none() {
            self.peer = Some(peer);
        }
        self.next = Some(self.latest);
    }

    fn tid(&mut self) -> [u8; 12] {
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        tid
    }

    fn push(&mut self, to: SocketAddr) {
        self.out.push_back(Datagram {
            from: self.local,
            to,
            data: Bytes::copy_from_slice(&self.buf),
        });
    }
}

impl<C: ProbeCodec> Endpoint for Probe<C> {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, _to: SocketAddr, data: &[u8]) {
        self.latest = self.latest.max(now);
        match self.codec.decode(data) {
            Some(ProbeMessage::Response { tid, mapped }) => {
                if from == self.server {
                    if self.server_tid == Some(tid) && self.learned.is_none() {
                        self.learned = Some(mapped);
                        self.next = self.peer.map(|_| now);
                    }
                } else if self.peer.is_some() {
                    self.connected = true;
                    self.peer = Some(from);
                }
            }
            Some(ProbeMessage::Request { tid }) => {
                // Answer every probe to the address it came from, and adopt that address.
                self.buf.clear();
                self.codec.encode_response(tid, from, &mut self.buf);
                self.push(from);
                self.answered += 1;
                if from != self.server && self.peer != Some(from) {
                    self.peer = Some(from);
                    self.next = Some(now);
                }
            }
            None => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.latest = self.latest.max(now);
        if self.next.is_none_or(|t| t > now) {
            return;
        }
        if self.learned.is_none() {
            let tid = self.tid();
            self.server_tid = Some(tid);
            self.buf.clear();
            self.codec.encode_request(tid, &mut self.buf);
            self.push(self.server);
            self.next = Some(now + SERVER_RETRY);
            return;
        }
        let Some(peer) = self.peer else {
            self.next = None;
            return;
        };
        let tid = self.tid();
        self.buf.clear();
        self.codec.encode_request(tid, &mut self.buf);
        self.push(peer);
        self.next = Some(
            now + if self.connected {
                KEEPALIVE
            } else {
                PEER_RETRY
            },
        );
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

/// A minimal STUN-style binding server: answers every request with the address it came from.
#[derive(Debug)]
pub struct Reflector<C> {
    local: SocketAddr,
    codec: C,
    out: VecDeque<Datagram>,
    buf: Vec<u8>,
}

impl<C: ProbeCodec> Reflector<C> {
    /// A reflector bound to `local`.
    pub fn new(local: SocketAddr, codec: C) -> Self {
        Self {
            local,
            codec,
            out: VecDeque::new(),
            buf: Vec::new(),
        }
    }
}

impl<C: ProbeCodec> Endpoint for Reflector<C> {
    fn handle_receive(&mut self, _now: Instant, from: SocketAddr, _to: SocketAddr, data: &[u8]) {
        if let Some(ProbeMessage::Request { tid }) = self.codec.decode(data) {
            self.buf.clear();
            self.codec.encode_response(tid, from, &mut self.buf);
            self.out.push_back(Datagram {
                from: self.local,
                to: from,
                data: Bytes::copy_from_slice(&self.buf),
            });
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A hole-punching scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct PunchConfig {
    /// A's NAT chain.
    pub a: NatSpec,
    /// B's NAT chain.
    pub b: NatSpec,
    /// The run's seed.
    pub seed: u64,
    /// Virtual time allowed for punching after signalling.
    pub timeout: Duration,
    /// The public network's link.
    pub internet: LinkConfig,
    /// The link of every LAN behind a NAT.
    pub lan: LinkConfig,
    /// Capture the public network into [`PunchOutcome::pcap`].
    pub pcap: bool,
    /// The epoch of the virtual clock.
    pub epoch: Instant,
}

impl PunchConfig {
    /// Defaults: 5 s to punch, [`LinkConfig::internet`], [`LinkConfig::lan`], no capture.
    pub fn new(a: NatSpec, b: NatSpec, seed: u64, epoch: Instant) -> Self {
        Self {
            a,
            b,
            seed,
            timeout: Duration::from_secs(5),
            internet: LinkConfig::internet(),
            lan: LinkConfig::lan(),
            pcap: false,
            epoch,
        }
    }
}

/// What one side ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// The host.
    pub host: HostId,
    /// The probe's own (private) address.
    pub local: SocketAddr,
    /// The public address the STUN server reported.
    pub learned: Option<SocketAddr>,
    /// The peer address it ended up using.
    pub remote: Option<SocketAddr>,
    /// Whether it received a response from the peer.
    pub connected: bool,
}

/// The result of a hole-punching run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchOutcome {
    /// Both sides received a response from the other: a direct path works without a relay.
    pub direct: bool,
    /// Side A.
    pub a: Side,
    /// Side B.
    pub b: Side,
    /// A's NAT boxes, innermost first (the ids in [`crate::DropCause::Nat`]).
    pub a_nats: Vec<NatId>,
    /// B's NAT boxes, innermost first.
    pub b_nats: Vec<NatId>,
    /// Virtual time at the end of the run.
    pub elapsed: Duration,
    /// Every packet's fate, in order.
    pub fates: Vec<PacketFate>,
    /// The trace hash of the run.
    pub trace_hash: u64,
    /// The seed.
    pub seed: u64,
    /// A pcap of the public network, when asked for.
    pub pcap: Option<Vec<u8>>,
}

/// Why a punch scenario could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PunchError {
    /// The topology could not be built (address space exhausted).
    Topology,
    /// The simulation stopped early (e.g. neither probe could reach the server).
    Sim(SimError),
}

impl std::fmt::Display for PunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Topology => f.write_str("could not build the topology"),
            Self::Sim(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PunchError {}

/// The probe port on both hosts.
pub const PROBE_PORT: u16 = 5000;
/// The reflector's port.
pub const SERVER_PORT: u16 = 3478;

/// Runs one hole-punching scenario: a reflector on the public network, A behind `config.a`,
/// B behind `config.b`; both learn their addresses, swap them, and punch.
pub fn run<C: ProbeCodec + Clone>(
    config: &PunchConfig,
    codec: C,
) -> Result<PunchOutcome, PunchError> {
    let server_codec = codec.clone();
    run_with_server(config, codec, move |addr| {
        Box::new(Reflector::new(addr, server_codec))
    })
}

/// Like [`run`], with the STUN server built by `server` for its address (for example
/// `icebreaker-stun`'s binding server wrapped in an [`Endpoint`]).
pub fn run_with_server<C: ProbeCodec + Clone>(
    config: &PunchConfig,
    codec: C,
    server: impl FnOnce(SocketAddr) -> Box<dyn Endpoint>,
) -> Result<PunchOutcome, PunchError> {
    let mut sim = Sim::new(config.seed, config.epoch);
    sim.set_link(RealmId::PUBLIC, config.internet);
    let capture = config
        .pcap
        .then(|| sim.capture(CapturePoint::Realm(RealmId::PUBLIC)));
    let server_ip = sim.alloc_ip(RealmId::PUBLIC).ok_or(PunchError::Topology)?;
    let server_addr = SocketAddr::new(server_ip, SERVER_PORT);
    sim.add_host(RealmId::PUBLIC, &[server_ip], server(server_addr))
        .ok_or(PunchError::Topology)?;
    let server = server_addr;
    let side =
        |sim: &mut Sim, spec: &NatSpec| -> Result<(HostId, SocketAddr, Vec<NatId>), PunchError> {
            let (nats, realm) = sim
                .add_nat_chain(RealmId::PUBLIC, spec, config.lan)
                .ok_or(PunchError::Topology)?;
            let ip = sim.alloc_ip(realm).ok_or(PunchError::Topology)?;
            let local = SocketAddr::new(ip, PROBE_PORT);
            let seed = sim.next_seed();
            let probe = Probe::new(sim.now(), local, server, codec.clone(), seed);
            let host = sim
                .add_host(realm, &[ip], Box::new(probe))
                .ok_or(PunchError::Topology)?;
            Ok((host, local, nats))
        };
    let (a, a_local, a_nats) = side(&mut sim, &config.a)?;
    let (b, b_local, b_nats) = side(&mut sim, &config.b)?;
    let learned = |sim: &Sim, h: HostId| sim.endpoint::<Probe<C>>(h).and_then(Probe::learned);

    // Phase 1: both learn their public address.
    let limit = sim.elapsed() + Duration::from_secs(2);
    sim.run_until(limit, |s| {
        learned(s, a).is_some() && learned(s, b).is_some()
    })
    .map_err(PunchError::Sim)?;
    // Phase 2: signalling swaps the learned addresses; then punch.
    let (la, lb) = (learned(&sim, a), learned(&sim, b));
    if let (Some(la), Some(lb)) = (la, lb) {
        if let Some(p) = sim.endpoint_mut::<Probe<C>>(a) {
            p.set_peer(lb);
        }
        if let Some(p) = sim.endpoint_mut::<Probe<C>>(b) {
            p.set_peer(la);
        }
    }
    let connected = |s: &Sim, h: HostId| s.endpoint::<Probe<C>>(h).is_some_and(Probe::connected);
    let limit = sim.elapsed() + config.timeout;
    match sim.run_until(limit, |s| connected(s, a) && connected(s, b)) {
        Ok(_) => {}
        Err(e) if e.kind == SimErrorKind::TimeLimit || e.kind == SimErrorKind::Stalled => {}
        Err(e) => return Err(PunchError::Sim(e)),
    }
    let side_of = |h: HostId, local: SocketAddr| {
        let p = sim.endpoint::<Probe<C>>(h);
        Side {
            host: h,
            local,
            learned: p.and_then(Probe::learned),
            remote: p.and_then(Probe::peer),
            connected: p.is_some_and(Probe::connected),
        }
    };
    let (sa, sb) = (side_of(a, a_local), side_of(b, b_local));
    Ok(PunchOutcome {
        direct: sa.connected && sb.connected,
        a: sa,
        b: sb,
        a_nats,
        b_nats,
        elapsed: sim.elapsed(),
        fates: fates(sim.trace()),
        trace_hash: sim.trace_hash(),
        seed: config.seed,
        pcap: capture.and_then(|c| sim.pcap(c).ok()),
    })
}

/// The six classic NAT types of the hole-punching table, in its order.
pub const CLASSIC: [&str; 6] = [
    "open",
    "firewall",
    "full-cone",
    "restricted",
    "port-restricted",
    "symmetric",
];

/// The expected hole-punching table (issue 4): `EXPECTED[a][b]` is `true` for "direct",
/// `false` for "relay", with A and B indexed as in [`CLASSIC`]. Single-address NATs, where
/// restricted × symmetric is direct (as with paired pooling).
pub const EXPECTED: [[bool; 6]; 6] = [
    [true, true, true, true, true, true],
    [true, true, true, true, true, false],
    [true, true, true, true, true, true],
    [true, true, true, true, true, true],
    [true, true, true, true, true, false],
    [true, false, true, true, false, false],
];

/// A tiny self-contained codec for unit tests and benches (not STUN): `Q` + tid for a request,
/// `R` + tid + address text for a response.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainCodec;

impl ProbeCodec for PlainCodec {
    fn encode_request(&mut self, tid: [u8; 12], buf: &mut Vec<u8>) {
        buf.push(b'Q');
        buf.extend_from_slice(&tid);
    }

    fn encode_response(&mut self, tid: [u8; 12], mapped: SocketAddr, buf: &mut Vec<u8>) {
        buf.push(b'R');
        buf.extend_from_slice(&tid);
        buf.extend_from_slice(mapped.to_string().as_bytes());
    }

    fn decode(&mut self, data: &[u8]) -> Option<ProbeMessage> {
        let (&kind, rest) = data.split_first()?;
        let tid: [u8; 12] = rest.get(..12)?.try_into().ok()?;
        match kind {
            b'Q' if rest.len() == 12 => Some(ProbeMessage::Request { tid }),
            b'R' => {
                let mapped = std::str::from_utf8(rest.get(12..)?).ok()?.parse().ok()?;
                Some(ProbeMessage::Response { tid, mapped })
            }
            _ => None,
        }
    }
}
