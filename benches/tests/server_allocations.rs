//! The runtime's UDP servers allocate nothing per datagram on their hot paths: icebreaker's
//! `stun-server` and `turn-server` run in this process under a counting global allocator while
//! this thread answers, relays and echoes a few thousand datagrams over loopback.
//!
//! Only this thread and the server's runtime run during a measured stretch, and this thread's
//! loop uses preallocated buffers and plain std sockets, so every allocation counted there is
//! the server's. A handful over thousands of datagrams (a timer, a log line) would still be
//! far below the bound; one per datagram or per batch is far above it.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser as _;
use icebreaker_stun::attributes::{
    ChannelNumber, Nonce, PasswordAlgorithmId, Realm, RequestedTransport, Software, Username,
    XorPeerAddress, XorRelayedAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{Class, Integrity, Message, MessageWriter, Method, TransactionId};

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

/// Datagrams in flight at once, so the server sees batches as under load.
const WINDOW: usize = 32;
/// Allowed allocations per datagram handled (a hundredth: nothing per datagram or per batch).
const BOUND: f64 = 0.01;

/// A port free for UDP and TCP on 127.0.0.1 (the TURN server binds both).
fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// Runs `icebreaker ARGS...` in this process, on a thread of its own (it serves until the
/// process exits).
fn serve(args: &[&str]) {
    let cli = icebreaker::cli::Cli::try_parse_from(["icebreaker"].iter().chain(args))
        .expect("valid arguments");
    thread::spawn(move || icebreaker::cli::run(cli));
}

fn socket(to: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.connect(to).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s
}

/// Sends `req` until an answer with its transaction id comes back (10 s at most).
fn exchange<'b>(s: &UdpSocket, req: &[u8], buf: &'b mut [u8]) -> Message<'b> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    'outer: while Instant::now() < deadline {
        let _ = s.send(req);
        while let Ok(n) = s.recv(buf) {
            if n >= 20 && buf[8..20] == req[8..20] {
                got = Some(n);
                break 'outer;
            }
        }
    }
    let n = got.expect("no answer from the server within 10 s");
    Message::parse(&buf[..n]).expect("a STUN answer")
}

/// Sends `total` datagrams made by `next` on `out`, WINDOW at a time, each answered by one
/// datagram on `back` that `check` accepts; returns how many came back. Allocates nothing.
fn pump(
    total: usize,
    out: &UdpSocket,
    back: &UdpSocket,
    mut next: impl FnMut(usize, &mut [u8]) -> usize,
    mut check: impl FnMut(&[u8], &UdpSocket) -> bool,
) -> usize {
    let mut req = [0u8; 2048];
    let mut buf = [0u8; 2048];
    let (mut sent, mut answered) = (0, 0);
    while answered < total {
        let batch = WINDOW.min(total - answered);
        for _ in 0..batch {
            let n = next(sent, &mut req);
            out.send(&req[..n]).expect("send");
            sent += 1;
        }
        let mut got = 0;
        while got < batch {
            match back.recv(&mut buf) {
                Ok(n) if check(&buf[..n], back) => got += 1,
                Ok(_) => {}
                // Lost on loopback (a full buffer): send the next window.
                Err(_) => break,
            }
        }
        answered += got;
        assert!(
            sent < total * 2,
            "more than half of the datagrams were lost"
        );
    }
    answered
}

fn binding(i: usize, buf: &mut [u8]) -> usize {
    buf[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
    buf[8..12].copy_from_slice(b"allc");
    buf[12..20].copy_from_slice(&(i as u64).to_be_bytes());
    20
}

/// One test, so that no other test's server or thread allocates while a stretch is counted.
#[test]
fn servers_allocate_nothing_per_datagram() {
    stun_server_answers_without_allocating();
    turn_server_relays_channel_data_without_allocating();
}

fn stun_server_answers_without_allocating() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    serve(&["stun-server", "--listen", &listen]);
    let server: SocketAddr = listen.parse().expect("addr");
    let s = socket(server);
    let mut buf = [0u8; 512];
    let mut req = [0u8; 20];
    binding(0, &mut req);
    assert_eq!(exchange(&s, &req, &mut buf).class(), Class::Success);
    let is_answer = |d: &[u8], _: &UdpSocket| d.len() >= 20 && d[..2] == [0x01, 0x01];
    // Warm-up: every lazily made buffer and thread-local is made now.
    pump(2_000, &s, &s, binding, is_answer);
    let before = benches::allocations();
    let answered = pump(10_000, &s, &s, binding, is_answer);
    let allocations = benches::allocations() - before;
    let per = allocations as f64 / answered as f64;
    println!("stun-server: {allocations} allocations for {answered} answers ({per:.5} each)");
    assert!(
        per < BOUND,
        "{allocations} allocations for {answered} answers"
    );
}

/// Allocates a relayed address for `client` (connected to the TURN server; the 401
/// challenge, then long-term credentials as alice), binds channel 0x4001 to a new peer socket
/// and returns that socket, connected to the relayed address.
fn allocate_with_channel(client: &UdpSocket, k: u8) -> UdpSocket {
    let mut buf = [0u8; 2048];
    let mut req = [0u8; 512];
    let tid = |n: u8| TransactionId::new([b'a', b'l', b'l', b'c', 0, 0, 0, 0, 0, 0, k, n]);
    let mut w = MessageWriter::new(&mut req, Class::Request, Method::ALLOCATE, tid(1)).unwrap();
    w.push(&RequestedTransport(17)).unwrap();
    // Long enough for the server's anti-amplification budget to cover its 401.
    w.push(&Software(
        "icebreaker allocation test, padded so the 401 challenge is sent back",
    ))
    .unwrap();
    let n = w.finish(false).unwrap();
    let m = exchange(client, &req[..n], &mut buf);
    let realm = m.get::<Realm<'_>>().unwrap().expect("REALM").0.to_string();
    let nonce = m.get::<Nonce<'_>>().unwrap().expect("NONCE").0.to_string();
    let key = Key::long_term(
        "alice",
        &realm,
        "secret",
        PasswordAlgorithmId::MD5,
        Preparation::OpaqueString,
    )
    .unwrap();
    let signed = |req: &mut [u8], method, t, attrs: &dyn Fn(&mut MessageWriter<'_>)| {
        let mut w = MessageWriter::new(req, Class::Request, method, t).unwrap();
        attrs(&mut w);
        w.push(&Username("alice")).unwrap();
        w.push(&Realm(&realm)).unwrap();
        w.push(&Nonce(&nonce)).unwrap();
        w.finish_with_integrity(&key, Integrity::Sha1, false)
            .unwrap()
    };
    let n = signed(&mut req, Method::ALLOCATE, tid(2), &|w| {
        w.push(&RequestedTransport(17)).unwrap()
    });
    let m = exchange(client, &req[..n], &mut buf);
    assert_eq!(m.class(), Class::Success, "Allocate refused");
    let relayed = m.get::<XorRelayedAddress>().unwrap().expect("relayed").0;
    let peer = socket(relayed);
    let peer_addr = peer.local_addr().unwrap();
    let n = signed(&mut req, Method::CHANNEL_BIND, tid(3), &|w| {
        w.push(&ChannelNumber(0x4001)).unwrap();
        w.push(&XorPeerAddress(peer_addr)).unwrap();
    });
    assert_eq!(
        exchange(client, &req[..n], &mut buf).class(),
        Class::Success,
        "ChannelBind refused"
    );
    peer
}

/// Relays about `total` ChannelData datagrams of `size`-byte payloads between `client` and
/// `peer` (client -> relay -> peer, which echoes; relay -> client as ChannelData), WINDOW at a
/// time; returns how many were relayed, both legs counted. Allocates nothing.
fn round_trips(client: &UdpSocket, peer: &UdpSocket, size: usize, total: usize) -> usize {
    let header = [0x40, 0x01, (size >> 8) as u8, size as u8];
    let channel_data = |i: usize, b: &mut [u8]| {
        b[..4].copy_from_slice(&header);
        b[4..12].copy_from_slice(&(i as u64).to_be_bytes());
        4 + size
    };
    // At the peer: the payload; sent back through the relay.
    let echo = |d: &[u8], _: &UdpSocket| d.len() == size && peer.send(d).is_ok();
    let mut done = 0;
    let mut b = [0u8; 2048];
    while done < total {
        let batch = WINDOW.min(total - done);
        let to_peer = pump(batch, client, peer, channel_data, echo);
        let mut back = 0;
        while back < to_peer {
            match client.recv(&mut b) {
                Ok(n) if n >= 4 + size && b[..4] == header => back += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        done += to_peer + back;
        if to_peer == 0 {
            break;
        }
    }
    done
}

/// As `cargo xtask bench --peers` drives it: eight allocations, 100-byte and 1000-byte
/// payloads, in one counted stretch.
fn turn_server_relays_channel_data_without_allocating() {
    const ALLOCATIONS: u8 = 8;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    serve(&[
        "turn-server",
        "--listen",
        &listen,
        "--realm",
        "alloc.test",
        "--user",
        "alice:secret",
        "--allow-peer",
        "127.0.0.0/8",
    ]);
    let server: SocketAddr = listen.parse().expect("addr");
    let pairs: Vec<(UdpSocket, UdpSocket)> = (0..ALLOCATIONS)
        .map(|k| {
            let client = socket(server);
            let peer = allocate_with_channel(&client, k);
            (client, peer)
        })
        .collect();
    let relay_all = |per_pair: usize| {
        let mut relayed = 0;
        for size in [100, 1000] {
            // Interleaved: a window on each allocation in turn.
            for _ in 0..per_pair / WINDOW {
                for (client, peer) in &pairs {
                    relayed += round_trips(client, peer, size, WINDOW);
                }
            }
        }
        relayed
    };
    relay_all(128);
    let before = benches::allocations();
    let relayed_count = relay_all(1_280);
    let allocations = benches::allocations() - before;
    let per = allocations as f64 / relayed_count as f64;
    println!(
        "turn-server: {allocations} allocations for {relayed_count} relayed ChannelData datagrams, {ALLOCATIONS} allocations, 100 and 1000 bytes ({per:.5} each)"
    );
    assert!(
        relayed_count >= 20_000,
        "only {relayed_count} datagrams relayed"
    );
    assert!(
        per < BOUND,
        "{allocations} allocations for {relayed_count} relayed datagrams"
    );
}
