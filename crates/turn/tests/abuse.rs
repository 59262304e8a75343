//! Abuse, sans-IO: spoofed floods leave no state, and no unauthenticated answer amplifies more
//! than 2.5×.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{Harness, addr};
use icebreaker_stun::attributes::{Lifetime, RequestedTransport, Software};
use icebreaker_stun::{Class, MessageWriter, Method, TransactionId};
use icebreaker_turn::ServerConfig;

fn allocate_request(tid: u32, fingerprint: bool, extra: bool) -> Vec<u8> {
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&tid.to_be_bytes());
    let mut buf = vec![0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId::new(t),
    )
    .unwrap();
    w.push(&RequestedTransport::UDP).unwrap();
    if extra {
        w.push(&Lifetime(3600)).unwrap();
        w.push(&Software("x")).unwrap();
    }
    let n = w.finish(fingerprint).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn spoofed_unauthenticated_allocates_leave_no_state() {
    let mut h = Harness::new();
    let slots = h.server.stats().rate_limit_slots;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes_in = 0usize;
    let mut bytes_out = 0usize;
    let mut buf = Vec::new();
    for i in 0..100_000u32 {
        // A cheap xorshift for spoofed sources, a third of them IPv6.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ip = if i % 3 == 0 {
            IpAddr::V6(Ipv6Addr::from(u128::from(x) << 64 | u128::from(i)))
        } else {
            IpAddr::V4(Ipv4Addr::from(x as u32))
        };
        let from = SocketAddr::new(ip, (x >> 32) as u16);
        let req = allocate_request(i, i % 2 == 0, i % 5 == 0);
        bytes_in += req.len();
        h.server
            .handle_receive(h.now, from, addr(common::SERVER), &req);
        while h.server.poll_transmit(&mut buf).is_some() {
            bytes_out += buf.len();
            assert!(
                buf.len() * 2 <= req.len() * 5,
                "{} bytes for {}",
                buf.len(),
                req.len()
            );
        }
        if i % 10_000 == 0 {
            h.advance(Duration::from_millis(1));
        }
    }
    let s = h.server.stats();
    assert_eq!(
        (
            s.allocations,
            s.permissions,
            s.channels,
            s.reservations,
            s.users,
            s.queued
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert_eq!(
        s.rate_limit_slots, slots,
        "the rate-limit table never grows"
    );
    assert_eq!(h.server.ports().in_use(), 0);
    assert_eq!(h.server.poll_timeout(), None, "no timers either");
    assert_eq!(
        s.challenges + s.rate_limited + s.amplification_dropped,
        100_000
    );
    assert!(bytes_out * 2 <= bytes_in * 5);
}

#[test]
fn one_source_gets_a_bounded_number_of_401s() {
    let mut h = Harness::new();
    let from = addr("198.51.100.99:1234");
    let answered = (0..1000)
        .filter(|i| {
            h.send_raw(from, &allocate_request(*i, true, false))
                .is_some()
        })
        .count();
    // Burst of 40 by default; the clock does not move.
    assert_eq!(answered, 40);
    h.advance(Duration::from_secs(1));
    assert!(
        h.send_raw(from, &allocate_request(5000, true, false))
            .is_some()
    );
}

fn ratio(h: &mut Harness, from: SocketAddr, req: &[u8]) -> f64 {
    let a = h.send_raw(from, req).expect("answered");
    a.bytes.len() as f64 / req.len() as f64
}

#[test]
fn binding_401_and_438_answers_stay_within_2_5x() {
    let mut h = Harness::new();
    // Binding from IPv4 and IPv6, the smallest request there is.
    let mut b = [0u8; 20];
    let n = MessageWriter::new(
        &mut b,
        Class::Request,
        Method::BINDING,
        TransactionId::new([1; 12]),
    )
    .unwrap()
    .finish(false)
    .unwrap();
    for from in ["192.0.2.1:1", "[2001:4860::9]:1"] {
        let r = ratio(&mut h, addr(from), &b[..n]);
        assert!(r <= 2.5, "Binding {from}: {r}");
    }
    // 401 for the smallest valid Allocate (28 bytes), with FINGERPRINT (36) and larger.
    for (fp, extra) in [(false, false), (true, false), (true, true)] {
        let req = allocate_request(7, fp, extra);
        let r = ratio(&mut h, addr("192.0.2.2:2"), &req);
        assert!(r <= 2.5, "401 for {} bytes: {r}", req.len());
    }
    // 438 for an authenticated request with a stale nonce.
    h.challenge(addr("192.0.2.3:3"));
    h.advance(Duration::from_secs(700));
    let req = h.request_as(
        addr("192.0.2.3:3"),
        "alice",
        "alice-pass",
        Method::ALLOCATE,
        |w| w.push(&RequestedTransport::UDP).unwrap(),
    );
    let a = h.send_raw(addr("192.0.2.3:3"), &req).unwrap();
    assert_eq!(a.code, Some(438));
    assert!(a.bytes.len() as f64 / req.len() as f64 <= 2.5);
}

#[test]
fn a_long_realm_still_answers_padded_requests_and_never_amplifies() {
    let mut h = Harness::with(ServerConfig {
        realm: "a-rather-long-realm-name.example.org".into(),
        ..common::config()
    });
    // The smallest Allocate cannot carry a 401 this large within 2.5x: no answer at all.
    assert!(
        h.send_raw(addr("192.0.2.4:4"), &allocate_request(1, false, false))
            .is_none()
    );
    assert_eq!(h.server.stats().amplification_dropped, 1);
    // A bigger request gets its 401.
    let r = ratio(
        &mut h,
        addr("192.0.2.4:4"),
        &allocate_request(2, true, true),
    );
    assert!(r <= 2.5);
}
