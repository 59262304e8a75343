//! The command-line grammar (clap derive) and the dispatch behind `main`.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::decode::{self, Credential};

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
        Command::Demo => {
            println!("icebreaker: try `icebreaker stun decode --help`");
            EXIT_OK
        }
        Command::Stun {
            command: StunCommand::Decode(args),
        } => stun_decode(&args),
    }
}

fn fail(code: u8, msg: impl core::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    code
}

fn stun_decode(args: &DecodeArgs) -> u8 {
    let text = if args.input == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            return fail(
                EXIT_BAD_INPUT,
                format_args!("cannot read hex from stdin: {e}"),
            );
        }
        s
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
