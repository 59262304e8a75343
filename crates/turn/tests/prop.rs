//! Properties on a virtual clock: quotas hold under random operation sequences, every port comes
//! back after expiry, and permissions and channels lapse at exactly 300 s and 600 s.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Harness, addr, channel_frame};
use icebreaker_stun::Method;
use icebreaker_stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, EvenPort, Lifetime,
    RequestedAddressFamily, RequestedTransport, XorPeerAddress,
};
use icebreaker_turn::ServerConfig;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// `dual`: with ADDITIONAL-ADDRESS-FAMILY (IPv6 beside IPv4).
    Allocate {
        client: u8,
        user: u8,
        even: bool,
        dual: bool,
    },
    /// `family`: 0 none, 1 REQUESTED-ADDRESS-FAMILY IPv4, 2 IPv6.
    Refresh {
        client: u8,
        lifetime: u16,
        family: u8,
    },
    Permit {
        client: u8,
        peer: u8,
    },
    Bind {
        client: u8,
        channel: u8,
        peer: u8,
    },
    Send {
        client: u8,
        peer: u8,
    },
    Advance {
        secs: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..2, any::<bool>(), any::<bool>()).prop_map(|(client, user, even, dual)| {
            Op::Allocate {
                client,
                user,
                even,
                dual,
            }
        }),
        (0u8..6, 0u16..4000, 0u8..3).prop_map(|(client, lifetime, family)| Op::Refresh {
            client,
            lifetime,
            family
        }),
        (0u8..6, 0u8..8).prop_map(|(client, peer)| Op::Permit { client, peer }),
        (0u8..6, 0u8..6, 0u8..8).prop_map(|(client, channel, peer)| Op::Bind {
            client,
            channel,
            peer
        }),
        (0u8..6, 0u8..8).prop_map(|(client, peer)| Op::Send { client, peer }),
        (0u16..900).prop_map(|secs| Op::Advance { secs }),
    ]
}

const USERS: [(&str, &str); 2] = [("alice", "alice-pass"), ("bob", "bob-pass")];
const TOTAL: usize = 3;
const PER_USER: usize = 2;
const PERMS: usize = 3;
const CHANNELS: usize = 2;

fn client(i: u8) -> SocketAddr {
    SocketAddr::new("192.0.2.50".parse().unwrap(), 40000 + u16::from(i))
}

/// Peers 0 to 3 are IPv4, 4 to 7 IPv6.
fn peer(i: u8) -> SocketAddr {
    let ip: std::net::IpAddr = if i < 4 {
        std::net::Ipv4Addr::new(8, 8, 8, 1 + i).into()
    } else {
        std::net::Ipv6Addr::new(0x2606, 0x4700, 0, 0, 0, 0, 0, u16::from(i)).into()
    };
    SocketAddr::new(ip, 9000 + u16::from(i))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_operations_never_exceed_quotas_and_every_port_returns(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::with(ServerConfig {
            total_quota: TOTAL,
            user_quota: PER_USER,
            max_permissions: PERMS,
            max_channels: CHANNELS,
            ..common::config()
        });
        // Which user owns which client's allocation, as the successes say.
        let mut owner: [Option<u8>; 6] = [None; 6];
        for op in ops {
            match op {
                Op::Allocate { client: c, user, even, dual } => {
                    let (u, p) = USERS[usize::from(user)];
                    let a = h.ask_as(client(c), u, p, Method::ALLOCATE, |w| {
                        w.push(&RequestedTransport::UDP).unwrap();
                        if even {
                            w.push(&EvenPort { reserve: true }).unwrap();
                        }
                        if dual {
                            w.push(&AdditionalAddressFamily(AddressFamily::V6)).unwrap();
                        }
                    });
                    if a.class == icebreaker_stun::Class::Success {
                        owner[usize::from(c)] = Some(user);
                    }
                }
                Op::Refresh { client: c, lifetime, family } => {
                    let user = owner[usize::from(c)].unwrap_or(0);
                    let (u, p) = USERS[usize::from(user)];
                    h.ask_as(client(c), u, p, Method::REFRESH, |w| {
                        w.push(&Lifetime(u32::from(lifetime))).unwrap();
                        match family {
                            1 => w.push(&RequestedAddressFamily(AddressFamily::V4)).unwrap(),
                            2 => w.push(&RequestedAddressFamily(AddressFamily::V6)).unwrap(),
                            _ => {}
                        }
                    });
                }
                Op::Permit { client: c, peer: p } => {
                    let user = owner[usize::from(c)].unwrap_or(0);
                    let (u, pw) = USERS[usize::from(user)];
                    h.ask_as(client(c), u, pw, Method::CREATE_PERMISSION, |w| w.push(&XorPeerAddress(peer(p))).unwrap());
                }
                Op::Bind { client: c, channel, peer: p } => {
                    let user = owner[usize::from(c)].unwrap_or(0);
                    let (u, pw) = USERS[usize::from(user)];
                    h.ask_as(client(c), u, pw, Method::CHANNEL_BIND, |w| {
                        w.push(&ChannelNumber(0x4000 + u16::from(channel))).unwrap();
                        w.push(&XorPeerAddress(peer(p))).unwrap();
                    });
                }
                Op::Send { client: c, peer: p } => {
                    let out = h.send_indication(client(c), peer(p), b"x");
                    prop_assert!(out.len() <= 1);
                    // Relayed only from a live relayed address of the peer's family.
                    if let Some((t, _)) = out.first() {
                        let ft = icebreaker_turn::FiveTuple {
                            client: client(c),
                            server: addr(common::SERVER),
                            transport: icebreaker_turn::Transport::Udp,
                        };
                        prop_assert!(h.server.relayed_addresses(&ft).contains(&t.from));
                        prop_assert_eq!(t.from.is_ipv6(), peer(p).is_ipv6());
                    }
                }
                Op::Advance { secs } => h.advance(Duration::from_secs(u64::from(secs))),
            }
            // Forget owners whose allocation expired.
            for (i, o) in owner.iter_mut().enumerate() {
                let ft = icebreaker_turn::FiveTuple {
                    client: client(i as u8),
                    server: addr(common::SERVER),
                    transport: icebreaker_turn::Transport::Udp,
                };
                if h.server.relayed_addresses(&ft).is_empty() {
                    *o = None;
                }
            }
            let s = h.server.stats();
            prop_assert!(s.allocations <= TOTAL);
            prop_assert!(s.permissions <= s.allocations * PERMS);
            prop_assert!(s.channels <= s.allocations * CHANNELS);
            prop_assert!(s.users <= USERS.len());
            let per_user = [0u8, 1].map(|u| owner.iter().filter(|o| **o == Some(u)).count());
            prop_assert!(per_user.iter().all(|n| *n <= PER_USER), "{per_user:?}");
            // Every port in use is a live relayed address or a reservation.
            let relays = h.server.relay_addresses().count();
            prop_assert!(relays >= s.allocations && relays <= 2 * s.allocations);
            prop_assert_eq!(h.server.ports().in_use(), relays + s.reservations);
        }
        h.advance(Duration::from_secs(3601));
        let s = h.server.stats();
        prop_assert_eq!((s.allocations, s.permissions, s.channels, s.reservations, s.users), (0, 0, 0, 0, 0));
        prop_assert_eq!(h.server.ports().in_use(), 0);
    }

    #[test]
    fn a_permission_lapses_at_exactly_300_s(start_ms in 0u64..100_000) {
        let mut h = Harness::new();
        h.advance(Duration::from_millis(start_ms));
        let c = addr("192.0.2.60:1");
        h.allocate(c);
        let p = addr("8.8.8.8:53");
        prop_assert_eq!(h.permit(c, p).class, icebreaker_stun::Class::Success);
        let t = h.now - h.t0;
        h.at(t + Duration::from_secs(300) - Duration::from_nanos(1));
        prop_assert_eq!(h.send_indication(c, p, b"x").len(), 1);
        h.at(t + Duration::from_secs(300));
        prop_assert_eq!(h.send_indication(c, p, b"x").len(), 0);
    }

    #[test]
    fn a_channel_lapses_at_exactly_600_s(start_ms in 0u64..100_000) {
        let mut h = Harness::new();
        h.advance(Duration::from_millis(start_ms));
        let c = addr("192.0.2.61:1");
        h.allocate(c);
        let p = addr("8.8.8.8:53");
        prop_assert_eq!(h.bind(c, 0x4321, p).class, icebreaker_stun::Class::Success);
        let t = h.now - h.t0;
        // Keep the permission (and the allocation) alive separately: only the channel lapses.
        for at in [200, 400, 550] {
            h.at(t + Duration::from_secs(at));
            prop_assert_eq!(h.permit(c, p).class, icebreaker_stun::Class::Success);
            prop_assert_eq!(h.ask(c, Method::REFRESH, |_| {}).class, icebreaker_stun::Class::Success);
        }
        let frame = channel_frame(0x4321, b"x");
        h.at(t + Duration::from_secs(600) - Duration::from_nanos(1));
        prop_assert_eq!(h.channel_data(c, &frame).len(), 1);
        h.at(t + Duration::from_secs(600));
        prop_assert_eq!(h.channel_data(c, &frame).len(), 0);
        // The Send indication still works: the permission is alive, only the channel is gone.
        prop_assert_eq!(h.send_indication(c, p, b"x").len(), 1);
    }
}
