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
        "m=audio 0 RTP/AVP 0\r\na=candidate:{f} 1 udp 1 192.0.2.1 9 typ host\r\n"
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

/// `a=ice-pacing` (RFC 8839 §5.5) is a number of milliseconds, and written back as read.
#[test]
fn ice_pacing_is_milliseconds() {
    let text = with_head("a=ice-pacing:200\r\n");
    let p = parse_strict(&text).unwrap();
    assert_eq!(p.attributes, [Attribute::IcePacing(200)]);
    assert_eq!(p.to_string(), text);
    expect(
        &with_head("a=ice-pacing:fast\r\n"),
        5,
        14,
        ErrorKind::Syntax {
            expected: "pacing in milliseconds",
        },
    );
    expect(
        &with_head("a=ice-pacing:4294967296\r\n"),
        5,
        14,
        ErrorKind::NumberOutOfRange,
    );
    expect(
        &with_head("a=ice-pacing:00000000050\r\n"),
        5,
        14,
        ErrorKind::Syntax {
            expected: "at most 10 digits",
        },
    );
    let e = parse_strict(&with_head("a=ice-pacing:50ms\r\n")).expect_err("strict must refuse");
    assert_eq!((e.line, e.column), (5, 16), "{e}");
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
fn duplicate_lines() {
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
    // The other session lines that may appear once, each doubled in its place in the order.
    for (lines, line, c) in [
        ("s=-\r\ni=one\r\ni=two\r\nt=0 0\r\n", 5, 'i'),
        ("s=-\r\nu=http://a\r\nu=http://b\r\nt=0 0\r\n", 5, 'u'),
        ("s=-\r\nt=0 0\r\nk=prompt\r\nk=clear:x\r\n", 6, 'k'),
    ] {
        let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n{lines}");
        expect_both(&text, line, 1, ErrorKind::DuplicateLine(c));
    }
    // And those of a media section.
    for (lines, c) in [
        ("i=one\r\ni=two\r\n", 'i'),
        ("k=prompt\r\nk=clear:x\r\n", 'k'),
    ] {
        let text = with_head(&format!("m=audio 9 RTP/AVP 0\r\n{lines}"));
        expect_both(&text, 7, 1, ErrorKind::DuplicateLine(c));
    }
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
fn empty_session_name() {
    // RFC 8866 §9: session-name-field = %s"s" "=" text CRLF, and text is not empty.
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=\r\nt=0 0\r\n";
    let kind = ErrorKind::Syntax {
        expected: "a session name (use \"s=-\")",
    };
    let e = expect(text, 3, 3, kind);
    assert_eq!(e.to_string(), "3:3: expected a session name (use \"s=-\")");
    let p = parse_with(text, &ParseOptions::lenient()).expect("lenient keeps it");
    assert_eq!(p.warnings.len(), 1);
    let w = p.warnings[0];
    assert_eq!((w.line, w.column), (3, 3));
    assert_eq!(w.kind, WarningKind::InvalidField('s', kind));
    assert_eq!(
        w.to_string(),
        "3:3: s= value kept verbatim: expected a session name (use \"s=-\")"
    );
    assert_eq!(p.description.session_name, "");
    assert_eq!(p.description.to_string(), text);
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

/// Warnings as `(line, column, kind)`.
fn warnings(text: &str) -> Vec<(usize, usize, WarningKind)> {
    parse_with(text, &ParseOptions::lenient())
        .expect("lenient accepts it")
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.kind))
        .collect()
}

#[test]
fn doubled_spaces_in_origin() {
    let text = "v=0\r\no=-  1 1 IN IP4  0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    expect(
        text,
        2,
        5,
        ErrorKind::Syntax {
            expected: "numeric session id",
        },
    );
    assert_eq!(
        warnings(text),
        [
            (2, 5, WarningKind::ExtraWhitespace),
            (2, 17, WarningKind::ExtraWhitespace)
        ]
    );
    let d = parse(text).expect("lenient");
    assert_eq!((d.origin.session_id, d.origin.address), ("1", "0.0.0.0"));
    // Written back canonically, with single spaces.
    assert!(
        d.to_string()
            .starts_with("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n")
    );
}

#[test]
fn doubled_spaces_and_tabs_in_media() {
    let text = with_head("m=audio  9 RTP/AVP\t0  8\r\na=mid:0\r\n");
    expect(&text, 5, 9, ErrorKind::MissingPort);
    assert_eq!(
        warnings(&text),
        [
            (5, 9, WarningKind::ExtraWhitespace),
            (5, 19, WarningKind::ExtraWhitespace),
            (5, 22, WarningKind::ExtraWhitespace),
            (5, 1, WarningKind::MissingLine('c'))
        ]
    );
    let d = parse(&text).expect("lenient");
    let m = &d.media[0];
    assert_eq!((m.port, m.proto), (9, "RTP/AVP"));
    assert_eq!(m.formats().collect::<Vec<_>>(), ["0", "8"]);
    assert_eq!(m.mid(), Some("0"));
    // Formats separated by a tab are two formats, written back with one space.
    let tab = with_head("m=audio 9 RTP/AVP 0\t8\r\nc=IN IP4 0.0.0.0\r\n");
    let d = parse(&tab).expect("lenient");
    assert_eq!(d.media[0].formats().collect::<Vec<_>>(), ["0", "8"]);
    let written = d.to_string();
    assert!(written.contains("m=audio 9 RTP/AVP 0 8\r\n"), "{written}");
    parse_strict(&written).expect("the canonical form is strict SDP");
    // The payload types are still checked; lenient mode reports what it refuses itself.
    let bad = with_head("m=audio 9 RTP/AVP 0  128\r\n");
    let e = parse(&bad).expect_err("out of range");
    assert_eq!(
        (e.line, e.column, e.kind),
        (5, 22, ErrorKind::PayloadTypeOutOfRange)
    );
    let e = parse_strict(&bad).expect_err("doubled space");
    assert_eq!(
        (e.line, e.column, e.kind),
        (
            5,
            20,
            ErrorKind::Syntax {
                expected: "end of line"
            }
        )
    );
}

#[test]
fn doubled_spaces_in_connection_and_timing() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN  IP4 233.252.0.1/127\r\nt=0  0\r\n";
    expect(
        text,
        4,
        6,
        ErrorKind::Syntax {
            expected: "address type",
        },
    );
    let strict_t = text.replace("c=IN  IP4", "c=IN IP4");
    expect(
        &strict_t,
        5,
        5,
        ErrorKind::Syntax {
            expected: "stop time",
        },
    );
    assert_eq!(
        warnings(text),
        [
            (4, 6, WarningKind::ExtraWhitespace),
            (5, 5, WarningKind::ExtraWhitespace)
        ]
    );
    let d = parse(text).expect("lenient");
    let c = d.connection.expect("c=");
    assert_eq!((c.address, c.ttl), ("233.252.0.1", Some(127)));
    assert_eq!((d.timings[0].start, d.timings[0].stop), (0, 0));
}

#[test]
fn doubled_and_trailing_whitespace_on_one_line() {
    let text = with_head("m=application 9  UDP/DTLS/SCTP webrtc-datachannel \t\r\n");
    let e = parse_strict(&text).expect_err("strict");
    assert_eq!((e.line, e.column), (5, 17));
    assert_eq!(
        warnings(&text),
        [
            (5, 17, WarningKind::ExtraWhitespace),
            (5, 50, WarningKind::TrailingWhitespace),
            (5, 1, WarningKind::MissingLine('c'))
        ]
    );
    let d = parse(&text).expect("lenient");
    assert_eq!(d.media[0].formats, "webrtc-datachannel");
    assert_eq!(
        d.to_string(),
        with_head("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
    );
    // Trailing whitespace alone, on each of the four line types.
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0 \r\ns=-\r\nc=IN IP4 0.0.0.0\t\r\nt=0 0  \r\nm=audio 9 RTP/AVP 0 \r\n";
    assert_eq!(
        warnings(text),
        [
            (2, 23, WarningKind::TrailingWhitespace),
            (4, 17, WarningKind::TrailingWhitespace),
            (5, 6, WarningKind::TrailingWhitespace),
            (6, 20, WarningKind::TrailingWhitespace)
        ]
    );
    for (line, column) in [(2, 23), (4, 17), (5, 6), (6, 20)] {
        let only: String = text
            .split("\r\n")
            .enumerate()
            .map(|(k, l)| {
                if k + 1 == line || l.is_empty() {
                    l.to_string()
                } else {
                    l.trim_end().to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        let e = parse_strict(&only).expect_err("strict refuses trailing whitespace");
        assert_eq!((e.line, e.column), (line, column), "{only:?}");
    }
}

#[test]
fn whitespace_that_stays_an_error() {
    // Leading whitespace before the first field is not a separator.
    let text = with_head("m= audio 9 RTP/AVP 0\r\n");
    let e = parse(&text).expect_err("leading space");
    assert_eq!((e.line, e.column), (5, 3));
    // A doubled space does not excuse a bad field; lenient mode points at the field.
    let text = "v=0\r\no=-  x 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    let e = parse(text).expect_err("bad field");
    assert_eq!((e.line, e.column), (2, 6));
    let e = parse_strict(text).expect_err("doubled space");
    assert_eq!((e.line, e.column), (2, 5));
    // A missing field is reported after the space, not before it.
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 \r\n";
    let e = parse(text).expect_err("no stop time");
    assert_eq!(
        (e.line, e.column, e.kind),
        (
            4,
            5,
            ErrorKind::Syntax {
                expected: "stop time"
            }
        )
    );
}

#[test]
fn tls_id_length_and_characters() {
    // RFC 8842 §5: tls-id = 20*255(ALPHA / DIGIT / "+" / "/" / "-" / "_").
    let syntax = |expected| ErrorKind::Syntax { expected };
    let chars = syntax("tls-id characters (letters, digits, '+', '/', '-', '_')");
    let length = syntax("20 to 255 tls-id characters");
    for ok in [
        "a".repeat(20),
        "A".repeat(255),
        "abcXYZ0189+/-_abcdefgh".to_string(),
    ] {
        let text = with_head(&format!("a=tls-id:{ok}\r\n"));
        let d = parse_strict(&text).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(d.attributes, [Attribute::TlsId(&ok)]);
        assert_eq!(d.to_string(), text);
    }
    for (id, column, kind) in [
        ("a".repeat(19), 10, length),
        ("a".repeat(256), 10, length),
        // Base64 padding is not a tls-id character; each bad character is pointed at.
        ("dGhpcyBpcyBhIHRscy1pZCB2YWx1ZQ==".to_string(), 40, chars),
        ("abc=".to_string(), 13, chars),
        (format!("{}.x", "a".repeat(20)), 30, chars),
    ] {
        let text = with_head(&format!("a=tls-id:{id}\r\n"));
        expect(&text, 5, column, kind);
        // Lenient mode keeps the line verbatim, says why, and writes it back unchanged.
        let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient keeps it");
        assert_eq!(
            warnings(&text),
            [(5, column, WarningKind::InvalidAttribute(kind))],
            "{id}"
        );
        assert_eq!(
            p.description.attributes,
            [Attribute::Other {
                name: "tls-id",
                value: Some(&id)
            }]
        );
        assert_eq!(p.description.to_string(), text);
    }
}

#[test]
fn repeat_interval_starts_with_a_non_zero_digit() {
    // RFC 8866 §9: repeat-interval = POS-DIGIT *DIGIT [fixed-len-time-unit].
    let kind = ErrorKind::Syntax {
        expected: "repeat interval starting with a non-zero digit",
    };
    for bad in ["r=0 1h 0", "r=0d 1h 0", "r=07d 1h 0"] {
        let text = with_head(&format!("{bad}\r\n"));
        expect_both(&text, 5, 3, kind);
    }
    // The other typed times of the line may be zero, and a zero inside the interval is fine.
    let text = with_head("r=10d 0 0\r\n");
    let d = parse_strict(&text).expect("r=10d 0 0");
    assert_eq!(d.timings[0].repeats[0].interval.seconds(), 864_000);
    assert_eq!(d.to_string(), text);
}

/// `v=0`, `o=`, `s=-`, then `lines` (`u=`, `e=`, `p=` lines, which come before `t=`), then
/// `t=0 0`: the first of `lines` is line 4.
fn with_contact(lines: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n{lines}t=0 0\r\n")
}

#[test]
fn text_fields_that_break_their_grammar() {
    // RFC 8866 §9: each value of u=, e=, p= and k= has a grammar. Strict mode refuses a value
    // that breaks it where it breaks; lenient mode keeps the value in its field and warns.
    let syntax = |expected| ErrorKind::Syntax { expected };
    let uri_chars = syntax("URI characters (RFC 3986: unreserved, reserved or %-encoded)");
    let scheme = syntax("URI scheme (a letter, then letters, digits, '+', '-' or '.')");
    for (text, line, column, t, kind) in [
        (with_contact("e=x\r\n"), 4, 4, 'e', syntax("'@'")),
        (
            with_contact("e=j.doe@example.com (Jane Doe\r\n"),
            4,
            30,
            'e',
            syntax("')'"),
        ),
        (
            with_contact("e=Jane Doe <j.doe@example.com\r\n"),
            4,
            30,
            'e',
            syntax("'>'"),
        ),
        (
            with_contact("e=Jane Doe<j.doe@example.com>\r\n"),
            4,
            11,
            'e',
            syntax("space before '<'"),
        ),
        (
            with_contact("e=j..doe@example.com\r\n"),
            4,
            5,
            'e',
            syntax("atom after '.'"),
        ),
        (
            with_contact("e=j.doe@example.com \r\n"),
            4,
            20,
            'e',
            syntax("end of line"),
        ),
        (
            with_contact("p=1\r\n"),
            4,
            4,
            'p',
            syntax("digits, spaces or '-'"),
        ),
        (
            with_contact("p=Mark Handley\r\n"),
            4,
            3,
            'p',
            syntax("phone number"),
        ),
        (
            with_contact("p=Mark <+44 171 380 7777\r\n"),
            4,
            25,
            'p',
            syntax("'>'"),
        ),
        (
            with_contact("p=+44 171 380 7777 ext. 12\r\n"),
            4,
            20,
            'p',
            syntax("end of line"),
        ),
        (with_contact("u=http://a b\r\n"), 4, 11, 'u', uri_chars),
        (with_contact("u=1http://example.com\r\n"), 4, 3, 'u', scheme),
        (
            with_contact("u=http://example.com/%zz\r\n"),
            4,
            23,
            'u',
            syntax("two hex digits after '%'"),
        ),
        (
            with_head("k=PROMPT\r\n"),
            5,
            3,
            'k',
            syntax("key method (prompt, clear:, base64: or uri:)"),
        ),
        (
            with_head("k=base64:aGVsbG8\r\n"),
            5,
            17,
            'k',
            syntax("'=' padding"),
        ),
        (with_head("k=uri:key server\r\n"), 5, 10, 'k', uri_chars),
        // A media section's k= too.
        (
            with_head("m=audio 0 RTP/AVP 0\r\nk=clear:\r\n"),
            6,
            9,
            'k',
            syntax("key text after 'clear:'"),
        ),
        (
            with_head("m=audio 0 RTP/AVP 0\r\nk=base64:a===\r\n"),
            6,
            11,
            'k',
            syntax("base64 character"),
        ),
    ] {
        expect(&text, line, column, kind);
        let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient keeps it");
        assert_eq!(
            warnings(&text),
            [(line, column, WarningKind::InvalidField(t, kind))],
            "{text}"
        );
        // Kept in its field as written, and written back unchanged.
        let value = text
            .split("\r\n")
            .nth(line - 1)
            .and_then(|l| l.get(2..))
            .expect("the line");
        let d = &p.description;
        let kept = match (t, d.media.first()) {
            ('u', _) => d.uri.into_iter().collect::<Vec<_>>(),
            ('e', _) => d.emails.clone(),
            ('p', _) => d.phones.clone(),
            (_, Some(m)) => m.key.into_iter().collect(),
            (_, None) => d.key.into_iter().collect(),
        };
        assert_eq!(kept, [value], "{text}");
        assert_eq!(d.to_string(), text);
    }
    let text = with_contact("e=x\r\n");
    assert_eq!(
        parse_strict(&text).expect_err("e=x").to_string(),
        "4:4: expected '@'"
    );
    let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient");
    assert_eq!(
        p.warnings[0].to_string(),
        "4:4: e= value kept verbatim: expected '@'"
    );
}

#[test]
fn text_fields_in_every_form_of_their_grammar() {
    // Each alternative of email-address, phone-number and key-type (RFC 8866 §9), and URIs.
    let emails = [
        "j.doe@example.com",
        "j.doe@example.com (Jane Doe)",
        "Jane Doe <j.doe@example.com>",
        "\"Jane Doe\"@example.com",
        "jane@[192.0.2.1] (Jane)",
        "José Müller <jm+sdp@example.com>",
    ];
    let phones = [
        "+1 617 555-6011",
        "+44-171-380-7777 (Mark Handley)",
        "Mark <+44 171 380 7777>",
        "0171 380 7777",
    ];
    let uris = [
        "http://www.example.com/seminars/sdp.pdf",
        "https://[2001:db8::1]:8443/a%20b?x=1#top",
        "urn:ietf:params:sdp",
        "sdp.pdf",
    ];
    let keys = [
        "prompt",
        "clear:a secret key",
        "base64:aGVsbG8=",
        "base64:aGk=",
        "base64:aA==",
        "base64:aGVsbG8hIQ==",
        "base64:",
        "uri:https://example.com/k",
    ];
    for (k, (uri, key)) in uris.iter().cycle().zip(keys).enumerate() {
        let mut lines = format!("u={uri}\r\n");
        for e in &emails {
            lines.push_str(&format!("e={e}\r\n"));
        }
        for p in &phones {
            lines.push_str(&format!("p={p}\r\n"));
        }
        let media_key = keys[(k + 1) % keys.len()];
        let text = format!(
            "{}k={key}\r\nm=audio 0 RTP/AVP 0\r\nk={media_key}\r\n",
            with_contact(&lines)
        );
        let d = parse_strict(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(d.uri, Some(*uri));
        assert_eq!(d.emails, emails);
        assert_eq!(d.phones, phones);
        assert_eq!((d.key, d.media[0].key), (Some(key), Some(media_key)));
        assert_eq!(d.to_string(), text);
        let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }
}

/// RFC 8866 §5.7: a media section with a port needs a `c=` of its own when the session has
/// none. Strict mode refuses the section at its `m=` line; lenient mode warns there.
#[test]
fn missing_connection_line() {
    let text =
        with_head("m=audio 9 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\nm=video 9 RTP/AVP 96\r\na=mid:1\r\n");
    expect(&text, 7, 1, ErrorKind::MissingLine('c'));
    assert_eq!(warnings(&text), [(7, 1, WarningKind::MissingLine('c'))]);
    // The first section is checked when the second starts.
    let first = with_head("m=audio 9 RTP/AVP 0\r\nm=video 9 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n");
    expect(&first, 5, 1, ErrorKind::MissingLine('c'));
    // A session-level c= covers every section; a section with port 0 (rejected or
    // bundle-only) needs none.
    let session = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
    assert!(parse_strict(session).is_ok());
    let bundled = with_head(
        "m=audio 9 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\nm=video 0 RTP/AVP 96\r\na=bundle-only\r\n",
    );
    assert!(parse_strict(&bundled).is_ok());
}

/// The strict error and the lenient warning of one deviation: both at `line`:`column`.
#[track_caller]
fn deviation(text: &str, line: usize, column: usize, kind: ErrorKind, warning: WarningKind) {
    expect(text, line, column, kind);
    assert_eq!(warnings(text), [(line, column, warning)]);
}

#[test]
fn connection_addresses_carry_a_ttl_exactly_when_ipv4_multicast() {
    let head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
    // RFC 8866 §5.7: an IPv4 multicast address MUST have a TTL.
    let no_ttl = ErrorKind::Syntax {
        expected: "'/' and a TTL after an IPv4 multicast address",
    };
    let text = format!("{head}c=IN IP4 233.252.0.1\r\nt=0 0\r\n");
    deviation(&text, 4, 21, no_ttl, WarningKind::InvalidField('c', no_ttl));
    // In a media section too.
    let text = format!("{head}t=0 0\r\nm=audio 9 RTP/AVP 0\r\nc=IN IP4 224.2.1.1\r\n");
    deviation(&text, 6, 19, no_ttl, WarningKind::InvalidField('c', no_ttl));
    // A unicast address takes no TTL, and no IPv6 address count.
    let unicast = ErrorKind::Syntax {
        expected: "the end of a unicast address (no TTL or address count)",
    };
    let text = format!("{head}c=IN IP4 192.0.2.1/127\r\nt=0 0\r\n");
    deviation(
        &text,
        4,
        19,
        unicast,
        WarningKind::InvalidField('c', unicast),
    );
    let text = format!("{head}c=IN IP6 2001:db8::1/2\r\nt=0 0\r\n");
    deviation(
        &text,
        4,
        21,
        unicast,
        WarningKind::InvalidField('c', unicast),
    );
    // The valid forms, and names, which are not checked.
    for c in [
        "IN IP4 233.252.0.1/127",
        "IN IP4 233.252.0.1/127/3",
        "IN IP6 ff15::101/3",
        "IN IP6 ff15::101",
        "IN IP4 192.0.2.1",
        "IN IP4 0.0.0.0",
        "IN IP4 host.example.com",
    ] {
        let text = format!("{head}c={c}\r\nt=0 0\r\n");
        assert!(parse_strict(&text).is_ok(), "{c}");
    }
}

#[test]
fn a_ttl_out_of_range_is_reported_at_the_ttl() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 233.252.0.1/256\r\nt=0 0\r\n";
    expect_both(text, 4, 22, ErrorKind::NumberOutOfRange);
}

#[test]
fn times_are_zero_or_ntp_seconds() {
    let head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
    let kind = ErrorKind::Syntax {
        expected: "0 or a time in NTP seconds (ten digits or more)",
    };
    // Too short, too short a stop time, a leading zero.
    for (t, column) in [("5 0", 3), ("0 303442361", 5), ("0123456789 0", 3)] {
        let text = format!("{head}t={t}\r\n");
        deviation(&text, 4, column, kind, WarningKind::InvalidField('t', kind));
    }
    for t in ["0 3034423619", "3034423619 3042462419", "0 0"] {
        assert!(parse_strict(&format!("{head}t={t}\r\n")).is_ok(), "{t}");
    }
}

#[test]
fn attribute_names_are_tokens_and_values_not_empty() {
    let name = ErrorKind::Syntax {
        expected: "attribute name",
    };
    let text = with_head("a=fo(o\r\n");
    deviation(&text, 5, 3, name, WarningKind::InvalidAttribute(name));
    let text = with_head("a=x-caf\u{e9}:1\r\n");
    deviation(&text, 5, 3, name, WarningKind::InvalidAttribute(name));
    let empty = ErrorKind::Syntax {
        expected: "an attribute value after ':'",
    };
    let text = with_head("a=x-foo:\r\n");
    deviation(&text, 5, 9, empty, WarningKind::InvalidAttribute(empty));
    // Kept verbatim in lenient mode.
    let text = with_head("a=fo(o\r\na=x-foo:\r\n");
    let d = parse(&text).expect("lenient");
    assert_eq!(
        d.attributes,
        [
            Attribute::Other {
                name: "fo(o",
                value: None
            },
            Attribute::Other {
                name: "x-foo",
                value: Some("")
            }
        ]
    );
    // Every token character is fine in a name.
    assert!(parse_strict(&with_head("a=x!#$%&'*+-.^_`{|}~09AZaz:v\r\n")).is_ok());
}
