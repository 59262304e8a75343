//! `icebreaker sim ...`: the simulated internet from the command line.
//!
//! - `sim nat-type --nat SPEC`: RFC 5780 discovery (icebreaker-stun's [`NatDiscovery`] against
//!   its [`BindingServer`]) behind a simulated NAT;
//! - `sim punch --a SPEC --b SPEC`: UDP hole punching between two probes that learn their
//!   addresses from a STUN server, with the packet fates that explain the result;
//! - `sim run --a SPEC --b SPEC`: one whole ICE attempt ([`scenario::run`]);
//! - `sim matrix`: the 6×6 table of [`scenario::matrix`].
//!
//! Everything is deterministic: the same arguments and seed print the same result.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use icebreaker_nat::NatSpec;
use icebreaker_sim::discovery::Topology;
use icebreaker_sim::punch::{self, ProbeCodec, ProbeMessage, PunchConfig, PunchOutcome};
use icebreaker_sim::{Datagram, Endpoint, Fate, HostId};
use icebreaker_stun::attributes::XorMappedAddress;
use icebreaker_stun::discovery::{DiscoveryConfig, NatBehavior, NatDiscovery};
use icebreaker_stun::server::{BindingServer, ServerConfig};
use icebreaker_stun::{Class, Message, MessageWriter, Method, TransactionId};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};

use crate::cli::{EXIT_FAILURE, EXIT_OK, emit, fail};
use crate::scenario::{self, Cell, Outcome, Scenario, Side};

/// `icebreaker sim ...`
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// RFC 5780 NAT behaviour discovery against a simulated NAT.
    NatType(NatTypeArgs),
    /// Does UDP hole punching work between these NATs, and why (the packet fates).
    Punch(PunchArgs),
    /// One ICE connection attempt between two agents behind these NATs.
    Run(RunArgs),
    /// The 6×6 table: every pairing of the classic NAT types, direct, relay or failed.
    Matrix(MatrixArgs),
}

/// Arguments of `icebreaker sim nat-type`.
#[derive(Debug, Args)]
pub struct NatTypeArgs {
    /// The NAT: a preset (open, firewall, full-cone, restricted, port-restricted, symmetric)
    /// or RFC 4787 terms (mapping=eim|adm|apdm,filtering=eif|adf|apdf,...), chained with `+`.
    #[arg(long, value_name = "SPEC")]
    pub nat: NatSpec,
    /// Seed of the simulation.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Skip the hairpinning test.
    #[arg(long)]
    pub no_hairpinning: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `icebreaker sim punch`.
#[derive(Debug, Args)]
pub struct PunchArgs {
    /// A's NAT spec.
    #[arg(long, value_name = "SPEC")]
    pub a: NatSpec,
    /// B's NAT spec.
    #[arg(long, value_name = "SPEC")]
    pub b: NatSpec,
    /// Seed of the simulation.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Write a pcap of the public network to FILE.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments shared by `sim run` and `sim matrix`.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Seed of the simulation, the NATs and the agents.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// No TURN server: relayed candidates are not available.
    #[arg(long)]
    pub no_turn: bool,
    /// Random loss on every link, 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_loss)]
    pub loss: f64,
    /// Round-trip time across the public network, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 40, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub rtt: u64,
}

/// Arguments of `icebreaker sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A's NAT spec (the controlling agent).
    #[arg(long, value_name = "SPEC")]
    pub a: NatSpec,
    /// B's NAT spec.
    #[arg(long, value_name = "SPEC")]
    pub b: NatSpec,
    /// Seed, TURN, loss and RTT.
    #[command(flatten)]
    pub net: NetArgs,
    /// Write a pcap of the public network to FILE.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Print the ladder: every candidate, check and answer, in virtual time.
    #[arg(long)]
    pub trace: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `icebreaker sim matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Seed, TURN, loss and RTT.
    #[command(flatten)]
    pub net: NetArgs,
    /// Print JSON: an array of 36 cells.
    #[arg(long)]
    pub json: bool,
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err("loss must be between 0 and 1".into())
    }
}

/// Runs `icebreaker sim ...`; returns the exit status.
pub fn run(command: &SimCommand) -> u8 {
    match command {
        SimCommand::NatType(a) => nat_type_cmd(a),
        SimCommand::Punch(a) => punch_cmd(a),
        SimCommand::Run(a) => run_cmd(a),
        SimCommand::Matrix(a) => matrix_cmd(a),
    }
}

// ----- The STUN pieces as simulator endpoints ------------------------------------------------

/// Hole-punching probe messages as real STUN: Binding requests and success responses with
/// XOR-MAPPED-ADDRESS and FINGERPRINT (what `sim punch` puts on the simulated wire).
#[derive(Debug, Clone, Copy, Default)]
pub struct StunCodec;

impl ProbeCodec for StunCodec {
    fn encode_request(&mut self, tid: [u8; 12], buf: &mut Vec<u8>) {
        let mut out = [0u8; 64];
        // A header and FINGERPRINT (28 bytes) always fit in 64.
        if let Ok(n) = MessageWriter::new(
            &mut out,
            Class::Request,
            Method::BINDING,
            TransactionId::new(tid),
        )
        .and_then(|w| w.finish(true))
        {
            buf.extend_from_slice(out.get(..n).unwrap_or_default());
        }
    }

    fn encode_response(&mut self, tid: [u8; 12], mapped: SocketAddr, buf: &mut Vec<u8>) {
        let mut out = [0u8; 128];
        // A header, an IPv6 XOR-MAPPED-ADDRESS and FINGERPRINT (52 bytes) fit in 128.
        if let Ok(n) = MessageWriter::new(
            &mut out,
            Class::Success,
            Method::BINDING,
            TransactionId::new(tid),
        )
        .and_then(|mut w| {
            w.push(&XorMappedAddress(mapped))?;
            w.finish(true)
        }) {
            buf.extend_from_slice(out.get(..n).unwrap_or_default());
        }
    }

    fn decode(&mut self, data: &[u8]) -> Option<ProbeMessage> {
        let msg = Message::parse(data).ok()?;
        if msg.method() != Method::BINDING {
            return None;
        }
        let tid = *msg.transaction_id().as_bytes();
        match msg.class() {
            Class::Request => Some(ProbeMessage::Request { tid }),
            Class::Success => {
                let mapped = msg.get::<XorMappedAddress>().ok()??.0;
                Some(ProbeMessage::Response { tid, mapped })
            }
            _ => None,
        }
    }
}

/// icebreaker-stun's binding server as a simulator endpoint.
pub struct StunServerEndpoint(pub BindingServer, Vec<u8>);

impl StunServerEndpoint {
    /// Wraps a binding server.
    pub fn new(server: BindingServer) -> Self {
        Self(server, Vec::new())
    }
}

impl Endpoint for StunServerEndpoint {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_receive(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.0.poll_transmit(&mut self.1)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.1),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// icebreaker-stun's RFC 5780 discovery client as a simulator endpoint.
struct DiscoveryEndpoint(NatDiscovery, Vec<u8>);

impl Endpoint for DiscoveryEndpoint {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_receive(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.0.poll_transmit(&mut self.1)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.1),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

// ----- sim nat-type ----------------------------------------------------------------------------

/// Runs RFC 5780 discovery from behind `spec` against a two-address STUN server, in virtual
/// time.
pub fn nat_type(spec: &NatSpec, seed: u64, hairpinning: bool) -> Result<NatBehavior, String> {
    let epoch = Instant::now();
    let mut t = Topology::new(spec, seed, epoch).ok_or("cannot build the topology")?;
    let server = BindingServer::new(ServerConfig {
        primary: Some(t.primary),
        other: Some(t.alternate),
        ..ServerConfig::default()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(t.sim.next_seed());
    let config = DiscoveryConfig {
        test_hairpinning: hairpinning,
        ..DiscoveryConfig::default()
    };
    let client = NatDiscovery::new(epoch, t.client, t.primary, config, &mut rng);
    let host = t
        .run(
            Box::new(StunServerEndpoint::new(server)),
            DiscoveryEndpoint(client, Vec::new()),
            Duration::from_secs(120),
            |c| c.0.is_finished(),
        )
        .map_err(|e| e.to_string())?;
    let client = t
        .sim
        .endpoint::<DiscoveryEndpoint>(host)
        .ok_or("the discovery client is gone")?;
    match client.0.result() {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("discovery did not finish".into()),
    }
}

/// The JSON object `sim nat-type --json` prints.
pub fn nat_type_json(spec: &NatSpec, b: &NatBehavior) -> Value {
    let mut v = json!({
        "nat": spec.to_string(),
        "behind_nat": b.nat,
        "mapping": b.mapping.as_str(),
        "filtering": b.filtering.as_str(),
        "mapped_address": b.mapped.to_string(),
        "local_address": b.local.to_string(),
    });
    if let (Some(h), Some(o)) = (b.hairpinning, v.as_object_mut()) {
        o.insert("hairpinning".into(), Value::Bool(h));
    }
    v
}

fn nat_type_cmd(args: &NatTypeArgs) -> u8 {
    match nat_type(&args.nat, args.seed, !args.no_hairpinning) {
        Ok(b) => {
            if args.json {
                emit(&format!("{}\n", nat_type_json(&args.nat, &b)));
            } else {
                let hairpin = match b.hairpinning {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "not tested",
                };
                emit(&format!(
                    "nat              {}\nmapping          {}\nfiltering        {}\nhairpinning      {hairpin}\nmapped address   {}\nlocal address    {}\n",
                    args.nat, b.mapping, b.filtering, b.mapped, b.local
                ));
            }
            EXIT_OK
        }
        Err(e) => fail(EXIT_FAILURE, format_args!("{}: {e}", args.nat)),
    }
}

// ----- sim punch -------------------------------------------------------------------------------

/// Runs one hole-punching scenario with real STUN probes and icebreaker-stun's binding server.
pub fn punch(config: &PunchConfig) -> Result<PunchOutcome, String> {
    punch::run_with_server(config, StunCodec, |addr| {
        Box::new(StunServerEndpoint::new(BindingServer::new(ServerConfig {
            primary: Some(addr),
            ..ServerConfig::default()
        })))
    })
    .map_err(|e| e.to_string())
}

fn host_name(o: &PunchOutcome, h: Option<HostId>) -> &'static str {
    match h {
        Some(h) if h == o.a.host => "A",
        Some(h) if h == o.b.host => "B",
        Some(_) => "server",
        None => "?",
    }
}

/// Names a NAT box of a punch run: A's chain is built first, then B's.
fn nat_owner(a_layers: usize, nat: icebreaker_sim::NatId) -> String {
    if nat.0 < a_layers {
        format!("A's NAT {}", nat.0 + 1)
    } else {
        format!("B's NAT {}", nat.0 - a_layers + 1)
    }
}

fn cause_text(cause: &icebreaker_sim::DropCause, a_layers: usize) -> String {
    match cause {
        icebreaker_sim::DropCause::Nat { nat, reason } => {
            format!("{reason} ({})", nat_owner(a_layers, *nat))
        }
        other => other.to_string(),
    }
}

fn fate_text(o: &PunchOutcome, f: &Fate, a_layers: usize) -> String {
    match f {
        Fate::Delivered { host, from, .. } => {
            format!("delivered to {} (from {from})", host_name(o, Some(*host)))
        }
        Fate::Dropped(cause) => format!("dropped: {}", cause_text(cause, a_layers)),
        Fate::InFlight => "in flight".into(),
    }
}

/// Peer-to-peer packets grouped by sender, destination and fate: (sender, to, fate, count,
/// first time).
fn punch_groups(
    o: &PunchOutcome,
    a_layers: usize,
) -> Vec<(&'static str, SocketAddr, String, usize, Duration)> {
    let mut groups: BTreeMap<(Duration, &'static str, SocketAddr, String), usize> = BTreeMap::new();
    let mut first: BTreeMap<(&'static str, SocketAddr, String), Duration> = BTreeMap::new();
    for f in &o.fates {
        let sender = host_name(o, f.host);
        if sender != "A" && sender != "B" {
            continue;
        }
        if matches!(f.fate, Fate::Delivered { host, .. } if host_name(o, Some(host)) == "server") {
            // Traffic the STUN server answered explains nothing about punching.
            continue;
        }
        let text = fate_text(o, &f.fate, a_layers);
        let key = (sender, f.to, text.clone());
        let t = *first.entry(key).or_insert(f.sent);
        *groups.entry((t, sender, f.to, text)).or_insert(0) += 1;
    }
    groups
        .into_iter()
        .map(|((t, s, to, text), n)| (s, to, text, n, t))
        .collect()
}

/// The JSON object `sim punch --json` prints.
pub fn punch_json(o: &PunchOutcome, a: &NatSpec, b: &NatSpec) -> Value {
    let side = |s: &punch::Side, spec: &NatSpec| {
        json!({
            "nat": spec.to_string(),
            "local": s.local.to_string(),
            "learned": s.learned.map(|x| x.to_string()),
            "remote": s.remote.map(|x| x.to_string()),
            "connected": s.connected,
        })
    };
    let fates: Vec<Value> = o
        .fates
        .iter()
        .map(|f| {
            let (fate, detail) = match f.fate {
                Fate::Delivered { host, from, to } => (
                    "delivered",
                    json!({"host": host_name(o, Some(host)), "from": from.to_string(), "to": to.to_string()}),
                ),
                Fate::Dropped(cause) => (
                    "dropped",
                    json!({"reason": cause_text(&cause, a.layers.len())}),
                ),
                Fate::InFlight => ("in-flight", Value::Null),
            };
            json!({
                "packet": f.packet,
                "sent_ms": f.sent.as_secs_f64() * 1000.0,
                "sender": host_name(o, f.host),
                "from": f.from.to_string(),
                "to": f.to.to_string(),
                "fate": fate,
                "detail": detail,
            })
        })
        .collect();
    json!({
        "direct": o.direct,
        "a": side(&o.a, a),
        "b": side(&o.b, b),
        "seed": o.seed,
        "elapsed_ms": o.elapsed.as_secs_f64() * 1000.0,
        "trace_hash": format!("{:016x}", o.trace_hash),
        "fates": fates,
    })
}

/// The human report of `sim punch`.
pub fn render_punch(o: &PunchOutcome, a: &NatSpec, b: &NatSpec) -> String {
    let verdict = if o.direct {
        "yes: a direct path works, no relay needed"
    } else {
        "no: a relay (TURN) is needed"
    };
    let mut out = format!("hole punching     {verdict}\n");
    for (name, s, spec) in [("A", &o.a, a), ("B", &o.b, b)] {
        let opt = |x: Option<SocketAddr>| x.map_or("-".to_string(), |x| x.to_string());
        out += &format!(
            "{name} ({spec})\n  local {}  learned {}  sends to {}  {}\n",
            s.local,
            opt(s.learned),
            opt(s.remote),
            if s.connected {
                "got an answer from the peer"
            } else {
                "no answer from the peer"
            }
        );
    }
    out += "packets between the peers (grouped by sender, destination and fate)\n";
    for (sender, to, text, n, t) in punch_groups(o, a.layers.len()) {
        out += &format!(
            "  {:>8.1} ms  {sender} -> {to:<22} x{n:<4} {text}\n",
            t.as_secs_f64() * 1000.0
        );
    }
    out += &format!("seed {}, {} packets\n", o.seed, o.fates.len());
    out
}

fn write_pcap(path: &std::path::Path, bytes: Option<&[u8]>) -> Result<(), u8> {
    let Some(bytes) = bytes else {
        return Err(fail(EXIT_FAILURE, "no capture was recorded"));
    };
    std::fs::write(path, bytes).map_err(|e| {
        fail(
            EXIT_FAILURE,
            format_args!("cannot write {}: {e}", path.display()),
        )
    })
}

fn punch_cmd(args: &PunchArgs) -> u8 {
    let mut config = PunchConfig::new(args.a.clone(), args.b.clone(), args.seed, Instant::now());
    config.pcap = args.pcap.is_some();
    let outcome = match punch(&config) {
        Ok(o) => o,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    if let Some(path) = &args.pcap
        && let Err(code) = write_pcap(path, outcome.pcap.as_deref())
    {
        return code;
    }
    if args.json {
        emit(&format!("{}\n", punch_json(&outcome, &args.a, &args.b)));
    } else {
        emit(&render_punch(&outcome, &args.a, &args.b));
    }
    // Whether punching works is the answer, not a failure of the command.
    EXIT_OK
}

// ----- sim run and sim matrix -----------------------------------------------------------------

fn scenario_of(a: &NatSpec, b: &NatSpec, net: &NetArgs) -> Scenario {
    let mut sc = Scenario::new(a.clone(), b.clone(), net.seed);
    sc.turn = !net.no_turn;
    sc.loss = net.loss;
    sc.rtt = Duration::from_millis(net.rtt);
    sc
}

fn side_json(s: &Side) -> Value {
    json!({
        "type": s.kind.as_str(),
        "address": s.address.to_string(),
        "candidate": s.line,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// The JSON object `sim run --json` prints.
pub fn run_json(sc: &Scenario, o: &Outcome) -> Value {
    let mut v = json!({
        "a": sc.a.to_string(),
        "b": sc.b.to_string(),
        "seed": sc.seed,
        "turn": sc.turn,
        "connected": o.connected,
        "verdict": o.verdict(),
        "time_to_connect_ms": o.time_to_connect.map(ms),
        "time_to_connect_rtts": o.round_trips(),
        "checks": o.checks,
        "state_a": o.state_a.as_str(),
        "state_b": o.state_b.as_str(),
        "candidates": o.candidates.iter().map(|(who, s)| {
            let mut c = side_json(s);
            if let Some(m) = c.as_object_mut() {
                m.insert("agent".into(), Value::String(who.to_string()));
            }
            c
        }).collect::<Vec<_>>(),
    });
    if let (Some(m), Some((l, r))) = (
        v.as_object_mut(),
        o.selected.as_ref().filter(|_| o.connected),
    ) {
        m.insert(
            "selected".into(),
            json!({"local": side_json(l), "remote": side_json(r)}),
        );
    }
    if !o.ladder.is_empty()
        && let Some(m) = v.as_object_mut()
    {
        m.insert("ladder".into(), json!(o.ladder));
    }
    v
}

/// The human report of `sim run`.
pub fn render_run(sc: &Scenario, o: &Outcome) -> String {
    let mut out = format!(
        "A ({}) <-> B ({}), seed {}, {}\n",
        sc.a,
        sc.b,
        sc.seed,
        if sc.turn { "TURN available" } else { "no TURN" }
    );
    out += "candidates\n";
    for (who, c) in &o.candidates {
        out += &format!("  {who}  {:<6} {}\n", c.kind.as_str(), c.line);
    }
    if !o.ladder.is_empty() {
        out += "ladder\n";
        for l in &o.ladder {
            out += &format!("  {l}\n");
        }
    }
    out += &format!("checks sent        {}\n", o.checks);
    match (&o.selected, o.connected) {
        (Some((l, r)), true) => {
            out += &format!(
                "selected pair      {} {} -> {} {}\n",
                l.kind.as_str(),
                l.address,
                r.kind.as_str(),
                r.address
            );
            out += &format!(
                "result             {} in {:.1} ms ({:.1} round trips of {} ms)\n",
                o.verdict(),
                o.time_to_connect.map_or(0.0, ms),
                o.round_trips().unwrap_or(0.0),
                o.rtt.as_millis()
            );
        }
        _ => {
            out += &format!(
                "result             failed (A {}, B {})\n",
                o.state_a.as_str(),
                o.state_b.as_str()
            );
        }
    }
    out
}

fn run_cmd(args: &RunArgs) -> u8 {
    let mut sc = scenario_of(&args.a, &args.b, &args.net);
    sc.trace = args.trace;
    sc.pcap = args.pcap.is_some();
    let outcome = match scenario::run(&sc) {
        Ok(o) => o,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    if let Some(path) = &args.pcap
        && let Err(code) = write_pcap(path, outcome.pcap.as_deref())
    {
        return code;
    }
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&run_json(&sc, &outcome)).unwrap_or_default()
        ));
    } else {
        emit(&render_run(&sc, &outcome));
    }
    if outcome.connected {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// One matrix cell as JSON.
pub fn cell_json(c: &Cell) -> Value {
    let o = &c.outcome;
    let selected = o
        .selected
        .as_ref()
        .filter(|_| o.connected)
        .map(|(l, r)| json!({"local": side_json(l), "remote": side_json(r)}));
    json!({
        "a": c.a,
        "b": c.b,
        "verdict": o.verdict(),
        "connected": o.connected,
        "selected": selected,
        "time_to_connect_ms": o.time_to_connect.map(ms),
        "time_to_connect_rtts": o.round_trips(),
        "checks": o.checks,
    })
}

/// The human table of `sim matrix`.
pub fn render_matrix(cells: &[Cell]) -> String {
    const W: usize = 26;
    let mut out = format!("{:<16}", "A \\ B");
    for b in scenario::CLASSIC {
        out += &format!("{b:<W$}");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    for a in scenario::CLASSIC {
        out += &format!("{a:<16}");
        for b in scenario::CLASSIC {
            let text = cells
                .iter()
                .find(|c| c.a == a && c.b == b)
                .map_or("?".to_string(), |c| {
                    let o = &c.outcome;
                    match (&o.selected, o.connected) {
                        (Some((l, r)), true) => format!(
                            "{} {}/{} {:.0}ms",
                            o.verdict(),
                            l.kind.as_str(),
                            r.kind.as_str(),
                            o.time_to_connect.map_or(0.0, ms)
                        ),
                        _ => "failed".into(),
                    }
                });
            out += &format!("{text:<W$}");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    let count = |v: &str| cells.iter().filter(|c| c.outcome.verdict() == v).count();
    out += &format!(
        "{} direct, {} relay, {} failed (cells: verdict local/remote candidate types, time to connect)\n",
        count("direct"),
        count("relay"),
        count("failed")
    );
    for verdict in ["direct", "relay"] {
        let mut rtts: Vec<f64> = cells
            .iter()
            .filter(|c| c.outcome.verdict() == verdict)
            .filter_map(|c| c.outcome.round_trips())
            .collect();
        rtts.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (rtts.first(), rtts.last()) {
            out += &format!(
                "{verdict}: {first:.1} to {last:.1} round trips (median {:.1}) from both descriptions exchanged to connected\n",
                rtts[rtts.len() / 2]
            );
        }
    }
    out
}

fn matrix_cmd(args: &MatrixArgs) -> u8 {
    let cells = match scenario::matrix(
        args.net.seed,
        !args.net.no_turn,
        args.net.loss,
        Duration::from_millis(args.net.rtt),
    ) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    if args.json {
        let all: Vec<Value> = cells.iter().map(cell_json).collect();
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&all).unwrap_or_default()
        ));
    } else {
        emit(&render_matrix(&cells));
    }
    EXIT_OK
}
