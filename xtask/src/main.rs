//! Project automation, std only, so it compiles in a second.
//!
//! ```text
//! cargo xtask ci                     everything CI checks, in order, failing loudly
//! cargo xtask fuzz [TARGET] [--secs N]
//! cargo xtask bench [ARGS...]        criterion benches (passes ARGS to cargo bench)
//! cargo xtask bench --peers [--secs S] [--rounds N] [--no-pin]
//!                                    icebreaker's STUN/TURN servers against coturn (bench_peers.rs)
//! cargo xtask bench --peers ice [--runs N] [--delay-ms D] [--keep]
//!                                    ICE time to connect against aioice and Chromium, 50 ms RTT
//!                                    (interop/ice_bench.rs)
//! cargo xtask tidy                   text scan of the sans-IO crates
//! cargo xtask sim [--seeds A..B]     simulator and ICE-matrix tests in release mode over a seed range
//! cargo xtask interop [GROUP..] [--keep]  icebreaker against independent peers on loopback (see interop/)
//! ```
//!
//! Two dependencies: icebreaker-stun, to decode what the interop suite's recording proxy saw,
//! and ctrlc. On Ctrl-C or SIGTERM the command being waited for is killed, no further interop
//! case starts, and every guard (processes, network namespaces, scratch files) is dropped on
//! the way out; a second signal exits at once.
#![allow(missing_docs)]

mod bench_peers;
mod interop;

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, String>;

/// Set by the first Ctrl-C or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether the run was interrupted: waits end, no new work starts.
fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Most time an installer (apt-get, pip, npm, cargo install) may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(15 * 60);
/// Most time a build-and-run of a measuring program may take.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let handler = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::Relaxed) {
            eprintln!("xtask: second interrupt, exiting now");
            std::process::exit(130);
        }
        eprintln!("xtask: interrupted; stopping what runs and cleaning up (again to exit now)");
    });
    if let Err(e) = handler {
        eprintln!("xtask: no Ctrl-C handler ({e}); an interrupt may leave processes behind");
    }
    let started = Instant::now();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("tidy") => tidy(),
        Some("sim") => sim(&args[1..]),
        Some("interop") => interop::interop(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => {
            eprintln!("xtask: ok in {:.0?}", started.elapsed());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask ci | fuzz [TARGET] [--secs N] | bench [ARGS..] | bench --peers [--secs S] [--rounds N] [--no-pin] | bench --peers ice [--runs N] [--delay-ms D] [--keep] | tidy | sim [--seeds A..B] | interop [GROUP..] [--keep]";

/// The crates that must stay sans-IO: no clock, no global RNG, no threads, no sockets, no async.
const SANS_IO_CRATES: &[&str] = &["stun", "sdp", "nat", "sim", "turn", "ice"];

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Prints a command, runs it from the project root and fails if it fails.
fn run(cmd: &mut Command) -> Result {
    run_within(cmd, None)
}

/// [`run`] with a time limit: past it the command is killed and the run fails.
fn run_limited(cmd: &mut Command, limit: Duration) -> Result {
    run_within(cmd, Some(limit))
}

fn run_within(cmd: &mut Command, limit: Option<Duration>) -> Result {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!("\n$ {shown}");
    if interrupted() {
        return Err(format!("interrupted before `{shown}`"));
    }
    let t = Instant::now();
    // Its own process group, so that stopping it stops what it started too; Ctrl-C reaches it
    // through the handler in `main`.
    let mut child = cmd
        .current_dir(project_root())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("`{shown}`: {e}")),
        }
        let over = limit.is_some_and(|l| t.elapsed() > l);
        if over || interrupted() {
            stop(&mut child);
            return Err(if over {
                format!(
                    "`{shown}` took over {:.0?} and was killed",
                    limit.unwrap_or_default()
                )
            } else {
                format!("interrupted: `{shown}` was killed")
            });
        }
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!("  ({shown}: {:.1?})", t.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` exited with {status}"))
    }
}

/// [`run_limited`] with the command's stdout written to `out` and returned (stderr shows).
fn run_captured(cmd: &mut Command, out: &Path, limit: Duration) -> Result<String> {
    let file = fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    run_limited(cmd.stdout(file), limit)?;
    fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))
}

/// Stops a child that leads its own process group, and everything it started (cargo's rustc
/// jobs, apt's dpkg): SIGTERM to the group, then SIGKILL to the group after five seconds.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill").args([sig, "--", &group]).status();
    };
    signal("-TERM");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    signal("-KILL");
    let _ = child.wait();
}

fn ci() -> Result {
    let c = cargo();
    run(Command::new(&c).args(["fmt", "--all", "--check"]))?;
    run(Command::new(&c).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new(&c).args(["test", "--workspace"]))?;
    run(Command::new(&c)
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    run(Command::new(&c).args(["bench", "-p", "benches", "--no-run"]))?;
    tidy()?;
    let secs = env::var("XTASK_FUZZ_SECS").unwrap_or_else(|_| "15".to_string());
    fuzz(&["--secs".to_string(), secs])
}

fn nightly_installed() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
        .unwrap_or(false)
}

fn fuzz_targets() -> Result<Vec<String>> {
    let dir = project_root().join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension() == Some(OsStr::new("rs")))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn fuzz(args: &[String]) -> Result {
    let mut secs = 20u32;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => {
                secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--secs needs a number of seconds")?;
            }
            t if !t.starts_with('-') => only = Some(t.to_string()),
            other => return Err(format!("unknown fuzz option {other}")),
        }
    }
    let c = cargo();
    let has_cargo_fuzz = Command::new(&c)
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_cargo_fuzz {
        run_limited(
            Command::new(&c).args(["install", "cargo-fuzz", "--locked"]),
            INSTALL_LIMIT,
        )?;
    }
    let nightly = nightly_installed();
    let sanitizer: &[&str] = if nightly {
        &[]
    } else {
        &["--sanitizer", "none"]
    };
    if !nightly {
        eprintln!("xtask: no nightly toolchain; fuzzing on stable without AddressSanitizer");
    }
    // `$CARGO` is the stable toolchain's own cargo binary, which does not understand
    // `+nightly`: go through rustup, and keep the outer cargo's variables away from cargo-fuzz.
    let cargo_fuzz = |sub: &str| {
        let mut cmd = if nightly {
            let mut cmd = Command::new("rustup");
            cmd.args(["run", "nightly", "cargo"]);
            cmd
        } else {
            Command::new(&c)
        };
        cmd.args(["fuzz", sub])
            .args(sanitizer)
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTDOC")
            .env_remove("RUSTUP_TOOLCHAIN");
        cmd
    };
    let targets = match only {
        Some(t) => vec![t],
        None => fuzz_targets()?,
    };
    let mut build = cargo_fuzz("build");
    if let [one] = targets.as_slice() {
        build.arg(one);
    }
    run(&mut build)?;
    for t in &targets {
        // New inputs go into a scratch directory; the committed corpus is only read.
        let scratch = project_root().join("fuzz/target/scratch-corpus").join(t);
        let corpus = project_root().join("fuzz/corpus").join(t);
        fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        run(cargo_fuzz("run")
            .arg(t)
            .arg(&scratch)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1"))?;
    }
    eprintln!(
        "xtask: {} fuzz targets ran {secs} s each without a finding",
        targets.len()
    );
    Ok(())
}

fn bench(args: &[String]) -> Result {
    if args.first().map(String::as_str) == Some("--peers") {
        return bench_peers::bench_peers(&args[1..]);
    }
    run(Command::new(cargo())
        .args(["bench", "-p", "benches"])
        .args(args))
}

fn sim(args: &[String]) -> Result {
    let mut seeds = "0..200".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seeds" => seeds = it.next().ok_or("--seeds needs A..B")?.clone(),
            other => return Err(format!("unknown sim option {other}")),
        }
    }
    run(Command::new(cargo())
        .args(["test", "-p", "icebreaker-sim", "--release"])
        .env("SIM_SEEDS", &seeds))?;
    // The ICE agents on the simulated internet: the NAT matrix over the seed range, and as many
    // random topologies as there are seeds.
    let cases = seeds
        .split_once("..")
        .and_then(|(a, b)| Some(b.parse::<u64>().ok()?.saturating_sub(a.parse().ok()?)))
        .unwrap_or(200)
        .to_string();
    run(Command::new(cargo())
        .args([
            "test",
            "-p",
            "icebreaker",
            "--release",
            "--test",
            "matrix",
            "--test",
            "prop_topologies",
        ])
        .env("SIM_SEEDS", &seeds)
        .env("PROPTEST_CASES", cases))
}

/// Text scan of the sans-IO crates for things they must never do.
fn tidy() -> Result {
    eprintln!("\n$ tidy (sans-IO scan, crate hygiene)");
    const FORBIDDEN: &[&str] = &[
        "Instant::now",
        "SystemTime::now",
        "thread_rng",
        "rand::random",
        "rand::rng",
        "fastrand::",
        "std::thread",
        "tokio",
        "async fn",
        "std::net::UdpSocket",
        "std::net::TcpStream",
        "OsRng",
        "getrandom",
    ];
    let root = project_root();
    let mut problems = Vec::new();
    for krate in SANS_IO_CRATES {
        let dir = root.join("crates").join(krate);
        if !dir.exists() {
            continue;
        }
        let mut files = Vec::new();
        collect_rs(&dir.join("src"), &mut files);
        for f in files {
            let text = fs::read_to_string(&f).unwrap_or_default();
            let mut prev = "";
            for (n, line) in text.lines().enumerate() {
                // Unit tests sit at the bottom of a module (STYLE.md B9) and may read the clock.
                if line.trim() == "#[cfg(test)]" {
                    break;
                }
                let code = line.split("//").next().unwrap_or("");
                for pat in FORBIDDEN {
                    if code.contains(pat) {
                        problems.push(format!(
                            "{}:{}: `{pat}` in a sans-IO crate",
                            f.display(),
                            n + 1
                        ));
                    }
                }
                if code.contains("HashMap") || code.contains("HashSet") {
                    let justified = line.contains("// HashMap:")
                        || prev.trim_start().starts_with("// HashMap:");
                    if !justified {
                        problems.push(format!(
                            "{}:{}: HashMap/HashSet needs a `// HashMap:` comment saying why iteration order cannot matter",
                            f.display(),
                            n + 1
                        ));
                    }
                }
                prev = line;
            }
        }
    }
    for krate in fs::read_dir(root.join("crates"))
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let dir = krate.path();
        // Every crate, the runtime too: a README, a manifest, crate docs.
        for file in ["README.md", "Cargo.toml", "src/lib.rs"] {
            if !dir.join(file).exists() {
                problems.push(format!("{}: missing {file}", dir.display()));
            }
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains("[lints]") || !manifest.contains("workspace = true") {
            problems.push(format!(
                "{}: needs `[lints] workspace = true`",
                dir.display()
            ));
        }
        if let Ok(text) = fs::read_to_string(dir.join("src/lib.rs"))
            && !text.contains("```")
        {
            problems.push(format!(
                "{}/src/lib.rs: crate docs need an example",
                dir.display()
            ));
        }
    }
    if problems.is_empty() {
        eprintln!("  tidy: clean");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("  {p}");
        }
        Err(format!("tidy found {} problem(s)", problems.len()))
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension() == Some(OsStr::new("rs")) {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_over_its_limit_is_stopped_with_its_children() {
        let pid_file = env::temp_dir().join(format!("xtask-limit-{}", std::process::id()));
        let t = Instant::now();
        // A shell whose child would outlive it unless the whole group is signalled.
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let e = run_limited(
            Command::new("sh").args(["-c", &script]),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.contains("took over"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let pid = fs::read_to_string(&pid_file).unwrap();
        let _ = fs::remove_file(&pid_file);
        // Gone, or a zombie waiting for its new parent to reap it.
        let stat = Path::new("/proc").join(pid.trim()).join("stat");
        let gone = (0..100).any(|_| {
            let state = fs::read_to_string(&stat).unwrap_or_default();
            let dead = state
                .rsplit(") ")
                .next()
                .is_none_or(|s| s.starts_with('Z') || s.is_empty());
            if !dead {
                thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "the shell's child {} still runs", pid.trim());
        assert_eq!(
            run_limited(&mut Command::new("true"), Duration::from_secs(10)),
            Ok(())
        );
    }
}
