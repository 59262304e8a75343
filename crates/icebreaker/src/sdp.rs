//! `icebreaker sdp parse` and `icebreaker sdp fmt`: SDP text in, a verdict, the typed
//! description (JSON) or the canonical form out.
//!
//! Input is bounded twice: at most [`MAX_INPUT`] bytes are read (one more is read to tell an
//! oversized input from a full one), and the parser's own [`Limits`](icebreaker_sdp::Limits)
//! apply after that.

use std::io::Read as _;

use clap::{Args, Subcommand};
use icebreaker_sdp::{Error, MediaType, ParseOptions, Parsed, SessionDescription, parse_bytes};
use serde_json::json;

use crate::cli::{EXIT_BAD_INPUT, EXIT_OK, emit, fail};

/// `icebreaker sdp ...`
#[derive(Debug, Subcommand)]
pub enum SdpCommand {
    /// Validate a description: exit 0 when valid (warnings listed in lenient mode); errors as
    /// LINE:COLUMN: reason and the offending line, exit 2.
    Parse(SdpArgs),
    /// Print the canonical form (CRLF line endings, the grammar's line order).
    Fmt(SdpArgs),
}

/// Arguments of `icebreaker sdp parse` and `icebreaker sdp fmt`.
#[derive(Debug, Args)]
pub struct SdpArgs {
    /// The description: a file, or `-` for stdin (at most 1 MiB).
    #[arg(value_name = "FILE|-")]
    pub input: String,
    /// Strict mode: the RFC 8866 grammar and line order; what lenient mode only warns about
    /// is an error.
    #[arg(long)]
    pub strict: bool,
    /// Print JSON (parse: the typed description and the warnings; errors as an object too).
    #[arg(long)]
    pub json: bool,
}

/// Runs `icebreaker sdp ...`; returns the exit status.
pub fn run(command: &SdpCommand) -> u8 {
    let (args, fmt) = match command {
        SdpCommand::Parse(a) => (a, false),
        SdpCommand::Fmt(a) => (a, true),
    };
    let input = match read_input(&args.input) {
        Ok(b) => b,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let parsed = match parse(&input, args.strict) {
        Ok(p) => p,
        Err(e) => {
            if args.json {
                emit(&format!("{}\n", error_json(&e, &input)));
            }
            eprint!("error: {}", render_error(&e, &input));
            return EXIT_BAD_INPUT;
        }
    };
    if fmt {
        emit(&parsed.description.to_string());
        for w in &parsed.warnings {
            eprintln!("warning: {}:{}: {}", w.line, w.column, w.kind);
        }
    } else if args.json {
        let doc = json!({
            "valid": true,
            "strict": args.strict,
            "description": parsed.description,
            "warnings": parsed.warnings.iter().map(|w| json!({
                "line": w.line,
                "column": w.column,
                "message": w.kind.to_string(),
                "kind": w.kind,
            })).collect::<Vec<_>>(),
        });
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else {
        emit(&render_summary(&parsed, args.strict));
    }
    EXIT_OK
}

/// The most bytes `sdp parse` and `sdp fmt` read (1 MiB).
pub const MAX_INPUT: usize = 1 << 20;

/// Why the input could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file or stdin failed.
    Io(String, std::io::Error),
    /// More than [`MAX_INPUT`] bytes.
    TooLarge(String),
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io(name, e) => write!(f, "cannot read {name}: {e}"),
            Self::TooLarge(name) => {
                write!(
                    f,
                    "{name} is larger than {MAX_INPUT} bytes (1 MiB); refused"
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads `path` (`-` for stdin), at most [`MAX_INPUT`] bytes.
pub fn read_input(path: &str) -> Result<Vec<u8>, ReadError> {
    let name = if path == "-" {
        "stdin".to_string()
    } else {
        path.to_string()
    };
    let mut buf = Vec::new();
    // One byte more than the limit tells "exactly full" from "too large".
    let limit = MAX_INPUT as u64 + 1;
    let read = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    read.map_err(|e| ReadError::Io(name.clone(), e))?;
    if buf.len() > MAX_INPUT {
        return Err(ReadError::TooLarge(name));
    }
    Ok(buf)
}

/// Parses `input` in strict or lenient mode.
pub fn parse(input: &[u8], strict: bool) -> Result<Parsed<'_>, Error> {
    let options = if strict {
        ParseOptions::strict()
    } else {
        ParseOptions::lenient()
    };
    parse_bytes(input, &options)
}

/// A line of input made safe for a terminal: control characters escaped.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The error report for the terminal: `LINE:COLUMN: reason`, then the offending line and a caret
/// under the column (lines without `error: ` prefix; the caller adds it to the first).
pub fn render_error(e: &Error, input: &[u8]) -> String {
    if e.line == 0 {
        return format!("{}\n", e.kind);
    }
    let mut out = format!("{e}\n");
    let (start, end) = e.span;
    let Some(bytes) = input.get(start..end.max(start)) else {
        return out;
    };
    let line = String::from_utf8_lossy(bytes);
    let shown = printable(&line);
    out += &format!("  {shown}\n");
    // The column is a byte column: put the caret under the character that holds that byte.
    let before = bytes.get(..e.column.saturating_sub(1)).unwrap_or(bytes);
    let width = printable(&String::from_utf8_lossy(before)).chars().count();
    out += &format!("  {}^\n", " ".repeat(width));
    out
}

/// The JSON object printed for an error with `--json`.
pub fn error_json(e: &Error, input: &[u8]) -> serde_json::Value {
    let line = input
        .get(e.span.0..e.span.1.max(e.span.0))
        .map(|b| String::from_utf8_lossy(b).into_owned());
    json!({
        "valid": false,
        "error": {
            "line": e.line,
            "column": e.column,
            "reason": e.kind.to_string(),
            "kind": e.kind,
            "text": line,
        }
    })
}

fn media_name(kind: &MediaType<'_>) -> String {
    match kind {
        MediaType::Audio => "audio".into(),
        MediaType::Video => "video".into(),
        MediaType::Text => "text".into(),
        MediaType::Application => "application".into(),
        MediaType::Message => "message".into(),
        MediaType::Image => "image".into(),
        MediaType::Other(s) => printable(s),
    }
}

/// The human summary of a valid description and its warnings.
pub fn render_summary(p: &Parsed<'_>, strict: bool) -> String {
    let d: &SessionDescription<'_> = &p.description;
    let media: Vec<String> = d
        .media
        .iter()
        .map(|m| match m.mid() {
            Some(mid) => format!("{} (mid {})", media_name(&m.kind), printable(mid)),
            None => media_name(&m.kind),
        })
        .collect();
    let candidates: usize = d.media.iter().map(|m| m.candidates().count()).sum();
    let mode = if strict { "strict" } else { "lenient" };
    let mut out = format!("valid SDP ({mode})\n");
    out += &format!("session   {:?}\n", d.session_name);
    out += &format!(
        "origin    {} {} {}\n",
        printable(d.origin.username),
        printable(d.origin.session_id),
        printable(d.origin.session_version)
    );
    out += &format!("media     {}", d.media.len());
    if !media.is_empty() {
        out += &format!(": {}", media.join(", "));
    }
    out.push('\n');
    out += &format!("candidates {candidates}\n");
    out += &format!("warnings  {}\n", p.warnings.len());
    for w in &p.warnings {
        out += &format!("warning: {}:{}: {}\n", w.line, w.column, w.kind);
    }
    out
}
