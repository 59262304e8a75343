//! Regressions found by the coturn interop run (`cargo xtask interop coturn`), one named test
//! per bug.

mod common;

use std::net::SocketAddr;

use common::{Harness, SERVER, addr, channel_frame};
use icebreaker_stun::attributes::RequestedTransport;
use icebreaker_stun::{Class, Method};
use icebreaker_turn::{FiveTuple, ServerConfig, Transport};

const C1: &str = "192.0.2.10:40000";
const C2: &str = "192.0.2.20:40000";

fn five_tuple(client: &str, transport: Transport) -> FiveTuple {
    FiveTuple {
        client: addr(client),
        server: addr(SERVER),
        transport,
    }
}

/// turnutils_uclient reconnects over TCP from the port it used before: the allocation of the
/// closed connection must be gone, or the new Allocate gets 437.
#[test]
fn tcp_allocation_ends_with_its_connection() {
    let mut h = Harness::new();
    h.transport = Transport::Tcp;
    let relay = h.allocate(addr(C1));
    assert_eq!(h.server.stats().allocations, 1);
    assert!(h.server.relay_addresses().any(|r| r == relay));

    h.server
        .handle_connection_closed(h.now, five_tuple(C1, Transport::Tcp));
    assert_eq!(h.server.stats().allocations, 0);
    assert_eq!(h.server.relay_addresses().count(), 0);
    assert_eq!(h.server.ports().in_use(), 0);

    // A new connection from the same address and port allocates again.
    h.nonces.clear();
    h.allocate(addr(C1));
    assert_eq!(h.server.stats().allocations, 1);
}

/// Closing a connection touches only that connection's allocation, and a UDP "close" (there is
/// no such thing) changes nothing.
#[test]
fn connection_close_leaves_other_allocations_alone() {
    let mut h = Harness::new();
    h.allocate(addr(C1));
    h.transport = Transport::Tcp;
    h.nonces.clear();
    h.allocate(addr(C2));
    assert_eq!(h.server.stats().allocations, 2);
    h.server
        .handle_connection_closed(h.now, five_tuple(C1, Transport::Udp));
    h.server
        .handle_connection_closed(h.now, five_tuple(C1, Transport::Tcp));
    assert_eq!(h.server.stats().allocations, 2);
    h.server
        .handle_connection_closed(h.now, five_tuple(C2, Transport::Tcp));
    assert_eq!(h.server.stats().allocations, 1);
}

/// turnutils_uclient -y: two clients of one server relay to each other's relayed addresses,
/// although the server's own IP is denied as a peer; the listening address stays denied.
#[test]
fn clients_reach_each_others_relayed_addresses() {
    let config = ServerConfig {
        // The relay IP is the server's IP, which the policy denies as a peer.
        own_addresses: vec![addr(SERVER).ip()],
        ..common::config()
    };
    let mut h = Harness::with(config);
    let r1 = h.allocate(addr(C1));
    let r2 = h.allocate(addr(C2));
    assert_eq!(r1.ip(), addr(SERVER).ip());
    assert!(!h.server.policy().permits(r2.ip()));

    // Send indications: C1 → r2, relayed from r1. A permission is by IP, asked here with the
    // relayed address itself; port 0 would do only for an IP refused just for being the
    // server's own, and this one is also a documentation address.
    assert_eq!(h.permit(addr(C1), r2).class, Class::Success);
    assert_eq!(
        h.permit(addr(C1), SocketAddr::new(r2.ip(), 0)).code,
        Some(403)
    );
    let out = h.send_indication(addr(C1), r2, b"to the other relay");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0.from, out[0].0.to), (r1, r2));
    assert_eq!(out[0].1, b"to the other relay");

    // The permission is by IP, but only relayed addresses of the server are reachable on it:
    // any other port of the server's IP stays denied.
    let elsewhere = SocketAddr::new(r2.ip(), r2.port().wrapping_add(1));
    assert!(h.send_indication(addr(C1), elsewhere, b"nope").is_empty());
    assert!(
        h.send_indication(addr(C1), addr(SERVER), b"nope")
            .is_empty()
    );

    // Channels: C2 → r1.
    assert_eq!(h.bind(addr(C2), 0x4000, r1).class, Class::Success);
    let out = h.channel_data(addr(C2), &channel_frame(0x4000, b"channel"));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0.from, out[0].0.to), (r2, r1));

    // r1 receives from r2: C1 has a permission for r2's IP, so it gets a Data indication.
    h.server.handle_peer_receive(h.now, r1, r2, b"back");
    let to_c1 = h.drain();
    assert_eq!(to_c1.len(), 1);
    assert_eq!(to_c1[0].0.to, addr(C1));

    // Once r1's allocation is gone, the channel towards it relays nothing.
    let delete = h.ask(addr(C1), Method::REFRESH, |w| {
        w.push(&icebreaker_stun::attributes::Lifetime(0)).unwrap()
    });
    assert_eq!(delete.class, Class::Success);
    assert!(
        h.channel_data(addr(C2), &channel_frame(0x4000, b"late"))
            .is_empty()
    );

    // The listening address is never a peer.
    assert_eq!(h.bind(addr(C2), 0x4001, addr(SERVER)).code, Some(403));
    assert_eq!(h.permit(addr(C2), addr(SERVER)).code, Some(403));
}

/// The 401 rate limit exists against spoofed UDP sources; over TCP, where the handshake proved
/// the source and nothing is retransmitted, every unauthenticated request gets its 401.
#[test]
fn challenges_over_tcp_are_not_rate_limited() {
    let config = ServerConfig {
        challenge_rate: (1, 2),
        ..common::config()
    };
    let mut h = Harness::with(config);
    let unauthenticated = |h: &mut Harness| {
        let tid = h.next_tid();
        let mut buf = [0u8; 64];
        let mut w =
            icebreaker_stun::MessageWriter::new(&mut buf, Class::Request, Method::ALLOCATE, tid)
                .unwrap();
        w.push(&RequestedTransport::UDP).unwrap();
        let n = w.finish(false).unwrap();
        buf[..n].to_vec()
    };
    // UDP: the burst of 2, then silence.
    let mut udp = 0;
    for _ in 0..10 {
        let req = unauthenticated(&mut h);
        udp += usize::from(h.send_raw(addr(C1), &req).is_some());
    }
    assert_eq!(udp, 2);
    // TCP from the same IP: every one answered.
    h.transport = Transport::Tcp;
    for _ in 0..10 {
        let req = unauthenticated(&mut h);
        assert_eq!(h.send_raw(addr(C1), &req).map(|a| a.code), Some(Some(401)));
    }
}
