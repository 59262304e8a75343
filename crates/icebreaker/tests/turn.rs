//! `icebreaker turn-server` and `icebreaker turn-client` on loopback with real sockets.

mod common;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::{TempDir, certificates, run};

/// A running `icebreaker turn-server --json`, killed on drop.
struct TurnServer {
    server: common::JsonServer,
    /// Its `listening` line.
    listening: serde_json::Value,
    addr: SocketAddr,
    /// The TLS listening address, when `--tls-listen` was given.
    tls: Option<SocketAddr>,
}

impl TurnServer {
    /// SIGTERM; returns the `stopped` line.
    fn stop(self) -> serde_json::Value {
        self.server.stop()
    }
}

/// Starts `turn-server` on 127.0.0.1 (realm icebreaker.test, user alice:secret) with `extra`.
fn start(extra: &[&str]) -> TurnServer {
    let mut args = vec![
        "turn-server",
        "--listen",
        "127.0.0.1:0",
        "--realm",
        "icebreaker.test",
        "--user",
        "alice:secret",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (server, listening) = common::JsonServer::start(&args);
    let address = |k: &str| -> Option<SocketAddr> { listening[k].as_str()?.parse().ok() };
    let addr = address("udp").unwrap_or_else(|| panic!("no udp address in {listening}"));
    let tls = address("tls");
    TurnServer {
        server,
        listening,
        addr,
        tls,
    }
}

/// A UDP echo peer on 127.0.0.1, stopped on drop (its reads time out every 100 ms).
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Echo {
    fn start() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn client(server: &str, peer: SocketAddr, extra: &[&str]) -> common::Output {
    let peer = peer.to_string();
    let mut args = vec![
        "turn-client",
        server,
        "--user",
        "alice:secret",
        "--peer",
        &peer,
    ];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "5000"]);
    }
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn loopback_peer_is_refused_by_default() {
    let server = start(&[]);
    let echo = Echo::start();
    let out = client(&server.addr.to_string(), echo.addr, &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("403 Forbidden"), "{}", out.stderr);
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(1);
    let v = out.json();
    assert_eq!(v["error"]["code"], 403);
    assert_eq!(v["error"]["reason"], "Forbidden");
    assert_eq!(v["error"]["operation"], "create-permission");
}

/// `--channel`: ChannelBind instead of CreatePermission (its 403 names the channel binding),
/// then the datagram over the channel, over UDP and over TCP.
#[test]
fn a_channel_carries_the_datagram() {
    let refusing = start(&[]);
    let echo = Echo::start();
    let out = client(
        &refusing.addr.to_string(),
        echo.addr,
        &["--channel", "--json"],
    );
    out.expect_code(1);
    let v = out.json();
    assert_eq!(v["error"]["code"], 403);
    assert_eq!(v["error"]["operation"], "channel-bind");

    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    for uri in [
        server.addr.to_string(),
        format!("turn:{}?transport=tcp", server.addr),
    ] {
        let out = client(
            &uri,
            echo.addr,
            &["--channel", "--json", "--message", "on a channel"],
        );
        out.expect_code(0);
        let v = out.json();
        assert_eq!(v["received"], "on a channel", "{uri}");
        assert_eq!(v["from"], echo.addr.to_string(), "{uri}");
        // RFC 8656 §12: channel numbers 0x4000 through 0x4FFF.
        let channel = v["channel"].as_u64().expect("a channel number");
        assert!((0x4000..=0x4fff).contains(&channel), "{uri}: {channel:#x}");
    }
    // Without --channel, no channel is bound.
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(0);
    assert!(out.json()["channel"].is_null());
}

/// `--hold` past the server's `--nonce-lifetime`: the deletion goes out with a stale nonce,
/// takes the 438 and its fresh nonce, and is confirmed on the retry.
#[test]
fn a_stale_nonce_is_renewed() {
    let server = start(&["--allow-peer", "127.0.0.0/8", "--nonce-lifetime", "1"]);
    let echo = Echo::start();
    for uri in [
        server.addr.to_string(),
        format!("turn:{}?transport=tcp", server.addr),
    ] {
        let out = client(&uri, echo.addr, &["--json", "--hold", "2200"]);
        out.expect_code(0);
        let v = out.json();
        assert_eq!(v["received"], "hello from icebreaker", "{uri}");
        assert_eq!(v["deleted"], true, "{uri}: {v}");
    }
}

/// A TCP connection that never allocates is closed after `--stream-idle`, so silent
/// connections cannot hold the server's connection slots; one whose allocation is alive stays
/// open past it (the client holds its allocation 2.5 s against an idle limit of 1 s).
#[test]
fn silent_stream_connections_are_closed_and_allocated_ones_kept() {
    use std::io::Read as _;
    let server = start(&["--allow-peer", "127.0.0.0/8", "--stream-idle", "1"]);
    let mut silent = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let got = silent.read(&mut buf);
    assert!(
        matches!(got, Ok(0) | Err(_)) && t0.elapsed() < Duration::from_secs(4),
        "{got:?} after {:?}",
        t0.elapsed()
    );
    assert!(!matches!(got, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock));
    let echo = Echo::start();
    let uri = format!("turn:{}?transport=tcp", server.addr);
    let out = client(&uri, echo.addr, &["--json", "--hold", "2500"]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["received"], "hello from icebreaker");
    assert_eq!(v["deleted"], true, "{v}");
}

/// `--json`: the listening line names the addresses, and the stopped line counts what the
/// server relayed (one datagram out to the echo peer and one back, over a channel).
#[test]
fn json_lines_name_the_addresses_and_count_what_was_relayed() {
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let listening = &server.listening;
    let udp = listening["udp"].as_str().expect("udp");
    assert_eq!(udp, server.addr.to_string());
    assert_eq!(listening["tcp"], udp, "{listening}");
    assert!(listening["tls"].is_null(), "{listening}");
    assert_eq!(listening["relay_ip"], "127.0.0.1", "{listening}");
    let echo = Echo::start();
    let out = client(
        &server.addr.to_string(),
        echo.addr,
        &["--channel", "--json", "--message", "counted"],
    );
    out.expect_code(0);
    assert_eq!(out.json()["received"], "counted");
    let stopped = server.stop();
    assert_eq!(stopped["relayed"], 2, "{stopped}");
    assert_eq!(stopped["relayed_bytes"], 2 * "counted".len(), "{stopped}");
    // The client deleted its allocation before it exited.
    assert_eq!(stopped["allocations"], 0, "{stopped}");
}

#[test]
fn loopback_peer_works_when_allowed_udp_and_tcp() {
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let echo = Echo::start();
    let out = client(
        &server.addr.to_string(),
        echo.addr,
        &["--json", "--message", "ping through the relay"],
    );
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["received"], "ping through the relay");
    assert_eq!(v["from"], echo.addr.to_string());
    assert_eq!(v["transport"], "udp");
    let relayed = v["relayed"][0].as_str().unwrap();
    assert!(relayed.starts_with("127.0.0.1:"), "{relayed}");

    let uri = format!("turn:{}?transport=tcp", server.addr);
    let out = client(&uri, echo.addr, &["--json"]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["transport"], "tcp");
    assert_eq!(v["received"], "hello from icebreaker");

    // A wrong password is refused with the server's code.
    let peer = echo.addr.to_string();
    let addr = server.addr.to_string();
    let out = run(&[
        "turn-client",
        &addr,
        "--user",
        "alice:wrong",
        "--peer",
        &peer,
        "--timeout",
        "5000",
    ]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("refused the allocation: 401"),
        "{}",
        out.stderr
    );
}

#[test]
fn garbage_never_stops_the_server() {
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let echo = Echo::start();
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0],
        vec![0xff; 1500],
        // A STUN header that claims more than it has.
        vec![
            0x00, 0x03, 0x01, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ],
        // ChannelData on an unbound channel, and with a lying length.
        vec![0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4],
        vec![0x4f, 0xff, 0xff, 0xff, 1],
    ];
    let mut x: u32 = 0x1234_5678;
    for len in [20usize, 28, 100, 548, 1200] {
        let mut p = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p.push(x as u8);
        }
        // Keep the STUN-looking first two bits on half of them.
        if len % 2 == 0 {
            p[0] &= 0x3f;
        }
        payloads.push(p);
    }
    for _ in 0..20 {
        for p in &payloads {
            junk.send_to(p, server.addr).unwrap();
        }
    }
    // Garbage on a TCP connection too: the connection closes, the server stays.
    if let Ok(mut s) = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)) {
        let _ = s.write_all(&[0xc0; 64]);
    }
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(0);
    assert_eq!(out.json()["received"], "hello from icebreaker");
}

#[test]
fn bad_arguments_are_bad_input() {
    // turn-server with --listen 127.0.0.1:0 and `rest`.
    let server = |rest: &[&str]| -> Vec<String> {
        ["turn-server", "--listen", "127.0.0.1:0"]
            .iter()
            .chain(rest)
            .map(|a| a.to_string())
            .collect()
    };
    // turn-client to `uri` as `user`, to peer 127.0.0.1:9.
    let client = |uri: &str, user: &str| -> Vec<String> {
        ["turn-client", uri, "--user", user, "--peer", "127.0.0.1:9"]
            .map(String::from)
            .to_vec()
    };
    // A user name no USERNAME attribute can carry; a REALM or SOFTWARE no answer can carry.
    let long_user = format!("{}:pass", "u".repeat(513));
    let long = "é".repeat(128);
    let dir = TempDir::new("bad-pem");
    let junk = dir.write("junk.pem", "not a certificate\n");
    let tls = ["--tls-listen", "127.0.0.1:0"];
    // (arguments, what stderr names; "" when only the exit status is checked)
    let cases: Vec<(Vec<String>, &str)> = vec![
        (server(&["--realm", "r"]), "--user"),
        (
            [
                "turn-server",
                "--listen",
                "0.0.0.0:0",
                "--realm",
                "r",
                "--user",
                "a:b",
            ]
            .map(String::from)
            .to_vec(),
            "--relay-ip",
        ),
        (
            server(&["--realm", "r", "--user", &long_user]),
            "at most 512",
        ),
        (
            server(&["--user", "a:b", "--realm", &long]),
            "at most 127 characters",
        ),
        (
            server(&["--user", "a:b", "--realm", "r", "--software", &long]),
            "at most 127 characters",
        ),
        (
            server(&[
                "--realm",
                "r",
                "--user",
                "a:b",
                "--allow-peer",
                "10.0.0.0/33",
            ]),
            "",
        ),
        (client("turns:127.0.0.1?transport=udp", "a:b"), "DTLS"),
        // --tls-listen without a certificate, and a certificate that is not PEM.
        (
            server(&[&["--realm", "r", "--user", "a:b"][..], &tls].concat()),
            "",
        ),
        (
            server(
                &[
                    &["--realm", "r", "--user", "a:b"][..],
                    &tls,
                    &["--cert", &junk, "--key", &junk],
                ]
                .concat(),
            ),
            "junk.pem",
        ),
        (client("turn:127.0.0.1?transport=sctp", "a:b"), ""),
        (client("127.0.0.1", "nocolon"), ""),
    ];
    for (args, names) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        out.expect_code(2);
        assert!(out.stderr.contains(names), "{args:?}: {}", out.stderr);
    }
}

fn start_tls(dir: &TempDir) -> (TurnServer, String) {
    let (ca, cert, key) = certificates(dir);
    let server = start(&[
        "--allow-peer",
        "127.0.0.0/8",
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    assert!(server.tls.is_some(), "no TLS address announced");
    (server, ca)
}

#[test]
fn allocate_and_relay_over_tls() {
    let dir = TempDir::new("tls");
    let (server, ca) = start_tls(&dir);
    let tls = server.tls.unwrap();
    let echo = Echo::start();
    for uri in [
        format!("turns:{tls}"),
        format!("turns:localhost:{}?transport=tcp", tls.port()),
    ] {
        let out = client(
            &uri,
            echo.addr,
            &["--json", "--ca", &ca, "--message", "through TLS"],
        );
        out.expect_code(0);
        let v = out.json();
        assert_eq!(v["transport"], "tls", "{uri}");
        assert_eq!(v["received"], "through TLS", "{uri}");
        assert_eq!(v["from"], echo.addr.to_string());
        assert_eq!(v["server"], tls.to_string());
    }
    // The certificate is verified: without the test CA (system roots only) the handshake fails.
    let out = client(&format!("turns:{tls}"), echo.addr, &["--json"]);
    out.expect_code(1);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    // And it is verified for the name in the URI.
    let out = client(
        &format!("turns:127.0.0.2:{}", tls.port()),
        echo.addr,
        &["--ca", &ca, "--timeout", "2000"],
    );
    out.expect_code(1);
}

#[test]
fn the_tls_port_survives_garbage_plain_tcp_and_failed_handshakes() {
    let dir = TempDir::new("tls-abuse");
    let (server, ca) = start_tls(&dir);
    let tls = server.tls.unwrap();
    let echo = Echo::start();
    // A plain-TCP TURN client on the TLS port: a STUN Binding request is not a ClientHello.
    let binding = [
        0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    let mut attempts: Vec<Vec<u8>> = vec![binding.to_vec(), vec![0xff; 4096], Vec::new()];
    // A TLS record header that promises more than ever comes, then silence (the handshake
    // deadline ends it; the test does not wait for that).
    attempts.push(vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01]);
    let mut held = Vec::new();
    for bytes in &attempts {
        let mut s = TcpStream::connect_timeout(&tls, Duration::from_secs(5)).unwrap();
        let _ = s.write_all(bytes);
        held.push(s);
    }
    // The plain-TCP client through the real binary: it gets no answer and times out.
    let out = client(
        &format!("turn:{tls}?transport=tcp"),
        echo.addr,
        &["--timeout", "1000"],
    );
    out.expect_code(1);
    // A TLS client that refuses the certificate (a failed handshake from the client's side).
    let out = client(&format!("turns:{tls}"), echo.addr, &["--timeout", "2000"]);
    out.expect_code(1);
    // The server still serves TLS, TCP and UDP.
    let out = client(&format!("turns:{tls}"), echo.addr, &["--json", "--ca", &ca]);
    out.expect_code(0);
    assert_eq!(out.json()["received"], "hello from icebreaker");
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(0);
    let out = client(
        &format!("turn:{}?transport=tcp", server.addr),
        echo.addr,
        &["--json"],
    );
    out.expect_code(0);
    drop(held);
}

/// Allocates over a fresh TCP connection with icebreaker-turn's sans-IO client, then closes
/// the connection without deleting the allocation. Returns the failure code, if any.
fn allocate_over_tcp_and_hang_up(server: SocketAddr) -> Option<u16> {
    use icebreaker_stun::framing::{FramerConfig, StreamFramer};
    use icebreaker_turn::{Client, ClientConfig, Event, Transport};
    use std::io::Read as _;
    use std::time::Instant;

    let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let local = stream.local_addr().unwrap();
    let mut config = ClientConfig::new(local, server, "alice", "secret");
    config.transport = Transport::Tcp;
    let mut client = Client::new(config);
    client.allocate(Instant::now());
    let mut framer = StreamFramer::new(FramerConfig::default());
    let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        while client.poll_transmit(&mut out).is_some() {
            stream.write_all(&out).unwrap();
        }
        while let Some(e) = client.poll_event() {
            match e {
                Event::Allocated { .. } => return None,
                Event::Failed { code, .. } => return Some(code.unwrap_or(0)),
                _ => {}
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(0),
            Ok(n) => {
                framer.push(&buf[..n]).unwrap();
                while let Some(f) = framer.next_frame().unwrap() {
                    let _ = client.handle_receive(Instant::now(), server, local, f.as_bytes());
                }
            }
            Err(_) => client.handle_timeout(Instant::now()),
        }
    }
    panic!("no answer to the TCP Allocate within 5 s");
}

/// RFC 8656 §3.1: an allocation made over a stream ends with the connection, so a client that
/// connects again can allocate again (turnutils_uclient reconnects from the same port).
#[test]
fn a_tcp_allocation_is_freed_when_its_connection_closes() {
    // With one allocation per user, a leaked allocation makes every later Allocate a 486.
    let server = start(&["--user-quota", "1"]);
    assert_eq!(allocate_over_tcp_and_hang_up(server.addr), None);
    // The server learns of the close asynchronously: allow it a moment, bounded.
    let mut codes = Vec::new();
    for _ in 0..20 {
        match allocate_over_tcp_and_hang_up(server.addr) {
            None => return,
            Some(code) => codes.push(code),
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("the closed connection's allocation was never freed: {codes:?}");
}
