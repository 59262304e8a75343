//! Property tests of the simulator: determinism under any link model, and every packet having
//! exactly one fate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use icebreaker_nat::NatSpec;
use icebreaker_sim::punch::{self, CLASSIC, PlainCodec, Probe, PunchConfig, Reflector};
use icebreaker_sim::{LinkConfig, RealmId, Sim, TraceKind};
use proptest::prelude::*;

fn link() -> impl Strategy<Value = LinkConfig> {
    (0u64..50, 0u64..20, 0.0..0.5f64, 0.0..0.3f64, 0.0..0.3f64).prop_map(
        |(latency, jitter, loss, duplicate, reorder)| LinkConfig {
            latency: Duration::from_millis(latency),
            jitter: Duration::from_millis(jitter),
            loss,
            duplicate,
            reorder,
            ..LinkConfig::internet()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The same seed and configuration give the identical trace, whatever the links do.
    #[test]
    fn same_seed_same_trace(seed in any::<u64>(), a in 0usize..6, b in 0usize..6, internet in link(), lan in link()) {
        let epoch = Instant::now();
        let mut config = PunchConfig::new(CLASSIC[a].parse().unwrap(), CLASSIC[b].parse().unwrap(), seed, epoch);
        config.internet = internet;
        config.lan = lan;
        config.timeout = Duration::from_secs(2);
        let first = punch::run(&config, PlainCodec);
        let second = punch::run(&config, PlainCodec);
        match (first, second) {
            (Ok(x), Ok(y)) => {
                prop_assert_eq!(x.trace_hash, y.trace_hash);
                prop_assert_eq!(x.fates, y.fates);
            }
            (Err(x), Err(y)) => prop_assert_eq!(x, y),
            _ => prop_assert!(false, "one run failed and the other did not"),
        }
    }

    /// Every packet starts once (sent or duplicated) and then has at most one final fate:
    /// delivered or dropped, never both, never twice; nothing happens to it before it starts.
    #[test]
    fn every_packet_has_one_fate(seed in any::<u64>(), internet in link(), spec in 0usize..6) {
        let epoch = Instant::now();
        let mut sim = Sim::new(seed, epoch);
        sim.set_link(RealmId::PUBLIC, internet);
        let sip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
        let server = SocketAddr::new(sip, 3478);
        sim.add_host(RealmId::PUBLIC, &[sip], Box::new(Reflector::new(server, PlainCodec))).unwrap();
        let spec: NatSpec = CLASSIC[spec].parse().unwrap();
        for _ in 0..2 {
            let (_, realm) = sim.add_nat_chain(RealmId::PUBLIC, &spec, LinkConfig::lan()).unwrap();
            let ip = sim.alloc_ip(realm).unwrap();
            let seed = sim.next_seed();
            let probe = Probe::new(epoch, SocketAddr::new(ip, 5000), server, PlainCodec, seed);
            sim.add_host(realm, &[ip], Box::new(probe)).unwrap();
        }
        sim.run_for(Duration::from_secs(2)).unwrap();
        let mut state: BTreeMap<u64, (bool, bool)> = BTreeMap::new();
        for e in sim.trace() {
            match e.kind {
                TraceKind::Sent { .. } | TraceKind::Duplicated { .. } => {
                    prop_assert!(state.insert(e.packet, (true, false)).is_none(), "packet {} started twice", e.packet);
                }
                TraceKind::Delivered { .. } | TraceKind::Dropped(_) => {
                    let s = state.get_mut(&e.packet);
                    prop_assert!(s.is_some(), "packet {} ended before it started", e.packet);
                    if let Some(s) = s {
                        prop_assert!(!s.1, "packet {} ended twice", e.packet);
                        s.1 = true;
                    }
                }
                _ => prop_assert!(state.contains_key(&e.packet)),
            }
        }
        let stats = sim.stats();
        prop_assert_eq!(stats.sent + stats.duplicated, state.len() as u64);
    }
}
