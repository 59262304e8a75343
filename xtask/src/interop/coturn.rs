//! coturn (Debian's `coturn` package) both ways: its `turnserver` serving icebreaker's clients,
//! and its `turnutils_*` clients against icebreaker's servers.

use super::tap::Tap;
use super::*;

/// Every coturn case: coturn serving icebreaker, then icebreaker serving coturn's clients.
pub(super) fn cases(bin: &Path, dir: &Path, report: &mut Report) {
    if let Err(e) = ensure_coturn() {
        report.case(
            Case {
                peer: "coturn",
                name: "install",
                roles: "Debian coturn package",
            },
            || Verdict::Failed(e),
        );
        return;
    }
    coturn_as_server(bin, dir, report);
    icebreaker_as_server(bin, dir, report);
}

fn coturn_as_server(bin: &Path, dir: &Path, report: &mut Report) {
    const SERVER: &str = "coturn turnserver as the server";
    let cases: &[Case<'_>] = &[
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker stun-client (udp4)",
            roles: "coturn turnserver as STUN server, icebreaker stun-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker stun-client (udp6)",
            roles: "coturn turnserver as STUN server, icebreaker stun-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker nat-type (RFC 5780)",
            roles: "coturn turnserver as RFC 5780 server, icebreaker nat-type as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client (udp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client (tcp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client (udp6)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client (tcp6)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client --channel (udp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client --channel (tcp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client --channel (udp6)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client --dont-fragment (udp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client --hold (438 Stale Nonce)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            peer: "coturn",
            name: "turnserver + icebreaker turn-client (wrong password)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
    ];
    let ips = [LO4, LO4B, LO6];
    let ports = free_port(&ips, &[]).and_then(|p| Ok((p, free_port(&ips, &[p])?)));
    let (port, alt) = match ports {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &format!("{SERVER}: {e}")),
    };
    let log = CoturnLog {
        path: dir.join("turnserver.log"),
    };
    let mut cmd = Command::new("turnserver");
    // -n: no configuration file. Debian's /etc/turnserver.conf says `no-rfc5780` and `syslog`.
    cmd.arg("-n")
        .args(["--listening-ip=127.0.0.1", "--listening-ip=127.0.0.2"])
        .arg("--listening-ip=::1")
        .arg(format!("--listening-port={port}"))
        .arg(format!("--alt-listening-port={alt}"))
        .args(["--relay-ip=127.0.0.1", "--relay-ip=::1"])
        .arg(format!("--realm={REALM}"))
        .arg(format!("--user={USER}:{PASS}"))
        .args(["--lt-cred-mech", "--no-tls", "--no-dtls", "--no-cli"])
        // Nonces stale after STALE_NONCE seconds: the --hold case's deletion must take a 438.
        .arg(format!("--stale-nonce={}", STALE_NONCE.as_secs()))
        .arg("--allow-loopback-peers")
        .arg(format!("--log-file={}", log.path.display()))
        .args(["--no-stdout-log", "--simple-log", "-v"])
        .arg(format!(
            "--pidfile={}",
            dir.join("turnserver.pid").display()
        ))
        .arg(format!("--db={}", dir.join("turndb").display()));
    let mut coturn = match Proc::spawn("turnserver", &mut cmd, dir) {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &format!("{SERVER}: {e}")),
    };
    let ready = [
        SocketAddr::new(LO4, port),
        SocketAddr::new(LO4B, port),
        SocketAddr::new(LO6, port),
    ]
    .iter()
    .try_for_each(|a| wait_stun(*a, START_LIMIT))
    .and_then(|()| wait_tcp(SocketAddr::new(LO4, port), START_LIMIT))
    .and_then(|()| coturn.alive());
    if let Err(e) = ready {
        let why = format!(
            "{SERVER} on port {port} never became ready: {e}; {}",
            tail(&coturn.output(), 2)
        );
        return report.all_failed(cases, &why);
    }
    let (echo4, echo6) = match Echo::start(LO4).and_then(|a| Ok((a, Echo::start(LO6)?))) {
        Ok(e) => e,
        Err(e) => return report.all_failed(cases, &format!("echo peer: {e}")),
    };
    let server4 = SocketAddr::new(LO4, port);
    let server6 = SocketAddr::new(LO6, port);

    report.case(cases[0], || stun_client_case(bin, dir, server4, LO4));
    report.case(cases[1], || stun_client_case(bin, dir, server6, LO6));
    report.case(cases[2], || {
        let ran = run_bounded(
            "icebreaker nat-type",
            Command::new(bin)
                .arg("nat-type")
                .arg(server4.to_string())
                .args(["--bind", "127.0.0.1:0", "--json"]),
            dir,
            TOOL_LIMIT,
        );
        let (mapping, filtering, other) = (
            json_field(&ran.out, "mapping"),
            json_field(&ran.out, "filtering"),
            json_field(&ran.out, "other_address"),
        );
        let want_other = SocketAddr::new(LO4B, alt).to_string();
        if ran.code == Some(0)
            && mapping.as_deref() == Some("endpoint-independent")
            && filtering.as_deref() == Some("endpoint-independent")
            && other.as_deref() == Some(want_other.as_str())
        {
            Verdict::Ok(format!(
                "coturn's OTHER-ADDRESS {want_other}; answers from both of its addresses: mapping endpoint-independent, filtering endpoint-independent"
            ))
        } else {
            Verdict::Failed(format!(
                "wanted EIM/EIF with OTHER-ADDRESS {want_other}, saw mapping {mapping:?}, filtering {filtering:?}, other {other:?}; {}",
                ran.last_state()
            ))
        }
    });
    let turn = |uri: String, echo: &Echo, tag: &str, how: Relayed| {
        turn_client_case(bin, dir, &log, &uri, echo, tag, how)
    };
    let tcp4 = format!("turn:{server4}?transport=tcp");
    let tcp6 = format!("turn:{server6}?transport=tcp");
    use Relayed::{Channel, DontFragment, Indication};
    report.case(cases[3], || {
        turn(server4.to_string(), &echo4, "udp4", Indication)
    });
    report.case(cases[4], || turn(tcp4.clone(), &echo4, "tcp4", Indication));
    report.case(cases[5], || {
        turn(server6.to_string(), &echo6, "udp6", Indication)
    });
    report.case(cases[6], || turn(tcp6.clone(), &echo6, "tcp6", Indication));
    report.case(cases[7], || {
        turn(server4.to_string(), &echo4, "udp4 channel", Channel)
    });
    report.case(cases[8], || {
        turn(tcp4.clone(), &echo4, "tcp4 channel", Channel)
    });
    report.case(cases[9], || {
        turn(server6.to_string(), &echo6, "udp6 channel", Channel)
    });
    report.case(cases[10], || {
        turn(server4.to_string(), &echo4, "udp4 df", DontFragment)
    });
    report.case(cases[11], || {
        stale_nonce_case(bin, dir, &log, server4, &echo4)
    });
    report.case(cases[12], || {
        let from = log.len();
        let ran = run_bounded(
            "icebreaker turn-client wrong password",
            turn_client(bin, &server4.to_string(), &format!("not-{PASS}"), &echo4).arg("--json"),
            dir,
            TOOL_LIMIT,
        );
        let code = json_field(&ran.out, "code");
        let logged = log.wait_for(
            from,
            &[&format!("user {USER} credentials are incorrect")],
            Duration::from_secs(3),
        );
        let relayed = echo4.take();
        match (ran.code, code.as_deref(), logged) {
            (Some(1), Some("401"), Ok(_)) if relayed.is_empty() => Verdict::Ok(
                "coturn logged the wrong credentials and answered 401; icebreaker gave up with 401, nothing relayed".to_string(),
            ),
            (_, _, Err(e)) => Verdict::Failed(format!("{e}; client {}", ran.last_state())),
            _ => Verdict::Failed(format!(
                "wanted exit 1 with error 401 and nothing relayed, saw code {code:?}, {} datagram(s) relayed; {}",
                relayed.len(),
                ran.last_state()
            )),
        }
    });
    if let Err(e) = coturn.alive() {
        println!("interop: coturn died during the run: {e}");
    }
}

fn stun_client_case(bin: &Path, dir: &Path, server: SocketAddr, ip: IpAddr) -> Verdict {
    let ran = run_bounded(
        "icebreaker stun-client",
        Command::new(bin)
            .arg("stun-client")
            .arg(server.to_string())
            .arg("--bind")
            .arg(SocketAddr::new(ip, 0).to_string())
            .arg("--json"),
        dir,
        TOOL_LIMIT,
    );
    let mapped = json_field(&ran.out, "mapped_address");
    let local = json_field(&ran.out, "local_address");
    let software = json_field(&ran.out, "software").unwrap_or_default();
    let mapped_ip = mapped
        .as_deref()
        .and_then(|m| m.parse::<SocketAddr>().ok())
        .map(|a| a.ip());
    if ran.code == Some(0)
        && mapped.is_some()
        && mapped == local
        && mapped_ip == Some(ip)
        && software.starts_with("Coturn")
    {
        Verdict::Ok(format!(
            "coturn saw us at {} (XOR-MAPPED-ADDRESS = our socket), SOFTWARE {software:?}",
            mapped.unwrap_or_default()
        ))
    } else {
        Verdict::Failed(format!(
            "wanted the mapped address to be our socket {local:?} from coturn, saw mapped {mapped:?}, software {software:?}; {}",
            ran.last_state()
        ))
    }
}

/// `icebreaker turn-client SERVER --user USER:PASSWORD --peer ECHO`, for more arguments.
fn turn_client(bin: &Path, server: &str, password: &str, echo: &Echo) -> Command {
    let mut c = Command::new(bin);
    c.arg("turn-client")
        .arg(server)
        .arg("--user")
        .arg(format!("{USER}:{password}"))
        .arg("--peer")
        .arg(echo.addr.to_string());
    c
}

/// How long coturn's nonces stay fresh (`--stale-nonce`); every other case is over well within.
const STALE_NONCE: Duration = Duration::from_secs(3);

/// `icebreaker turn-client --hold` past coturn's nonce lifetime: the deletion (a Refresh with
/// LIFETIME 0) goes out with a stale nonce, coturn answers 438 with a fresh one, and the retry
/// deletes the allocation.
fn stale_nonce_case(
    bin: &Path,
    dir: &Path,
    log: &CoturnLog,
    server: SocketAddr,
    echo: &Echo,
) -> Verdict {
    let _ = echo.take();
    let from = log.len();
    let hold = STALE_NONCE + Duration::from_millis(1500);
    let ran = run_bounded(
        "icebreaker turn-client --hold",
        turn_client(bin, &server.to_string(), PASS, echo)
            .args(["--timeout", "5000", "--json"])
            .arg("--hold")
            .arg(hold.as_millis().to_string()),
        dir,
        TOOL_LIMIT + hold,
    );
    let last = || {
        format!(
            "client: {}; coturn's last lines: {}",
            ran.last_state(),
            tail(&log.since(from), 3)
        )
    };
    let deleted = json_field(&ran.out, "deleted");
    // The one datagram went through before the hold (and is taken, so the next case starts
    // with an empty echo record).
    let seen = echo.take().len();
    if ran.code != Some(0) || deleted.as_deref() != Some("true") || seen != 1 {
        return Verdict::Failed(format!(
            "wanted exit 0, one datagram at the echo peer and the deletion confirmed, saw exit {:?}, {seen} datagram(s), deleted {deleted:?}; {}",
            ran.code,
            last()
        ));
    }
    let refresh = format!("user <{USER}>: incoming packet REFRESH processed, success");
    let stale_nonce = "processed, error 438: Stale nonce";
    match log.wait_for(from, &[stale_nonce, &refresh], Duration::from_secs(3)) {
        Ok(text) => {
            let stale = text.find(stale_nonce).unwrap_or(usize::MAX);
            let success = text.rfind(&refresh).unwrap_or(0);
            if stale > success {
                return Verdict::Failed(format!(
                    "coturn logged no 438 before the Refresh success; {}",
                    last()
                ));
            }
            Verdict::Ok(format!(
                "the datagram relayed, then held {} ms past coturn's {} s nonce lifetime: coturn answered the deletion 438, then logged REFRESH success; icebreaker confirmed the deletion",
                hold.as_millis(),
                STALE_NONCE.as_secs()
            ))
        }
        Err(e) => Verdict::Failed(format!("{e}; {}", last())),
    }
}

/// How `turn-client` gets its datagram through the relay.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Relayed {
    /// A permission and Send/Data indications.
    Indication,
    /// A channel binding and ChannelData (`--channel`).
    Channel,
    /// As `Indication`, with DONT-FRAGMENT in the Allocate and the Send indication
    /// (`--dont-fragment`), which coturn supports on Linux.
    DontFragment,
}

/// `icebreaker turn-client` through coturn to the echo peer, checked at all three.
fn turn_client_case(
    bin: &Path,
    dir: &Path,
    log: &CoturnLog,
    uri: &str,
    echo: &Echo,
    tag: &str,
    how: Relayed,
) -> Verdict {
    let channel = how == Relayed::Channel;
    let _ = echo.take();
    let from = log.len();
    let message = payload(tag);
    let ran = run_bounded(
        "icebreaker turn-client",
        turn_client(bin, uri, PASS, echo)
            .arg("--message")
            .arg(&message)
            .args(["--timeout", "5000", "--json"])
            .args(channel.then_some("--channel"))
            .args((how == Relayed::DontFragment).then_some("--dont-fragment")),
        dir,
        TOOL_LIMIT,
    );
    if ran.code != Some(0) {
        return Verdict::Failed(format!(
            "client: {}; coturn's last lines: {}",
            ran.last_state(),
            tail(&log.since(from), 3)
        ));
    }
    let relayed = json_field(&ran.out, "relayed").and_then(|r| r.parse::<SocketAddr>().ok());
    let back = json_field(&ran.out, "received_hex");
    let back_from = json_field(&ran.out, "from");
    let seen = echo.take();
    let Some(relayed) = relayed else {
        return Verdict::Failed(format!("no relayed address in {}", tail(&ran.out, 1)));
    };
    // What the client and coturn said last, for every failure below.
    let last = || {
        format!(
            "client: {}; coturn's last lines: {}",
            ran.last_state(),
            tail(&log.since(from), 3)
        )
    };
    let bound = json_field(&ran.out, "channel").and_then(|c| c.parse::<u16>().ok());
    let dont_fragment = json_field(&ran.out, "dont_fragment").filter(|v| v != "null");
    let df_wanted = (how == Relayed::DontFragment).then_some("true");
    if dont_fragment.as_deref() != df_wanted {
        return Verdict::Failed(format!(
            "wanted dont_fragment {df_wanted:?} in the client's output, saw {dont_fragment:?}; {}",
            last()
        ));
    }
    if channel != bound.is_some_and(|c| (0x4000..=0x4fff).contains(&c)) {
        return Verdict::Failed(format!(
            "wanted a channel: {channel}, the client bound {bound:?}; {}",
            last()
        ));
    }
    // The echo peer saw exactly our bytes, from coturn's relayed address.
    if seen.len() != 1 || seen[0].0 != relayed || seen[0].1 != message.as_bytes() {
        let got: Vec<String> = seen
            .iter()
            .map(|(a, d)| format!("{} bytes from {a}", d.len()))
            .collect();
        return Verdict::Failed(format!(
            "the echo peer wanted {} bytes from the relayed {relayed}, saw {got:?}; {}",
            message.len(),
            last()
        ));
    }
    if back.as_deref() != Some(hex(message.as_bytes()).as_str())
        || back_from.as_deref() != Some(echo.addr.to_string().as_str())
    {
        return Verdict::Failed(format!(
            "what came back differs: from {back_from:?}, hex {back:?}; {}",
            last()
        ));
    }
    // coturn's side of the story: a 401 challenge, then the authenticated Allocate and
    // CreatePermission (or ChannelBind), then (once the allocation is deleted) one packet each
    // way.
    let n = message.len();
    let usage = format!("username=<{USER}>, rp=1, rb={n}, sp=1, sb={n}");
    let permit = if channel {
        "CHANNEL_BIND"
    } else {
        "CREATE_PERMISSION"
    };
    let logged = log.wait_for(
        from,
        &[
            "error 401: Unauthorized",
            &format!("user <{USER}>: incoming packet ALLOCATE processed, success"),
            &format!("user <{USER}>: incoming packet {permit} processed, success"),
            &usage,
        ],
        Duration::from_secs(5),
    );
    match logged {
        Ok(text) => {
            let challenge = text.find("error 401").unwrap_or(usize::MAX);
            let success = text.find("ALLOCATE processed, success").unwrap_or(0);
            if challenge > success {
                return Verdict::Failed(format!(
                    "coturn logged the Allocate success before its 401; {}",
                    last()
                ));
            }
            let over = bound.map_or(String::new(), |c| format!(" over channel {c:#06x}"));
            let df = if df_wanted.is_some() {
                "; coturn accepted DONT-FRAGMENT (no 420) and relayed the Send indication"
            } else {
                ""
            };
            Verdict::Ok(format!(
                "coturn: 401 then ALLOCATE and {permit} success, peer usage rp=1 rb={n} sp=1 sb={n}; echo peer got the {n} bytes{over} from the relayed {relayed}, the same {n} bytes came back{df}"
            ))
        }
        Err(e) => Verdict::Failed(format!("{e}; {}", last())),
    }
}

// ---------------------------------------------------------------------------------------------
// icebreaker as the server

fn icebreaker_as_server(bin: &Path, dir: &Path, report: &mut Report) {
    stun_server_cases(bin, dir, report);
    turn_server_cases(bin, dir, report);
}

fn stun_server_cases(bin: &Path, dir: &Path, report: &mut Report) {
    let cases: &[Case<'_>] = &[
        Case {
            peer: "coturn",
            name: "icebreaker stun-server + turnutils_stunclient -f (RFC 5780)",
            roles: "icebreaker stun-server --other as server, coturn turnutils_stunclient as client",
        },
        Case {
            peer: "coturn",
            name: "icebreaker stun-server + turnutils_natdiscovery -m -f",
            roles: "icebreaker stun-server --other as server, coturn turnutils_natdiscovery as client",
        },
    ];
    let ips = [LO4, LO4B];
    let ports = free_port(&ips, &[]).and_then(|p| Ok((p, free_port(&ips, &[p])?)));
    let (port, alt) = match ports {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &e),
    };
    let primary = SocketAddr::new(LO4, port);
    let other = SocketAddr::new(LO4B, alt);
    let mut server = match Proc::spawn(
        "icebreaker stun-server",
        Command::new(bin)
            .arg("stun-server")
            .arg("--listen")
            .arg(primary.to_string())
            .arg("--other")
            .arg(other.to_string()),
        dir,
    ) {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &e),
    };
    if let Err(e) = wait_stun(primary, START_LIMIT)
        .and_then(|()| wait_stun(other, START_LIMIT))
        .and_then(|()| server.alive())
    {
        return report.all_failed(cases, &format!("icebreaker stun-server never ready: {e}"));
    }

    report.case(cases[0], || {
        let ran = run_bounded(
            "turnutils_stunclient",
            Command::new("turnutils_stunclient")
                .arg("-f")
                .arg("-p")
                .arg(port.to_string())
                .arg("127.0.0.1"),
            dir,
            TOOL_LIMIT,
        );
        let want = [
            format!("Response origin: : {primary}"),
            format!("Other addr: : {other}"),
            // The answer to CHANGE-REQUEST (change IP and port) came from the other address.
            format!("Response origin: : {other}"),
            "UDP reflexive addr: 127.0.0.1:".to_string(),
        ];
        let missing: Vec<&String> = want.iter().filter(|w| !ran.out.contains(*w)).collect();
        if ran.code == Some(0) && missing.is_empty() {
            let reflexive = ran
                .out
                .lines()
                .find(|l| l.contains("UDP reflexive addr"))
                .and_then(|l| l.split("addr: ").nth(1))
                .unwrap_or("?")
                .trim()
                .to_string();
            Verdict::Ok(format!(
                "stunclient saw reflexive {reflexive}, RESPONSE-ORIGIN {primary}, OTHER-ADDRESS {other}, and the CHANGE-REQUEST answer from {other}"
            ))
        } else {
            Verdict::Failed(format!(
                "stunclient never printed {missing:?}; {}",
                ran.last_state()
            ))
        }
    });
    report.case(cases[1], || {
        let ran = run_bounded(
            "turnutils_natdiscovery",
            Command::new("turnutils_natdiscovery")
                .args(["-m", "-f", "-p"])
                .arg(port.to_string())
                .arg("127.0.0.1"),
            dir,
            TOOL_LIMIT,
        );
        let mapping = ran.out.contains("NAT with Endpoint Independent Mapping!");
        let filtering = ran.out.contains("NAT with Endpoint Independent Filtering!");
        if ran.code == Some(0) && mapping && filtering {
            Verdict::Ok(
                "natdiscovery: \"NAT with Endpoint Independent Mapping!\", \"NAT with Endpoint Independent Filtering!\""
                    .to_string(),
            )
        } else {
            let verdicts: Vec<&str> = ran.out.lines().filter(|l| l.starts_with("NAT ")).collect();
            Verdict::Failed(format!(
                "natdiscovery wanted EIM and EIF, said {verdicts:?}; {}",
                ran.last_state()
            ))
        }
    });
    if let Err(e) = server.alive() {
        println!("interop: icebreaker stun-server died during the run: {e}");
    }
}

/// What a `turnutils_uclient` run reported.
struct Uclient {
    ran: Ran,
    sent: Option<u64>,
    received: Option<u64>,
    lost: Option<u64>,
    /// "Received relay addr" lines, in order (the first belongs to uclient's probe).
    relays: Vec<SocketAddr>,
    /// Channel numbers the server accepted ("success: 0x4610").
    channels: Vec<String>,
}

fn uclient(dir: &Path, port: u16, flags: &[&str], peer: Option<SocketAddr>, n: u32) -> Uclient {
    let mut cmd = Command::new("turnutils_uclient");
    cmd.arg("-v")
        .args(flags)
        .args(["-u", USER, "-w", PASS, "-p"])
        .arg(port.to_string())
        .args(["-m", "1", "-n"])
        .arg(n.to_string())
        .args(["-l", "100", "-z", "5"]);
    if let Some(p) = peer {
        cmd.arg("-e")
            .arg(p.ip().to_string())
            .arg("-r")
            .arg(p.port().to_string());
    }
    cmd.arg("127.0.0.1");
    let ran = run_bounded("turnutils_uclient", &mut cmd, dir, TOOL_LIMIT);
    // The summary line is the last `tot_send_msgs=` line without `msz=`.
    let summary = ran
        .out
        .lines()
        .rfind(|l| l.contains("tot_send_msgs=") && !l.contains("msz="))
        .unwrap_or_default();
    let lost = ran
        .out
        .lines()
        .find(|l| l.contains("Total lost packets"))
        .and_then(|l| num_after(l, "Total lost packets "));
    let relays = ran
        .out
        .lines()
        .filter_map(|l| l.split("Received relay addr: ").nth(1))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let channels = ran
        .out
        .lines()
        .filter_map(|l| l.split("success: ").nth(1))
        .map(|c| c.trim().to_string())
        .collect();
    Uclient {
        sent: num_after(summary, "tot_send_msgs="),
        received: num_after(summary, "tot_recv_msgs="),
        lost,
        relays,
        channels,
        ran,
    }
}

impl Uclient {
    /// Whether uclient says all `n` messages went and came back with none lost.
    fn complete(&self, n: u64) -> bool {
        self.ran.code == Some(0)
            && self.sent == Some(n)
            && self.received == Some(n)
            && self.lost == Some(0)
    }

    fn said(&self) -> String {
        format!(
            "uclient: sent {:?}, received {:?}, lost {:?}; {}",
            self.sent,
            self.received,
            self.lost,
            self.ran.last_state()
        )
    }
}

/// Checks a uclient run against the echo peer: `n` datagrams of 100 bytes from its relay. With a
/// tap between uclient and the server, also that the payloads uclient sent are the ones the echo
/// peer received and the ones that came back to uclient, byte for byte.
fn check_echoed(u: &Uclient, echo: &Echo, tap: Option<&Tap>, n: u64, how: &str) -> Verdict {
    let seen = echo.take();
    if !u.complete(n) {
        return Verdict::Failed(u.said());
    }
    let Some(relay) = u.relays.last() else {
        return Verdict::Failed(format!("uclient printed no relayed address; {}", u.said()));
    };
    let from_relay = seen.iter().filter(|(a, _)| a == relay).count();
    let sized = seen.iter().all(|(_, d)| d.len() == 100);
    if from_relay as u64 != n || seen.len() as u64 != n || !sized {
        return Verdict::Failed(format!(
            "the echo peer wanted {n} datagrams of 100 bytes from the relayed {relay}, saw {} ({from_relay} from it)",
            seen.len()
        ));
    }
    let said = format!(
        "uclient {how}: tot_send_msgs={n}, tot_recv_msgs={n}, 0 lost; the echo peer got {n} × 100 bytes from the relayed {relay}"
    );
    let Some(tap) = tap else {
        return Verdict::Ok(said);
    };
    let at_peer: Vec<Vec<u8>> = seen.into_iter().map(|(_, d)| d).collect();
    let compared = tap.relayed().and_then(|r| {
        same_payloads("uclient sent", &r.sent, "the echo peer received", &at_peer)?;
        same_payloads(
            "the echo peer returned",
            &at_peer,
            "uclient received",
            &r.delivered,
        )
    });
    match compared {
        Ok(()) => Verdict::Ok(format!(
            "{said}; at a recording proxy before the server, the {n} payloads uclient sent are byte for byte the {n} the echo peer received and the {n} uclient got back"
        )),
        Err(e) => Verdict::Failed(format!("{said}, but {e}")),
    }
}

/// Whether two lists hold the same payloads, each as often, in any order (UDP may reorder).
fn same_payloads(
    what_a: &str,
    a: &[Vec<u8>],
    what_b: &str,
    b: &[Vec<u8>],
) -> std::result::Result<(), String> {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    if a == b {
        return Ok(());
    }
    let differ = a.iter().zip(&b).find(|(x, y)| x != y);
    Err(match differ {
        Some((x, y)) => {
            let at = x.iter().zip(y.iter()).take_while(|(p, q)| p == q).count();
            let around = |v: &[u8]| hex(&v[at.saturating_sub(4)..v.len().min(at + 4)]);
            format!(
                "{what_a} {} payloads and {what_b} {}; the first that differ ({} and {} bytes) part at byte {at}: {} vs {}",
                a.len(),
                b.len(),
                x.len(),
                y.len(),
                around(x),
                around(y)
            )
        }
        None => format!("{what_a} {} payloads and {what_b} {}", a.len(), b.len()),
    })
}

fn turn_server_cases(bin: &Path, dir: &Path, report: &mut Report) {
    const ROLES: &str = "icebreaker turn-server as TURN server, coturn turnutils_uclient as client";
    let cases: &[Case<'_>] = &[
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (udp, -s indications)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (tcp, -s indications)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (udp, channels)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (tcp, channels)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (-y client to client, -s)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (-y client to client, channels)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (tls, -s indications)",
            roles: ROLES,
        },
        Case {
            peer: "coturn",
            name: "icebreaker turn-server + turnutils_uclient (tls, channels)",
            roles: ROLES,
        },
    ];
    let ports = free_port(&[LO4], &[]).and_then(|p| Ok((p, free_port(&[LO4], &[p])?)));
    let (port, tls_port) = match ports {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &e),
    };
    let pki = match test_pki(dir) {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &format!("test certificates: {e}")),
    };
    let listen = SocketAddr::new(LO4, port);
    let tls_listen = SocketAddr::new(LO4, tls_port);
    let mut server = match Proc::spawn(
        "icebreaker turn-server",
        Command::new(bin)
            .arg("turn-server")
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--tls-listen")
            .arg(tls_listen.to_string())
            .arg("--cert")
            .arg(&pki.cert)
            .arg("--key")
            .arg(&pki.key)
            .args(["--realm", REALM, "--user"])
            .arg(format!("{USER}:{PASS}"))
            .args(["--allow-peer", "127.0.0.0/8"])
            // uclient runs that end early leave their allocations behind until they expire.
            .args(["--user-quota", "5000", "--total-quota", "5000"]),
        dir,
    ) {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &e),
    };
    if let Err(e) = wait_stun(listen, START_LIMIT)
        .and_then(|()| wait_tcp(listen, START_LIMIT))
        .and_then(|()| wait_tcp(tls_listen, START_LIMIT))
        .and_then(|()| server.alive())
    {
        return report.all_failed(cases, &format!("icebreaker turn-server never ready: {e}"));
    }
    let echo = match Echo::start(LO4) {
        Ok(e) => e,
        Err(e) => return report.all_failed(cases, &format!("echo peer: {e}")),
    };
    // UDP and TCP go through a recording proxy, so that relayed payloads can be compared.
    let tap = match Tap::start(listen) {
        Ok(t) => t,
        Err(e) => return report.all_failed(cases, &format!("recording proxy: {e}")),
    };
    let tapped = tap.addr.port();
    const N: u32 = 20;

    report.case(cases[0], || {
        let _ = echo.take();
        tap.take();
        let u = uclient(dir, tapped, &["-s", "-c"], Some(echo.addr), N);
        check_echoed(
            &u,
            &echo,
            Some(&tap),
            N.into(),
            "Send/Data indications over UDP",
        )
    });
    report.case(cases[1], || {
        let _ = echo.take();
        tap.take();
        let u = uclient(dir, tapped, &["-t", "-s", "-c"], Some(echo.addr), N);
        check_echoed(
            &u,
            &echo,
            Some(&tap),
            N.into(),
            "Send/Data indications over TCP",
        )
    });
    for (case, flags, how) in [
        (&cases[2], &["-c"][..], "ChannelData over UDP"),
        (&cases[3], &["-t", "-c"][..], "ChannelData over TCP"),
    ] {
        report.case(*case, || {
            channel_case(dir, tapped, flags, &echo, Some(&tap), N, how)
        });
    }
    for (case, flags) in [
        (&cases[4], &["-y", "-s", "-c"][..]),
        (&cases[5], &["-y", "-c"][..]),
    ] {
        // Two clients relay to each other's relayed address on this one server, which the
        // peer policy alone (the server's own IP) would refuse.
        report.case(*case, || {
            tap.take();
            let (u, refused) = uclient_channels(dir, tapped, flags, None, N);
            let relays: Vec<String> = u.relays.iter().map(ToString::to_string).collect();
            // With -y uclient runs two clients, each sending N to the other: it counts 2N.
            let total = 2 * u64::from(N);
            if u.complete(total) {
                let said = format!(
                    "uclient: tot_send_msgs={total}, tot_recv_msgs={total}, 0 lost, two clients sending to each other's relayed address (relays {})",
                    relays.join(", ")
                );
                let compared = tap.relayed().and_then(|r| {
                    same_payloads("the clients sent", &r.sent, "they received", &r.delivered)?;
                    match r.sent.len() as u64 {
                        sent if sent == total => Ok(()),
                        sent => Err(format!("the clients sent {sent} payloads, not {total}")),
                    }
                });
                return match compared {
                    Ok(()) => Verdict::Ok(format!(
                        "{said}; at a recording proxy before the server, the {total} payloads sent are byte for byte the {total} received"
                    )),
                    Err(e) => Verdict::Failed(format!("{said}, but {e}")),
                };
            }
            Verdict::Failed(format!(
                "{}; relays {}; {refused} earlier run(s) drew channel numbers above 0x4FFF (400)",
                u.said(),
                relays.join(", ")
            ))
        });
    }
    // TLS: uclient -t -S on the TLS port, checking the server's certificate against the test CA.
    let ca = pki.ca.to_string_lossy().into_owned();
    report.case(cases[6], || {
        let _ = echo.take();
        let flags = ["-t", "-S", "-E", ca.as_str(), "-s", "-c"];
        let u = uclient(dir, tls_port, &flags, Some(echo.addr), N);
        check_echoed(&u, &echo, None, N.into(), "Send/Data indications over TLS")
    });
    report.case(cases[7], || {
        let flags = ["-t", "-S", "-E", ca.as_str(), "-c"];
        channel_case(
            dir,
            tls_port,
            &flags,
            &echo,
            None,
            N,
            "ChannelData over TLS",
        )
    });
    if let Err(e) = server.alive() {
        println!("interop: icebreaker turn-server died during the run: {e}");
    }
}

/// PEM files of a throwaway test CA and a server certificate it signed for 127.0.0.1 and
/// localhost.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Makes the test PKI with the `openssl` command (EC P-256, valid for a day).
fn test_pki(dir: &Path) -> std::result::Result<Pki, String> {
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let (ca_key, csr, ext) = (
        dir.join("ca.key"),
        dir.join("cert.csr"),
        dir.join("cert.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("{}: {e}", ext.display()))?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_limited(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&pki.ca)
            .args(["-days", "1", "-subj", "/CN=icebreaker interop CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
        TOOL_LIMIT,
    )?;
    run_limited(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(&pki.key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", "/CN=localhost"]),
        TOOL_LIMIT,
    )?;
    run_limited(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "1", "-set_serial", "2"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&pki.ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&pki.cert),
        TOOL_LIMIT,
    )?;
    Ok(pki)
}

/// uclient draws each channel number at random from RFC 5766's 0x4000-0x7FFF and binds two
/// per run; icebreaker follows RFC 8656 §11.2 (0x4000-0x4FFF, else 400 Bad Request). So this
/// reruns uclient, bounded in runs and time, while a run ends on exactly that 400 before any
/// data moved; returns the first other run and how many were refused.
fn uclient_channels(
    dir: &Path,
    port: u16,
    flags: &[&str],
    peer: Option<SocketAddr>,
    n: u32,
) -> (Uclient, usize) {
    let started = Instant::now();
    let mut refused = 0;
    loop {
        // Each run draws two 401 challenges; over UDP icebreaker answers at most 20 per second
        // per source IP (burst 40) and drops the rest (uclient retransmits over UDP). Pace the
        // runs well under that.
        let next = Instant::now() + CHANNEL_PACE;
        let u = uclient(dir, port, flags, peer, n);
        let bad_channel = u.ran.code != Some(0)
            && u.ran.out.contains("channel bind: error 400")
            && !u.ran.out.contains("tot_send_msgs");
        if !bad_channel
            || refused + 1 >= CHANNEL_ATTEMPTS
            || started.elapsed() > Duration::from_secs(60)
        {
            return (u, refused);
        }
        refused += 1;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn channel_case(
    dir: &Path,
    port: u16,
    flags: &[&str],
    echo: &Echo,
    tap: Option<&Tap>,
    n: u32,
    how: &str,
) -> Verdict {
    let _ = echo.take();
    if let Some(t) = tap {
        t.take();
    }
    let (u, refused) = uclient_channels(dir, port, flags, Some(echo.addr), n);
    match check_echoed(&u, echo, tap, n.into(), how) {
        Verdict::Ok(s) => Verdict::Ok(format!(
            "{s}; channel numbers accepted: {}; {refused} earlier run(s) drew a number above 0x4FFF and got 400 Bad Request as RFC 8656 requires",
            u.channels.join(", ")
        )),
        Verdict::Failed(s) => Verdict::Failed(format!(
            "after {refused} run(s) refused with 400 on ChannelBind: {s}"
        )),
        other => other,
    }
}

/// Installs Debian's coturn (and openssl) when `turnserver` is missing (the harness runs as root).
pub(crate) fn ensure_coturn() -> Result {
    const TOOLS: &[&str] = &[
        "turnserver",
        "turnutils_stunclient",
        "turnutils_natdiscovery",
        "turnutils_uclient",
        // The TLS cases' test certificates.
        "openssl",
    ];
    if TOOLS.iter().all(|t| have(t)) {
        return Ok(());
    }
    agent::apt_install(&["coturn", "openssl"], false)?;
    match TOOLS.iter().find(|t| !have(t)) {
        Some(t) => Err(format!("`{t}` still missing after installing coturn")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::same_payloads;

    #[test]
    fn payload_lists_match_in_any_order_and_name_the_first_difference() {
        let a = [b"one".to_vec(), b"two".to_vec()];
        let swapped = [b"two".to_vec(), b"one".to_vec()];
        assert_eq!(same_payloads("a", &a, "b", &swapped), Ok(()));
        let e = same_payloads("a", &a, "b", &[b"one".to_vec(), b"twx".to_vec()]).unwrap_err();
        assert!(e.contains("part at byte 2: 74776f vs 747778"), "{e}");
        let e = same_payloads("a", &a, "b", &a[..1]).unwrap_err();
        assert!(e.contains("a 2 payloads and b 1"), "{e}");
    }
}
