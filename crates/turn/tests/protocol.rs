//! The protocol battery: one named test per RFC 8656 / RFC 8489 case, each checking the exact
//! error code (or the silent drop) the RFC puts there.

mod common;

use std::time::Duration;

use common::{Harness, REALM, addr, channel_frame};
use icebreaker_stun::attributes::PasswordAlgorithmId;
use icebreaker_stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, EvenPort, Lifetime, Nonce, Realm,
    RequestedAddressFamily, RequestedTransport, ReservationToken, Username, XorPeerAddress,
    XorRelayedAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{Class, Integrity, Message, MessageWriter, Method, TransactionId};
use icebreaker_turn::{rest_password, rest_username};

const C: &str = "192.0.2.10:40000";
const PEER: &str = "8.8.8.8:5000";

#[test]
fn allocate_without_requested_transport_is_400() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |_| {});
    assert_eq!(a.code, Some(400));
}

#[test]
fn allocate_with_tcp_transport_is_442() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::TCP).unwrap()
    });
    assert_eq!(a.code, Some(442));
}

#[test]
fn reservation_token_with_even_port_is_400() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&ReservationToken([1; 8])).unwrap();
        w.push(&EvenPort { reserve: false }).unwrap();
    });
    assert_eq!(a.code, Some(400));
}

#[test]
fn both_address_family_attributes_are_400() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&RequestedAddressFamily(AddressFamily::V4)).unwrap();
        w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.code, Some(400));
}

#[test]
fn second_allocate_on_the_same_five_tuple_is_437() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.code, Some(437));
}

#[test]
fn retransmitted_allocate_gets_the_same_success() {
    let mut h = Harness::new();
    let req = h.request_as(addr(C), "alice", "alice-pass", Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    let first = h.send_raw(addr(C), &req).unwrap();
    let again = h.send_raw(addr(C), &req).unwrap();
    assert_eq!((first.class, again.class), (Class::Success, Class::Success));
    let relayed = |a: &common::Answer| a.msg().get::<XorRelayedAddress>().unwrap().unwrap().0;
    assert_eq!(relayed(&first), relayed(&again));
}

#[test]
fn refresh_by_another_user_is_441() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    let a = h.ask_as(addr(C), "bob", "bob-pass", Method::REFRESH, |w| {
        w.push(&Lifetime(600)).unwrap()
    });
    assert_eq!(a.code, Some(441));
}

#[test]
fn refresh_without_allocation_is_437() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::REFRESH, |_| {});
    assert_eq!(a.code, Some(437));
}

#[test]
fn channel_numbers_outside_the_range_are_400() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    for ch in [0x3fff, 0x5000, 0xffff] {
        assert_eq!(h.bind(addr(C), ch, addr(PEER)).code, Some(400), "{ch:#x}");
    }
    assert_eq!(h.bind(addr(C), 0x4000, addr(PEER)).class, Class::Success);
}

#[test]
fn channel_conflicts_are_400() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    assert_eq!(h.bind(addr(C), 0x4000, addr(PEER)).class, Class::Success);
    // The same channel to another peer, and the same peer to another channel.
    assert_eq!(
        h.bind(addr(C), 0x4000, addr("8.8.4.4:5000")).code,
        Some(400)
    );
    assert_eq!(h.bind(addr(C), 0x4001, addr(PEER)).code, Some(400));
    // Rebinding the same pair refreshes it.
    assert_eq!(h.bind(addr(C), 0x4000, addr(PEER)).class, Class::Success);
}

#[test]
fn channel_data_on_an_unbound_channel_is_dropped() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    assert_eq!(h.permit(addr(C), addr(PEER)).class, Class::Success);
    assert!(
        h.channel_data(addr(C), &channel_frame(0x4001, b"hello"))
            .is_empty()
    );
    assert_eq!(h.bind(addr(C), 0x4001, addr(PEER)).class, Class::Success);
    let out = h.channel_data(addr(C), &channel_frame(0x4001, b"hello"));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].0.to, out[0].1.as_slice()),
        (addr(PEER), &b"hello"[..])
    );
}

#[test]
fn channel_data_with_a_bad_length_is_dropped() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    assert_eq!(h.bind(addr(C), 0x4001, addr(PEER)).class, Class::Success);
    let mut frame = channel_frame(0x4001, b"hello");
    frame[3] = 50; // Claims 50 bytes, carries 5.
    assert!(h.channel_data(addr(C), &frame).is_empty());
    let mut long = channel_frame(0x4001, b"hello");
    long.extend_from_slice(&[0; 8]); // More than 3 bytes after the data.
    assert!(h.channel_data(addr(C), &long).is_empty());
}

#[test]
fn lifetime_after_message_integrity_is_ignored() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    // A Refresh asking for the default, then LIFETIME 0 appended after MESSAGE-INTEGRITY (and
    // the header length patched to cover it): the server must not see it, so no delete.
    let mut req = h.request_as(addr(C), "alice", "alice-pass", Method::REFRESH, |_| {});
    req.extend_from_slice(&[0x00, 0x0d, 0x00, 0x04, 0, 0, 0, 0]);
    let len = (req.len() - 20) as u16;
    req[2..4].copy_from_slice(&len.to_be_bytes());
    let a = h.send_raw(addr(C), &req).unwrap();
    assert_eq!(a.class, Class::Success);
    assert_eq!(a.msg().get::<Lifetime>().unwrap(), Some(Lifetime(600)));
    assert_eq!(h.server.stats().allocations, 1);
}

#[test]
fn stale_nonce_is_438() {
    let mut h = Harness::new();
    h.no_retry = true;
    h.challenge(addr(C));
    h.advance(Duration::from_secs(601));
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.code, Some(438));
    let m = a.msg();
    assert_eq!(m.get::<Realm<'_>>().unwrap(), Some(Realm(REALM)));
    let fresh = m.get::<Nonce<'_>>().unwrap().unwrap().0.to_string();
    h.nonces.insert(addr(C), fresh);
    h.allocate(addr(C));
}

#[test]
fn nonce_issued_to_another_address_is_438() {
    let mut h = Harness::new();
    h.no_retry = true;
    h.challenge(addr(C));
    let other = addr("192.0.2.10:40001");
    let n = h.nonces[&addr(C)].clone();
    h.nonces.insert(other, n);
    let a = h.ask(other, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.code, Some(438));
}

#[test]
fn wrong_integrity_is_401() {
    let mut h = Harness::new();
    let a = h.ask_as(
        addr(C),
        "alice",
        "not-the-password",
        Method::ALLOCATE,
        |w| w.push(&RequestedTransport::UDP).unwrap(),
    );
    assert_eq!(a.code, Some(401));
    let a = h.ask_as(addr(C), "mallory", "x", Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.code, Some(401));
}

#[test]
fn integrity_without_username_is_400() {
    let mut h = Harness::new();
    h.challenge(addr(C));
    let key = Key::new(b"x");
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId::new([3; 12]),
    )
    .unwrap();
    w.push(&RequestedTransport::UDP).unwrap();
    w.push(&Realm(REALM)).unwrap();
    let n = w
        .finish_with_integrity(&key, Integrity::Sha1, false)
        .unwrap();
    assert_eq!(h.send_raw(addr(C), &buf[..n]).unwrap().code, Some(400));
}

#[test]
fn unknown_comprehension_required_attribute_is_420() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push_raw(icebreaker_stun::AttributeType(0x0077), &[1, 2, 3, 4])
            .unwrap();
    });
    assert_eq!(a.code, Some(420));
}

/// The 420 lists each unknown type once, in order, up to 16 of them.
#[test]
fn the_420_lists_each_unknown_type_once() {
    use icebreaker_stun::AttributeType;
    use icebreaker_stun::attributes::UnknownAttributes;
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        for t in [0x0077, 0x0078, 0x0077].into_iter().chain(0x0100..0x0120) {
            w.push_raw(AttributeType(t), &[]).unwrap();
        }
    });
    assert_eq!(a.code, Some(420));
    let msg = a.msg();
    let listed: Vec<u16> = msg
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .map(|t| t.0)
        .collect();
    let expected: Vec<u16> = [0x0077, 0x0078].into_iter().chain(0x0100..0x010e).collect();
    assert_eq!(listed, expected);
}

#[test]
fn user_quota_is_486_and_total_quota_is_508() {
    let mut h = Harness::with(icebreaker_turn::ServerConfig {
        user_quota: 2,
        total_quota: 3,
        ..common::config()
    });
    h.allocate(addr("192.0.2.1:1"));
    h.allocate(addr("192.0.2.1:2"));
    let a = h.ask(addr("192.0.2.1:3"), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.code, Some(486));
    let b = h.ask_as(
        addr("192.0.2.1:4"),
        "bob",
        "bob-pass",
        Method::ALLOCATE,
        |w| w.push(&RequestedTransport::UDP).unwrap(),
    );
    assert_eq!(b.class, Class::Success);
    let c = h.ask_as(
        addr("192.0.2.1:5"),
        "bob",
        "bob-pass",
        Method::ALLOCATE,
        |w| w.push(&RequestedTransport::UDP).unwrap(),
    );
    assert_eq!(c.code, Some(508));
}

#[test]
fn permission_cap_is_508() {
    let mut h = Harness::with(icebreaker_turn::ServerConfig {
        max_permissions: 2,
        ..common::config()
    });
    h.allocate(addr(C));
    assert_eq!(h.permit(addr(C), addr("8.8.8.8:1")).class, Class::Success);
    assert_eq!(h.permit(addr(C), addr("8.8.4.4:1")).class, Class::Success);
    assert_eq!(h.permit(addr(C), addr("1.1.1.1:1")).code, Some(508));
    // Refreshing an existing one is still fine.
    assert_eq!(h.permit(addr(C), addr("8.8.8.8:2")).class, Class::Success);
}

#[test]
fn ipv6_peer_on_an_ipv4_allocation_is_443() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    assert_eq!(
        h.permit(addr(C), addr("[2606:4700:4700::1111]:53")).code,
        Some(443)
    );
}

#[test]
fn requested_ipv6_family_and_additional_family() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert!(
        a.msg()
            .get::<XorRelayedAddress>()
            .unwrap()
            .unwrap()
            .0
            .is_ipv6()
    );
    let c2 = addr("192.0.2.10:40002");
    let a = h.ask(c2, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.class, Class::Success);
    assert_eq!(
        h.server
            .relayed_addresses(&icebreaker_turn::FiveTuple {
                client: c2,
                server: addr(common::SERVER),
                transport: icebreaker_turn::Transport::Udp
            })
            .len(),
        2
    );
    // A family the allocator does not have: 440.
    let mut h = Harness::with(common::config());
    h.server = icebreaker_turn::Server::new(
        common::config(),
        icebreaker_turn::PortPool::new(
            Some(addr(common::SERVER).ip()),
            None,
            50000..=50010,
            [1; 32],
        ),
        h.now,
    );
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.code, Some(440));
}

#[test]
fn even_port_with_reservation_then_token() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&EvenPort { reserve: true }).unwrap();
    });
    let m = a.msg();
    let relayed = m.get::<XorRelayedAddress>().unwrap().unwrap().0;
    assert_eq!(relayed.port() % 2, 0);
    let token = m.get::<ReservationToken>().unwrap().unwrap();
    let c2 = addr("192.0.2.10:40002");
    let b = h.ask(c2, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&token).unwrap();
    });
    assert_eq!(
        b.msg()
            .get::<XorRelayedAddress>()
            .unwrap()
            .unwrap()
            .0
            .port(),
        relayed.port() + 1
    );
    // A token used twice (or unknown) is 508.
    let c3 = addr("192.0.2.10:40003");
    let c = h.ask(c3, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&token).unwrap();
    });
    assert_eq!(c.code, Some(508));
}

#[test]
fn lifetime_is_clamped_and_zero_deletes() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&Lifetime(1_000_000)).unwrap();
    });
    assert_eq!(a.msg().get::<Lifetime>().unwrap(), Some(Lifetime(3600)));
    let r = h.ask(addr(C), Method::REFRESH, |w| w.push(&Lifetime(10)).unwrap());
    assert_eq!(r.msg().get::<Lifetime>().unwrap(), Some(Lifetime(600)));
    let d = h.ask(addr(C), Method::REFRESH, |w| w.push(&Lifetime(0)).unwrap());
    assert_eq!(
        (d.class, d.msg().get::<Lifetime>().unwrap()),
        (Class::Success, Some(Lifetime(0)))
    );
    assert_eq!(h.server.stats().allocations, 0);
    assert_eq!(h.server.ports().in_use(), 0);
}

/// A dual allocation for `from` (IPv4 and IPv6, default lifetime): its two relayed addresses.
fn dual(h: &mut Harness, from: std::net::SocketAddr) -> [std::net::SocketAddr; 2] {
    let a = h.ask(from, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.class, Class::Success, "{a:?}");
    let r = relayed_of(h, from);
    assert!(r.len() == 2 && r[0].is_ipv4() && r[1].is_ipv6(), "{r:?}");
    [r[0], r[1]]
}

fn relayed_of(h: &Harness, from: std::net::SocketAddr) -> Vec<std::net::SocketAddr> {
    h.server.relayed_addresses(&icebreaker_turn::FiveTuple {
        client: from,
        server: addr(common::SERVER),
        transport: icebreaker_turn::Transport::Udp,
    })
}

/// RFC 8656 §7.1: a Refresh with REQUESTED-ADDRESS-FAMILY and LIFETIME 0 deletes that family
/// of a dual allocation only; the other keeps relaying.
#[test]
fn refresh_deletes_one_family_of_a_dual_allocation() {
    let mut h = Harness::new();
    let [v4, v6] = dual(&mut h, addr(C));
    let peer6 = addr("[2606:4700:4700::1111]:53");
    assert_eq!(h.permit(addr(C), addr(PEER)).class, Class::Success);
    assert_eq!(h.bind(addr(C), 0x4000, peer6).class, Class::Success);
    assert_eq!(
        h.channel_data(addr(C), &channel_frame(0x4000, b"six"))
            .len(),
        1
    );
    let d = h.ask(addr(C), Method::REFRESH, |w| {
        w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap();
        w.push(&Lifetime(0)).unwrap();
    });
    assert_eq!(
        (d.class, d.msg().get::<Lifetime>().unwrap()),
        (Class::Success, Some(Lifetime(0)))
    );
    assert_eq!(relayed_of(&h, addr(C)), vec![v4]);
    assert_eq!(h.server.stats().allocations, 1);
    assert_eq!(h.server.ports().in_use(), 1);
    assert!(h.server.relay_addresses().eq([v4]));
    // The IPv6 side is gone: its channel, its permission, its relayed address.
    assert!(
        h.channel_data(addr(C), &channel_frame(0x4000, b"six"))
            .is_empty()
    );
    assert!(h.send_indication(addr(C), peer6, b"six").is_empty());
    h.server.handle_peer_receive(h.now, v6, peer6, b"back");
    assert!(h.drain().is_empty());
    assert_eq!(h.permit(addr(C), peer6).code, Some(443));
    let again = h.ask(addr(C), Method::REFRESH, |w| {
        w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(again.code, Some(443));
    // The IPv4 side still relays, both ways.
    assert_eq!(h.send_indication(addr(C), addr(PEER), b"four").len(), 1);
    h.server.handle_peer_receive(h.now, v4, addr(PEER), b"back");
    assert_eq!(h.drain().len(), 1);
    // Deleting the last family deletes the allocation.
    let d = h.ask(addr(C), Method::REFRESH, |w| {
        w.push(&RequestedAddressFamily(AddressFamily::V4)).unwrap();
        w.push(&Lifetime(0)).unwrap();
    });
    assert_eq!(d.class, Class::Success);
    assert_eq!(h.server.stats().allocations, 0);
    assert_eq!(h.server.ports().in_use(), 0);
}

/// RFC 8656 §7.1: a family refreshed alone outlives the other, which expires on its own;
/// a Refresh without REQUESTED-ADDRESS-FAMILY refreshes both.
#[test]
fn each_family_of_a_dual_allocation_keeps_its_own_lifetime() {
    let mut h = Harness::new();
    let [v4, v6] = dual(&mut h, addr(C));
    h.at(Duration::from_secs(300));
    let both = h.ask(addr(C), Method::REFRESH, |_| {});
    assert_eq!(both.class, Class::Success);
    h.at(Duration::from_secs(800));
    assert_eq!(relayed_of(&h, addr(C)), vec![v4, v6]);
    let r = h.ask(addr(C), Method::REFRESH, |w| {
        w.push(&RequestedAddressFamily(AddressFamily::V4)).unwrap();
    });
    assert_eq!(r.msg().get::<Lifetime>().unwrap(), Some(Lifetime(600)));
    // The IPv6 side ends at 900 s, 600 s after the last Refresh that covered it.
    h.at(Duration::from_secs(899));
    assert_eq!(relayed_of(&h, addr(C)), vec![v4, v6]);
    h.at(Duration::from_secs(900));
    assert_eq!(relayed_of(&h, addr(C)), vec![v4]);
    assert_eq!(h.server.ports().in_use(), 1);
    assert_eq!(h.permit(addr(C), addr(PEER)).class, Class::Success);
    assert_eq!(h.send_indication(addr(C), addr(PEER), b"four").len(), 1);
    // The IPv4 side ends at 1400 s, and the allocation with it.
    h.at(Duration::from_secs(1400));
    assert_eq!(h.server.stats().allocations, 0);
    assert_eq!(h.ask(addr(C), Method::REFRESH, |_| {}).code, Some(437));
}

/// A family past its lifetime stops relaying at once, even before the server's timer runs.
#[test]
fn a_lapsed_family_stops_relaying_before_its_timer_runs() {
    let mut h = Harness::new();
    let [v4, v6] = dual(&mut h, addr(C));
    let peer6 = addr("[2606:4700:4700::1111]:53");
    h.at(Duration::from_secs(250));
    let r = h.ask(addr(C), Method::REFRESH, |w| {
        w.push(&RequestedAddressFamily(AddressFamily::V4)).unwrap();
    });
    assert_eq!(r.class, Class::Success);
    // A permission that outlives the IPv6 side (until 850 s).
    h.at(Duration::from_secs(550));
    assert_eq!(h.permit(addr(C), peer6).class, Class::Success);
    assert_eq!(h.send_indication(addr(C), peer6, b"early").len(), 1);
    // 600 s: the IPv6 side has lapsed; no handle_timeout yet.
    h.now = h.t0 + Duration::from_secs(600);
    h.server.handle_peer_receive(h.now, v6, peer6, b"late");
    assert!(h.drain().is_empty());
    let before = h.server.stats().relayed;
    assert!(h.send_indication(addr(C), peer6, b"late").is_empty());
    assert_eq!(h.server.stats().relayed, before);
    assert_eq!(h.permit(addr(C), peer6).code, Some(443));
    assert_eq!(h.bind(addr(C), 0x4001, peer6).code, Some(443));
    assert_eq!(relayed_of(&h, addr(C))[0], v4);
}

#[test]
fn responses_carry_no_reason_phrase_and_no_software() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |_| {});
    let m = a.msg();
    assert_eq!(
        m.get::<icebreaker_stun::attributes::ErrorCode<'_>>()
            .unwrap()
            .unwrap()
            .reason,
        ""
    );
    assert!(!m.has(icebreaker_stun::attributes::SOFTWARE));
}

#[test]
fn binding_requests_are_answered_like_the_stun_server() {
    let mut h = Harness::new();
    let mut buf = [0u8; 20];
    let n = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([5; 12]),
    )
    .unwrap()
    .finish(false)
    .unwrap();
    let a = h.send_raw(addr(C), &buf[..n]).unwrap();
    assert_eq!(a.class, Class::Success);
    let m = Message::parse(&a.bytes).unwrap();
    assert_eq!(
        m.get::<icebreaker_stun::attributes::XorMappedAddress>()
            .unwrap()
            .unwrap()
            .0,
        addr(C)
    );
}

fn rest_allocate(h: &mut Harness, from: &str, username: &str, password: &str) -> common::Answer {
    h.ask_as(addr(from), username, password, Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    })
}

#[test]
fn rest_api_credentials_valid() {
    let mut h = Harness::new();
    let user = rest_username(1_700_000_000 + 3600, "carol");
    let pass = rest_password(b"current-secret", &user);
    assert_eq!(rest_allocate(&mut h, C, &user, &pass).class, Class::Success);
}

#[test]
fn rest_api_credentials_expired_are_401() {
    let mut h = Harness::new();
    let user = rest_username(1_700_000_000 + 60, "carol");
    let pass = rest_password(b"current-secret", &user);
    h.advance(Duration::from_secs(61));
    assert_eq!(rest_allocate(&mut h, C, &user, &pass).code, Some(401));
}

#[test]
fn rest_api_credentials_from_the_rotated_secret() {
    let mut h = Harness::new();
    let user = rest_username(1_700_000_000 + 3600, "dave");
    let old = rest_password(b"previous-secret", &user);
    assert_eq!(rest_allocate(&mut h, C, &user, &old).class, Class::Success);
    let unknown = rest_password(b"some-other-secret", &user);
    assert_eq!(
        rest_allocate(&mut h, "192.0.2.10:40009", &user, &unknown).code,
        Some(401)
    );
}

#[test]
fn sha256_password_algorithm_and_userhash() {
    use icebreaker_stun::attributes::{PasswordAlgorithm, PasswordAlgorithms, Userhash};
    let mut h = Harness::new();
    let challenge = h.challenge(addr(C));
    let m = challenge.msg();
    let offered = match m.get::<PasswordAlgorithms<'_>>().unwrap().unwrap() {
        PasswordAlgorithms::Raw(r) => r.to_vec(),
        PasswordAlgorithms::List(_) => unreachable!(),
    };
    let nonce = h.nonces[&addr(C)].clone();
    assert!(nonce.starts_with("obMatJos2"));
    let key = Key::long_term(
        "alice",
        REALM,
        "alice-pass",
        PasswordAlgorithmId::SHA256,
        Preparation::OpaqueString,
    )
    .unwrap();
    let hash = icebreaker_stun::integrity::userhash("alice", REALM).unwrap();
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId::new([4; 12]),
    )
    .unwrap();
    w.push(&RequestedTransport::UDP).unwrap();
    w.push(&Userhash(hash)).unwrap();
    w.push(&Realm(REALM)).unwrap();
    w.push(&Nonce(&nonce)).unwrap();
    w.push(&PasswordAlgorithms::Raw(&offered)).unwrap();
    w.push(&PasswordAlgorithm::new(PasswordAlgorithmId::SHA256))
        .unwrap();
    let n = w
        .finish_with_integrity(&key, Integrity::Sha256, true)
        .unwrap();
    let a = h.send_raw(addr(C), &buf[..n]).unwrap();
    assert_eq!(a.class, Class::Success, "{:?}", a.code);
    a.msg().verify_integrity_sha256(&key).unwrap();
    // PASSWORD-ALGORITHMS that differs from the offer is a 400 (downgrade protection).
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::REFRESH,
        TransactionId::new([5; 12]),
    )
    .unwrap();
    w.push(&Username("alice")).unwrap();
    w.push(&Realm(REALM)).unwrap();
    w.push(&Nonce(&nonce)).unwrap();
    let md5_only = [0u8, 1, 0, 0];
    w.push(&PasswordAlgorithms::Raw(&md5_only)).unwrap();
    w.push(&PasswordAlgorithm::new(PasswordAlgorithmId::MD5))
        .unwrap();
    let n = w
        .finish_with_integrity(&key, Integrity::Sha256, true)
        .unwrap();
    assert_eq!(h.send_raw(addr(C), &buf[..n]).unwrap().code, Some(400));
}

#[test]
fn send_indication_without_permission_is_dropped() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    assert!(h.send_indication(addr(C), addr(PEER), b"x").is_empty());
    assert_eq!(h.permit(addr(C), addr(PEER)).class, Class::Success);
    let out = h.send_indication(addr(C), addr(PEER), b"x");
    assert_eq!(out.len(), 1);
    // Permissions are by IP only: another port of the same peer is fine.
    assert_eq!(
        h.send_indication(addr(C), addr("8.8.8.8:6000"), b"y").len(),
        1
    );
}

#[test]
fn peer_data_becomes_data_indication_or_channel_data() {
    let mut h = Harness::new();
    let relay = h.allocate(addr(C));
    assert_eq!(h.permit(addr(C), addr(PEER)).class, Class::Success);
    // From a peer without permission: dropped.
    h.server
        .handle_peer_receive(h.now, relay, addr("1.1.1.1:1"), b"nope");
    assert!(h.drain().is_empty());
    h.server
        .handle_peer_receive(h.now, relay, addr(PEER), b"hi");
    let out = h.drain();
    let m = Message::parse(&out[0].1).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::DATA));
    assert_eq!(m.get::<XorPeerAddress>().unwrap().unwrap().0, addr(PEER));
    assert_eq!(h.bind(addr(C), 0x4002, addr(PEER)).class, Class::Success);
    h.server
        .handle_peer_receive(h.now, relay, addr(PEER), b"hi");
    let out = h.drain();
    assert_eq!(out[0].1, channel_frame(0x4002, b"hi"));
    assert_eq!(out[0].0.to, addr(C));
    let _ = ChannelNumber(0);
}

#[test]
fn bandwidth_cap_drops_excess() {
    let mut h = Harness::with(icebreaker_turn::ServerConfig {
        bandwidth: Some(icebreaker_turn::Bandwidth {
            bytes_per_second: 1000,
            burst: 1000,
        }),
        ..common::config()
    });
    h.allocate(addr(C));
    assert_eq!(h.bind(addr(C), 0x4000, addr(PEER)).class, Class::Success);
    let frame = channel_frame(0x4000, &[0; 400]);
    let sent: usize = (0..5).map(|_| h.channel_data(addr(C), &frame).len()).sum();
    assert_eq!(sent, 2);
    h.advance(Duration::from_millis(400));
    assert_eq!(h.channel_data(addr(C), &frame).len(), 1);
}

#[test]
fn nonce_issued_over_udp_is_stale_over_tcp() {
    use icebreaker_turn::Transport;
    let mut h = Harness::new();
    h.no_retry = true;
    let req = h.request_as(addr(C), "alice", "alice-pass", Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    h.server
        .handle_receive_on(h.now, Transport::Tcp, addr(C), addr(common::SERVER), &req);
    let out = h.drain();
    let m = Message::parse(&out[0].1).unwrap();
    assert_eq!(
        m.get::<icebreaker_stun::attributes::ErrorCode<'_>>()
            .unwrap()
            .unwrap()
            .code,
        438
    );
    assert_eq!(out[0].0.via, icebreaker_turn::Via::Listener(Transport::Tcp));
}

#[test]
fn the_nonce_lasts_just_under_600_s() {
    let mut h = Harness::new();
    h.no_retry = true;
    h.challenge(addr(C));
    h.advance(Duration::from_secs(599));
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap()
    });
    assert_eq!(a.class, Class::Success);
    let _ = (
        Username("x"),
        XorPeerAddress(addr(C)),
        ChannelNumber(0x4000),
    );
}

#[test]
fn fast_paths_relay_in_place_and_drop_without_permission() {
    use icebreaker_turn::{ClientRelay, PeerRelay};
    let mut h = Harness::new();
    let relay = h.allocate(addr(C));
    let mut buf = [0u8; 4 + 5 + 3];
    buf[4..9].copy_from_slice(b"hello");
    assert_eq!(
        h.server
            .relay_to_channel(h.now, relay, addr(PEER), &mut buf, 5),
        PeerRelay::NoChannel
    );
    assert_eq!(h.bind(addr(C), 0x4444, addr(PEER)).class, Class::Success);
    match h
        .server
        .relay_to_channel(h.now, relay, addr(PEER), &mut buf, 5)
    {
        PeerRelay::Channel { transmit, len } => {
            assert_eq!(
                (transmit.to, &buf[..len]),
                (addr(C), &channel_frame(0x4444, b"hello")[..])
            );
        }
        other => panic!("{other:?}"),
    }
    let frame = channel_frame(0x4444, b"up");
    match h
        .server
        .relay_channel_data(h.now, addr(C), addr(common::SERVER), &frame)
    {
        ClientRelay::Relayed { transmit, data } => assert_eq!(
            (transmit.from, transmit.to, data),
            (relay, addr(PEER), &b"up"[..])
        ),
        other => panic!("{other:?}"),
    }
    // After the permission lapses (300 s) both fast paths drop.
    h.advance(Duration::from_secs(300));
    assert_eq!(
        h.server
            .relay_to_channel(h.now, relay, addr(PEER), &mut buf, 5),
        PeerRelay::Dropped
    );
    assert_eq!(
        h.server
            .relay_channel_data(h.now, addr(C), addr(common::SERVER), &frame),
        ClientRelay::Dropped
    );
    assert_eq!(
        h.server
            .relay_channel_data(h.now, addr(C), addr(common::SERVER), b"\x00\x01"),
        ClientRelay::NotChannelData
    );
}

/// An allocation that expired but whose timer has not run yet (a request can arrive first) is
/// replaced by a new Allocate on its 5-tuple: its port and its quota count go back.
#[test]
fn an_expired_allocation_replaced_before_its_timer_frees_its_port() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    h.now += Duration::from_secs(601);
    h.allocate(addr(C));
    assert_eq!(h.server.ports().in_use(), 1);
    assert_eq!(h.server.stats().users, 1);
    h.advance(Duration::from_secs(3601));
    assert_eq!(h.server.ports().in_use(), 0);
    assert_eq!(h.server.stats().users, 0);
}

/// A reservation token used after its 30 s, before the timer ran: 508, and the port it held
/// is back in the pool.
#[test]
fn an_expired_reservation_token_frees_its_port() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&EvenPort { reserve: true }).unwrap();
    });
    let token = a.msg().get::<ReservationToken>().unwrap().unwrap();
    assert_eq!(h.server.ports().in_use(), 2);
    h.now += Duration::from_secs(31);
    let b = h.ask(addr("192.0.2.10:40002"), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&token).unwrap();
    });
    assert_eq!(b.code, Some(508));
    assert_eq!(h.server.stats().reservations, 0);
    assert_eq!(h.server.ports().in_use(), 1);
}

/// RFC 8656 §7.2: EVEN-PORT with the R bit and ADDITIONAL-ADDRESS-FAMILY together are 400.
#[test]
fn even_port_reservation_with_an_additional_family_is_400() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&EvenPort { reserve: true }).unwrap();
        w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.code, Some(400));
    assert_eq!(h.server.ports().in_use(), 0);
    // Without the R bit it is fine.
    let b = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&EvenPort { reserve: false }).unwrap();
        w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(b.class, Class::Success);
}

/// RFC 8656 §7.2: an Allocate's LIFETIME below the default, 0 included, gets the default; only
/// a Refresh deletes with 0.
#[test]
fn allocate_with_lifetime_zero_gets_the_default() {
    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&Lifetime(0)).unwrap();
    });
    assert_eq!(a.class, Class::Success, "{a:?}");
    assert_eq!(a.msg().get::<Lifetime>().unwrap(), Some(Lifetime(600)));
}

/// RFC 8656 §5: a retransmitted Allocate gets essentially the same success, so a client whose
/// first answer was lost still learns its reservation token.
#[test]
fn retransmitted_allocate_carries_the_reservation_token_again() {
    let mut h = Harness::new();
    let req = h.request_as(addr(C), "alice", "alice-pass", Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&EvenPort { reserve: true }).unwrap();
    });
    let first = h.send_raw(addr(C), &req).unwrap();
    let again = h.send_raw(addr(C), &req).unwrap();
    let token = |a: &common::Answer| a.msg().get::<ReservationToken>().unwrap();
    assert!(token(&first).is_some());
    assert_eq!(token(&first), token(&again));
}

/// RFC 8489 §6.3.2: a Send indication with an unknown comprehension-required attribute is
/// discarded, not relayed.
#[test]
fn send_indication_with_an_unknown_required_attribute_is_dropped() {
    let mut h = Harness::new();
    h.allocate(addr(C));
    h.permit(addr(C), addr(PEER));
    assert_eq!(h.send_indication(addr(C), addr(PEER), b"hi").len(), 1);
    let tid = h.next_tid();
    let mut buf = vec![0u8; 256];
    let mut w = MessageWriter::new(&mut buf, Class::Indication, Method::SEND, tid).unwrap();
    w.push(&XorPeerAddress(addr(PEER))).unwrap();
    w.push(&icebreaker_stun::attributes::Data(b"hi")).unwrap();
    w.push_raw(icebreaker_stun::AttributeType(0x0030), &[0; 4])
        .unwrap();
    let n = w.finish(false).unwrap();
    let now = h.now;
    h.server.handle_receive_on(
        now,
        icebreaker_turn::Transport::Udp,
        addr(C),
        addr(common::SERVER),
        &buf[..n],
    );
    assert!(h.relayed().is_empty());
}

/// A user cannot hold more reservations than allocations: allocating with EVEN-PORT R and
/// deleting at once would otherwise pile them up and starve everyone else's.
#[test]
fn reservations_per_user_stop_at_the_user_quota() {
    let mut h = Harness::with(icebreaker_turn::ServerConfig {
        user_quota: 2,
        ..common::config()
    });
    let mut codes = Vec::new();
    for _ in 0..4 {
        let a = h.ask(addr(C), Method::ALLOCATE, |w| {
            w.push(&RequestedTransport::UDP).unwrap();
            w.push(&EvenPort { reserve: true }).unwrap();
        });
        codes.push(a.code);
        if a.class == Class::Success {
            h.ask(addr(C), Method::REFRESH, |w| w.push(&Lifetime(0)).unwrap());
        }
    }
    assert_eq!(codes, [None, None, Some(486), Some(486)]);
    assert_eq!(h.server.stats().reservations, 2);
}

/// A Send indication from `from` to `peer`, with DONT-FRAGMENT when `df`; returns what was
/// relayed.
fn send_with_df(
    h: &mut Harness,
    from: std::net::SocketAddr,
    peer: std::net::SocketAddr,
    df: bool,
) -> Vec<(icebreaker_turn::ServerTransmit, Vec<u8>)> {
    use icebreaker_stun::attributes::{Data, DontFragment};
    let tid = h.next_tid();
    let mut buf = vec![0u8; 1500];
    let mut w = MessageWriter::new(&mut buf, Class::Indication, Method::SEND, tid).unwrap();
    w.push(&XorPeerAddress(peer)).unwrap();
    if df {
        w.push(&DontFragment).unwrap();
    }
    w.push(&Data(b"payload")).unwrap();
    let n = w.finish(false).unwrap();
    h.channel_data(from, &buf[..n])
}

/// RFC 8656 §7.2, §11.2, §14: DONT-FRAGMENT in a Send indication makes that datagram leave with
/// DF, on any allocation; everything else leaves with DF clear, ChannelData of an allocation
/// made with DONT-FRAGMENT too (in an Allocate it only asks whether DF is supported). A server
/// that cannot set DF answers the Allocate with 420 naming the attribute and drops such Send
/// indications.
#[test]
fn dont_fragment_is_passed_on_or_refused_when_impossible() {
    use icebreaker_stun::attributes::{DONT_FRAGMENT, DontFragment, UnknownAttributes};
    use icebreaker_turn::Via;
    let df_of = |relayed: &[(icebreaker_turn::ServerTransmit, Vec<u8>)]| -> Vec<bool> {
        relayed
            .iter()
            .map(|(t, _)| match t.via {
                Via::Relay { dont_fragment } => dont_fragment,
                Via::Listener(_) => panic!("not relayed: {t:?}"),
            })
            .collect()
    };
    let peer = addr(PEER);
    let other = addr("192.0.2.11:40000");

    let mut h = Harness::new();
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&DontFragment).unwrap();
    });
    assert_eq!(a.class, Class::Success, "{a:?}");
    assert_eq!(h.bind(addr(C), 0x4000, peer).class, Class::Success);
    assert_eq!(
        df_of(&h.channel_data(addr(C), &channel_frame(0x4000, b"x"))),
        [false]
    );
    // The channel is bound, but a Send indication still goes as one.
    assert_eq!(df_of(&send_with_df(&mut h, addr(C), peer, true)), [true]);
    assert_eq!(df_of(&send_with_df(&mut h, addr(C), peer, false)), [false]);
    // An allocation made without DONT-FRAGMENT: DF is still each indication's to ask for.
    h.allocate(other);
    assert_eq!(h.permit(other, peer).class, Class::Success);
    assert_eq!(df_of(&send_with_df(&mut h, other, peer, true)), [true]);
    assert_eq!(df_of(&send_with_df(&mut h, other, peer, false)), [false]);

    let mut h = Harness::with(icebreaker_turn::ServerConfig {
        dont_fragment: false,
        ..common::config()
    });
    let a = h.ask(addr(C), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&DontFragment).unwrap();
    });
    assert_eq!(a.code, Some(420), "{a:?}");
    let unknown: Vec<_> = a
        .msg()
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(unknown, [DONT_FRAGMENT]);
    h.allocate(addr(C));
    assert_eq!(h.permit(addr(C), peer).class, Class::Success);
    assert!(send_with_df(&mut h, addr(C), peer, true).is_empty());
    assert_eq!(df_of(&send_with_df(&mut h, addr(C), peer, false)), [false]);
}
