//! The line grammars of RFC 8866 and the attribute grammars of the WebRTC RFCs, one parser per
//! rule, each run on one line's value (the text after `x=`).
//!
//! The lines that fill browser descriptions (`o=`, `c=`, `t=`, `m=` and the ICE, DTLS, RTP and
//! SCTP attributes) are parsed by hand over the byte cursor of [`crate::scan`]: one table-driven
//! loop per field, no combinator frames, which is what makes a browser offer parse in a few
//! microseconds. The rarer ones (`b=`, `r=`, `z=`, `rid`, `simulcast`, `remote-candidates`,
//! `sctpmap`, `tls-id`, `ptime` ...) are nom parsers with `complete` combinators under
//! `all_consuming`. Both report a [`PErr`]: where (a suffix of the line) and why; the driver in
//! `parse.rs` maps it to the public [`Error`](crate::Error) at the line boundary, so no nom type
//! leaves this module.

use nom::character::complete::char;
use nom::combinator::{all_consuming, opt, recognize};
use nom::error::ParseError;
use nom::multi::many0_count;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::error::ErrorKind;
use crate::model::{
    AddrType, Attribute, Bandwidth, BandwidthType, Candidate, CandidateType, Connection, Decimal,
    Direction, Extmap, Fingerprint, Fmtp, Group, IceOptions, Media, MediaType, Msid, MsidSemantic,
    NetType, Origin, Repeat, Rid, RidDirection, Rtcp, RtcpFb, Rtpmap, Sctpmap, Setup, Simulcast,
    Ssrc, SsrcGroup, TimeUnit, Timing, TypedTime, ZoneAdjustments,
};
use crate::scan::{
    self, ADDR, CONN, DIGIT, ICE, NON_WS, RID, TOKEN, Ws, advance, eat, eat_str, end, error,
    expected, is, rest1, token,
};

/// Internal parse error: where (a suffix of the line) and why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PErr<'a> {
    pub(crate) at: &'a str,
    pub(crate) kind: ErrorKind,
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        Self {
            at: input,
            kind: ErrorKind::Syntax {
                expected: "valid syntax",
            },
        }
    }

    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// What a nom parser returns.
pub(crate) type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

/// What a hand-written parser returns; it advances its cursor (`&mut &str`) on success.
type R<'a, T> = Result<T, PErr<'a>>;

/// A fatal error at `at`.
fn fail<'a, T>(at: &'a str, kind: ErrorKind) -> Res<'a, T> {
    Err(nom::Err::Failure(PErr { at, kind }))
}

/// Runs `p`; a recoverable error becomes a fatal "expected `what`" at the same position.
fn exp<'a, O>(
    what: &'static str,
    mut p: impl Parser<&'a str, Output = O, Error = PErr<'a>>,
) -> impl Parser<&'a str, Output = O, Error = PErr<'a>> {
    move |i: &'a str| {
        p.parse(i).map_err(|e| match e {
            nom::Err::Error(x) => nom::Err::Failure(PErr {
                at: x.at,
                kind: ErrorKind::Syntax { expected: what },
            }),
            other => other,
        })
    }
}

/// Runs a complete nom parser on the whole of `value`.
pub(crate) fn whole<'a, O>(
    value: &'a str,
    p: impl Parser<&'a str, Output = O, Error = PErr<'a>>,
) -> Result<O, PErr<'a>> {
    match all_consuming(p).parse(value) {
        Ok((_, o)) => Ok(o),
        Err(nom::Err::Error(e))
            if e.at.is_empty() || !matches!(e.kind, ErrorKind::Syntax { .. }) =>
        {
            Err(e)
        }
        Err(nom::Err::Error(e)) => Err(PErr {
            at: e.at,
            kind: ErrorKind::Syntax {
                expected: "end of line",
            },
        }),
        Err(nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(PErr {
            at: "",
            kind: ErrorKind::Syntax {
                expected: "more input",
            },
        }),
    }
}

/// Runs a hand-written parser on the whole of `value`.
#[inline(always)]
pub(crate) fn line<'a, O>(
    mut value: &'a str,
    p: impl FnOnce(&mut &'a str) -> R<'a, O>,
) -> R<'a, O> {
    let o = p(&mut value)?;
    end(value)?;
    Ok(o)
}

/// [`line`] for the parsers of the most frequent attributes, written out so that each is
/// compiled into the attribute dispatch instead of being called through a function.
macro_rules! whole_line {
    ($value:expr, $parser:ident) => {{
        let mut rest = $value;
        let parsed = $parser(&mut rest)?;
        end(rest)?;
        parsed
    }};
}

// ---------------------------------------------------------------------------------------------
// nom primitives, for the rarer grammars.

/// One or more bytes of `class`, as a nom parser.
fn take1(i: &str, class: u8) -> Res<'_, &str> {
    let n = scan::run(i.as_bytes(), class);
    match (n, i.split_at_checked(n)) {
        (1.., Some((taken, rest))) => Ok((rest, taken)),
        _ => Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::TakeWhile1,
        ))),
    }
}

fn n_token(i: &str) -> Res<'_, &str> {
    take1(i, TOKEN)
}

fn digit1(i: &str) -> Res<'_, &str> {
    take1(i, DIGIT)
}

fn sp(i: &str) -> Res<'_, char> {
    match i.strip_prefix(' ') {
        Some(rest) => Ok((rest, ' ')),
        None => Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::Char,
        ))),
    }
}

/// Decimal digits into `T`, as a nom parser: no digit is a recoverable error, too large a
/// value a fatal [`ErrorKind::NumberOutOfRange`].
fn num<T: TryFrom<u64>>(i: &str) -> Res<'_, T> {
    if !i.as_bytes().first().is_some_and(|&b| is(b, DIGIT)) {
        return Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::Digit,
        )));
    }
    let mut rest = i;
    match scan::num(&mut rest, "number") {
        Ok(v) => Ok((rest, v)),
        Err(e) => Err(nom::Err::Failure(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Session and media lines (RFC 8866 §5), by hand.

#[inline(always)]
fn net_type<'a>(i: &mut &'a str) -> R<'a, NetType<'a>> {
    let t = token(i, "network type")?;
    Ok(if t == "IN" {
        NetType::In
    } else {
        NetType::Other(t)
    })
}

#[inline(always)]
fn addr_type<'a>(i: &mut &'a str) -> R<'a, AddrType<'a>> {
    Ok(match token(i, "address type")? {
        "IP4" => AddrType::Ip4,
        "IP6" => AddrType::Ip6,
        t => AddrType::Other(t),
    })
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
pub(crate) fn origin<'a>(value: &'a str, ws: &mut Ws<'a>) -> R<'a, Origin<'a>> {
    line(value, |i| {
        let username = scan::take(i, NON_WS, "username")?;
        ws.sep(i)?;
        let session_id = scan::take_digits_long(i, "numeric session id")?;
        ws.sep(i)?;
        let session_version = scan::take(i, DIGIT, "numeric session version")?;
        ws.sep(i)?;
        let net_type = net_type(i)?;
        ws.sep(i)?;
        let addr_type = addr_type(i)?;
        ws.sep(i)?;
        let address = scan::take_words(i, NON_WS, "unicast address")?;
        Ok(Origin {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        })
    })
}

/// `c=<nettype> <addrtype> <connection-address>` with `/ttl` and `/count` for multicast.
pub(crate) fn connection<'a>(value: &'a str, ws: &mut Ws<'a>) -> R<'a, Connection<'a>> {
    line(value, |i| {
        let net_type = net_type(i)?;
        ws.sep(i)?;
        let addr_type = addr_type(i)?;
        ws.sep(i)?;
        let address = scan::take_words(i, CONN, "connection address")?;
        let first = if eat(i, b'/') {
            let at = *i;
            Some((at, scan::num::<u32>(i, "number")?))
        } else {
            None
        };
        let second = if first.is_some() && eat(i, b'/') {
            Some(scan::num::<u32>(i, "number")?)
        } else {
            None
        };
        let mut c = Connection {
            net_type,
            addr_type,
            address,
            ttl: None,
            count: None,
        };
        match (addr_type, first, second) {
            (_, None, _) => {}
            // RFC 8866 §5.7: IPv4 multicast is <base>/<ttl>[/<number of addresses>], the TTL
            // 0 to 255.
            (AddrType::Ip4, Some((at, ttl)), count) => {
                let Ok(ttl) = u8::try_from(ttl) else {
                    return Err(error(at, ErrorKind::NumberOutOfRange));
                };
                c.ttl = Some(ttl);
                c.count = count;
            }
            // IPv6 multicast has no TTL: <base>[/<number of addresses>].
            (AddrType::Ip6, Some((_, count)), None) => c.count = Some(count),
            _ => return Err(expected(i, "end of connection address")),
        }
        Ok(c)
    })
}

/// `b=<bwtype>:<bandwidth>`.
pub(crate) fn bandwidth(i: &str) -> Res<'_, Bandwidth<'_>> {
    let (i, t) = exp("bandwidth type", n_token).parse(i)?;
    let (i, _) = exp("':'", char(':')).parse(i)?;
    let (i, value) = exp("bandwidth value", num::<u64>).parse(i)?;
    let kind = match t {
        "CT" => BandwidthType::Ct,
        "AS" => BandwidthType::As,
        "TIAS" => BandwidthType::Tias,
        "RR" => BandwidthType::Rr,
        "RS" => BandwidthType::Rs,
        _ => BandwidthType::Other(t),
    };
    Ok((i, Bandwidth { kind, value }))
}

/// `t=<start-time> <stop-time>`.
pub(crate) fn timing<'a>(value: &'a str, ws: &mut Ws<'a>) -> R<'a, Timing<'a>> {
    line(value, |i| {
        let start = scan::num(i, "start time")?;
        ws.sep(i)?;
        let stop = scan::num(i, "stop time")?;
        Ok(Timing {
            start,
            stop,
            repeats: Vec::new(),
            zone_adjustments: None,
        })
    })
}

/// `typed-time = 1*DIGIT [fixed-len-time-unit]`.
fn typed_time(i: &str) -> Res<'_, TypedTime> {
    let (i, value) = num::<u64>(i)?;
    let (i, unit) = opt(nom::character::complete::one_of("dhms")).parse(i)?;
    let unit = unit.map(|u| match u {
        'd' => TimeUnit::Days,
        'h' => TimeUnit::Hours,
        'm' => TimeUnit::Minutes,
        _ => TimeUnit::Seconds,
    });
    Ok((
        i,
        TypedTime {
            negative: false,
            value,
            unit,
        },
    ))
}

/// A whole `typed-time` (with optional `-`), for the iterators of the model.
pub(crate) fn typed_time_str(s: &str) -> Option<TypedTime> {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let mut t = whole(body, typed_time).ok()?;
    t.negative = neg;
    Some(t)
}

/// `repeat-interval = POS-DIGIT *DIGIT [fixed-len-time-unit]` (RFC 8866 §9): a typed time
/// that does not start with `0`.
fn repeat_interval(i: &str) -> Res<'_, TypedTime> {
    if i.starts_with('0') {
        return fail(
            i,
            ErrorKind::Syntax {
                expected: "repeat interval starting with a non-zero digit",
            },
        );
    }
    typed_time(i)
}

/// `r=<repeat interval> <active duration> <offsets from start-time>`.
pub(crate) fn repeat(i: &str) -> Res<'_, Repeat<'_>> {
    let (i, interval) = exp("repeat interval", repeat_interval).parse(i)?;
    let (i, duration) = preceded(exp("space", sp), exp("active duration", typed_time)).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, offsets) = recognize((
        exp("offset", typed_time),
        many0_count(preceded(sp, exp("offset", typed_time))),
    ))
    .parse(i)?;
    Ok((
        i,
        Repeat {
            interval,
            duration,
            offsets,
        },
    ))
}

/// `z=<adjustment time> <offset> *(SP <adjustment time> SP <offset>)`.
pub(crate) fn zone(i: &str) -> Res<'_, ZoneAdjustments<'_>> {
    fn pair(i: &str) -> Res<'_, ()> {
        let (i, _) = exp("adjustment time", digit1).parse(i)?;
        let (i, _) = exp("space", sp).parse(i)?;
        let (i, _) = opt(char('-')).parse(i)?;
        let (i, _) = exp("offset", typed_time).parse(i)?;
        Ok((i, ()))
    }
    let (i, z) = recognize((pair, many0_count(preceded(sp, pair)))).parse(i)?;
    Ok((i, ZoneAdjustments(z)))
}

/// Whether `proto` is an RTP profile, whose formats are payload types: a `/`-separated part
/// other than the last is `RTP` (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`). One pass over the bytes,
/// comparing only the parts that a `/` ends.
fn is_rtp(proto: &str) -> bool {
    let b = proto.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'/' {
            if b.get(start..i) == Some(b"RTP".as_slice()) {
                return true;
            }
            start = i + 1;
        }
    }
    false
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`.
pub(crate) fn media<'a>(value: &'a str, ws: &mut Ws<'a>) -> R<'a, Media<'a>> {
    line(value, |i| {
        let kind = match token(i, "media type")? {
            "audio" => MediaType::Audio,
            "video" => MediaType::Video,
            "text" => MediaType::Text,
            "application" => MediaType::Application,
            "message" => MediaType::Message,
            "image" => MediaType::Image,
            other => MediaType::Other(other),
        };
        if ws.sep(i).is_err() || !i.as_bytes().first().is_some_and(|&b| is(b, DIGIT)) {
            return Err(error(i, ErrorKind::MissingPort));
        }
        let port = scan::num::<u16>(i, "port")?;
        let port_count = if eat(i, b'/') {
            Some(scan::num::<u16>(i, "number of ports")?)
        } else {
            None
        };
        ws.sep(i)?;
        let proto = scan::take_words(i, NON_WS, "transport protocol")?;
        ws.sep(i)?;
        let formats = ws.list(i, TOKEN, "format")?;
        // Formats are separated by single spaces (runs of whitespace in lenient mode); the
        // careful pass, which says which format is wrong and why, runs only when the quick
        // one finds something.
        if is_rtp(proto) && !all_payload_types(formats) {
            for f in formats.split([' ', '\t']).filter(|f| !f.is_empty()) {
                payload_type_format(f)?;
            }
        }
        let mut m = Media::new(kind, port, proto, formats);
        m.port_count = port_count;
        Ok(m)
    })
}

/// Whether every whitespace-separated format is a payload type, 0 to 127, in one pass.
fn all_payload_types(formats: &str) -> bool {
    let mut value = 0u32;
    for &c in formats.as_bytes() {
        if c == b' ' || c == b'\t' {
            value = 0;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return false;
        }
        // Checked at every digit, so the value never grows past 1279.
        value = value * 10 + u32::from(d);
        if value > 127 {
            return false;
        }
    }
    true
}

/// One format of an RTP `m=` line: a payload type, 0 to 127.
fn payload_type_format(f: &str) -> R<'_, ()> {
    let mut i = f;
    match scan::num::<u8>(&mut i, "payload type") {
        Ok(pt) if pt <= 127 && i.is_empty() => Ok(()),
        Ok(_) if i.is_empty() => Err(error(f, ErrorKind::PayloadTypeOutOfRange)),
        Err(PErr {
            kind: ErrorKind::NumberOutOfRange,
            ..
        }) => Err(error(f, ErrorKind::PayloadTypeOutOfRange)),
        _ => Err(expected(f, "payload type")),
    }
}

// ---------------------------------------------------------------------------------------------
// Attributes.

/// The attributes that fill browser descriptions, which [`split_attribute`] recognises by
/// their first bytes (name and colon), so that [`attribute`] goes straight to their grammar
/// instead of comparing the name once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hot {
    RtcpFb,
    Rtpmap,
    Extmap,
    Fmtp,
    Ssrc,
    Candidate,
    /// Any other name, or a name not looked at.
    No,
}

impl Hot {
    /// The hot attribute named `name`, if it is one.
    pub(crate) fn of(name: &str) -> Self {
        match name.as_bytes() {
            b"rtcp-fb" => Self::RtcpFb,
            b"rtpmap" => Self::Rtpmap,
            b"extmap" => Self::Extmap,
            b"fmtp" => Self::Fmtp,
            b"ssrc" => Self::Ssrc,
            b"candidate" => Self::Candidate,
            _ => Self::No,
        }
    }
}

/// Splits `a=` line content into the name and the value after the first `:`. The flag says
/// whether the name is a valid one (non-empty, no whitespace or control bytes); it is computed
/// in the same pass. A [`Hot`] name with its colon is recognised by its first bytes.
#[inline(always)]
pub(crate) fn split_attribute(content: &str) -> (&str, Option<&str>, bool, Hot) {
    let b = content.as_bytes();
    // The names that fill browser descriptions are recognised by their prefix (one decision
    // tree over the bytes); any other name is scanned.
    let (n, hot) = match b {
        [b'r', b't', b'c', b'p', b'-', b'f', b'b', b':', ..] => (7, Hot::RtcpFb),
        [b'r', b't', b'p', b'm', b'a', b'p', b':', ..] => (6, Hot::Rtpmap),
        [b'e', b'x', b't', b'm', b'a', b'p', b':', ..] => (6, Hot::Extmap),
        [b'f', b'm', b't', b'p', b':', ..] => (4, Hot::Fmtp),
        [b's', b's', b'r', b'c', b':', ..] => (4, Hot::Ssrc),
        [
            b'c',
            b'a',
            b'n',
            b'd',
            b'i',
            b'd',
            b'a',
            b't',
            b'e',
            b':',
            ..,
        ] => (9, Hot::Candidate),
        _ => (scan::run_words(b, scan::ATTR_NAME), Hot::No),
    };
    match b.get(n) {
        None => (content, None, n > 0, Hot::No),
        Some(b':') => (
            content.get(..n).unwrap_or(content),
            content.get(n + 1..),
            n > 0,
            hot,
        ),
        Some(_) => match memchr::memchr(b':', b) {
            Some(p) => (
                content.get(..p).unwrap_or(content),
                content.get(p + 1..),
                false,
                Hot::No,
            ),
            None => (content, None, false, Hot::No),
        },
    }
}

/// `pacing-value = 1*10DIGIT` (RFC 8839 §5.5), milliseconds; values beyond `u32` are refused as
/// out of range.
fn ice_pacing<'a>(i: &mut &'a str) -> R<'a, u32> {
    let at = *i;
    let ms = scan::num(i, "pacing in milliseconds")?;
    if at.len() - i.len() > 10 {
        return Err(expected(at, "at most 10 digits"));
    }
    Ok(ms)
}

/// Parses an attribute into `out`: typed when the name is one we know, [`Attribute::Other`]
/// otherwise. `hot` is [`Hot::of`] the name, or [`Hot::No`] for a name that is no hot one.
/// Each typed value is built right where it is stored; nothing is pushed on error.
#[inline(always)]
pub(crate) fn attribute<'a>(
    name: &'a str,
    value: Option<&'a str>,
    hot: Hot,
    out: &mut Vec<Attribute<'a>>,
) -> R<'a, ()> {
    let Some(v) = value else {
        out.push(flag_attribute(name)?);
        return Ok(());
    };
    match hot {
        Hot::RtcpFb => out.push(Attribute::RtcpFb(whole_line!(v, rtcp_fb))),
        Hot::Rtpmap => out.push(Attribute::Rtpmap(whole_line!(v, rtpmap))),
        Hot::Fmtp => out.push(Attribute::Fmtp(whole_line!(v, fmtp))),
        Hot::Ssrc => out.push(Attribute::Ssrc(whole_line!(v, ssrc))),
        Hot::Extmap => out.push(Attribute::Extmap(whole_line!(v, extmap))),
        Hot::Candidate => out.push(Attribute::Candidate(line(v, candidate)?)),
        Hot::No => match name.as_bytes() {
            b"ice-ufrag" => out.push(Attribute::IceUfrag(line(v, |i| {
                ice_string(i, 4, ErrorKind::BadUfragLength)
            })?)),
            b"ice-pwd" => out.push(Attribute::IcePwd(line(v, |i| {
                ice_string(i, 22, ErrorKind::BadPwdLength)
            })?)),
            b"ice-options" => out.push(Attribute::IceOptions(IceOptions(line(v, |i| {
                scan::list(i, ICE, "ice option tag")
            })?))),
            b"ice-pacing" => out.push(Attribute::IcePacing(line(v, ice_pacing)?)),
            b"fingerprint" => out.push(Attribute::Fingerprint(line(v, fingerprint)?)),
            b"setup" => out.push(Attribute::Setup(setup(v)?)),
            b"mid" => out.push(Attribute::Mid(line(v, |i| token(i, "identification tag"))?)),
            b"group" => out.push(Attribute::Group(line(v, group)?)),
            b"msid" => out.push(Attribute::Msid(line(v, msid)?)),
            b"msid-semantic" => out.push(Attribute::MsidSemantic(line(v, msid_semantic)?)),
            b"rtcp" => out.push(Attribute::Rtcp(line(v, rtcp)?)),
            b"ssrc-group" => out.push(Attribute::SsrcGroup(line(v, ssrc_group)?)),
            b"sctp-port" => out.push(Attribute::SctpPort(line(v, |i| scan::num(i, "port"))?)),
            b"max-message-size" => {
                out.push(Attribute::MaxMessageSize(line(v, |i| {
                    scan::num(i, "size")
                })?));
            }
            _ => out.push(rare_attribute(name, v)?),
        },
    }
    Ok(())
}

/// The attributes browsers rarely send, with nom; [`Attribute::Other`] for unknown names.
fn rare_attribute<'a>(name: &'a str, v: &'a str) -> R<'a, Attribute<'a>> {
    Ok(match name.as_bytes() {
        b"remote-candidates" => Attribute::RemoteCandidates(whole(v, remote_candidates)?),
        b"tls-id" => Attribute::TlsId(whole(v, tls_id)?),
        b"rid" => Attribute::Rid(whole(v, rid)?),
        b"simulcast" => Attribute::Simulcast(whole(v, simulcast)?),
        b"sctpmap" => Attribute::Sctpmap(whole(v, sctpmap)?),
        b"ptime" => Attribute::Ptime(whole(v, decimal)?),
        b"maxptime" => Attribute::Maxptime(whole(v, decimal)?),
        b"framerate" => Attribute::Framerate(whole(v, decimal)?),
        b"ice-lite"
        | b"ice-mismatch"
        | b"end-of-candidates"
        | b"extmap-allow-mixed"
        | b"rtcp-mux"
        | b"rtcp-mux-only"
        | b"rtcp-rsize"
        | b"sendrecv"
        | b"sendonly"
        | b"recvonly"
        | b"inactive"
        | b"bundle-only" => {
            return Err(expected(v, "no value"));
        }
        _ => other(name, Some(v))?,
    })
}

/// An attribute of a name this crate does not know, checked against RFC 8866 §9:
/// `attribute-name = token` (every known name is one) and `attribute-value = byte-string`, at
/// least one byte (`a=name:` has none; a known attribute's grammar refuses it too).
#[cold]
fn other<'a>(name: &'a str, value: Option<&'a str>) -> Result<Attribute<'a>, PErr<'a>> {
    if !name.bytes().all(|b| scan::is(b, scan::TOKEN)) {
        return Err(expected(name, "attribute name"));
    }
    if let Some(v @ "") = value {
        return Err(expected(v, "an attribute value after ':'"));
    }
    Ok(Attribute::Other { name, value })
}

/// An attribute without a value: a known flag, a known attribute missing its value, or an
/// unknown one.
fn flag_attribute(name: &str) -> R<'_, Attribute<'_>> {
    Ok(match name.as_bytes() {
        b"ice-lite" => Attribute::IceLite,
        b"ice-mismatch" => Attribute::IceMismatch,
        b"end-of-candidates" => Attribute::EndOfCandidates,
        b"extmap-allow-mixed" => Attribute::ExtmapAllowMixed,
        b"rtcp-mux" => Attribute::RtcpMux,
        b"rtcp-mux-only" => Attribute::RtcpMuxOnly,
        b"rtcp-rsize" => Attribute::RtcpRsize,
        b"sendrecv" => Attribute::Direction(Direction::SendRecv),
        b"sendonly" => Attribute::Direction(Direction::SendOnly),
        b"recvonly" => Attribute::Direction(Direction::RecvOnly),
        b"inactive" => Attribute::Direction(Direction::Inactive),
        b"bundle-only" => Attribute::BundleOnly,
        b"ice-ufrag" | b"ice-pwd" | b"ice-options" | b"ice-pacing" | b"candidate"
        | b"remote-candidates" | b"fingerprint" | b"setup" | b"tls-id" | b"mid" | b"group"
        | b"msid" | b"msid-semantic" | b"extmap" | b"rtpmap" | b"fmtp" | b"rtcp" | b"rtcp-fb"
        | b"ssrc" | b"ssrc-group" | b"rid" | b"simulcast" | b"sctp-port" | b"max-message-size"
        | b"sctpmap" | b"ptime" | b"maxptime" | b"framerate" => {
            return Err(expected(
                name.get(name.len()..).unwrap_or(""),
                "':' and a value",
            ));
        }
        _ => other(name, None)?,
    })
}

/// `1*256ice-char` with a minimum length (`ufrag = 4*256ice-char`, `password = 22*256ice-char`).
#[inline(always)]
fn ice_string<'a>(i: &mut &'a str, min: usize, too_short: ErrorKind) -> R<'a, &'a str> {
    let s = scan::take_words(i, ICE, "ice-chars")?;
    if s.len() < min || s.len() > 256 {
        return Err(error(s, too_short));
    }
    Ok(s)
}

/// RFC 8839 §5.1:
/// ```text
/// candidate-attribute   = "candidate" ":" foundation SP component-id SP transport SP priority SP
///                         connection-address SP port SP cand-type-tag SP cand-type
///                         [SP rel-addr] [SP rel-port] *(SP cand-extension)
/// foundation            = 1*32ice-char
/// component-id          = 1*3DIGIT
/// priority              = 1*10DIGIT
/// ```
/// RFC 8445 bounds the values too: a component ID is 1 to 256 (§4), a priority 1 to 2^31 − 1
/// (§5.1.2.1). A number with too many digits or out of those bounds is `NumberOutOfRange`.
pub(crate) fn candidate<'a>(i: &mut &'a str) -> R<'a, Candidate<'a>> {
    let foundation = scan::take_words(i, ICE, "foundation")?;
    if foundation.len() > 32 {
        return Err(error(foundation, ErrorKind::FoundationTooLong));
    }
    scan::sp(i)?;
    let component = bounded(i, "component id", 3, 1..=256, scan::num)?;
    scan::sp(i)?;
    let transport = token(i, "transport")?;
    scan::sp(i)?;
    let priority = bounded(i, "priority", 10, 1..=0x7fff_ffff, scan::num_long)?;
    scan::sp(i)?;
    let address = scan::take_words(i, ADDR, "connection address")?;
    scan::sp(i)?;
    let port = scan::num(i, "port")?;
    if !eat_str(i, " typ ") {
        return Err(expected(i, "\" typ \""));
    }
    let typ = match token(i, "candidate type")? {
        "host" => CandidateType::Host,
        "srflx" => CandidateType::Srflx,
        "prflx" => CandidateType::Prflx,
        "relay" => CandidateType::Relay,
        other => CandidateType::Other(other),
    };
    let related_address = if eat_str(i, " raddr ") {
        Some(scan::take_words(i, ADDR, "related address")?)
    } else {
        None
    };
    let related_port = if eat_str(i, " rport ") {
        Some(scan::num(i, "related port")?)
    } else {
        None
    };
    // Extensions: *(SP extension-att-name SP extension-att-value), kept as text.
    let extensions = if eat(i, b' ') {
        candidate_extensions(i)?
    } else {
        i.get(..0).unwrap_or("")
    };
    Ok(Candidate {
        foundation,
        component,
        transport,
        priority,
        address,
        port,
        typ,
        related_address,
        related_port,
        extensions,
    })
}

/// A number of at most `digits` digits within `range`, read with `read` ([`scan::num`] or
/// [`scan::num_long`]); `NumberOutOfRange` at the number otherwise.
#[inline(always)]
fn bounded<'a, T: TryFrom<u64> + PartialOrd>(
    i: &mut &'a str,
    what: &'static str,
    digits: usize,
    range: core::ops::RangeInclusive<T>,
    read: fn(&mut &'a str, &'static str) -> R<'a, T>,
) -> R<'a, T> {
    let start = *i;
    let v = read(i, what)?;
    let text = start.get(..start.len() - i.len()).unwrap_or(start);
    if text.len() > digits || !range.contains(&v) {
        return Err(error(text, ErrorKind::NumberOutOfRange));
    }
    Ok(v)
}

/// `name SP value *(SP name SP value)`, names and values non-whitespace strings, running to
/// the end of the line: checked a word at a time ([`scan::items_to_end`]); a list that breaks
/// the grammar is read again to say where.
#[inline(always)]
fn candidate_extensions<'a>(i: &mut &'a str) -> R<'a, &'a str> {
    if scan::items_to_end(i.as_bytes()).is_some_and(|n| n % 2 == 0) {
        return Ok(std::mem::take(i));
    }
    candidate_extensions_at(i)
}

/// [`candidate_extensions`] a byte at a time, stopping where the list stops.
#[cold]
#[inline(never)]
fn candidate_extensions_at<'a>(i: &mut &'a str) -> R<'a, &'a str> {
    let b = i.as_bytes();
    let mut n = scan::run(b, NON_WS);
    if n == 0 {
        return Err(expected(i, "extension name"));
    }
    // Runs so far: name and value alternate, so a complete list has an even count.
    let mut runs = 1usize;
    while b.get(n) == Some(&b' ') {
        let more = scan::run(b.get(n + 1..).unwrap_or(&[]), NON_WS);
        if more == 0 {
            break;
        }
        n += 1 + more;
        runs += 1;
    }
    let ext = advance(i, n)?;
    if runs % 2 == 1 {
        return Err(expected(ext.get(n..).unwrap_or(""), "space"));
    }
    Ok(ext)
}

/// `rtcp-fb-pt SP rtcp-fb-val`, `rtcp-fb-pt = "*" / fmt`.
#[inline(always)]
fn rtcp_fb<'a>(i: &mut &'a str) -> R<'a, RtcpFb<'a>> {
    let payload_type = token(i, "payload type or '*'")?;
    scan::sp(i)?;
    let feedback = token(i, "feedback type")?;
    let param = if eat(i, b' ') {
        Some(rest1(i, "feedback parameters")?)
    } else {
        None
    };
    Ok(RtcpFb {
        payload_type,
        feedback,
        param,
    })
}

/// `payload-type SP encoding-name "/" clock-rate ["/" encoding-params]`.
#[inline(always)]
fn rtpmap<'a>(i: &mut &'a str) -> R<'a, Rtpmap<'a>> {
    let start = *i;
    let payload_type = match scan::num::<u8>(i, "payload type") {
        Ok(v) if v <= 127 => v,
        Err(e) if !matches!(e.kind, ErrorKind::NumberOutOfRange) => return Err(e),
        // Over 127, or over 255 (out of range for the u8 itself).
        _ => return Err(error(start, ErrorKind::PayloadTypeOutOfRange)),
    };
    scan::sp(i)?;
    let encoding_name = token(i, "encoding name")?;
    if !eat(i, b'/') {
        return Err(expected(i, "'/'"));
    }
    let clock_rate = scan::num(i, "clock rate")?;
    let encoding_params = if eat(i, b'/') {
        Some(token(i, "encoding parameters")?)
    } else {
        None
    };
    Ok(Rtpmap {
        payload_type,
        encoding_name,
        clock_rate,
        encoding_params,
    })
}

/// `fmt SP format-specific-params`.
#[inline(always)]
fn fmtp<'a>(i: &mut &'a str) -> R<'a, Fmtp<'a>> {
    let format = token(i, "format")?;
    scan::sp(i)?;
    let params = rest1(i, "format parameters")?;
    Ok(Fmtp { format, params })
}

/// `ssrc-id SP attribute [":" value]`.
#[inline(always)]
fn ssrc<'a>(i: &mut &'a str) -> R<'a, Ssrc<'a>> {
    let ssrc = scan::num_long(i, "SSRC")?;
    scan::sp(i)?;
    let attribute = token(i, "source attribute")?;
    let value = if eat(i, b':') {
        Some(std::mem::take(i))
    } else {
        None
    };
    Ok(Ssrc {
        ssrc,
        attribute,
        value,
    })
}

/// `1*5DIGIT ["/" direction] SP uri [SP extensionattributes]`.
#[inline(always)]
fn extmap<'a>(i: &mut &'a str) -> R<'a, Extmap<'a>> {
    let id = scan::num(i, "extension id")?;
    let mut direction = None;
    if let Some(after) = i.strip_prefix('/') {
        let mut rest = after;
        // A '/' without a token after it is left for the space check to refuse.
        if let Ok(t) = token(&mut rest, "direction") {
            direction = Some(match t {
                "sendrecv" => Direction::SendRecv,
                "sendonly" => Direction::SendOnly,
                "recvonly" => Direction::RecvOnly,
                "inactive" => Direction::Inactive,
                _ => return Err(expected(t, "direction")),
            });
            *i = rest;
        }
    }
    scan::sp(i)?;
    let uri = scan::take_words(i, NON_WS, "extension URI")?;
    let attributes = if eat(i, b' ') {
        Some(rest1(i, "extension attributes")?)
    } else {
        None
    };
    Ok(Extmap {
        id,
        direction,
        uri,
        attributes,
    })
}

/// `hash-func SP fingerprint`, `fingerprint = 2UHEX *(":" 2UHEX)` (lower case accepted too).
fn fingerprint<'a>(i: &mut &'a str) -> R<'a, Fingerprint<'a>> {
    let hash_function = token(i, "hash function")?;
    scan::sp(i)?;
    // `2HEX *(":" 2HEX)`, a group of three bytes ("AB:") at a time, then the last pair. The
    // whole run of hex digits and colons must be such a list: anything else is refused at its
    // start.
    let b = i.as_bytes();
    let pair = |h: u8, l: u8| HEX[usize::from(h)] && HEX[usize::from(l)];
    let mut n = 0;
    // A SHA-256 fingerprint is 32 pairs: eight groups at a time, in three words, while they
    // all are groups; the rest one group at a time.
    while b
        .get(n..n + 24)
        .and_then(|c| <&[u8; 24]>::try_from(c).ok())
        .is_some_and(hex_groups)
    {
        n += 24;
    }
    while let Some(&[h, l, b':']) = b.get(n..n + 3) {
        if !pair(h, l) {
            break;
        }
        n += 3;
    }
    let last = matches!(b.get(n..n + 2), Some(&[h, l]) if pair(h, l));
    let next = b.get(n + 2).copied().unwrap_or(b' ');
    if !last || next == b':' || next.is_ascii_hexdigit() {
        return Err(expected(i, "hex pairs separated by ':'"));
    }
    n += 2;
    let fingerprint = advance(i, n)?;
    Ok(Fingerprint {
        hash_function,
        fingerprint,
    })
}

/// Whether `block` is eight groups of two hex digits and a colon (`AB:` × 8), checked a word
/// (eight bytes) at a time: the colons sit at fixed places in each of the three words.
fn hex_groups(block: &[u8; 24]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // The colon bytes of words 0, 1 and 2 (groups start at bytes 0, 3, 6 ... 21).
    const COLONS: [u64; 3] = [
        0x0000_ff00_00ff_0000,
        0x00ff_0000_ff00_00ff,
        0xff00_00ff_0000_ff00,
    ];
    block.chunks_exact(8).zip(COLONS).all(|(c, colons)| {
        let w = c.try_into().map_or(0, u64::from_le_bytes);
        // The colons in place; then each colon counts as the digit '0' for the hex test.
        let h = (w & !colons) | ((ONES * u64::from(b'0')) & colons);
        // Each range test adds to every byte so that its high bit is set from the bound on;
        // bytes are below 0x80 (checked with `h & HIGH`), so no addition carries into the next.
        let digit = h.wrapping_add(ONES * 0x50) & !h.wrapping_add(ONES * 0x46);
        let lower = h | (ONES * 0x20);
        let letter = lower.wrapping_add(ONES * 0x1f) & !lower.wrapping_add(ONES * 0x19);
        w & colons == (ONES * u64::from(b':')) & colons
            && h & HIGH == 0
            && (digit | letter) & HIGH == HIGH
    })
}

/// `HEXDIG`, upper or lower case, as a table.
static HEX: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_hexdigit();
        i += 1;
    }
    t
};

fn setup(v: &str) -> R<'_, Setup> {
    Ok(match v {
        "active" => Setup::Active,
        "passive" => Setup::Passive,
        "actpass" => Setup::Actpass,
        "holdconn" => Setup::Holdconn,
        _ => return Err(expected(v, "active, passive, actpass or holdconn")),
    })
}

/// `semantics *(SP identification-tag)`.
fn group<'a>(i: &mut &'a str) -> R<'a, Group<'a>> {
    let semantics = token(i, "group semantics")?;
    let mids = if eat(i, b' ') {
        scan::list(i, TOKEN, "identification tag")?
    } else {
        i.get(..0).unwrap_or("")
    };
    Ok(Group { semantics, mids })
}

/// `msid-id [SP msid-appdata]`.
fn msid<'a>(i: &mut &'a str) -> R<'a, Msid<'a>> {
    let stream_id = scan::take_long(i, TOKEN, "msid id")?;
    let track_id = if eat(i, b' ') {
        Some(scan::take_long(i, TOKEN, "msid appdata")?)
    } else {
        None
    };
    Ok(Msid {
        stream_id,
        track_id,
    })
}

/// `[SP] semantic [SP ids]`.
fn msid_semantic<'a>(i: &mut &'a str) -> R<'a, MsidSemantic<'a>> {
    let leading_space = eat(i, b' ');
    let semantic = token(i, "msid semantic")?;
    let ids = if eat(i, b' ') {
        scan::list(i, TOKEN, "msid")?
    } else {
        i.get(..0).unwrap_or("")
    };
    Ok(MsidSemantic {
        leading_space,
        semantic,
        ids,
    })
}

/// `port [SP nettype SP addrtype SP connection-address]`.
fn rtcp<'a>(i: &mut &'a str) -> R<'a, Rtcp<'a>> {
    let port = scan::num(i, "port")?;
    let address = if eat(i, b' ') {
        let n = net_type(i)?;
        scan::sp(i)?;
        let a = addr_type(i)?;
        scan::sp(i)?;
        let addr = scan::take(i, NON_WS, "address")?;
        Some((n, a, addr))
    } else {
        None
    };
    Ok(Rtcp { port, address })
}

/// `semantics *(SP ssrc-id)`.
fn ssrc_group<'a>(i: &mut &'a str) -> R<'a, SsrcGroup<'a>> {
    let semantics = token(i, "semantics")?;
    let ssrcs = if eat(i, b' ') {
        let start = *i;
        scan::num_long::<u32>(i, "SSRC")?;
        while eat(i, b' ') {
            scan::num_long::<u32>(i, "SSRC")?;
        }
        start.get(..start.len() - i.len()).unwrap_or("")
    } else {
        i.get(..0).unwrap_or("")
    };
    Ok(SsrcGroup { semantics, ssrcs })
}

/// Parses a candidate outside a description (trickle ICE), as line 1.
pub(crate) fn candidate_standalone<'a>(
    text: &'a str,
    value: &'a str,
) -> Result<Candidate<'a>, crate::Error> {
    line(value, candidate).map_err(|e| {
        let col = crate::parse::offset_in(text, e.at) + 1;
        crate::Error {
            line: 1,
            column: col,
            kind: e.kind,
            span: (0, text.len()),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The rarer grammars, with nom.

/// `remote-candidate *(SP remote-candidate)`, `remote-candidate = component-ID SP
/// connection-address SP port`.
fn remote_candidates(i: &str) -> Res<'_, &str> {
    fn one(i: &str) -> Res<'_, ()> {
        let (i, _) = exp("component id", num::<u16>).parse(i)?;
        let (i, _) = exp("space", sp).parse(i)?;
        let (i, _) = exp("connection address", |i| take1(i, ADDR)).parse(i)?;
        let (i, _) = exp("space", sp).parse(i)?;
        let (i, _) = exp("port", num::<u16>).parse(i)?;
        Ok((i, ()))
    }
    recognize((one, many0_count(preceded(sp, one)))).parse(i)
}

fn rid_id(i: &str) -> Res<'_, &str> {
    take1(i, RID)
}

fn rid_direction(i: &str) -> Res<'_, RidDirection> {
    if let Some(rest) = i.strip_prefix("send") {
        Ok((rest, RidDirection::Send))
    } else if let Some(rest) = i.strip_prefix("recv") {
        Ok((rest, RidDirection::Recv))
    } else {
        fail(
            i,
            ErrorKind::Syntax {
                expected: "send or recv",
            },
        )
    }
}

/// `rid-id SP rid-dir [SP rid-pt-param-list / rid-param-list]`.
fn rid(i: &str) -> Res<'_, Rid<'_>> {
    let (i, id) = exp("rid id", rid_id).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, direction) = rid_direction(i)?;
    let (i, restrictions) =
        opt(preceded(sp, exp("rid restrictions", |i| take1(i, NON_WS)))).parse(i)?;
    Ok((
        i,
        Rid {
            id,
            direction,
            restrictions,
        },
    ))
}

/// `sc-str-list = sc-alt-list *(";" sc-alt-list)`, `sc-alt-list = sc-id *("," sc-id)`,
/// `sc-id = ["~"] rid-id`.
fn sc_str_list(i: &str) -> Res<'_, &str> {
    let id = || preceded(opt(char('~')), exp("rid id", rid_id));
    let alt = || recognize((id(), many0_count(preceded(char(','), id()))));
    recognize((alt(), many0_count(preceded(char(';'), alt())))).parse(i)
}

/// `(sc-send [SP sc-recv]) / (sc-recv [SP sc-send])`.
fn simulcast(i: &str) -> Res<'_, Simulcast<'_>> {
    let (i, d1) = rid_direction(i)?;
    let (i, l1) = preceded(exp("space", sp), sc_str_list).parse(i)?;
    let (i, second) = match sp(i) {
        Ok((i, _)) => {
            let (i, d2) = rid_direction(i)?;
            if d2 == d1 {
                return fail(
                    i,
                    ErrorKind::Syntax {
                        expected: "the other direction",
                    },
                );
            }
            let (i, l2) = preceded(exp("space", sp), sc_str_list).parse(i)?;
            (i, Some((d2, l2)))
        }
        Err(_) => (i, None),
    };
    Ok((
        i,
        Simulcast {
            first: (d1, l1),
            second,
        },
    ))
}

/// RFC 8842 §5: `tls-id = 20*255(tls-id-char)`, `tls-id-char = ALPHA / DIGIT / "+" / "/" /
/// "-" / "_"` (no `=`: the id is not base64 with padding). A character outside the set is
/// reported where it is, a run of the wrong length at its start.
fn tls_id(i: &str) -> Res<'_, &str> {
    // `ice-char` is `ALPHA / DIGIT / "+" / "/"` and `rid-id` characters are `ALPHA / DIGIT /
    // "-" / "_"`: together they are the tls-id characters.
    let n = scan::run(i.as_bytes(), ICE | RID);
    // The run ends on an ASCII byte or at the end (see `scan`), so the split is on a char
    // boundary; if it were not, the whole value would be reported.
    let (id, rest) = i.split_at_checked(n).unwrap_or(("", i));
    if !rest.is_empty() {
        return fail(
            rest,
            ErrorKind::Syntax {
                expected: "tls-id characters (letters, digits, '+', '/', '-', '_')",
            },
        );
    }
    if !(20..=255).contains(&id.len()) {
        return fail(
            i,
            ErrorKind::Syntax {
                expected: "20 to 255 tls-id characters",
            },
        );
    }
    Ok((rest, id))
}

/// `number SP app [SP streams]`.
fn sctpmap(i: &str) -> Res<'_, Sctpmap<'_>> {
    let (i, number) = exp("SCTP port", num::<u16>).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, app) = exp("application", n_token).parse(i)?;
    let (i, streams) = opt(preceded(sp, exp("streams", num::<u32>))).parse(i)?;
    Ok((
        i,
        Sctpmap {
            number,
            app,
            streams,
        },
    ))
}

/// `non-zero-int-or-real`: digits with an optional fraction.
fn decimal(i: &str) -> Res<'_, Decimal<'_>> {
    let (i, d) = recognize((
        exp("number", digit1),
        opt((char('.'), exp("digits", digit1))),
    ))
    .parse(i)?;
    Ok((i, Decimal(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict<'a, T>(v: &'a str, p: impl FnOnce(&'a str, &mut Ws<'a>) -> R<'a, T>) -> R<'a, T> {
        p(v, &mut Ws::strict())
    }

    #[test]
    fn parse_fingerprint_pairs() {
        assert!(line("sha-256 AB:cd:01", fingerprint).is_ok());
        // SHA-256 length, so that whole blocks of eight groups are checked at once; one wrong
        // byte anywhere in the first block.
        let good = "0F:74:31:25:CB:A2:13:EC:28:6f:6d:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E";
        assert!(line(&format!("sha-256 {good}"), fingerprint).is_ok());
        for at in 0..24 {
            for bad in [b'G', b'g', b'/', b'@', b'`', b' ', 0x10, 0x7f, b':', b'0'] {
                let mut v = good.as_bytes().to_vec();
                if v[at] == bad || (bad == b'0' && v[at] != b':') {
                    continue;
                }
                v[at] = bad;
                let v = String::from_utf8(v).expect("ASCII");
                assert!(line(&format!("sha-256 {v}"), fingerprint).is_err(), "{v}");
            }
        }
        for bad in [
            "sha-256 AB:C",
            "sha-256 ABC",
            "sha-256 AB::CD",
            "sha-256 :AB",
            "sha-256 ",
        ] {
            assert!(line(bad, fingerprint).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_candidate_extensions_come_in_pairs() {
        let c = line("1 1 udp 1 ::1 9 typ host a b c d", candidate).expect("pairs");
        assert_eq!(c.extensions, "a b c d");
        let e = line("1 1 udp 1 ::1 9 typ host a b c", candidate).expect_err("odd");
        assert_eq!(
            (e.at, e.kind),
            ("", ErrorKind::Syntax { expected: "space" })
        );
        // Long lists are counted exactly: 343 items is a name without a value, 344 are pairs.
        for (n, pairs) in [(343, false), (344, true), (2001, false), (2002, true)] {
            let text = format!("1 1 udp 1 ::1 9 typ host {}", vec!["a"; n].join(" "));
            assert_eq!(line(&text, candidate).is_ok(), pairs, "{n} items");
        }
        let lane = format!("1 1 udp 1 ::1 9 typ host {}", ["aaaaaaa"; 300].join(" "));
        assert!(line(&lane, candidate).is_ok());
    }

    #[test]
    fn parse_candidate_bounds_component_and_priority() {
        let ok = |c: &str, p: &str| {
            let text = format!("f {c} udp {p} ::1 9 typ host");
            line(&text, candidate)
                .map(|c| (c.component, c.priority))
                .ok()
        };
        assert_eq!(ok("1", "1"), Some((1, 1)));
        assert_eq!(ok("256", "2147483647"), Some((256, 0x7fff_ffff)));
        assert_eq!(ok("001", "0000000001"), Some((1, 1)));
        for (c, p) in [
            ("0", "1"),
            ("257", "1"),
            ("0001", "1"),
            ("1", "0"),
            ("1", "2147483648"),
            ("1", "4294967295"),
            ("1", "00000000001"),
            ("1", "99999999999"),
        ] {
            let text = format!("f {c} udp {p} ::1 9 typ host");
            let e = line(&text, candidate).expect_err(&text);
            let at = if c.len() > 3 || !(1..=256).contains(&c.parse::<u32>().unwrap_or(0)) {
                c
            } else {
                p
            };
            assert_eq!((e.at, e.kind), (at, ErrorKind::NumberOutOfRange), "{text}");
        }
    }

    #[test]
    fn parse_lines_refuse_trailing_text() {
        let e = strict("IN IP4 1.2.3.4 x", connection).expect_err("trailing");
        assert_eq!(
            (e.at, e.kind),
            (
                " x",
                ErrorKind::Syntax {
                    expected: "end of line"
                }
            )
        );
        let e = strict("IN IP6 ff00::1/3/4", connection).expect_err("two suffixes");
        assert_eq!(
            e.kind,
            ErrorKind::Syntax {
                expected: "end of connection address"
            }
        );
        let c = strict("IN IP4 224.2.1.1/127/3", connection).expect("multicast");
        assert_eq!((c.ttl, c.count), (Some(127), Some(3)));
    }

    #[test]
    fn parse_rtp_profiles() {
        for rtp in ["RTP/AVP", "UDP/TLS/RTP/SAVPF", "/RTP/", "RTP//"] {
            assert!(is_rtp(rtp), "{rtp}");
        }
        for other in ["UDP/DTLS/SCTP", "x/RTP", "RTP", "XRTP/AVP", "", "/"] {
            assert!(!is_rtp(other), "{other}");
        }
    }

    #[test]
    fn parse_extmap_direction() {
        let x = line("3/recvonly urn:x", extmap).expect("direction");
        assert_eq!(x.direction, Some(Direction::RecvOnly));
        let e = line("3/sideways urn:x", extmap).expect_err("bad direction");
        assert_eq!(e.at, "sideways");
        let e = line("3/ urn:x", extmap).expect_err("empty direction");
        assert_eq!(
            (e.at, e.kind),
            ("/ urn:x", ErrorKind::Syntax { expected: "space" })
        );
    }

    #[test]
    fn lenient_fields_take_runs_of_whitespace() {
        let mut ws = Ws::lenient();
        let m = media("audio  9 RTP/AVP\t0  8", &mut ws).expect("lenient m=");
        assert_eq!(
            (m.port, m.formats().collect::<Vec<_>>()),
            (9, vec!["0", "8"])
        );
        assert_eq!(ws.extra.len(), 3);
        assert!(strict("audio  9 RTP/AVP 0", media).is_err());
    }
}
