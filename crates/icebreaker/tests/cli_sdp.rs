//! `icebreaker sdp parse` and `icebreaker sdp fmt` through the built binary.

mod common;

use std::time::Duration;

use common::{run, run_with};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sdp/tests/fixtures/chrome_datachannel_offer.sdp"
);

const MALFORMED: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio RTP/AVP 0\r\n";

/// An LF description with an empty line and an unknown line type: lenient warns, strict refuses.
const SLOPPY: &str = "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n\nx=foo\nm=audio 9 RTP/AVP 0\n";

fn stdin(args: &[&str], text: &str) -> common::Output {
    run_with(args, Some(text), Duration::from_secs(20))
}

#[test]
fn parse_valid_file() {
    let out = run(&["sdp", "parse", FIXTURE]);
    out.expect_code(0);
    assert!(
        out.stdout.starts_with("valid SDP (lenient)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("media     1: application (mid 0)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("warnings  0"), "{}", out.stdout);
}

#[test]
fn parse_valid_json_dumps_the_description() {
    let out = run(&["sdp", "parse", "--json", FIXTURE]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["description"]["session_name"], "-");
    assert_eq!(v["description"]["media"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn parse_malformed_prints_line_column_and_the_line() {
    let out = stdin(&["sdp", "parse", "-"], MALFORMED);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: 5:9: m= line without a port\n  m=audio RTP/AVP 0\n          ^\n"
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn parse_malformed_json_has_the_position() {
    let out = stdin(&["sdp", "parse", "--json", "-"], MALFORMED);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["line"], 5);
    assert_eq!(v["error"]["column"], 9);
    assert_eq!(v["error"]["reason"], "m= line without a port");
    assert_eq!(v["error"]["text"], "m=audio RTP/AVP 0");
}

#[test]
fn lenient_lists_warnings_and_strict_refuses() {
    let out = stdin(&["sdp", "parse", "-"], SLOPPY);
    out.expect_code(0);
    assert!(
        out.stdout.contains("warning: 5:1: empty line skipped\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("warning: 6:1: unknown line type x= kept verbatim\n"),
        "{}",
        out.stdout
    );
    let strict = stdin(&["sdp", "parse", "--strict", "-"], SLOPPY);
    strict.expect_code(2);
    assert!(
        strict.stderr.starts_with("error: 5:1: "),
        "{}",
        strict.stderr
    );
}

#[test]
fn fmt_prints_the_canonical_form() {
    let out = stdin(
        &["sdp", "fmt", "-"],
        "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0\n",
    );
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
    );
    // A canonical input comes back byte for byte.
    let fixture = std::fs::read_to_string(FIXTURE).unwrap();
    let again = run(&["sdp", "fmt", FIXTURE]);
    again.expect_code(0);
    assert_eq!(again.stdout, fixture);
    let bad = stdin(&["sdp", "fmt", "-"], MALFORMED);
    bad.expect_code(2);
    assert!(bad.stderr.starts_with("error: 5:9: "), "{}", bad.stderr);
}

#[test]
fn bad_input_is_refused_clearly() {
    // Over 1 MiB: refused before parsing.
    let big = "a".repeat((1 << 20) + 1);
    let out = stdin(&["sdp", "parse", "-"], &big);
    out.expect_code(2);
    assert!(
        out.stderr.contains("larger than 1048576 bytes"),
        "{}",
        out.stderr
    );
    // Over the parser's own size limit (256 KiB).
    let out = stdin(&["sdp", "parse", "-"], &"a".repeat(300 * 1024));
    out.expect_code(2);
    assert!(out.stderr.contains("over the limit"), "{}", out.stderr);
    // A missing file.
    let out = run(&["sdp", "parse", "/nonexistent/icebreaker.sdp"]);
    out.expect_code(2);
    assert!(
        out.stderr.starts_with("error: cannot read"),
        "{}",
        out.stderr
    );
    // Empty input and control characters never panic.
    stdin(&["sdp", "parse", "-"], "").expect_code(2);
    let out = stdin(&["sdp", "parse", "-"], "v=0\r\no=\x1b[31m\r\n");
    out.expect_code(2);
    assert!(!out.stderr.contains('\x1b'), "{:?}", out.stderr);
}
