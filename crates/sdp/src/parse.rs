//! The driver: limits, line splitting, line order, and mapping grammar errors to [`Error`].

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, ErrorKind, Warning, WarningKind};
use crate::fields;
use crate::grammar::{self, PErr, Res};
use crate::model::{AddrType, Attribute, Connection, SessionDescription, Timing};
use crate::scan::Ws;

/// Limits against hostile input. The defaults fit any real description with a wide margin
/// (a large Chrome offer is about 5 KB and 150 lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total input size in bytes, checked before anything else (default 256 KiB).
    pub max_size: usize,
    /// Number of lines (default 8192).
    pub max_lines: usize,
    /// Bytes in one line, without its line ending (default 4096).
    pub max_line_length: usize,
    /// Number of `m=` sections (default 256).
    pub max_media: usize,
    /// `a=` lines in the session part or in one media section (default 1024).
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: 256 * 1024,
            max_lines: 8192,
            max_line_length: 4096,
            max_media: 256,
            max_attributes: 1024,
        }
    }
}

/// How to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Strict mode: the RFC grammar and line order; any deviation is an error. Lenient mode
    /// (the default) accepts what browsers tolerate (unknown line types, ordering slips,
    /// trailing whitespace, doubled spaces or tabs between the fields of `o=`, `m=`, `c=`, `t=`,
    /// empty lines, malformed known attributes kept verbatim, `u=`, `e=`, `p=` and `k=` values
    /// that break their grammar, kept verbatim) and reports each as a [`Warning`].
    pub strict: bool,
    /// Limits against hostile input.
    pub limits: Limits,
}

impl ParseOptions {
    /// Strict mode with default limits.
    #[must_use]
    pub fn strict() -> Self {
        Self {
            strict: true,
            limits: Limits::default(),
        }
    }

    /// Lenient mode with default limits.
    #[must_use]
    pub fn lenient() -> Self {
        Self::default()
    }
}

/// A parsed description and what lenient mode tolerated.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The description.
    pub description: SessionDescription<'a>,
    /// Deviations accepted in lenient mode, in line order (always empty in strict mode).
    pub warnings: Vec<Warning>,
}

/// Byte offset of `inner` in `outer`, clamped to `outer`'s length.
pub(crate) fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize)
        .checked_sub(outer.as_ptr() as usize)
        .map_or(0, |o| o.min(outer.len()))
}

/// Line types of the session part, in grammar order (RFC 8866 §9).
fn session_rank(t: u8) -> Option<u8> {
    Some(match t {
        b'v' => 0,
        b'o' => 1,
        b's' => 2,
        b'i' => 3,
        b'u' => 4,
        b'e' => 5,
        b'p' => 6,
        b'c' => 7,
        b'b' => 8,
        // A time description: `t=`, its `r=` lines, then at most one `z=` (checked where
        // they are parsed).
        b't' | b'r' | b'z' => 9,
        b'k' => 11,
        b'a' => 12,
        _ => return None,
    })
}

/// Line types of a media description, in grammar order.
fn media_rank(t: u8) -> Option<u8> {
    Some(match t {
        b'm' => 0,
        b'i' => 1,
        b'c' => 2,
        b'b' => 3,
        b'k' => 4,
        b'a' => 5,
        _ => return None,
    })
}

struct Ctx<'a, 'w> {
    input: &'a str,
    strict: bool,
    warnings: &'w mut Vec<Warning>,
}

impl<'a> Ctx<'a, '_> {
    fn err(&self, no: usize, line: &'a str, at: &'a str, kind: ErrorKind) -> Error {
        let start = offset_in(self.input, line);
        Error {
            line: no,
            column: offset_in(line, at) + 1,
            kind,
            span: (start, start + line.len()),
        }
    }

    fn warn(&mut self, no: usize, line: &'a str, at: &'a str, kind: WarningKind) {
        self.warnings.push(Warning {
            line: no,
            column: offset_in(line, at) + 1,
            kind,
        });
    }

    /// A deviation: an error in strict mode, a warning in lenient mode.
    fn deviation(
        &mut self,
        no: usize,
        line: &'a str,
        at: &'a str,
        e: ErrorKind,
        w: WarningKind,
    ) -> Result<(), Error> {
        if self.strict {
            Err(self.err(no, line, at, e))
        } else {
            self.warn(no, line, at, w);
            Ok(())
        }
    }

    /// Runs a line grammar on `value`; lenient mode retries without trailing whitespace.
    fn run<T>(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        p: fn(&'a str) -> Res<'a, T>,
    ) -> Result<T, Error> {
        match grammar::whole(value, p) {
            Ok(v) => Ok(v),
            Err(e) => {
                let trimmed = value.trim_end_matches([' ', '\t']);
                if !self.strict
                    && trimmed.len() != value.len()
                    && let Ok(v) = grammar::whole(trimmed, p)
                {
                    let at = value.get(trimmed.len()..).unwrap_or("");
                    self.warn(no, line, at, WarningKind::TrailingWhitespace);
                    return Ok(v);
                }
                Err(self.err(no, line, e.at, e.kind))
            }
        }
    }

    /// Runs the grammar of an `o=`, `m=`, `c=` or `t=` line on `value`. Lenient mode retries a
    /// refused line with runs of whitespace between fields and without trailing whitespace,
    /// warning about each. A line refused both ways is reported where the reading that got
    /// further stopped (the strict one on a tie).
    #[inline(always)]
    fn fields<T>(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        p: fn(&'a str, &mut Ws<'a>) -> Result<T, PErr<'a>>,
    ) -> Result<T, Error> {
        match p(value, &mut Ws::strict()) {
            Ok(v) => Ok(v),
            Err(e) if self.strict => Err(self.err(no, line, e.at, e.kind)),
            Err(e) => self.fields_lenient(no, line, value, p).map_err(|l| {
                let further = |x: &PErr<'a>| offset_in(line, x.at);
                let e = if further(&l) > further(&e) { l } else { e };
                self.err(no, line, e.at, e.kind)
            }),
        }
    }

    #[cold]
    fn fields_lenient<T>(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        p: fn(&'a str, &mut Ws<'a>) -> Result<T, PErr<'a>>,
    ) -> Result<T, PErr<'a>> {
        let trimmed = value.trim_end_matches([' ', '\t']);
        let mut ws = Ws::lenient();
        let v = p(trimmed, &mut ws)?;
        for at in ws.extra {
            self.warn(no, line, at, WarningKind::ExtraWhitespace);
        }
        if trimmed.len() != value.len() {
            let at = value.get(trimmed.len()..).unwrap_or("");
            self.warn(no, line, at, WarningKind::TrailingWhitespace);
        }
        Ok(v)
    }

    /// Checks the value of a `u=`, `e=`, `p=` or `k=` line (line type `t`) against its grammar
    /// ([`fields`]); the value is kept as text either way. One that breaks it is an error in
    /// strict mode and a warning in lenient mode, where the grammar broke.
    #[inline(never)]
    fn field(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        t: char,
        p: fn(&'a str) -> Result<(), PErr<'a>>,
    ) -> Result<(), Error> {
        match p(value) {
            Ok(()) => Ok(()),
            Err(e) => self.deviation(no, line, e.at, e.kind, WarningKind::InvalidField(t, e.kind)),
        }
    }

    /// Parses `a=` line content into `out`.
    #[inline(always)]
    fn attribute(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        out: &mut Vec<Attribute<'a>>,
    ) -> Result<(), Error> {
        let (name, v, valid_name, hot) = grammar::split_attribute(value);
        // Known names are valid by construction: an invalid one is an unknown attribute.
        if !valid_name {
            let at = name.get(..0).unwrap_or(name);
            let expected = ErrorKind::Syntax {
                expected: "attribute name",
            };
            self.deviation(
                no,
                line,
                at,
                expected,
                WarningKind::InvalidAttribute(expected),
            )?;
            out.push(Attribute::Other { name, value: v });
            return Ok(());
        }
        if let Err(e) = grammar::attribute(name, v, hot, out) {
            self.bad_attribute(no, line, name, v, e, out)?;
        }
        Ok(())
    }

    /// RFC 8866 §5.7 and §9: an IPv4 multicast address carries a TTL, a unicast one does not,
    /// and only a multicast IPv6 address carries a number of addresses. Checked on address
    /// literals; a deviation, since the line's fields are read either way.
    fn connection_form(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        c: &Connection<'a>,
    ) -> Result<(), Error> {
        // Most lines are a unicast IPv4 address without suffix: no need to read it.
        let suffix = c.ttl.is_some() || c.count.is_some();
        if !suffix
            && (c.addr_type != AddrType::Ip4
                || !c.address.starts_with("22") && !c.address.starts_with("23"))
        {
            return Ok(());
        }
        let multicast = match c.addr_type {
            AddrType::Ip4 => c.address.parse::<Ipv4Addr>().ok().map(|a| a.is_multicast()),
            AddrType::Ip6 => c.address.parse::<Ipv6Addr>().ok().map(|a| a.is_multicast()),
            AddrType::Other(_) => None,
        };
        let expected = match (c.addr_type, multicast) {
            (AddrType::Ip4, Some(true)) if c.ttl.is_none() => {
                "'/' and a TTL after an IPv4 multicast address"
            }
            (_, Some(false)) if suffix => "the end of a unicast address (no TTL or address count)",
            _ => return Ok(()),
        };
        let end = offset_in(value, c.address) + c.address.len();
        let at = value.get(end..).unwrap_or(value);
        let e = ErrorKind::Syntax { expected };
        self.deviation(no, line, at, e, WarningKind::InvalidField('c', e))
    }

    /// RFC 8866 §9: `start-time = time / "0"` and `time = POS-DIGIT 9*DIGIT`: a time other
    /// than 0 is NTP seconds, ten digits or more without a leading zero.
    fn time_form(&mut self, no: usize, line: &'a str, value: &'a str) -> Result<(), Error> {
        if value == "0 0" {
            return Ok(());
        }
        for t in value.split([' ', '\t']).filter(|t| !t.is_empty()) {
            if t != "0" && (t.len() < 10 || t.starts_with('0')) {
                let e = ErrorKind::Syntax {
                    expected: "0 or a time in NTP seconds (ten digits or more)",
                };
                self.deviation(no, line, t, e, WarningKind::InvalidField('t', e))?;
            }
        }
        Ok(())
    }

    /// A known attribute whose value breaks its grammar: an error in strict mode; in lenient
    /// mode typed anyway when only trailing whitespace was wrong, else kept verbatim.
    #[cold]
    fn bad_attribute(
        &mut self,
        no: usize,
        line: &'a str,
        name: &'a str,
        v: Option<&'a str>,
        e: PErr<'a>,
        out: &mut Vec<Attribute<'a>>,
    ) -> Result<(), Error> {
        if self.strict {
            return Err(self.err(no, line, e.at, e.kind));
        }
        if let Some(v) = v {
            let trimmed = v.trim_end_matches([' ', '\t']);
            if trimmed.len() != v.len()
                && grammar::attribute(name, Some(trimmed), grammar::Hot::of(name), out).is_ok()
            {
                let at = v.get(trimmed.len()..).unwrap_or("");
                self.warn(no, line, at, WarningKind::TrailingWhitespace);
                return Ok(());
            }
        }
        self.warn(no, line, e.at, WarningKind::InvalidAttribute(e.kind));
        out.push(Attribute::Other { name, value: v });
        Ok(())
    }
}

/// Parses with explicit options, returning the warnings too.
///
/// # Errors
/// The first line that breaks the grammar (or a limit), with its position and a reason.
pub fn parse_with<'a>(input: &'a str, options: &ParseOptions) -> Result<Parsed<'a>, Error> {
    let mut warnings = Vec::new();
    let description = description(input, options, &mut warnings)?;
    Ok(Parsed {
        description,
        warnings,
    })
}

/// [`parse_with`] without the [`Parsed`] wrapper: [`crate::parse`] returns the description
/// without moving it once more (it is over 400 bytes).
#[inline(always)]
pub(crate) fn description<'a>(
    input: &'a str,
    options: &ParseOptions,
    warnings: &mut Vec<Warning>,
) -> Result<SessionDescription<'a>, Error> {
    let limits = &options.limits;
    // Limits first, before any allocation: a hostile input is refused in one pass over it.
    if input.len() > limits.max_size {
        return Err(Error::whole(ErrorKind::TooLarge {
            size: input.len(),
            limit: limits.max_size,
        }));
    }
    let mut ctx = Ctx {
        input,
        strict: options.strict,
        warnings,
    };
    parse_lines(&mut ctx, limits).map_err(|e| first_error(input, limits, e))
}

/// The error to report once the single pass has stopped at `e`. The pass checks the control
/// characters and the line limits of each line just before parsing it, but the contract is
/// that those checks hold for the whole input first: a NUL on line 9 is reported even when line
/// 3 breaks its grammar. So a refused input is checked again, line by line, and the first
/// such fault wins over `e`. Only refused inputs pay for this second pass.
#[cold]
#[inline(never)]
fn first_error(input: &str, limits: &Limits, e: Error) -> Error {
    check_lines(input, limits).err().unwrap_or(e)
}

/// Checks the limits and the control characters of every line, in line order, without parsing
/// them: the first offending line is reported.
fn check_lines(input: &str, limits: &Limits) -> Result<(), Error> {
    let bytes = input.as_bytes();
    let mut media_count = 0usize;
    let mut no = 0usize;
    let mut start = 0usize;
    while start < bytes.len() {
        let rest = bytes.get(start..).unwrap_or(&[]);
        // The first LF, CR or NUL of the line (RFC 8866 §9: text = byte-string, which excludes
        // NUL, CR and LF; a CR is allowed only right before the LF).
        let special = memchr::memchr3(b'\n', b'\r', 0, rest);
        no += 1;
        let (len, next, ctrl) = match special {
            None => (rest.len(), bytes.len(), None),
            Some(p) => match (rest.get(p), rest.get(p + 1)) {
                (Some(b'\n'), _) => (p, start + p + 1, None),
                (Some(b'\r'), Some(b'\n')) => (p, start + p + 2, None),
                (Some(b'\r'), None) => (p, bytes.len(), None),
                _ => {
                    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    let end = if rest.get(end.wrapping_sub(1)) == Some(&b'\r') && end > p + 1 {
                        end - 1
                    } else {
                        end
                    };
                    (end, start + end, Some(p))
                }
            },
        };
        let line = bytes.get(start..start + len).unwrap_or(&[]);
        let line_start = start;
        start = next;
        let mk = |column: usize, kind: ErrorKind| Error {
            line: no,
            column,
            kind,
            span: (line_start, line_start + line.len()),
        };
        if let Some(p) = ctrl {
            return Err(mk(p + 1, ErrorKind::ControlCharacter));
        }
        if no > limits.max_lines {
            return Err(mk(
                1,
                ErrorKind::TooManyLines {
                    limit: limits.max_lines,
                },
            ));
        }
        if line.len() > limits.max_line_length {
            return Err(mk(
                limits.max_line_length + 1,
                ErrorKind::LineTooLong {
                    limit: limits.max_line_length,
                },
            ));
        }
        if line.starts_with(b"m=") {
            media_count += 1;
            if media_count > limits.max_media {
                return Err(mk(
                    1,
                    ErrorKind::TooManyMedia {
                        limit: limits.max_media,
                    },
                ));
            }
        }
    }
    Ok(())
}

/// The lines of the input, each without its line ending, found with one vectorised search per
/// line for the first LF, CR or NUL: a CR must end the line (CRLF, or the last byte of the
/// input) and a NUL may not appear at all, so the same search that finds the line end also
/// checks the line for control characters. Lines are short, so the fixed cost of each search
/// matters; on x86-64 with AVX2 the searcher is chosen once per description instead of on every
/// call.
struct Lines<'a> {
    rest: &'a str,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::Three>,
}

/// A stray CR or a NUL in a line: [`check_lines`] finds and reports it.
struct ControlCharacter;

impl<'a> Lines<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            rest: input,
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::Three::new(b'\n', b'\r', 0),
        }
    }

    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(three) = &self.avx2 {
            return three.find(haystack);
        }
        memchr::memchr3(b'\n', b'\r', 0, haystack)
    }

    /// The next line; `None` at the end of the input.
    #[inline(always)]
    fn next(&mut self) -> Option<Result<&'a str, ControlCharacter>> {
        if self.rest.is_empty() {
            return None;
        }
        let b = self.rest.as_bytes();
        let (len, skip) = match self.find(b) {
            None => (b.len(), 0),
            Some(p) => match (b.get(p), b.get(p + 1)) {
                (Some(b'\n'), _) => (p, 1),
                (Some(b'\r'), Some(b'\n')) => (p, 2),
                (Some(b'\r'), None) => (p, 1),
                _ => return Some(Err(ControlCharacter)),
            },
        };
        // `len` is the position of an ASCII byte or the end, so both splits are on char
        // boundaries; if one were not, the line would be refused instead of panicking.
        let (line, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest.get(skip..)?;
        Some(Ok(line))
    }
}

/// An error that [`first_error`] replaces with the first line-level fault ([`check_lines`]):
/// the pass stopped on a line that breaks a line limit or holds a control character.
#[cold]
fn line_fault() -> Error {
    Error::whole(ErrorKind::ControlCharacter)
}

/// The lines after the first, counted, each checked against the line limits as it is found.
struct Cursor<'a> {
    lines: Lines<'a>,
    /// The number of the last line returned.
    no: usize,
    /// The last line returned.
    last: &'a str,
}

impl<'a> Cursor<'a> {
    /// The next line; `None` at the end of the input.
    #[inline(always)]
    fn next_line(&mut self, limits: &Limits) -> Result<Option<&'a str>, Error> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        let Ok(line) = line else {
            return Err(line_fault());
        };
        self.no += 1;
        self.last = line;
        if self.no > limits.max_lines || line.len() > limits.max_line_length {
            return Err(line_fault());
        }
        Ok(Some(line))
    }
}

/// Parses the run of `a=` lines that starts with `line` into `scratch`, and returns the line
/// that ends the run (already counted), `None` at the end of the input. Most lines are `a=`
/// lines: their loop is a function of its own, small enough for the compiler to keep the
/// cursors of the attribute grammars in registers, which it does not manage inside the whole
/// driver.
#[inline(never)]
fn attribute_lines<'a>(
    ctx: &mut Ctx<'a, '_>,
    cur: &mut Cursor<'a>,
    limits: &Limits,
    scratch: &mut Vec<Attribute<'a>>,
    mut line: &'a str,
) -> Result<Option<&'a str>, Error> {
    loop {
        let Some(value) = line.strip_prefix("a=") else {
            return Ok(Some(line));
        };
        if scratch.len() >= limits.max_attributes {
            return Err(ctx.err(
                cur.no,
                line,
                line,
                ErrorKind::TooManyAttributes {
                    limit: limits.max_attributes,
                },
            ));
        }
        ctx.attribute(cur.no, line, value, scratch)?;
        match cur.next_line(limits)? {
            Some(next) => line = next,
            None => return Ok(None),
        }
    }
}

/// Gives the section that just ended the attributes gathered in `scratch`, in a vector of
/// their exact size. The section's `a=` lines are not counted ahead (that would search every
/// line twice), so they are parsed into `scratch`, which has room to spare. A few attributes
/// are moved into a new vector and `scratch` is reused; a large section (an audio or video
/// section of a browser offer) takes `scratch` itself, trimmed in place, because moving its
/// attributes (120 bytes each) costs more than trimming: a new buffer is then started with
/// room for the `rest` of the input (`None` after the last section).
fn finish_section<'a>(
    d: &mut SessionDescription<'a>,
    scratch: &mut Vec<Attribute<'a>>,
    rest: Option<usize>,
    limits: &Limits,
) {
    /// Above this many attributes, trimming costs fewer instructions than moving them.
    const TRIM_ABOVE: usize = 12;
    let attributes = if scratch.len() > TRIM_ABOVE || rest.is_none() {
        let next = rest.map_or_else(Vec::new, |len| {
            Vec::with_capacity(scratch_capacity(len, limits))
        });
        let mut attributes = std::mem::replace(scratch, next);
        attributes.shrink_to_fit();
        attributes
    } else {
        let mut attributes = Vec::with_capacity(scratch.len());
        // Moved one by one: `Vec::append` copies with `memcpy`, whose `rep movsb` for a few KB
        // counted more instructions under callgrind than these moves of 120 bytes each.
        #[expect(clippy::extend_with_drain, reason = "append counted more instructions")]
        attributes.extend(scratch.drain(..));
        attributes
    };
    match d.media.last_mut() {
        Some(m) => m.attributes = attributes,
        None => d.attributes = attributes,
    }
}

/// RFC 8866 §5.7: without a session-level `c=`, every media section needs its own. A section
/// with port 0 (rejected, or bundle-only) carries no transport of its own and is let off, as
/// RFC 8829's examples write it. `m_line` is the `m=` line of the last section of `d`, which
/// has just ended.
fn check_connection<'a>(
    ctx: &mut Ctx<'a, '_>,
    d: &SessionDescription<'a>,
    m_line: Option<(usize, &'a str)>,
) -> Result<(), Error> {
    let (Some((no, line)), Some(m)) = (m_line, d.media.last()) else {
        return Ok(());
    };
    if d.connection.is_none() && m.connections.is_empty() && m.port != 0 {
        ctx.deviation(
            no,
            line,
            line,
            ErrorKind::MissingLine('c'),
            WarningKind::MissingLine('c'),
        )?;
    }
    Ok(())
}

/// Room for the attributes of any section in the `len` bytes of input still to parse: browser
/// attribute lines are 20 to 120 bytes long, so one per 24 bytes is enough for any section of
/// a browser description (the buffer never grows), and no section may hold more than the
/// limit.
fn scratch_capacity(len: usize, limits: &Limits) -> usize {
    (len / 24 + 4).min(limits.max_attributes)
}

#[allow(clippy::too_many_lines)]
fn parse_lines<'a>(
    ctx: &mut Ctx<'a, '_>,
    limits: &Limits,
) -> Result<SessionDescription<'a>, Error> {
    let mut lines = Lines::new(ctx.input);
    let first = match lines.next() {
        None => return Err(Error::whole(ErrorKind::Empty)),
        Some(Err(ControlCharacter)) => return Err(line_fault()),
        Some(Ok(first)) => first,
    };
    if first.len() > limits.max_line_length || limits.max_lines == 0 {
        return Err(line_fault());
    }
    let Some(value) = first.strip_prefix("v=") else {
        return Err(ctx.err(1, first, first, ErrorKind::MissingVersion));
    };
    let v = if ctx.strict {
        value
    } else {
        value.trim_end_matches([' ', '\t'])
    };
    if v != "0" {
        return Err(ctx.err(1, first, value, ErrorKind::BadVersion));
    }
    let mut origin = None;
    let mut session_name = None;
    let mut d = SessionDescription {
        origin: crate::model::Origin {
            username: "-",
            session_id: "0",
            session_version: "0",
            net_type: crate::model::NetType::In,
            addr_type: crate::model::AddrType::Ip4,
            address: "0.0.0.0",
        },
        session_name: "",
        information: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        timings: Vec::new(),
        key: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
        media: Vec::new(),
    };
    // The attributes of the current section.
    let mut scratch: Vec<Attribute<'a>> =
        Vec::with_capacity(scratch_capacity(ctx.input.len(), limits));
    let mut rank = 0u8;
    let mut in_media = false;
    // The current media section's `m=` line (number and text), to point at when the section
    // ends without the `c=` line RFC 8866 §5.7 requires of it (when the session has none).
    let mut m_line: Option<(usize, &'a str)> = None;
    let mut cur = Cursor {
        lines,
        no: 1,
        last: first,
    };
    // A line that a run of `a=` lines ended on, already counted.
    let mut pending = None;
    loop {
        let line = match pending.take() {
            Some(line) => line,
            None => match cur.next_line(limits)? {
                Some(line) => line,
                None => break,
            },
        };
        let no = cur.no;
        // The common line first: `a=` ranks last in the session part and in a media section, so
        // it always keeps the line order.
        if line.starts_with("a=") {
            rank = if in_media { 5 } else { 12 };
            pending = attribute_lines(ctx, &mut cur, limits, &mut scratch, line)?;
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.is_empty() {
            ctx.deviation(
                no,
                line,
                line,
                ErrorKind::NotATypeLine,
                WarningKind::EmptyLine,
            )?;
            continue;
        }
        let (Some(&t), Some(b'=')) = (bytes.first(), bytes.get(1)) else {
            return Err(ctx.err(no, line, line, ErrorKind::NotATypeLine));
        };
        if !t.is_ascii_alphabetic() {
            return Err(ctx.err(no, line, line, ErrorKind::NotATypeLine));
        }
        let value = line.get(2..).unwrap_or("");
        let tc = char::from(t);
        if t == b'm' {
            if d.media.len() >= limits.max_media {
                return Err(line_fault());
            }
            in_media = true;
            rank = 0;
            // The section before this one is complete.
            check_connection(ctx, &d, m_line)?;
            let m = ctx.fields(no, line, value, grammar::media)?;
            finish_section(&mut d, &mut scratch, Some(cur.lines.rest.len()), limits);
            d.media.push(m);
            m_line = Some((no, line));
            continue;
        }
        if in_media {
            // A media line: the media section is the last one pushed.
            let Some(m) = d.media.last_mut() else {
                return Err(ctx.err(no, line, line, ErrorKind::NotATypeLine));
            };
            let Some(r) = media_rank(t) else {
                let (e, w) = if session_rank(t).is_some() {
                    (ErrorKind::OutOfOrder(tc), WarningKind::OutOfOrder(tc))
                } else {
                    (
                        ErrorKind::UnknownLineType(tc),
                        WarningKind::UnknownLineType(tc),
                    )
                };
                ctx.deviation(no, line, line, e, w)?;
                m.other_lines.push(line);
                continue;
            };
            if r < rank {
                ctx.deviation(
                    no,
                    line,
                    line,
                    ErrorKind::OutOfOrder(tc),
                    WarningKind::OutOfOrder(tc),
                )?;
            } else {
                rank = r;
            }
            match t {
                b'c' => {
                    let c = ctx.fields(no, line, value, grammar::connection)?;
                    ctx.connection_form(no, line, value, &c)?;
                    m.connections.push(c);
                }
                b'b' => {
                    let b = ctx.run(no, line, value, grammar::bandwidth)?;
                    m.bandwidths.push(b);
                }
                b'i' => {
                    if m.title.replace(value).is_some() {
                        return Err(ctx.err(no, line, line, ErrorKind::DuplicateLine(tc)));
                    }
                }
                // b'k' is the only one left: `a=` lines took the path above.
                _ => {
                    ctx.field(no, line, value, tc, fields::key_type)?;
                    if m.key.replace(value).is_some() {
                        return Err(ctx.err(no, line, line, ErrorKind::DuplicateLine(tc)));
                    }
                }
            }
            continue;
        }
        // Session part.
        let Some(r) = session_rank(t) else {
            ctx.deviation(
                no,
                line,
                line,
                ErrorKind::UnknownLineType(tc),
                WarningKind::UnknownLineType(tc),
            )?;
            d.other_lines.push(line);
            continue;
        };
        if r < rank {
            ctx.deviation(
                no,
                line,
                line,
                ErrorKind::OutOfOrder(tc),
                WarningKind::OutOfOrder(tc),
            )?;
        } else {
            rank = r;
        }
        let dup = |ctx: &Ctx<'a, '_>| ctx.err(no, line, line, ErrorKind::DuplicateLine(tc));
        match t {
            b'o' => {
                let o = ctx.fields(no, line, value, grammar::origin)?;
                if origin.replace(o).is_some() {
                    return Err(dup(ctx));
                }
            }
            b's' => {
                if value.is_empty() {
                    let e = ErrorKind::Syntax {
                        expected: "a session name (use \"s=-\")",
                    };
                    ctx.deviation(no, line, value, e, WarningKind::InvalidField(tc, e))?;
                }
                if session_name.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'i' => {
                if d.information.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'u' => {
                ctx.field(no, line, value, tc, fields::uri_reference)?;
                if d.uri.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'e' => {
                ctx.field(no, line, value, tc, fields::email_address)?;
                d.emails.push(value);
            }
            b'p' => {
                ctx.field(no, line, value, tc, fields::phone_number)?;
                d.phones.push(value);
            }
            b'c' => {
                let c = ctx.fields(no, line, value, grammar::connection)?;
                ctx.connection_form(no, line, value, &c)?;
                if d.connection.replace(c).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'b' => {
                let b = ctx.run(no, line, value, grammar::bandwidth)?;
                d.bandwidths.push(b);
            }
            b't' => {
                let tm = ctx.fields(no, line, value, grammar::timing)?;
                ctx.time_form(no, line, value)?;
                if d.timings.capacity() == 0 {
                    d.timings.reserve_exact(1);
                }
                d.timings.push(tm);
            }
            b'r' => {
                let rp = ctx.run(no, line, value, grammar::repeat)?;
                let Some(tm) = d.timings.last_mut() else {
                    return Err(ctx.err(no, line, line, ErrorKind::OutOfOrder('r')));
                };
                // The `z=` line ends the repeats of its time description.
                if tm.zone_adjustments.is_some() {
                    ctx.deviation(
                        no,
                        line,
                        line,
                        ErrorKind::OutOfOrder('r'),
                        WarningKind::OutOfOrder('r'),
                    )?;
                }
                tm.repeats.push(rp);
            }
            b'z' => {
                let z = ctx.run(no, line, value, grammar::zone)?;
                let Some(tm) = d.timings.last_mut() else {
                    return Err(ctx.err(no, line, line, ErrorKind::OutOfOrder('z')));
                };
                if tm.zone_adjustments.replace(z).is_some() {
                    return Err(dup(ctx));
                }
                if tm.repeats.is_empty() {
                    ctx.deviation(
                        no,
                        line,
                        line,
                        ErrorKind::ZoneWithoutRepeat,
                        WarningKind::ZoneWithoutRepeat,
                    )?;
                }
            }
            b'k' => {
                ctx.field(no, line, value, tc, fields::key_type)?;
                if d.key.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            // `v=` is the only one left (`a=` lines took the path above): a second one.
            _ => return Err(dup(ctx)),
        }
    }
    finish_section(&mut d, &mut scratch, None, limits);
    check_connection(ctx, &d, m_line)?;
    let (end_no, last) = (cur.no, cur.last);
    let at_end = last.get(last.len()..).unwrap_or("");
    match origin {
        Some(o) => d.origin = o,
        None => return Err(ctx.err(end_no, last, at_end, ErrorKind::MissingLine('o'))),
    }
    match session_name {
        Some(s) => d.session_name = s,
        None => {
            ctx.deviation(
                end_no,
                last,
                at_end,
                ErrorKind::MissingLine('s'),
                WarningKind::MissingLine('s'),
            )?;
            d.session_name = "-";
        }
    }
    if d.timings.is_empty() {
        ctx.deviation(
            end_no,
            last,
            at_end,
            ErrorKind::MissingLine('t'),
            WarningKind::MissingLine('t'),
        )?;
        d.timings.push(Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
            zone_adjustments: None,
        });
    }
    Ok(d)
}
