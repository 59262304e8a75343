//! `cargo xtask interop`: icebreaker against independently written peers, on loopback.
//!
//! Today: coturn (Debian's `coturn` package), both ways.
//! - coturn's `turnserver` as the server (listening on 127.0.0.1 and 127.0.0.2, so it speaks
//!   RFC 5780, and on ::1): `icebreaker stun-client`, `nat-type` and `turn-client` (UDP and TCP,
//!   IPv4 and IPv6, a wrong password) against it. What coturn observed is read back from its
//!   answers (XOR-MAPPED-ADDRESS, OTHER-ADDRESS) and from its verbose log (401 then success,
//!   per-session relayed packet and byte counts); relayed payloads are compared byte for byte at
//!   an echo peer run here.
//! - icebreaker's `stun-server --other` and `turn-server` as the servers: coturn's
//!   `turnutils_stunclient`, `turnutils_natdiscovery` and `turnutils_uclient` (indications,
//!   channels, UDP and TCP, client to client) against them, their own reports parsed.
//!
//! Every process started here is killed by PID when its guard drops (also on failure or panic),
//! every wait is bounded, every socket is on loopback. One line per case:
//! `interop coturn <case>: ok|FAILED|skipped (what the peer observed)`, then
//! `interop: N passed, M failed, K skipped`.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Result, cargo, project_root, run};

const REALM: &str = "icebreaker.test";
const USER: &str = "interop";
const PASS: &str = "interop-pass-7";

const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LO4B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// How long one tool run may take (uclient alone needs 2-5 s for 20 messages).
const TOOL_LIMIT: Duration = Duration::from_secs(25);
/// How long a server may take to answer its first STUN binding request.
const START_LIMIT: Duration = Duration::from_secs(10);
/// The echo peer stops by itself after this long, whatever happens to the harness.
const ECHO_LIFETIME: Duration = Duration::from_secs(300);
/// Most `turnutils_uclient` runs spent waiting for it to draw RFC 8656 channel numbers.
const CHANNEL_ATTEMPTS: usize = 200;
/// Least time between two of those runs (see `uclient_channels`).
const CHANNEL_PACE: Duration = Duration::from_millis(200);

pub(crate) fn interop(args: &[String]) -> Result {
    let mut keep = false;
    for a in args {
        match a.as_str() {
            "--keep" => keep = true,
            other => return Err(format!("unknown interop option {other} (only --keep)")),
        }
    }
    let started = Instant::now();
    run(Command::new(cargo()).args(["build", "--release", "-p", "icebreaker"]))?;
    let bin = target_dir().join("release").join("icebreaker");
    if !bin.exists() {
        return Err(format!("{} was not built", bin.display()));
    }
    ensure_coturn()?;
    let built = started.elapsed();
    let dir = std::env::temp_dir().join(format!("icebreaker-interop-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!("\n$ interop (scratch directory {})", dir.display());

    let mut report = Report::default();
    let t = Instant::now();
    coturn_as_server(&bin, &dir, &mut report);
    let coturn_server = t.elapsed();
    let t = Instant::now();
    icebreaker_as_server(&bin, &dir, &mut report);
    let icebreaker_server = t.elapsed();

    println!(
        "interop: timings: build and install {:.1} s, coturn as server {:.1} s, icebreaker as server {:.1} s, total {:.1} s",
        built.as_secs_f64(),
        coturn_server.as_secs_f64(),
        icebreaker_server.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if report.failed > 0 || keep {
        println!("interop: logs kept in {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(&dir);
    }
    println!(
        "interop: {} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    );
    if report.failed > 0 {
        Err(format!("{} interop case(s) failed", report.failed))
    } else {
        Ok(())
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                project_root().join(p)
            }
        })
        .unwrap_or_else(|| project_root().join("target"))
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian's coturn when `turnserver` is missing (the harness runs as root).
fn ensure_coturn() -> Result {
    const TOOLS: &[&str] = &[
        "turnserver",
        "turnutils_stunclient",
        "turnutils_natdiscovery",
        "turnutils_uclient",
    ];
    if TOOLS.iter().all(|t| have(t)) {
        return Ok(());
    }
    run(Command::new("apt-get").args(["update"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "coturn"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    match TOOLS.iter().find(|t| !have(t)) {
        Some(t) => Err(format!("`{t}` still missing after installing coturn")),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
}

enum Verdict {
    Ok(String),
    /// What was observed last; the case's roles are prepended.
    Failed(String),
    Skipped(String),
}

#[derive(Clone, Copy)]
struct Case<'a> {
    name: &'a str,
    /// Who plays what, named in a failure.
    roles: &'a str,
}

impl Report {
    fn case(&mut self, case: Case<'_>, f: impl FnOnce() -> Verdict) {
        let t = Instant::now();
        let verdict = f();
        let took = t.elapsed().as_secs_f64();
        let line = match verdict {
            Verdict::Ok(s) => {
                self.passed += 1;
                format!("ok ({s})")
            }
            Verdict::Failed(s) => {
                self.failed += 1;
                format!("FAILED ({}; {s})", case.roles)
            }
            Verdict::Skipped(s) => {
                self.skipped += 1;
                format!("skipped ({s})")
            }
        };
        println!("interop coturn {}: {line} [{took:.2} s]", case.name);
    }

    /// Every case of a group fails the same way (its server did not start).
    fn all_failed(&mut self, cases: &[Case<'_>], why: &str) {
        for c in cases {
            self.case(*c, || Verdict::Failed(why.to_string()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A process started here; killed and reaped when dropped.
struct Proc {
    name: String,
    child: Child,
    out: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, dir: &Path) -> std::result::Result<Self, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let out = dir.join(format!("{n:03}-{}.log", sanitize(name)));
        let file = fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", out.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            out,
        })
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Whether it is still running; when not, its exit and the end of its output.
    fn alive(&mut self) -> std::result::Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} (pid {}) exited with {status}: {}",
                self.name,
                self.child.id(),
                tail(&self.output(), 3)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What a bounded tool run left behind.
struct Ran {
    /// Exit code; `None` when killed (timed out or by a signal).
    code: Option<i32>,
    timed_out: bool,
    /// stdout and stderr, interleaved as written.
    out: String,
}

impl Ran {
    fn last_state(&self) -> String {
        let how = if self.timed_out {
            "timed out".to_string()
        } else {
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".to_string(),
            }
        };
        format!("{how}, last output: {}", tail(&self.out, 2))
    }
}

/// Runs a command to completion or until `limit`, killing it then.
fn run_bounded(name: &str, cmd: &mut Command, dir: &Path, limit: Duration) -> Ran {
    let mut p = match Proc::spawn(name, cmd, dir) {
        Ok(p) => p,
        Err(e) => {
            return Ran {
                code: None,
                timed_out: false,
                out: e,
            };
        }
    };
    let deadline = Instant::now() + limit;
    let (code, timed_out) = loop {
        match p.child.try_wait() {
            Ok(Some(status)) => break (status.code(), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = p.child.kill();
                let _ = p.child.wait();
                break (None, true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => break (None, false),
        }
    };
    Ran {
        code,
        timed_out,
        out: p.output(),
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The last `n` non-empty lines, joined with " | ".
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(n);
    let t = lines[from..].join(" | ");
    if t.is_empty() {
        "(none)".to_string()
    } else {
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets

/// A port free for UDP and TCP on every one of `ips`, found by binding port 0 first.
fn free_port(ips: &[IpAddr], not: &[u16]) -> std::result::Result<u16, String> {
    for _ in 0..100 {
        let first = UdpSocket::bind(SocketAddr::new(ips[0], 0)).map_err(|e| e.to_string())?;
        let port = first.local_addr().map_err(|e| e.to_string())?.port();
        if not.contains(&port) {
            continue;
        }
        let mut held_udp = vec![first];
        let mut held_tcp = Vec::new();
        let mut ok = true;
        for (i, ip) in ips.iter().enumerate() {
            let a = SocketAddr::new(*ip, port);
            if i > 0 {
                match UdpSocket::bind(a) {
                    Ok(s) => held_udp.push(s),
                    Err(_) => ok = false,
                }
            }
            match TcpListener::bind(a) {
                Ok(s) => held_tcp.push(s),
                Err(_) => ok = false,
            }
        }
        if ok {
            return Ok(port);
        }
    }
    Err(format!("no port free on all of {ips:?}"))
}

/// Sends STUN Binding requests to `to` until one is answered or `limit` passes.
fn wait_stun(to: SocketAddr, limit: Duration) -> std::result::Result<(), String> {
    let bind = if to.is_ipv4() {
        SocketAddr::new(LO4, 0)
    } else {
        SocketAddr::new(LO6, 0)
    };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(&nanos.to_be_bytes()[4..]);
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        let _ = sock.send_to(&req, to);
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            if let Ok((n, from)) = sock.recv_from(&mut buf)
                && from == to
                && n >= 20
                && buf[8..20] == req[8..20]
                && buf[0] == 0x01
            {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no answer to a STUN binding request at {to} in {limit:?}"
    ))
}

fn wait_tcp(to: SocketAddr, limit: Duration) -> std::result::Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match TcpStream::connect_timeout(&to, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no TCP listener at {to}: {e}"));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

type Seen = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// A UDP echo peer on a thread: sends every datagram back to its source, remembers them all.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Seen,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(ip: IpAddr) -> std::result::Result<Self, String> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        let addr = sock.local_addr().map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Seen = Arc::default();
        let (s, v) = (stop.clone(), seen.clone());
        let thread = thread::spawn(move || {
            let end = Instant::now() + ECHO_LIFETIME;
            let mut buf = vec![0u8; 65_536];
            while !s.load(Ordering::Relaxed) && Instant::now() < end {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let data = buf[..n].to_vec();
                    let _ = sock.send_to(&data, from);
                    if let Ok(mut g) = v.lock() {
                        g.push((from, data));
                    }
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            seen,
            thread: Some(thread),
        })
    }

    fn take(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.seen
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small parsers

/// The value of `"key":` in one line of icebreaker's compact JSON: a string, the first string
/// of an array, or a bare literal.
fn json_field(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat)? + pat.len()..];
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    if let Some(r) = rest.strip_prefix('"') {
        Some(r[..r.find('"')?].to_string())
    } else {
        let end = rest.find([',', '}', ']'])?;
        Some(rest[..end].trim().to_string())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// A payload that differs per run and is not plain ASCII, to compare byte for byte.
fn payload(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("icebreaker interop {tag} {nanos:09} ❄ über")
}

/// The number after `key=` in `line`.
fn num_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// coturn as the server

/// coturn's verbose log, read from where a case started.
struct CoturnLog {
    path: PathBuf,
}

impl CoturnLog {
    fn len(&self) -> usize {
        fs::read_to_string(&self.path).map_or(0, |s| s.len())
    }

    fn since(&self, from: usize) -> String {
        let s = fs::read_to_string(&self.path).unwrap_or_default();
        s.get(from..).unwrap_or_default().to_string()
    }

    /// Waits until every needle is in the log after `from`; returns that part of the log.
    fn wait_for(
        &self,
        from: usize,
        needles: &[&str],
        limit: Duration,
    ) -> std::result::Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.since(from);
            match needles.iter().find(|n| !s.contains(**n)) {
                None => return Ok(s),
                Some(n) if Instant::now() >= deadline => {
                    return Err(format!(
                        "coturn never logged `{n}`; its last lines: {}",
                        tail(&s, 3)
                    ));
                }
                Some(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

fn coturn_as_server(bin: &Path, dir: &Path, report: &mut Report) {
    const SERVER: &str = "coturn turnserver as the server";
    let cases: &[Case<'_>] = &[
        Case {
            name: "turnserver + icebreaker stun-client (udp4)",
            roles: "coturn turnserver as STUN server, icebreaker stun-client as client",
        },
        Case {
            name: "turnserver + icebreaker stun-client (udp6)",
            roles: "coturn turnserver as STUN server, icebreaker stun-client as client",
        },
        Case {
            name: "turnserver + icebreaker nat-type (RFC 5780)",
            roles: "coturn turnserver as RFC 5780 server, icebreaker nat-type as client",
        },
        Case {
            name: "turnserver + icebreaker turn-client (udp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            name: "turnserver + icebreaker turn-client (tcp4)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            name: "turnserver + icebreaker turn-client (udp6)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
            name: "turnserver + icebreaker turn-client (tcp6)",
            roles: "coturn turnserver as TURN server, icebreaker turn-client as client",
        },
        Case {
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
    let turn =
        |uri: String, echo: &Echo, tag: &str| turn_client_case(bin, dir, &log, &uri, echo, tag);
    report.case(cases[3], || turn(server4.to_string(), &echo4, "udp4"));
    report.case(cases[4], || {
        turn(format!("turn:{server4}?transport=tcp"), &echo4, "tcp4")
    });
    report.case(cases[5], || turn(server6.to_string(), &echo6, "udp6"));
    report.case(cases[6], || {
        turn(format!("turn:{server6}?transport=tcp"), &echo6, "tcp6")
    });
    report.case(cases[7], || {
        let from = log.len();
        let ran = run_bounded(
            "icebreaker turn-client wrong password",
            Command::new(bin)
                .arg("turn-client")
                .arg(server4.to_string())
                .arg("--user")
                .arg(format!("{USER}:not-{PASS}"))
                .arg("--peer")
                .arg(echo4.addr.to_string())
                .arg("--json"),
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

/// `icebreaker turn-client` through coturn to the echo peer, checked at all three.
fn turn_client_case(
    bin: &Path,
    dir: &Path,
    log: &CoturnLog,
    uri: &str,
    echo: &Echo,
    tag: &str,
) -> Verdict {
    let _ = echo.take();
    let from = log.len();
    let message = payload(tag);
    let ran = run_bounded(
        "icebreaker turn-client",
        Command::new(bin)
            .arg("turn-client")
            .arg(uri)
            .arg("--user")
            .arg(format!("{USER}:{PASS}"))
            .arg("--peer")
            .arg(echo.addr.to_string())
            .arg("--message")
            .arg(&message)
            .args(["--timeout", "5000", "--json"]),
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
    // The echo peer saw exactly our bytes, from coturn's relayed address.
    if seen.len() != 1 || seen[0].0 != relayed || seen[0].1 != message.as_bytes() {
        let got: Vec<String> = seen
            .iter()
            .map(|(a, d)| format!("{} bytes from {a}", d.len()))
            .collect();
        return Verdict::Failed(format!(
            "the echo peer wanted {} bytes from the relayed {relayed}, saw {got:?}",
            message.len()
        ));
    }
    if back.as_deref() != Some(hex(message.as_bytes()).as_str())
        || back_from.as_deref() != Some(echo.addr.to_string().as_str())
    {
        return Verdict::Failed(format!(
            "what came back differs: from {back_from:?}, hex {back:?}"
        ));
    }
    // coturn's side of the story: a 401 challenge, then the authenticated Allocate and
    // CreatePermission, then (once the allocation is deleted) one packet each way.
    let n = message.len();
    let usage = format!("username=<{USER}>, rp=1, rb={n}, sp=1, sb={n}");
    let logged = log.wait_for(
        from,
        &[
            "error 401: Unauthorized",
            &format!("user <{USER}>: incoming packet ALLOCATE processed, success"),
            &format!("user <{USER}>: incoming packet CREATE_PERMISSION processed, success"),
            &usage,
        ],
        Duration::from_secs(5),
    );
    match logged {
        Ok(text) => {
            let challenge = text.find("error 401").unwrap_or(usize::MAX);
            let success = text.find("ALLOCATE processed, success").unwrap_or(0);
            if challenge > success {
                return Verdict::Failed("coturn logged the Allocate success before its 401".into());
            }
            Verdict::Ok(format!(
                "coturn: 401 then ALLOCATE and CREATE_PERMISSION success, peer usage rp=1 rb={n} sp=1 sb={n}; echo peer got the {n} bytes from the relayed {relayed}, the same {n} bytes came back"
            ))
        }
        Err(e) => Verdict::Failed(e),
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
            name: "icebreaker stun-server + turnutils_stunclient -f (RFC 5780)",
            roles: "icebreaker stun-server --other as server, coturn turnutils_stunclient as client",
        },
        Case {
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

/// Checks a uclient run against the echo peer: `n` datagrams of 100 bytes from its relay.
fn check_echoed(u: &Uclient, echo: &Echo, n: u64, how: &str) -> Verdict {
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
    Verdict::Ok(format!(
        "uclient {how}: tot_send_msgs={n}, tot_recv_msgs={n}, 0 lost; the echo peer got {n} × 100 bytes from the relayed {relay}"
    ))
}

fn turn_server_cases(bin: &Path, dir: &Path, report: &mut Report) {
    const ROLES: &str = "icebreaker turn-server as TURN server, coturn turnutils_uclient as client";
    let cases: &[Case<'_>] = &[
        Case {
            name: "icebreaker turn-server + turnutils_uclient (udp, -s indications)",
            roles: ROLES,
        },
        Case {
            name: "icebreaker turn-server + turnutils_uclient (tcp, -s indications)",
            roles: ROLES,
        },
        Case {
            name: "icebreaker turn-server + turnutils_uclient (udp, channels)",
            roles: ROLES,
        },
        Case {
            name: "icebreaker turn-server + turnutils_uclient (tcp, channels)",
            roles: ROLES,
        },
        Case {
            name: "icebreaker turn-server + turnutils_uclient (-y client to client, -s)",
            roles: ROLES,
        },
        Case {
            name: "icebreaker turn-server + turnutils_uclient (-y client to client, channels)",
            roles: ROLES,
        },
    ];
    let port = match free_port(&[LO4], &[]) {
        Ok(p) => p,
        Err(e) => return report.all_failed(cases, &e),
    };
    let listen = SocketAddr::new(LO4, port);
    let mut server = match Proc::spawn(
        "icebreaker turn-server",
        Command::new(bin)
            .arg("turn-server")
            .arg("--listen")
            .arg(listen.to_string())
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
        .and_then(|()| server.alive())
    {
        return report.all_failed(cases, &format!("icebreaker turn-server never ready: {e}"));
    }
    let echo = match Echo::start(LO4) {
        Ok(e) => e,
        Err(e) => return report.all_failed(cases, &format!("echo peer: {e}")),
    };
    const N: u32 = 20;

    report.case(cases[0], || {
        let _ = echo.take();
        let u = uclient(dir, port, &["-s", "-c"], Some(echo.addr), N);
        check_echoed(&u, &echo, N.into(), "Send/Data indications over UDP")
    });
    report.case(cases[1], || {
        let _ = echo.take();
        let u = uclient(dir, port, &["-t", "-s", "-c"], Some(echo.addr), N);
        check_echoed(&u, &echo, N.into(), "Send/Data indications over TCP")
    });
    for (case, flags, how) in [
        (&cases[2], &["-c"][..], "ChannelData over UDP"),
        (&cases[3], &["-t", "-c"][..], "ChannelData over TCP"),
    ] {
        report.case(*case, || channel_case(dir, port, flags, &echo, N, how));
    }
    for (case, flags) in [
        (&cases[4], &["-y", "-s", "-c"][..]),
        (&cases[5], &["-y", "-c"][..]),
    ] {
        report.case(*case, || {
            let (u, refused) = uclient_channels(dir, port, flags, None, N);
            if u.complete(N.into()) {
                return Verdict::Ok(format!(
                    "uclient: tot_send_msgs={N}, tot_recv_msgs={N}, 0 lost between two allocations"
                ));
            }
            if u.ran.out.contains("error 403") {
                // Known: icebreaker-turn's Server::check_peer_address refuses a peer that is
                // one of its own relayed addresses ("never relay into the server itself").
                let relays: Vec<String> = u.relays.iter().map(ToString::to_string).collect();
                return Verdict::Skipped(format!(
                    "known icebreaker limitation, not a tool problem: turn-server answers 403 Forbidden to uclient's CreatePermission/ChannelBind for the other client's relayed address (its relays {}), so relay-to-relay through one icebreaker turn-server fails{}",
                    relays.join(", "),
                    if refused > 0 { format!("; {refused} earlier run(s) drew channel numbers above 0x4FFF (400)") } else { String::new() }
                ));
            }
            Verdict::Failed(u.said())
        });
    }
    if let Err(e) = server.alive() {
        println!("interop: icebreaker turn-server died during the run: {e}");
    }
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
        // Each run draws two 401 challenges; icebreaker answers at most 20 per second per
        // source IP (burst 40) and drops the rest silently, which uclient over TCP never
        // retransmits. Pace the runs well under that.
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

fn channel_case(dir: &Path, port: u16, flags: &[&str], echo: &Echo, n: u32, how: &str) -> Verdict {
    let _ = echo.take();
    let (u, refused) = uclient_channels(dir, port, flags, Some(echo.addr), n);
    match check_echoed(&u, echo, n.into(), how) {
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
