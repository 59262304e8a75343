//! `icebreaker turn-server` and `icebreaker turn-client` on loopback with real sockets.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use common::{BIN, ChildGuard, run};

/// A running `icebreaker turn-server`, killed on drop.
struct TurnServer {
    _child: ChildGuard,
    addr: SocketAddr,
}

fn start(extra: &[&str]) -> TurnServer {
    let mut child = ChildGuard(
        Command::new(BIN)
            .args([
                "turn-server",
                "--listen",
                "127.0.0.1:0",
                "--realm",
                "icebreaker.test",
                "--user",
                "alice:secret",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn turn-server"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("turn-server printed no `listening on` line within 20 s");
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    TurnServer {
        _child: child,
        addr,
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
        "--timeout",
        "5000",
    ];
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
    let out = run(&["turn-server", "--listen", "127.0.0.1:0", "--realm", "r"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--user"), "{}", out.stderr);
    let out = run(&[
        "turn-server",
        "--listen",
        "0.0.0.0:0",
        "--realm",
        "r",
        "--user",
        "a:b",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("--relay-ip"), "{}", out.stderr);
    let out = run(&[
        "turn-server",
        "--listen",
        "127.0.0.1:0",
        "--realm",
        "r",
        "--user",
        "a:b",
        "--allow-peer",
        "10.0.0.0/33",
    ]);
    out.expect_code(2);
    let out = run(&[
        "turn-client",
        "turns:127.0.0.1",
        "--user",
        "a:b",
        "--peer",
        "127.0.0.1:9",
    ]);
    out.expect_code(2);
    let out = run(&[
        "turn-client",
        "turn:127.0.0.1?transport=sctp",
        "--user",
        "a:b",
        "--peer",
        "127.0.0.1:9",
    ]);
    out.expect_code(2);
    let out = run(&[
        "turn-client",
        "127.0.0.1",
        "--user",
        "nocolon",
        "--peer",
        "127.0.0.1:9",
    ]);
    out.expect_code(2);
}
