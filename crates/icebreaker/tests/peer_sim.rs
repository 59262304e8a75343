//! Two `Peer`s on the simulated internet, each behind a NAT, exchanging their signalling
//! in-process (offer, answer, trickled candidates) and then a message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker::peer::{Event, Peer, PeerConfig, Reports, Role, Signal};
use icebreaker_ice::{AgentConfig, CandidateKind, TurnServer};
use icebreaker_sim::{Datagram, Endpoint, HostId, LinkConfig, RealmId, Sim};
use icebreaker_stun::server::{BindingServer, ServerConfig};

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

fn peer(sim: &mut Sim, id: HostId) -> &mut Peer {
    sim.endpoint_mut::<Peer>(id).expect("a Peer")
}

/// Moves signalling between the two peers; returns the reports (state, selected, message).
fn signal(sim: &mut Sim, a: HostId, b: HostId, log: &mut Vec<(char, Signal)>) {
    let now = sim.now();
    for (from, to, name) in [(a, b, 'A'), (b, a, 'B')] {
        let mut out = Vec::new();
        while let Some(s) = peer(sim, from).poll_signal() {
            out.push(s);
        }
        for s in out {
            if s.is_for_remote() {
                // Through JSON, as a real signalling channel would carry it.
                let wire = Signal::parse(&s.to_json()).expect("our own JSON parses");
                peer(sim, to).handle_signal(now, wire);
            }
            log.push((name, s));
        }
    }
}

/// A and B behind their NATs connect and A's message arrives; with `a_trickles` false, A's
/// offer waits for its server-reflexive candidate, and B (which would trickle) answers the same
/// way: everything is in the two descriptions.
fn run(a_nat: &str, b_nat: &str, seed: u64, a_trickles: bool) {
    let epoch = Instant::now();
    let mut sim = Sim::new(seed, epoch);
    let stun_ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let stun = SocketAddr::new(stun_ip, 3478);
    sim.add_host(
        RealmId::PUBLIC,
        &[stun_ip],
        Box::new(Stun {
            server: BindingServer::new(ServerConfig::default()),
            out: Vec::new(),
        }),
    )
    .unwrap();
    let mut ids = Vec::new();
    for (i, (spec, role)) in [(a_nat, Role::Offerer), (b_nat, Role::Answerer)]
        .into_iter()
        .enumerate()
    {
        let (_, realm) = sim
            .add_nat_chain(RealmId::PUBLIC, &spec.parse().unwrap(), LinkConfig::lan())
            .unwrap();
        let ip = sim.alloc_ip(realm).unwrap();
        let config = PeerConfig {
            role,
            agent: AgentConfig {
                rng_seed: [i as u8 + 1; 32],
                stun_servers: vec![stun],
                turn_servers: Vec::<TurnServer>::new(),
                ..AgentConfig::default()
            },
            host_addresses: vec![SocketAddr::new(ip, 5000)],
            reports: if role == Role::Answerer {
                Reports::Events
            } else {
                Reports::Signals
            },
            trickle: a_trickles || role == Role::Answerer,
            restart_on_failure: false,
        };
        let p = Peer::new(config, epoch);
        ids.push(sim.add_host(realm, &[ip], Box::new(p)).unwrap());
    }
    let (a, b) = (ids[0], ids[1]);
    let mut log = Vec::new();
    let limit = Duration::from_secs(30);
    let mut sent = false;
    let mut got = None;
    for _ in 0..200_000 {
        signal(&mut sim, a, b, &mut log);
        if !sent && peer(&mut sim, a).is_connected() && peer(&mut sim, b).is_connected() {
            let now = sim.now();
            peer(&mut sim, a).handle_signal(
                now,
                Signal::Send {
                    data: "hello from A".into(),
                },
            );
            sent = true;
        }
        while let Some(e) = peer(&mut sim, b).poll_event() {
            if let Event::Data(d) = e {
                got = Some(d);
            }
        }
        if got.is_some() {
            break;
        }
        if !sim.step(limit).unwrap_or(false) {
            break;
        }
    }
    signal(&mut sim, a, b, &mut log);
    let dump = || {
        log.iter()
            .map(|(n, s)| format!("{n}: {}", s.to_json()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(got.as_deref(), Some(&b"hello from A"[..]), "{}", dump());
    // B reports through typed events, A through signals; both selected a pair across the NATs.
    assert!(
        log.iter().all(|(n, s)| *n == 'A' || s.is_for_remote()),
        "{}",
        dump()
    );
    assert!(log.iter().any(|(n, s)| *n == 'A'
        && *s
            == Signal::State {
                state: "connected".into()
            }));
    for id in [a, b] {
        let (local, _) = peer(&mut sim, id)
            .agent()
            .selected_pair(1)
            .map(|(l, r)| (l.clone(), r.clone()))
            .expect("a selected pair");
        assert_ne!(local.kind, CandidateKind::Relayed);
    }
    // A's statistics, asked for as the `peer` command's stdin would: the selected pair leaves
    // from A's host address, and its check came back mapped to A's server-reflexive one.
    let now = sim.now();
    peer(&mut sim, a).handle_signal(now, Signal::parse(r#"{"type":"stats"}"#).unwrap());
    let Some(Signal::Stats { pairs }) = peer(&mut sim, a).poll_signal() else {
        panic!("no stats report\n{}", dump());
    };
    let report = Signal::Stats {
        pairs: pairs.clone(),
    };
    assert_eq!(Signal::parse(&report.to_json()), Ok(report));
    let [selected] = pairs.iter().filter(|p| p.selected).collect::<Vec<_>>()[..] else {
        panic!("one selected pair: {pairs:?}");
    };
    assert!(selected.local.contains(" typ host"), "{selected:?}");
    let valid_local = selected.valid_local.as_deref().unwrap_or_default();
    assert!(valid_local.contains(" typ srflx"), "{selected:?}");
    assert!(
        selected.nominated && selected.state == "succeeded",
        "{selected:?}"
    );
    assert!(selected.responses_received >= 1 && selected.requests_received >= 1);
    assert!(
        selected
            .current_round_trip_time
            .is_some_and(|rtt| rtt > Duration::ZERO)
    );
    assert_eq!((selected.packets_sent, selected.bytes_sent), (1, 12));
    assert!(
        log.iter()
            .any(|(n, s)| *n == 'A' && matches!(s, Signal::Offer { .. }))
    );
    assert!(
        log.iter()
            .any(|(n, s)| *n == 'B' && matches!(s, Signal::Answer { .. }))
    );
    if a_trickles {
        assert!(
            log.iter().any(|(_, s)| matches!(s, Signal::Candidate { candidate, .. } if candidate.contains("srflx"))),
            "server-reflexive candidates are trickled"
        );
        return;
    }
    assert!(
        !log.iter()
            .any(|(_, s)| matches!(s, Signal::Candidate { .. })),
        "a candidate was trickled\n{}",
        dump()
    );
    for (n, s) in &log {
        if let Signal::Offer { sdp } | Signal::Answer { sdp } = s {
            assert!(
                sdp.contains(" typ srflx") && sdp.contains("a=end-of-candidates"),
                "{n}: {sdp}"
            );
            assert_eq!(sdp.contains("trickle"), *n == 'B', "{n}: {sdp}");
        }
    }
}

#[test]
fn two_peers_behind_nats_connect_and_talk() {
    run("port-restricted", "full-cone", 1, true);
    run("restricted", "port-restricted", 2, true);
}

/// RFC 8838: a peer that does not trickle, and the one answering it, put every candidate in
/// their descriptions; one message each way connects them across the NATs.
#[test]
fn a_peer_that_does_not_trickle_connects_with_one_description_each_way() {
    run("port-restricted", "full-cone", 3, false);
    run("restricted", "port-restricted", 4, false);
}
