//! The ACL battery: 44 peer addresses (22 IPv4 to deny, 18 IPv6 encodings to deny, 4 public
//! addresses to allow) × CreatePermission, ChannelBind and Send. Denied ones get 403 or a silent
//! drop and never a relayed datagram; allowed ones are relayed.

mod common;

use std::net::SocketAddr;

use common::{Harness, addr};
use icebreaker_stun::Class;
use icebreaker_stun::Method;
use icebreaker_stun::attributes::{AddressFamily, RequestedAddressFamily, RequestedTransport};
use icebreaker_turn::{PeerPolicy, ServerConfig};

const DENY_V4: [&str; 22] = [
    "0.0.0.0",         // unspecified
    "0.1.2.3",         // "this network"
    "10.0.0.1",        // private
    "100.64.0.1",      // carrier-grade NAT
    "100.127.255.254", // carrier-grade NAT, top
    "127.0.0.1",       // loopback
    "127.255.255.254", // loopback, top
    "169.254.169.254", // cloud metadata (link-local)
    "169.254.0.1",     // link-local
    "172.16.0.1",      // private
    "172.31.255.254",  // private, top
    "192.0.0.8",       // IETF protocol assignments
    "192.0.2.1",       // TEST-NET-1
    "192.88.99.1",     // 6to4 relay anycast
    "192.168.1.1",     // private
    "198.18.0.1",      // benchmarking
    "198.19.255.254",  // benchmarking, top
    "198.51.100.1",    // TEST-NET-2
    "203.0.113.77",    // TEST-NET-3
    "224.0.0.1",       // multicast
    "240.0.0.1",       // reserved
    "255.255.255.255", // broadcast
];

const DENY_V6: [&str; 18] = [
    "::",                                   // unspecified
    "::1",                                  // loopback
    "::ffff:127.0.0.1",                     // IPv4-mapped loopback (CVE-2026-27624)
    "::ffff:169.254.169.254",               // IPv4-mapped metadata
    "::127.0.0.1",                          // IPv4-compatible loopback
    "::ffff:0:a00:1",                       // IPv4-translated 10.0.0.1
    "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",                    // 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
    "64:ff9b::c0a8:101",                    // NAT64 of 192.168.1.1
    "64:ff9b:1::a00:1",                     // local-use NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1 (obfuscated)
    "fc00::1",                              // unique local
    "fd12:3456:789a::1",                    // unique local
    "fe80::1",                              // link-local
    "ff02::1",                              // multicast
    "2001:db8::1",                          // documentation
    "100::1",                               // discard-only
];

const ALLOW: [&str; 4] = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
];

const C4: &str = "192.0.2.10:40000";
const C6: &str = "192.0.2.10:40006";

/// A server with an IPv4 allocation for C4 and an IPv6 one for C6.
fn setup(policy: PeerPolicy) -> Harness {
    let mut h = Harness::with(ServerConfig {
        peer_policy: policy,
        ..common::config()
    });
    h.allocate(addr(C4));
    let a = h.ask(addr(C6), Method::ALLOCATE, |w| {
        w.push(&RequestedTransport::UDP).unwrap();
        w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap();
    });
    assert_eq!(a.class, Class::Success);
    h
}

fn client_for(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv4() { addr(C4) } else { addr(C6) }
}

/// Runs the three operations against `peer`; returns (permission code, bind code, relayed count).
fn probe(h: &mut Harness, ip: &str, channel: u16) -> (Option<u16>, Option<u16>, usize) {
    let peer = SocketAddr::new(ip.parse().unwrap(), 5000);
    let c = client_for(peer);
    let p = h.permit(c, peer);
    let b = h.bind(c, channel, peer);
    let mut relayed = h.send_indication(c, peer, b"probe");
    relayed.extend(h.channel_data(c, &common::channel_frame(channel, b"probe")));
    // Whatever reached the relay socket, it went to this peer only.
    assert!(relayed.iter().all(|(t, _)| t.to == peer));
    let code = |a: &common::Answer| {
        if a.class == Class::Success {
            None
        } else {
            a.code
        }
    };
    (code(&p), code(&b), relayed.len())
}

#[test]
fn acl_battery_denies_44_minus_4_and_relays_the_4() {
    let mut h = setup(PeerPolicy::new());
    let mut channel = 0x4000;
    assert_eq!(DENY_V4.len() + DENY_V6.len() + ALLOW.len(), 44);
    for ip in DENY_V4.iter().chain(&DENY_V6) {
        channel += 1;
        let (p, b, n) = probe(&mut h, ip, channel);
        assert_eq!((p, b, n), (Some(403), Some(403), 0), "{ip} must be denied");
        // Nothing from that peer reaches the client either.
        let peer = SocketAddr::new(ip.parse().unwrap(), 5000);
        let relay = h.server.relayed_addresses(&icebreaker_turn::FiveTuple {
            client: client_for(peer),
            server: addr(common::SERVER),
            transport: icebreaker_turn::Transport::Udp,
        })[0];
        h.server.handle_peer_receive(h.now, relay, peer, b"inbound");
        assert!(h.drain().is_empty(), "{ip} inbound must be dropped");
    }
    for ip in ALLOW {
        channel += 1;
        let (p, b, n) = probe(&mut h, ip, channel);
        // One Send indication and one ChannelData datagram relayed.
        assert_eq!((p, b, n), (None, None, 2), "{ip} must be relayed");
    }
    assert_eq!(h.server.stats().relayed, 8);
}

#[test]
fn a_denied_address_is_reachable_after_an_explicit_allow_entry() {
    let policy = PeerPolicy::with_allow_list(&["127.0.0.0/8", "fd00::/8"]).unwrap();
    let mut h = setup(policy);
    assert_eq!(probe(&mut h, "127.0.0.1", 0x4100), (None, None, 2));
    assert_eq!(probe(&mut h, "fd12:3456:789a::1", 0x4101), (None, None, 2));
    // Only what the entry names: the rest stays denied.
    assert_eq!(probe(&mut h, "10.0.0.1", 0x4102), (Some(403), Some(403), 0));
    assert_eq!(
        probe(&mut h, "169.254.169.254", 0x4103),
        (Some(403), Some(403), 0)
    );
}

#[test]
fn the_servers_own_addresses_are_denied() {
    let config = ServerConfig {
        own_addresses: vec!["8.8.4.4".parse().unwrap()],
        ..common::config()
    };
    let mut h = Harness::with(config);
    let relay = h.allocate(addr(C4));
    assert_eq!(probe(&mut h, "8.8.4.4", 0x4000), (Some(403), Some(403), 0));
    // Nor can a client aim at its own relayed address, or at a listening address.
    assert_eq!(h.bind(addr(C4), 0x4001, relay).code, Some(403));
    assert_eq!(
        h.bind(addr(C4), 0x4002, addr(common::SERVER)).code,
        Some(403)
    );
    assert_eq!(h.permit(addr(C4), addr(common::SERVER)).code, Some(403));
}

#[test]
fn a_malformed_allow_list_fails_closed() {
    for bad in [
        &["127.0.0.0/8", "127.0.0.1/33"][..],
        &["localhost"],
        &["10.0.0.1/8"],
        &[""],
    ] {
        assert!(PeerPolicy::with_allow_list(bad).is_err(), "{bad:?}");
    }
}
