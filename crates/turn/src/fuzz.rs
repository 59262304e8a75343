//! Fuzz entry points (used by `fuzz/fuzz_targets/turn_*.rs` and by the corpus replay test).
//! The caller passes the epoch (`Instant::now()` in the target): this crate reads no clock.

use core::net::SocketAddr;
use icebreaker_stun::attributes::AddressFamily;
use std::time::{Duration, Instant};

use crate::{Client, ClientConfig, PeerPolicy, PortPool, Server, ServerConfig, Transport, Via};

const SERVER: &str = "203.0.113.1:3478";
const CLIENT: &str = "192.0.2.10:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// A server with one real allocation (made by the client) and a permission and channel for
/// 8.8.8.8:9, so fuzzed input reaches the relay paths; `df`: whether it can set the DF bit.
fn fixture(now: Instant, df: bool) -> (Server, Client) {
    let config = ServerConfig {
        realm: "fuzz".into(),
        users: vec![("alice".into(), "secret".into())],
        auth_secrets: vec![b"rest".to_vec()],
        nonce_secret: [3; 32],
        total_quota: 4,
        user_quota: 2,
        max_permissions: 4,
        max_channels: 4,
        max_queued: 64,
        rate_limit_slots: 16,
        peer_policy: PeerPolicy::with_allow_list(&["10.9.0.0/16"]).unwrap_or_default(),
        dont_fragment: df,
        ..Default::default()
    };
    let ports = PortPool::new(
        Some(addr("203.0.113.1:0").ip()),
        Some("2001:db9::1".parse().unwrap_or(addr(SERVER).ip())),
        50000..=50007,
        [4; 32],
    );
    let mut server = Server::new(config, ports, now);
    let mut cc = ClientConfig::new(addr(CLIENT), addr(SERVER), "alice", "secret");
    cc.rng_seed = [5; 32];
    let mut client = Client::new(cc);
    client.allocate(now);
    shuttle(now, &mut server, &mut client);
    let peer = addr("8.8.8.8:9");
    let _ = client.create_permission(now, peer.ip());
    let _ = client.bind_channel(now, peer);
    shuttle(now, &mut server, &mut client);
    (server, client)
}

fn shuttle(now: Instant, server: &mut Server, client: &mut Client) {
    let mut buf = Vec::new();
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = client.poll_transmit(&mut buf) {
            server.handle_receive(now, t.from, t.to, &buf);
            moved = true;
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            if t.via == Via::Listener(Transport::Udp) {
                let _ = client.handle_receive(now, t.from, t.to, &buf);
            }
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// Server fuzzing: `data` is a sequence of records `[dt, kind, source, len, bytes...]`: advance
/// the clock by `dt` × 5 s, then deliver `bytes` from one of a few sources, as a client datagram
/// (UDP or a TCP frame) or as peer data on a relayed address. An input of odd length runs a
/// server that cannot set the DF bit. Checks the invariants: bounded state, nothing relayed to
/// a denied peer, and DF never asked of a server that cannot set it.
#[doc(hidden)]
pub fn fuzz_server(epoch: Instant, data: &[u8]) {
    let t0 = epoch;
    let df = data.len().is_multiple_of(2);
    let (mut server, _client) = fixture(t0, df);
    let relays: Vec<SocketAddr> = server.relay_addresses().collect();
    let sources = [
        addr(CLIENT),
        addr("192.0.2.11:40001"),
        addr("8.8.8.8:9"),
        addr("[2001:db9::5]:7"),
        addr("10.9.1.1:5"),
    ];
    let mut now = t0;
    let mut rest = data;
    let mut buf = Vec::new();
    while let [dt, kind, src, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_secs(u64::from(*dt % 32) * 5);
        let from = sources[usize::from(*src) % sources.len()];
        match kind % 4 {
            0 => server.handle_receive(now, from, addr(SERVER), bytes),
            1 => server.handle_receive_on(now, Transport::Tcp, from, addr(SERVER), bytes),
            2 => {
                let relay = relays
                    .get(usize::from(*src) % relays.len().max(1))
                    .copied()
                    .unwrap_or(addr(SERVER));
                server.handle_peer_receive(now, relay, from, bytes);
            }
            _ => {
                if let crate::ClientRelay::Relayed { transmit, .. } =
                    server.relay_channel_data(now, from, addr(SERVER), bytes)
                {
                    assert!(
                        df || transmit.via
                            == Via::Relay {
                                dont_fragment: false
                            }
                    );
                }
                let mut frame = vec![0u8; bytes.len() + 8];
                frame[4..4 + bytes.len()].copy_from_slice(bytes);
                let relay = relays.first().copied().unwrap_or(addr(SERVER));
                let _ = server.relay_to_channel(now, relay, from, &mut frame, bytes.len());
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            if let Via::Relay { dont_fragment } = t.via {
                assert!(
                    server.policy().permits(t.to.ip()),
                    "relayed to a denied peer {}",
                    t.to
                );
                assert!(df || !dont_fragment, "DF asked of a server that cannot");
            }
        }
        let s = server.stats();
        assert!(
            s.allocations <= 4 && s.permissions <= 16 && s.channels <= 16 && s.reservations <= 4
        );
        assert!(server.ports().in_use() <= 8);
        // Every port held is a live relayed address or a reservation: none leaks.
        assert_eq!(
            server.ports().in_use(),
            server.relay_addresses().count() + s.reservations
        );
    }
    server.handle_timeout(now + Duration::from_secs(7200));
    assert_eq!(server.stats().allocations, 0);
    assert_eq!(server.ports().in_use(), 0);
}

/// Client fuzzing: `data` is a sequence of records `[dt, flags, len, bytes...]` delivered as
/// datagrams from the server; with bit 0 of `flags` the transaction id of the last request sent
/// is patched in, so fuzzed responses reach the response handling. An input of odd length
/// has the client ask for DONT-FRAGMENT with the fallback on (which only an authenticated 420
/// may trigger: an unsigned one, as fuzzed input makes, must fail the Allocate).
#[doc(hidden)]
pub fn fuzz_client(epoch: Instant, data: &[u8]) {
    let t0 = epoch;
    let mut cc = ClientConfig::new(addr(CLIENT), addr(SERVER), "alice", "secret");
    cc.rng_seed = [6; 32];
    cc.dont_fragment = !data.len().is_multiple_of(2);
    cc.dont_fragment_fallback = true;
    let mut client = Client::new(cc);
    client.allocate(t0);
    let mut now = t0;
    let mut buf = Vec::new();
    let mut last_tid = [0u8; 12];
    let mut rest = data;
    let mut scratch = vec![0u8; 2048];
    while let [dt, flags, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        while client.poll_transmit(&mut buf).is_some() {
            if let Some(tid) = buf.get(8..20) {
                last_tid.copy_from_slice(tid);
            }
        }
        now += Duration::from_millis(u64::from(*dt) * 250);
        let mut msg = bytes.to_vec();
        if let Some(slot) = msg.get_mut(8..20).filter(|_| flags & 1 != 0) {
            slot.copy_from_slice(&last_tid);
        }
        let _ = client.handle_receive(now, addr(SERVER), addr(CLIENT), &msg);
        if flags & 2 != 0 {
            let _ = client.create_permission(now, addr("8.8.8.8:1").ip());
            let _ = client.bind_channel(now, addr("8.8.8.8:1"));
            let _ = client.send_into(addr("8.8.8.8:1"), b"x", &mut scratch);
        }
        if flags & 4 != 0 {
            let _ = client.delete(now);
        }
        if flags & 8 != 0 {
            let family = if flags & 16 != 0 {
                AddressFamily::V6
            } else {
                AddressFamily::V4
            };
            let _ = client.delete_family(now, family);
        }
        client.handle_timeout(now);
        while client.poll_event().is_some() {}
        let _ = client.poll_timeout();
    }
}
