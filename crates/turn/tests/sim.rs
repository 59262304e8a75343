//! The TURN client and server on the simulated internet (icebreaker-sim): two peers behind
//! symmetric NATs, where no hole punching can work, meet on the relay. Each allocates, learns the
//! other's relayed address (as ICE would tell it), and sends to it, by ChannelData or by Send
//! indications; the server relays from one allocation to the other. Then one allocation pair
//! is kept alive for an hour of simulated time (Refresh, CreatePermission and ChannelBind
//! refreshes, stale nonces) with data still flowing at the end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_nat::NatSpec;
use icebreaker_sim::{Datagram, Endpoint, HostId, LinkConfig, RealmId, Sim, seeds_from_env};
use icebreaker_stun::{Class, Message, Method};
use icebreaker_turn::{
    Cidr, Client, ClientConfig, ClientRelay, Event, PeerPolicy, PeerRelay, PortPool, Received,
    Server, ServerConfig,
};

const USER: &str = "sim-user";
const PASS: &str = "sim-password";

/// The TURN server on a public host: the listening port and every relayed port.
struct TurnHost {
    server: Server<PortPool>,
    listen: SocketAddr,
    out: Vec<Datagram>,
    buf: Vec<u8>,
    relay_buf: Vec<u8>,
}

impl Endpoint for TurnHost {
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
        // A datagram on a relayed address: into a buffer with 4 bytes of headroom.
        self.relay_buf.clear();
        self.relay_buf.resize(data.len() + 8, 0);
        self.relay_buf[4..4 + data.len()].copy_from_slice(data);
        match self
            .server
            .relay_to_channel(now, to, from, &mut self.relay_buf, data.len())
        {
            PeerRelay::Channel { transmit, len } => self.out.push(Datagram {
                from: transmit.from,
                to: transmit.to,
                data: Bytes::copy_from_slice(&self.relay_buf[..len]),
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

/// How a peer sends to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// ChannelBind, then ChannelData.
    Channel,
    /// CreatePermission, then Send indications.
    Indication,
}

/// A peer behind its NAT: a TURN client that, once told the other's relayed address, sends it
/// one numbered datagram every `every`.
struct Peer {
    name: char,
    client: Client,
    mode: Mode,
    every: Duration,
    /// The other peer's relayed address, once known.
    other: Option<SocketAddr>,
    /// The permission or channel is confirmed: data may flow.
    ready: bool,
    next_send: Option<Instant>,
    sent: u64,
    /// Payloads received from the other relay, with the time.
    received: Vec<(Instant, SocketAddr, Vec<u8>)>,
    relayed: Option<SocketAddr>,
    /// Success responses received, by method.
    successes: BTreeMap<u16, u32>,
    /// Stale-nonce answers received (the client retries on its own).
    stale: u32,
    failures: Vec<Event>,
    buf: Vec<u8>,
}

impl Peer {
    fn new(name: char, local: SocketAddr, server: SocketAddr, mode: Mode, seed: u8) -> Self {
        let mut config = ClientConfig::new(local, server, USER, PASS);
        config.rng_seed = [seed; 32];
        Self {
            name,
            client: Client::new(config),
            mode,
            every: Duration::from_secs(20),
            other: None,
            ready: false,
            next_send: None,
            sent: 0,
            received: Vec::new(),
            relayed: None,
            successes: BTreeMap::new(),
            stale: 0,
            failures: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// The other side's relayed address, as signalling would deliver it.
    fn connect_to(&mut self, now: Instant, other: SocketAddr) {
        self.other = Some(other);
        match self.mode {
            Mode::Channel => {
                self.client.bind_channel(now, other).unwrap();
            }
            Mode::Indication => self.client.create_permission(now, other.ip()).unwrap(),
        }
    }

    fn drain_events(&mut self, now: Instant) {
        while let Some(e) = self.client.poll_event() {
            match e {
                Event::Allocated { relayed, .. } => self.relayed = relayed.first().copied(),
                Event::PermissionCreated(_) if self.mode == Mode::Indication => {
                    self.start_sending(now);
                }
                Event::ChannelBound { .. } if self.mode == Mode::Channel => {
                    self.start_sending(now);
                }
                e @ Event::Failed { .. } => self.failures.push(e),
                _ => {}
            }
        }
    }

    fn start_sending(&mut self, now: Instant) {
        if !self.ready {
            self.ready = true;
            self.next_send = Some(now);
        }
    }

    fn count_answer(&mut self, data: &[u8]) {
        let Ok(m) = Message::parse(data) else {
            return;
        };
        match m.class() {
            Class::Success => *self.successes.entry(m.method().value()).or_default() += 1,
            Class::Error => {
                let code = m
                    .get::<icebreaker_stun::attributes::ErrorCode<'_>>()
                    .ok()
                    .flatten()
                    .map(|e| e.code);
                if code == Some(438) {
                    self.stale += 1;
                }
            }
            _ => {}
        }
    }

    fn successes(&self, m: Method) -> u32 {
        self.successes.get(&m.value()).copied().unwrap_or(0)
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.count_answer(data);
        if let Received::PeerData { peer, data } = self.client.handle_receive(now, from, to, data) {
            self.received.push((now, peer, data.to_vec()));
        }
        self.drain_events(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.drain_events(now);
        if let (Some(at), Some(other)) = (self.next_send, self.other)
            && now >= at
        {
            self.sent += 1;
            let msg = format!("{} #{}", self.name, self.sent);
            self.client.send_to(other, msg.as_bytes()).unwrap();
            self.next_send = Some(at + self.every);
        }
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.client.poll_transmit(&mut self.buf)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.buf),
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.next_send]
            .into_iter()
            .flatten()
            .min()
    }
}

struct World {
    sim: Sim,
    turn: HostId,
    a: HostId,
    b: HostId,
}

fn world(seed: u64, a_mode: Mode, b_mode: Mode) -> World {
    let epoch = Instant::now();
    let mut sim = Sim::new(seed, epoch);
    sim.set_link(RealmId::PUBLIC, LinkConfig::internet());
    let turn_ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let listen = SocketAddr::new(turn_ip, 3478);
    // The simulated internet uses a documentation prefix, which the server refuses by default:
    // allow it, as an operator would allow their own test network (as scenario.rs does).
    let mut policy = PeerPolicy::new();
    policy.allow(Cidr::new("203.0.113.0".parse().unwrap(), 24).unwrap());
    let config = ServerConfig {
        realm: "sim.example".into(),
        users: vec![(USER.into(), PASS.into())],
        nonce_secret: [seed as u8; 32],
        rng_seed: [seed as u8 ^ 0x55; 32],
        peer_policy: policy,
        own_addresses: vec![turn_ip],
        listen: vec![listen],
        ..ServerConfig::default()
    };
    let ports = PortPool::new(Some(turn_ip), None, 49152..=65535, [seed as u8; 32]);
    let server = Server::new(config, ports, epoch);
    let turn = sim
        .add_host(
            RealmId::PUBLIC,
            &[turn_ip],
            Box::new(TurnHost {
                server,
                listen,
                out: Vec::new(),
                buf: Vec::new(),
                relay_buf: Vec::new(),
            }),
        )
        .unwrap();
    let spec: NatSpec = "symmetric".parse().unwrap();
    let mut hosts = Vec::new();
    for (name, mode, s) in [('A', a_mode, 1u8), ('B', b_mode, 2)] {
        let (_, realm) = sim
            .add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan())
            .unwrap();
        let ip = sim.alloc_ip(realm).unwrap();
        let local = SocketAddr::new(ip, 5000);
        let mut peer = Peer::new(name, local, listen, mode, s ^ seed as u8);
        peer.client.allocate(epoch);
        hosts.push(sim.add_host(realm, &[ip], Box::new(peer)).unwrap());
    }
    World {
        sim,
        turn,
        a: hosts[0],
        b: hosts[1],
    }
}

fn peer(sim: &Sim, id: HostId) -> &Peer {
    sim.endpoint::<Peer>(id).unwrap()
}

fn server(sim: &Sim, id: HostId) -> &Server<PortPool> {
    &sim.endpoint::<TurnHost>(id).unwrap().server
}

/// Allocates both, then tells each the other's relayed address; returns them (A's, B's).
fn meet(w: &mut World) -> (SocketAddr, SocketAddr) {
    let (a, b) = (w.a, w.b);
    w.sim
        .run_until(Duration::from_secs(10), |s| {
            peer(s, a).relayed.is_some() && peer(s, b).relayed.is_some()
        })
        .unwrap_or_else(|e| panic!("allocations: {e}"));
    let ra = peer(&w.sim, a).relayed.unwrap();
    let rb = peer(&w.sim, b).relayed.unwrap();
    let now = w.sim.now();
    w.sim.endpoint_mut::<Peer>(a).unwrap().connect_to(now, rb);
    w.sim.endpoint_mut::<Peer>(b).unwrap().connect_to(now, ra);
    (ra, rb)
}

fn exchange(seed: u64, a_mode: Mode, b_mode: Mode) {
    let mut w = world(seed, a_mode, b_mode);
    let (ra, rb) = meet(&mut w);
    assert_eq!(ra.ip(), rb.ip(), "both relays are on the one server");
    let (a, b) = (w.a, w.b);
    w.sim
        .run_until(Duration::from_secs(120), |s| {
            peer(s, a).received.len() >= 3 && peer(s, b).received.len() >= 3
        })
        .unwrap_or_else(|e| panic!("{a_mode:?}/{b_mode:?}: {e}"));
    for (me, other_relay, other) in [(a, rb, 'B'), (b, ra, 'A')] {
        let p = peer(&w.sim, me);
        assert!(p.failures.is_empty(), "{}: {:?}", p.name, p.failures);
        // Everything came from the other's relayed address, in order.
        for (i, (_, from, data)) in p.received.iter().enumerate() {
            assert_eq!(*from, other_relay);
            assert_eq!(data, format!("{other} #{}", i + 1).as_bytes());
        }
    }
    // The relay did the work: datagrams went from one allocation to the other.
    let stats = server(&w.sim, w.turn).stats();
    assert_eq!(stats.allocations, 2);
    assert!(stats.relayed >= 12, "{stats:?}");
    let channels = usize::from(a_mode == Mode::Channel) + usize::from(b_mode == Mode::Channel);
    assert_eq!(stats.channels, channels);
}

#[test]
fn symmetric_nat_peers_meet_on_the_relay_through_channels() {
    for seed in seeds_from_env(0..3) {
        exchange(seed, Mode::Channel, Mode::Channel);
    }
}

#[test]
fn symmetric_nat_peers_meet_on_the_relay_through_indications() {
    for seed in seeds_from_env(0..3) {
        exchange(seed, Mode::Indication, Mode::Indication);
    }
}

#[test]
fn symmetric_nat_peers_meet_on_the_relay_one_channel_one_indication() {
    for seed in seeds_from_env(0..3) {
        exchange(seed, Mode::Channel, Mode::Indication);
    }
}

#[test]
fn an_allocation_is_kept_alive_for_an_hour() {
    const HOUR: Duration = Duration::from_secs(3600);
    for seed in seeds_from_env(0..2) {
        // A binds a channel, B only has a permission: every kind of refresh runs.
        let mut w = world(seed, Mode::Channel, Mode::Indication);
        meet(&mut w);
        let (a, b) = (w.a, w.b);
        let start = w.sim.now();
        let end = w.sim.run_for(HOUR + Duration::from_secs(30)).unwrap();
        assert!(
            end >= HOUR,
            "seed {seed}: the simulation stopped at {end:?}"
        );
        let now = w.sim.now();
        for id in [a, b] {
            let p = peer(&w.sim, id);
            assert!(
                p.failures.is_empty(),
                "seed {seed} {}: {:?}",
                p.name,
                p.failures
            );
            // Data every 20 s, nothing lost on the way, and still flowing in the last minute.
            let last = p.received.last().map(|r| r.0).unwrap();
            assert!(
                now - last <= Duration::from_secs(25),
                "seed {seed} {}",
                p.name
            );
            assert!(
                p.received.len() >= 175,
                "seed {seed} {}: {}",
                p.name,
                p.received.len()
            );
            assert!(p.received.iter().all(|r| r.0 >= start));
            // Allocation refreshes a minute before the 600 s lifetime ends: at least 6.
            assert!(p.successes(Method::REFRESH) >= 6, "{:?}", p.successes);
        }
        let pa = peer(&w.sim, a);
        let pb = peer(&w.sim, b);
        // A's channel is rebound every 540 s (which also refreshes its permission).
        assert!(
            pa.successes(Method::CHANNEL_BIND) >= 7,
            "{:?}",
            pa.successes
        );
        // B's permission is refreshed every 240 s.
        assert!(
            pb.successes(Method::CREATE_PERMISSION) >= 15,
            "{:?}",
            pb.successes
        );
        // The nonces (600 s) went stale along the way and the clients recovered.
        assert!(
            pa.stale + pb.stale >= 2,
            "stale {} + {}",
            pa.stale,
            pb.stale
        );
        let stats = server(&w.sim, w.turn).stats();
        assert_eq!((stats.allocations, stats.channels), (2, 1), "{stats:?}");
    }
}
