//! TURN benchmarks.
//!
//! - relay/client_to_peer: one ChannelData message from a client through
//!   `Server::relay_channel_data` (channel lookup, permission, bandwidth bucket), 100-byte
//!   payload, excluding the syscall.
//! - relay/peer_to_client: one peer datagram through `Server::relay_to_channel`, the header
//!   written in place in the receive buffer.
//! - relay/*_1000: the same on a server holding 1000 allocations, each with a channel (the
//!   lookups by 5-tuple and by relayed address on a busy server).
//! - allocate/authenticated: a full Allocate: the unauthenticated request, the 401 with a fresh
//!   stateless nonce, the signed retry (SHA-256 key, MESSAGE-INTEGRITY-SHA256) and the signed
//!   success, through both state machines.
//!
//! Heap allocations per operation are counted with a counting global allocator and printed
//! before the timings; the relay paths must allocate nothing.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use benches::allocations_per_op;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use icebreaker_turn::{
    Client, ClientConfig, ClientRelay, Event, PeerRelay, PortPool, Received, Server, ServerConfig,
};

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SERVER: &str = "203.0.113.1:3478";
const CLIENT: &str = "198.51.100.7:50000";
const PEER: &str = "8.8.8.8:5000";

fn server(now: Instant) -> Server {
    let config = ServerConfig {
        realm: "example.org".into(),
        users: vec![("alice".into(), "secret".into())],
        nonce_secret: [1; 32],
        user_quota: 2000,
        total_quota: 2000,
        ..Default::default()
    };
    let ports = PortPool::new(Some(addr(SERVER).ip()), None, 49152..=65535, [2; 32]);
    Server::new(config, ports, now)
}

fn client() -> Client {
    client_at(addr(CLIENT))
}

fn client_at(local: SocketAddr) -> Client {
    Client::new(ClientConfig::new(local, addr(SERVER), "alice", "secret"))
}

/// A client at `local` with an allocation and a channel to `peer` on `srv`; returns it with
/// its relayed address and channel number.
fn bound_client(
    now: Instant,
    srv: &mut Server,
    local: SocketAddr,
    peer: SocketAddr,
) -> (Client, SocketAddr, u16) {
    let mut cl = client_at(local);
    let mut buf = Vec::new();
    cl.allocate(now);
    assert!(shuttle(now, srv, &mut cl, &mut buf));
    let ch = cl.bind_channel(now, peer).unwrap();
    shuttle(now, srv, &mut cl, &mut buf);
    let relay = cl.relayed_addresses()[0];
    (cl, relay, ch)
}

/// Shuttles datagrams until quiet; returns whether the client reported an allocation.
fn shuttle(now: Instant, server: &mut Server, client: &mut Client, buf: &mut Vec<u8>) -> bool {
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit(buf) {
            server.handle_receive(now, t.from, t.to, buf);
            moved = true;
        }
        while let Some(t) = server.poll_transmit(buf) {
            let _ = client.handle_receive(now, t.from, t.to, buf);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let mut allocated = false;
    while let Some(e) = client.poll_event() {
        allocated |= matches!(e, Event::Allocated { .. });
    }
    allocated
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut srv = server(now);
    let mut cl = client();
    let mut buf = Vec::new();
    cl.allocate(now);
    assert!(shuttle(now, &mut srv, &mut cl, &mut buf));
    let peer = addr(PEER);
    let ch = cl.bind_channel(now, peer).unwrap();
    shuttle(now, &mut srv, &mut cl, &mut buf);
    let relay = cl.relayed_addresses()[0];

    let payload = [0x5a_u8; 100];
    let mut frame = [0u8; 104];
    let n = icebreaker_stun::ChannelData::encode(ch, &payload, false, &mut frame).unwrap();
    let mut inbound = [0u8; 4 + 100 + 3];
    let (client_addr, server_addr) = (addr(CLIENT), addr(SERVER));

    let mut up = || {
        let r = srv.relay_channel_data(now, client_addr, server_addr, black_box(&frame[..n]));
        assert!(matches!(r, ClientRelay::Relayed { .. }));
        black_box(r);
    };
    let up_allocs = allocations_per_op(&mut up);
    let mut down = || {
        let r = srv.relay_to_channel(now, relay, peer, black_box(&mut inbound), 100);
        assert!(matches!(r, PeerRelay::Channel { len: 104, .. }));
        black_box(r);
    };
    let down_allocs = allocations_per_op(&mut down);
    let alloc_allocs = allocations_per_op(|| {
        let mut s = server(now);
        let mut c = client();
        let mut b = Vec::new();
        c.allocate(now);
        assert!(shuttle(now, &mut s, &mut c, &mut b));
    });
    println!("heap allocations per operation:");
    println!("  relay/client_to_peer     {up_allocs}");
    println!("  relay/peer_to_client     {down_allocs}");
    println!("  allocate/authenticated   {alloc_allocs} (server and client construction included)");
    assert_eq!(
        (up_allocs, down_allocs),
        (0.0, 0.0),
        "the relay paths must not allocate"
    );

    let mut g = c.benchmark_group("turn/relay");
    g.throughput(Throughput::Bytes(100));
    g.bench_function("client_to_peer", |b| {
        b.iter(|| {
            black_box(srv.relay_channel_data(now, client_addr, server_addr, black_box(&frame[..n])))
        })
    });
    g.bench_function("peer_to_client", |b| {
        b.iter(|| black_box(srv.relay_to_channel(now, relay, peer, black_box(&mut inbound), 100)))
    });

    // A busy server: 1000 allocations, each with a channel to the peer; measure one in the
    // middle.
    let mut busy = server(now);
    let mut middle = None;
    for i in 0..1000u16 {
        // One address per client: the 401 rate limit is per source IP.
        let ip = std::net::Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8);
        let local = SocketAddr::new(ip.into(), 20_000 + i);
        let (_, r, c) = bound_client(now, &mut busy, local, peer);
        if i == 500 {
            middle = Some((local, r, c));
        }
    }
    let (busy_client, busy_relay, busy_ch) = middle.unwrap();
    let mut busy_frame = [0u8; 104];
    let bn =
        icebreaker_stun::ChannelData::encode(busy_ch, &payload, false, &mut busy_frame).unwrap();
    assert!(matches!(
        busy.relay_channel_data(now, busy_client, server_addr, &busy_frame[..bn]),
        ClientRelay::Relayed { .. }
    ));
    assert!(matches!(
        busy.relay_to_channel(now, busy_relay, peer, &mut inbound, 100),
        PeerRelay::Channel { len: 104, .. }
    ));
    g.bench_function("client_to_peer_1000", |b| {
        b.iter(|| {
            black_box(busy.relay_channel_data(
                now,
                busy_client,
                server_addr,
                black_box(&busy_frame[..bn]),
            ))
        })
    });
    g.bench_function("peer_to_client_1000", |b| {
        b.iter(|| {
            black_box(busy.relay_to_channel(now, busy_relay, peer, black_box(&mut inbound), 100))
        })
    });
    g.finish();

    c.bench_function("turn/allocate/authenticated", |b| {
        b.iter_batched(
            || (server(now), client(), Vec::with_capacity(1500)),
            |(mut s, mut c, mut b)| {
                c.allocate(now);
                assert!(shuttle(now, &mut s, &mut c, &mut b));
                (s, c)
            },
            BatchSize::SmallInput,
        )
    });
    let _ = Received::Handled;
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
