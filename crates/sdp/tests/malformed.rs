//! The malformed battery: one test per kind of bad input, each with its exact error.

use icebreaker_sdp::{
    Attribute, Error, ErrorKind, Limits, ParseOptions, WarningKind, parse, parse_bytes,
    parse_strict, parse_with,
};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

/// Asserts the error's position and kind, in both modes unless `strict_only`.
#[track_caller]
fn expect(text: &str, line: usize, column: usize, kind: ErrorKind) -> Error {
    let e = parse_strict(text).expect_err("strict must refuse");
    assert_eq!(
        (e.line, e.column, e.kind),
        (line, column, kind),
        "strict: {e}"
    );
    e
}

#[track_caller]
fn expect_both(text: &str, line: usize, column: usize, kind: ErrorKind) -> Error {
    let e = expect(text, line, column, kind);
    let l = parse(text).expect_err("lenient must refuse too");
    assert_eq!(l, e, "lenient: {l}");
    e
}

#[test]
fn non_utf8() {
    let bytes = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=caf\xe9\r\nt=0 0\r\n";
    let e = parse_bytes(bytes, &ParseOptions::default()).expect_err("not UTF-8");
    assert_eq!((e.line, e.column, e.kind), (3, 6, ErrorKind::NotUtf8));
    assert_eq!(e.span, (29, 35));
    assert_eq!(e.to_string(), "3:6: input is not valid UTF-8");
}

#[test]
fn empty_input() {
    let e = parse("").expect_err("empty");
    assert_eq!(e.kind, ErrorKind::Empty);
}

#[test]
fn missing_version() {
    let text = "o=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    expect_both(text, 1, 1, ErrorKind::MissingVersion);
}

#[test]
fn bad_version() {
    let text = "v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    let e = expect_both(text, 1, 3, ErrorKind::BadVersion);
    assert_eq!(e.to_string(), "1:3: unsupported version, expected v=0");
}

#[test]
fn m_line_without_port() {
    let text = with_head("m=audio RTP/AVP 0\r\n");
    let e = expect_both(&text, 5, 9, ErrorKind::MissingPort);
    assert_eq!(e.to_string(), "5:9: m= line without a port");
    assert_eq!(e.offending_line(&text), Some("m=audio RTP/AVP 0"));
    let text = with_head("m=audio\r\n");
    expect_both(&text, 5, 8, ErrorKind::MissingPort);
}

#[test]
fn payload_type_out_of_range() {
    let text = with_head("m=audio 9 RTP/AVP 0 128\r\n");
    let e = expect_both(&text, 5, 21, ErrorKind::PayloadTypeOutOfRange);
    assert_eq!(e.to_string(), "5:21: payload type out of range 0-127");
    let text = with_head("m=audio 9 RTP/AVP 0\r\na=rtpmap:200 PCMU/8000\r\n");
    expect(&text, 6, 10, ErrorKind::PayloadTypeOutOfRange);
}

#[test]
fn foundation_over_32_chars() {
    let f = "a".repeat(33);
    let text = with_head(&format!(
        "m=audio 9 RTP/AVP 0\r\na=candidate:{f} 1 udp 1 192.0.2.1 9 typ host\r\n"
    ));
    expect(&text, 6, 13, ErrorKind::FoundationTooLong);
    // Lenient mode keeps the line verbatim and says why.
    let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient keeps it");
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].line, 6);
    assert_eq!(
        p.warnings[0].kind,
        WarningKind::InvalidAttribute(ErrorKind::FoundationTooLong)
    );
    assert!(matches!(
        p.description.media[0].attributes[0],
        Attribute::Other {
            name: "candidate",
            ..
        }
    ));
    assert_eq!(p.description.to_string(), text);
    // 32 is fine.
    let ok = text.replacen(&f, &"a".repeat(32), 1);
    parse_strict(&ok).expect("32 chars");
}

#[test]
fn ufrag_shorter_than_4_chars() {
    let text = with_head("a=ice-ufrag:abc\r\n");
    let e = expect(&text, 5, 13, ErrorKind::BadUfragLength);
    assert_eq!(e.to_string(), "5:13: ice-ufrag must be 4 to 256 ice-chars");
    let text = with_head("a=ice-pwd:tooshort\r\n");
    expect(&text, 5, 11, ErrorKind::BadPwdLength);
}

#[test]
fn cr_inside_a_value() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=a\rb\r\nt=0 0\r\n";
    let e = expect_both(text, 3, 4, ErrorKind::ControlCharacter);
    assert_eq!(e.offending_line(text), Some("s=a\rb"));
}

#[test]
fn nul_inside_a_value() {
    let text = with_head("a=tool:x\0y\r\n");
    expect_both(&text, 5, 9, ErrorKind::ControlCharacter);
}

#[test]
fn lf_inside_a_value() {
    // A bare LF ends the line, so the rest of the value becomes a line of its own.
    let text = with_head("a=ice-ufrag:abcd\nefgh\r\n");
    expect_both(&text, 6, 1, ErrorKind::NotATypeLine);
}

#[test]
fn duplicate_session_level_lines() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\ns=again\r\nt=0 0\r\n";
    let e = expect_both(text, 4, 1, ErrorKind::DuplicateLine('s'));
    assert_eq!(e.to_string(), "4:1: duplicate s= line");
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    expect_both(text, 3, 1, ErrorKind::DuplicateLine('o'));
    let text = with_head("c=IN IP4 0.0.0.0\r\nc=IN IP4 0.0.0.0\r\n");
    // Strict mode sees c= after t= first.
    let e = parse(&text).expect_err("duplicate c=");
    assert_eq!((e.line, e.kind), (6, ErrorKind::DuplicateLine('c')));
    let text = "v=0\r\nv=0\r\n";
    expect_both(text, 2, 1, ErrorKind::DuplicateLine('v'));
}

#[test]
fn oversized_input() {
    let mut text = String::from(HEAD);
    while text.len() <= 1024 * 1024 {
        text.push_str("a=tool:padding padding padding padding padding padding\r\n");
    }
    let e = parse(&text).expect_err("1 MiB");
    assert_eq!(
        e.kind,
        ErrorKind::TooLarge {
            size: text.len(),
            limit: 256 * 1024
        }
    );
    assert_eq!((e.line, e.column), (0, 0));
    let e = parse_bytes(text.as_bytes(), &ParseOptions::default()).expect_err("bytes too");
    assert!(matches!(e.kind, ErrorKind::TooLarge { .. }));
}

#[test]
fn ten_thousand_m_lines_refused_before_parsing() {
    // Line 2 is broken: the media count is checked while splitting lines, before any grammar
    // runs, so the limit is what is reported (the early, cheap check).
    let mut text = String::from("v=0\r\no=broken\r\ns=-\r\nt=0 0\r\n");
    for _ in 0..10_000 {
        text.push_str("m=audio 9 RTP/AVP 0\r\n");
    }
    assert!(
        text.len() < 256 * 1024,
        "under the size limit, so the media limit is what trips"
    );
    let e = parse(&text).expect_err("too many m-lines");
    assert_eq!(
        (e.line, e.kind),
        (4 + 257, ErrorKind::TooManyMedia { limit: 256 })
    );
}

#[test]
fn other_limits() {
    let limits = Limits {
        max_lines: 5,
        ..Limits::default()
    };
    let text = with_head("a=a\r\na=b\r\n");
    let e = parse_with(
        &text,
        &ParseOptions {
            strict: false,
            limits,
        },
    )
    .expect_err("lines");
    assert_eq!((e.line, e.kind), (6, ErrorKind::TooManyLines { limit: 5 }));

    let text = with_head(&format!("a=tool:{}\r\n", "x".repeat(5000)));
    let e = parse(&text).expect_err("line length");
    assert_eq!(
        (e.line, e.column, e.kind),
        (5, 4097, ErrorKind::LineTooLong { limit: 4096 })
    );

    let limits = Limits {
        max_attributes: 2,
        ..Limits::default()
    };
    let text = with_head("m=audio 9 RTP/AVP 0\r\na=a\r\na=b\r\na=c\r\n");
    let e = parse_with(
        &text,
        &ParseOptions {
            strict: false,
            limits,
        },
    )
    .expect_err("attrs");
    assert_eq!(
        (e.line, e.kind),
        (8, ErrorKind::TooManyAttributes { limit: 2 })
    );
}

#[test]
fn missing_required_lines() {
    let e = parse("v=0\r\ns=-\r\nt=0 0\r\n").expect_err("no o=");
    assert_eq!(e.kind, ErrorKind::MissingLine('o'));
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nt=0 0\r\n";
    assert_eq!(
        parse_strict(text).map_err(|e| e.kind),
        Err(ErrorKind::MissingLine('s'))
    );
    let p = parse_with(text, &ParseOptions::lenient()).expect("lenient default");
    assert_eq!(p.description.session_name, "-");
    assert_eq!(p.warnings[0].kind, WarningKind::MissingLine('s'));
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
    assert_eq!(
        parse_strict(text).map_err(|e| e.kind),
        Err(ErrorKind::MissingLine('t'))
    );
}

#[test]
fn bad_origin() {
    let text = "v=0\r\no=- x 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    let e = expect_both(
        text,
        2,
        5,
        ErrorKind::Syntax {
            expected: "numeric session id",
        },
    );
    assert_eq!(e.to_string(), "2:5: expected numeric session id");
}

#[test]
fn out_of_order_and_unknown_lines() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=tool:x\r\nc=IN IP4 0.0.0.0\r\nx=unknown\r\n";
    expect(text, 6, 1, ErrorKind::OutOfOrder('c'));
    let p = parse_with(text, &ParseOptions::lenient()).expect("lenient");
    let kinds: Vec<_> = p.warnings.iter().map(|w| (w.line, w.kind)).collect();
    assert_eq!(
        kinds,
        [
            (6, WarningKind::OutOfOrder('c')),
            (7, WarningKind::UnknownLineType('x'))
        ]
    );
    assert_eq!(p.description.other_lines, ["x=unknown"]);
    // The canonical form puts c= in its place and keeps the unknown line.
    assert_eq!(
        p.description.to_string(),
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=tool:x\r\nx=unknown\r\n"
    );
    let text2 = text.replace("c=IN IP4 0.0.0.0\r\n", "");
    expect(&text2, 6, 1, ErrorKind::UnknownLineType('x'));
}

#[test]
fn lenient_whitespace_and_empty_lines() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0 \r\ns=-\r\n\r\nt=0 0\r\na=mid:0 \r\n";
    assert!(parse_strict(text).is_err());
    let p = parse_with(text, &ParseOptions::lenient()).expect("lenient");
    let kinds: Vec<_> = p
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (2, 23, WarningKind::TrailingWhitespace),
            (4, 1, WarningKind::EmptyLine),
            (6, 8, WarningKind::TrailingWhitespace)
        ]
    );
    assert_eq!(p.description.attributes, [Attribute::Mid("0")]);
    assert_eq!(
        p.warnings[0].to_string(),
        "2:23: trailing whitespace removed"
    );
}

#[test]
fn flag_attribute_with_a_value() {
    let text = with_head("a=rtcp-mux:yes\r\n");
    expect(
        &text,
        5,
        12,
        ErrorKind::Syntax {
            expected: "no value",
        },
    );
    let text = with_head("a=setup:sideways\r\n");
    expect(
        &text,
        5,
        9,
        ErrorKind::Syntax {
            expected: "active, passive, actpass or holdconn",
        },
    );
}

#[test]
fn bad_candidates() {
    for (cand, col, kind) in [
        (
            "1 1 udp 1 192.0.2.1 9 typ",
            34,
            ErrorKind::Syntax {
                expected: "\" typ \"",
            },
        ),
        (
            "1 1 udp 99999999999 192.0.2.1 9 typ host",
            21,
            ErrorKind::NumberOutOfRange,
        ),
        (
            "1 1 udp 1 192.0.2.1 70000 typ host",
            33,
            ErrorKind::NumberOutOfRange,
        ),
        (
            "1 1 udp 1 192.0.2.1 9 typ host generation",
            54,
            ErrorKind::Syntax { expected: "space" },
        ),
        (
            "1 x udp 1 192.0.2.1 9 typ host",
            15,
            ErrorKind::Syntax {
                expected: "component id",
            },
        ),
    ] {
        let text = with_head(&format!("a=candidate:{cand}\r\n"));
        let e = parse_strict(&text).expect_err(cand);
        assert_eq!((e.line, e.column, e.kind), (5, col, kind), "{cand}: {e}");
    }
    let e = icebreaker_sdp::Candidate::parse("candidate:1 1 udp 1 192.0.2.1 9 typ")
        .expect_err("trickle");
    assert_eq!((e.line, e.column), (1, 32));
}
