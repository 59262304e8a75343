//! `icebreaker stun decode` on the RFC 5769 vectors, on messages built with icebreaker-stun,
//! and on bad input. Runs the built binary.

mod common;

use common::{run, run_with};
use icebreaker_stun::attributes::{
    PasswordAlgorithm, PasswordAlgorithmId, Realm, Username, XorMappedAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{Class, Integrity, MessageWriter, Method, TransactionId};
use serde_json::{Value, json};
use std::time::Duration;

// RFC 5769 §2.1, Sample Request (short-term credential, password "VOkJxbRl1RmTxUk/WvJxBt").
const REQUEST: &str = "
    00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
    00 24 00 04  6e 00 01 ff
    80 29 00 08  93 2f f9 b1  51 26 3b 36
    00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
    00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
    80 28 00 04  e5 7a 3b cf";

// RFC 5769 §2.2, Sample IPv4 Response: 192.0.2.1 port 32853.
const RESPONSE_V4: &str = "
    01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
    00 20 00 08  00 01 a1 47  e1 12 a6 43
    00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
    80 28 00 04  c0 7d 4c 96";

// RFC 5769 §2.3, Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
const RESPONSE_V6: &str = "
    01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
    00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
    00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
    80 28 00 04  c8 fb 0b 4c";

// RFC 5769 §2.4, Sample Request with Long-Term Authentication: username "マトリックス",
// password "The\u{ad}M\u{aa}tr\u{2168}" ("TheMatrIX" after SASLprep), realm "example.org".
const REQUEST_LONG_TERM: &str = "
    00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
    00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
    00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46
                 53 54 76 79  36 34 73 41
    00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
    00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66";

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn compact(hex: &str) -> String {
    hex.split_whitespace().collect()
}

fn decode_json(hex: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let hex = compact(hex);
    let mut args = vec!["stun", "decode", hex.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let json = out.json();
    (out.code, json, out.stderr)
}

fn attr<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {json:#}"))
}

#[test]
fn rfc5769_request_short_term() {
    let (code, j, _) = decode_json(REQUEST, &["--password", PASSWORD]);
    assert_eq!(code, Some(0));
    assert_eq!(j["class"], "request");
    assert_eq!(j["method"], "Binding");
    assert_eq!(j["transaction_id"], "b7e7a701bc34d686fa87dfae");
    assert_eq!(j["length"], 108);
    let names: Vec<&str> = j["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SOFTWARE",
            "PRIORITY",
            "ICE-CONTROLLED",
            "USERNAME",
            "MESSAGE-INTEGRITY",
            "FINGERPRINT"
        ]
    );
    assert_eq!(attr(&j, "SOFTWARE")["value"], "STUN test client");
    assert_eq!(attr(&j, "SOFTWARE")["type"], "0x8022");
    assert_eq!(attr(&j, "SOFTWARE")["offset"], 20);
    assert_eq!(attr(&j, "SOFTWARE")["length"], 16);
    assert_eq!(attr(&j, "PRIORITY")["value"], 0x6e00_01ff_u32);
    assert_eq!(
        attr(&j, "ICE-CONTROLLED")["value"],
        0x932f_f9b1_5126_3b36_u64
    );
    assert_eq!(attr(&j, "USERNAME")["value"], "evtj:h6vY");
    assert_eq!(
        attr(&j, "MESSAGE-INTEGRITY")["value"],
        "9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    );
    assert_eq!(attr(&j, "MESSAGE-INTEGRITY")["verdict"], "valid");
    assert_eq!(attr(&j, "FINGERPRINT")["value"], 0xe57a_3bcf_u32);
    assert_eq!(attr(&j, "FINGERPRINT")["verdict"], "valid");
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["fingerprint"], "valid");
}

#[test]
fn rfc5769_ipv4_response() {
    let (code, j, _) = decode_json(RESPONSE_V4, &["--password", PASSWORD]);
    assert_eq!(code, Some(0));
    assert_eq!(j["class"], "success");
    assert_eq!(j["method"], "Binding");
    assert_eq!(j["transaction_id"], "b7e7a701bc34d686fa87dfae");
    assert_eq!(attr(&j, "SOFTWARE")["value"], "test vector");
    assert_eq!(attr(&j, "XOR-MAPPED-ADDRESS")["value"], "192.0.2.1:32853");
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["fingerprint"], "valid");
}

#[test]
fn rfc5769_ipv6_response() {
    let (code, j, _) = decode_json(RESPONSE_V6, &["--password", PASSWORD]);
    assert_eq!(code, Some(0));
    assert_eq!(j["class"], "success");
    assert_eq!(
        attr(&j, "XOR-MAPPED-ADDRESS")["value"],
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
    );
    assert_eq!(attr(&j, "XOR-MAPPED-ADDRESS")["length"], 20);
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["fingerprint"], "valid");
}

#[test]
fn rfc5769_long_term_with_saslprep() {
    // The unprepared password, which SASLprep maps to "TheMatrIX".
    let spec = "マトリックス:example.org:The\u{ad}M\u{aa}tr\u{2168}";
    let (code, j, _) = decode_json(REQUEST_LONG_TERM, &["--long-term", spec, "--saslprep"]);
    assert_eq!(code, Some(0));
    assert_eq!(j["transaction_id"], "78ad3433c6ad72c029da412e");
    assert_eq!(attr(&j, "USERNAME")["value"], "マトリックス");
    assert_eq!(attr(&j, "USERNAME")["length"], 18);
    assert_eq!(attr(&j, "NONCE")["value"], "f//499k954d6OL34oL9FSTvy64sA");
    assert_eq!(attr(&j, "REALM")["value"], "example.org");
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["fingerprint"], "absent");

    // The prepared password works with either preparation (it is plain ASCII).
    for extra in [&["--saslprep"][..], &[]] {
        let mut args = vec!["--long-term", "マトリックス:example.org:TheMatrIX"];
        args.extend_from_slice(extra);
        let (code, j, _) = decode_json(REQUEST_LONG_TERM, &args);
        assert_eq!(
            (code, &j["integrity"]),
            (Some(0), &json!("valid")),
            "{extra:?}"
        );
    }
}

#[test]
fn rfc5769_long_term_password_is_refused_by_opaque_string() {
    // SASLprep maps the soft hyphen to nothing; OpaqueString's FreeformClass (RFC 8264 §4.3)
    // refuses it, a default-ignorable code point, so without --saslprep the password is not
    // a credential at all: exit 2, naming the character's position.
    let spec = "マトリックス:example.org:The\u{ad}M\u{aa}tr\u{2168}";
    let out = run(&[
        "stun",
        "decode",
        &compact(REQUEST_LONG_TERM),
        "--json",
        "--long-term",
        spec,
    ]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("unusable credential: credential has a prohibited character at 3"),
        "{}",
        out.stderr
    );
    // With a password OpaqueString takes but whose key differs, the integrity is invalid.
    let spec = "マトリックス:example.org:TheMatr\u{2168}";
    let (code, j, stderr) = decode_json(REQUEST_LONG_TERM, &["--long-term", spec]);
    assert_eq!(code, Some(1));
    assert_eq!(j["integrity"], "invalid");
    assert!(stderr.contains("error: integrity invalid"), "{stderr}");
}

#[test]
fn wrong_password_is_invalid_and_fails() {
    let (code, j, stderr) = decode_json(REQUEST, &["--password", "not-the-password"]);
    assert_eq!(code, Some(1));
    assert_eq!(j["integrity"], "invalid");
    assert_eq!(attr(&j, "MESSAGE-INTEGRITY")["verdict"], "invalid");
    assert_eq!(j["fingerprint"], "valid");
    assert!(stderr.contains("invalid"), "{stderr}");
}

#[test]
fn no_credential_leaves_integrity_unchecked() {
    let (code, j, _) = decode_json(REQUEST, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(j["integrity"], "unchecked");
    assert_eq!(j["fingerprint"], "valid");
}

#[test]
fn corrupted_fingerprint_is_invalid() {
    let hex = compact(REQUEST).replace("e57a3bcf", "e57a3bce");
    let (code, j, _) = decode_json(&hex, &["--password", PASSWORD]);
    assert_eq!(code, Some(1));
    assert_eq!(j["fingerprint"], "invalid");
    assert_eq!(j["integrity"], "valid");
}

#[test]
fn reads_an_rfc_style_dump_from_stdin() {
    let out = run_with(
        &["stun", "decode", "-", "--password", PASSWORD],
        Some(REQUEST),
        Duration::from_secs(20),
    );
    out.expect_code(0);
    for needle in [
        "STUN Binding request, 108 bytes",
        "b7e7a701bc34d686fa87dfae",
        "SOFTWARE",
        "\"STUN test client\"",
        "integrity       valid",
        "fingerprint     valid",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} missing from\n{}",
            out.stdout
        );
    }
}

#[test]
fn stdin_is_read_up_to_a_limit() {
    let huge = "00".repeat((1 << 19) + 1);
    let out = run_with(
        &["stun", "decode", "-"],
        Some(&huge),
        Duration::from_secs(20),
    );
    out.expect_code(2);
    assert!(
        out.stderr.contains("larger than 1048576 bytes"),
        "{}",
        out.stderr
    );
}

fn sha256_long_term_message() -> String {
    let key = Key::long_term(
        "alice",
        "example.org",
        "secret",
        PasswordAlgorithmId::SHA256,
        Preparation::OpaqueString,
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId::new([9; 12]),
    )
    .unwrap();
    w.push(&Username("alice")).unwrap();
    w.push(&Realm("example.org")).unwrap();
    w.push(&PasswordAlgorithm::new(PasswordAlgorithmId::SHA256))
        .unwrap();
    let n = w
        .finish_with_integrity(&key, Integrity::Sha256, true)
        .unwrap();
    hex::encode(&buf[..n])
}

#[test]
fn sha256_long_term_key() {
    let hex = sha256_long_term_message();
    let (code, j, _) = decode_json(
        &hex,
        &["--long-term", "alice:example.org:secret", "--sha256"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(j["method"], "Allocate");
    assert_eq!(
        attr(&j, "PASSWORD-ALGORITHM")["value"],
        json!({ "algorithm": "SHA-256" })
    );
    assert_eq!(attr(&j, "MESSAGE-INTEGRITY-SHA256")["verdict"], "valid");
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["fingerprint"], "valid");

    // The MD5 key does not verify a SHA-256-keyed message.
    let (code, j, _) = decode_json(&hex, &["--long-term", "alice:example.org:secret"]);
    assert_eq!((code, &j["integrity"]), (Some(1), &json!("invalid")));
}

#[test]
fn unknown_and_structured_attributes() {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Error,
        Method::BINDING,
        TransactionId::new([1; 12]),
    )
    .unwrap();
    w.push(&icebreaker_stun::attributes::ErrorCode {
        code: 420,
        reason: "Unknown Attribute",
    })
    .unwrap();
    w.push_raw(icebreaker_stun::AttributeType(0x7f01), &[0xde, 0xad, 0xbe])
        .unwrap();
    w.push_raw(icebreaker_stun::AttributeType(0xc001), &[])
        .unwrap();
    w.push(&XorMappedAddress("[::1]:9".parse().unwrap()))
        .unwrap();
    let n = w.finish(false).unwrap();
    let (code, j, _) = decode_json(&hex::encode(&buf[..n]), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(j["class"], "error");
    assert_eq!(
        attr(&j, "ERROR-CODE")["value"],
        json!({ "code": 420, "reason": "Unknown Attribute" })
    );
    assert_eq!(attr(&j, "XOR-MAPPED-ADDRESS")["value"], "[::1]:9");
    let unknown: Vec<&Value> = j["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"].is_null())
        .collect();
    assert_eq!(unknown.len(), 2);
    assert_eq!(unknown[0]["type"], "0x7f01");
    assert_eq!(unknown[0]["value"], "deadbe");
    assert_eq!(unknown[0]["comprehension_required"], true);
    assert_eq!(unknown[1]["type"], "0xc001");
    assert_eq!(unknown[1]["value"], "");
    assert_eq!(unknown[1]["comprehension_required"], false);
    assert_eq!(j["integrity"], "absent");
    assert_eq!(j["fingerprint"], "absent");
}

/// Runs `stun decode HEX` expecting exit 2 and an `error:` line containing `needle`.
fn expect_bad_input(hex: &str, needle: &str) {
    let out = run(&["stun", "decode", hex]);
    out.expect_code(2);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains(needle),
        "input {hex:?}: expected {needle:?} in stderr:\n{}",
        out.stderr
    );
}

#[test]
fn bad_hex_is_a_clear_error() {
    expect_bad_input("0001005", "odd number of hex digits (7)");
    expect_bad_input("00010000zz", "invalid hex character 'z' at character 8");
    expect_bad_input("   ", "no hex digits");
}

#[test]
fn not_stun_is_a_clear_error() {
    // Truncated header.
    expect_bad_input("000100002112a442", "truncated: need 20 bytes, have 8");
    // First two bits set.
    expect_bad_input("c00100002112a442b7e7a701bc34d686fa87dfae", "not STUN");
    // Wrong magic cookie.
    expect_bad_input(
        "000100002112a443b7e7a701bc34d686fa87dfae",
        "bad magic cookie 0x2112a443",
    );
    // Length says 8 but nothing follows.
    expect_bad_input(
        "000100082112a442b7e7a701bc34d686fa87dfae",
        "length field says 8",
    );
    // Length not a multiple of 4.
    expect_bad_input(
        "000100022112a442b7e7a701bc34d686fa87dfae0000",
        "not a multiple of 4",
    );
    // An attribute whose value runs past the end, with its byte offset.
    expect_bad_input(
        "000100082112a442b7e7a701bc34d686fa87dfae80220010abcdabcd",
        "attribute SOFTWARE at byte 20 runs past the end",
    );
    // The RFC 5769 request cut short.
    expect_bad_input(&compact(REQUEST)[..100], "not a valid STUN message");
}

#[test]
fn malformed_attribute_value_is_reported_with_its_offset() {
    // XOR-MAPPED-ADDRESS with address family 3: the message parses, the value does not.
    let hex = "0101000c2112a442b7e7a701bc34d686fa87dfae002000080003a147e112a643";
    let out = run(&["stun", "decode", hex, "--json"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("malformed XOR-MAPPED-ADDRESS at byte 20"),
        "{}",
        out.stderr
    );
    let j = out.json();
    assert!(
        attr(&j, "XOR-MAPPED-ADDRESS")["error"]
            .as_str()
            .unwrap()
            .contains("address family")
    );
}

#[test]
fn long_term_spec_needs_three_fields() {
    let out = run(&[
        "stun",
        "decode",
        &compact(REQUEST),
        "--long-term",
        "user:realm",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("USER:REALM:PASS"), "{}", out.stderr);
    // --saslprep without --long-term is a usage error (clap, exit 2).
    run(&["stun", "decode", &compact(REQUEST), "--saslprep"]).expect_code(2);
}

#[test]
fn garbage_never_panics() {
    // A fixed pseudo-random sequence (xorshift), plus mutations of a valid message.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = hex::decode(compact(REQUEST)).unwrap();
    for i in 0..24 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..(next() % 64)).map(|_| next() as u8).collect()
        } else {
            let mut b = base.clone();
            let at = (next() as usize) % b.len();
            b[at] ^= 1 << (next() % 8);
            b
        };
        let hex = if bytes.is_empty() {
            "00".to_owned()
        } else {
            hex::encode(&bytes)
        };
        let out = run(&["stun", "decode", &hex, "--password", PASSWORD]);
        assert!(matches!(out.code, Some(0..=2)), "{hex}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{hex}: {}", out.stderr);
    }
}

#[test]
fn attributes_after_integrity_are_reported_as_ignored() {
    // The RFC 5769 long-term request with a SOFTWARE attribute appended after
    // MESSAGE-INTEGRITY (length 0x60 + 8 = 0x68). RFC 8489 §14.5: it is ignored, and the
    // integrity check (which patches the length) still passes.
    let hex = compact(REQUEST_LONG_TERM).replacen("00010060", "00010068", 1) + "8022000474657374";
    let spec = "マトリックス:example.org:TheMatrIX";
    let (code, j, _) = decode_json(&hex, &["--long-term", spec, "--saslprep"]);
    assert_eq!(code, Some(0));
    assert_eq!(j["integrity"], "valid");
    assert_eq!(j["ignored_bytes"], 8);
    assert!(
        j["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "SOFTWARE")
    );
    let out = run(&["stun", "decode", &hex]);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("8 bytes of attributes after the integrity attribute are ignored"),
        "{}",
        out.stdout
    );
}
