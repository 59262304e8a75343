//! stun-server, stun-client and nat-type on loopback (127.0.0.1 and 127.0.0.2 only), running
//! the built binary. Every wait is bounded and every child is killed by a guard.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{run, start_server};
use icebreaker_stun::attributes::{ErrorCode, UnknownAttributes, XorMappedAddress};
use icebreaker_stun::{AttributeType, Class, Message, MessageWriter, Method, TransactionId};

/// A plain UDP socket on 127.0.0.1 with a receive timeout, to talk to the server by hand.
fn probe() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind probe");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s
}

fn binding_request(tid: [u8; 12], extra: impl FnOnce(&mut MessageWriter<'_>)) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(tid),
    )
    .unwrap();
    extra(&mut w);
    let n = w.finish(true).unwrap();
    buf[..n].to_vec()
}

/// Sends `request` until an answer with its transaction id arrives (bounded: 10 tries), and
/// returns the answer's bytes and source.
fn transact(sock: &UdpSocket, server: SocketAddr, request: &[u8]) -> (Vec<u8>, SocketAddr) {
    let tid = Message::parse(request).unwrap().transaction_id();
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        sock.send_to(request, server).unwrap();
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if Message::parse(&buf[..n]).is_ok_and(|m| m.transaction_id() == tid) {
                return (buf[..n].to_vec(), from);
            }
        }
    }
    panic!("no answer from {server}");
}

#[test]
fn stun_client_gets_its_loopback_address_back() {
    let server = start_server(&["--listen", "127.0.0.1:0"]);
    assert_eq!(server.addrs.len(), 1);
    let primary = server.addrs[0];
    assert_eq!(primary.ip().to_string(), "127.0.0.1");
    assert_ne!(primary.port(), 0);

    let out = run(&[
        "stun-client",
        &primary.to_string(),
        "--json",
        "--rto",
        "100",
        "--sends",
        "5",
    ]);
    out.expect_code(0);
    let j = out.json();
    let mapped: SocketAddr = j["mapped_address"].as_str().unwrap().parse().unwrap();
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");
    assert_eq!(
        j["local_address"], j["mapped_address"],
        "no NAT on loopback"
    );
    assert_eq!(j["mapped_attribute"], "XOR-MAPPED-ADDRESS");
    assert_eq!(j["server"], primary.to_string());
    assert!(
        j["response_origin"].is_null(),
        "no RFC 5780 without --other"
    );
    assert!(j["other_address"].is_null());
    assert!(j["software"].is_null(), "no SOFTWARE unless configured");
    assert!(j["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert!(j["transmissions"].as_u64().unwrap() >= 1);

    // The human form, and the stun: URI form of SERVER.
    let out = run(&[
        "stun-client",
        &format!("stun:127.0.0.1:{}", primary.port()),
        "--rto",
        "100",
    ]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("mapped address   127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rtt "), "{}", out.stdout);
}

#[test]
fn rfc5780_server_and_nat_type_on_loopback() {
    let server = start_server(&[
        "--listen",
        "127.0.0.1:0",
        "--other",
        "127.0.0.2:0",
        "--software",
        "icebreaker test",
    ]);
    assert_eq!(server.addrs.len(), 4, "{:?}", server.addrs);
    let [a1p1, a1p2, a2p1, a2p2] = [
        server.addrs[0],
        server.addrs[1],
        server.addrs[2],
        server.addrs[3],
    ];
    assert_eq!((a1p1.ip(), a1p2.ip()), (a1p1.ip(), a1p1.ip()));
    assert_eq!(a2p1.ip().to_string(), "127.0.0.2");
    assert_eq!((a1p1.port(), a1p2.port()), (a2p1.port(), a2p2.port()));
    assert_ne!(a1p1.port(), a1p2.port());

    let out = run(&["stun-client", &a1p1.to_string(), "--json", "--rto", "100"]);
    out.expect_code(0);
    let j = out.json();
    assert_eq!(j["response_origin"], a1p1.to_string());
    assert_eq!(j["other_address"], a2p2.to_string());
    assert_eq!(j["software"], "icebreaker test");

    let out = run(&["nat-type", &a1p1.to_string(), "--json"]);
    out.expect_code(0);
    let j = out.json();
    assert_eq!(j["nat"], false);
    assert_eq!(j["mapping"], "endpoint-independent");
    assert_eq!(j["filtering"], "endpoint-independent");
    assert!(
        j["hairpinning"].is_null(),
        "hairpinning is not tested without a NAT"
    );
    let mapped: SocketAddr = j["mapped_address"].as_str().unwrap().parse().unwrap();
    assert_eq!(mapped.ip().to_string(), "127.0.0.1");
    assert_eq!(j["other_address"], a2p2.to_string());

    let out = run(&["nat-type", &a1p1.to_string()]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("mapping          endpoint-independent"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("filtering        endpoint-independent"),
        "{}",
        out.stdout
    );

    // CHANGE-REQUEST by hand: the answer comes from the socket the server was asked to use.
    let sock = probe();
    for (change_ip, change_port, expected) in [
        (false, false, a1p1),
        (false, true, a1p2),
        (true, false, a2p1),
        (true, true, a2p2),
    ] {
        let req = binding_request([change_ip as u8 + 2 * change_port as u8 + 10; 12], |w| {
            w.push(&icebreaker_stun::attributes::ChangeRequest {
                change_ip,
                change_port,
            })
            .unwrap();
        });
        let (_, from) = transact(&sock, a1p1, &req);
        assert_eq!(
            from, expected,
            "change_ip={change_ip} change_port={change_port}"
        );
    }
}

/// `--threads 2`: each of the four RFC 5780 addresses is served by two sockets (SO_REUSEPORT)
/// and two threads. Clients from 48 ports are spread over both of the primary address's
/// threads, every answer comes from the address asked for (a CHANGE-REQUEST's from the other
/// address's socket of the same thread pair), and the stop line counts each thread.
#[test]
fn stun_server_threads_share_each_address() {
    let (server, listening) = common::JsonServer::start(&[
        "stun-server",
        "--listen",
        "127.0.0.1:0",
        "--other",
        "127.0.0.2:0",
        "--threads",
        "2",
        "--json",
    ]);
    let addrs: Vec<SocketAddr> = listening["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| a.as_str().expect("a string").parse().expect("an address"))
        .collect();
    assert_eq!(addrs.len(), 4, "{listening}");
    let clients: Vec<UdpSocket> = (0..48).map(|_| probe()).collect();
    for (i, sock) in clients.iter().enumerate() {
        let tid = [i as u8; 12];
        let (answer, from) = transact(sock, addrs[0], &binding_request(tid, |_| {}));
        assert_eq!(from, addrs[0]);
        let m = Message::parse(&answer).unwrap();
        let Ok(Some(XorMappedAddress(mapped))) = m.get::<XorMappedAddress>() else {
            panic!("no XOR-MAPPED-ADDRESS");
        };
        assert_eq!(mapped, sock.local_addr().unwrap());
    }
    for (i, sock) in clients.iter().enumerate().take(8) {
        let req = binding_request([100 + i as u8; 12], |w| {
            w.push(&icebreaker_stun::attributes::ChangeRequest {
                change_ip: true,
                change_port: true,
            })
            .unwrap();
        });
        let (_, from) = transact(sock, addrs[0], &req);
        assert_eq!(from, addrs[3], "client {i}");
    }
    let stopped = server.stop();
    let by_thread: Vec<u64> = stopped["answered_by_thread"]
        .as_array()
        .unwrap_or_else(|| panic!("{stopped}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(by_thread.len(), 8, "{stopped}");
    // SO_REUSEPORT hashes each client's address: 48 clients all on one of two sockets would
    // happen once in 2^47 runs.
    assert!(by_thread[0] > 0 && by_thread[1] > 0, "{stopped}");
    // Only the primary address was asked; retransmissions are answered again.
    assert!(by_thread[2..].iter().all(|&n| n == 0), "{stopped}");
    let answered = by_thread.iter().sum::<u64>();
    assert_eq!(stopped["answered"].as_u64(), Some(answered));
    assert!((56..=80).contains(&answered), "{stopped}");
}

#[test]
fn stun_server_refuses_a_thread_count_out_of_range() {
    for bad in ["0", "257", "many"] {
        let out = run(&["stun-server", "--listen", "127.0.0.1:0", "--threads", bad]);
        out.expect_code(2);
        assert!(
            out.stderr.contains("from 1 to 256"),
            "{bad}: {}",
            out.stderr
        );
    }
}

#[test]
fn nat_type_without_rfc5780_fails_clearly() {
    let server = start_server(&["--listen", "127.0.0.1:0"]);
    let out = run(&["nat-type", &server.addrs[0].to_string(), "--rto", "50"]);
    out.expect_code(1);
    assert!(out.stderr.contains("RFC 5780"), "{}", out.stderr);
}

#[test]
fn stun_client_times_out_without_a_server() {
    // A port that was free a moment ago: nothing answers there.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&[
        "stun-client",
        &format!("127.0.0.1:{port}"),
        "--rto",
        "20",
        "--sends",
        "3",
    ]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no response after 3 transmissions"),
        "{}",
        out.stderr
    );
}

/// A server that answers each Binding request once, with a success that carries an unknown
/// comprehension-required attribute: stun-client must fail on it (RFC 8489 §6.3.3), saying why.
#[test]
fn stun_client_fails_on_an_unknown_required_attribute() {
    let sock = probe();
    let server = sock.local_addr().unwrap();
    let answerer = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut answered = 0;
        // Bounded: 25 read timeouts of 200 ms, or the first answer.
        for _ in 0..25 {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(req) = Message::parse(&buf[..n]) else {
                continue;
            };
            let mut out = [0u8; 128];
            let mut w = MessageWriter::new(
                &mut out,
                Class::Success,
                Method::BINDING,
                req.transaction_id(),
            )
            .unwrap();
            w.push(&XorMappedAddress(from)).unwrap();
            w.push_raw(AttributeType(0x7f00), &[0; 4]).unwrap();
            let len = w.finish(true).unwrap();
            sock.send_to(&out[..len], from).unwrap();
            answered += 1;
            break;
        }
        answered
    });
    let out = run(&["stun-client", &server.to_string(), "--rto", "100"]);
    assert_eq!(answerer.join().unwrap(), 1);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("unknown comprehension-required attribute 0x7f00"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_server_arguments_exit_2() {
    for bad in [
        "stuns:example.org",
        "127.0.0.1:0",
        "127.0.0.1:http",
        ":3478",
    ] {
        let out = run(&["stun-client", bad]);
        out.expect_code(2);
        assert!(out.stderr.contains("error"), "{bad}: {}", out.stderr);
    }
    // RFC 5780 needs two IPs.
    let out = run(&[
        "stun-server",
        "--listen",
        "127.0.0.1:0",
        "--other",
        "127.0.0.1:0",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("different IP"), "{}", out.stderr);
    // A SOFTWARE that no answer could carry is refused before the server starts.
    let long = "x".repeat(128);
    let out = run(&[
        "stun-server",
        "--listen",
        "127.0.0.1:0",
        "--software",
        &long,
    ]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("at most 127 characters"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_peer_turn_arguments_exit_2() {
    let peer = |extra: &[&str]| {
        let mut args = vec!["peer", "--loopback", "--turn-user", "u", "--turn-pass", "p"];
        args.extend_from_slice(extra);
        run(&args)
    };
    // A CA file for TLS with no turns: server among the --turn servers.
    let out = peer(&[
        "--turn",
        "turn:127.0.0.1:3478",
        "--turn",
        "turn:127.0.0.1:3478?transport=tcp",
        "--turn-ca",
        "ca.pem",
    ]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("--turn-ca is for a turns: server"),
        "{}",
        out.stderr
    );
    // One bad URI among several.
    let out = peer(&[
        "--turn",
        "turn:127.0.0.1:3478",
        "--turn",
        "turn:127.0.0.1:3478?transport=sctp",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("transport"), "{}", out.stderr);
}

#[test]
fn garbage_never_stops_the_server() {
    let server = start_server(&["--listen", "127.0.0.1:0", "--other", "127.0.0.2:0"]);
    let primary = server.addrs[0];
    let sock = probe();
    let mut buf = [0u8; 2048];

    let valid = binding_request([1; 12], |_| {});
    let (answer, _) = transact(&sock, primary, &valid);
    let msg = Message::parse(&answer).unwrap();
    assert_eq!(msg.class(), Class::Success);
    let mapped = msg.get::<XorMappedAddress>().unwrap().unwrap().0;
    assert_eq!(mapped, sock.local_addr().unwrap());

    // A response, an indication: never answered.
    let mut w_buf = [0u8; 64];
    let w = MessageWriter::new(
        &mut w_buf,
        Class::Success,
        Method::BINDING,
        TransactionId::new([2; 12]),
    )
    .unwrap();
    let n = w.finish(false).unwrap();
    let response = w_buf[..n].to_vec();
    let w = MessageWriter::new(
        &mut w_buf,
        Class::Indication,
        Method::BINDING,
        TransactionId::new([3; 12]),
    )
    .unwrap();
    let n = w.finish(false).unwrap();
    let indication = w_buf[..n].to_vec();

    // Random bytes from a fixed xorshift sequence.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut garbage: Vec<Vec<u8>> = (0..20)
        .map(|i| (0..(i * 7 % 90)).map(|_| next() as u8).collect())
        .collect();
    garbage.push(valid[..valid.len() - 6].to_vec()); // truncated STUN
    garbage.push(valid[..19].to_vec()); // 19-byte header
    garbage.push(Vec::new()); // empty datagram
    garbage.push(vec![0u8; 1500]); // zeros
    garbage.push(response.clone());
    garbage.push(indication.clone());

    for (i, g) in garbage.iter().enumerate() {
        sock.send_to(g, primary).unwrap();
        // After each piece of garbage, a valid request is still answered.
        let req = binding_request([100 + i as u8; 12], |_| {});
        let (answer, from) = transact(&sock, primary, &req);
        assert_eq!(from, primary);
        assert_eq!(
            Message::parse(&answer).unwrap().class(),
            Class::Success,
            "after garbage {i}"
        );
    }

    // Nothing was answered to the response or the indication (only to our valid requests).
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let m = Message::parse(&buf[..n]).expect("the server only sends STUN");
        let tid = *m.transaction_id().as_bytes();
        assert!(
            tid != [2; 12] && tid != [3; 12],
            "the server answered a response or an indication"
        );
    }

    // An unknown comprehension-required attribute: 420 with UNKNOWN-ATTRIBUTES, then service goes on.
    let req = binding_request([42; 12], |w| {
        w.push_raw(AttributeType(0x7f33), b"boom").unwrap()
    });
    let (answer, _) = transact(&sock, primary, &req);
    let msg = Message::parse(&answer).unwrap();
    assert_eq!(msg.class(), Class::Error);
    assert_eq!(msg.get::<ErrorCode<'_>>().unwrap().unwrap().code, 420);
    let unknown: Vec<AttributeType> = msg
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(unknown, [AttributeType(0x7f33)]);

    let (answer, _) = transact(&sock, primary, &binding_request([43; 12], |_| {}));
    assert_eq!(Message::parse(&answer).unwrap().class(), Class::Success);

    // And the binary's own client still works against it.
    run(&["stun-client", &primary.to_string(), "--rto", "100"]).expect_code(0);
}

#[test]
fn server_stops_cleanly_on_sigterm() {
    let mut server = start_server(&["--listen", "127.0.0.1:0"]);
    let pid = server.child.0.id();
    // `kill` is a shell command on every Linux; SIGTERM should end the server with status 0.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = server.child.0.try_wait().unwrap() {
            assert_eq!(s.code(), Some(0), "stun-server exit status after SIGTERM");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stun-server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stun_server_json_lines_name_its_addresses_and_its_counters() {
    let (server, listening) = common::JsonServer::start(&[
        "stun-server",
        "--listen",
        "127.0.0.1:0",
        "--other",
        "127.0.0.2:0",
        "--json",
    ]);
    let addrs: Vec<SocketAddr> = listening["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| a.as_str().expect("a string").parse().expect("an address"))
        .collect();
    assert_eq!(addrs.len(), 4, "{listening}");
    let sock = probe();
    let (answer, from) = transact(&sock, addrs[0], &binding_request([7; 12], |_| {}));
    assert_eq!(from, addrs[0]);
    assert_eq!(Message::parse(&answer).unwrap().class(), Class::Success);
    let (answer, _) = transact(
        &sock,
        addrs[0],
        &binding_request([8; 12], |w| {
            w.push_raw(AttributeType(0x7f33), b"boom").unwrap()
        }),
    );
    assert_eq!(Message::parse(&answer).unwrap().class(), Class::Error);
    sock.send_to(b"not stun", addrs[0]).unwrap();
    // The garbage must reach the server before it is stopped: one more answered request
    // after it, on the same socket, proves it did.
    transact(&sock, addrs[0], &binding_request([9; 12], |_| {}));
    let stopped = server.stop();
    // A retransmission (no answer within 200 ms on a loaded machine) is answered again.
    let count = |k: &str| {
        stopped[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {stopped}"))
    };
    assert!((2..=20).contains(&count("answered")), "{stopped}");
    assert!((1..=10).contains(&count("errors")), "{stopped}");
    assert_eq!(count("dropped"), 1, "{stopped}");
}

#[test]
fn demo_runs_on_loopback() {
    let out = common::run_with(&[], None, Duration::from_secs(60));
    out.expect_code(0);
    for needle in [
        // The tour (src/demo.rs): the NAT matrix, the ladder, and real peers on loopback.
        "listening on 127.0.0.1:",
        "31 direct, 5 through the relay, 0 failed",
        " selected candidate:",
        "connected in",
        "B received \"Hi B, it's A.\"",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} missing from\n{}",
            out.stdout
        );
    }
}

/// A server started with a low soft limit on open files raises it to the hard limit: with
/// the usual 1024 it would run out of descriptors before its own connection limits.
#[test]
fn servers_raise_the_open_file_limit() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let limit = |pid: u32| -> (String, String) {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("Max open files")
            .to_owned();
        let mut v = line.split_whitespace().skip(3);
        (v.next().unwrap().to_owned(), v.next().unwrap().to_owned())
    };
    let mut child = common::ChildGuard(
        Command::new("bash")
            .args([
                "-c",
                &format!(
                    "ulimit -Sn 200 && exec {} stun-server --listen 127.0.0.1:0",
                    common::BIN
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    // The `listening on` line comes after the limit is raised (bounded by the pipe: the
    // server prints it at once or exits).
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("read");
    assert!(first.starts_with("listening on"), "{first:?}");
    let (soft, hard) = limit(child.0.id());
    let expected = if hard == "unlimited" {
        (1u64 << 20).to_string()
    } else {
        hard.parse::<u64>().unwrap().min(1 << 20).to_string()
    };
    assert_eq!(soft, expected, "hard limit {hard}");
}
