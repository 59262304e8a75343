//! `cargo xtask bench --peers [--secs S] [--rounds N] [--no-pin]`: icebreaker's servers against
//! coturn, back to back on this machine, with the same load generator (tools/loadgen).
//! `cargo xtask bench --peers ice [--runs N] [--delay-ms D] [--keep]` times ICE instead, against aioice
//! and Chromium over netem (interop/ice_bench.rs).
//!
//! Five measurements, each taken on icebreaker and then on coturn, `--rounds` times (default
//! 2), each window `--secs` seconds long (default 5) after a short warm-up:
//!
//! - STUN Binding answers (8 client sockets, 64 requests in flight on each), twice: with the
//!   generator sending datagram by datagram (`sendmmsg`), and with each client's requests sent
//!   as one UDP GSO message, which is cheap enough for the generator to keep even icebreaker's
//!   server saturated (its receive queue never empties);
//! - STUN Binding answers to 256 client sockets with one request in flight each, the shape of a
//!   public STUN server's load (many clients, no bursts from any one of them);
//! - TURN ChannelData relay with 100-byte payloads and with 1000-byte payloads (8 allocations
//!   made with long-term credentials, a channel on each to a peer socket the generator owns;
//!   32 messages in flight per allocation, the peer echoing each one back, both legs counted).
//!
//! Each STUN row is also measured against `loadgen reflect`, the floor: a reflector that
//! answers every Binding request with the same 32 bytes `stun-server` sends, batched the same
//! way, and does nothing else. A second table gives each server's rate as a share of the
//! floor's, and the floor over coturn: the highest ratio any server could reach here.
//!
//! Rates are per wall-clock second and per second of server CPU time (utime + stime of the
//! server process, all threads, read from /proc by the generator at both ends of the window).
//! The per-CPU-second ratio is the robust figure on a shared machine: it does not depend on
//! how much CPU the server happened to get. Besides the ratio of the totals, the table shows
//! the lowest and highest ratio of one round's two adjacent windows: the machine's speed
//! drifts over minutes, and the spread says how far one run can be trusted. Both servers
//! answer on one thread: `stun-server` has a blocking thread per socket (one socket here),
//! `turn-server` runs on a single-threaded runtime, and coturn runs with `--relay-threads=0`
//! (its single-threaded mode). Unless `--no-pin`, both are pinned to the same CPU with `taskset`,
//! and the generator to another, when the machine has two CPUs or more.
//!
//! Every process started here is killed by PID when its guard drops, every wait is bounded,
//! everything is on 127.0.0.1. The whole run takes about `13 × rounds × (secs + 1)` seconds
//! after the release build.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::interop::{Proc, ensure_coturn, free_port, have, target_dir, wait_stun};
use crate::{BUILD_LIMIT, Result, cargo, run, run_captured};

const REALM: &str = "bench.icebreaker.test";
const USER: &str = "bench";
const PASS: &str = "bench-pass-3";
/// How long a server may take to answer its first Binding request.
const START_LIMIT: Duration = Duration::from_secs(10);
/// Allocations (and client sockets) per TURN measurement.
const ALLOCATIONS: u32 = 8;

pub(crate) fn bench_peers(args: &[String]) -> Result {
    if args.first().map(String::as_str) == Some("ice") {
        return crate::interop::bench_ice(&args[1..]);
    }
    let mut secs = 5.0f64;
    let mut rounds = 2u32;
    let mut pin = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => {
                secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| (0.5..=30.0).contains(s))
                    .ok_or("--secs needs a number of seconds in 0.5..=30")?;
            }
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| (1..=5).contains(n))
                    .ok_or("--rounds needs a count in 1..=5")?;
            }
            "--no-pin" => pin = false,
            other => {
                return Err(format!(
                    "unknown bench --peers option {other} (--secs S, --rounds N, --no-pin)"
                ));
            }
        }
    }
    ensure_coturn()?;
    run(Command::new(cargo()).args(["build", "--release", "-p", "icebreaker", "-p", "loadgen"]))?;
    let release = target_dir().join("release");
    let (icebreaker, loadgen) = (release.join("icebreaker"), release.join("loadgen"));
    for b in [&icebreaker, &loadgen] {
        if !b.exists() {
            return Err(format!("{} was not built", b.display()));
        }
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let pin = pin && cpus >= 2 && have("taskset");
    let dir = std::env::temp_dir().join(format!("icebreaker-bench-peers-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure(&icebreaker, &loadgen, &dir, secs, rounds, pin);
    // The servers' allocations per datagram, counted in-process (a separate process's heap
    // cannot be counted from here): the same loads, under the benches' counting allocator.
    let allocations = result.as_ref().ok().map(|_| {
        run_captured(
            Command::new(cargo()).args([
                "test",
                "--release",
                "-p",
                "benches",
                "--test",
                "server_allocations",
                "--",
                "--nocapture",
            ]),
            &dir.join("server_allocations.out"),
            BUILD_LIMIT,
        )
    });
    let _ = fs::remove_dir_all(&dir);
    let table = result?;
    let allocations = allocations.unwrap_or_else(|| Err("not run".into()))?;
    let placement = if pin {
        "each server pinned to CPU 1 with taskset, the load generator to CPU 0"
    } else {
        "no CPU pinning"
    };
    let command = {
        let mut c = "cargo xtask bench --peers".to_string();
        if secs != 5.0 {
            let _ = write!(c, " --secs {secs}");
        }
        if rounds != 2 {
            let _ = write!(c, " --rounds {rounds}");
        }
        if !pin {
            c.push_str(" --no-pin");
        }
        c
    };
    println!();
    println!("$ {command}");
    println!(
        "{rounds} round(s) of {secs} s per measurement on {cpus} CPU(s), {placement}; one server thread each (icebreaker: stun-server's one socket thread, turn-server's single-threaded runtime; coturn {}: --relay-threads=0); load average before: {}",
        coturn_version(),
        load_average()
    );
    println!();
    print!("{table}");
    println!();
    println!(
        "Allocations per datagram on the servers' hot paths (benches/tests/server_allocations.rs: the same servers in-process under a counting allocator, 32 datagrams in flight; STUN from one client socket, TURN over 8 allocations):"
    );
    let lines: Vec<&str> = allocations
        .lines()
        .filter(|l| l.starts_with("stun-server:") || l.starts_with("turn-server:"))
        .collect();
    if lines.len() != 2 {
        return Err(format!(
            "server_allocations printed {} of its 2 result lines",
            lines.len()
        ));
    }
    for l in lines {
        println!("- {l}");
    }
    Ok(())
}

/// One measurement's totals over its rounds.
#[derive(Default, Clone, Copy)]
struct Totals {
    count: f64,
    secs: f64,
    cpu: f64,
}

impl Totals {
    fn add(&mut self, r: &Sample) {
        self.count += r.count;
        self.secs += r.secs;
        self.cpu += r.cpu;
    }
    fn per_sec(&self) -> f64 {
        self.count / self.secs.max(1e-9)
    }
    fn per_cpu(&self) -> f64 {
        self.count / self.cpu.max(1e-9)
    }
}

struct Sample {
    count: f64,
    secs: f64,
    cpu: f64,
}

fn measure(
    icebreaker: &Path,
    loadgen: &Path,
    dir: &Path,
    secs: f64,
    rounds: u32,
    pin: bool,
) -> Result<String> {
    let mut ports = Vec::with_capacity(3);
    for _ in 0..3 {
        let port = free_port(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], &ports)?;
        ports.push(port);
    }
    let (stun_port, turn_port, coturn_port) = (ports[0], ports[1], ports[2]);
    let floor_port = free_port(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], &ports)?;
    let server = |program: &Path| {
        let mut c = if pin {
            let mut c = Command::new("taskset");
            // taskset execs the program, so the child's PID is the server's.
            c.args(["-c", "1"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.env("RUST_LOG", "warn");
        c
    };
    let mut stun = server(icebreaker);
    stun.arg("stun-server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{stun_port}"));
    let mut stun = Proc::spawn("icebreaker stun-server", &mut stun, dir)?;
    let mut turn = server(icebreaker);
    turn.arg("turn-server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{turn_port}"))
        .args(["--realm", REALM])
        .arg("--user")
        .arg(format!("{USER}:{PASS}"))
        .args(["--allow-peer", "127.0.0.0/8"]);
    let mut turn = Proc::spawn("icebreaker turn-server", &mut turn, dir)?;
    let turnserver = PathBuf::from("turnserver");
    let mut coturn = server(&turnserver);
    // -n: no configuration file (Debian's says `syslog` and `no-rfc5780`). No TLS, DTLS, TCP
    // or CLI listeners: one UDP listener, as icebreaker's servers measured here have.
    coturn
        .arg("-n")
        .args(["--no-tls", "--no-dtls", "--no-tcp", "--no-cli"])
        .arg("--listening-ip=127.0.0.1")
        .arg(format!("--listening-port={coturn_port}"))
        .arg("--relay-ip=127.0.0.1")
        .arg("--relay-threads=0")
        .arg(format!("--realm={REALM}"))
        .arg(format!("--user={USER}:{PASS}"))
        .arg("--lt-cred-mech")
        .arg("--allow-loopback-peers")
        .arg(format!(
            "--log-file={}",
            dir.join("turnserver.log").display()
        ))
        .args(["--no-stdout-log", "--simple-log"])
        .arg(format!(
            "--pidfile={}",
            dir.join("turnserver.pid").display()
        ))
        .arg(format!("--db={}", dir.join("turndb").display()));
    let mut coturn = Proc::spawn("coturn turnserver", &mut coturn, dir)?;
    // The floor for the STUN rows: the least a Binding answer costs here (see loadgen's docs).
    let mut floor = server(loadgen);
    floor
        .arg("reflect")
        .arg("--listen")
        .arg(format!("127.0.0.1:{floor_port}"))
        .args(["--secs", "3600"]);
    let mut floor = Proc::spawn("loadgen reflect", &mut floor, dir)?;
    for (p, port) in [
        (&stun, stun_port),
        (&turn, turn_port),
        (&coturn, coturn_port),
        (&floor, floor_port),
    ] {
        wait_stun(SocketAddr::from(([127, 0, 0, 1], port)), START_LIMIT)
            .map_err(|e| format!("{}: {e}; its output: {}", p.name, p.output()))?;
    }
    let stun_args = |clients: u32, window: u32| {
        vec![
            "--clients".to_string(),
            clients.to_string(),
            "--window".into(),
            window.to_string(),
        ]
    };
    let mut saturating = stun_args(8, 64);
    saturating.push("--gso".into());
    let rows: [(&str, &str, Vec<String>); 5] = [
        ("STUN Binding answers", "stun", stun_args(8, 64)),
        (
            "STUN Binding answers, requests sent with GSO (server saturated)",
            "stun",
            saturating,
        ),
        (
            "STUN Binding answers, 256 clients with one request each in flight",
            "stun",
            stun_args(256, 1),
        ),
        (
            "TURN ChannelData relayed, 100-byte payloads",
            "turn",
            turn_args(100),
        ),
        (
            "TURN ChannelData relayed, 1000-byte payloads",
            "turn",
            turn_args(1000),
        ),
    ];
    // Per row: icebreaker, coturn, and for STUN rows the floor.
    let mut totals = [[Totals::default(); 3]; 5];
    // Per row, the lowest and highest per-CPU-second ratio of one round's adjacent windows.
    let mut spread = [(f64::INFINITY, 0.0f64); 5];
    for round in 0..rounds {
        for (row, (what, mode, extra)) in rows.iter().enumerate() {
            let ours = if *mode == "stun" {
                (&stun, stun_port)
            } else {
                (&turn, turn_port)
            };
            let mut sides = vec![ours, (&coturn, coturn_port)];
            if *mode == "stun" {
                sides.push((&floor, floor_port));
            }
            let mut per_cpu = [0.0f64; 3];
            for (side, (p, port)) in sides.into_iter().enumerate() {
                let sample = loadgen_run(loadgen, mode, port, p, extra, secs, pin, dir)
                    .map_err(|e| format!("{what} against {}: {e}", p.name))?;
                per_cpu[side] = sample.count / sample.cpu.max(1e-9);
                eprintln!(
                    "  round {}: {what}, {}: {:.0}/s, {:.0} per CPU-second",
                    round + 1,
                    p.name,
                    sample.count / sample.secs,
                    per_cpu[side]
                );
                totals[row][side].add(&sample);
            }
            let ratio = per_cpu[0] / per_cpu[1].max(1e-9);
            spread[row] = (spread[row].0.min(ratio), spread[row].1.max(ratio));
        }
    }
    for p in [&mut stun, &mut turn, &mut coturn, &mut floor] {
        p.alive()?;
    }
    let mut t = String::new();
    t.push_str("| measurement (loopback, one server thread) | icebreaker /s | coturn /s | icebreaker per CPU-s | coturn per CPU-s | ratio per CPU-s | rounds' ratios per CPU-s | ratio /s |\n");
    t.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (((what, _, _), [ours, theirs, _]), (low, high)) in rows.iter().zip(totals).zip(spread) {
        let _ = writeln!(
            t,
            "| {what} | {} | {} | {} | {} | {:.2}× | {low:.2}–{high:.2}× | {:.2}× |",
            thousands(ours.per_sec()),
            thousands(theirs.per_sec()),
            thousands(ours.per_cpu()),
            thousands(theirs.per_cpu()),
            ours.per_cpu() / theirs.per_cpu().max(1e-9),
            ours.per_sec() / theirs.per_sec().max(1e-9),
        );
    }
    t.push('\n');
    t.push_str("| STUN, answers per CPU-second | floor (`loadgen reflect`) | icebreaker | coturn | icebreaker / floor | coturn / floor | highest ratio possible (floor / coturn) |\n");
    t.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for ((what, mode, _), [ours, theirs, floor]) in rows.iter().zip(totals) {
        if *mode != "stun" {
            continue;
        }
        let share = |x: &Totals| 100.0 * x.per_cpu() / floor.per_cpu().max(1e-9);
        let _ = writeln!(
            t,
            "| {what} | {} | {} | {} | {:.0} % | {:.0} % | {:.2}× |",
            thousands(floor.per_cpu()),
            thousands(ours.per_cpu()),
            thousands(theirs.per_cpu()),
            share(&ours),
            share(&theirs),
            floor.per_cpu() / theirs.per_cpu().max(1e-9),
        );
    }
    Ok(t)
}

fn turn_args(size: u32) -> Vec<String> {
    vec![
        "--allocations".into(),
        ALLOCATIONS.to_string(),
        "--window".into(),
        "32".into(),
        "--size".into(),
        size.to_string(),
        "--user".into(),
        format!("{USER}:{PASS}"),
    ]
}

/// One measured window of the load generator against the server `p` on `port`.
#[allow(clippy::too_many_arguments)]
fn loadgen_run(
    loadgen: &Path,
    mode: &str,
    port: u16,
    p: &Proc,
    extra: &[String],
    secs: f64,
    pin: bool,
    dir: &Path,
) -> Result<Sample> {
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(loadgen);
        c
    } else {
        Command::new(loadgen)
    };
    cmd.arg(mode)
        .arg("--server")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--pid")
        .arg(p.child.id().to_string())
        .arg("--secs")
        .arg(secs.to_string())
        .args(extra);
    // Setup (allocations), warm-up, the window and the releases, with room to spare.
    let limit = Duration::from_secs_f64(secs + 30.0);
    let mut g = Proc::spawn("loadgen", &mut cmd, dir)?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match g.child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                return Err(format!("loadgen did not finish in {limit:?}"));
            }
            Ok(None) if crate::interrupted() => return Err("interrupted".to_string()),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let out = g.output();
    let line = out
        .lines()
        .find(|l| l.starts_with("mode="))
        .ok_or_else(|| format!("loadgen exited with {status}: {}", out.trim()))?;
    let field = |k: &str| -> Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {k}= in `{line}`"))
    };
    let count = field(if mode == "stun" { "answers" } else { "relayed" })?;
    if mode == "turn" && field("bad")? > 0.0 {
        return Err(format!(
            "the load generator saw datagrams it did not send: `{line}`"
        ));
    }
    if count <= 0.0 {
        return Err(format!("nothing came back: `{line}`"));
    }
    Ok(Sample {
        count,
        secs: field("secs")?,
        cpu: field("server_cpu")?,
    })
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

fn coturn_version() -> String {
    Command::new("turnserver")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let s = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            s.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(version unknown)".to_string())
}
