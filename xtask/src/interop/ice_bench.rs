//! `cargo xtask bench --peers ice [--runs N] [--delay-ms D] [--keep]`: how long ICE takes to connect
//! once both descriptions are exchanged, icebreaker against aioice and Chromium, with two
//! aioice agents and two Chromium browsers as the reference, over an added round-trip time.
//!
//! The two sides run in two network namespaces made here, each with `lo` and one end of a
//! point-to-point link (10.77.0.1 and 10.77.0.2) that delays every packet by `--delay-ms`
//! (default 25) each way, so a round trip takes twice that (50 ms). The issue asks for
//! `tc qdisc add dev lo root netem delay 25ms`, but this machine's kernel has no netem ("Specified
//! qdisc kind is unknown"), so the delay comes from interop/delay-link.py instead: two TUN
//! devices and a loop that writes each packet read from one into the other 25 ms later.
//! The sessions are the interop cases themselves (agent.rs drives aioice, chromium.rs the
//! browser), direct, host candidates on the link only, run `--runs` times each (default 5),
//! interleaved round by round. Each side's time runs from the moment the harness handed over
//! the second description to the moment the harness read that side's report that it was
//! connected with a selected pair (aioice: `connect()` returned; Chromium:
//! `iceConnectionState` connected, passed on by the driver; icebreaker: its `state` and
//! `selected` lines); the table gives the median and the median in round trips. The
//! namespaces, the link and everything left in them go when the run ends.

use super::agent;
use super::*;

/// The whole measurement stops starting sessions after this long.
const BUDGET: Duration = Duration::from_secs(240);

/// The sessions, in the order each round runs them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Session {
    AioiceIcebreakerOffers,
    AioiceOffers,
    AioicePair,
    ChromiumBrowserOffers,
    ChromiumIcebreakerOffers,
    ChromiumPair,
}

impl Session {
    const ALL: [Self; 6] = [
        Self::AioiceIcebreakerOffers,
        Self::AioiceOffers,
        Self::AioicePair,
        Self::ChromiumBrowserOffers,
        Self::ChromiumIcebreakerOffers,
        Self::ChromiumPair,
    ];

    /// Peer pair, who offers (and controls), and the names of the `other` and `icebreaker`
    /// sides of its `ConnectTimes`.
    fn names(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Self::AioiceIcebreakerOffers => (
                "icebreaker – aioice",
                "icebreaker offers",
                "aioice",
                "icebreaker",
            ),
            Self::AioiceOffers => (
                "icebreaker – aioice",
                "aioice offers",
                "aioice",
                "icebreaker",
            ),
            Self::AioicePair => (
                "aioice – aioice",
                "first offers",
                "aioice (offerer)",
                "aioice (answerer)",
            ),
            Self::ChromiumBrowserOffers => (
                "icebreaker – Chromium",
                "browser offers",
                "Chromium",
                "icebreaker",
            ),
            Self::ChromiumIcebreakerOffers => (
                "icebreaker – Chromium",
                "icebreaker offers",
                "Chromium",
                "icebreaker",
            ),
            Self::ChromiumPair => (
                "Chromium – Chromium",
                "first offers",
                "Chromium (offerer)",
                "Chromium (answerer)",
            ),
        }
    }
}

/// What the sessions of one kind gave.
#[derive(Default)]
struct Samples {
    other: Vec<f64>,
    icebreaker: Vec<f64>,
    failed: usize,
    first_failure: Option<String>,
}

pub(crate) fn bench_ice(args: &[String]) -> Result {
    let mut runs = 5usize;
    let mut delay_ms = 25u64;
    let mut keep = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| (1..=20).contains(n))
                    .ok_or("--runs needs a count in 1..=20")?;
            }
            "--delay-ms" => {
                delay_ms = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| (1..=500).contains(n))
                    .ok_or("--delay-ms needs milliseconds in 1..=500")?;
            }
            "--keep" => keep = true,
            other => {
                return Err(format!(
                    "unknown bench --peers ice option {other} (--runs N, --delay-ms D, --keep)"
                ));
            }
        }
    }
    let rtt_ms = 2.0 * delay_ms as f64;
    run(Command::new(cargo()).args(["build", "--release", "-p", "icebreaker"]))?;
    let bin = target_dir().join("release").join("icebreaker");
    if !bin.exists() {
        return Err(format!("{} was not built", bin.display()));
    }
    let aioice = super::aioice::agent_cmd().map_err(|e| format!("aioice: {e}"))?;
    super::chromium::ensure_tools().map_err(|e| format!("chromium: {e}"))?;
    let dir = std::env::temp_dir().join(format!("icebreaker-bench-ice-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    // Declared before the link: dropped after it, and deleted whatever happens below.
    let ns_a = Netns::create("ice-a").map_err(|e| format!("no network namespace: {e}"))?;
    let ns_b = Netns::create("ice-b").map_err(|e| format!("no network namespace: {e}"))?;
    let link = DelayLink::start(&dir, [&ns_a, &ns_b], delay_ms)?;
    let sites = Sites {
        icebreaker: Some(&ns_a),
        other: Some(&ns_b),
        link: Some((IpAddr::V4(LINK[0]), IpAddr::V4(LINK[1]))),
    };
    println!(
        "bench ice: {} ({}) and {} ({}) linked with {delay_ms} ms each way ({rtt_ms:.0} ms round trip); {runs} run(s) per session; logs in {}",
        ns_a.name,
        LINK[0],
        ns_b.name,
        LINK[1],
        dir.display()
    );
    let place = format!(
        "netns {} and {} linked with {delay_ms} ms each way",
        ns_a.name, ns_b.name
    );

    let started = Instant::now();
    let mut samples: Vec<Samples> = Session::ALL.iter().map(|_| Samples::default()).collect();
    let mut rounds = 0;
    for round in 0..runs {
        if started.elapsed() > BUDGET {
            println!("bench ice: stopping after {round} round(s), over the {BUDGET:?} budget");
            break;
        }
        rounds = round + 1;
        for (kind, s) in Session::ALL.iter().zip(samples.iter_mut()) {
            let t = Instant::now();
            let got = match kind {
                Session::AioiceIcebreakerOffers => {
                    agent::time_direct(&bin, &dir, &aioice, true, sites)
                }
                Session::AioiceOffers => agent::time_direct(&bin, &dir, &aioice, false, sites),
                Session::AioicePair => agent::time_pair(&dir, &aioice, sites),
                Session::ChromiumPair => super::chromium::browser_pair(&dir, sites),
                Session::ChromiumBrowserOffers | Session::ChromiumIcebreakerOffers => {
                    let mut times = ConnectTimes::default();
                    let driven = if *kind == Session::ChromiumBrowserOffers {
                        super::chromium::Browser::Offers
                    } else {
                        super::chromium::Browser::Answers
                    };
                    match super::chromium::ice_case(&bin, &dir, sites, driven, &place, &mut times) {
                        Verdict::Ok(_) => Ok(times),
                        Verdict::Failed(e) | Verdict::Skipped(e) => Err(e),
                    }
                }
            };
            let (pair, role, other, ours) = kind.names();
            let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
            match got {
                Ok(ConnectTimes {
                    other: Some(o),
                    icebreaker: Some(i),
                }) => {
                    let (o, i) = (o.as_secs_f64() * 1e3, i.as_secs_f64() * 1e3);
                    s.other.push(o);
                    s.icebreaker.push(i);
                    println!(
                        "bench ice: round {} {pair}, {role}: {other} {o:.0} ms, {ours} {i:.0} ms [{:.1} s]",
                        round + 1,
                        t.elapsed().as_secs_f64()
                    );
                }
                Ok(times) => {
                    let why = format!(
                        "connected, but a time is missing: {other} {:?} ms, {ours} {:?} ms",
                        ms(times.other),
                        ms(times.icebreaker)
                    );
                    println!(
                        "bench ice: round {} {pair}, {role}: FAILED ({why})",
                        round + 1
                    );
                    s.failed += 1;
                    s.first_failure.get_or_insert(why);
                }
                Err(e) => {
                    println!(
                        "bench ice: round {} {pair}, {role}: FAILED ({e})",
                        round + 1
                    );
                    s.failed += 1;
                    s.first_failure.get_or_insert(e);
                }
            }
        }
    }
    drop(link);
    drop(ns_b);
    drop(ns_a);

    println!(
        "\nICE: time from both descriptions exchanged to connected, {rtt_ms:.0} ms RTT ({delay_ms} ms each way on the link), median of {rounds} round(s), {:.0} s in all\n",
        started.elapsed().as_secs_f64()
    );
    println!("| peer pair | who offers (controlling) | side | median ms | median RTTs | runs |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut failed = 0;
    for (kind, s) in Session::ALL.iter().zip(&samples) {
        let (pair, role, other, ours) = kind.names();
        failed += s.failed;
        for (side, v) in [(ours, &s.icebreaker), (other, &s.other)] {
            let (m, r) = match median(v) {
                Some(m) => (format!("{m:.0}"), format!("{:.1}", m / rtt_ms)),
                None => ("–".into(), "–".into()),
            };
            println!(
                "| {pair} | {role} | {side} | {m} | {r} | {} of {} |",
                v.len(),
                v.len() + s.failed
            );
        }
    }
    // CPU per connectivity check, in-process against str0m's sans-IO agent.
    let cpu = run_captured(
        Command::new(cargo()).args([
            "run",
            "--release",
            "-q",
            "-p",
            "benches",
            "--example",
            "ice_check_cpu",
        ]),
        &dir.join("ice_check_cpu.out"),
        crate::BUILD_LIMIT,
    )?;
    let said = cpu
        .lines()
        .find(|l| l.starts_with("answering a connectivity check"))
        .ok_or("ice_check_cpu printed no result")?;
    println!(
        "\nICE, in-process (benches/examples/ice_check_cpu.rs, the thread's CPU clock): {said}"
    );
    for (kind, s) in Session::ALL.iter().zip(&samples) {
        if let Some(e) = &s.first_failure {
            let (pair, role, _, _) = kind.names();
            println!(
                "bench ice: {pair}, {role}: {} failed, the first: {e}",
                s.failed
            );
        }
    }
    if failed == 0 && !keep {
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    } else {
        println!("bench ice: logs kept in {}", dir.display());
        if failed == 0 {
            Ok(())
        } else {
            Err(format!("{failed} ICE session(s) failed"))
        }
    }
}

/// The two ends of the delay link, in the first and the second namespace.
const LINK: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2)];

/// interop/delay-link.py running, its two TUN devices moved into two namespaces and addressed
/// (`LINK`); killed by PID when dropped, and the devices go with it.
struct DelayLink {
    forwarder: Proc,
}

impl DelayLink {
    fn start(dir: &Path, ns: [&Netns; 2], delay_ms: u64) -> std::result::Result<Self, String> {
        let pid = std::process::id();
        // Interface names have at most 15 bytes.
        let names = [format!("ibA{pid}"), format!("ibB{pid}")];
        let proc = Proc::spawn(
            "delay-link",
            Command::new("python3")
                .arg(project_root().join("interop").join("delay-link.py"))
                .args(&names)
                .arg("--delay-ms")
                .arg(delay_ms.to_string())
                .arg("--lifetime")
                .arg(BUDGET.mul_f64(2.0).as_secs().to_string()),
            dir,
        )?;
        let mut link = Self { forwarder: proc };
        let ready = Instant::now() + START_LIMIT;
        while !link.forwarder.output().contains("ready") {
            link.forwarder.alive()?;
            if Instant::now() >= ready {
                return Err(format!(
                    "delay-link.py printed no `ready` in {START_LIMIT:?}"
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        for (i, (ns, name)) in ns.iter().zip(&names).enumerate() {
            let (me, peer) = (LINK[i].to_string(), LINK[1 - i].to_string());
            ip(&["link", "set", name, "netns", &ns.name])?;
            // IPv4 only: no link-local IPv6 address for a browser to gather.
            ns.ip(&["link", "set", "lo", "up"])?;
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns.name,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ])
                .status();
            ns.ip(&["addr", "add", &me, "peer", &peer, "dev", name])?;
            ns.ip(&["link", "set", name, "up"])?;
        }
        link.forwarder.alive()?;
        Ok(link)
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}
