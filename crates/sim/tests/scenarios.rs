//! Simulator scenarios: determinism, drop reasons, captures, chains, hairpinning, IPv6.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_nat::{DropReason, NatConfig, NatSpec};
use icebreaker_sim::punch::{self, PlainCodec, PunchConfig};
use icebreaker_sim::{
    CapturePoint, Datagram, DropCause, Endpoint, Fate, HostId, LinkConfig, RealmId, Sim,
    SimErrorKind, TraceKind, fates, seeds_from_env,
};

/// Sends scripted datagrams at given offsets; optionally echoes what it receives after a delay.
#[derive(Default)]
struct Scripted {
    local: Option<SocketAddr>,
    script: VecDeque<(Instant, Datagram)>,
    echo_after: Option<Duration>,
    pending: VecDeque<(Instant, Datagram)>,
    out: VecDeque<Datagram>,
    received: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Scripted {
    fn new(local: SocketAddr) -> Self {
        Self {
            local: Some(local),
            ..Self::default()
        }
    }
    fn send(mut self, at: Instant, to: SocketAddr, data: &'static [u8]) -> Self {
        let from = self.local.unwrap();
        self.script.push_back((
            at,
            Datagram {
                from,
                to,
                data: Bytes::from_static(data),
            },
        ));
        self
    }
    fn echo(mut self, after: Duration) -> Self {
        self.echo_after = Some(after);
        self
    }
}

impl Endpoint for Scripted {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.received.push((from, to, data.to_vec()));
        if let Some(after) = self.echo_after {
            let d = Datagram {
                from: to,
                to: from,
                data: Bytes::copy_from_slice(data),
            };
            self.pending.push_back((now + after, d));
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        while self.script.front().is_some_and(|(t, _)| *t <= now) {
            let (_, d) = self.script.pop_front().unwrap();
            self.out.push_back(d);
        }
        while self.pending.front().is_some_and(|(t, _)| *t <= now) {
            let (_, d) = self.pending.pop_front().unwrap();
            self.out.push_back(d);
        }
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let a = self.script.front().map(|(t, _)| *t);
        let b = self.pending.front().map(|(t, _)| *t);
        a.into_iter().chain(b).min()
    }
}

fn received(sim: &Sim, h: HostId) -> usize {
    sim.endpoint::<Scripted>(h).unwrap().received.len()
}

/// A public echo server and a client behind `spec`; the client sends `count` datagrams of `data`.
fn echo_setup(
    seed: u64,
    spec: &str,
    echo_after: Duration,
    data: &'static [u8],
    count: u32,
) -> (Sim, HostId, HostId) {
    let epoch = Instant::now();
    let mut sim = Sim::new(seed, epoch);
    let sip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let server = SocketAddr::new(sip, 7);
    let s = sim
        .add_host(
            RealmId::PUBLIC,
            &[sip],
            Box::new(Scripted::new(server).echo(echo_after)),
        )
        .unwrap();
    let spec: NatSpec = spec.parse().unwrap();
    let (_, realm) = sim
        .add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan())
        .unwrap();
    let ip = sim.alloc_ip(realm).unwrap();
    let mut client = Scripted::new(SocketAddr::new(ip, 5000));
    for i in 0..count {
        client = client.send(
            epoch + Duration::from_millis(u64::from(i) * 10),
            server,
            data,
        );
    }
    let c = sim.add_host(realm, &[ip], Box::new(client)).unwrap();
    (sim, c, s)
}

fn drop_reasons(sim: &Sim) -> Vec<DropCause> {
    sim.trace()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Dropped(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_same_trace() {
    for seed in seeds_from_env(0..5) {
        let run = |seed| {
            let mut config = PunchConfig::new(
                "symmetric".parse().unwrap(),
                "restricted".parse().unwrap(),
                seed,
                Instant::now(),
            );
            config.internet = LinkConfig {
                loss: 0.2,
                duplicate: 0.1,
                reorder: 0.1,
                ..LinkConfig::internet()
            };
            punch::run(&config, PlainCodec).unwrap()
        };
        let (a, b) = (run(seed), run(seed));
        assert_eq!(a.trace_hash, b.trace_hash, "SIM_SEED={seed}");
        assert_eq!(a.fates, b.fates, "SIM_SEED={seed}");
        assert_eq!(a.a, b.a);
        assert_ne!(a.trace_hash, run(seed + 1000).trace_hash, "SIM_SEED={seed}");
    }
}

#[test]
fn drop_filtered_by_nat_is_explained() {
    let outcome = punch::run(
        &PunchConfig::new(
            "port-restricted".parse().unwrap(),
            "symmetric".parse().unwrap(),
            1,
            Instant::now(),
        ),
        PlainCodec,
    )
    .unwrap();
    assert!(!outcome.direct);
    assert!(outcome.fates.iter().any(|f| matches!(
        f.fate,
        Fate::Dropped(DropCause::Nat {
            reason: DropReason::Filtered,
            ..
        })
    )));
    assert!(
        outcome
            .fates
            .iter()
            .all(|f| f.fate != Fate::InFlight
                || f.sent + Duration::from_millis(100) > outcome.elapsed)
    );
}

#[test]
fn drop_lost_on_the_link() {
    let (mut sim, c, _) = echo_setup(3, "full-cone", Duration::ZERO, b"x", 5);
    sim.set_link(RealmId::PUBLIC, LinkConfig::internet().with_loss(1.0));
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(received(&sim, c), 0);
    let drops = drop_reasons(&sim);
    assert_eq!(drops.len(), 5);
    assert!(drops.iter().all(|d| matches!(
        d,
        DropCause::Lost {
            realm: RealmId::PUBLIC
        }
    )));
    assert_eq!(drops[0].as_str(), "lost");
}

#[test]
fn drop_mapping_expired() {
    // The server answers after 3 s; the NAT forgets the mapping after 1 s.
    let (mut sim, c, _) = echo_setup(4, "full-cone,timeout=1s", Duration::from_secs(3), b"x", 1);
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(received(&sim, c), 0);
    assert!(matches!(
        drop_reasons(&sim)[..],
        [DropCause::Nat {
            reason: DropReason::MappingExpired,
            ..
        }]
    ));
    // With a 5 s timeout the same reply arrives.
    let (mut sim, c, _) = echo_setup(4, "full-cone,timeout=5s", Duration::from_secs(3), b"x", 1);
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(received(&sim, c), 1);
}

#[test]
fn drop_no_route_and_mtu() {
    let epoch = Instant::now();
    let mut sim = Sim::new(5, epoch);
    let ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let me = SocketAddr::new(ip, 1);
    let big: &'static [u8] = &[0u8; 1473];
    let host = Scripted::new(me)
        .send(epoch, "192.0.2.99:9".parse().unwrap(), b"x")
        .send(epoch, me, big)
        .send(epoch, me, &[0u8; 1472]);
    let h = sim
        .add_host(RealmId::PUBLIC, &[ip], Box::new(host))
        .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    let drops = drop_reasons(&sim);
    assert_eq!(
        drops,
        vec![
            DropCause::NoRoute {
                realm: RealmId::PUBLIC
            },
            DropCause::Mtu {
                realm: RealmId::PUBLIC,
                mtu: 1500
            }
        ]
    );
    assert_eq!(received(&sim, h), 1, "1472 + 28 = 1500 fits");
}

#[test]
fn duplication_and_bad_source() {
    let (mut sim, _, s) = echo_setup(6, "full-cone", Duration::ZERO, b"x", 3);
    sim.set_link(
        RealmId::PUBLIC,
        LinkConfig {
            duplicate: 1.0,
            ..LinkConfig::internet()
        },
    );
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(received(&sim, s), 6);
    let stats = sim.stats();
    assert!(stats.duplicated >= 3);

    let epoch = Instant::now();
    let mut sim = Sim::new(6, epoch);
    let ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let liar =
        Scripted::new("192.0.2.1:1".parse().unwrap()).send(epoch, SocketAddr::new(ip, 1), b"x");
    let h = sim
        .add_host(RealmId::PUBLIC, &[ip], Box::new(liar))
        .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(drop_reasons(&sim), vec![DropCause::BadSource { host: h }]);
}

#[test]
fn errors_print_the_seed() {
    let (mut sim, c, _) = echo_setup(77, "full-cone", Duration::ZERO, b"x", 1);
    let err = sim
        .run_until(Duration::from_secs(2), |s| received(s, c) == 2)
        .unwrap_err();
    assert_eq!(err.kind, SimErrorKind::Stalled);
    assert!(err.to_string().contains("SIM_SEED=77"), "{err}");

    let (mut sim, c, _) = echo_setup(78, "full-cone", Duration::from_secs(10), b"x", 1);
    let err = sim
        .run_until(Duration::from_secs(2), |s| received(s, c) == 1)
        .unwrap_err();
    assert_eq!(err.kind, SimErrorKind::TimeLimit);
    assert_eq!(sim.elapsed(), Duration::from_secs(2));
    assert!(err.to_string().ends_with("SIM_SEED=78"));
}

#[test]
fn chain_translates_twice_and_hairpins() {
    // Two hosts behind the same home NAT, itself behind a carrier NAT.
    let epoch = Instant::now();
    let mut sim = Sim::new(9, epoch);
    let sip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let server = SocketAddr::new(sip, 7);
    sim.add_host(
        RealmId::PUBLIC,
        &[sip],
        Box::new(Scripted::new(server).echo(Duration::ZERO)),
    )
    .unwrap();
    let spec: NatSpec = "full-cone+full-cone".parse().unwrap();
    let (nats, home) = sim
        .add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan())
        .unwrap();
    let (ip1, ip2) = (sim.alloc_ip(home).unwrap(), sim.alloc_ip(home).unwrap());
    let a = SocketAddr::new(ip1, 5000);
    let b = SocketAddr::new(ip2, 6000);
    let carrier_ip = sim.nat_public_ips(nats[1])[0];
    let home_ip = sim.nat_public_ips(nats[0])[0];
    assert!(
        home_ip.to_string().starts_with("10."),
        "home NAT's outside is in the carrier realm"
    );
    // B opens its mapping through both boxes; A then sends to B's public (carrier) address.
    let b_public = SocketAddr::new(carrier_ip, 6000); // both boxes preserve ports
    let hb = sim
        .add_host(
            home,
            &[ip2],
            Box::new(Scripted::new(b).send(epoch, server, b"open")),
        )
        .unwrap();
    let ha = sim
        .add_host(
            home,
            &[ip1],
            Box::new(Scripted::new(a).send(epoch + Duration::from_secs(1), b_public, b"hi")),
        )
        .unwrap();
    let capture = sim.capture(CapturePoint::NatOutside(nats[1]));
    sim.run_for(Duration::from_secs(2)).unwrap();
    let got = &sim.endpoint::<Scripted>(hb).unwrap().received;
    assert_eq!(got.len(), 2, "{:#?}", sim.trace());
    // The echo from the server, then A's packet hairpinned by the carrier NAT with A's public source.
    assert_eq!(got[1].0, SocketAddr::new(carrier_ip, 5000));
    assert!(
        sim.trace()
            .iter()
            .any(|e| matches!(e.kind, TraceKind::Hairpinned { nat } if nat == nats[1]))
    );
    assert_eq!(received(&sim, ha), 0);
    // The carrier NAT's outside saw only public addresses.
    let seen = &sim.captured(capture).unwrap().packets;
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|p| p.from.ip() == carrier_ip || p.to.ip() == carrier_ip)
    );
}

#[test]
fn hairpin_off_is_explained() {
    let epoch = Instant::now();
    let mut sim = Sim::new(10, epoch);
    let spec: NatSpec = "full-cone,hairpin=off".parse().unwrap();
    let (nats, home) = sim
        .add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan())
        .unwrap();
    let public = sim.nat_public_ips(nats[0])[0];
    let ip = sim.alloc_ip(home).unwrap();
    let me = SocketAddr::new(ip, 5000);
    sim.add_host(
        home,
        &[ip],
        Box::new(Scripted::new(me).send(epoch, SocketAddr::new(public, 5000), b"x")),
    )
    .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert!(matches!(
        drop_reasons(&sim)[..],
        [DropCause::Nat {
            reason: DropReason::HairpinDisabled,
            ..
        }]
    ));
}

#[test]
fn ipv6_behind_a_nat_is_firewalled_not_translated() {
    let epoch = Instant::now();
    let mut sim = Sim::new(11, epoch);
    let sip = sim.alloc_ip6(RealmId::PUBLIC).unwrap();
    let server = SocketAddr::new(sip, 7);
    let stranger_ip = sim.alloc_ip6(RealmId::PUBLIC).unwrap();
    let (_, home) = sim
        .add_nat_chain(
            RealmId::PUBLIC,
            &NatSpec::single(NatConfig::full_cone()),
            LinkConfig::lan(),
        )
        .unwrap();
    let ip: IpAddr = sim.alloc_ip6(home).unwrap();
    let me = SocketAddr::new(ip, 5000);
    sim.add_host(
        RealmId::PUBLIC,
        &[sip],
        Box::new(Scripted::new(server).echo(Duration::ZERO)),
    )
    .unwrap();
    let stranger = Scripted::new(SocketAddr::new(stranger_ip, 9)).send(epoch, me, b"unsolicited");
    sim.add_host(RealmId::PUBLIC, &[stranger_ip], Box::new(stranger))
        .unwrap();
    let h = sim
        .add_host(
            home,
            &[ip],
            Box::new(Scripted::new(me).send(epoch + Duration::from_millis(100), server, b"x")),
        )
        .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    let got = &sim.endpoint::<Scripted>(h).unwrap().received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, server, "untranslated");
    assert!(matches!(
        drop_reasons(&sim)[..],
        [DropCause::Nat {
            reason: DropReason::NoMapping,
            ..
        }]
    ));
    let echoed_to = sim.endpoint::<Scripted>(HostId(0)).unwrap().received[0].0;
    assert_eq!(echoed_to, me, "the server saw the host's own IPv6 address");
}

#[test]
fn pcap_on_both_sides_of_a_nat() {
    use pcap_file::pcap::PcapReader;
    let (mut sim, _, _) = echo_setup(12, "port-restricted", Duration::ZERO, b"hello pcap", 2);
    let inside = sim.capture(CapturePoint::NatInside(icebreaker_sim::NatId(0)));
    let outside = sim.capture(CapturePoint::NatOutside(icebreaker_sim::NatId(0)));
    sim.run_for(Duration::from_secs(1)).unwrap();
    let read = |id| {
        let bytes = sim.pcap(id).unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, pcap_file::DataLink::RAW);
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet() {
            packets.push(p.unwrap().data.into_owned());
        }
        packets
    };
    let (pin, pout) = (read(inside), read(outside));
    assert_eq!((pin.len(), pout.len()), (4, 4));
    for p in pin.iter().chain(&pout) {
        assert_eq!(p[0], 0x45);
        assert_eq!(&p[28..], b"hello pcap");
    }
    // Outbound: private source inside, public source outside, same destination.
    assert_eq!(&pin[0][12..14], &[10, 1]);
    assert_eq!(&pout[0][12..15], &[203, 0, 113]);
    assert_eq!(&pin[0][16..20], &pout[0][16..20]);
    // Same seed, same bytes.
    let (mut again, _, _) = echo_setup(12, "port-restricted", Duration::ZERO, b"hello pcap", 2);
    let c = again.capture(CapturePoint::NatOutside(icebreaker_sim::NatId(0)));
    again.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(again.pcap(c).unwrap(), sim.pcap(outside).unwrap());
}

#[test]
fn fates_summarise_the_trace() {
    let (mut sim, _, _) = echo_setup(13, "full-cone", Duration::ZERO, b"x", 2);
    sim.run_for(Duration::from_secs(1)).unwrap();
    let f = fates(sim.trace());
    assert_eq!(f.len(), 4);
    assert!(f.iter().all(|p| matches!(p.fate, Fate::Delivered { .. })));
    for e in sim.trace() {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn seeds_parse() {
    assert_eq!(icebreaker_sim::parse_seeds("3..6"), Some(vec![3, 4, 5]));
    assert_eq!(icebreaker_sim::parse_seeds("1,5"), Some(vec![1, 5]));
    assert_eq!(icebreaker_sim::parse_seeds("x"), None);
}

#[test]
fn punch_pcap_of_the_public_network() {
    let mut config = PunchConfig::new(
        "symmetric".parse().unwrap(),
        "full-cone".parse().unwrap(),
        2,
        Instant::now(),
    );
    config.pcap = true;
    let outcome = punch::run(&config, PlainCodec).unwrap();
    assert!(outcome.direct);
    let pcap = outcome.pcap.unwrap();
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap magic"
    );
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        101,
        "LINKTYPE_RAW"
    );
    // Only public addresses appear on the public network.
    let mut reader = pcap_file::pcap::PcapReader::new(&pcap[..]).unwrap();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert_eq!(&p.data[12..14], &[203, 0], "source {:?}", &p.data[12..16]);
        assert_eq!(&p.data[16..18], &[203, 0]);
        n += 1;
    }
    assert!(n >= 6);
}

#[test]
fn reordering_and_jitter_change_arrival_order_deterministically() {
    const PAYLOADS: [&[u8]; 20] = [
        b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9", b"10", b"11", b"12", b"13",
        b"14", b"15", b"16", b"17", b"18", b"19",
    ];
    let order = |seed: u64, link: LinkConfig| {
        let epoch = Instant::now();
        let mut sim = Sim::new(seed, epoch);
        sim.set_link(RealmId::PUBLIC, link);
        let (a, b) = (
            sim.alloc_ip(RealmId::PUBLIC).unwrap(),
            sim.alloc_ip(RealmId::PUBLIC).unwrap(),
        );
        let to = SocketAddr::new(b, 9);
        let mut sender = Scripted::new(SocketAddr::new(a, 9));
        for (i, p) in PAYLOADS.iter().enumerate() {
            sender = sender.send(epoch + Duration::from_millis(i as u64), to, p);
        }
        sim.add_host(RealmId::PUBLIC, &[a], Box::new(sender))
            .unwrap();
        let r = sim
            .add_host(RealmId::PUBLIC, &[b], Box::new(Scripted::new(to)))
            .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        let got: Vec<Vec<u8>> = sim
            .endpoint::<Scripted>(r)
            .unwrap()
            .received
            .iter()
            .map(|x| x.2.clone())
            .collect();
        got
    };
    let in_order: Vec<Vec<u8>> = PAYLOADS.iter().map(|p| p.to_vec()).collect();
    let steady = LinkConfig {
        jitter: Duration::ZERO,
        ..LinkConfig::internet()
    };
    assert_eq!(order(1, steady), in_order);
    let shaky = LinkConfig {
        reorder: 0.5,
        ..steady
    };
    let mut reordered = order(1, shaky);
    assert_ne!(reordered, in_order);
    assert_eq!(reordered, order(1, shaky), "same seed, same order");
    reordered.sort_by_key(|p| {
        String::from_utf8(p.clone())
            .unwrap()
            .parse::<u32>()
            .unwrap()
    });
    assert_eq!(reordered, in_order, "nothing lost or duplicated");
    let jittery = LinkConfig {
        jitter: Duration::from_millis(10),
        ..steady
    };
    assert_ne!(order(2, jittery), in_order);
}

#[test]
fn punch_reports_each_sides_boxes() {
    let config = PunchConfig::new(
        "port-restricted+symmetric".parse().unwrap(),
        "full-cone".parse().unwrap(),
        1,
        Instant::now(),
    );
    let outcome = punch::run(&config, PlainCodec).unwrap();
    assert_eq!(outcome.a_nats.len(), 2);
    assert_eq!(outcome.b_nats.len(), 1);
    // Every NAT drop names one of the two sides' boxes.
    for f in &outcome.fates {
        if let Fate::Dropped(DropCause::Nat { nat, .. }) = f.fate {
            assert!(outcome.a_nats.contains(&nat) || outcome.b_nats.contains(&nat));
        }
    }
}
