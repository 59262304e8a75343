//! Whole connection attempts on the simulated internet: two ICE agents behind any NATs, a STUN
//! server and a TURN server on public addresses, trickled candidates, and the outcome.
//!
//! This is what `icebreaker sim run`, `icebreaker sim matrix` and the demo show, and what the
//! matrix tests hold the agent to. Everything is deterministic: the same configuration and seed
//! give the same outcome, the same ladder and the same time to connect.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_ice::{
    Agent, AgentConfig, Candidate, CandidateKind, Credentials, Event as IceEvent, State, TurnServer,
};
use icebreaker_nat::NatSpec;
use icebreaker_sim::{Datagram, Endpoint, HostId, LinkConfig, RealmId, Sim, SimError};
use icebreaker_stun::server::{BindingServer, ServerConfig as StunConfig};
use icebreaker_stun::{Class, Message};
use icebreaker_turn::{Cidr, ServerConfig as TurnConfig};
use icebreaker_turn::{ClientRelay, PeerPolicy, PeerRelay, PortPool, Server as TurnServerCore};

/// The NAT types of the classic table, in its order.
pub const CLASSIC: [&str; 6] = [
    "open",
    "firewall",
    "full-cone",
    "restricted",
    "port-restricted",
    "symmetric",
];

/// One attempt's settings.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The NAT(s) in front of A (the controlling agent, the offerer).
    pub a: NatSpec,
    /// The NAT(s) in front of B.
    pub b: NatSpec,
    /// Seed of everything random: the simulator, the NATs, the agents.
    pub seed: u64,
    /// Whether a TURN server is configured on both agents.
    pub turn: bool,
    /// Random loss on the public internet (each crossing between a NAT or server and another),
    /// 0.0 to 1.0; the home networks behind the NATs are lossless.
    pub loss: f64,
    /// Round-trip time between the two NATs across the public network.
    pub rtt: Duration,
    /// Give up after this much virtual time.
    pub limit: Duration,
    /// Record a ladder of what happened.
    pub trace: bool,
    /// Capture the public network into [`Outcome::pcap`].
    pub pcap: bool,
    /// B claims the controlling role too: the role conflict must be resolved (RFC 8445
    /// §7.3.1.1) before anything connects.
    pub b_controlling: bool,
    /// B is an ICE-lite agent (RFC 8445 §2.5): host candidates only, no checks of its own, no
    /// STUN or TURN. Meant for a B on a public address (`open`), as lite agents are.
    pub b_lite: bool,
}

impl Scenario {
    /// An attempt between these NATs with the defaults: TURN available, no loss, 40 ms RTT.
    pub fn new(a: NatSpec, b: NatSpec, seed: u64) -> Self {
        Self {
            a,
            b,
            seed,
            turn: true,
            loss: 0.0,
            rtt: Duration::from_millis(40),
            limit: Duration::from_secs(60),
            trace: false,
            pcap: false,
            b_controlling: false,
            b_lite: false,
        }
    }
}

/// A candidate as the outcome reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// host, srflx, prflx or relay.
    pub kind: CandidateKind,
    /// The candidate's address.
    pub address: SocketAddr,
    /// Its candidate line.
    pub line: String,
}

impl Side {
    fn of(c: &Candidate) -> Self {
        Self {
            kind: c.kind,
            address: c.address,
            line: c.to_string(),
        }
    }
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Both agents reached Connected.
    pub connected: bool,
    /// A's selected pair: (local, remote).
    pub selected: Option<(Side, Side)>,
    /// B's selected pair: (local, remote).
    pub selected_b: Option<(Side, Side)>,
    /// Virtual time from the start (both descriptions exchanged) until both agents were
    /// connected.
    pub time_to_connect: Option<Duration>,
    /// The round-trip time across the public network the attempt ran with.
    pub rtt: Duration,
    /// A's final state.
    pub state_a: State,
    /// B's final state.
    pub state_b: State,
    /// Connectivity checks both agents sent.
    pub checks: u64,
    /// A readable account of the attempt (when asked for).
    pub ladder: Vec<String>,
    /// Every candidate each agent gathered (`'A'` or `'B'`), in order.
    pub candidates: Vec<(char, Side)>,
    /// A pcap of the public network (when [`Scenario::pcap`] asked for it).
    pub pcap: Option<Vec<u8>>,
}

impl Outcome {
    /// The time to connect in round trips across the public network: how many RTTs gathering,
    /// checks and nomination took, whatever the RTT was.
    pub fn round_trips(&self) -> Option<f64> {
        let rtt = self.rtt.as_secs_f64();
        self.time_to_connect
            .filter(|_| rtt > 0.0)
            .map(|t| t.as_secs_f64() / rtt)
    }

    /// Whether the selected path uses a TURN relay on either side.
    pub fn relayed(&self) -> bool {
        let relay = |s: &Option<(Side, Side)>| {
            s.as_ref().is_some_and(|(l, r)| {
                l.kind == CandidateKind::Relayed || r.kind == CandidateKind::Relayed
            })
        };
        relay(&self.selected) || relay(&self.selected_b)
    }

    /// `direct`, `relay` or `failed`.
    pub fn verdict(&self) -> &'static str {
        match (self.connected, self.relayed()) {
            (false, _) => "failed",
            (true, true) => "relay",
            (true, false) => "direct",
        }
    }
}

/// An ICE agent on a simulated host. The scenario reads its events between steps.
struct Peer {
    agent: Agent,
    name: char,
    buf: Vec<u8>,
    log: Option<Vec<(Duration, String)>>,
    epoch: Instant,
    /// The latest instant the simulator gave us: transmits are drained at this instant.
    now: Instant,
}

impl Peer {
    fn note(&mut self, now: Instant, line: String) {
        if let Some(log) = &mut self.log {
            log.push((now.saturating_duration_since(self.epoch), line));
        }
    }
}

fn describe(data: &[u8]) -> String {
    let Ok(m) = Message::parse(data) else {
        return match data.first() {
            Some(64..=79) => format!("ChannelData ({} B)", data.len()),
            _ => format!("data ({} B)", data.len()),
        };
    };
    let mut s = format!("{} {}", m.method(), m.class());
    if m.has(icebreaker_stun::attributes::USE_CANDIDATE) {
        s.push_str(" USE-CANDIDATE");
    }
    if m.class() == Class::Error
        && let Ok(Some(e)) = m.get::<icebreaker_stun::attributes::ErrorCode<'_>>()
    {
        let _ = write!(s, " {}", e.code);
    }
    s
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.now = now;
        if self.log.is_some() {
            let line = format!("{} <- {from}: {}", self.name, describe(data));
            self.note(now, line);
        }
        let _ = self.agent.handle_receive(now, from, to, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.agent.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.agent.poll_transmit(&mut self.buf)?;
        if self.log.is_some() {
            let line = format!("{} -> {}: {}", self.name, t.to, describe(&self.buf));
            self.note(self.now, line);
        }
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.buf),
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.agent.poll_timeout()
    }
}

/// The STUN binding server on a public host.
struct Stun {
    server: BindingServer,
    out: Vec<Datagram>,
}

impl Endpoint for Stun {
    fn handle_receive(&mut self, _now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let mut buf = [0u8; 1500];
        if let Some(r) = self.server.respond(from, to, data, &mut buf) {
            self.out.push(Datagram {
                from: r.from,
                to: r.to,
                data: Bytes::copy_from_slice(&buf[..r.len]),
            });
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// The TURN server on a public host: its listening port and every relayed port.
struct Turn {
    server: TurnServerCore<PortPool>,
    listen: SocketAddr,
    out: Vec<Datagram>,
    buf: Vec<u8>,
}

impl Endpoint for Turn {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if to == self.listen {
            match self.server.relay_channel_data(now, from, to, data) {
                ClientRelay::Relayed { transmit, data } => self.out.push(Datagram {
                    from: transmit.from,
                    to: transmit.to,
                    data: Bytes::copy_from_slice(data),
                }),
                ClientRelay::Dropped => {}
                ClientRelay::NotChannelData => self.server.handle_receive(now, from, to, data),
            }
            return;
        }
        let mut buf = vec![0u8; data.len() + 8];
        buf[4..4 + data.len()].copy_from_slice(data);
        match self
            .server
            .relay_to_channel(now, to, from, &mut buf, data.len())
        {
            PeerRelay::Channel { transmit, len } => self.out.push(Datagram {
                from: transmit.from,
                to: transmit.to,
                data: Bytes::copy_from_slice(&buf[..len]),
            }),
            PeerRelay::Dropped => {}
            PeerRelay::NoChannel => self.server.handle_peer_receive(now, to, from, data),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        if let Some(d) = self.out.pop() {
            return Some(d);
        }
        let t = self.server.poll_transmit(&mut self.buf)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.buf),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

fn seed32(seed: u64, salt: u8) -> [u8; 32] {
    let mut s = [salt; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s
}

/// Where the pieces live in the simulator.
struct World {
    sim: Sim,
    capture: Option<icebreaker_sim::CaptureId>,
    a: HostId,
    b: HostId,
    /// B's NAT boxes, innermost first.
    b_nats: Vec<icebreaker_sim::NatId>,
    /// The network B's host sits on (behind its NATs).
    b_realm: RealmId,
}

fn build(sc: &Scenario) -> Result<World, String> {
    let epoch = Instant::now();
    let mut sim = Sim::new(sc.seed, epoch);
    // The public network carries half the RTT each way between the two sides' NATs.
    let one_way = sc.rtt / 4;
    let public = LinkConfig {
        latency: one_way,
        ..LinkConfig::internet()
    }
    .with_loss(sc.loss);
    sim.set_link(RealmId::PUBLIC, public);
    let capture = sc
        .pcap
        .then(|| sim.capture(icebreaker_sim::CapturePoint::Realm(RealmId::PUBLIC)));
    let ip = |sim: &mut Sim, realm| sim.alloc_ip(realm).ok_or("no address left".to_string());

    let stun_ip = ip(&mut sim, RealmId::PUBLIC)?;
    let stun_addr = SocketAddr::new(stun_ip, 3478);
    let stun = Stun {
        server: BindingServer::new(StunConfig::default()),
        out: Vec::new(),
    };
    sim.add_host(RealmId::PUBLIC, &[stun_ip], Box::new(stun))
        .ok_or("cannot add the STUN server")?;

    let turn_ip = ip(&mut sim, RealmId::PUBLIC)?;
    let turn_addr = SocketAddr::new(turn_ip, 3478);
    let mut policy = PeerPolicy::new();
    // The simulated internet uses documentation prefixes, which a TURN server refuses by
    // default: allow them explicitly, as an operator would allow their own test network.
    for (net, len) in [
        ("203.0.0.0", 8u8),
        ("10.0.0.0", 8),
        ("2001:db8::", 32),
        ("fd00::", 8),
    ] {
        if let Ok(c) = Cidr::new(net.parse().map_err(|_| "bad prefix")?, len) {
            policy.allow(c);
        }
    }
    let turn_config = TurnConfig {
        users: vec![("icebreaker".into(), "icebreaker-secret".into())],
        nonce_secret: seed32(sc.seed, 7),
        rng_seed: seed32(sc.seed, 8),
        peer_policy: policy,
        own_addresses: vec![turn_ip],
        listen: vec![turn_addr],
        ..TurnConfig::default()
    };
    let ports = PortPool::new(Some(turn_ip), None, 49152..=65535, seed32(sc.seed, 9));
    let turn = Turn {
        server: TurnServerCore::new(turn_config, ports, epoch),
        listen: turn_addr,
        out: Vec::new(),
        buf: Vec::new(),
    };
    sim.add_host(RealmId::PUBLIC, &[turn_ip], Box::new(turn))
        .ok_or("cannot add the TURN server")?;

    let mut hosts = Vec::new();
    let mut b_nats = Vec::new();
    let mut b_realm = RealmId::PUBLIC;
    let sides = [
        ('A', &sc.a, true, false),
        ('B', &sc.b, sc.b_controlling, sc.b_lite),
    ];
    for (name, spec, controlling, lite) in sides {
        let (nats, realm) = sim
            .add_nat_chain(RealmId::PUBLIC, spec, LinkConfig::lan())
            .ok_or_else(|| format!("cannot build the NAT {spec}"))?;
        if name == 'B' {
            b_nats = nats;
            b_realm = realm;
        }
        let host_ip = ip(&mut sim, realm)?;
        let config = AgentConfig {
            controlling,
            lite,
            rng_seed: seed32(sc.seed, name as u8),
            stun_servers: if lite { Vec::new() } else { vec![stun_addr] },
            turn_servers: if sc.turn && !lite {
                vec![TurnServer {
                    server: turn_addr,
                    transport: icebreaker_ice::TurnTransport::Udp,
                    username: "icebreaker".into(),
                    password: "icebreaker-secret".into(),
                }]
            } else {
                Vec::new()
            },
            ..AgentConfig::default()
        };
        let creds = Credentials {
            ufrag: format!("{name}ufrag"),
            pwd: format!("{name}-password-for-the-simulation"),
        };
        let mut agent = Agent::new(config, creds);
        agent
            .add_host_candidate(SocketAddr::new(host_ip, 5000), 1)
            .map_err(|e| e.to_string())?;
        let peer = Peer {
            agent,
            name,
            buf: Vec::new(),
            log: sc.trace.then(Vec::new),
            epoch,
            now: epoch,
        };
        hosts.push(
            sim.add_host(realm, &[host_ip], Box::new(peer))
                .ok_or("cannot add a peer")?,
        );
    }
    Ok(World {
        sim,
        capture,
        a: hosts[0],
        b: hosts[1],
        b_nats,
        b_realm,
    })
}

fn peer(sim: &mut Sim, id: HostId) -> &mut Peer {
    // Both ids were returned by `add_host` for `Peer`s.
    sim.endpoint_mut::<Peer>(id)
        .unwrap_or_else(|| unreachable!("host {id:?} runs a Peer"))
}

/// Offer and answer at the start: credentials both ways, then both agents start.
fn exchange_and_start(sim: &mut Sim, a: HostId, b: HostId) {
    let (ca, cb) = (
        peer(sim, a).agent.local_credentials().clone(),
        peer(sim, b).agent.local_credentials().clone(),
    );
    let now = sim.now();
    // The scenario's ufrags are a letter and "ufrag": the USERNAME they make always fits.
    let _ = peer(sim, a).agent.set_remote_credentials(cb);
    let _ = peer(sim, b).agent.set_remote_credentials(ca);
    peer(sim, a).agent.start(now);
    peer(sim, b).agent.start(now);
}

/// Signalling, instantly: trickles each side's new candidates and end-of-candidates to the
/// other, and hands every other event to `seen` with the side (`a` or `b`) it came from.
fn trickle(sim: &mut Sim, a: HostId, b: HostId, mut seen: impl FnMut(HostId, IceEvent)) {
    for (from, to) in [(a, b), (b, a)] {
        let events: Vec<IceEvent> =
            std::iter::from_fn(|| peer(sim, from).agent.poll_event()).collect();
        for e in events {
            match e {
                IceEvent::LocalCandidate(c) => {
                    let _ = peer(sim, to).agent.add_remote_candidate(c);
                }
                IceEvent::GatheringComplete => peer(sim, to).agent.end_of_remote_candidates(),
                other => seen(from, other),
            }
        }
    }
}

/// Steps a scripted run: each round trickles signalling, then hands `round` the other events
/// (with the side they came from) and both agents' states, until `round` breaks, the simulator
/// has nothing left to do, or `limit` passes.
fn drive(
    sim: &mut Sim,
    a: HostId,
    b: HostId,
    limit: Duration,
    mut round: impl FnMut(&mut Sim, &[(HostId, IceEvent)], State, State) -> ControlFlow<()>,
) {
    loop {
        let mut events = Vec::new();
        trickle(sim, a, b, |from, e| events.push((from, e)));
        let (sa, sb) = (peer(sim, a).agent.state(), peer(sim, b).agent.state());
        if round(sim, &events, sa, sb).is_break() || !matches!(sim.step(limit), Ok(true)) {
            return;
        }
    }
}

/// Runs one attempt.
pub fn run(sc: &Scenario) -> Result<Outcome, String> {
    let World {
        mut sim,
        capture,
        a,
        b,
        ..
    } = build(sc)?;
    // Offer and answer are exchanged at the start: credentials both ways.
    exchange_and_start(&mut sim, a, b);

    let mut ladder_events: Vec<(Duration, String)> = Vec::new();
    let mut connected_at = None;
    let mut candidates = Vec::new();
    let mut selected = [None, None];
    let mut steps_since_connected = 0u32;
    loop {
        // Signalling: trickle candidates both ways, instantly.
        for (from, to, idx) in [(a, b, 0usize), (b, a, 1usize)] {
            let mut events = Vec::new();
            while let Some(e) = peer(&mut sim, from).agent.poll_event() {
                events.push(e);
            }
            let elapsed = sim.elapsed();
            let name = peer(&mut sim, from).name;
            for e in events {
                match e {
                    IceEvent::LocalCandidate(c) => {
                        candidates.push((name, Side::of(&c)));
                        if sc.trace {
                            ladder_events.push((elapsed, format!("{name} gathered {c}")));
                        }
                        let _ = peer(&mut sim, to).agent.add_remote_candidate(c);
                    }
                    IceEvent::GatheringComplete => {
                        if sc.trace {
                            ladder_events.push((elapsed, format!("{name} end-of-candidates")));
                        }
                        peer(&mut sim, to).agent.end_of_remote_candidates();
                    }
                    IceEvent::SelectedPair { local, remote, .. } => {
                        if sc.trace {
                            ladder_events.push((
                                elapsed,
                                format!("{name} selected {} -> {}", Side::of(&local).line, remote),
                            ));
                        }
                        selected[idx] = Some((Side::of(&local), Side::of(&remote)));
                    }
                    IceEvent::StateChanged(s) if sc.trace => {
                        ladder_events.push((elapsed, format!("{name} is {}", s.as_str())));
                    }
                    _ => {}
                }
            }
        }
        let (sa, sb) = (
            peer(&mut sim, a).agent.state(),
            peer(&mut sim, b).agent.state(),
        );
        if sa == State::Connected && sb == State::Connected && connected_at.is_none() {
            connected_at = Some(sim.elapsed());
        }
        let failed = matches!(sa, State::Failed) && matches!(sb, State::Failed);
        if connected_at.is_some() {
            // A few more steps so that the last events (the other side's selection) drain.
            steps_since_connected += 1;
            if steps_since_connected > 50 && selected.iter().all(Option::is_some) {
                break;
            }
        }
        if failed && connected_at.is_none() {
            break;
        }
        match sim.step(sc.limit) {
            Ok(true) => {}
            Ok(false) => break,
            Err(SimError { .. }) => break,
        }
    }
    let (sa, sb) = (
        peer(&mut sim, a).agent.state(),
        peer(&mut sim, b).agent.state(),
    );
    let checks =
        peer(&mut sim, a).agent.stats().checks_sent + peer(&mut sim, b).agent.stats().checks_sent;
    let mut ladder = Vec::new();
    if sc.trace {
        for id in [a, b] {
            let p = peer(&mut sim, id);
            if let Some(log) = p.log.take() {
                ladder_events.extend(log);
            }
        }
        ladder_events.sort_by_key(|(t, _)| *t);
        ladder = ladder_events
            .into_iter()
            .map(|(t, l)| format!("{:>9.1} ms  {l}", t.as_secs_f64() * 1000.0))
            .collect();
    }
    let [sel_a, sel_b] = selected;
    Ok(Outcome {
        connected: connected_at.is_some(),
        selected: sel_a,
        selected_b: sel_b,
        time_to_connect: connected_at,
        rtt: sc.rtt,
        state_a: sa,
        state_b: sb,
        checks,
        ladder,
        candidates,
        pcap: capture.and_then(|c| sim.pcap(c).ok()),
    })
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// A's NAT.
    pub a: String,
    /// B's NAT.
    pub b: String,
    /// The attempt's outcome.
    pub outcome: Outcome,
}

/// The classic 6×6 table: every pairing of [`CLASSIC`] NAT types.
pub fn matrix(seed: u64, turn: bool, loss: f64, rtt: Duration) -> Result<Vec<Cell>, String> {
    let mut cells = Vec::new();
    for a in CLASSIC {
        for b in CLASSIC {
            let mut sc = Scenario::new(
                a.parse().map_err(|e| format!("{a}: {e}"))?,
                b.parse().map_err(|e| format!("{b}: {e}"))?,
                seed,
            );
            sc.turn = turn;
            sc.loss = loss;
            sc.rtt = rtt;
            let outcome = run(&sc)?;
            cells.push(Cell {
                a: a.into(),
                b: b.into(),
                outcome,
            });
        }
    }
    Ok(cells)
}

/// How an attempt went whose B-side NAT rebooted after the connection was up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootOutcome {
    /// When both agents first connected.
    pub connected_at: Duration,
    /// When B's NAT forgot its mappings.
    pub rebooted_at: Duration,
    /// When an agent noticed (consent checks unanswered: Disconnected) and both restarted ICE.
    pub restarted_at: Option<Duration>,
    /// When both agents were connected again after the restart.
    pub reconnected_at: Option<Duration>,
    /// B's address as A used it before the reboot.
    pub b_before: Option<SocketAddr>,
    /// B's address as A uses it after the restart.
    pub b_after: Option<SocketAddr>,
}

/// Connects A and B, reboots B's NAT(s) `reboot_after` later (every mapping forgotten, so B's
/// traffic leaves from new public ports), and lets the application do what it should: when an
/// agent reports Disconnected, both sides restart ICE (RFC 8445 §9) with new credentials and
/// trickle their candidates again.
pub fn run_with_nat_reboot(sc: &Scenario, reboot_after: Duration) -> Result<RebootOutcome, String> {
    let World {
        mut sim,
        a,
        b,
        b_nats,
        ..
    } = build(sc)?;
    exchange_and_start(&mut sim, a, b);
    let mut out = RebootOutcome {
        connected_at: Duration::ZERO,
        rebooted_at: Duration::ZERO,
        restarted_at: None,
        reconnected_at: None,
        b_before: None,
        b_after: None,
    };
    // Phases: 0 connecting, 1 connected (waiting to reboot), 2 rebooted, 3 restarted.
    let mut phase = 0;
    drive(&mut sim, a, b, sc.limit, |sim, events, sa, sb| {
        for (from, e) in events {
            if let IceEvent::SelectedPair { remote, .. } = e
                && *from == a
            {
                if phase < 2 {
                    out.b_before = Some(remote.address);
                } else {
                    out.b_after = Some(remote.address);
                }
            }
        }
        let elapsed = sim.elapsed();
        match phase {
            0 if sa == State::Connected && sb == State::Connected => {
                out.connected_at = elapsed;
                phase = 1;
            }
            1 if elapsed >= out.connected_at + reboot_after => {
                for nat in &b_nats {
                    if let Some(n) = sim.nat_mut(*nat) {
                        n.reboot();
                    }
                }
                out.rebooted_at = elapsed;
                phase = 2;
            }
            2 if [sa, sb]
                .iter()
                .any(|s| matches!(s, State::Disconnected | State::Failed)) =>
            {
                let now = sim.now();
                let seed = sc.seed;
                let fresh = |name: char| Credentials {
                    ufrag: format!("{name}rst{}", seed % 1000),
                    pwd: format!("{name}-restarted-password-{seed}"),
                };
                peer(sim, a).agent.restart(now, fresh('A'));
                peer(sim, b).agent.restart(now, fresh('B'));
                // Short ufrags (a letter, "rst" and three digits): they always fit.
                let _ = peer(sim, a).agent.set_remote_credentials(fresh('B'));
                let _ = peer(sim, b).agent.set_remote_credentials(fresh('A'));
                out.restarted_at = Some(elapsed);
                phase = 3;
            }
            3 if sa == State::Connected && sb == State::Connected && out.b_after.is_some() => {
                out.reconnected_at = Some(elapsed);
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    Ok(out)
}

/// How an attempt went whose B vanished once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VanishOutcome {
    /// When both agents first connected.
    pub connected_at: Duration,
    /// When every datagram to and from B's host began to be lost.
    pub vanished_at: Duration,
    /// When A reported Disconnected (consent checks unanswered).
    pub disconnected_at: Option<Duration>,
    /// When A reported Failed (consent lost, RFC 7675: sending stops).
    pub failed_at: Option<Duration>,
    /// Whether A refused to send application data once it had failed.
    pub sending_stopped: bool,
}

/// Connects A and B, then makes B vanish `vanish_after` later: its network loses everything,
/// as when a laptop's lid closes. A must notice through consent freshness (RFC 7675).
pub fn run_with_vanish(sc: &Scenario, vanish_after: Duration) -> Result<VanishOutcome, String> {
    let World {
        mut sim,
        a,
        b,
        b_realm,
        ..
    } = build(sc)?;
    exchange_and_start(&mut sim, a, b);
    let mut out = VanishOutcome {
        connected_at: Duration::ZERO,
        vanished_at: Duration::ZERO,
        disconnected_at: None,
        failed_at: None,
        sending_stopped: false,
    };
    let mut phase = 0;
    drive(&mut sim, a, b, sc.limit, |sim, _, sa, sb| {
        let elapsed = sim.elapsed();
        match phase {
            0 if sa == State::Connected && sb == State::Connected => {
                out.connected_at = elapsed;
                phase = 1;
            }
            1 if elapsed >= out.connected_at + vanish_after => {
                sim.set_link(b_realm, LinkConfig::lan().with_loss(1.0));
                out.vanished_at = elapsed;
                phase = 2;
            }
            2 => {
                if sa == State::Disconnected && out.disconnected_at.is_none() {
                    out.disconnected_at = Some(elapsed);
                }
                if sa == State::Failed {
                    out.failed_at = Some(elapsed);
                    let mut buf = Vec::new();
                    out.sending_stopped = peer(sim, a)
                        .agent
                        .send(1, b"still there?", &mut buf)
                        .is_err();
                    return ControlFlow::Break(());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    Ok(out)
}
