//! The command-line grammar (clap derive) and the dispatch behind `main`.

use std::io::Write as _;
use std::process::ExitCode;

use core::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use icebreaker_stun::discovery::{DiscoveryConfig, NatBehavior};
use icebreaker_stun::server::ServerStats;
use icebreaker_stun::transaction::TransactionConfig;
use serde_json::json;

use crate::client::{self, BindingOutcome};
use crate::decode::{self, Credential};
use crate::server::{self, ServerOptions};
use crate::target::{self, ServerSpec};

/// Exit status: everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status: a check failed (an `invalid` verdict) or the network operation did not succeed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: bad input (arguments, hex, a malformed STUN message). clap uses it for usage
/// errors too.
pub const EXIT_BAD_INPUT: u8 = 2;

/// icebreaker: connect two peers across NATs (STUN, TURN, ICE), as sans-IO Rust crates.
#[derive(Debug, Parser)]
#[command(name = "icebreaker", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, `demo` runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A short tour of what works today, on loopback (the default).
    Demo,
    /// Offline STUN tools.
    Stun {
        /// The STUN tool to run.
        #[command(subcommand)]
        command: StunCommand,
    },
    /// Run a STUN binding server; with --other, an RFC 5780 (NAT behaviour discovery) server.
    StunServer(StunServerArgs),
    /// Ask a STUN server for my public (mapped) address.
    StunClient(StunClientArgs),
    /// Find the NAT's mapping and filtering behaviour with an RFC 5780 STUN server.
    NatType(NatTypeArgs),
    /// SDP tools: validate, dump, re-serialise.
    Sdp {
        /// The SDP tool to run.
        #[command(subcommand)]
        command: crate::sdp::SdpCommand,
    },
    /// The simulated internet: NAT discovery, hole punching, whole ICE attempts, the matrix.
    Sim {
        /// The simulation to run.
        #[command(subcommand)]
        command: crate::sim::SimCommand,
    },
    /// Run a TURN server (RFC 8656) on UDP and TCP.
    TurnServer(Box<crate::turn_server::TurnServerArgs>),
    /// Allocate on a TURN server, permit a peer, send it a datagram, print what comes back.
    TurnClient(crate::turn_client::TurnClientArgs),
    /// WebSocket rooms of two peers relaying signalling messages.
    SignalServer(crate::signal::SignalServerArgs),
    /// Connect to another peer (ICE with SDP offer/answer) and exchange messages.
    Peer(crate::peer_cmd::PeerArgs),
}

/// Arguments of `icebreaker stun-server`.
#[derive(Debug, Args)]
pub struct StunServerArgs {
    /// The primary address A1:P1, bound exactly as given (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:3478")]
    pub listen: SocketAddr,
    /// The RFC 5780 alternate address A2:P2: another IP and another port (e.g. 127.0.0.2:3479).
    /// Four sockets are bound then: A1:P1, A1:P2, A2:P1, A2:P2.
    #[arg(long, value_name = "ADDR")]
    pub other: Option<SocketAddr>,
    /// Include this SOFTWARE attribute in every answer (none by default; fewer than 128
    /// characters).
    #[arg(long, value_name = "S", value_parser = stun_text)]
    pub software: Option<String>,
    /// Serve each address with N sockets and N threads (Linux: bound with SO_REUSEPORT, the
    /// kernel spreading clients over them by address), to use N CPUs; 1 to 256.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = threads)]
    pub threads: usize,
    /// Print JSON lines instead of text: `{"type":"listening","addresses":[...]}` once every
    /// socket is bound, and `{"type":"stopped","answered":N,"errors":N,"dropped":N,
    /// "answered_by_thread":[N,...]}` on SIGINT or SIGTERM.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `icebreaker stun-client`.
#[derive(Debug, Args)]
pub struct StunClientArgs {
    /// The server: `host:port`, `host` (port 3478) or a `stun:host[:port]` URI (RFC 7064).
    #[arg(value_name = "SERVER")]
    pub server: ServerSpec,
    /// The local address to send from (default `0.0.0.0:0`, or `[::]:0` for an IPv6 server).
    #[arg(
        long,
        value_name = "ADDR",
        help = "The local address to send from (default 0.0.0.0:0, or [::]:0 for an IPv6 server)"
    )]
    pub bind: Option<SocketAddr>,
    /// Initial retransmission timeout in milliseconds (RFC 8489: 500).
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub rto: u64,
    /// Number of transmissions before giving up (RFC 8489 Rc: 7).
    #[arg(long, value_name = "N", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub sends: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `icebreaker nat-type`.
#[derive(Debug, Args)]
pub struct NatTypeArgs {
    /// An RFC 5780 server: `host:port`, `host` (port 3478) or a `stun:host[:port]` URI.
    #[arg(value_name = "SERVER")]
    pub server: ServerSpec,
    /// The local address to test from (default `0.0.0.0:0`, or `[::]:0` for an IPv6 server).
    #[arg(
        long,
        value_name = "ADDR",
        help = "The local address to test from (default 0.0.0.0:0, or [::]:0 for an IPv6 server)"
    )]
    pub bind: Option<SocketAddr>,
    /// Initial retransmission timeout of each test in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub rto: u64,
    /// Transmissions per test; an unanswered filtering test costs about rto × (2^sends + 3).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub sends: u32,
    /// Skip the hairpinning test.
    #[arg(long)]
    pub no_hairpinning: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `icebreaker stun ...`
#[derive(Debug, Subcommand)]
pub enum StunCommand {
    /// Decode one STUN message given in hex, and check its integrity and fingerprint.
    Decode(DecodeArgs),
}

/// Arguments of `icebreaker stun decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The message in hex (whitespace ignored), or `-` to read the hex from stdin.
    #[arg(value_name = "HEX|-")]
    pub input: String,
    /// Check MESSAGE-INTEGRITY with this short-term (ICE) password.
    #[arg(long, value_name = "P", conflicts_with = "long_term")]
    pub password: Option<String>,
    /// Check MESSAGE-INTEGRITY with a long-term credential: key = MD5(USER:REALM:PASS), realm
    /// and password prepared with OpaqueString (RFC 8489).
    #[arg(long, value_name = "USER:REALM:PASS")]
    pub long_term: Option<String>,
    /// Prepare the long-term realm and password with SASLprep (RFC 5389 peers) instead.
    #[arg(long, requires = "long_term")]
    pub saslprep: bool,
    /// Use the SHA-256 long-term key (PASSWORD-ALGORITHM 0x0002) instead of MD5.
    #[arg(long, requires = "long_term")]
    pub sha256: bool,
    /// Print JSON instead of the aligned listing.
    #[arg(long)]
    pub json: bool,
}

/// Parses the process arguments, runs the command and returns its exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command.unwrap_or(Command::Demo) {
        Command::Demo => with_runtime("warn", crate::demo::run),
        Command::Stun {
            command: StunCommand::Decode(args),
        } => stun_decode(&args),
        Command::StunServer(args) => with_runtime("info", move || stun_server(args)),
        Command::StunClient(args) => with_runtime("warn", move || stun_client(args)),
        Command::NatType(args) => with_runtime("warn", move || nat_type(args)),
        Command::Sdp { command } => crate::sdp::run(&command),
        Command::Sim { command } => crate::sim::run(&command),
        Command::TurnServer(args) => with_runtime("info", move || crate::turn_server::run(*args)),
        Command::TurnClient(args) => with_runtime("warn", move || crate::turn_client::run(args)),
        Command::SignalServer(args) => with_runtime("info", move || crate::signal::run(args)),
        Command::Peer(args) => with_runtime("warn", move || crate::peer_cmd::run(args)),
    }
}

/// Sets up logging (RUST_LOG, else `default_level`, on stderr) and a single-threaded tokio
/// runtime, and runs `f` on it.
fn with_runtime<F, Fut>(default_level: &str, f: F) -> u8
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = u8>,
{
    init_logging(default_level);
    raise_open_file_limit();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(f());
            // Dropping the runtime would wait for its blocking threads, and a read of stdin
            // (tokio reads it on one) lasts as long as the pipe stays open: a peer told to stop
            // would hang there. Every task that matters has finished when `f` returns.
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
        Err(e) => fail(
            EXIT_FAILURE,
            format_args!("cannot start the async runtime: {e}"),
        ),
    }
}

/// Raises the soft limit on open files to the hard one (at most 2^20). The servers hold a
/// socket per relayed address and per TCP or TLS connection, and the usual soft limit of 1024
/// would run out before their own limits do (1024 stream connections, besides allocations):
/// past it, `accept` and `bind` fail with EMFILE.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = hard.min(1 << 20);
    if soft < want {
        match setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
            Ok(()) => tracing::debug!(from = soft, to = want, "raised the open-file limit"),
            Err(e) => tracing::debug!(soft, hard, "cannot raise the open-file limit: {e}"),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn raise_open_file_limit() {}

/// Logs to stderr, filtered by `RUST_LOG` (default: `default_level`). Safe to call twice.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Registers for SIGINT (Ctrl-C) and SIGTERM now, and returns a future that completes when one
/// arrives. Registering before the server announces itself means a signal sent right after the
/// `listening on` line is never lost to the default action.
pub(crate) fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

async fn stun_server(args: StunServerArgs) -> u8 {
    let options = ServerOptions {
        listen: args.listen,
        other: args.other,
        software: args.software,
        threads: args.threads,
    };
    let stop = match shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot watch for Ctrl-C/SIGTERM: {e}"),
            );
        }
    };
    let running = match server::start(options).await {
        Ok(r) => r,
        Err(e @ server::StartError::Invalid(_)) => return fail(EXIT_BAD_INPUT, e),
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    // The one line scripts and tests read: every bound address, A1:P1 first.
    let list: Vec<String> = running
        .addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    if args.json {
        json_line(&StunServerLine::Listening { addresses: &list });
    } else {
        emit(&format!("listening on {}\n", list.join(", ")));
    }
    stop.await;
    tracing::info!("shutting down");
    let each = running.shutdown_each().await;
    let answered_by_thread: Vec<u64> = each.iter().map(|s| s.answered).collect();
    let stats = each.iter().fold(ServerStats::default(), |mut t, s| {
        t.answered += s.answered;
        t.errors += s.errors;
        t.dropped += s.dropped;
        t
    });
    tracing::info!(
        answered = stats.answered,
        errors = stats.errors,
        dropped = stats.dropped,
        "stopped"
    );
    if args.json {
        json_line(&StunServerLine::Stopped {
            answered: stats.answered,
            errors: stats.errors,
            dropped: stats.dropped,
            answered_by_thread: &answered_by_thread,
        });
    }
    EXIT_OK
}

/// What `stun-server --json` prints.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StunServerLine<'a> {
    /// Every socket is bound: A1:P1 first.
    Listening { addresses: &'a [String] },
    /// Stopped by a signal, with the counters of every socket.
    Stopped {
        answered: u64,
        errors: u64,
        dropped: u64,
        /// Each socket thread's answers, address by address.
        answered_by_thread: &'a [u64],
    },
}

/// Prints `value` as one JSON line on stdout ("type" first when it is a tagged enum).
pub(crate) fn json_line(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => emit(&format!("{line}\n")),
        Err(e) => tracing::warn!("cannot print a JSON line: {e}"),
    }
}

async fn resolve(
    spec: &ServerSpec,
    bind: Option<SocketAddr>,
) -> Result<(SocketAddr, SocketAddr), u8> {
    let server = spec
        .resolve(bind)
        .await
        .map_err(|e| fail(EXIT_FAILURE, format_args!("cannot resolve {spec}: {e}")))?;
    let bind = bind.unwrap_or_else(|| target::default_bind(server));
    if bind.is_ipv4() != server.is_ipv4() {
        return Err(fail(
            EXIT_BAD_INPUT,
            format_args!("cannot reach {server} from {bind}: address families differ"),
        ));
    }
    Ok((server, bind))
}

async fn stun_client(args: StunClientArgs) -> u8 {
    let (server, bind) = match resolve(&args.server, args.bind).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut rng = match crate::entropy::os_seeded_rng() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    let config = TransactionConfig {
        rto: Duration::from_millis(args.rto),
        max_sends: args.sends,
        ..TransactionConfig::default()
    };
    match client::binding(server, bind, config, &mut rng).await {
        Ok(outcome) => {
            if args.json {
                emit(&format!("{}\n", binding_json(&outcome)));
            } else {
                emit(&render_binding(&outcome));
            }
            EXIT_OK
        }
        Err(e) => fail(EXIT_FAILURE, format_args!("{server}: {e}")),
    }
}

fn ms(d: Duration) -> f64 {
    // Microsecond resolution is plenty for a round trip.
    (d.as_micros() as f64) / 1000.0
}

/// The JSON object `stun-client --json` prints.
pub fn binding_json(o: &BindingOutcome) -> serde_json::Value {
    json!({
        "server": o.server.to_string(),
        "local_address": o.local.to_string(),
        "mapped_address": o.mapped.to_string(),
        "mapped_attribute": o.mapped_attribute,
        "response_from": o.response_from.to_string(),
        "response_origin": o.response_origin.map(|a| a.to_string()),
        "other_address": o.other_address.map(|a| a.to_string()),
        "software": o.software,
        "rtt_ms": ms(o.rtt),
        "transmissions": o.transmissions,
    })
}

/// The human listing `stun-client` prints.
pub fn render_binding(o: &BindingOutcome) -> String {
    let mut out = format!("mapped address   {}  ({})\n", o.mapped, o.mapped_attribute);
    out += &format!("local address    {}\n", o.local);
    out += &format!("server           {}", o.server);
    if o.response_from != o.server {
        out += &format!(" (answered from {})", o.response_from);
    }
    out.push('\n');
    if let Some(a) = o.response_origin {
        out += &format!("response origin  {a}\n");
    }
    if let Some(a) = o.other_address {
        out += &format!("other address    {a}  (RFC 5780: nat-type works with this server)\n");
    }
    if let Some(s) = &o.software {
        out += &format!("software         {s:?}\n");
    }
    let sends = if o.transmissions == 1 {
        String::new()
    } else {
        format!("  ({} transmissions)", o.transmissions)
    };
    out += &format!("rtt              {:.3} ms{sends}\n", ms(o.rtt));
    out
}

async fn nat_type(args: NatTypeArgs) -> u8 {
    let (server, bind) = match resolve(&args.server, args.bind).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut rng = match crate::entropy::os_seeded_rng() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    let mut config = DiscoveryConfig::default();
    config.transaction.rto = Duration::from_millis(args.rto);
    config.transaction.max_sends = args.sends;
    config.test_hairpinning = !args.no_hairpinning;
    match client::nat_type(server, bind, config, &mut rng).await {
        Ok((Ok(behavior), took)) => {
            if args.json {
                emit(&format!("{}\n", nat_json(server, &behavior, took)));
            } else {
                emit(&render_nat(&behavior, took));
            }
            EXIT_OK
        }
        Ok((Err(e), _)) => fail(EXIT_FAILURE, format_args!("{server}: {e}")),
        Err(e) => fail(EXIT_FAILURE, format_args!("{server}: {e}")),
    }
}

/// The JSON object `nat-type --json` prints.
pub fn nat_json(server: SocketAddr, b: &NatBehavior, took: Duration) -> serde_json::Value {
    json!({
        "server": server.to_string(),
        "nat": b.nat,
        "mapping": b.mapping.as_str(),
        "filtering": b.filtering.as_str(),
        "hairpinning": b.hairpinning,
        "mapped_address": b.mapped.to_string(),
        "local_address": b.local.to_string(),
        "other_address": b.other.to_string(),
        "duration_ms": ms(took),
    })
}

/// The human listing `nat-type` prints.
pub fn render_nat(b: &NatBehavior, took: Duration) -> String {
    let nat = if b.nat {
        "yes"
    } else {
        "no (the mapped address is the local address)"
    };
    let hairpin = match b.hairpinning {
        Some(true) => "yes",
        Some(false) => "no",
        None if b.nat => "not tested",
        None => "not tested (no NAT)",
    };
    format!(
        "nat              {nat}\n\
         mapping          {}\n\
         filtering        {}\n\
         hairpinning      {hairpin}\n\
         mapped address   {}\n\
         local address    {}\n\
         server other     {}\n\
         took             {:.1} ms\n",
        b.mapping,
        b.filtering,
        b.mapped,
        b.local,
        b.other,
        ms(took),
    )
}

/// Writes to stdout and flushes; a closed stdout (`| head`) is not worth a panic.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub(crate) fn fail(code: u8, msg: impl core::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    code
}

/// A REALM or SOFTWARE value given on the command line: fewer than 128 characters (RFC 8489
/// §14.9, §14.14; at most 508 bytes of UTF-8, within the 763 every decoder accepts), so that
/// every answer carrying it can be encoded.
/// `--threads`: 1 to [`server::MAX_THREADS`].
fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=server::MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?}: a number of threads from 1 to {}",
            server::MAX_THREADS
        )),
    }
}

pub(crate) fn stun_text(s: &str) -> Result<String, String> {
    let chars = s.chars().count();
    if chars >= 128 {
        return Err(format!(
            "{chars} characters ({} bytes): at most 127 characters (RFC 8489)",
            s.len()
        ));
    }
    Ok(s.to_owned())
}

fn stun_decode(args: &DecodeArgs) -> u8 {
    let text = if args.input == "-" {
        // Hex of the largest STUN message is about 128 KiB, and spaces and line breaks may
        // double it: the 1 MiB bound of the SDP commands' reader is plenty.
        let buf = match crate::sdp::read_input("-") {
            Ok(buf) => buf,
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        };
        match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                return fail(
                    EXIT_BAD_INPUT,
                    format_args!("stdin: byte {at} is not UTF-8; expected hex"),
                );
            }
        }
    } else {
        args.input.clone()
    };
    let bytes = match decode::parse_hex(&text) {
        Ok(b) => b,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let credential = match (&args.password, &args.long_term) {
        (Some(p), _) => Some(Credential::ShortTerm {
            password: p.clone(),
        }),
        (None, Some(spec)) => match Credential::parse_long_term(spec, args.sha256, args.saslprep) {
            Some(c) => Some(c),
            None => {
                return fail(
                    EXIT_BAD_INPUT,
                    "--long-term wants USER:REALM:PASS (three fields separated by ':')",
                );
            }
        },
        (None, None) => None,
    };
    let report = match decode::decode(&bytes, credential.as_ref()) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let printed = if args.json {
        serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .unwrap_or_default()
    } else {
        decode::render_text(&report)
    };
    // A closed stdout (`| head`) is not worth a panic.
    let _ = std::io::stdout().write_all(printed.as_bytes());
    if let Some((attr, e)) = report.first_attribute_error() {
        let name = attr.name.unwrap_or("attribute");
        return fail(
            EXIT_BAD_INPUT,
            format_args!("malformed {name} at byte {}: {e}", attr.offset),
        );
    }
    if report.has_failure() {
        eprintln!(
            "error: integrity {}, fingerprint {}",
            report.integrity, report.fingerprint
        );
        return EXIT_FAILURE;
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_text_takes_what_an_answer_can_carry() {
        assert!(stun_text(&"é".repeat(127)).is_ok());
        assert!(stun_text(&"x".repeat(127)).is_ok());
        assert!(stun_text("").is_ok());
        let e = stun_text(&"é".repeat(128)).expect_err("128 characters");
        assert!(e.starts_with("128 characters (256 bytes)"), "{e}");
        assert!(stun_text(&"😀".repeat(127)).is_ok());
    }
}
