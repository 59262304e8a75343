//! The line grammars of RFC 8866 and the attribute grammars of the WebRTC RFCs, one nom parser
//! per rule. Every parser here runs on one line's value (the text after `x=`) with `complete`
//! combinators, under `all_consuming`; the driver in `parse.rs` maps [`PErr`] to the public
//! [`Error`](crate::Error) at the line boundary, so no nom type leaves this module.

use nom::bytes::complete::{tag, take_while1};
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

pub(crate) type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

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

/// Runs a complete parser on the whole of `value`.
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

// ---------------------------------------------------------------------------------------------
// Character classes (RFC 8866 §9, RFC 8839 §5.1), as a byte table: the primitives below scan
// bytes, never chars. That is sound on `&str` because every class either excludes all bytes
// >= 0x80 or includes all of them, so a scan always stops on an ASCII byte, a char boundary.

/// `token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E`.
const TOKEN: u8 = 1;
/// `ice-char = ALPHA / DIGIT / "+" / "/"`.
const ICE: u8 = 2;
/// `non-ws-string = 1*(VCHAR/%x80-FF)`.
const NON_WS: u8 = 4;
/// Characters of an IP address or an FQDN (including mDNS `.local` names and IPv6 zones).
const ADDR: u8 = 8;
/// `DIGIT`.
const DIGIT: u8 = 16;
/// `rid-id = 1*(alpha-numeric / "-" / "_")`.
const RID: u8 = 32;
/// Non-whitespace except `/` (a connection address before its `/ttl`).
const CONN: u8 = 64;

const fn class_of(b: u8) -> u8 {
    let mut f = 0;
    if matches!(b, 0x21 | 0x23..=0x27 | 0x2a..=0x2b | 0x2d..=0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e)
    {
        f |= TOKEN;
    }
    if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
        f |= ICE;
    }
    if b > b' ' && b != 0x7f {
        f |= NON_WS;
        if b != b'/' {
            f |= CONN;
        }
    }
    if b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%') {
        f |= ADDR;
    }
    if b.is_ascii_digit() {
        f |= DIGIT;
    }
    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
        f |= RID;
    }
    f
}

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = class_of(i as u8);
        i += 1;
    }
    t
};

#[inline]
fn is(b: u8, class: u8) -> bool {
    // Indexing a 256-entry table with a `u8` cannot go out of bounds.
    CLASS[usize::from(b)] & class != 0
}

/// Splits `i` after `n` bytes (always a char boundary here, see above).
#[inline]
fn split(i: &str, n: usize) -> Res<'_, &str> {
    match (i.get(n..), i.get(..n)) {
        (Some(rest), Some(taken)) => Ok((rest, taken)),
        _ => Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::TakeWhile1,
        ))),
    }
}

/// One or more bytes of `class`.
#[inline]
fn take1(i: &str, class: u8) -> Res<'_, &str> {
    let n = i.bytes().position(|b| !is(b, class)).unwrap_or(i.len());
    if n == 0 {
        return Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::TakeWhile1,
        )));
    }
    split(i, n)
}

/// `item *(sep item)` where items are runs of `class`, in one pass.
fn list1(i: &str, class: u8, sep: u8) -> Res<'_, &str> {
    let b = i.as_bytes();
    let mut n = 0;
    loop {
        let start = n;
        while b.get(n).is_some_and(|&x| is(x, class)) {
            n += 1;
        }
        if n == start {
            if start == 0 {
                return Err(nom::Err::Error(PErr::from_error_kind(
                    i,
                    nom::error::ErrorKind::TakeWhile1,
                )));
            }
            // A separator not followed by an item is left unconsumed.
            n = start - 1;
            break;
        }
        if b.get(n) == Some(&sep) {
            n += 1;
        } else {
            break;
        }
    }
    split(i, n)
}

fn token(i: &str) -> Res<'_, &str> {
    take1(i, TOKEN)
}

/// The rest of the line, at least one byte (the driver has already excluded CR, LF and NUL).
fn rest1(i: &str) -> Res<'_, &str> {
    if i.is_empty() {
        return Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::Eof,
        )));
    }
    Ok((i.get(i.len()..).unwrap_or(""), i))
}

fn non_ws(i: &str) -> Res<'_, &str> {
    take1(i, NON_WS)
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

/// Decimal digits into `T`; too large a value is [`ErrorKind::NumberOutOfRange`].
fn num<T: TryFrom<u64>>(i: &str) -> Res<'_, T> {
    let mut v: u64 = 0;
    let mut overflow = false;
    let mut n = 0;
    for b in i.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(b - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        n += 1;
    }
    let (rest, d) = if n == 0 {
        return Err(nom::Err::Error(PErr::from_error_kind(
            i,
            nom::error::ErrorKind::Digit,
        )));
    } else {
        split(i, n)?
    };
    match T::try_from(v) {
        Ok(t) if !overflow => Ok((rest, t)),
        _ => fail(d, ErrorKind::NumberOutOfRange),
    }
}

/// An RTP payload type, 0 to 127.
fn payload_type(i: &str) -> Res<'_, u8> {
    let (rest, d) = digit1(i)?;
    match num::<u8>(d) {
        Ok((_, v)) if v <= 127 => Ok((rest, v)),
        _ => fail(d, ErrorKind::PayloadTypeOutOfRange),
    }
}

fn net_type(i: &str) -> Res<'_, NetType<'_>> {
    let (rest, t) = exp("network type", token).parse(i)?;
    Ok((
        rest,
        if t == "IN" {
            NetType::In
        } else {
            NetType::Other(t)
        },
    ))
}

fn addr_type(i: &str) -> Res<'_, AddrType<'_>> {
    let (rest, t) = exp("address type", token).parse(i)?;
    let a = match t {
        "IP4" => AddrType::Ip4,
        "IP6" => AddrType::Ip6,
        _ => AddrType::Other(t),
    };
    Ok((rest, a))
}

// ---------------------------------------------------------------------------------------------
// Session and media lines (RFC 8866 §5).

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
pub(crate) fn origin(i: &str) -> Res<'_, Origin<'_>> {
    let (i, username) = exp("username", non_ws).parse(i)?;
    let (i, session_id) = preceded(exp("space", sp), exp("numeric session id", digit1)).parse(i)?;
    let (i, session_version) =
        preceded(exp("space", sp), exp("numeric session version", digit1)).parse(i)?;
    let (i, net_type) = preceded(exp("space", sp), net_type).parse(i)?;
    let (i, addr_type) = preceded(exp("space", sp), addr_type).parse(i)?;
    let (i, address) = preceded(exp("space", sp), exp("unicast address", non_ws)).parse(i)?;
    Ok((
        i,
        Origin {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        },
    ))
}

/// `c=<nettype> <addrtype> <connection-address>` with `/ttl` and `/count` for multicast.
pub(crate) fn connection(i: &str) -> Res<'_, Connection<'_>> {
    let (i, net_type) = net_type(i)?;
    let (i, addr_type) = preceded(exp("space", sp), addr_type).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, address) = exp("connection address", |i| take1(i, CONN)).parse(i)?;
    let mut c = Connection {
        net_type,
        addr_type,
        address,
        ttl: None,
        count: None,
    };
    let (i, first) = opt(preceded(char('/'), exp("number", num::<u32>))).parse(i)?;
    let (i, second) = opt(preceded(char('/'), exp("number", num::<u32>))).parse(i)?;
    match (addr_type, first, second) {
        (_, None, _) => {}
        // RFC 8866 §5.7: IPv4 multicast is <base>/<ttl>[/<number of addresses>].
        (AddrType::Ip4, Some(ttl), count) => {
            let Ok(ttl) = u8::try_from(ttl) else {
                return fail(address, ErrorKind::NumberOutOfRange);
            };
            c.ttl = Some(ttl);
            c.count = count;
        }
        // IPv6 multicast has no TTL: <base>[/<number of addresses>].
        (AddrType::Ip6, Some(count), None) => c.count = Some(count),
        _ => {
            return fail(
                i,
                ErrorKind::Syntax {
                    expected: "end of connection address",
                },
            );
        }
    }
    Ok((i, c))
}

/// `b=<bwtype>:<bandwidth>`.
pub(crate) fn bandwidth(i: &str) -> Res<'_, Bandwidth<'_>> {
    let (i, t) = exp("bandwidth type", token).parse(i)?;
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
pub(crate) fn timing(i: &str) -> Res<'_, Timing<'_>> {
    let (i, start) = exp("start time", num::<u64>).parse(i)?;
    let (i, stop) = preceded(exp("space", sp), exp("stop time", num::<u64>)).parse(i)?;
    Ok((
        i,
        Timing {
            start,
            stop,
            repeats: Vec::new(),
        },
    ))
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

/// `r=<repeat interval> <active duration> <offsets from start-time>`.
pub(crate) fn repeat(i: &str) -> Res<'_, Repeat<'_>> {
    let (i, interval) = exp("repeat interval", typed_time).parse(i)?;
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

/// Whether `proto` is an RTP profile, whose formats are payload types.
fn is_rtp(proto: &str) -> bool {
    proto.starts_with("RTP/") || proto.contains("/RTP/")
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`.
pub(crate) fn media(i: &str) -> Res<'_, Media<'_>> {
    let (i, kind) = exp("media type", token).parse(i)?;
    let kind = match kind {
        "audio" => MediaType::Audio,
        "video" => MediaType::Video,
        "text" => MediaType::Text,
        "application" => MediaType::Application,
        "message" => MediaType::Message,
        "image" => MediaType::Image,
        other => MediaType::Other(other),
    };
    let Ok((i, _)) = sp(i) else {
        return fail(i, ErrorKind::MissingPort);
    };
    let (i, port) = match num::<u16>(i) {
        Ok(x) => x,
        Err(nom::Err::Error(_)) => return fail(i, ErrorKind::MissingPort),
        Err(e) => return Err(e),
    };
    let (i, port_count) = opt(preceded(char('/'), exp("number of ports", num::<u16>))).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, proto) = exp("transport protocol", non_ws).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, formats) = exp("format", |i| list1(i, TOKEN, b' ')).parse(i)?;
    if is_rtp(proto) {
        for f in formats.split(' ') {
            match num::<u8>(f) {
                Ok(("", pt)) if pt <= 127 => {}
                Ok(("", _)) | Err(nom::Err::Failure(_)) => {
                    return fail(f, ErrorKind::PayloadTypeOutOfRange);
                }
                _ => {
                    return fail(
                        f,
                        ErrorKind::Syntax {
                            expected: "payload type",
                        },
                    );
                }
            }
        }
    }
    let mut m = Media::new(kind, port, proto, formats);
    m.port_count = port_count;
    Ok((i, m))
}

// ---------------------------------------------------------------------------------------------
// Attributes.

/// Parses the value of a known attribute. `Ok(None)` means the name is not one we type.
pub(crate) fn attribute<'a>(
    name: &'a str,
    value: Option<&'a str>,
) -> Result<Option<Attribute<'a>>, PErr<'a>> {
    let flag = |a: Attribute<'a>| match value {
        None => Ok(Some(a)),
        Some(v) => Err(PErr {
            at: v,
            kind: ErrorKind::Syntax {
                expected: "no value",
            },
        }),
    };
    let Some(v) = value else {
        return match name {
            "ice-lite" => flag(Attribute::IceLite),
            "ice-mismatch" => flag(Attribute::IceMismatch),
            "end-of-candidates" => flag(Attribute::EndOfCandidates),
            "extmap-allow-mixed" => flag(Attribute::ExtmapAllowMixed),
            "rtcp-mux" => flag(Attribute::RtcpMux),
            "rtcp-mux-only" => flag(Attribute::RtcpMuxOnly),
            "rtcp-rsize" => flag(Attribute::RtcpRsize),
            "sendrecv" => flag(Attribute::Direction(Direction::SendRecv)),
            "sendonly" => flag(Attribute::Direction(Direction::SendOnly)),
            "recvonly" => flag(Attribute::Direction(Direction::RecvOnly)),
            "inactive" => flag(Attribute::Direction(Direction::Inactive)),
            "bundle-only" => flag(Attribute::BundleOnly),
            "ice-ufrag" | "ice-pwd" | "ice-options" | "candidate" | "remote-candidates"
            | "fingerprint" | "setup" | "tls-id" | "mid" | "group" | "msid" | "msid-semantic"
            | "extmap" | "rtpmap" | "fmtp" | "rtcp" | "rtcp-fb" | "ssrc" | "ssrc-group" | "rid"
            | "simulcast" | "sctp-port" | "max-message-size" | "sctpmap" | "ptime" | "maxptime"
            | "framerate" => Err(PErr {
                at: name.get(name.len()..).unwrap_or(""),
                kind: ErrorKind::Syntax {
                    expected: "':' and a value",
                },
            }),
            _ => Ok(None),
        };
    };
    let a = match name {
        "rtcp-fb" => Attribute::RtcpFb(whole(v, rtcp_fb)?),
        "rtpmap" => Attribute::Rtpmap(whole(v, rtpmap)?),
        "fmtp" => Attribute::Fmtp(whole(v, fmtp)?),
        "ssrc" => Attribute::Ssrc(whole(v, ssrc)?),
        "extmap" => Attribute::Extmap(whole(v, extmap)?),
        "candidate" => Attribute::Candidate(whole(v, candidate)?),
        "ice-ufrag" => {
            Attribute::IceUfrag(whole(v, |i| ice_string(i, 4, ErrorKind::BadUfragLength))?)
        }
        "ice-pwd" => Attribute::IcePwd(whole(v, |i| ice_string(i, 22, ErrorKind::BadPwdLength))?),
        "ice-options" => Attribute::IceOptions(IceOptions(whole(v, ice_options)?)),
        "remote-candidates" => Attribute::RemoteCandidates(whole(v, remote_candidates)?),
        "fingerprint" => Attribute::Fingerprint(whole(v, fingerprint)?),
        "setup" => Attribute::Setup(whole(v, setup)?),
        "tls-id" => Attribute::TlsId(whole(
            v,
            exp(
                "tls-id",
                take_while1(|c: char| {
                    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=')
                }),
            ),
        )?),
        "mid" => Attribute::Mid(whole(v, exp("identification tag", token))?),
        "group" => Attribute::Group(whole(v, group)?),
        "msid" => Attribute::Msid(whole(v, msid)?),
        "msid-semantic" => Attribute::MsidSemantic(whole(v, msid_semantic)?),
        "rtcp" => Attribute::Rtcp(whole(v, rtcp)?),
        "ssrc-group" => Attribute::SsrcGroup(whole(v, ssrc_group)?),
        "rid" => Attribute::Rid(whole(v, rid)?),
        "simulcast" => Attribute::Simulcast(whole(v, simulcast)?),
        "sctp-port" => Attribute::SctpPort(whole(v, exp("port", num::<u16>))?),
        "max-message-size" => Attribute::MaxMessageSize(whole(v, exp("size", num::<u64>))?),
        "sctpmap" => Attribute::Sctpmap(whole(v, sctpmap)?),
        "ptime" => Attribute::Ptime(whole(v, decimal)?),
        "maxptime" => Attribute::Maxptime(whole(v, decimal)?),
        "framerate" => Attribute::Framerate(whole(v, decimal)?),

        "ice-lite" | "ice-mismatch" | "end-of-candidates" | "extmap-allow-mixed" | "rtcp-mux"
        | "rtcp-mux-only" | "rtcp-rsize" | "sendrecv" | "sendonly" | "recvonly" | "inactive"
        | "bundle-only" => return flag(Attribute::IceLite),
        _ => return Ok(None),
    };
    Ok(Some(a))
}

/// `1*256ice-char` with a minimum length (`ufrag = 4*256ice-char`, `password = 22*256ice-char`).
fn ice_string(i: &str, min: usize, too_short: ErrorKind) -> Res<'_, &str> {
    let (rest, s) = exp("ice-chars", |i| take1(i, ICE)).parse(i)?;
    if s.len() < min || s.len() > 256 {
        return fail(s, too_short);
    }
    Ok((rest, s))
}

/// `ice-option-tag *(SP ice-option-tag)`, `ice-option-tag = 1*ice-char`.
fn ice_options(i: &str) -> Res<'_, &str> {
    exp("ice option tag", |i| list1(i, ICE, b' ')).parse(i)
}

/// RFC 8839 §5.1:
/// ```text
/// candidate-attribute   = "candidate" ":" foundation SP component-id SP transport SP priority SP
///                         connection-address SP port SP cand-type-tag SP cand-type
///                         [SP rel-addr] [SP rel-port] *(SP cand-extension)
/// foundation            = 1*32ice-char
/// component-id          = 1*3DIGIT
/// ```
pub(crate) fn candidate(i: &str) -> Res<'_, Candidate<'_>> {
    let (i, foundation) = exp("foundation", |i| take1(i, ICE)).parse(i)?;
    if foundation.len() > 32 {
        return fail(foundation, ErrorKind::FoundationTooLong);
    }
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, component) = exp("component id", num::<u16>).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, transport) = exp("transport", token).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, priority) = exp("priority", num::<u32>).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, address) = exp("connection address", |i| take1(i, ADDR)).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, port) = exp("port", num::<u16>).parse(i)?;
    let (i, _) = exp("\" typ \"", tag(" typ ")).parse(i)?;
    let (i, typ) = exp("candidate type", token).parse(i)?;
    let typ = match typ {
        "host" => CandidateType::Host,
        "srflx" => CandidateType::Srflx,
        "prflx" => CandidateType::Prflx,
        "relay" => CandidateType::Relay,
        other => CandidateType::Other(other),
    };
    let (i, related_address) = opt(preceded(
        tag(" raddr "),
        exp("related address", |i| take1(i, ADDR)),
    ))
    .parse(i)?;
    let (i, related_port) =
        opt(preceded(tag(" rport "), exp("related port", num::<u16>))).parse(i)?;
    // Extensions: *(SP extension-att-name SP extension-att-value), kept as text.
    let (i, extensions) = match sp(i) {
        Ok((rest, _)) => {
            // Name and value alternate: an even number of non-whitespace runs.
            let (after, ext) = exp("extension name", |i| list1(i, NON_WS, b' ')).parse(rest)?;
            if ext.bytes().filter(|&b| b == b' ').count() % 2 == 0 {
                let end = ext.get(ext.len()..).unwrap_or("");
                return fail(end, ErrorKind::Syntax { expected: "space" });
            }
            (after, ext)
        }
        Err(_) => (i, i),
    };
    Ok((
        i,
        Candidate {
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
        },
    ))
}

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

/// `hash-func SP fingerprint`, `fingerprint = 2UHEX *(":" 2UHEX)` (lower case accepted too).
fn fingerprint(i: &str) -> Res<'_, Fingerprint<'_>> {
    let (i, hash_function) = exp("hash function", token).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    // `2HEX *(":" 2HEX)`, checked in one pass over the bytes.
    let n = i
        .bytes()
        .position(|b| !(b.is_ascii_hexdigit() || b == b':'))
        .unwrap_or(i.len());
    let (i, fingerprint) = split(i, n)?;
    let well_formed = fingerprint.len() % 3 == 2
        && fingerprint
            .bytes()
            .enumerate()
            .all(|(k, b)| (k % 3 == 2) == (b == b':'));
    if !well_formed {
        return fail(
            fingerprint,
            ErrorKind::Syntax {
                expected: "hex pairs separated by ':'",
            },
        );
    }
    Ok((
        i,
        Fingerprint {
            hash_function,
            fingerprint,
        },
    ))
}

fn setup(i: &str) -> Res<'_, Setup> {
    let s = match i {
        "active" => Setup::Active,
        "passive" => Setup::Passive,
        "actpass" => Setup::Actpass,
        "holdconn" => Setup::Holdconn,
        _ => {
            return fail(
                i,
                ErrorKind::Syntax {
                    expected: "active, passive, actpass or holdconn",
                },
            );
        }
    };
    Ok(("", s))
}

/// `semantics *(SP identification-tag)`.
fn group(i: &str) -> Res<'_, Group<'_>> {
    let (i, semantics) = exp("group semantics", token).parse(i)?;
    let (i, mids) = match sp(i) {
        Ok((rest, _)) => exp("identification tag", |i| list1(i, TOKEN, b' ')).parse(rest)?,
        Err(_) => (i, i),
    };
    Ok((i, Group { semantics, mids }))
}

/// `msid-id [SP msid-appdata]`.
fn msid(i: &str) -> Res<'_, Msid<'_>> {
    let (i, stream_id) = exp("msid id", token).parse(i)?;
    let (i, track_id) = opt(preceded(sp, exp("msid appdata", token))).parse(i)?;
    Ok((
        i,
        Msid {
            stream_id,
            track_id,
        },
    ))
}

/// `[SP] semantic [SP ids]`.
fn msid_semantic(i: &str) -> Res<'_, MsidSemantic<'_>> {
    let (i, space) = opt(sp).parse(i)?;
    let (i, semantic) = exp("msid semantic", token).parse(i)?;
    let (i, ids) = match sp(i) {
        Ok((rest, _)) => exp("msid", |i| list1(i, TOKEN, b' ')).parse(rest)?,
        Err(_) => (i, i),
    };
    Ok((
        i,
        MsidSemantic {
            leading_space: space.is_some(),
            semantic,
            ids,
        },
    ))
}

fn direction(i: &str) -> Res<'_, Direction> {
    let (rest, t) = token(i)?;
    let d = match t {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        "inactive" => Direction::Inactive,
        _ => {
            return fail(
                t,
                ErrorKind::Syntax {
                    expected: "direction",
                },
            );
        }
    };
    Ok((rest, d))
}

/// `1*5DIGIT ["/" direction] SP uri [SP extensionattributes]`.
fn extmap(i: &str) -> Res<'_, Extmap<'_>> {
    let (i, id) = exp("extension id", num::<u16>).parse(i)?;
    let (i, direction) = opt(preceded(char('/'), direction)).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, uri) = exp("extension URI", non_ws).parse(i)?;
    let (i, attributes) = opt(preceded(sp, exp("extension attributes", rest1))).parse(i)?;
    Ok((
        i,
        Extmap {
            id,
            direction,
            uri,
            attributes,
        },
    ))
}

/// `payload-type SP encoding-name "/" clock-rate ["/" encoding-params]`.
fn rtpmap(i: &str) -> Res<'_, Rtpmap<'_>> {
    let (i, payload_type) = exp("payload type", payload_type).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, encoding_name) = exp("encoding name", token).parse(i)?;
    let (i, _) = exp("'/'", char('/')).parse(i)?;
    let (i, clock_rate) = exp("clock rate", num::<u32>).parse(i)?;
    let (i, encoding_params) =
        opt(preceded(char('/'), exp("encoding parameters", token))).parse(i)?;
    Ok((
        i,
        Rtpmap {
            payload_type,
            encoding_name,
            clock_rate,
            encoding_params,
        },
    ))
}

/// `fmt SP format-specific-params`.
fn fmtp(i: &str) -> Res<'_, Fmtp<'_>> {
    let (i, format) = exp("format", token).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, params) = exp("format parameters", rest1).parse(i)?;
    Ok((i, Fmtp { format, params }))
}

/// `port [SP nettype SP addrtype SP connection-address]`.
fn rtcp(i: &str) -> Res<'_, Rtcp<'_>> {
    let (i, port) = exp("port", num::<u16>).parse(i)?;
    let (i, address) = match sp(i) {
        Ok((i, _)) => {
            let (i, n) = net_type(i)?;
            let (i, a) = preceded(exp("space", sp), addr_type).parse(i)?;
            let (i, addr) = preceded(exp("space", sp), exp("address", non_ws)).parse(i)?;
            (i, Some((n, a, addr)))
        }
        Err(_) => (i, None),
    };
    Ok((i, Rtcp { port, address }))
}

/// `rtcp-fb-pt SP rtcp-fb-val`, `rtcp-fb-pt = "*" / fmt`.
fn rtcp_fb(i: &str) -> Res<'_, RtcpFb<'_>> {
    let (i, payload_type) = exp("payload type or '*'", token).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, feedback) = exp("feedback type", token).parse(i)?;
    let (i, param) = opt(preceded(sp, exp("feedback parameters", rest1))).parse(i)?;
    Ok((
        i,
        RtcpFb {
            payload_type,
            feedback,
            param,
        },
    ))
}

/// `ssrc-id SP attribute [":" value]`.
fn ssrc(i: &str) -> Res<'_, Ssrc<'_>> {
    let (i, ssrc) = exp("SSRC", num::<u32>).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, attribute) = exp("source attribute", token).parse(i)?;
    let (i, value) = opt(preceded(char(':'), nom::combinator::rest)).parse(i)?;
    Ok((
        i,
        Ssrc {
            ssrc,
            attribute,
            value,
        },
    ))
}

/// `semantics *(SP ssrc-id)`.
fn ssrc_group(i: &str) -> Res<'_, SsrcGroup<'_>> {
    let (i, semantics) = exp("semantics", token).parse(i)?;
    let (i, ssrcs) = match sp(i) {
        Ok((rest, _)) => recognize((
            exp("SSRC", num::<u32>),
            many0_count(preceded(sp, exp("SSRC", num::<u32>))),
        ))
        .parse(rest)?,
        Err(_) => (i, i),
    };
    Ok((i, SsrcGroup { semantics, ssrcs }))
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
    let (i, restrictions) = opt(preceded(sp, exp("rid restrictions", non_ws))).parse(i)?;
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

/// `number SP app [SP streams]`.
fn sctpmap(i: &str) -> Res<'_, Sctpmap<'_>> {
    let (i, number) = exp("SCTP port", num::<u16>).parse(i)?;
    let (i, _) = exp("space", sp).parse(i)?;
    let (i, app) = exp("application", token).parse(i)?;
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

/// Parses a candidate outside a description (trickle ICE), as line 1.
pub(crate) fn candidate_standalone<'a>(
    text: &'a str,
    value: &'a str,
) -> Result<Candidate<'a>, crate::Error> {
    whole(value, candidate).map_err(|e| {
        let col = crate::parse::offset_in(text, e.at) + 1;
        crate::Error {
            line: 1,
            column: col,
            kind: e.kind,
            span: (0, text.len()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_lists_leave_a_trailing_separator() {
        assert_eq!(list1("0 1 2", TOKEN, b' ').ok(), Some(("", "0 1 2")));
        // The separator is not consumed when no item follows it.
        assert_eq!(list1("0 1 ", TOKEN, b' ').ok(), Some((" ", "0 1")));
        assert!(list1(" 0", TOKEN, b' ').is_err());
    }

    #[test]
    fn parse_numbers_refuse_overflow() {
        assert_eq!(num::<u16>("65535 x").ok(), Some((" x", 65535)));
        let Err(nom::Err::Failure(e)) = num::<u16>("65536") else {
            panic!("overflow")
        };
        assert_eq!((e.at, e.kind), ("65536", ErrorKind::NumberOutOfRange));
        let Err(nom::Err::Failure(e)) = num::<u64>("99999999999999999999999") else {
            panic!("u64 overflow")
        };
        assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
        assert!(matches!(num::<u8>("x"), Err(nom::Err::Error(_))));
    }

    #[test]
    fn parse_fingerprint_pairs() {
        assert!(whole("sha-256 AB:cd:01", fingerprint).is_ok());
        for bad in [
            "sha-256 AB:C",
            "sha-256 ABC",
            "sha-256 AB::CD",
            "sha-256 :AB",
        ] {
            assert!(whole(bad, fingerprint).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_candidate_extensions_come_in_pairs() {
        let c = whole("1 1 udp 1 ::1 9 typ host a b c d", candidate).expect("pairs");
        assert_eq!(c.extensions, "a b c d");
        assert!(whole("1 1 udp 1 ::1 9 typ host a b c", candidate).is_err());
    }

    #[test]
    fn classes_stop_on_ascii() {
        // Non-ASCII bytes are non-whitespace but never token chars: splits stay on char
        // boundaries either way.
        assert_eq!(take1("café x", NON_WS).ok(), Some((" x", "café")));
        assert_eq!(take1("caf\u{e9}", TOKEN).ok(), Some(("\u{e9}", "caf")));
    }
}
