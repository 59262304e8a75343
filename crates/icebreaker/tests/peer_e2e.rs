//! End to end on loopback: `signal-server` and `peer` processes, a harness playing the other
//! side of `peer --signal stdio` with the crates directly, bad input everywhere, and the demo.
//! Every wait is bounded; every child is killed by a guard.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{ChildGuard, TempDir, certificates};
use futures_util::{SinkExt as _, StreamExt as _};
use icebreaker::driver::{self, DriverOptions};
use icebreaker::peer::{PeerConfig, Reports, Role, Signal};
use icebreaker_ice::AgentConfig;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_icebreaker");
const LIMIT: Duration = Duration::from_secs(20);

/// A running `icebreaker` with piped stdin and its stdout lines on a channel.
struct Proc {
    _child: ChildGuard,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Self {
        let mut child = ChildGuard(
            Command::new(BIN)
                .args(args)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn icebreaker"),
        );
        let stdin = child.0.stdin.take().expect("stdin");
        let stdout = child.0.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            _child: child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).expect("write");
        self.stdin.write_all(b"\n").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The next line that satisfies `pred`, within LIMIT.
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what} within {LIMIT:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

fn signal_server() -> (Proc, String) {
    let mut p = Proc::spawn(&["signal-server", "--listen", "127.0.0.1:0"]);
    let first = p.expect("listening on", |l| l.starts_with("listening on "));
    let addr = first.trim_start_matches("listening on ").to_owned();
    (p, addr)
}

#[test]
fn two_peers_through_signal_server() {
    let (_server, addr) = signal_server();
    let url = format!("ws://{addr}/room-e2e");
    let mut a = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    thread::sleep(Duration::from_millis(200));
    // (B would restart ICE by itself if the connection failed.)
    let mut b = Proc::spawn(&[
        "peer",
        "--signal",
        &url,
        "--loopback",
        "--restart-on-failure",
    ]);
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    a.send("hello B, plain text");
    b.expect("A's message", |l| {
        l == r#"{"type":"message","data":"hello B, plain text"}"#
    });
    b.send(r#"{"type":"send","data":"hi A"}"#);
    a.expect("B's message", |l| {
        l == r#"{"type":"message","data":"hi A"}"#
    });
    let pair = selected_stats(&mut a);
    assert!(
        pair["local"].as_str().unwrap().contains(" typ host"),
        "{pair}"
    );
    assert_eq!(
        (pair["packetsSent"].as_u64(), pair["bytesSent"].as_u64()),
        (Some(1), Some(19))
    );
    assert_eq!(
        (
            pair["packetsReceived"].as_u64(),
            pair["bytesReceived"].as_u64()
        ),
        (Some(1), Some(4))
    );
}

/// Asks a connected `peer` for `{"type":"stats"}` on stdin and returns its selected pair's
/// report, after checking what every pair reported holds together.
fn selected_stats(p: &mut Proc) -> serde_json::Value {
    p.send(r#"{"type":"stats"}"#);
    let line = p.expect("a stats report", |l| {
        l.starts_with(r#"{"type":"stats","pairs":["#)
    });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let pairs = v["pairs"].as_array().unwrap();
    for pair in pairs {
        let n = |k: &str| pair[k].as_u64().unwrap_or_else(|| panic!("{k} in {pair}"));
        assert!(n("consentRequestsSent") <= n("requestsSent"), "{pair}");
        assert!(n("responsesSent") <= n("requestsReceived"), "{pair}");
    }
    let selected: Vec<_> = pairs.iter().filter(|p| p["selected"] == true).collect();
    assert_eq!(selected.len(), 1, "{line}");
    let pair = selected[0].clone();
    assert_eq!(
        (pair["state"].as_str(), pair["nominated"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    assert!(pair["responsesReceived"].as_u64() >= Some(1), "{pair}");
    let rtt = pair["currentRoundTripTime"].as_f64().unwrap();
    assert!(rtt > 0.0 && rtt < 1.0, "{pair}");
    pair
}

/// `{"type":"restart"}` on stdin restarts ICE through the room: the restarting side offers
/// again with fresh credentials, the other answers with fresh ones, both check again
/// (checking, then connected with a pair selected again) and data flows both ways after it.
/// Run from the second peer (the first answerer), so the offer goes the other way round too.
#[test]
fn a_restart_on_stdin_reconnects_both_peers_through_the_room() {
    let (_server, addr) = signal_server();
    let url = format!("ws://{addr}/room-restart");
    let mut a = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    thread::sleep(Duration::from_millis(200));
    let mut b = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    b.send(r#"{"type":"restart"}"#);
    for p in [&mut b, &mut a] {
        p.expect("checking again", |l| l.contains(r#""state":"checking""#));
        p.expect("a pair selected again", |l| {
            l.starts_with(r#"{"type":"selected""#)
        });
        p.expect("connected again", |l| l.contains(r#""state":"connected""#));
    }
    a.send("after the restart");
    b.expect("A's message", |l| {
        l == r#"{"type":"message","data":"after the restart"}"#
    });
    b.send("and back");
    a.expect("B's message", |l| {
        l == r#"{"type":"message","data":"and back"}"#
    });
    for p in [&a, &b] {
        assert!(
            !p.seen.iter().any(|l| l.contains(r#""type":"error""#)),
            "{}",
            p.seen.join("\n")
        );
    }
}

/// `--no-trickle`: one line each way is the whole exchange (as through a QR code or a pasted
/// message). A's offer carries its candidates and end-of-candidates; B, which would trickle,
/// answers a peer that does not in one piece too; neither prints a candidate message.
#[test]
fn without_trickle_one_description_each_way_connects() {
    let mut a = Proc::spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--role",
        "offer",
        "--loopback",
        "--no-trickle",
    ]);
    let mut b = Proc::spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--role",
        "answer",
        "--loopback",
    ]);
    let offer = a.expect("the offer", |l| l.starts_with(r#"{"type":"offer""#));
    assert!(
        offer.contains("a=candidate:") && offer.contains("a=end-of-candidates"),
        "{offer}"
    );
    assert!(!offer.contains("trickle"), "{offer}");
    b.send(&offer);
    let answer = b.expect("the answer", |l| l.starts_with(r#"{"type":"answer""#));
    assert!(
        answer.contains("a=candidate:") && answer.contains("a=end-of-candidates"),
        "{answer}"
    );
    a.send(&answer);
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    a.send("one line each way");
    b.expect("A's message", |l| {
        l == r#"{"type":"message","data":"one line each way"}"#
    });
    for p in [&a, &b] {
        assert!(
            !p.seen.iter().any(|l| l.contains(r#""type":"candidate""#)),
            "{}",
            p.seen.join("\n")
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn signal_server_survives_bad_input() {
    let (_server, addr) = signal_server();
    let url = format!("ws://{addr}/room-bad");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    let joined = tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("an answer in time")
        .expect("open")
        .expect("frame");
    assert!(
        joined
            .to_text()
            .unwrap_or_default()
            .contains(r#""type":"joined""#)
    );
    let cases: Vec<(Message, &str)> = vec![
        (Message::text("garbage, not JSON"), "not JSON"),
        (Message::text("[1,2,3]"), "not a JSON object"),
        (Message::binary(vec![0u8; 100]), "binary frame"),
        (
            Message::text(format!(
                r#"{{"type":"send","data":"{}"}}"#,
                "x".repeat(100_000)
            )),
            "over the limit",
        ),
    ];
    for (msg, want) in cases {
        ws.send(msg).await.expect("send");
        let reply = loop {
            let m = tokio::time::timeout(LIMIT, ws.next())
                .await
                .expect("in time")
                .expect("open")
                .expect("frame");
            if let Message::Text(t) = m {
                break t.as_str().to_owned();
            }
        };
        assert!(
            reply.contains(r#""type":"error""#) && reply.contains(want),
            "{want}: {reply}"
        );
    }
    // Still serving: a second peer joins and gets what the first sends.
    ws.send(Message::text(r#"{"type":"send","data":"still here"}"#))
        .await
        .expect("send");
    let (mut other, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = tokio::time::timeout(LIMIT, other.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = m {
            got.push(t.as_str().to_owned());
        }
    }
    assert!(got[0].contains(r#""peers":2"#), "{got:?}");
    assert_eq!(got[1], r#"{"type":"send","data":"still here"}"#);
    // A bad room name gets an error too.
    let (mut bad, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/bad%20room"))
        .await
        .expect("connect");
    let m = tokio::time::timeout(LIMIT, bad.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("frame");
    assert!(
        m.to_text().unwrap_or_default().contains("bad room"),
        "{m:?}"
    );
}

/// `peer --signal stdio` as the answerer; this test is the offerer, built from the crates.
#[tokio::test(flavor = "current_thread")]
async fn peer_over_stdio_with_a_harness() {
    let mut child = Proc::spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--role",
        "answer",
        "--loopback",
    ]);
    // Bad input first: each gets an error line and the process goes on.
    child.send("{not json");
    child.expect("a JSON error", |l| {
        l.contains(r#""type":"error""#) && l.contains("not a signalling message")
    });
    child.send(r#"{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"}"#);
    child.expect("a credentials error", |l| l.contains("no ICE credentials"));
    child.send(&format!(
        r#"{{"type":"send","data":"{}"}}"#,
        "y".repeat(70_000)
    ));
    child.expect("a size error", |l| l.contains("over the limit"));

    // The harness: a Peer on the tokio driver, its signals piped to the child.
    let sockets = driver::bind_sockets(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .await
        .expect("bind");
    let (in_tx, in_rx) = tokio::sync::mpsc::channel(64);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(64);
    let options = DriverOptions {
        config: PeerConfig {
            role: Role::Offerer,
            agent: AgentConfig {
                rng_seed: [9; 32],
                ..AgentConfig::default()
            },
            host_addresses: Vec::new(),
            reports: Reports::Signals,
            trickle: true,
            restart_on_failure: false,
        },
        auto_role: false,
        stream_turns: Vec::new(),
    };
    let task = tokio::spawn(driver::run(
        options,
        sockets,
        in_rx,
        out_tx,
        std::future::pending(),
    ));
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<String>(256);
    let lines = std::mem::replace(&mut child.lines, mpsc::channel().1);
    thread::spawn(move || {
        while let Ok(l) = lines.recv() {
            if line_tx.blocking_send(l).is_err() {
                return;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + LIMIT;
    let (mut harness_connected, mut child_connected, mut sent, mut got) =
        (false, false, false, false);
    while !got {
        tokio::select! {
            s = out_rx.recv() => match s.expect("harness running") {
                s if s.is_for_remote() => child.send(&s.to_json()),
                Signal::State { state } if state == "connected" => harness_connected = true,
                Signal::Message { data } => {
                    assert_eq!(data, "hello harness");
                    got = true;
                }
                _ => {}
            },
            l = line_rx.recv() => {
                let l = l.expect("child running");
                match Signal::parse(&l).expect("the child prints signalling JSON") {
                    s if s.is_for_remote() => in_tx.send(s).await.expect("harness"),
                    Signal::State { state } if state == "connected" => child_connected = true,
                    Signal::Message { data } => assert_eq!(data, "hello child"),
                    _ => {}
                }
            },
            () = tokio::time::sleep_until(deadline) => panic!("no exchange within {LIMIT:?}"),
        }
        if harness_connected && child_connected && !sent {
            in_tx
                .send(Signal::Send {
                    data: "hello child".into(),
                })
                .await
                .expect("harness");
            child.send("hello harness");
            sent = true;
        }
    }
    task.abort();
}

/// Two peers on the tokio driver, both bound to ::1 only: IPv6 host candidates are signalled,
/// paired and selected, and carry a message.
#[tokio::test(flavor = "current_thread")]
async fn two_drivers_connect_over_ipv6() {
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut tasks = Vec::new();
    for (role, seed) in [(Role::Offerer, 1), (Role::Answerer, 2)] {
        let sockets = driver::bind_sockets(&[IpAddr::V6(Ipv6Addr::LOCALHOST)])
            .await
            .expect("bind ::1");
        let (in_tx, in_rx) = tokio::sync::mpsc::channel(64);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(64);
        let options = DriverOptions {
            config: PeerConfig {
                role,
                agent: AgentConfig {
                    rng_seed: [seed; 32],
                    ..AgentConfig::default()
                },
                host_addresses: Vec::new(),
                reports: Reports::Signals,
                trickle: true,
                restart_on_failure: false,
            },
            auto_role: false,
            stream_turns: Vec::new(),
        };
        let run = driver::run(options, sockets, in_rx, out_tx, std::future::pending());
        tasks.push(tokio::spawn(run));
        inputs.push(in_tx);
        outputs.push(out_rx);
    }
    let (mut a_out, mut b_out) = (outputs.remove(0), outputs.remove(0));
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut connected = [false, false];
    let mut selected = [false, false];
    let mut sent = false;
    loop {
        let (from, s) = tokio::select! {
            s = a_out.recv() => (0, s.expect("A running")),
            s = b_out.recv() => (1, s.expect("B running")),
            () = tokio::time::sleep_until(deadline) => panic!("no IPv6 session within {LIMIT:?}"),
        };
        match s {
            s if s.is_for_remote() => inputs[1 - from].send(s).await.expect("peer running"),
            Signal::Selected { local, remote } => {
                assert!(
                    local.contains(" ::1 ") && remote.contains(" ::1 "),
                    "{local} -> {remote}"
                );
                selected[from] = true;
            }
            Signal::State { state } if state == "connected" => connected[from] = true,
            Signal::Message { data } => {
                assert_eq!((from, data.as_str()), (1, "over IPv6"));
                break;
            }
            _ => {}
        }
        if connected == [true, true] && !sent {
            let data = "over IPv6".to_owned();
            inputs[0]
                .send(Signal::Send { data })
                .await
                .expect("A running");
            sent = true;
        }
    }
    assert_eq!(
        selected,
        [true, true],
        "both sides report their selected pair"
    );
    for t in tasks {
        t.abort();
    }
}

#[test]
fn demo_runs_and_exits_0() {
    let out = common::run_with(&["demo"], None, Duration::from_secs(60));
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("31 direct, 5 through the relay, 0 failed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("connected in").count(),
        2,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("typ relay"), "{}", out.stdout);
}

/// `turn-server` on 127.0.0.2 (UDP and TCP; relayed addresses there too), loopback peers
/// allowed, with `extra` arguments: the process, its UDP/TCP address and its TLS address when
/// `--tls-listen` is among them.
fn turn_server(extra: &[&str]) -> (Proc, String, Option<String>) {
    let mut args = vec![
        "turn-server",
        "--listen",
        "127.0.0.2:0",
        "--realm",
        "icebreaker.test",
        "--user",
        "alice:secret",
        "--allow-peer",
        "127.0.0.0/8",
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(&args);
    // "listening on A (udp, tcp) and B (tls), relaying on IP"
    let first = p.expect("listening on", |l| l.starts_with("listening on "));
    let rest = first.trim_start_matches("listening on ");
    let addr = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let tls = rest
        .split_once(" and ")
        .and_then(|(_, b)| b.split_whitespace().next())
        .map(str::to_owned);
    (p, addr, tls)
}

/// [`turn_server`] with a TLS listener on 127.0.0.1 too, its certificate signed by a throwaway
/// CA in `dir`: the process, the UDP/TCP address, the TLS address and the CA's PEM file.
fn tls_turn_server(dir: &TempDir) -> (Proc, String, String, String) {
    let (ca, cert, key) = certificates(dir);
    let tls_args = [
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
    ];
    let (p, addr, tls) = turn_server(&tls_args);
    (p, addr, tls.expect("no TLS address announced"), ca)
}

/// Peer A, relayed only through the TURN server at `turn_uri` (with `extra` arguments), and
/// peer B on loopback meet in a signalling room, select A's relayed candidate on 127.0.0.2 and
/// exchange a message each way.
fn relay_only_session(room: &str, turn_uri: &str, extra: &[&str]) {
    let (_signal, signal_addr) = signal_server();
    let url = format!("ws://{signal_addr}/{room}");
    let mut args = vec![
        "peer",
        "--signal",
        &url,
        "--loopback",
        "--relay-only",
        "--turn",
        turn_uri,
        "--turn-user",
        "alice",
        "--turn-pass",
        "secret",
    ];
    args.extend_from_slice(extra);
    let mut a = Proc::spawn(&args);
    thread::sleep(Duration::from_millis(200));
    let mut b = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    // A signals nothing but its relayed candidate, on the TURN server's relay address.
    let sel = a.expect("A's selected pair", |l| l.contains(r#""type":"selected""#));
    let v: serde_json::Value = serde_json::from_str(&sel).unwrap();
    let local = v["local"].as_str().unwrap();
    assert!(
        local.contains(" typ relay") && local.contains("127.0.0.2"),
        "{turn_uri}: A's selected local candidate is not the relay: {sel}"
    );
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    a.send("through the relay");
    b.expect("A's message", |l| {
        l == r#"{"type":"message","data":"through the relay"}"#
    });
    b.send("and back");
    a.expect("B's message", |l| {
        l == r#"{"type":"message","data":"and back"}"#
    });
    // The relayed pair counted the payloads, not the TURN framing around them (over TCP and
    // TLS too, where a send is a frame on the connection).
    let pair = selected_stats(&mut a);
    assert!(
        !a.seen.iter().any(|l| l.contains(r#""type":"error""#)),
        "{turn_uri}: {}",
        a.seen.join("\n")
    );
    assert!(
        pair["local"].as_str().unwrap().contains(" typ relay"),
        "{pair}"
    );
    assert_eq!(
        (pair["packetsSent"].as_u64(), pair["bytesSent"].as_u64()),
        (Some(1), Some(17))
    );
    assert_eq!(
        (
            pair["packetsReceived"].as_u64(),
            pair["bytesReceived"].as_u64()
        ),
        (Some(1), Some(8))
    );
}

#[test]
fn relay_only_peer_connects_through_turn_server() {
    let (mut turn, turn_addr, _) = turn_server(&[]);
    relay_only_session(
        "room-relay",
        &format!("turn:{turn_addr}?transport=udp"),
        &[],
    );
    // The TURN server, with a live allocation, stops cleanly too.
    stops_cleanly_on_sigterm(&mut turn, "turn-server");
}

/// The peer reaches its TURN server over TCP (`?transport=tcp`) and over TLS (`turns:`, the
/// server's certificate checked against `--turn-ca`); relaying to the other peer stays UDP.
#[test]
fn relay_only_peer_reaches_its_turn_server_over_tcp_and_tls() {
    let dir = TempDir::new("peer-turns");
    let (_turn, turn_addr, tls, ca) = tls_turn_server(&dir);
    relay_only_session("room-tcp", &format!("turn:{turn_addr}?transport=tcp"), &[]);
    relay_only_session("room-tls", &format!("turns:{tls}"), &["--turn-ca", &ca]);
}

/// `peer --signal stdio --role offer --relay-only` on loopback as alice, with the `--turn`
/// (and `--turn-ca`) arguments in `turn`, for 3 s: what it printed.
fn relay_only_offer(turn: &[&str]) -> common::Output {
    let mut args = vec![
        "peer",
        "--signal",
        "stdio",
        "--role",
        "offer",
        "--loopback",
        "--relay-only",
        "--turn-user",
        "alice",
        "--turn-pass",
        "secret",
    ];
    args.extend_from_slice(turn);
    common::run_for(&args, Duration::from_secs(3))
}

/// Several `--turn` servers, as a browser's `iceServers` entry lists one server's UDP, TCP and
/// TLS addresses: a relayed candidate through each (one for a server named twice), and a
/// session relayed through them connects.
#[test]
fn a_peer_gathers_a_relayed_candidate_through_each_turn_server() {
    let dir = TempDir::new("peer-turn-several");
    let (_turn, turn_addr, tls, ca) = tls_turn_server(&dir);
    let (udp, tcp, tls) = (
        format!("turn:{turn_addr}"),
        format!("turn:{turn_addr}?transport=tcp"),
        format!("turns:{tls}"),
    );
    let out = relay_only_offer(&[
        "--turn",
        &udp,
        "--turn",
        &tcp,
        "--turn",
        &tls,
        "--turn",
        &udp,
        "--turn-ca",
        &ca,
    ]);
    // `candidate:<foundation> <component> <transport> <priority> <address> <port> typ relay`,
    // in the offer or trickled after it: the distinct relayed transport addresses.
    let mut relayed = std::collections::BTreeSet::new();
    for (at, _) in out.stdout.match_indices("candidate:") {
        let fields: Vec<&str> = out.stdout[at..].split(' ').take(8).collect();
        if fields.get(6..8) == Some(&["typ", "relay"][..]) {
            relayed.insert(format!("{}:{}", fields[4], fields[5]));
        }
    }
    assert_eq!(relayed.len(), 3, "{relayed:?}\n{}", out.stdout);
    assert!(
        relayed.iter().all(|a| a.starts_with("127.0.0.2:")),
        "{relayed:?}"
    );
    relay_only_session(
        "room-several",
        &udp,
        &["--turn", &tcp, "--turn", &tls, "--turn-ca", &ca],
    );
}

/// A `turns:` server whose certificate is not trusted gives no relayed candidate: the peer
/// says so and never selects a pair through it.
#[test]
fn an_untrusted_turns_server_is_refused() {
    let dir = TempDir::new("peer-turns-untrusted");
    let (_turn, _, tls, _ca) = tls_turn_server(&dir);
    let out = relay_only_offer(&["--turn", &format!("turns:{tls}")]);
    assert!(!out.stdout.contains("typ relay"), "{}", out.stdout);
    assert!(
        out.stderr.contains("cannot connect to the TURN server"),
        "{}",
        out.stderr
    );
}

/// `peer --signal stdio --role offer --relay-only` on loopback, relayed through the UDP TURN
/// server at `turn_addr` as alice with `password`.
fn relay_only_offerer(turn_addr: &str, password: &str) -> Proc {
    let uri = format!("turn:{turn_addr}?transport=udp");
    Proc::spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--role",
        "offer",
        "--loopback",
        "--relay-only",
        "--turn",
        &uri,
        "--turn-user",
        "alice",
        "--turn-pass",
        password,
    ])
}

/// A TURN server that refuses the password gives no relayed candidate, and the peer says why
/// in an error line (it was silent before).
#[test]
fn a_refused_turn_password_is_reported() {
    let (_turn, turn_addr, _) = turn_server(&[]);
    let mut p = relay_only_offerer(&turn_addr, "wrong");
    let line = p.expect("the error line", |l| l.contains(r#""type":"error""#));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "TURN server {turn_addr}: no relayed candidate for 127.0.0.1:"
        )) && message.ends_with(": 401 Unauthenticated"),
        "{message}"
    );
    assert!(
        !p.seen.iter().any(|l| l.contains("typ relay")),
        "{:?}",
        p.seen
    );
}

/// A peer stopped with SIGTERM deletes its allocation: with `--user-quota 1`, a second peer
/// of the same user gets a relayed candidate at once, not a 486 until the first allocation
/// expires.
#[test]
fn a_stopped_peer_releases_its_turn_allocation() {
    let (_turn, turn_addr, _) = turn_server(&["--user-quota", "1"]);
    for n in 1..=3 {
        let mut p = relay_only_offerer(&turn_addr, "secret");
        p.expect(&format!("peer {n}'s relayed candidate"), |l| {
            l.contains("typ relay")
        });
        stops_cleanly_on_sigterm(&mut p, "peer with an allocation");
    }
}

/// Sends SIGTERM to `p` and waits (bounded) for exit status 0.
fn stops_cleanly_on_sigterm(p: &mut Proc, what: &str) {
    let pid = p._child.0.id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = p._child.0.try_wait().expect("wait") {
            assert_eq!(s.code(), Some(0), "{what}: exit status after SIGTERM");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not stop within 10 s of SIGTERM"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signal_server_and_peers_stop_cleanly_on_sigterm() {
    let (mut server, addr) = signal_server();
    let url = format!("ws://{addr}/room-stop");
    let mut a = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    thread::sleep(Duration::from_millis(200));
    let mut b = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    // A connected peer, one that is still waiting for an offer on stdio, and the server with a
    // live room: each ends with status 0 on SIGTERM.
    stops_cleanly_on_sigterm(&mut a, "connected peer");
    let mut waiting = Proc::spawn(&[
        "peer",
        "--signal",
        "stdio",
        "--loopback",
        "--role",
        "answer",
    ]);
    thread::sleep(Duration::from_millis(300));
    stops_cleanly_on_sigterm(&mut waiting, "peer waiting on stdio");
    stops_cleanly_on_sigterm(&mut server, "signal-server");
    stops_cleanly_on_sigterm(&mut b, "peer whose signal server is gone");
}

/// `signal-server --json`: the listening line's address takes WebSocket peers, and SIGTERM
/// ends with a stopped line and status 0.
#[test]
fn signal_server_json_lines() {
    let (server, listening) =
        common::JsonServer::start(&["signal-server", "--listen", "127.0.0.1:0", "--json"]);
    let addr = listening["address"].as_str().expect("address").to_owned();
    let url = format!("ws://{addr}/room-json");
    let mut a = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    thread::sleep(Duration::from_millis(200));
    let mut b = Proc::spawn(&["peer", "--signal", &url, "--loopback"]);
    for p in [&mut a, &mut b] {
        p.expect("connected", |l| l.contains(r#""state":"connected""#));
    }
    server.stop();
}
