//! Headless Chromium (Debian's `chromium`, driven by playwright-core from `interop/chromium`):
//! an RTCPeerConnection against `icebreaker peer` with either side offering, two peer
//! connections relayed by icebreaker's `turn-server`, and today's Chromium descriptions through
//! icebreaker's SDP parser.
//!
//! Chromium and icebreaker run in a network namespace made here with only `lo` up, so the browser
//! gathers 127.0.0.1 only and nothing leaves the machine; when no namespace can be made (not
//! root, no `ip`), they run on the host's loopback and the case line says so. The node driver
//! (`interop/chromium/driver.js`) speaks icebreaker's JSON signalling lines on stdio; this file
//! passes them between the two processes, reads icebreaker's `state` and `selected` lines, and
//! judges the driver's last line, `RESULT {...}` (what the browser saw, from getStats).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::ChildStdin;
use std::sync::mpsc;

use super::*;

/// How long one case may take to connect (the driver's own bound).
const CASE_LIMIT: Duration = Duration::from_secs(30);
/// Ours on the driver process: its bound, plus starting and closing the browser.
const DRIVER_LIMIT: Duration = Duration::from_secs(60);
/// How long icebreaker may lag the browser in reporting its selected pair.
const LAG_LIMIT: Duration = Duration::from_secs(5);
/// How often the driver loops look up from their channel (to notice an interrupt).
const POLL: Duration = Duration::from_millis(200);
/// The TURN server's port inside the namespace, where every port is free.
const NS_TURN_PORT: u16 = 3478;

fn chromium_dir() -> PathBuf {
    project_root().join("interop").join("chromium")
}

/// Every Chromium case.
pub(super) fn cases(bin: &Path, dir: &Path, report: &mut Report) {
    let cases: &[Case<'_>] = &[
        Case {
            peer: "chromium",
            name: "browser offers, icebreaker answers (trickle)",
            roles: "Chromium RTCPeerConnection offering (controlling), icebreaker peer answering (controlled)",
        },
        Case {
            peer: "chromium",
            name: "browser offers audio, video and data, icebreaker answers (trickle)",
            roles: "Chromium RTCPeerConnection with a microphone, a camera and a data channel offering (controlling), icebreaker peer answering (controlled)",
        },
        Case {
            peer: "chromium",
            name: "icebreaker offers, browser answers (trickle)",
            roles: "icebreaker peer offering (controlling), Chromium RTCPeerConnection answering (controlled)",
        },
        Case {
            peer: "chromium",
            name: "browser restarts ICE (restartIce) after icebreaker's offer",
            roles: "icebreaker peer offering, then answering the browser's restart offer (controlled after it); Chromium RTCPeerConnection answering, then restarting (controlling after it)",
        },
        Case {
            peer: "chromium",
            name: "icebreaker restarts ICE ({\"type\":\"restart\"}) after the browser's offer",
            roles: "Chromium RTCPeerConnection offering, then answering icebreaker's restart offer (controlled after it); icebreaker peer answering, then restarting (controlling after it)",
        },
        Case {
            peer: "chromium",
            name: "two peer connections relayed by icebreaker turn-server",
            roles: "icebreaker turn-server as TURN server, two Chromium RTCPeerConnections with iceTransportPolicy relay",
        },
        Case {
            peer: "chromium",
            name: "today's descriptions through icebreaker sdp (strict, round trip)",
            roles: "Chromium writing descriptions (capture.js), icebreaker sdp parse --strict and sdp fmt reading them",
        },
    ];
    if let Err(e) = ensure_tools() {
        return report.all_failed(cases, &format!("cannot install what the cases need: {e}"));
    }
    // ICEBREAKER_INTEROP_NO_NETNS=1 tries the host fallback on purpose.
    let netns = if std::env::var_os("ICEBREAKER_INTEROP_NO_NETNS").is_some() {
        Err("ICEBREAKER_INTEROP_NO_NETNS is set".to_string())
    } else {
        Netns::create("chromium")
    };
    let place = match &netns {
        Ok(ns) => format!("netns {} with lo only", ns.name),
        Err(e) => format!("host loopback, no namespace: {e}"),
    };
    let ns = netns.as_ref().ok();
    for (case, driven) in cases.iter().zip([
        Browser::Offers,
        Browser::OffersMedia,
        Browser::Answers,
        Browser::Restarts,
        Browser::IcebreakerRestarts,
    ]) {
        report.case(*case, || {
            ice_case(
                bin,
                dir,
                Sites::together(ns),
                driven,
                &place,
                &mut ConnectTimes::default(),
            )
        });
    }
    report.case(cases[5], || turn_case(bin, dir, ns, &place));
    report.case(cases[6], || capture_case(bin, dir, ns, &place));
}

// ---------------------------------------------------------------------------------------------
// Installing

/// Debian's chromium and iproute2 when missing, node when missing, then playwright-core as the
/// lock file pins it (without a browser download: the Debian browser is used).
pub(super) fn ensure_tools() -> Result {
    let mut packages = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        packages.push("chromium");
    }
    if !have("ip") {
        packages.push("iproute2");
    }
    if !have("node") || !have("npm") {
        packages.extend(["nodejs", "npm"]);
    }
    if !packages.is_empty() {
        agent::apt_install(&packages, true)?;
    }
    for (what, ok) in [
        ("/usr/bin/chromium", Path::new("/usr/bin/chromium").exists()),
        ("ip", have("ip")),
        ("node", have("node")),
        ("npm", have("npm")),
    ] {
        if !ok {
            return Err(format!("`{what}` still missing after apt-get install"));
        }
    }
    let module = chromium_dir()
        .join("node_modules")
        .join("playwright-core")
        .join("package.json");
    let lock = fs::read_to_string(chromium_dir().join("package-lock.json"))
        .map_err(|e| format!("interop/chromium/package-lock.json: {e}"))?;
    let installed = fs::read_to_string(&module).unwrap_or_default();
    let wanted = json_field(
        &lock[lock.find("\"node_modules/playwright-core\"").unwrap_or(0)..],
        "version",
    );
    if wanted.is_none() || json_field(&installed, "version") != wanted {
        // `run` works in the project root: --prefix names the package's folder.
        run_limited(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(chromium_dir())
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
            INSTALL_LIMIT,
        )?;
    }
    if module.exists() {
        Ok(())
    } else {
        Err("playwright-core missing after npm ci".into())
    }
}

fn node(ns: Option<&Netns>, script: &str) -> Command {
    let mut c = command(ns, OsStr::new("node"));
    c.arg(chromium_dir().join(script))
        .current_dir(chromium_dir());
    c
}

// ---------------------------------------------------------------------------------------------
// Processes with piped stdio

/// Which process a line came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Driver,
    Icebreaker,
}

/// A process whose stdout is read line by line into a channel; stderr goes to a log file.
/// Killed and reaped on drop.
struct Piped {
    child: Child,
    stdin: Option<ChildStdin>,
    err: PathBuf,
    reader: Option<JoinHandle<()>>,
}

impl Piped {
    fn spawn(
        name: &str,
        cmd: &mut Command,
        dir: &Path,
        from: Source,
        lines: &mpsc::Sender<(Source, String)>,
    ) -> std::result::Result<Self, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let err = dir.join(format!("{n:03}-{}.stderr.log", sanitize(name)));
        let file = fs::File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let tx = lines.clone();
        let reader = stdout.map(|out| {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((from, line)).is_err() {
                        break;
                    }
                }
            })
        });
        Ok(Self {
            child,
            stdin,
            err,
            reader,
        })
    }

    fn send(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin
            && (stdin.write_all(line.as_bytes()).is_err()
                || stdin.write_all(b"\n").is_err()
                || stdin.flush().is_err())
        {
            self.stdin = None;
        }
    }

    /// Closes stdin and waits up to `limit` for the process to end by itself (the driver closes
    /// its browser on the way out).
    fn finish(&mut self, limit: Duration) {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr_tail(&self) -> String {
        tail(&fs::read_to_string(&self.err).unwrap_or_default(), 2)
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // The reader thread ends when the pipe closes. It is not joined: a grandchild that
        // kept the pipe open must not hang the harness (the namespace's guard kills those).
        drop(self.reader.take());
    }
}

// ---------------------------------------------------------------------------------------------
// The cases

/// What icebreaker printed, as far as the verdict goes.
#[derive(Default)]
struct IcebreakerSide {
    states: Vec<String>,
    selected: Option<(String, String)>,
    candidates_in_sdp: usize,
    /// The `a=ice-ufrag` of each description, in order.
    ufrags: Vec<String>,
    trickled: usize,
    errors: Vec<String>,
    error_count: usize,
}

impl IcebreakerSide {
    fn read(&mut self, line: &str) {
        match json_field(line, "type").as_deref() {
            Some("state") => {
                if let Some(s) = json_field(line, "state") {
                    self.states.push(s);
                }
            }
            Some("selected") => {
                if let (Some(l), Some(r)) = (json_field(line, "local"), json_field(line, "remote"))
                {
                    self.selected = Some((l, r));
                }
            }
            Some("offer" | "answer") => {
                self.candidates_in_sdp = line.matches("a=candidate:").count();
                if let Some((_, rest)) = line.split_once("a=ice-ufrag:") {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
                        .unwrap_or(rest.len());
                    self.ufrags.push(rest[..end].to_string());
                }
            }
            Some("candidate") if json_field(line, "candidate").is_some_and(|c| !c.is_empty()) => {
                self.trickled += 1;
            }
            Some("error") => {
                self.error_count += 1;
                // The first few are kept for the case line.
                if self.errors.len() < 8 {
                    self.errors
                        .push(json_field(line, "message").unwrap_or_default());
                }
            }
            _ => {}
        }
    }

    fn connected(&self) -> bool {
        self.states
            .iter()
            .any(|s| s == "connected" || s == "completed")
    }
}

/// `typ ADDR:PORT` of a candidate line (`candidate:F C T P ADDR PORT typ TYPE ...`).
fn describe_candidate(line: &str) -> Option<(String, String)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let typ = f.iter().position(|w| *w == "typ")?;
    let (addr, port) = (f.get(4)?, f.get(5)?);
    let addr = if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    Some(((*f.get(typ + 1)?).to_string(), addr))
}

/// Whether both ends name the same path: the browser's local address (from its `RESULT`) is
/// icebreaker's remote one and the other way round. `None` before icebreaker selected a pair.
fn same_path(result: &str, ice: &IcebreakerSide) -> Option<bool> {
    let (local, remote) = ice.selected.as_ref()?;
    let (_, ib_local) = describe_candidate(local)?;
    let (_, ib_remote) = describe_candidate(remote)?;
    Some(
        json_field(result, "local_address").as_deref() == Some(ib_remote.as_str())
            && json_field(result, "remote_address").as_deref() == Some(ib_local.as_str()),
    )
}

/// Which side offers in [`ice_case`], and what the browser sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Browser {
    /// The browser offers a data channel.
    Offers,
    /// The browser offers a microphone, a camera and a data channel: audio, video and data
    /// sections, audio tagging the BUNDLE group.
    OffersMedia,
    /// icebreaker offers, the browser answers.
    Answers,
    /// icebreaker offers, the browser answers; once connected the browser restarts ICE
    /// (`restartIce()`, a new offer) and icebreaker answers.
    Restarts,
    /// The browser offers, icebreaker answers; once connected icebreaker restarts ICE
    /// (`{"type":"restart"}`, a new offer) and the browser answers.
    IcebreakerRestarts,
}

impl Browser {
    /// The driver's case name and icebreaker's role.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Offers => ("browser-offers", "answer"),
            Self::OffersMedia => ("browser-offers-media", "answer"),
            Self::Answers => ("browser-answers", "offer"),
            Self::Restarts => ("browser-restarts", "offer"),
            Self::IcebreakerRestarts => ("icebreaker-restarts", "answer"),
        }
    }

    /// Whether the case restarts ICE, and then whose ICE role is controlling: the restart's
    /// offerer's.
    fn restart(self) -> Option<&'static str> {
        match self {
            Self::Restarts => Some("controlling"),
            Self::IcebreakerRestarts => Some("controlled"),
            Self::Offers | Self::OffersMedia | Self::Answers => None,
        }
    }
}

/// An RTCPeerConnection against `icebreaker peer --signal stdio --loopback` (without
/// `--loopback` on a delay link, each where `sites` says); `times` (the browser's as `other`)
/// is filled in when the case passes.
pub(super) fn ice_case(
    bin: &Path,
    dir: &Path,
    sites: Sites<'_>,
    driven: Browser,
    place: &str,
    times: &mut ConnectTimes,
) -> Verdict {
    let (tx, rx) = mpsc::channel();
    let (which, role) = driven.names();
    let mut peer_cmd = command(sites.icebreaker, bin.as_os_str());
    peer_cmd.args(["peer", "--signal", "stdio", "--role", role]);
    let mut driver_cmd = node(sites.other, "driver.js");
    driver_cmd
        .arg(which)
        .arg("--timeout-ms")
        .arg(CASE_LIMIT.as_millis().to_string());
    // On a delay link the sides are in two namespaces, and the link's ends are the addresses
    // to use: icebreaker gathers its only one, the browser sends no 127.0.0.1 candidate.
    // On loopback (interop, not the timed runs of `bench --peers ice`), icebreaker's
    // `{"type":"stats"}` report is checked against the browser's getStats too.
    let stats = sites.link.is_none();
    if stats {
        peer_cmd.arg("--loopback");
        driver_cmd.args(["--stats", "1"]);
    } else {
        driver_cmd.args(["--link-only", "1"]);
    }
    let mut peer = match Piped::spawn(
        &format!("icebreaker peer {role}"),
        &mut peer_cmd,
        dir,
        Source::Icebreaker,
        &tx,
    ) {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(e),
    };
    let mut driver = match Piped::spawn(
        &format!("chromium {which}"),
        &mut driver_cmd,
        dir,
        Source::Driver,
        &tx,
    ) {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(e),
    };
    drop(tx);
    let transcript = dir.join(format!("chromium-{which}.jsonl"));
    let mut log = String::new();
    let mut ice = IcebreakerSide::default();
    let mut result: Option<String> = None;
    let started = Instant::now();
    let mut deadline = started + DRIVER_LIMIT;
    // Both descriptions handed over, and when each side first said it was connected: the
    // browser in its `STATE` lines, icebreaker in its `state` and `selected` lines.
    let (mut browser_described, mut ib_described) = (false, false);
    let mut exchanged_at: Option<Instant> = None;
    let mut browser_up_at: Option<Instant> = None;
    let mut ib_up_at: Option<Instant> = None;
    loop {
        // Once the browser has spoken, icebreaker gets a little longer (LAG_LIMIT) to report
        // the same path: a controlling browser may nominate a better pair after a first one,
        // and the last `selected` line counts.
        if let Some(r) = &result
            && ice.connected()
            && same_path(r, &ice).unwrap_or(false)
        {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || crate::interrupted() {
            break;
        }
        let (from, line) = match rx.recv_timeout(left.min(POLL)) {
            Ok(x) => x,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            // Both processes closed their stdout.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let at = started.elapsed().as_secs_f64();
        match from {
            Source::Driver => {
                let _ = writeln!(log, "{at:8.3} chromium   {line}");
                if let Some(r) = line.strip_prefix("RESULT ") {
                    result = Some(r.to_string());
                    deadline = deadline.min(Instant::now() + LAG_LIMIT);
                } else if let Some(s) = line.strip_prefix("STATE ") {
                    if browser_up_at.is_none() && matches!(s.trim(), "connected" | "completed") {
                        browser_up_at = Some(Instant::now());
                    }
                } else if line.starts_with('{') {
                    peer.send(&line);
                    browser_described |= is_description(&line);
                }
            }
            Source::Icebreaker => {
                let _ = writeln!(log, "{at:8.3} icebreaker {line}");
                ice.read(&line);
                driver.send(&line);
                ib_described |= is_description(&line);
                if ib_up_at.is_none() && ice.connected() && ice.selected.is_some() {
                    ib_up_at = Some(Instant::now());
                }
            }
        }
        if exchanged_at.is_none() && browser_described && ib_described {
            exchanged_at = Some(Instant::now());
        }
    }
    let _ = fs::write(&transcript, &log);
    driver.finish(Duration::from_secs(8));
    let browser_err = driver.stderr_tail();
    let peer_err = peer.stderr_tail();
    drop(driver);
    drop(peer);

    let ib_states = if ice.states.is_empty() {
        "nothing".to_string()
    } else {
        ice.states.join(">")
    };
    let Some(result) = result else {
        return Verdict::Failed(format!(
            "the browser driver gave no result in {DRIVER_LIMIT:?} (its stderr: {browser_err}); icebreaker states {ib_states}, its stderr: {peer_err}; {place}"
        ));
    };
    let field = |k: &str| json_field(&result, k).unwrap_or_default();
    let browser = field("browser");
    let states = field("ice_states");
    if !field("error").is_empty() || field("ice_state").is_empty() {
        return Verdict::Failed(format!(
            "browser: {} (iceConnectionState {states}, Chromium {browser}); icebreaker states {ib_states}, errors {:?}; {place}",
            field("error"),
            ice.errors
        ));
    }
    let chosen = field("selected") == "true";
    let nominated = field("nominated") == "true";
    let pair = format!(
        "{} {} -> {} {}",
        field("local_type"),
        field("local_address"),
        field("remote_type"),
        field("remote_address")
    );
    let Some((ib_local, ib_remote)) = &ice.selected else {
        return Verdict::Failed(format!(
            "the browser connected ({states}, pair {pair}) but icebreaker printed no selected pair; its states {ib_states}, errors {:?}; {place}",
            ice.errors
        ));
    };
    let (Some((il_type, il_addr)), Some((ir_type, ir_addr))) =
        (describe_candidate(ib_local), describe_candidate(ib_remote))
    else {
        return Verdict::Failed(format!(
            "icebreaker's selected line does not hold candidates: {ib_local} / {ib_remote}"
        ));
    };
    let same_path = same_path(&result, &ice).unwrap_or(false);
    let trickle_in = field("trickled_out").parse::<usize>().unwrap_or(0);
    let summary = format!(
        "Chromium {browser}: iceConnectionState {states} after {} ms, its selected pair {pair} (selected {chosen}, nominated {nominated}, {} checks sent, {} answered, {} received); icebreaker {ib_states}, selected {il_type} {il_addr} -> {ir_type} {ir_addr}; trickled: {trickle_in} browser candidate(s) to icebreaker, {} + {} in its SDP to the browser; the browser's sections (mid:kind:direction) {}; {place}",
        field("connected_ms"),
        field("requests_sent"),
        field("responses_received"),
        field("requests_received"),
        ice.trickled,
        ice.candidates_in_sdp,
        field("sections"),
    );
    let summary = match ice.errors.first() {
        Some(first) => format!(
            "{summary}; icebreaker reported {} error line(s), the first: {first}",
            ice.error_count
        ),
        None => summary,
    };
    if !(chosen && nominated) {
        Verdict::Failed(format!(
            "getStats shows no pair both selected and nominated; {summary}"
        ))
    } else if !ice.connected() {
        Verdict::Failed(format!("icebreaker never reported connected; {summary}"))
    } else if !same_path {
        Verdict::Failed(format!("the two ends selected different paths; {summary}"))
    } else if trickle_in == 0 {
        Verdict::Failed(format!(
            "the browser trickled no candidate to icebreaker; {summary}"
        ))
    } else if stats && field("stats_check") != "ok" {
        Verdict::Failed(format!(
            "icebreaker's stats report disagrees with the browser's getStats: {} ({}); {summary}",
            field("stats_check"),
            field("stats_detail")
        ))
    } else if let Some(role) = driven.restart()
        && let Some(why) = restart_failure(&ice, role, &field("ice_role"))
    {
        Verdict::Failed(format!(
            "{why}; the browser's ufrags {} -> {}, its pair before {}, icebreaker's ufrags {:?}; {summary}",
            field("first_ufrags"),
            field("ufrags"),
            field("first_pair"),
            ice.ufrags
        ))
    } else if driven == Browser::OffersMedia && !media_answered(&field("sections")) {
        Verdict::Failed(format!(
            "the browser did not keep audio (inactive: icebreaker sends no media) and data while dropping video; {summary}"
        ))
    } else {
        let summary = if stats {
            format!("{summary}; stats agree ({})", field("stats_detail"))
        } else {
            summary
        };
        let summary = if driven.restart().is_some() {
            format!(
                "restarted: the browser's ufrags (local/remote) {} -> {}, its ICE role {} -> {}, its selected pair {} -> the one below ({} changes), icebreaker's descriptions' ufrags {}; {summary}",
                field("first_ufrags"),
                field("ufrags"),
                field("first_ice_role"),
                field("ice_role"),
                field("first_pair"),
                field("pair_changes"),
                ice.ufrags.join(" -> ")
            )
        } else {
            summary
        };
        let since = |b: Option<Instant>| Some(b?.saturating_duration_since(exchanged_at?));
        *times = ConnectTimes {
            other: since(browser_up_at),
            icebreaker: since(ib_up_at),
        };
        Verdict::Ok(summary)
    }
}

/// Whether the browser's transceivers, after icebreaker answered its audio, video and data
/// offer (`mid:kind:currentDirection ... data:sctp-state`), show audio kept as inactive (the
/// BUNDLE tag, which carries the transport), video rejected (stopped, or gone: a browser drops
/// a stopped transceiver once negotiation completes) and the data section kept.
fn media_answered(sections: &str) -> bool {
    let words: Vec<&str> = sections.split_whitespace().collect();
    words.iter().any(|w| w.ends_with(":audio:inactive"))
        && words
            .iter()
            .all(|w| !w.contains(":video:") || w.ends_with(":video:stopped"))
        && !words.contains(&"data:rejected")
}

/// Two browsers, each in its own place (`sites.icebreaker` for the offerer, `sites.other` for
/// the answerer), each driven by `driver.js` as if the other were icebreaker: the offering
/// driver's JSON lines go to the answering one and back. The reference for `ice_case`: how
/// long each took to connect after the descriptions were exchanged, `other` the offerer's.
pub(super) fn browser_pair(
    dir: &Path,
    sites: Sites<'_>,
) -> std::result::Result<ConnectTimes, String> {
    let (tx, rx) = mpsc::channel();
    let spawn = |which: &str, ns: Option<&Netns>, from: Source| {
        let mut cmd = node(ns, "driver.js");
        cmd.arg(which)
            .arg("--timeout-ms")
            .arg(CASE_LIMIT.as_millis().to_string());
        if sites.link.is_some() {
            cmd.args(["--link-only", "1"]);
        }
        Piped::spawn(&format!("chromium pair {which}"), &mut cmd, dir, from, &tx)
    };
    // `Source::Driver` is the offerer here, `Source::Icebreaker` the answerer.
    let mut offerer = spawn("browser-offers", sites.icebreaker, Source::Driver)?;
    let mut answerer = spawn("browser-answers", sites.other, Source::Icebreaker)?;
    drop(tx);
    let mut log = String::new();
    let mut described = [false, false];
    let mut results: [Option<String>; 2] = [None, None];
    let mut up_at: [Option<Instant>; 2] = [None, None];
    let mut exchanged_at: Option<Instant> = None;
    let started = Instant::now();
    let deadline = started + DRIVER_LIMIT;
    while results.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || crate::interrupted() {
            break;
        }
        let (from, line) = match rx.recv_timeout(left.min(POLL)) {
            Ok(x) => x,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let i = usize::from(from == Source::Icebreaker);
        let _ = writeln!(
            log,
            "{:8.3} {} {line}",
            started.elapsed().as_secs_f64(),
            ["offerer ", "answerer"][i]
        );
        if let Some(r) = line.strip_prefix("RESULT ") {
            results[i] = Some(r.to_string());
        } else if let Some(st) = line.strip_prefix("STATE ") {
            if up_at[i].is_none() && matches!(st.trim(), "connected" | "completed") {
                up_at[i] = Some(Instant::now());
            }
        } else if line.starts_with('{') {
            if i == 0 {
                answerer.send(&line);
            } else {
                offerer.send(&line);
            }
            described[i] |= is_description(&line);
            if exchanged_at.is_none() && described[0] && described[1] {
                exchanged_at = Some(Instant::now());
            }
        }
    }
    let _ = fs::write(dir.join("chromium-pair.jsonl"), &log);
    offerer.finish(Duration::from_secs(8));
    answerer.finish(Duration::from_secs(8));
    let since = |b: Option<Instant>| Some(b?.saturating_duration_since(exchanged_at?));
    match (since(up_at[0]), since(up_at[1])) {
        (Some(a), Some(b)) => Ok(ConnectTimes {
            other: Some(a),
            icebreaker: Some(b),
        }),
        _ => Err(format!(
            "two browsers: not both connected (offerer: {}; answerer: {}; stderr {} / {})",
            results[0].as_deref().unwrap_or("no result"),
            results[1].as_deref().unwrap_or("no result"),
            offerer.stderr_tail(),
            answerer.stderr_tail()
        )),
    }
}

/// Whether a signalling line is an offer or an answer.
fn is_description(line: &str) -> bool {
    matches!(
        json_field(line, "type").as_deref(),
        Some("offer" | "answer")
    )
}

/// Why a restart case failed on icebreaker's side or in the roles, if it did: icebreaker must
/// have written two descriptions with different ufrags, checked again after the restart (two
/// `checking` states), and the browser's ICE role after it must be `role`.
fn restart_failure(ice: &IcebreakerSide, role: &str, browser_role: &str) -> Option<String> {
    let checks = ice.states.iter().filter(|s| *s == "checking").count();
    if ice.ufrags.len() < 2 || ice.ufrags[0] == ice.ufrags[ice.ufrags.len() - 1] {
        Some("icebreaker did not describe a restarted session with fresh credentials".into())
    } else if checks < 2 {
        Some(format!(
            "icebreaker did not check again after the restart (states {})",
            ice.states.join(">")
        ))
    } else if browser_role != role {
        Some(format!(
            "the browser is {browser_role} after the restart, not {role} (the restart's offerer controls)"
        ))
    } else {
        None
    }
}

/// Two RTCPeerConnections of one page, relay-only through icebreaker's `turn-server`.
fn turn_case(bin: &Path, dir: &Path, ns: Option<&Netns>, place: &str) -> Verdict {
    let port = match ns {
        Some(_) => NS_TURN_PORT,
        None => match free_port(&[LO4], &[]) {
            Ok(p) => p,
            Err(e) => return Verdict::Failed(format!("no free port for the TURN server: {e}")),
        },
    };
    let listen = SocketAddr::new(LO4, port);
    let mut server = match Proc::spawn(
        "icebreaker turn-server (chromium)",
        command(ns, bin.as_os_str())
            .arg("turn-server")
            .arg("--listen")
            .arg(listen.to_string())
            .args(["--realm", REALM, "--user", &format!("{USER}:{PASS}")])
            .args(["--allow-peer", "127.0.0.0/8"])
            .arg("--json"),
        dir,
    ) {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(e),
    };
    let ready = Instant::now() + START_LIMIT;
    while !server
        .output()
        .lines()
        .any(|l| json_field(l, "type").as_deref() == Some("listening"))
    {
        if let Err(e) = server.alive() {
            return Verdict::Failed(format!("the TURN server did not start: {e}; {place}"));
        }
        if Instant::now() >= ready {
            return Verdict::Failed(format!(
                "the TURN server printed no `listening` line in {START_LIMIT:?}: {}; {place}",
                tail(&server.output(), 2)
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let turn = format!("turn:{listen}?transport=udp");
    let ran = run_bounded(
        "chromium turn-relay",
        node(ns, "driver.js")
            .arg("turn-relay")
            .args(["--turn", &turn, "--user", USER, "--pass", PASS])
            .arg("--timeout-ms")
            .arg(CASE_LIMIT.as_millis().to_string()),
        dir,
        DRIVER_LIMIT,
    );
    let server_alive = server.alive();
    drop(server);
    let Some(result) = ran
        .out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
    else {
        return Verdict::Failed(format!(
            "the browser driver gave no result: {}; {place}",
            ran.last_state()
        ));
    };
    let field = |k: &str| json_field(result, k).unwrap_or_default();
    let pair = |side: &str| {
        format!(
            "{} {} -> {} {} over {}",
            field(&format!("{side}_local_type")),
            field(&format!("{side}_local_address")),
            field(&format!("{side}_remote_type")),
            field(&format!("{side}_remote_address")),
            field(&format!("{side}_relay_protocol")),
        )
    };
    let summary = format!(
        "Chromium {}: message delivered {}, A gathered {} and B {} from {turn}, A's pair {} ({}), B's pair {} ({}); {place}",
        field("browser"),
        field("delivered"),
        field("a_gathered"),
        field("b_gathered"),
        pair("a"),
        field("a_ice_states"),
        pair("b"),
        field("b_ice_states"),
    );
    let all_relay = [
        "a_local_type",
        "a_remote_type",
        "b_local_type",
        "b_remote_type",
    ]
    .iter()
    .all(|k| field(k) == "relay");
    // A's relayed address is B's remote one and the other way round: the same two allocations.
    let crossed = field("a_local_address") == field("b_remote_address")
        && field("b_local_address") == field("a_remote_address");
    if let Err(e) = server_alive {
        Verdict::Failed(format!("the TURN server died: {e}; {summary}"))
    } else if !field("error").is_empty() {
        Verdict::Failed(format!("browser: {}; {summary}", field("error")))
    } else if field("delivered") != "true" {
        Verdict::Failed(format!("the message did not arrive intact; {summary}"))
    } else if !all_relay || !crossed {
        Verdict::Failed(format!(
            "the selected pairs are not relay/relay on the same allocations; {summary}"
        ))
    } else {
        Verdict::Ok(summary)
    }
}

/// Today's Chromium descriptions (capture.js, the script that made the SDP fixtures) through
/// `icebreaker sdp parse --strict` and `sdp fmt`: a new browser that writes something the parser
/// refuses, or that does not round-trip, fails here before it fails a user.
fn capture_case(bin: &Path, dir: &Path, ns: Option<&Netns>, place: &str) -> Verdict {
    let out = dir.join("chromium-sdp");
    let ran = run_bounded(
        "chromium capture",
        node(ns, "capture.js").arg(&out),
        dir,
        DRIVER_LIMIT,
    );
    if ran.code != Some(0) {
        return Verdict::Failed(format!("capture.js: {}; {place}", ran.last_state()));
    }
    let browser = ran
        .out
        .lines()
        .find_map(|l| l.strip_prefix("captured with Chromium "))
        .unwrap_or("?")
        .to_string();
    let mut files: Vec<PathBuf> = fs::read_dir(&out)
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sdp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.len() < 7 {
        return Verdict::Failed(format!(
            "capture.js wrote {} description(s), wanted 7",
            files.len()
        ));
    }
    let mut bytes = 0;
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs::read_to_string(f).unwrap_or_default();
        bytes += text.len();
        let parsed = run_bounded(
            &format!("icebreaker sdp parse {name}"),
            Command::new(bin).args(["sdp", "parse", "--strict"]).arg(f),
            dir,
            TOOL_LIMIT,
        );
        if parsed.code != Some(0) {
            return Verdict::Failed(format!(
                "Chromium {browser}'s {name} is refused in strict mode: {}",
                parsed.last_state()
            ));
        }
        let fmt = run_bounded(
            &format!("icebreaker sdp fmt {name}"),
            Command::new(bin).args(["sdp", "fmt"]).arg(f),
            dir,
            TOOL_LIMIT,
        );
        if fmt.code != Some(0) || fmt.out != text {
            let line = fmt
                .out
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            return Verdict::Failed(format!(
                "Chromium {browser}'s {name} does not round-trip through sdp fmt (first difference at line {line}; {})",
                fmt.last_state()
            ));
        }
    }
    Verdict::Ok(format!(
        "{} descriptions from Chromium {browser} ({bytes} bytes: data channel, gathered, answer, ICE restart, audio+video+data offer and answer, simulcast) parse strictly and come back byte for byte; {place}",
        files.len()
    ))
}
