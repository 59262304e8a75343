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
    start_on("127.0.0.1:0", extra)
}

/// Starts `turn-server` listening (and relaying) on `listen`, with `extra`.
fn start_on(listen: &str, extra: &[&str]) -> TurnServer {
    let mut args = vec![
        "turn-server",
        "--listen",
        listen,
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

/// `--dont-fragment`: the Allocate and the Send indication carry DONT-FRAGMENT, which this
/// server supports on Linux, and the output says it was accepted (text and JSON); without the
/// flag the JSON field is null. ChannelData cannot carry it, so `--channel` is refused.
#[test]
fn dont_fragment_is_asked_for_and_reported() {
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let echo = Echo::start();
    let addr = server.addr.to_string();
    let out = client(&addr, echo.addr, &["--dont-fragment", "--json"]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["dont_fragment"], true, "{v}");
    assert_eq!(v["received"], "hello from icebreaker");
    let out = client(&addr, echo.addr, &["--dont-fragment"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("dont fragment    accepted"),
        "{}",
        out.stdout
    );
    let out = client(&addr, echo.addr, &["--json"]);
    out.expect_code(0);
    assert!(out.json()["dont_fragment"].is_null());
    let out = client(&addr, echo.addr, &["--dont-fragment", "--channel"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--channel"), "{}", out.stderr);
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

/// `--external-ip`: clients are given relayed addresses with the external IP (where a 1:1 NAT
/// would take peers' datagrams to the relay IP), while the datagrams still leave from, and
/// come back to, the relay IP at the same port.
#[test]
fn clients_are_given_the_external_ip() {
    let server = start(&["--allow-peer", "127.0.0.0/8", "--external-ip", "127.0.0.3"]);
    assert_eq!(server.listening["relay_ip"], "127.0.0.1");
    assert_eq!(server.listening["external_ip"], "127.0.0.3");
    // An echo peer that notes where each datagram came from.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer = sock.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (n, from) = sock.recv_from(&mut buf).ok()?;
        sock.send_to(&buf[..n], from).ok()?;
        Some(from)
    });
    let out = client(
        &server.addr.to_string(),
        peer,
        &["--json", "--message", "through a 1:1 NAT"],
    );
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["received"], "through a 1:1 NAT", "{v}");
    let relayed: SocketAddr = v["relayed"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(relayed.ip().to_string(), "127.0.0.3", "{v}");
    let from = echo.join().unwrap().expect("the echo peer got nothing");
    assert_eq!(from, SocketAddr::from(([127, 0, 0, 1], relayed.port())));
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
        (
            server(&["--realm", "r", "--user", "a:b", "--external-ip", "::1"]),
            "different families",
        ),
        (
            server(&["--realm", "r", "--user", "a:b", "--external-ip", "0.0.0.0"]),
            "not an address peers can send to",
        ),
        (
            [
                "turn-server",
                "--listen",
                "[::1]:0",
                "--realm",
                "r",
                "--user",
                "a:b",
                "--external-ip",
                "::ffff:192.0.2.1",
            ]
            .map(String::from)
            .to_vec(),
            "IPv4-mapped",
        ),
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
        (
            server(&["--realm", "r", "--user", "a:b", "--max-connections", "0"]),
            "--max-connections",
        ),
        (
            server(&[
                "--realm",
                "r",
                "--user",
                "a:b",
                "--relay-ip",
                "::ffff:127.0.0.1",
            ]),
            "IPv4-mapped",
        ),
        (
            server(&[
                "--realm",
                "r",
                "--user",
                "a:b",
                "--max-connections-per-ip",
                "65537",
            ]),
            "--max-connections-per-ip",
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

/// How a [`Turn`] client reaches its server.
enum Link {
    Tcp(TcpStream, icebreaker_stun::framing::StreamFramer),
    /// Connected to the server.
    Udp(UdpSocket),
}

/// A TURN client (alice) over TCP or UDP: icebreaker-turn's sans-IO client, driven by hand.
struct Turn {
    link: Link,
    client: icebreaker_turn::Client,
    server: SocketAddr,
    local: SocketAddr,
}

impl Turn {
    /// Connects to `server` over TCP (reads time out after 200 ms).
    fn tcp(server: SocketAddr) -> Self {
        use icebreaker_stun::framing::{FramerConfig, StreamFramer};
        let stream = TcpStream::connect_timeout(&server, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = stream.local_addr().unwrap();
        let framer = StreamFramer::new(FramerConfig::default());
        Self::new(Link::Tcp(stream, framer), server, local, |c| {
            c.transport = icebreaker_turn::Transport::Tcp;
        })
    }

    /// A client over UDP from 127.0.0.1 (::1 for a server on IPv6), its configuration adjusted
    /// by `configure`.
    fn udp(server: SocketAddr, configure: impl FnOnce(&mut icebreaker_turn::ClientConfig)) -> Self {
        let local = if server.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let sock = UdpSocket::bind(local).unwrap();
        sock.connect(server).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = sock.local_addr().unwrap();
        Self::new(Link::Udp(sock), server, local, configure)
    }

    fn new(
        link: Link,
        server: SocketAddr,
        local: SocketAddr,
        configure: impl FnOnce(&mut icebreaker_turn::ClientConfig),
    ) -> Self {
        let mut config = icebreaker_turn::ClientConfig::new(local, server, "alice", "secret");
        configure(&mut config);
        Self {
            link,
            client: icebreaker_turn::Client::new(config),
            server,
            local,
        }
    }

    /// Sends what the client queued.
    fn flush(&mut self) {
        let mut out = Vec::new();
        while self.client.poll_transmit(&mut out).is_some() {
            match &mut self.link {
                Link::Tcp(s, _) => s.write_all(&out).unwrap(),
                Link::Udp(s) => {
                    s.send(&out).unwrap();
                }
            }
        }
    }

    /// Reads once and hands every message that arrived to `each`, with what the client made
    /// of it: `Some(false)` after a read timeout, `None` when the connection closed.
    fn read(&mut self, mut each: impl FnMut(icebreaker_turn::Received<'_>)) -> Option<bool> {
        use std::io::Read as _;
        use std::time::Instant;
        let mut buf = vec![0u8; 64 * 1024];
        let (server, local) = (self.server, self.local);
        match &mut self.link {
            Link::Tcp(stream, framer) => match stream.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    framer.push(&buf[..n]).unwrap();
                    while let Some(f) = framer.next_frame().unwrap() {
                        each(self.client.handle_receive(
                            Instant::now(),
                            server,
                            local,
                            f.as_bytes(),
                        ));
                    }
                    Some(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
                Err(_) => Some(false),
            },
            Link::Udp(sock) => match sock.recv(&mut buf) {
                Ok(n) => {
                    each(
                        self.client
                            .handle_receive(Instant::now(), server, local, &buf[..n]),
                    );
                    Some(true)
                }
                Err(_) => Some(false),
            },
        }
    }

    /// Sends what the client queued and feeds it what arrives until `pick` takes an event;
    /// `None` when the connection closes or 5 s pass.
    fn until<T>(&mut self, mut pick: impl FnMut(icebreaker_turn::Event) -> Option<T>) -> Option<T> {
        use std::time::Instant;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            self.flush();
            while let Some(e) = self.client.poll_event() {
                if let Some(t) = pick(e) {
                    return Some(t);
                }
            }
            match self.read(|_| {}) {
                None => return None,
                Some(true) => {}
                Some(false) => self.client.handle_timeout(Instant::now()),
            }
        }
        None
    }

    /// Reads until 600 ms pass without data (at most 10 s): how many messages carried a
    /// `len`-byte payload from a peer, and how many were anything else.
    fn drain(&mut self, len: usize) -> (usize, usize) {
        use icebreaker_turn::Received;
        use std::time::Instant;
        let (mut whole, mut other, mut quiet) = (0, 0, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while quiet < 3 && Instant::now() < deadline {
            let got = self.read(|r| match r {
                Received::PeerData { data, .. } if data.len() == len => whole += 1,
                _ => other += 1,
            });
            match got {
                None => break,
                Some(true) => quiet = 0,
                Some(false) => quiet += 1,
            }
        }
        (whole, other)
    }

    /// Allocates: the relayed address, or the failure code (0 when the connection closed).
    fn allocate(&mut self) -> Result<SocketAddr, u16> {
        use icebreaker_turn::Event;
        self.client.allocate(std::time::Instant::now());
        let got = self.until(|e| match e {
            Event::Allocated { .. } => Some(Ok(())),
            Event::Failed { code, .. } => Some(Err(code.unwrap_or(0))),
            _ => None,
        });
        match got {
            Some(Ok(())) => Ok(self.client.relayed_addresses()[0]),
            Some(Err(code)) => Err(code),
            None => Err(0),
        }
    }

    /// Asks for a permission for `peer`'s IP and waits for it.
    fn permit(&mut self, peer: SocketAddr) {
        use icebreaker_turn::Event;
        self.client
            .create_permission(std::time::Instant::now(), peer.ip())
            .unwrap();
        let created = self.until(|e| matches!(e, Event::PermissionCreated(_)).then_some(()));
        assert_eq!(created, Some(()), "no permission for {peer}");
    }

    /// Binds a channel to `peer` and waits for it.
    fn bind(&mut self, peer: SocketAddr) {
        use icebreaker_turn::Event;
        self.client
            .bind_channel(std::time::Instant::now(), peer)
            .unwrap();
        let bound = self.until(|e| matches!(e, Event::ChannelBound { .. }).then_some(()));
        assert_eq!(bound, Some(()), "no channel to {peer}");
    }
}

/// Allocates over a fresh TCP connection, then closes the connection without deleting the
/// allocation. Returns the failure code, if any.
fn allocate_over_tcp_and_hang_up(server: SocketAddr) -> Option<u16> {
    Turn::tcp(server).allocate().err()
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

/// A TCP client that stops reading while a peer floods its allocation holds a bounded share of
/// the server's memory: what the kernel's buffers cannot take is dropped (as over UDP) once
/// 256 KiB wait for it, and the frames that do arrive are whole.
#[test]
fn a_tcp_client_that_stops_reading_holds_bounded_server_memory() {
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let pid = server.server.child.0.id();
    let rss_kib = || rss_kib(pid);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut turn = Turn::tcp(server.addr);
    let relayed = turn.allocate().unwrap();
    turn.permit(peer.local_addr().unwrap());
    // One datagram first, so that the relayed socket's receive slots exist before measuring.
    peer.send_to(&[1; 60_000], relayed).unwrap();
    thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    // 60 MB at the relayed address, paced so that the server reads nearly all of it, while the
    // client reads nothing. Before the byte budget, 256 queued frames of 60 KB held 15 MB.
    flood(&peer, relayed, 60_000, 1_000);
    thread::sleep(Duration::from_millis(500));
    let grown = rss_kib().saturating_sub(before);
    eprintln!("the server grew by {grown} KiB");
    assert!(
        grown < 6 * 1024,
        "the server grew by {grown} KiB for one client that stopped reading"
    );
    // Reading again: every frame that arrives is a whole Data indication from the peer.
    let (whole, other) = turn.drain(60_000);
    assert!(
        whole > 0 && other == 0,
        "{whole} whole, {other} other frames"
    );
    drop(turn);
    // And the server still serves.
    let echo = Echo::start();
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(0);
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends `count` datagrams of `len` bytes from `peer` to `relayed`, paced so that the server
/// reads nearly all of them.
fn flood(peer: &UdpSocket, relayed: SocketAddr, len: usize, count: usize) {
    let payload = vec![7u8; len];
    // About 120 KB a millisecond, within what a relayed socket's receive buffer absorbs.
    let per_ms = (120_000 / len).max(1);
    for i in 0..count {
        let _ = peer.send_to(&payload, relayed);
        if i % per_ms == per_ms - 1 {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Peer data cannot crowd the server's answers out of a TCP client's queue: a client whose
/// queue is full of peer data (it stopped reading) still gets the answer to its next request,
/// which over TCP it would never retransmit.
#[test]
fn a_tcp_client_flooded_by_its_peer_still_gets_its_answers() {
    use icebreaker_turn::Event;
    use std::time::Instant;
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut turn = Turn::tcp(server.addr);
    let relayed = turn.allocate().unwrap();
    turn.permit(peer.local_addr().unwrap());
    // 5 MB of 500-byte datagrams: the kernel's buffers fill, then the server's queue, whose
    // 256 frames hold only 137 KB, so it is full in frames before it is full in bytes.
    flood(&peer, relayed, 500, 10_000);
    thread::sleep(Duration::from_millis(300));
    turn.client
        .create_permission(Instant::now(), "127.0.0.9".parse().unwrap())
        .unwrap();
    turn.flush();
    thread::sleep(Duration::from_millis(300));
    // Reading again: the peer's data, then the answer.
    let (data, other) = turn.drain(500);
    let mut created = false;
    while let Some(e) = turn.client.poll_event() {
        created |= matches!(e, Event::PermissionCreated(_));
    }
    assert!(
        data > 256,
        "only {data} datagrams from the peer were queued"
    );
    assert!(
        created && other == 1,
        "the CreatePermission answer was lost behind the peer's data \
         ({data} data messages, {other} other)"
    );
}

/// `--stream-queue-total` bounds the peer data queued towards all TCP clients together.
#[test]
fn tcp_clients_that_stop_reading_share_one_memory_budget() {
    const CLIENTS: usize = 8;
    // 256 KiB for all: what one client alone may queue.
    let server = start(&["--allow-peer", "127.0.0.0/8", "--stream-queue-total", "256"]);
    let pid = server.server.child.0.id();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut turn = Turn::tcp(server.addr);
        let relayed = turn.allocate().unwrap();
        turn.permit(peer.local_addr().unwrap());
        // One datagram first, so that the relayed sockets' receive slots exist before measuring.
        peer.send_to(&[1; 60_000], relayed).unwrap();
        clients.push((turn, relayed));
    }
    thread::sleep(Duration::from_millis(200));
    let before = rss_kib(pid);
    // 6 MB towards each client, none of which reads: each would queue 256 KiB, 2 MiB in all,
    // without the shared budget.
    for (_, relayed) in &clients {
        flood(&peer, *relayed, 60_000, 100);
    }
    thread::sleep(Duration::from_millis(500));
    let grown = rss_kib(pid).saturating_sub(before);
    eprintln!("the server grew by {grown} KiB for {CLIENTS} clients");
    assert!(
        grown < 1024,
        "the server grew by {grown} KiB for {CLIENTS} clients that stopped reading"
    );
    // Reading again: every client gets whole Data indications, and nothing else.
    for (turn, _) in &mut clients {
        let (whole, other) = turn.drain(60_000);
        assert!(
            whole > 0 && other == 0,
            "{whole} whole, {other} other frames"
        );
    }
}

/// A TCP client that stops reading holds part of the server-wide budget only for
/// `--stream-idle`: then its connection is closed, and the budget serves others again.
#[test]
fn a_tcp_client_that_stops_reading_is_closed_and_its_budget_returns() {
    use std::time::Instant;
    let server = start(&[
        "--allow-peer",
        "127.0.0.0/8",
        "--stream-queue-total",
        "256",
        "--stream-idle",
        "1",
    ]);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut stuck = Turn::tcp(server.addr);
    let relayed = stuck.allocate().unwrap();
    stuck.permit(peer.local_addr().unwrap());
    let mut reader = Turn::tcp(server.addr);
    let relayed_reader = reader.allocate().unwrap();
    reader.permit(peer.local_addr().unwrap());
    // The kernel's buffers fill, then the server's queue takes the whole budget of 256 KiB.
    flood(&peer, relayed, 60_000, 200);
    // Past --stream-idle without taking a frame, the stuck client is closed.
    thread::sleep(Duration::from_millis(2_500));
    flood(&peer, relayed_reader, 60_000, 5);
    let (whole, other) = reader.drain(60_000);
    assert!(
        whole > 0 && other == 0,
        "the reading client got {whole} whole and {other} other frames: the budget was still held"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut closed = false;
    while !closed && Instant::now() < deadline {
        closed = stuck.read(|_| {}).is_none();
    }
    assert!(closed, "the client that stopped reading was not closed");
}

/// Connects to `server` over TCP from `local` (an address on `lo`, port chosen by the OS).
fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::new(local.parse().unwrap(), 0)).unwrap();
        s.connect(server).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Whether the server closes `stream` within 5 s: a refused connection is closed at once.
fn closed(stream: &mut TcpStream) -> bool {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match stream.read(&mut [0u8; 16]) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Whether the server kept `stream` open for 300 ms: an admitted connection waits for a
/// request (`--stream-idle` is 30 s).
fn kept(stream: &mut TcpStream) -> bool {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    matches!(
        stream.read(&mut [0u8; 16]),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}

/// `--max-connections` bounds the TCP connections served at once, `--max-connections-per-ip`
/// those from one address; a refused connection is closed and a closed one frees its slot.
#[test]
fn connection_limits_refuse_the_excess() {
    let server = start(&[
        "--max-connections",
        "3",
        "--max-connections-per-ip",
        "2",
        "--allow-peer",
        "127.0.0.0/8",
    ]);
    let mut a1 = connect_from("127.0.0.1", server.addr);
    let mut a2 = connect_from("127.0.0.1", server.addr);
    assert!(kept(&mut a1) && kept(&mut a2));
    let mut a3 = connect_from("127.0.0.1", server.addr);
    assert!(
        closed(&mut a3),
        "a third connection from 127.0.0.1 was served"
    );
    let mut b1 = connect_from("127.0.0.2", server.addr);
    assert!(
        kept(&mut b1),
        "127.0.0.2 was refused for 127.0.0.1's connections"
    );
    let mut b2 = connect_from("127.0.0.2", server.addr);
    assert!(closed(&mut b2), "a fourth connection was served");
    // Closing one frees its slot (the server notices asynchronously: bounded retries).
    drop(a1);
    let freed = (0..20).any(|_| {
        let mut s = connect_from("127.0.0.1", server.addr);
        kept(&mut s) || {
            thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(freed, "a closed connection's slot was never freed");
    // UDP is not limited.
    let echo = Echo::start();
    let out = client(&server.addr.to_string(), echo.addr, &["--json"]);
    out.expect_code(0);
    drop((a2, b1));
}

/// Whether this process runs as root (`/proc/self/status`: real uid 0).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().any(|l| {
            l.strip_prefix("Uid:")
                .is_some_and(|u| u.split_whitespace().next() == Some("0"))
        })
    })
}

/// Set in the environment of this test binary when it runs again inside a network namespace.
const IN_NAMESPACE: &str = "ICEBREAKER_TEST_IN_NAMESPACE";

/// Runs the test `name` of this binary again, alone, in a new user and network namespace
/// whose `lo` is up, after the shell command `setup` (which narrows an MTU to 1280 bytes);
/// panics unless it ran and passed.
fn rerun_in_namespace(name: &str, setup: &str) {
    let userns = ["--user", "--map-root-user", "--net"];
    let probe = std::process::Command::new("unshare")
        .args(userns)
        .args(["ip", "link", "set", "lo", "up"])
        .output();
    // As root, namespaces always work (CI runs as root): only elsewhere may they be missing.
    if !probe.is_ok_and(|o| o.status.success()) && !running_as_root() {
        eprintln!("{name}: skipped: no user and network namespaces here (unshare, ip)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!("ip link set lo up && {setup} && exec \"$0\" \"$@\"");
    let out = std::process::Command::new("unshare")
        .args(userns)
        .args(["sh", "-c", &script])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(IN_NAMESPACE, "1")
        .output()
        .expect("unshare (util-linux) runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a namespace (needs unshare and ip, and user namespaces): {}\n{stdout}\n{stderr}",
        out.status
    );
}

/// Whether a `len`-byte datagram sent by `turn` to `peer` through the relay reaches it. When it
/// does not, a small one sent after it must: the relay was not merely slow.
fn reaches(turn: &mut Turn, peer: &UdpSocket, len: usize, fill: u8) -> bool {
    let to = peer.local_addr().unwrap();
    let arrives = |turn: &mut Turn, len: usize, fill: u8| {
        turn.client.send_to(to, &vec![fill; len]).unwrap();
        turn.flush();
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = peer.recv(&mut buf) {
            if n == len && buf[0] == fill {
                return true;
            }
        }
        false
    };
    if arrives(turn, len, fill) {
        return true;
    }
    assert!(arrives(turn, 100, !fill), "the relay passed nothing on");
    false
}

/// For `df`, allocated and asking for DONT-FRAGMENT, towards `peer` behind a 1280-byte MTU: a
/// 1400-byte Send indication cannot leave the relay while 1000 bytes do, and ChannelData, which
/// cannot ask for DF, arrives at 1400 bytes through the same relayed socket, switched back.
fn check_dont_fragment(df: &mut Turn, peer: &UdpSocket) {
    let at = peer.local_addr().unwrap();
    df.permit(at);
    assert!(
        !reaches(df, peer, 1400, 1),
        "DF Send indication, 1400 bytes"
    );
    assert!(reaches(df, peer, 1000, 2), "DF Send indication, 1000 bytes");
    df.bind(at);
    assert!(reaches(df, peer, 1400, 3), "ChannelData, 1400 bytes");
}

/// RFC 8656 DONT-FRAGMENT on the wire. The peer is behind a route with an MTU of 1280: a
/// 1400-byte datagram reaches it only as fragments. Relayed for a Send indication carrying
/// DONT-FRAGMENT, it cannot leave the relay, while 1000 bytes still do; relayed for anything
/// else (a Send indication without it, ChannelData), DF is clear and 1400 bytes arrive,
/// through the same relayed socket too.
#[test]
fn dont_fragment_reaches_the_wire() {
    if std::env::var_os(IN_NAMESPACE).is_none() {
        return rerun_in_namespace(
            "dont_fragment_reaches_the_wire",
            "ip route add local 127.0.0.3/32 dev lo mtu lock 1280 table local",
        );
    }
    let server = start(&["--allow-peer", "127.0.0.0/8"]);
    let peer = UdpSocket::bind("127.0.0.3:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let at = peer.local_addr().unwrap();

    // This client puts DONT-FRAGMENT in its Allocate and in each Send indication.
    let mut df = Turn::udp(server.addr, |c| c.dont_fragment = true);
    df.allocate().unwrap();
    check_dont_fragment(&mut df, &peer);

    let mut plain = Turn::udp(server.addr, |_| {});
    plain.allocate().unwrap();
    plain.permit(at);
    assert!(
        reaches(&mut plain, &peer, 1400, 4),
        "Send indication, 1400 bytes"
    );
    plain.bind(at);
    assert!(
        reaches(&mut plain, &peer, 1400, 5),
        "ChannelData, 1400 bytes"
    );
}

/// DONT-FRAGMENT over IPv6, which has no DF bit: the relay must not fragment at the source
/// (`IPV6_PMTUDISC_DO`), so with `lo`'s MTU at 1280 a 1400-byte datagram cannot leave it, while
/// without DONT-FRAGMENT it leaves in fragments and arrives whole.
#[test]
fn dont_fragment_reaches_the_wire_over_ipv6() {
    use icebreaker_stun::attributes::AddressFamily;
    if std::env::var_os(IN_NAMESPACE).is_none() {
        return rerun_in_namespace(
            "dont_fragment_reaches_the_wire_over_ipv6",
            "ip link set lo mtu 1280",
        );
    }
    let server = start_on("[::1]:0", &["--allow-peer", "::1/128"]);
    let peer = UdpSocket::bind("[::1]:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut df = Turn::udp(server.addr, |c| {
        c.dont_fragment = true;
        c.requested_family = Some(AddressFamily::V6);
    });
    assert!(df.allocate().unwrap().is_ipv6());
    check_dont_fragment(&mut df, &peer);
}
