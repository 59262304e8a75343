//! The driver: limits, line splitting, line order, and mapping grammar errors to [`Error`].

use crate::error::{Error, ErrorKind, Warning, WarningKind};
use crate::grammar::{self, PErr, Res};
use crate::model::{Attribute, SessionDescription, Timing};
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
    /// empty lines, malformed known attributes kept verbatim) and reports
    /// each as a [`Warning`].
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
        b't' | b'r' => 9,
        b'z' => 10,
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
    #[inline]
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

    /// Parses `a=` line content into `out`.
    #[inline(always)]
    fn attribute(
        &mut self,
        no: usize,
        line: &'a str,
        value: &'a str,
        out: &mut Vec<Attribute<'a>>,
    ) -> Result<(), Error> {
        let (name, v, valid_name) = grammar::split_attribute(value);
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
        if let Err(e) = grammar::attribute(name, v, out) {
            self.bad_attribute(no, line, name, v, e, out)?;
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
            if trimmed.len() != v.len() && grammar::attribute(name, Some(trimmed), out).is_ok() {
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
    let limits = &options.limits;
    // Limits first, before any allocation: a hostile input is refused in one pass over it.
    if input.len() > limits.max_size {
        return Err(Error::whole(ErrorKind::TooLarge {
            size: input.len(),
            limit: limits.max_size,
        }));
    }
    let split = match split_fast(input, limits) {
        Some(split) => split,
        None => split_checked(input, limits)?,
    };
    let mut warnings = Vec::new();
    let mut ctx = Ctx {
        input,
        strict: options.strict,
        warnings: &mut warnings,
    };
    let description = parse_lines(
        &mut ctx,
        &split.lines,
        split.media_count,
        split.session_attrs,
        limits,
    )?;
    Ok(Parsed {
        description,
        warnings,
    })
}

/// Lines of the input, with the counts that size the description's vectors.
struct Split<'a> {
    lines: Vec<&'a str>,
    media_count: usize,
    session_attrs: usize,
}

/// Splits the input into lines and checks the limits and the control characters on the way, in
/// line order: the first offending line is reported.
fn split_checked<'a>(input: &'a str, limits: &Limits) -> Result<Split<'a>, Error> {
    let newlines = memchr::memchr_iter(b'\n', input.as_bytes()).count();
    let mut lines: Vec<&'a str> =
        Vec::with_capacity((newlines + 1).min(limits.max_lines.saturating_add(1)));
    let mut media_count = 0usize;
    let mut session_attrs = 0usize;
    let bytes = input.as_bytes();
    let mut start = 0usize;
    while start < bytes.len() {
        let rest = bytes.get(start..).unwrap_or(&[]);
        // One pass per line: the first LF, CR or NUL (RFC 8866 §9: text = byte-string, which
        // excludes NUL, CR and LF; a CR is allowed only right before the LF).
        // Vectorised search for the first LF, CR or NUL of the line.
        let special = memchr::memchr3(b'\n', b'\r', 0, rest);
        let no = lines.len() + 1;
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
        let line = input.get(start..start + len).unwrap_or("");
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
        if line.starts_with("m=") {
            media_count += 1;
            if media_count > limits.max_media {
                return Err(mk(
                    1,
                    ErrorKind::TooManyMedia {
                        limit: limits.max_media,
                    },
                ));
            }
        } else if media_count == 0 && line.starts_with("a=") {
            session_attrs += 1;
        }
        lines.push(line);
    }
    Ok(Split {
        lines,
        media_count,
        session_attrs,
    })
}

/// Finds LFs: lines are short, so the fixed cost of each search matters; on x86-64 with AVX2
/// the searcher is chosen once per description instead of on every call.
struct LineFeed {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl LineFeed {
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.avx2 {
            return one.find(haystack);
        }
        memchr::memchr(b'\n', haystack)
    }
}

/// The common case of [`split_checked`], faster: no NUL anywhere and every CR right before an
/// LF, which three vectorised passes over the whole input establish, so that each line is found
/// with a search for LF alone. `None` for anything else (a stray CR or NUL, a limit exceeded):
/// [`split_checked`] then finds and reports the first offending line.
fn split_fast<'a>(input: &'a str, limits: &Limits) -> Option<Split<'a>> {
    let bytes = input.as_bytes();
    if memchr::memchr(0, bytes).is_some() {
        return None;
    }
    let crs = memchr::memchr_iter(b'\r', bytes).count();
    let newlines = memchr::memchr_iter(b'\n', bytes).count();
    if newlines + 1 > limits.max_lines.saturating_add(1) {
        return None;
    }
    let mut lines: Vec<&'a str> = Vec::with_capacity(newlines + 1);
    let mut media_count = 0usize;
    let mut session_attrs = 0usize;
    let mut crlf = 0usize;
    let lf = LineFeed::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match lf.find(rest.as_bytes()) {
            Some(p) => (rest.get(..p)?, rest.get(p + 1..)?),
            None => (rest, ""),
        };
        rest = next;
        let line = match line.strip_suffix('\r') {
            Some(l) => {
                crlf += 1;
                l
            }
            None => line,
        };
        if lines.len() >= limits.max_lines || line.len() > limits.max_line_length {
            return None;
        }
        let b = line.as_bytes();
        if b.get(1) == Some(&b'=') {
            match b.first() {
                Some(b'm') => {
                    media_count += 1;
                    if media_count > limits.max_media {
                        return None;
                    }
                }
                Some(b'a') if media_count == 0 => session_attrs += 1,
                _ => {}
            }
        }
        lines.push(line);
    }
    // Every CR ended a line: none is inside one.
    (crlf == crs).then_some(Split {
        lines,
        media_count,
        session_attrs,
    })
}

#[allow(clippy::too_many_lines)]
fn parse_lines<'a>(
    ctx: &mut Ctx<'a, '_>,
    lines: &[&'a str],
    media_count: usize,
    session_attrs: usize,
    limits: &Limits,
) -> Result<SessionDescription<'a>, Error> {
    let Some(first) = lines.first() else {
        return Err(Error::whole(ErrorKind::Empty));
    };
    if !first.starts_with("v=") {
        return Err(ctx.err(1, first, first, ErrorKind::MissingVersion));
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
        zone_adjustments: None,
        key: None,
        attributes: Vec::with_capacity(session_attrs.min(limits.max_attributes)),
        other_lines: Vec::new(),
        media: Vec::with_capacity(media_count),
    };
    let mut rank = 0u8;
    let mut in_media = false;
    for (idx, &line) in lines.iter().enumerate() {
        let no = idx + 1;
        let bytes = line.as_bytes();
        // The common line first: `a=` ranks last in the session part and in a media section, so
        // it always keeps the line order.
        if idx > 0 && bytes.starts_with(b"a=") {
            let (out, r) = if in_media {
                (d.media.last_mut().map(|m| &mut m.attributes), 5)
            } else {
                (Some(&mut d.attributes), 12)
            };
            if let Some(out) = out {
                rank = r;
                if out.len() >= limits.max_attributes {
                    return Err(ctx.err(
                        no,
                        line,
                        line,
                        ErrorKind::TooManyAttributes {
                            limit: limits.max_attributes,
                        },
                    ));
                }
                ctx.attribute(no, line, line.get(2..).unwrap_or(""), out)?;
                continue;
            }
        }
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
        if idx == 0 {
            let v = if ctx.strict {
                value
            } else {
                value.trim_end_matches([' ', '\t'])
            };
            if v != "0" {
                return Err(ctx.err(no, line, value, ErrorKind::BadVersion));
            }
            continue;
        }
        if t == b'm' {
            in_media = true;
            rank = 0;
            let mut m = ctx.fields(no, line, value, grammar::media)?;
            // Exact capacity for this section's attributes: one allocation per section.
            let n = lines
                .get(idx + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|l| !l.starts_with("m="))
                .filter(|l| l.starts_with("a="))
                .count();
            m.attributes = Vec::with_capacity(n.min(limits.max_attributes));
            d.media.push(m);
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
                b'a' => {
                    if m.attributes.len() >= limits.max_attributes {
                        return Err(ctx.err(
                            no,
                            line,
                            line,
                            ErrorKind::TooManyAttributes {
                                limit: limits.max_attributes,
                            },
                        ));
                    }
                    ctx.attribute(no, line, value, &mut m.attributes)?;
                }
                b'c' => {
                    let c = ctx.fields(no, line, value, grammar::connection)?;
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
                // b'k' is the only one left.
                _ => {
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
            b'v' => return Err(dup(ctx)),
            b'o' => {
                let o = ctx.fields(no, line, value, grammar::origin)?;
                if origin.replace(o).is_some() {
                    return Err(dup(ctx));
                }
            }
            b's' => {
                if value.is_empty() {
                    ctx.deviation(
                        no,
                        line,
                        value,
                        ErrorKind::Syntax {
                            expected: "a session name (use \"s=-\")",
                        },
                        WarningKind::InvalidAttribute(ErrorKind::Syntax {
                            expected: "a session name",
                        }),
                    )?;
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
                if d.uri.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'e' => d.emails.push(value),
            b'p' => d.phones.push(value),
            b'c' => {
                let c = ctx.fields(no, line, value, grammar::connection)?;
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
                if d.timings.capacity() == 0 {
                    d.timings.reserve_exact(1);
                }
                d.timings.push(tm);
            }
            b'r' => {
                let rp = ctx.run(no, line, value, grammar::repeat)?;
                match d.timings.last_mut() {
                    Some(tm) => tm.repeats.push(rp),
                    None => return Err(ctx.err(no, line, line, ErrorKind::OutOfOrder('r'))),
                }
            }
            b'z' => {
                let z = ctx.run(no, line, value, grammar::zone)?;
                if d.zone_adjustments.replace(z).is_some() {
                    return Err(dup(ctx));
                }
            }
            b'k' => {
                if d.key.replace(value).is_some() {
                    return Err(dup(ctx));
                }
            }
            _ => {
                if d.attributes.len() >= limits.max_attributes {
                    return Err(ctx.err(
                        no,
                        line,
                        line,
                        ErrorKind::TooManyAttributes {
                            limit: limits.max_attributes,
                        },
                    ));
                }
                ctx.attribute(no, line, value, &mut d.attributes)?;
            }
        }
    }
    let last = lines.last().copied().unwrap_or("");
    let end_no = lines.len();
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
        });
    }
    Ok(d)
}
