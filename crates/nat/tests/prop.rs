//! Property tests of the RFC 4787 invariants of the NAT model.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_nat::{DropReason, Filtering, Mapping, Nat, NatConfig, Pooling, PortAssignment};
use proptest::prelude::*;

fn public() -> Vec<IpAddr> {
    vec![Ipv4Addr::new(203, 0, 113, 1).into()]
}

fn remote(ip: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(198, 51, 100, ip).into(), port)
}

fn internal(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(10, 0, 0, host).into(), port)
}

fn mapping() -> impl Strategy<Value = Mapping> {
    prop_oneof![
        Just(Mapping::EndpointIndependent),
        Just(Mapping::AddressDependent),
        Just(Mapping::AddressAndPortDependent)
    ]
}

fn filtering() -> impl Strategy<Value = Filtering> {
    prop_oneof![
        Just(Filtering::EndpointIndependent),
        Just(Filtering::AddressDependent),
        Just(Filtering::AddressAndPortDependent)
    ]
}

fn ports() -> impl Strategy<Value = PortAssignment> {
    prop_oneof![
        Just(PortAssignment::Preserve),
        Just(PortAssignment::Sequential),
        Just(PortAssignment::Random)
    ]
}

proptest! {
    /// RFC 4787 §4.1: endpoint-independent mapping gives one external address for any destination.
    #[test]
    fn eim_one_external_port_for_any_destination(
        filtering in filtering(),
        ports in ports(),
        seed in any::<u64>(),
        port in 1u16..,
        dests in prop::collection::vec((1u8..20, 1u16..), 1..40),
    ) {
        let config = NatConfig { mapping: Mapping::EndpointIndependent, filtering, ports, ..NatConfig::default() };
        let mut nat = Nat::new(config, &public(), seed);
        let t = Instant::now();
        let from = internal(2, port);
        let externals: BTreeSet<SocketAddr> = dests
            .iter()
            .map(|(ip, p)| nat.outbound(t, from, remote(*ip, *p)).unwrap())
            .collect();
        prop_assert_eq!(externals.len(), 1);
    }

    /// Address(-and-port)-dependent mapping gives distinct external addresses per remote address
    /// (and port), and the same one again for the same remote.
    #[test]
    fn dependent_mapping_is_per_remote(
        mapping in mapping(),
        seed in any::<u64>(),
        dests in prop::collection::vec((1u8..6, 1u16..4), 1..30),
    ) {
        let config = NatConfig { mapping, ports: PortAssignment::Random, ..NatConfig::default() };
        let mut nat = Nat::new(config, &public(), seed);
        let t = Instant::now();
        let from = internal(2, 5000);
        let mut seen = std::collections::BTreeMap::new();
        for (ip, p) in dests {
            let ext = nat.outbound(t, from, remote(ip, p)).unwrap();
            let key = match mapping {
                Mapping::EndpointIndependent => (0, 0),
                Mapping::AddressDependent => (ip, 0),
                Mapping::AddressAndPortDependent => (ip, p),
            };
            let previous = *seen.entry(key).or_insert(ext);
            prop_assert_eq!(previous, ext);
        }
        let distinct: BTreeSet<SocketAddr> = seen.values().copied().collect();
        prop_assert_eq!(distinct.len(), seen.len());
    }

    /// RFC 4787 §5: each filtering admits exactly what it should.
    #[test]
    fn filtering_admits_exactly_rfc4787(
        filtering in filtering(),
        contacted in prop::collection::btree_set((1u8..5, 1u16..5), 1..8),
        probe in (1u8..6, 1u16..6),
    ) {
        let config = NatConfig { filtering, ..NatConfig::full_cone() };
        let mut nat = Nat::new(config, &public(), 0);
        let t = Instant::now();
        let from = internal(2, 5000);
        let mut external = None;
        for (ip, p) in &contacted {
            external = Some(nat.outbound(t, from, remote(*ip, *p)).unwrap());
        }
        let external = external.unwrap();
        let expected = match filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => contacted.iter().any(|(ip, _)| *ip == probe.0),
            Filtering::AddressAndPortDependent => contacted.contains(&probe),
        };
        let got = nat.inbound(t, remote(probe.0, probe.1), external);
        if expected {
            prop_assert_eq!(got, Ok(from));
        } else {
            prop_assert_eq!(got, Err(DropReason::Filtered));
        }
        // A packet to an external port without a mapping is never admitted.
        let unused = SocketAddr::new(external.ip(), external.port().wrapping_add(1).max(1024));
        prop_assert!(nat.inbound(t, remote(probe.0, probe.1), unused).is_err());
    }

    /// RFC 4787 §4.3: a mapping expires exactly `timeout` after its last outbound packet, not before.
    #[test]
    fn mappings_expire_exactly(
        mapping in mapping(),
        timeout_ms in 1u64..600_000,
        refreshes in prop::collection::vec(0u64..600_000, 0..5),
    ) {
        let timeout = Duration::from_millis(timeout_ms);
        let config = NatConfig { mapping, mapping_timeout: timeout, ..NatConfig::full_cone() };
        let mut nat = Nat::new(config, &public(), 1);
        let t0 = Instant::now();
        let from = internal(2, 5000);
        let to = remote(1, 3478);
        let external = nat.outbound(t0, from, to).unwrap();
        let mut last = t0;
        let mut offsets = refreshes;
        offsets.sort_unstable();
        for offset in offsets {
            let at = t0 + Duration::from_millis(offset);
            if at >= last + timeout {
                break;
            }
            prop_assert_eq!(nat.outbound(at, from, to), Ok(external));
            last = at;
        }
        let before = last + timeout - Duration::from_nanos(1);
        prop_assert_eq!(nat.inbound(before, to, external), Ok(from));
        prop_assert_eq!(nat.inbound(last + timeout, to, external), Err(DropReason::MappingExpired));
        prop_assert_eq!(nat.mapping_count(), 0);
    }

    /// Ports come back after expiry: exhaust a small range, let it expire, and get every port again.
    #[test]
    fn ports_come_back_after_expiry(ports in ports(), seed in any::<u64>(), size in 1u16..16) {
        let config = NatConfig {
            mapping: Mapping::AddressAndPortDependent,
            ports,
            port_min: 40000,
            port_max: 40000 + size - 1,
            mapping_timeout: Duration::from_secs(10),
            ..NatConfig::default()
        };
        let mut nat = Nat::new(config, &public(), seed);
        let t = Instant::now();
        let from = internal(2, 40000);
        let fill = |nat: &mut Nat, at: Instant| -> BTreeSet<u16> {
            (0..size).map(|i| nat.outbound(at, from, remote(1, 1 + i)).unwrap().port()).collect()
        };
        let first = fill(&mut nat, t);
        prop_assert_eq!(first.len(), usize::from(size));
        prop_assert_eq!(nat.outbound(t, from, remote(2, 1)), Err(DropReason::PortsExhausted));
        let later = t + Duration::from_secs(10);
        let second = fill(&mut nat, later);
        prop_assert_eq!(first, second);
    }

    /// No two live mappings share an external address, whatever the traffic, pooling and time.
    #[test]
    fn no_two_live_mappings_share_an_external_port(
        mapping in mapping(),
        ports in ports(),
        arbitrary in any::<bool>(),
        parity in any::<bool>(),
        seed in any::<u64>(),
        ops in prop::collection::vec((0u64..3000, 1u8..4, 1000u16..1006, 1u8..4, 1u16..4), 1..80),
    ) {
        let config = NatConfig {
            mapping,
            ports,
            parity,
            pooling: if arbitrary { Pooling::Arbitrary } else { Pooling::Paired },
            port_min: 1000,
            port_max: 1011,
            mapping_timeout: Duration::from_secs(5),
            ..NatConfig::default()
        };
        let ips: Vec<IpAddr> = vec![Ipv4Addr::new(203, 0, 113, 1).into(), Ipv4Addr::new(203, 0, 113, 2).into()];
        let mut nat = Nat::new(config, &ips, seed);
        let mut now = Instant::now();
        for (step, host, port, rip, rport) in ops {
            now += Duration::from_millis(step);
            match nat.outbound(now, internal(host, port), remote(rip, rport)) {
                Ok(ext) => {
                    prop_assert!((1000..=1011).contains(&ext.port()));
                    if parity {
                        prop_assert_eq!(ext.port() & 1, port & 1);
                    }
                }
                Err(e) => prop_assert_eq!(e, DropReason::PortsExhausted),
            }
            let live: Vec<SocketAddr> = nat.mappings().filter(|m| m.expires > now).map(|m| m.external).collect();
            let distinct: BTreeSet<SocketAddr> = live.iter().copied().collect();
            prop_assert_eq!(distinct.len(), live.len());
            nat.check_invariants();
        }
    }

    /// Paired pooling: every mapping of one internal host uses one public address.
    #[test]
    fn paired_pooling_keeps_one_address(seed in any::<u64>(), dests in prop::collection::vec((1u8..9, 1u16..9), 1..30)) {
        let ips: Vec<IpAddr> = (1..=3).map(|i| IpAddr::from(Ipv4Addr::new(203, 0, 113, i))).collect();
        let mut nat = Nat::new(NatConfig::symmetric(), &ips, seed);
        let t = Instant::now();
        let used: BTreeSet<IpAddr> = dests
            .iter()
            .map(|(ip, p)| nat.outbound(t, internal(2, 5000), remote(*ip, *p)).unwrap().ip())
            .collect();
        prop_assert_eq!(used.len(), 1);
    }

    /// The spec parser never panics and its canonical output parses back.
    #[test]
    fn spec_parser_total(s in "[a-z0-9=,+-]{0,64}") {
        icebreaker_nat::fuzz_spec(s.as_bytes());
    }

    /// The state machine fuzz target's invariants hold on arbitrary inputs.
    #[test]
    fn ops_invariants(data in prop::collection::vec(any::<u8>(), 0..400)) {
        icebreaker_nat::fuzz_ops(Instant::now(), &data);
    }
}
