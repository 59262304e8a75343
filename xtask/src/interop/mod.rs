//! `cargo xtask interop [GROUP..] [--keep]`: icebreaker against independently written peers.
//!
//! Each group is a submodule run against one implementation (all of them when none is named):
//! - `coturn` (coturn.rs): coturn's `turnserver` serving icebreaker's `stun-client`, `nat-type`
//!   and `turn-client`, and coturn's `turnutils_*` clients against icebreaker's servers.
//! - `aioice` (aioice.rs) and `libnice` (libnice.rs): their ICE agents (interop/aioice,
//!   interop/libnice) connecting to `icebreaker peer`, as agent.rs drives them.
//! - `chromium` (chromium.rs): headless Chromium's RTCPeerConnection against `icebreaker peer`
//!   and through icebreaker's `turn-server`, in a network namespace.
//!
//! `cargo xtask bench --peers ice` (ice_bench.rs) times the same ICE sessions across a link with
//! an added round-trip time between two network namespaces.
//!
//! Every process started here is killed by PID when its guard drops (also on failure or panic),
//! every wait is bounded, every socket is on loopback. One line per case:
//! `interop <peer> <case>: ok|FAILED|skipped (what the peer observed)`, then
//! `interop: N passed, M failed, K skipped`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{
    INSTALL_LIMIT, Result, cargo, interrupted, project_root, run, run_captured, run_limited,
};

mod agent;
mod aioice;
mod chromium;
mod coturn;
pub(crate) use coturn::ensure_coturn;
mod ice_bench;
mod libnice;
mod tap;

pub(crate) use ice_bench::bench_ice;

const REALM: &str = "icebreaker.test";
const USER: &str = "interop";
const PASS: &str = "interop-pass-7";

const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LO4B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// How long one tool run may take (uclient alone needs 2-5 s for 20 messages).
const TOOL_LIMIT: Duration = Duration::from_secs(25);
/// The whole suite, build and installs included (it takes about 4 minutes on 2 cores): a case
/// that would start later fails unrun, so a slow or stuck suite is red, not merely late.
const SUITE_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How long a server may take to answer its first STUN binding request.
const START_LIMIT: Duration = Duration::from_secs(10);
/// The echo peer stops by itself after this long, whatever happens to the harness.
const ECHO_LIFETIME: Duration = Duration::from_secs(300);
/// Most `turnutils_uclient` runs spent waiting for it to draw RFC 8656 channel numbers.
const CHANNEL_ATTEMPTS: usize = 200;
/// Least time between two of those runs (see `uclient_channels`).
const CHANNEL_PACE: Duration = Duration::from_millis(200);

/// The groups of cases, each against one independent implementation, in the order they run.
const GROUPS: &[&str] = &["coturn", "aioice", "libnice", "chromium"];

pub(crate) fn interop(args: &[String]) -> Result {
    let mut keep = false;
    let mut only: Vec<&str> = Vec::new();
    for a in args {
        match a.as_str() {
            "--keep" => keep = true,
            g if GROUPS.contains(&g) => only.push(g),
            other => {
                return Err(format!(
                    "unknown interop option {other} (--keep, or groups among {})",
                    GROUPS.join(" ")
                ));
            }
        }
    }
    if only.is_empty() {
        only = GROUPS.to_vec();
    }
    let started = Instant::now();
    run(Command::new(cargo()).args(["build", "--release", "-p", "icebreaker"]))?;
    let bin = target_dir().join("release").join("icebreaker");
    if !bin.exists() {
        return Err(format!("{} was not built", bin.display()));
    }
    let built = started.elapsed();
    let dir = std::env::temp_dir().join(format!("icebreaker-interop-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!("\n$ interop (scratch directory {})", dir.display());

    let mut report = Report {
        deadline: Some(started + SUITE_LIMIT),
        ..Report::default()
    };
    let mut timings = format!("build {:.1} s", built.as_secs_f64());
    for group in only {
        let t = Instant::now();
        match group {
            "coturn" => coturn::cases(&bin, &dir, &mut report),
            "aioice" => aioice::cases(&bin, &dir, &mut report),
            "libnice" => libnice::cases(&bin, &dir, &mut report),
            "chromium" => chromium::cases(&bin, &dir, &mut report),
            _ => unreachable!("groups are checked above"),
        }
        let _ = write!(timings, ", {group} {:.1} s", t.elapsed().as_secs_f64());
    }
    println!(
        "interop: timings: {timings}, total {:.1} s",
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
    if interrupted() {
        Err("interrupted".to_string())
    } else if report.failed > 0 {
        Err(format!("{} interop case(s) failed", report.failed))
    } else {
        Ok(())
    }
}

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to the project root) or `target/`.
pub(crate) fn target_dir() -> PathBuf {
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

/// Whether `cmd` is on the PATH.
pub(crate) fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where the two sides of an ICE session run: on the host's loopback, in one namespace, or
/// each in its own namespace with a delay link between them (ice_bench.rs), not on loopback.
#[derive(Clone, Copy, Default)]
struct Sites<'a> {
    icebreaker: Option<&'a Netns>,
    /// The other implementation (with two independent agents, the answerer).
    other: Option<&'a Netns>,
    /// With a link: each side's address on it, icebreaker's (or the offerer's) first.
    link: Option<(IpAddr, IpAddr)>,
}

impl<'a> Sites<'a> {
    /// Both sides on loopback, in `ns` when given.
    fn together(ns: Option<&'a Netns>) -> Self {
        Self {
            icebreaker: ns,
            other: ns,
            link: None,
        }
    }

    /// Whether a candidate's address is one the sessions may use: loopback, or an end of the
    /// link.
    fn allows(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.link.is_some_and(|(a, b)| ip == a || ip == b)
    }
}

/// How long each side of an ICE session took to report a connection (with a selected pair),
/// counted from the moment both descriptions had been handed over.
#[derive(Default, Clone, Copy, Debug)]
struct ConnectTimes {
    /// The independent implementation (or, with two of them, the offerer).
    other: Option<Duration>,
    /// icebreaker (or, with two independent agents, the answerer).
    icebreaker: Option<Duration>,
}

// ---------------------------------------------------------------------------------------------
// Reporting

#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
    /// When the suite's time is up (SUITE_LIMIT after it started): later cases fail unrun.
    deadline: Option<Instant>,
}

enum Verdict {
    Ok(String),
    /// What was observed last; the case's roles are prepended.
    Failed(String),
    /// Not run, and why (no group needs it at the moment).
    #[allow(dead_code)]
    Skipped(String),
}

#[derive(Clone, Copy)]
struct Case<'a> {
    /// The independent implementation on the other side: `coturn`, `aioice`, ...
    peer: &'a str,
    name: &'a str,
    /// Who plays what, named in a failure.
    roles: &'a str,
}

impl Report {
    fn case(&mut self, case: Case<'_>, f: impl FnOnce() -> Verdict) {
        let t = Instant::now();
        let verdict = if interrupted() {
            Verdict::Failed("not run: interrupted".to_string())
        } else if self.deadline.is_some_and(|d| t >= d) {
            Verdict::Failed(format!(
                "not run: the suite is past its {}-minute budget",
                SUITE_LIMIT.as_secs() / 60
            ))
        } else {
            f()
        };
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
        println!("interop {} {}: {line} [{took:.2} s]", case.peer, case.name);
    }

    /// Every case of a group fails the same way (its server did not start).
    fn all_failed(&mut self, cases: &[Case<'_>], why: &str) {
        for c in cases {
            self.case(*c, || Verdict::Failed(why.to_string()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The network namespace

/// `ip ARGS`, its stderr in the error.
fn ip(args: &[&str]) -> std::result::Result<(), String> {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("ip: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
        })
}

/// A network namespace with only `lo` up; on drop, whatever still runs in it is killed by PID
/// and the namespace is deleted.
pub(super) struct Netns {
    pub(super) name: String,
}

impl Netns {
    /// `icebreaker-LABEL-PID`, with `lo` up. Namespaces an earlier run left behind (killed
    /// before its guards dropped: its PID is gone) are swept first.
    pub(super) fn create(label: &str) -> std::result::Result<Self, String> {
        Self::sweep();
        let name = format!("icebreaker-{label}-{}", std::process::id());
        ip(&["netns", "add", &name])?;
        // The guard exists from here on, so a failure below still deletes the namespace.
        let ns = Self { name };
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NS ARGS`.
    pub(super) fn ip(&self, args: &[&str]) -> std::result::Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Deletes (through [`Drop`]) every `icebreaker-*-PID` namespace whose PID no longer runs.
    fn sweep() {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if let Some(pid) = stale_owner(name, |pid| Path::new(&format!("/proc/{pid}")).exists())
            {
                println!("interop: deleting {name}, left behind by process {pid}");
                drop(Self {
                    name: name.to_string(),
                });
            }
        }
    }

    fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The PID in an `icebreaker-LABEL-PID` namespace name, when `running` says it is gone.
fn stale_owner(name: &str, running: impl Fn(u32) -> bool) -> Option<u32> {
    let rest = name.strip_prefix("icebreaker-")?;
    let pid: u32 = rest.rsplit_once('-')?.1.parse().ok()?;
    (!running(pid)).then_some(pid)
}

impl Drop for Netns {
    fn drop(&mut self) {
        let left = self.pids();
        if !left.is_empty() {
            println!(
                "interop: killing {} process(es) left in {}: {left:?}",
                left.len(),
                self.name
            );
            for pid in left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// `program` run in the namespace, or on the host when there is none.
pub(super) fn command(ns: Option<&Netns>, program: &OsStr) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.name]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A process started here; killed and reaped when dropped. Its stdout and stderr go to a log
/// file in the run's directory.
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) child: Child,
    out: PathBuf,
}

impl Proc {
    pub(crate) fn spawn(
        name: &str,
        cmd: &mut Command,
        dir: &Path,
    ) -> std::result::Result<Self, String> {
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

    pub(crate) fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Whether it is still running; when not, its exit and the end of its output.
    pub(crate) fn alive(&mut self) -> std::result::Result<(), String> {
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
            Ok(None) if Instant::now() >= deadline || interrupted() => {
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

/// A port free for UDP and TCP on every one of `ips` and not in `not`, found by binding port 0
/// first.
pub(crate) fn free_port(ips: &[IpAddr], not: &[u16]) -> std::result::Result<u16, String> {
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
pub(crate) fn wait_stun(to: SocketAddr, limit: Duration) -> std::result::Result<(), String> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn only_namespaces_of_gone_runs_are_stale() {
        let gone = |_| false;
        assert_eq!(stale_owner("icebreaker-chromium-4242", gone), Some(4242));
        assert_eq!(stale_owner("icebreaker-ice-a-17", gone), Some(17));
        assert_eq!(stale_owner("icebreaker-chromium-4242", |p| p == 4242), None);
        assert_eq!(stale_owner("someone-else-4242", gone), None);
        assert_eq!(stale_owner("icebreaker-chromium", gone), None);
    }

    use super::*;

    const CASE: Case<'static> = Case {
        peer: "peer",
        name: "case",
        roles: "roles",
    };

    #[test]
    fn cases_past_the_suite_budget_fail_unrun() {
        let mut report = Report {
            deadline: Some(Instant::now() + Duration::from_secs(3600)),
            ..Report::default()
        };
        report.case(CASE, || Verdict::Ok("ran".into()));
        assert_eq!((report.passed, report.failed), (1, 0));
        report.deadline = Some(Instant::now());
        let mut ran = false;
        report.case(CASE, || {
            ran = true;
            Verdict::Ok("ran".into())
        });
        assert!(!ran, "a case past the deadline must not run");
        assert_eq!((report.passed, report.failed), (1, 1));
    }
}
