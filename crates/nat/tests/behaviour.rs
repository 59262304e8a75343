//! Behaviour of one NAT box through the public API: every mapping, filtering, port assignment,
//! pooling, expiry, hairpinning and IPv6 case with hand-checked expectations.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_nat::{DropReason, Nat, NatConfig, Pooling, PortAssignment};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn nat(config: NatConfig) -> Nat {
    Nat::new(config, &["203.0.113.1".parse().unwrap()], 7)
}

#[test]
fn full_cone_admits_anyone_after_one_packet() {
    let t = Instant::now();
    let mut n = nat(NatConfig::full_cone());
    let ext = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    assert_eq!(ext, addr("203.0.113.1:5000"), "port preserved");
    assert_eq!(
        n.inbound(t, addr("9.9.9.9:1"), ext),
        Ok(addr("10.0.0.2:5000"))
    );
    assert_eq!(
        n.inbound(t, addr("9.9.9.9:1"), addr("203.0.113.1:5001")),
        Err(DropReason::NoMapping)
    );
}

#[test]
fn restricted_filters_by_address_only() {
    let t = Instant::now();
    let mut n = nat(NatConfig::restricted_cone());
    let ext = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    assert_eq!(
        n.inbound(t, addr("1.1.1.1:9"), ext),
        Ok(addr("10.0.0.2:5000"))
    );
    assert_eq!(
        n.inbound(t, addr("1.1.1.2:3478"), ext),
        Err(DropReason::Filtered)
    );
}

#[test]
fn port_restricted_filters_by_address_and_port() {
    let t = Instant::now();
    let mut n = nat(NatConfig::port_restricted_cone());
    let ext = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    assert_eq!(
        n.inbound(t, addr("1.1.1.1:3478"), ext),
        Ok(addr("10.0.0.2:5000"))
    );
    assert_eq!(
        n.inbound(t, addr("1.1.1.1:9"), ext),
        Err(DropReason::Filtered)
    );
}

#[test]
fn symmetric_maps_per_destination() {
    let t = Instant::now();
    let mut n = nat(NatConfig::symmetric());
    let a = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    let b = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3479"))
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(
        n.outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478")),
        Ok(a)
    );
}

#[test]
fn masquerade_preserves_the_first_port_only() {
    let t = Instant::now();
    let mut n = nat(NatConfig::masquerade());
    let a = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    let b = n
        .outbound(t, addr("10.0.0.2:5000"), addr("2.2.2.2:3478"))
        .unwrap();
    assert_eq!(a.port(), 5000);
    assert_ne!(b.port(), 5000);
}

#[test]
fn expiry_is_exact_and_refreshed_by_outbound() {
    let t = Instant::now();
    let mut config = NatConfig::full_cone();
    config.mapping_timeout = Duration::from_secs(30);
    let mut n = nat(config);
    let ext = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    assert!(
        n.inbound(t + Duration::from_secs(20), addr("1.1.1.1:3478"), ext)
            .is_ok()
    );
    n.outbound(
        t + Duration::from_secs(20),
        addr("10.0.0.2:5000"),
        addr("1.1.1.1:3478"),
    )
    .unwrap();
    let just_before = t + Duration::from_secs(50) - Duration::from_nanos(1);
    assert!(n.inbound(just_before, addr("1.1.1.1:3478"), ext).is_ok());
    assert_eq!(
        n.inbound(t + Duration::from_secs(50), addr("1.1.1.1:3478"), ext),
        Err(DropReason::MappingExpired)
    );
    assert_eq!(n.mapping_count(), 0);
    n.check_invariants();
}

#[test]
fn inbound_refresh_when_configured() {
    let t = Instant::now();
    let mut config = NatConfig::full_cone();
    config.mapping_timeout = Duration::from_secs(10);
    config.inbound_refresh = true;
    let mut n = nat(config);
    let ext = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:3478"))
        .unwrap();
    assert!(
        n.inbound(t + Duration::from_secs(9), addr("1.1.1.1:3478"), ext)
            .is_ok()
    );
    assert!(
        n.inbound(t + Duration::from_secs(18), addr("1.1.1.1:3478"), ext)
            .is_ok()
    );
}

#[test]
fn exhaustion_is_a_clean_refusal_and_ports_come_back() {
    let t = Instant::now();
    let mut config = NatConfig::symmetric();
    config.port_min = 40000;
    config.port_max = 40003;
    config.mapping_timeout = Duration::from_secs(5);
    let mut n = nat(config);
    for i in 0..4 {
        n.outbound(
            t,
            addr("10.0.0.2:5000"),
            SocketAddr::new(Ipv4Addr::new(1, 1, 1, i).into(), 1),
        )
        .unwrap();
    }
    assert_eq!(
        n.outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.9:1")),
        Err(DropReason::PortsExhausted)
    );
    assert!(
        n.outbound(
            t + Duration::from_secs(5),
            addr("10.0.0.2:5000"),
            addr("1.1.1.9:1")
        )
        .is_ok()
    );
    n.check_invariants();
}

#[test]
fn sequential_and_parity() {
    let t = Instant::now();
    let mut config = NatConfig::symmetric();
    config.ports = PortAssignment::Sequential;
    config.port_min = 2000;
    config.parity = true;
    let mut n = nat(config);
    let a = n
        .outbound(t, addr("10.0.0.2:5001"), addr("1.1.1.1:1"))
        .unwrap();
    let b = n
        .outbound(t, addr("10.0.0.2:5001"), addr("1.1.1.1:2"))
        .unwrap();
    let c = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:2"))
        .unwrap();
    assert_eq!((a.port(), b.port(), c.port()), (2001, 2003, 2004));
}

#[test]
fn pooling_paired_and_arbitrary() {
    let t = Instant::now();
    let ips: Vec<IpAddr> = vec![
        "203.0.113.1".parse().unwrap(),
        "203.0.113.2".parse().unwrap(),
    ];
    let mut n = Nat::new(NatConfig::symmetric(), &ips, 1);
    let first = n
        .outbound(t, addr("10.0.0.2:5000"), addr("1.1.1.1:1"))
        .unwrap();
    for port in 2..40 {
        let ext = n
            .outbound(
                t,
                addr("10.0.0.2:5000"),
                SocketAddr::new([1, 1, 1, 1].into(), port),
            )
            .unwrap();
        assert_eq!(ext.ip(), first.ip(), "paired");
    }
    let other = n
        .outbound(t, addr("10.0.0.3:5000"), addr("1.1.1.1:1"))
        .unwrap();
    assert_ne!(other.ip(), first.ip(), "second host gets the next address");

    let mut config = NatConfig::symmetric();
    config.pooling = Pooling::Arbitrary;
    let mut n = Nat::new(config, &ips, 1);
    let seen: std::collections::BTreeSet<IpAddr> = (1..40)
        .map(|port| {
            n.outbound(
                t,
                addr("10.0.0.2:5000"),
                SocketAddr::new([1, 1, 1, 1].into(), port),
            )
            .unwrap()
            .ip()
        })
        .collect();
    assert_eq!(seen.len(), 2, "arbitrary uses both addresses");
}

#[test]
fn hairpin_on_off_and_source() {
    let t = Instant::now();
    let mut n = nat(NatConfig::full_cone());
    let ext_b = n
        .outbound(t, addr("10.0.0.3:6000"), addr("1.1.1.1:1"))
        .unwrap();
    let (src, dst) = n.hairpin(t, addr("10.0.0.2:5000"), ext_b).unwrap();
    assert_eq!(dst, addr("10.0.0.3:6000"));
    assert_eq!(src, addr("203.0.113.1:5000"));

    let mut config = NatConfig::full_cone();
    config.hairpin_translate_source = false;
    let mut n = nat(config);
    let ext_b = n
        .outbound(t, addr("10.0.0.3:6000"), addr("1.1.1.1:1"))
        .unwrap();
    assert_eq!(
        n.hairpin(t, addr("10.0.0.2:5000"), ext_b).unwrap().0,
        addr("10.0.0.2:5000")
    );

    let mut config = NatConfig::full_cone();
    config.hairpin = false;
    let mut n = nat(config);
    let ext_b = n
        .outbound(t, addr("10.0.0.3:6000"), addr("1.1.1.1:1"))
        .unwrap();
    assert_eq!(
        n.hairpin(t, addr("10.0.0.2:5000"), ext_b),
        Err(DropReason::HairpinDisabled)
    );
}

#[test]
fn ipv6_is_a_firewall_by_default() {
    let t = Instant::now();
    let mut n = nat(NatConfig::full_cone());
    let inside: SocketAddr =
        SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2).into(), 5000);
    let remote: SocketAddr = "[2001:db8:2::1]:3478".parse().unwrap();
    assert_eq!(n.inbound(t, remote, inside), Err(DropReason::NoMapping));
    assert_eq!(n.outbound(t, inside, remote), Ok(inside));
    assert_eq!(n.inbound(t, remote, inside), Ok(inside));
    assert!(!n.owns(inside.ip()));
}

#[test]
fn firewall_and_open() {
    let t = Instant::now();
    let mut n = nat(NatConfig::firewall());
    let inside = addr("198.51.100.7:5000");
    assert_eq!(
        n.inbound(t, addr("1.1.1.1:1"), inside),
        Err(DropReason::NoMapping)
    );
    assert_eq!(n.outbound(t, inside, addr("1.1.1.1:1")), Ok(inside));
    assert_eq!(n.inbound(t, addr("1.1.1.1:1"), inside), Ok(inside));
    assert_eq!(
        n.inbound(t, addr("1.1.1.1:2"), inside),
        Err(DropReason::Filtered)
    );

    let mut n = nat(NatConfig::open());
    assert_eq!(n.inbound(t, addr("1.1.1.1:1"), inside), Ok(inside));
    assert_eq!(n.mapping_count(), 0);
}

#[test]
fn mapping_limit_and_time_going_backwards() {
    let t = Instant::now() + Duration::from_secs(100);
    let mut config = NatConfig::symmetric();
    config.max_mappings = 2;
    let mut n = nat(config);
    n.outbound(t, addr("10.0.0.2:1"), addr("1.1.1.1:1"))
        .unwrap();
    n.outbound(
        t - Duration::from_secs(50),
        addr("10.0.0.2:1"),
        addr("1.1.1.1:2"),
    )
    .unwrap();
    assert_eq!(
        n.outbound(t, addr("10.0.0.2:1"), addr("1.1.1.1:3")),
        Err(DropReason::MappingLimit)
    );
    n.check_invariants();
}

#[test]
fn no_public_address() {
    let t = Instant::now();
    let mut n = Nat::new(NatConfig::full_cone(), &[], 0);
    assert_eq!(
        n.outbound(t, addr("10.0.0.2:1"), addr("1.1.1.1:1")),
        Err(DropReason::NoPublicAddress)
    );
    assert_eq!(DropReason::Filtered.to_string(), "filtered by the NAT");
}
