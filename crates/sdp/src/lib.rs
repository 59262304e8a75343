//! SDP (RFC 8866) for WebRTC-style connectivity: a zero-copy parser, a lossless writer, typed
//! WebRTC attributes, and a builder.
//!
//! [`parse`] makes one pass over the text, running one grammar per line as it finds the line's
//! end: the lines browsers fill descriptions with (`o=`, `c=`, `t=`, `m=`, ICE, DTLS, RTP and
//! SCTP attributes) through hand-written, table-driven byte loops, the rarer ones (`b=`, `r=`,
//! `z=`, `rid`, `simulcast` ...) through nom parsers. Every field of the resulting
//! [`SessionDescription`] borrows from the input, and parsing a browser offer takes a handful
//! of allocations (one vector per section, sized exactly). Known attributes (ICE, DTLS, BUNDLE,
//! RTP, SCTP, simulcast ...) are typed; every other one is kept verbatim as
//! [`Attribute::Other`], so nothing is dropped.
//!
//! Writing ([`SessionDescription::write_to`] or `Display`) produces the canonical form: CRLF line
//! endings and the grammar's line order. A canonical input comes back byte for byte; an LF input
//! comes back with CRLF.
//!
//! Strict mode ([`ParseOptions::strict`]) enforces the RFC grammar and line order; lenient mode
//! (the default of [`parse`]) accepts what browsers and hand edits produce (unknown line types,
//! ordering slips, stray whitespace) and reports each deviation as a [`Warning`] with its line
//! and column ([`parse_with`]). Errors carry a line, a column, a reason and
//! the span of the offending line; [`Limits`] bound what hostile input can cost.
//!
//! The crate does no I/O: text in, typed values or text out. With the `serde` feature the
//! description, [`Parsed`], errors and warnings implement `serde::Serialize`.
//!
//! # Example
//!
//! ```
//! use icebreaker_sdp::{Attribute, CandidateType, parse};
//!
//! let text = "v=0\r\n\
//!     o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
//!     s=-\r\n\
//!     t=0 0\r\n\
//!     a=group:BUNDLE 0\r\n\
//!     m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
//!     c=IN IP4 0.0.0.0\r\n\
//!     a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0\r\n\
//!     a=ice-ufrag:EsAw\r\n\
//!     a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
//!     a=mid:0\r\n\
//!     a=sctp-port:5000\r\n";
//! let sdp = parse(text)?;
//! let m = &sdp.media[0];
//! assert_eq!(m.mid(), Some("0"));
//! let c = m.candidates().next().unwrap();
//! assert_eq!((c.address, c.port, c.typ), ("192.0.2.1", 50000, CandidateType::Host));
//! assert_eq!(c.extension("generation"), Some("0"));
//! assert!(m.attributes.contains(&Attribute::SctpPort(5000)));
//! // Lossless: the canonical input comes back byte for byte.
//! assert_eq!(sdp.to_string(), text);
//! # Ok::<(), icebreaker_sdp::Error>(())
//! ```
//!
//! Errors print as `LINE:COLUMN: reason`:
//!
//! ```
//! let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio RTP/AVP 0\r\n";
//! let err = icebreaker_sdp::parse(text).unwrap_err();
//! assert_eq!(err.to_string(), "5:9: m= line without a port");
//! assert_eq!(err.offending_line(text), Some("m=audio RTP/AVP 0"));
//! ```
//!
//! # Relevant standards
//!
//! - [x] RFC 8866 SDP: Session Description Protocol (every line type, its ABNF, line order)
//! - [ ] RFC 3986 URI-reference, for `u=` and `k=uri:`: only the characters and the scheme are
//!   checked, not the authority or the path structure
//! - [ ] RFC 5322 `addr-spec`, for `e=`: dot-atoms, quoted local parts and domain literals; no
//!   comments, folding white space around the parts or obsolete forms
//! - [x] RFC 8839 SDP offer/answer procedures for ICE (`candidate` grammar, `ice-ufrag`,
//!   `ice-pwd`, `ice-options`, `ice-pacing`, `ice-lite`, `ice-mismatch`, `remote-candidates`)
//! - [x] RFC 8840 trickle ICE in SDP (`end-of-candidates`)
//! - [x] RFC 8122 (`fingerprint`), RFC 4145 (`setup`), RFC 8842 (`tls-id`)
//! - [x] RFC 5888 (`mid`, `group`), RFC 8843 BUNDLE (`bundle-only`)
//! - [x] RFC 8830 (`msid`) and the `msid-semantic` attribute browsers still send
//! - [x] RFC 8285 (`extmap` with direction, `extmap-allow-mixed`)
//! - [x] RFC 3605 (`rtcp`), RFC 5761 (`rtcp-mux`), RFC 8858 (`rtcp-mux-only`), RFC 5506
//!   (`rtcp-rsize`), RFC 4585 (`rtcp-fb`)
//! - [x] RFC 5576 (`ssrc`, `ssrc-group`), RFC 8851 (`rid`), RFC 8853 (`simulcast`)
//! - [x] RFC 8841 SCTP over DTLS (`sctp-port`, `max-message-size`), draft `sctpmap`
//! - [x] RFC 3890 (`b=TIAS`), RFC 3556 (`b=RR`, `b=RS`)
//! - [x] RFC 8829 JSEP: the builder's defaults (`o=- <id> <version> IN IP4 127.0.0.1`, `s=-`,
//!   `t=0 0`)
//! - [ ] RFC 3264 offer/answer semantics (matching answers to offers) belong to the runtime

mod builder;
mod error;
mod fields;
mod grammar;
mod model;
mod parse;
mod scan;
mod write;

pub use builder::SessionBuilder;
pub use error::{Error, ErrorKind, Warning, WarningKind};
pub use model::{
    AddrType, Attribute, Bandwidth, BandwidthType, Candidate, CandidateType, Connection, Decimal,
    Direction, Extmap, Fingerprint, Fmtp, Group, IceOptions, Media, MediaType, Msid, MsidSemantic,
    NetType, Origin, Repeat, Rid, RidDirection, Rtcp, RtcpFb, Rtpmap, Sctpmap, SessionDescription,
    Setup, Simulcast, Ssrc, SsrcGroup, TimeUnit, Timing, TypedTime, ZoneAdjustments,
};
pub use parse::{Limits, ParseOptions, Parsed, parse_with};

/// Parses a description in lenient mode with default [`Limits`]; see [`parse_with`] for the
/// warnings and for strict mode.
///
/// # Errors
/// The first line that breaks the grammar (or a limit), with its position and a reason.
pub fn parse(input: &str) -> Result<SessionDescription<'_>, Error> {
    parse::description(input, &ParseOptions::default(), &mut Vec::new())
}

/// Parses a description in strict mode with default [`Limits`].
///
/// # Errors
/// The first deviation from the RFC grammar or line order.
pub fn parse_strict(input: &str) -> Result<SessionDescription<'_>, Error> {
    parse::description(input, &ParseOptions::strict(), &mut Vec::new())
}

/// Parses bytes: [`ErrorKind::NotUtf8`] (with the line and column of the first bad byte) unless
/// they are UTF-8, then as [`parse_with`].
///
/// # Errors
/// Invalid UTF-8, or any error of [`parse_with`].
pub fn parse_bytes<'a>(input: &'a [u8], options: &ParseOptions) -> Result<Parsed<'a>, Error> {
    if input.len() > options.limits.max_size {
        return Err(Error::whole(ErrorKind::TooLarge {
            size: input.len(),
            limit: options.limits.max_size,
        }));
    }
    match std::str::from_utf8(input) {
        Ok(s) => parse_with(s, options),
        Err(e) => {
            let bad = e.valid_up_to();
            let before = input.get(..bad).unwrap_or(&[]);
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let line_end = input
                .get(bad..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
                .map_or(input.len(), |p| bad + p);
            let line_end = if input.get(line_end.wrapping_sub(1)) == Some(&b'\r') {
                line_end - 1
            } else {
                line_end
            };
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Error {
                line,
                column: bad - line_start + 1,
                kind: ErrorKind::NotUtf8,
                span: (line_start, line_end),
            })
        }
    }
}

/// Fuzzing entry point: parsing arbitrary bytes, strict and lenient, never panics.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    let _ = parse_bytes(data, &ParseOptions::default());
    let _ = parse_bytes(data, &ParseOptions::strict());
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Candidate::parse(s);
    }
}

/// Fuzzing entry point: parse → write → parse gives the same description, and writing is
/// idempotent. Panics only on a real bug.
#[doc(hidden)]
pub fn fuzz_roundtrip(data: &[u8]) {
    let options = ParseOptions::default();
    let Ok(first) = parse_bytes(data, &options) else {
        return;
    };
    let mut out = String::new();
    first.description.write_to(&mut out);
    // The canonical form may be longer than the input (CRLF for LF, defaults for missing
    // lines), so the second parse runs without limits.
    let relaxed = ParseOptions {
        strict: false,
        limits: Limits {
            max_size: usize::MAX,
            max_lines: usize::MAX,
            max_line_length: usize::MAX,
            max_media: usize::MAX,
            max_attributes: usize::MAX,
        },
    };
    let second = match parse_with(&out, &relaxed) {
        Ok(p) => p.description,
        Err(e) => panic!("canonical output does not parse: {e}\n{out}"),
    };
    // The writer puts single spaces between an `m=` line's formats, whatever separated them:
    // the formats must be the same, and then the rest.
    let mut expected = first.description.clone();
    for (m, w) in expected.media.iter_mut().zip(&second.media) {
        assert!(m.formats().eq(w.formats()), "formats differ\n{out}");
        m.formats = w.formats;
    }
    assert_eq!(
        expected, second,
        "parse(write(parse(x))) != parse(x)\n{out}"
    );
    let mut again = String::new();
    second.write_to(&mut again);
    assert_eq!(out, again, "writing is not idempotent");
    // Strict mode accepts a subset of lenient mode and reads it the same way.
    if let Ok(strict) = parse_bytes(data, &ParseOptions::strict()) {
        assert_eq!(
            strict.description, first.description,
            "strict and lenient disagree"
        );
    }
}
