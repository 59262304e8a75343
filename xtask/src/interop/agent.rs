//! Another implementation's ICE agent face to face with `icebreaker peer --signal stdio
//! --loopback`, shared by the `aioice` and `libnice` groups.
//!
//! The other agent is a small program (interop/aioice/agent.py, interop/libnice/agent.c) that
//! speaks lines on stdin and stdout:
//!
//! ```text
//! out: credentials UFRAG PWD | candidate candidate:... | end-of-candidates | state NAME
//!      selected LOCAL -> REMOTE | message DATA | error TEXT | log TEXT
//! in:  credentials UFRAG PWD | candidate candidate:... | end-of-candidates | send DATA | quit
//!      remote-lite (before the credentials: the other side is ICE-lite, so be controlling)
//! ```
//!
//! The harness stands between the two as the signalling channel: it writes the other agent's
//! credentials and candidates into an SDP offer or answer for icebreaker (with `a=ice-lite`
//! for a lite agent), and hands icebreaker's SDP values (`a=ice-lite` included) and trickled
//! candidates over as lines.
//! A case passes when both sides report a connection and a selected pair, agree on that pair's
//! addresses, each relay-only side's selected local candidate is `typ relay` on its TURN
//! server's relay IP, and a message sent each way arrives intact. Every line that crosses is
//! written with its time to a transcript in the scratch directory.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::ChildStdin;
use std::sync::mpsc;

use super::*;

/// How long one case may take, from starting both agents to both messages compared.
const CASE_LIMIT: Duration = Duration::from_secs(20);
/// The other agent exits by itself after this long, whatever happens to the harness.
const AGENT_LIFETIME_SECS: u32 = 60;
/// Longest line read from either agent.
const MAX_LINE: u64 = 256 * 1024;

/// How to start the other implementation's agent (the options of the line protocol follow).
pub(super) struct AgentCmd {
    /// The independent implementation: `aioice`, `libnice`.
    pub(super) peer: &'static str,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    /// The ICE states the agent reports once a pair is usable.
    pub(super) connected_states: &'static [&'static str],
}

/// A TURN server both agents can use. Both servers here relay on the IP they listen on.
#[derive(Clone, Copy)]
pub(super) struct Turn {
    pub(super) addr: SocketAddr,
}

/// Who uses the TURN server, relay-only.
#[derive(Clone, Copy)]
enum Relay {
    None,
    /// icebreaker signals and checks relayed candidates only; the other agent its host ones.
    Icebreaker(Turn),
    /// The same, icebreaker reaching the TURN server over TCP (`?transport=tcp`).
    IcebreakerTcp(Turn),
    /// The other agent relays; icebreaker uses its host candidate.
    Other(Turn),
    /// The same, the other agent reaching the TURN server over TCP.
    OtherTcp(Turn),
    /// Both relay-only through the same server: relayed candidate to relayed candidate.
    Both(Turn),
}

impl Relay {
    /// The server icebreaker relays through, relay-only.
    fn icebreaker(self) -> Option<Turn> {
        match self {
            Self::Icebreaker(t) | Self::IcebreakerTcp(t) | Self::Both(t) => Some(t),
            Self::None | Self::Other(_) | Self::OtherTcp(_) => None,
        }
    }

    /// The server the other agent relays through, relay-only.
    fn other(self) -> Option<Turn> {
        match self {
            Self::Other(t) | Self::OtherTcp(t) | Self::Both(t) => Some(t),
            Self::None | Self::Icebreaker(_) | Self::IcebreakerTcp(_) => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Setup {
    icebreaker_offers: bool,
    relay: Relay,
    /// The other agent is ICE-lite (libnice's full-mode FALSE).
    lite: bool,
    /// icebreaker is ICE-lite (`icebreaker peer --lite`).
    icebreaker_lite: bool,
}

/// Every case of one group: direct both ways, relay-only through each TURN server (coturn's and
/// icebreaker's, started here and stopped at the end) on each side (icebreaker relaying in both
/// roles), and (when `lite`) the other agent as an ICE-lite agent.
pub(super) fn cases(bin: &Path, dir: &Path, report: &mut Report, agent: &AgentCmd, lite: bool) {
    let coturn = start_coturn(dir);
    let ours = start_icebreaker_turn(bin, dir);
    let turns = [
        (
            "coturn turnserver",
            coturn.as_ref().map(|(_, t)| *t).map_err(Clone::clone),
        ),
        (
            "icebreaker turn-server",
            ours.as_ref().map(|(_, t)| *t).map_err(Clone::clone),
        ),
    ];
    let peer = agent.peer;
    for controlling in [true, false] {
        let name = format!("icebreaker {}, direct", how(controlling));
        let roles = roles(peer, controlling, false, "host candidates on 127.0.0.1");
        let setup = Setup {
            icebreaker_offers: controlling,
            relay: Relay::None,
            lite: false,
            icebreaker_lite: false,
        };
        report.case(case(peer, &name, &roles), || {
            run_case(
                bin,
                dir,
                agent,
                setup,
                Sites::default(),
                &mut ConnectTimes::default(),
            )
        });
    }
    // icebreaker's roles in a relay case: its own TURN client relays both as the controlling
    // and as the controlled agent; the other agent's relays as the controlling one.
    const EITHER: &[bool] = &[true, false];
    const ANSWERS: &[bool] = &[false];
    for (server, turn) in turns {
        // Each side relaying alone, each again with the TURN server reached over TCP (relaying
        // to the other agent stays UDP), then both through the one server: it relays from one
        // allocation to another. Columns: who relays, the case name after icebreaker's role,
        // the paths, icebreaker's roles.
        let setups = [
            (
                Relay::Icebreaker as fn(Turn) -> Relay,
                format!(", relay-only via {server}"),
                format!("icebreaker relay-only via {server}, {peer} on its host candidate"),
                EITHER,
            ),
            (
                Relay::Other,
                format!("; {peer} relay-only via {server}"),
                format!("{peer} relay-only via {server}, icebreaker on its host candidate"),
                ANSWERS,
            ),
            (
                Relay::IcebreakerTcp,
                format!(", relay-only via {server} over TCP"),
                format!(
                    "icebreaker relay-only via {server} (TCP to it), {peer} on its host candidate"
                ),
                EITHER,
            ),
            (
                Relay::OtherTcp,
                format!("; {peer} relay-only via {server} over TCP"),
                format!(
                    "{peer} relay-only via {server} (TCP to it), icebreaker on its host candidate"
                ),
                ANSWERS,
            ),
            (
                Relay::Both,
                format!("; both relay-only via {server}"),
                format!("both relay-only via {server}, relay to relay"),
                EITHER,
            ),
        ];
        for (relay, what, paths, icebreaker_roles) in setups {
            for &controlling in icebreaker_roles {
                let name = format!("icebreaker {}{what}", how(controlling));
                let roles = roles(peer, controlling, false, &paths);
                report.case(case(peer, &name, &roles), || {
                    match turn.clone().map(relay) {
                        Ok(relay) => run_case(
                            bin,
                            dir,
                            agent,
                            Setup {
                                icebreaker_offers: controlling,
                                relay,
                                lite: false,
                                icebreaker_lite: false,
                            },
                            Sites::default(),
                            &mut ConnectTimes::default(),
                        ),
                        Err(e) => Verdict::Failed(e),
                    }
                });
            }
        }
    }
    // RFC 8445 §6.1.1: with a lite peer the full agent is the controlling one, whichever side
    // offers.
    for (offers, how) in [(true, "offerer"), (false, "answerer")] {
        let other = if offers { "answerer" } else { "offerer" };
        let mut lites = vec![(
            false,
            format!("icebreaker ICE-lite as the {how}, {peer} full and controlling"),
            format!(
                "icebreaker peer --lite {how}, controlled; {peer} full {other}, to be controlling; host candidates on 127.0.0.1"
            ),
        )];
        if lite {
            lites.push((
                true,
                format!("{peer} ICE-lite, icebreaker full and controlling as the {how}"),
                format!(
                    "icebreaker peer {how}, full, to be controlling; {peer} ICE-lite {other}, controlled; host candidates on 127.0.0.1"
                ),
            ));
        }
        for (other_lite, name, roles) in lites {
            let setup = Setup {
                icebreaker_offers: offers,
                relay: Relay::None,
                lite: other_lite,
                icebreaker_lite: !other_lite,
            };
            report.case(case(peer, &name, &roles), || {
                run_case(
                    bin,
                    dir,
                    agent,
                    setup,
                    Sites::default(),
                    &mut ConnectTimes::default(),
                )
            });
        }
    }
}

/// icebreaker's role in a case name.
fn how(icebreaker_offers: bool) -> &'static str {
    if icebreaker_offers {
        "offers, controlling"
    } else {
        "answers, controlled"
    }
}

fn case<'a>(peer: &'a str, name: &'a str, roles: &'a str) -> Case<'a> {
    Case { peer, name, roles }
}

fn roles(peer: &str, icebreaker_offers: bool, lite: bool, paths: &str) -> String {
    let (ib, other) = if icebreaker_offers {
        ("offerer, controlling", "answerer, controlled")
    } else {
        ("answerer, controlled", "offerer, controlling")
    };
    let lite = if lite { " ICE-lite" } else { "" };
    format!("icebreaker peer {ib}; {peer}{lite} {other}; {paths}")
}

// ---------------------------------------------------------------------------------------------
// TURN servers

/// coturn's `turnserver` on 127.0.0.1, relaying on 127.0.0.1 to loopback peers.
pub(super) fn start_coturn(dir: &Path) -> std::result::Result<(Proc, Turn), String> {
    super::coturn::ensure_coturn()?;
    let port = free_port(&[LO4], &[])?;
    let sub = dir.join(format!("coturn-{port}"));
    fs::create_dir_all(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
    let mut cmd = Command::new("turnserver");
    // -n: no configuration file (Debian's says `no-rfc5780` and `syslog`).
    cmd.arg("-n")
        .arg("--listening-ip=127.0.0.1")
        .arg(format!("--listening-port={port}"))
        .arg("--relay-ip=127.0.0.1")
        .arg(format!("--realm={REALM}"))
        .arg(format!("--user={USER}:{PASS}"))
        .args(["--lt-cred-mech", "--no-tls", "--no-dtls", "--no-cli"])
        .arg("--allow-loopback-peers")
        .arg(format!(
            "--log-file={}",
            sub.join("turnserver.log").display()
        ))
        .args(["--no-stdout-log", "--simple-log"])
        .arg(format!(
            "--pidfile={}",
            sub.join("turnserver.pid").display()
        ))
        .arg(format!("--db={}", sub.join("turndb").display()));
    let mut p = Proc::spawn("turnserver", &mut cmd, dir)?;
    let addr = SocketAddr::new(LO4, port);
    wait_stun(addr, START_LIMIT)
        .and_then(|()| p.alive())
        .map_err(|e| format!("coturn turnserver on {addr} never became ready: {e}"))?;
    Ok((p, Turn { addr }))
}

/// icebreaker's `turn-server` on 127.0.0.1, allowed to relay to loopback peers.
pub(super) fn start_icebreaker_turn(
    bin: &Path,
    dir: &Path,
) -> std::result::Result<(Proc, Turn), String> {
    let port = free_port(&[LO4], &[])?;
    let addr = SocketAddr::new(LO4, port);
    let mut p = Proc::spawn(
        "icebreaker turn-server",
        Command::new(bin)
            .arg("turn-server")
            .arg("--listen")
            .arg(addr.to_string())
            .args(["--realm", REALM, "--user"])
            .arg(format!("{USER}:{PASS}"))
            .args(["--allow-peer", "127.0.0.0/8"]),
        dir,
    )?;
    wait_stun(addr, START_LIMIT)
        .and_then(|()| p.alive())
        .map_err(|e| format!("icebreaker turn-server on {addr} never became ready: {e}"))?;
    Ok((p, Turn { addr }))
}

// ---------------------------------------------------------------------------------------------
// Installing

/// `apt-get install` (after one `apt-get update`), waiting (bounded) for another apt to finish
/// first; `recommends` installs the packages' recommended ones too. Each command is killed past
/// [`INSTALL_LIMIT`].
pub(crate) fn apt_install(packages: &[&str], recommends: bool) -> Result {
    let lock = ["-o", "DPkg::Lock::Timeout=300"];
    run_limited(
        Command::new("apt-get").args(lock).arg("update"),
        INSTALL_LIMIT,
    )?;
    let mut install = Command::new("apt-get");
    install.args(lock).args(["install", "-y"]);
    if !recommends {
        install.arg("--no-install-recommends");
    }
    run_limited(
        install
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        INSTALL_LIMIT,
    )
}

/// Runs a short command, returning its stdout when it succeeds.
pub(super) fn output_of(cmd: &mut Command) -> std::result::Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 3)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// One case

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Icebreaker,
    Other,
}

/// A process with piped stdin and stdout (stderr to a log); killed and reaped when dropped.
struct Piped {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Piped {
    fn spawn(
        name: &str,
        cmd: &mut Command,
        dir: &Path,
        side: Side,
        tx: mpsc::Sender<(Side, Option<String>)>,
    ) -> std::result::Result<Self, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("{n:03}-{}.stderr", sanitize(name)));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        if let Some(out) = stdout {
            // Ends when the process closes its stdout (it exited or was killed).
            thread::spawn(move || {
                let mut r = BufReader::new(out);
                loop {
                    let mut line = Vec::new();
                    match r.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            let text = text.trim_end_matches(['\r', '\n']).to_string();
                            if tx.send((side, Some(text))).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.send((side, None));
            });
        }
        Ok(Self {
            name: name.to_string(),
            child,
            stdin,
            log,
        })
    }

    fn send(&mut self, line: &str) -> std::result::Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin closed", self.name))?;
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to {}: {e}", self.name))
    }

    /// How it ended (after its stdout closed), with the end of its stderr.
    fn ended(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s.to_string(),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => break "closed its stdout".to_string(),
                Err(e) => break e.to_string(),
            }
        };
        let err = fs::read_to_string(&self.log).unwrap_or_default();
        format!("{} ended ({status}): {}", self.name, tail(&err, 2))
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What one side reported.
#[derive(Default)]
struct Seen {
    states: Vec<String>,
    /// (local, remote) candidate lines.
    selected: Option<(String, String)>,
    messages: Vec<String>,
    errors: Vec<String>,
}

impl Seen {
    fn state(&self) -> &str {
        self.states.last().map_or("none", String::as_str)
    }

    fn summary(&self, who: &str) -> String {
        let selected = match &self.selected {
            Some((l, r)) => format!("selected {} -> {}", short(l), short(r)),
            None => "no pair selected".to_string(),
        };
        let errors = match self.errors.last() {
            Some(e) => format!(", last error {e:?}"),
            None => String::new(),
        };
        format!(
            "{who} states [{}], {selected}{errors}",
            self.states.join(" > ")
        )
    }
}

/// Where the transcript of a case goes.
struct Transcript {
    file: Option<fs::File>,
    path: PathBuf,
    start: Instant,
}

impl Transcript {
    fn line(&mut self, what: &str, text: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(
                f,
                "{:8.3} {what} {text}",
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

/// The other agent's side of the session, gathered from its lines.
#[derive(Default)]
struct OtherDescription {
    credentials: Option<(String, String)>,
    candidates: Vec<String>,
    gathered: bool,
}

/// One direct session, host candidates only, the sides where `sites` says (the caller's
/// namespaces, a delay link between them perhaps): how long each side took to connect after
/// the descriptions were exchanged, or why it did not.
pub(super) fn time_direct(
    bin: &Path,
    dir: &Path,
    agent: &AgentCmd,
    icebreaker_offers: bool,
    sites: Sites<'_>,
) -> std::result::Result<ConnectTimes, String> {
    let setup = Setup {
        icebreaker_offers,
        relay: Relay::None,
        lite: false,
        icebreaker_lite: false,
    };
    let mut times = ConnectTimes::default();
    match run_case(bin, dir, agent, setup, sites, &mut times) {
        Verdict::Ok(_) => Ok(times),
        Verdict::Failed(e) | Verdict::Skipped(e) => Err(e),
    }
}

/// One case; `times` is filled in when it passes. The agents run where `sites` says.
fn run_case(
    bin: &Path,
    dir: &Path,
    agent: &AgentCmd,
    setup: Setup,
    sites: Sites<'_>,
    times: &mut ConnectTimes,
) -> Verdict {
    let start = Instant::now();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{n:03}-{}-transcript.log", agent.peer));
    let mut transcript = Transcript {
        file: fs::File::create(&path).ok(),
        path,
        start,
    };
    let (tx, rx) = mpsc::channel();

    let mut ib_cmd = command(sites.icebreaker, bin.as_os_str());
    ib_cmd
        // Its debug log says when a role conflict changed its role (see below).
        .env("RUST_LOG", "icebreaker=debug")
        .args(["peer", "--signal", "stdio", "--role"])
        .arg(if setup.icebreaker_offers {
            "offer"
        } else {
            "answer"
        });
    // On a link, icebreaker gathers its namespace's only address, the link's end.
    if sites.link.is_none() {
        ib_cmd.arg("--loopback");
    }
    let mut other_cmd = command(sites.other, agent.program.as_os_str());
    other_cmd
        .args(&agent.args)
        .arg("--lifetime")
        .arg(AGENT_LIFETIME_SECS.to_string());
    if let Some((_, host)) = sites.link {
        other_cmd.arg("--host").arg(host.to_string());
    }
    // The offerer is the controlling agent, unless it is lite (always controlled); a full
    // agent facing a lite one learns it from `a=ice-lite` (the `remote-lite` line).
    if !setup.icebreaker_offers && !setup.lite {
        other_cmd.arg("--controlling");
    }
    if setup.icebreaker_lite {
        ib_cmd.arg("--lite");
    }
    if setup.lite {
        other_cmd.arg("--lite");
    }
    if let Some(t) = setup.relay.icebreaker() {
        let tcp = matches!(setup.relay, Relay::IcebreakerTcp(_));
        let query = if tcp { "?transport=tcp" } else { "" };
        ib_cmd
            .arg("--turn")
            .arg(format!("turn:{}{query}", t.addr))
            .args(["--turn-user", USER, "--turn-pass", PASS, "--relay-only"]);
    }
    if let Some(t) = setup.relay.other() {
        other_cmd
            .arg("--turn")
            .arg(t.addr.to_string())
            .args([USER, PASS, "--relay-only"]);
        if matches!(setup.relay, Relay::OtherTcp(_)) {
            other_cmd.arg("--turn-tcp");
        }
    }
    transcript.line("$", &format!("{ib_cmd:?}"));
    transcript.line("$", &format!("{other_cmd:?}"));

    let mut ib_seen = Seen::default();
    let mut other_seen = Seen::default();
    // Every failure says what each side reported last (its states, pair and last error).
    let fail = |why: String, ib: &Seen, other: &Seen, t: &Transcript| {
        Verdict::Failed(format!(
            "{why}; last seen: {}; {}; transcript {}",
            ib.summary("icebreaker"),
            other.summary(agent.peer),
            t.path.display()
        ))
    };
    let mut ib = match Piped::spawn(
        "icebreaker peer",
        &mut ib_cmd,
        dir,
        Side::Icebreaker,
        tx.clone(),
    ) {
        Ok(p) => p,
        Err(e) => return fail(e, &ib_seen, &other_seen, &transcript),
    };
    let mut other = match Piped::spawn(agent.peer, &mut other_cmd, dir, Side::Other, tx) {
        Ok(p) => p,
        Err(e) => return fail(e, &ib_seen, &other_seen, &transcript),
    };

    let mut desc = OtherDescription::default();
    // Whether icebreaker's own description (offer or answer) has arrived, and ours was given.
    let mut ib_described = false;
    let mut described_to_ib = false;
    let mut exchanged_at: Option<Instant> = None;
    // When each side first reported a connection with a selected pair.
    let mut ib_up_at: Option<Instant> = None;
    let mut other_up_at: Option<Instant> = None;
    let to_other = payload(&format!("icebreaker to {}", agent.peer));
    let to_ib = payload(&format!("{} to icebreaker", agent.peer));
    let mut sent = false;
    let deadline = start + CASE_LIMIT;

    loop {
        // Done: both connected, messages compared.
        if sent && ib_seen.messages.contains(&to_ib) && other_seen.messages.contains(&to_other) {
            break;
        }
        let now = Instant::now();
        if crate::interrupted() {
            return fail("interrupted".into(), &ib_seen, &other_seen, &transcript);
        }
        if now >= deadline {
            let why = if sent {
                let got = |s: &Seen| s.messages.last().cloned().unwrap_or_default();
                format!(
                    "connected, but the messages did not both arrive within {CASE_LIMIT:?} (icebreaker got {:?}, wanted {to_ib:?}; {} got {:?}, wanted {to_other:?})",
                    got(&ib_seen),
                    agent.peer,
                    got(&other_seen)
                )
            } else {
                format!("not connected on both sides within {CASE_LIMIT:?}")
            };
            return fail(why, &ib_seen, &other_seen, &transcript);
        }
        let (side, line) = match rx.recv_timeout((deadline - now).min(Duration::from_millis(100))) {
            Ok(x) => x,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return fail(
                    "both agents closed their output".into(),
                    &ib_seen,
                    &other_seen,
                    &transcript,
                );
            }
        };
        let Some(line) = line else {
            let why = match side {
                Side::Icebreaker => ib.ended(),
                Side::Other => other.ended(),
            };
            return fail(why, &ib_seen, &other_seen, &transcript);
        };
        let step = match side {
            Side::Icebreaker => {
                transcript.line("icebreaker>", &line);
                icebreaker_line(
                    agent.peer,
                    &line,
                    &mut ib_seen,
                    &mut other,
                    &mut transcript,
                    &mut ib_described,
                    &sites,
                )
            }
            Side::Other => {
                transcript.line(&format!("{}>", agent.peer), &line);
                other_line(&line, &mut other_seen, &mut desc, &sites);
                Ok(())
            }
        };
        // Our description of the other agent goes to icebreaker once it has gathered (and, as
        // an answer, once icebreaker's offer is in).
        let step = step.and_then(|()| {
            if !described_to_ib && desc.gathered && (ib_described || !setup.icebreaker_offers) {
                let sdp = description(&desc, setup.lite)?;
                let kind = if setup.icebreaker_offers {
                    "answer"
                } else {
                    "offer"
                };
                let json = format!("{{\"type\":\"{kind}\",\"sdp\":\"{}\"}}", json_escape(&sdp));
                transcript.line(">icebreaker", &json);
                ib.send(&json)?;
                described_to_ib = true;
            }
            Ok(())
        });
        if let Err(e) = step {
            return fail(e, &ib_seen, &other_seen, &transcript);
        }
        if described_to_ib && ib_described && exchanged_at.is_none() {
            exchanged_at = Some(Instant::now());
        }
        let ib_up =
            matches!(ib_seen.state(), "connected" | "completed") && ib_seen.selected.is_some();
        let other_up =
            agent.connected_states.contains(&other_seen.state()) && other_seen.selected.is_some();
        if ib_up && ib_up_at.is_none() {
            ib_up_at = Some(Instant::now());
        }
        if other_up && other_up_at.is_none() {
            other_up_at = Some(Instant::now());
        }
        if !sent && ib_up && other_up {
            let json = format!(
                "{{\"type\":\"send\",\"data\":\"{}\"}}",
                json_escape(&to_other)
            );
            transcript.line(">icebreaker", &json);
            let line = format!("send {to_ib}");
            transcript.line(&format!(">{}", agent.peer), &line);
            if let Err(e) = ib.send(&json).and_then(|()| other.send(&line)) {
                return fail(e, &ib_seen, &other_seen, &transcript);
            }
            sent = true;
        }
    }
    let _ = other.send("quit");

    // Signalling settles the roles in every case here (offerer or full agent controls), so a
    // 487 role conflict means one side misread them.
    let ib_log = fs::read_to_string(&ib.log).unwrap_or_default();
    if ib_log.contains("ICE role changed after a conflict") {
        return fail(
            "the roles were settled by a role conflict (487), not by the descriptions".into(),
            &ib_seen,
            &other_seen,
            &transcript,
        );
    }

    // Both sides must name the same path: icebreaker's local address is the other's remote.
    let (Some((ib_local, ib_remote)), Some((other_local, other_remote))) =
        (&ib_seen.selected, &other_seen.selected)
    else {
        return fail("no pair".into(), &ib_seen, &other_seen, &transcript);
    };
    let (il, ir, ol, or) = (
        address(ib_local),
        address(ib_remote),
        address(other_local),
        address(other_remote),
    );
    if il.is_none() || il != or || ir != ol {
        return fail(
            format!(
                "the two sides disagree on the pair: icebreaker {il:?} -> {ir:?}, {} {ol:?} -> {or:?}",
                agent.peer
            ),
            &ib_seen,
            &other_seen,
            &transcript,
        );
    }
    // `--relay-only` must show in the pair, not only on the command line: each relaying side's
    // selected local candidate is one its TURN server relays.
    let mut relayed_by = Vec::new();
    for (who, turn, local) in [
        ("icebreaker", setup.relay.icebreaker(), ib_local),
        (agent.peer, setup.relay.other(), other_local),
    ] {
        let Some(turn) = turn else { continue };
        if let Err(e) = relayed(local, turn) {
            return fail(
                format!(
                    "{who} was run relay-only via {}, but its selected local candidate {e}",
                    turn.addr
                ),
                &ib_seen,
                &other_seen,
                &transcript,
            );
        }
        relayed_by.push(format!(
            "; {who} relay-only: its selected local candidate is typ relay on the TURN server's relay IP {}",
            turn.addr.ip()
        ));
    }
    let since = |a: Option<Instant>, b: Option<Instant>| Some(b?.saturating_duration_since(a?));
    *times = ConnectTimes {
        other: since(exchanged_at, other_up_at),
        icebreaker: since(exchanged_at, ib_up_at),
    };
    let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => format!(
            "{:.0} ms",
            b.saturating_duration_since(a).as_secs_f64() * 1e3
        ),
        _ => "?".to_string(),
    };
    Verdict::Ok(format!(
        "{} reached {:?} with {} -> {}; icebreaker reached {:?} with {} -> {}; connected {} ({}) and {} (icebreaker) after the descriptions were exchanged; {} bytes each way arrived intact{}",
        agent.peer,
        other_seen.state(),
        short(other_local),
        short(other_remote),
        ib_seen.state(),
        short(ib_local),
        short(ib_remote),
        ms(exchanged_at, other_up_at),
        agent.peer,
        ms(exchanged_at, ib_up_at),
        to_ib.len(),
        relayed_by.concat(),
    ))
}

/// Two of the other implementation's agents face to face, direct, the offerer where `sites`
/// puts icebreaker and the answerer where it puts the other: the reference for `time_direct`.
/// The offerer is controlling: its description (credentials,
/// candidates, end-of-candidates) goes to the second once gathered, and the second's comes back
/// once that is in, as an offer and an answer would. Times count from that second hand-over;
/// `other` is the offerer's, `icebreaker` the answerer's.
pub(super) fn time_pair(
    dir: &Path,
    agent: &AgentCmd,
    sites: Sites<'_>,
) -> std::result::Result<ConnectTimes, String> {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let spawn = |name: &str, controlling: bool, side: Side| {
        let (ns, host) = if controlling {
            (sites.icebreaker, sites.link.map(|l| l.0))
        } else {
            (sites.other, sites.link.map(|l| l.1))
        };
        let mut cmd = command(ns, agent.program.as_os_str());
        cmd.args(&agent.args)
            .arg("--lifetime")
            .arg(AGENT_LIFETIME_SECS.to_string());
        if let Some(host) = host {
            cmd.arg("--host").arg(host.to_string());
        }
        if controlling {
            cmd.arg("--controlling");
        }
        Piped::spawn(name, &mut cmd, dir, side, tx.clone())
    };
    let offerer_name = format!("{} offerer", agent.peer);
    let answerer_name = format!("{} answerer", agent.peer);
    // `Side::Other` is the offerer here, `Side::Icebreaker` the answerer.
    let mut offerer = spawn(&offerer_name, true, Side::Other)?;
    let mut answerer = spawn(&answerer_name, false, Side::Icebreaker)?;
    drop(tx);
    let mut seen = [Seen::default(), Seen::default()];
    let mut desc = [OtherDescription::default(), OtherDescription::default()];
    let (mut offered, mut answered) = (false, false);
    let mut exchanged_at: Option<Instant> = None;
    let mut up_at: [Option<Instant>; 2] = [None, None];
    let deadline = start + CASE_LIMIT;
    let give = |to: &mut Piped, d: &OtherDescription| -> std::result::Result<(), String> {
        let (u, p) = d
            .credentials
            .as_ref()
            .ok_or("an agent gathered without giving its credentials")?;
        to.send(&format!("credentials {u} {p}"))?;
        for c in &d.candidates {
            to.send(&format!("candidate {c}"))?;
        }
        to.send("end-of-candidates")
    };
    let last = |seen: &[Seen; 2]| {
        format!(
            "{}; {}",
            seen[0].summary(&offerer_name),
            seen[1].summary(&answerer_name)
        )
    };
    while up_at.iter().any(Option::is_none) {
        let now = Instant::now();
        if crate::interrupted() {
            return Err(format!("interrupted; {}", last(&seen)));
        }
        if now >= deadline {
            return Err(format!(
                "not connected on both sides within {CASE_LIMIT:?}; {}",
                last(&seen)
            ));
        }
        let (side, line) = match rx.recv_timeout((deadline - now).min(Duration::from_millis(100))) {
            Ok(x) => x,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!("both agents closed their output; {}", last(&seen)));
            }
        };
        let i = usize::from(side == Side::Icebreaker);
        let Some(line) = line else {
            let why = if i == 0 {
                offerer.ended()
            } else {
                answerer.ended()
            };
            return Err(format!("{why}; {}", last(&seen)));
        };
        other_line(&line, &mut seen[i], &mut desc[i], &sites);
        if !offered && desc[0].gathered {
            give(&mut answerer, &desc[0]).map_err(|e| format!("{e}; {}", last(&seen)))?;
            offered = true;
        }
        if offered && !answered && desc[1].gathered {
            give(&mut offerer, &desc[1]).map_err(|e| format!("{e}; {}", last(&seen)))?;
            answered = true;
            exchanged_at = Some(Instant::now());
        }
        for (s, at) in seen.iter().zip(up_at.iter_mut()) {
            if at.is_none() && agent.connected_states.contains(&s.state()) && s.selected.is_some() {
                *at = Some(Instant::now());
            }
        }
    }
    let _ = offerer.send("quit");
    let _ = answerer.send("quit");
    let since = |b: Option<Instant>| Some(b?.saturating_duration_since(exchanged_at?));
    Ok(ConnectTimes {
        other: since(up_at[0]),
        icebreaker: since(up_at[1]),
    })
}

/// One JSON line from `icebreaker peer`.
fn icebreaker_line(
    peer: &str,
    line: &str,
    seen: &mut Seen,
    other: &mut Piped,
    transcript: &mut Transcript,
    described: &mut bool,
    sites: &Sites<'_>,
) -> std::result::Result<(), String> {
    let Some(msg) = json_object(line) else {
        // Not JSON: nothing icebreaker prints on stdout.
        seen.errors.push(format!("not JSON: {line}"));
        return Ok(());
    };
    let get = |k: &str| msg.get(k).cloned().unwrap_or_default();
    let mut give = |text: String| -> std::result::Result<(), String> {
        transcript.line(&format!(">{peer}"), &text);
        other.send(&text)
    };
    match get("type").as_str() {
        "offer" | "answer" => {
            let sdp = get("sdp");
            let (mut ufrag, mut pwd, mut end, mut lite) = (None, None, false, false);
            let mut candidates = Vec::new();
            for l in sdp.lines() {
                if l.trim() == "a=ice-lite" {
                    lite = true;
                } else if let Some(v) = l.strip_prefix("a=ice-ufrag:") {
                    ufrag = Some(v.trim().to_string());
                } else if let Some(v) = l.strip_prefix("a=ice-pwd:") {
                    pwd = Some(v.trim().to_string());
                } else if let Some(v) = l.strip_prefix("a=") {
                    if v.starts_with("candidate:") {
                        candidates.push(v.trim().to_string());
                    } else if v.trim() == "end-of-candidates" {
                        end = true;
                    }
                }
            }
            let (Some(ufrag), Some(pwd)) = (ufrag, pwd) else {
                return Err(format!(
                    "icebreaker's description has no ICE credentials: {sdp:?}"
                ));
            };
            if lite {
                give("remote-lite".into())?;
            }
            give(format!("credentials {ufrag} {pwd}"))?;
            for c in candidates.iter().filter(|c| usable(c, sites)) {
                give(format!("candidate {c}"))?;
            }
            if end {
                give("end-of-candidates".into())?;
            }
            *described = true;
        }
        "candidate" => {
            let c = get("candidate");
            if c.trim().is_empty() {
                give("end-of-candidates".into())?;
            } else if usable(&c, sites) {
                give(format!("candidate {}", c.trim()))?;
            }
        }
        "state" => seen.states.push(get("state")),
        "selected" => seen.selected = Some((get("local"), get("remote"))),
        "message" => seen.messages.push(get("data")),
        "error" => seen.errors.push(get("message")),
        other => seen
            .errors
            .push(format!("unexpected message type {other:?}")),
    }
    Ok(())
}

/// One line from the other agent.
fn other_line(line: &str, seen: &mut Seen, desc: &mut OtherDescription, sites: &Sites<'_>) {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "credentials" => {
            let mut w = rest.split_whitespace();
            if let (Some(u), Some(p)) = (w.next(), w.next()) {
                desc.credentials = Some((u.to_string(), p.to_string()));
            }
        }
        "candidate" if usable(rest, sites) && desc.candidates.len() < 64 => {
            desc.candidates.push(rest.trim().to_string());
        }
        "end-of-candidates" => desc.gathered = true,
        "state" => seen.states.push(rest.trim().to_string()),
        "selected" => {
            if let Some((l, r)) = rest.split_once(" -> ") {
                seen.selected = Some((l.trim().to_string(), r.trim().to_string()));
            }
        }
        "message" => seen.messages.push(rest.to_string()),
        "error" => seen.errors.push(rest.to_string()),
        _ => {}
    }
}

/// A UDP candidate on loopback (the machine's other addresses are never used).
fn usable(candidate: &str, sites: &Sites<'_>) -> bool {
    let f: Vec<&str> = candidate.split_whitespace().collect();
    f.len() >= 8
        && f[2].eq_ignore_ascii_case("udp")
        && f[4].parse::<IpAddr>().is_ok_and(|ip| sites.allows(ip))
}

/// The transport address of a candidate line.
fn address(candidate: &str) -> Option<SocketAddr> {
    let f: Vec<&str> = candidate.split_whitespace().collect();
    let ip: IpAddr = f.get(4)?.parse().ok()?;
    Some(SocketAddr::new(ip, f.get(5)?.parse().ok()?))
}

/// Whether a local candidate line is relayed by `turn`: `typ relay`, on the server's relay IP.
/// The error completes "its selected local candidate ...".
fn relayed(candidate: &str, turn: Turn) -> std::result::Result<(), String> {
    let f: Vec<&str> = candidate.split_whitespace().collect();
    match (f.get(6..8), address(candidate)) {
        (Some(["typ", "relay"]), Some(a)) if a.ip() == turn.addr.ip() => Ok(()),
        (Some(["typ", "relay"]), Some(a)) => Err(format!(
            "relay {a} is not on the TURN server's relay IP {}",
            turn.addr.ip()
        )),
        (Some(["typ", _]), Some(_)) => Err(format!("is {}, not typ relay", short(candidate))),
        _ => Err(format!("reports no type and address: {candidate:?}")),
    }
}

/// `typ ADDR` of a candidate line, for reports.
fn short(candidate: &str) -> String {
    let f: Vec<&str> = candidate.split_whitespace().collect();
    match (f.get(7), address(candidate)) {
        (Some(t), Some(a)) => format!("{t} {a}"),
        _ => candidate.to_string(),
    }
}

/// The other agent's session description for icebreaker: one data section with its
/// credentials and candidates (it gathers everything before this is written).
fn description(d: &OtherDescription, lite: bool) -> std::result::Result<String, String> {
    let (ufrag, pwd) = d
        .credentials
        .as_ref()
        .ok_or("the other agent gave no credentials")?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut s = format!(
        "v=0\r\no=- {} 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
        (nanos as u64) >> 1
    );
    if lite {
        s.push_str("a=ice-lite\r\n");
    }
    s.push_str("a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n");
    s.push_str("c=IN IP4 0.0.0.0\r\n");
    let _ = write!(s, "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=mid:0\r\n");
    for c in &d.candidates {
        let _ = write!(s, "a={c}\r\n");
    }
    s.push_str("a=end-of-candidates\r\n");
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// JSON, just enough for icebreaker's flat objects

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A flat JSON object: string values decoded, other values as their text.
fn json_object(s: &str) -> Option<HashMap<String, String>> {
    let mut it = s.trim().chars().peekable();
    let mut out = HashMap::new();
    let skip = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
    };
    if it.next()? != '{' {
        return None;
    }
    loop {
        skip(&mut it);
        match it.next()? {
            '}' => return Some(out),
            ',' => continue,
            '"' => {}
            _ => return None,
        }
        let key = json_string(&mut it)?;
        skip(&mut it);
        if it.next()? != ':' {
            return None;
        }
        skip(&mut it);
        let value = if it.peek() == Some(&'"') {
            it.next();
            json_string(&mut it)?
        } else {
            let mut v = String::new();
            while let Some(c) = it.peek() {
                if matches!(c, ',' | '}') {
                    break;
                }
                if matches!(c, '{' | '[') {
                    // Nested values: not in icebreaker's messages.
                    return None;
                }
                v.push(*c);
                it.next();
            }
            v.trim().to_string()
        };
        out.insert(key, value);
    }
}

/// The rest of a JSON string after its opening quote.
fn json_string(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut out = String::new();
    loop {
        match it.next()? {
            '"' => return Some(out),
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hi = hex4(it)?;
                    let c = if (0xd800..0xdc00).contains(&hi) {
                        if it.next()? != '\\' || it.next()? != 'u' {
                            return None;
                        }
                        let lo = hex4(it)?;
                        char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo.checked_sub(0xdc00)?))?
                    } else {
                        char::from_u32(hi)?
                    };
                    out.push(c);
                }
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
}

/// Four hex digits of a `\\u` escape.
fn hex4(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u32> {
    let h: String = (0..4).map_while(|_| it.next()).collect();
    u32::from_str_radix(&h, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let sdp = "v=0\r\na=x:\"q\" \\ ❄\u{1}";
        let line = format!(
            "{{\"type\":\"offer\",\"sdp\":\"{}\",\"n\":3}}",
            json_escape(sdp)
        );
        let m = json_object(&line).unwrap();
        assert_eq!(m["type"], "offer");
        assert_eq!(m["sdp"], sdp);
        assert_eq!(m["n"], "3");
        let e = json_object(r#"{"data":"\ud83d\ude00 \u00fc"}"#).unwrap();
        assert_eq!(e["data"], "😀 ü");
        assert!(json_object("{\"a\":").is_none());
        assert!(json_object("[1]").is_none());
    }

    #[test]
    fn candidates() {
        let host = Sites::default();
        assert!(usable(
            "candidate:1 1 UDP 2015364095 127.0.0.1 51275 typ host",
            &host
        ));
        assert!(!usable(
            "candidate:2 1 TCP 1015022591 127.0.0.1 9 typ host tcptype active",
            &host
        ));
        assert!(!usable(
            "candidate:1 1 udp 2015364095 10.0.0.1 51275 typ host",
            &host
        ));
        let linked = Sites {
            link: Some(("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())),
            ..Sites::default()
        };
        assert!(usable(
            "candidate:1 1 udp 2015364095 10.0.0.1 51275 typ host",
            &linked
        ));
        assert!(!usable(
            "candidate:1 1 udp 2015364095 10.0.0.3 51275 typ host",
            &linked
        ));
        assert_eq!(
            short("candidate:1 1 udp 1 127.0.0.1 5 typ relay raddr 127.0.0.1 rport 6"),
            "relay 127.0.0.1:5"
        );
    }

    #[test]
    fn relayed_candidates() {
        let turn = Turn {
            addr: "127.0.0.1:3478".parse().unwrap(),
        };
        let relay = "candidate:1 1 udp 1 127.0.0.1 5 typ relay raddr 127.0.0.1 rport 6";
        assert_eq!(relayed(relay, turn), Ok(()));
        assert_eq!(
            relayed(&relay.replace("127.0.0.1 5", "127.0.0.2 5"), turn),
            Err("relay 127.0.0.2:5 is not on the TURN server's relay IP 127.0.0.1".into())
        );
        assert_eq!(
            relayed(
                "candidate:1 1 udp 2015364095 127.0.0.1 51275 typ host",
                turn
            ),
            Err("is host 127.0.0.1:51275, not typ relay".into())
        );
        assert!(relayed("candidate:1 1 udp 1 127.0.0.1 5", turn).is_err());
    }
}
