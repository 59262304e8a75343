//! Creating descriptions from scratch: [`SessionBuilder`] owns its text, takes typed lines, and
//! checks its output with the strict parser.

use crate::error::{Error, ErrorKind};
use crate::model::{AddrType, Attribute, Bandwidth, Connection, Media, NetType, Origin};
use crate::parse::{ParseOptions, parse_with};
use crate::write;

/// Builds a session description as text, the way the runtime creates offers and answers.
///
/// Session-level lines may be added in any order before or after media sections; they are
/// written in the grammar's order. Media sections are written in the order they are added.
/// [`SessionBuilder::build`] parses the result in strict mode, so what it returns is accepted by
/// this crate's parser (and follows what browsers accept: `s=-`, `t=0 0`, CRLF). A value that
/// carries a CR, LF or NUL (which could smuggle in lines of its own) makes `build` fail with
/// [`ErrorKind::ControlCharacter`], even when the lines it would add are valid.
///
/// ```
/// use icebreaker_sdp::{Attribute, Media, MediaType, SessionBuilder, Setup, Connection};
///
/// let mut b = SessionBuilder::new(4_611_731_400_430_051_336, 2);
/// b.attribute(&Attribute::Group(icebreaker_sdp::Group { semantics: "BUNDLE", mids: "0" }));
/// b.media(
///     &Media::new(MediaType::Application, 9, "UDP/DTLS/SCTP", "webrtc-datachannel")
///         .with_connection(Connection::ip4("0.0.0.0"))
///         .with(Attribute::IceUfrag("EsAw"))
///         .with(Attribute::IcePwd("bP+XJMM09aR8AiX1jdukzR6Y"))
///         .with(Attribute::Setup(Setup::Actpass))
///         .with(Attribute::Mid("0"))
///         .with(Attribute::SctpPort(5000)),
/// );
/// let sdp = b.build()?;
/// assert!(sdp.starts_with("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"));
/// # Ok::<(), icebreaker_sdp::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SessionBuilder {
    origin: String,
    name: String,
    /// `i=`, `u=`, `e=`, `p=`, `c=`, `b=` lines (already formatted, in grammar order).
    info: String,
    uri: String,
    emails: String,
    connection: String,
    bandwidths: String,
    attributes: String,
    media: String,
    /// The first value that broke its lines with a CR, LF or NUL: the part it went into and
    /// the byte offset there.
    broken: Option<(Part, usize)>,
}

/// The builder's texts, in the order [`SessionBuilder::to_text`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Origin,
    Name,
    Info,
    Uri,
    Emails,
    Connection,
    Bandwidths,
    Attributes,
    Media,
}

/// Where `chunk`, which should be `lines` lines each ending in CRLF, has a CR, LF or NUL that
/// is not one of those line endings (or more lines than that); `None` when its shape holds.
fn stray_break(chunk: &str, lines: usize) -> Option<usize> {
    let mut at = 0;
    for _ in 0..lines {
        let rest = chunk.get(at..).unwrap_or_default();
        let end = rest.find(['\r', '\n', '\0']).unwrap_or(rest.len());
        if !rest.get(end..).is_some_and(|r| r.starts_with("\r\n")) {
            return Some(at + end);
        }
        at += end + 2;
    }
    (at != chunk.len()).then_some(at)
}

impl SessionBuilder {
    /// A description with `o=- <session_id> <session_version> IN IP4 127.0.0.1`, `s=-` and
    /// `t=0 0`, as RFC 8829 §5.2.1 prescribes for offers.
    #[must_use]
    pub fn new(session_id: u64, session_version: u64) -> Self {
        let mut origin = String::with_capacity(48);
        origin.push_str("o=- ");
        write::push_u64(&mut origin, session_id);
        origin.push(' ');
        write::push_u64(&mut origin, session_version);
        origin.push_str(" IN IP4 127.0.0.1\r\n");
        Self {
            origin,
            name: "s=-\r\n".into(),
            ..Self::default()
        }
    }

    /// Replaces the `o=` line.
    pub fn origin(&mut self, o: &Origin<'_>) -> &mut Self {
        self.origin.clear();
        let d = crate::SessionDescription {
            origin: *o,
            session_name: "-",
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
        let mut s = String::new();
        d.write_to(&mut s);
        // The origin is what comes between `v=0` and the last `s=-` (nothing after that comes
        // from the caller): one line, unless a value broke it.
        let line = s
            .strip_prefix("v=0\r\n")
            .and_then(|r| r.rfind("s=-\r\n").and_then(|end| r.get(..end)))
            .unwrap_or_default();
        self.origin.push_str(line);
        self.check(Part::Origin, 0, 1);
        self
    }

    /// Records a break in what was just written to `part` from `start`: `lines` lines.
    fn check(&mut self, part: Part, start: usize, lines: usize) {
        let text = self
            .texts()
            .into_iter()
            .find_map(|(p, t)| (p == Some(part)).then_some(t))
            .unwrap_or_default();
        if let Some(at) = stray_break(text.get(start..).unwrap_or_default(), lines) {
            self.broken.get_or_insert((part, start + at));
        }
    }

    /// Sets `s=` (default `-`).
    pub fn session_name(&mut self, name: &str) -> &mut Self {
        self.name = format!("s={name}\r\n");
        self.check(Part::Name, 0, 1);
        self
    }

    /// Sets `i=`.
    pub fn information(&mut self, text: &str) -> &mut Self {
        self.info = format!("i={text}\r\n");
        self.check(Part::Info, 0, 1);
        self
    }

    /// Sets `u=`.
    pub fn uri(&mut self, uri: &str) -> &mut Self {
        self.uri = format!("u={uri}\r\n");
        self.check(Part::Uri, 0, 1);
        self
    }

    /// Adds an `e=` line.
    pub fn email(&mut self, email: &str) -> &mut Self {
        let start = self.emails.len();
        self.emails.push_str("e=");
        self.emails.push_str(email);
        self.emails.push_str("\r\n");
        self.check(Part::Emails, start, 1);
        self
    }

    /// Sets the session-level `c=`.
    pub fn connection(&mut self, c: Connection<'_>) -> &mut Self {
        self.connection.clear();
        let mut m = Media::new(crate::MediaType::Audio, 0, "x", "x");
        m.connections.push(c);
        push_lines_after_m(&mut self.connection, &m);
        self.check(Part::Connection, 0, 1);
        self
    }

    /// Adds a session-level `b=`.
    pub fn bandwidth(&mut self, b: Bandwidth<'_>) -> &mut Self {
        let mut m = Media::new(crate::MediaType::Audio, 0, "x", "x");
        m.bandwidths.push(b);
        let start = self.bandwidths.len();
        push_lines_after_m(&mut self.bandwidths, &m);
        self.check(Part::Bandwidths, start, 1);
        self
    }

    /// Adds a session-level attribute.
    pub fn attribute(&mut self, a: &Attribute<'_>) -> &mut Self {
        let start = self.attributes.len();
        write::attribute::<true>(&mut self.attributes, a);
        self.check(Part::Attributes, start, 1);
        self
    }

    /// Adds a media section with all its lines.
    pub fn media(&mut self, m: &Media<'_>) -> &mut Self {
        let start = self.media.len();
        write::media(&mut self.media, m);
        let lines = 1
            + usize::from(m.title.is_some())
            + m.connections.len()
            + m.bandwidths.len()
            + usize::from(m.key.is_some())
            + m.attributes.len()
            + m.other_lines.len();
        self.check(Part::Media, start, lines);
        self
    }

    /// The description as text, without checking it.
    #[must_use]
    pub fn to_text(&self) -> String {
        let texts = self.texts();
        let mut s = String::with_capacity(texts.iter().map(|(_, t)| t.len()).sum());
        for (_, t) in texts {
            s.push_str(t);
        }
        s
    }

    /// The pieces of the text in order, each with its part (`None`: fixed text).
    fn texts(&self) -> [(Option<Part>, &str); 11] {
        [
            (None, "v=0\r\n"),
            (Some(Part::Origin), &self.origin),
            (Some(Part::Name), &self.name),
            (Some(Part::Info), &self.info),
            (Some(Part::Uri), &self.uri),
            (Some(Part::Emails), &self.emails),
            (Some(Part::Connection), &self.connection),
            (Some(Part::Bandwidths), &self.bandwidths),
            (None, "t=0 0\r\n"),
            (Some(Part::Attributes), &self.attributes),
            (Some(Part::Media), &self.media),
        ]
    }

    /// The description as text, checked by the strict parser.
    ///
    /// # Errors
    /// When a line does not match its grammar (an `ice-ufrag` of 3 characters, a token with a
    /// space ...), or a value carried a CR, LF or NUL ([`ErrorKind::ControlCharacter`], at the
    /// break, or at the first line past those the section should have had); the error points
    /// into [`SessionBuilder::to_text`]'s output.
    pub fn build(&self) -> Result<String, Error> {
        let s = self.to_text();
        if let Some((part, offset)) = self.broken {
            let before: usize = self
                .texts()
                .iter()
                .take_while(|(p, _)| *p != Some(part))
                .map(|(_, t)| t.len())
                .sum();
            return Err(control_character_at(&s, before + offset));
        }
        parse_with(&s, &ParseOptions::strict())?;
        Ok(s)
    }
}

/// A [`ErrorKind::ControlCharacter`] error at byte `at` of `text`, counting lines as the
/// parser does (each ends at a LF).
fn control_character_at(text: &str, at: usize) -> Error {
    let head = text.get(..at).unwrap_or(text);
    let start = head.rfind('\n').map_or(0, |i| i + 1);
    let end = text
        .get(start..)
        .and_then(|r| r.find(['\r', '\n']))
        .map_or(text.len(), |i| start + i);
    Error {
        line: head.matches('\n').count() + 1,
        column: at - start + 1,
        kind: ErrorKind::ControlCharacter,
        span: (start, end),
    }
}

/// Writes a media section's lines after its `m=` line.
fn push_lines_after_m(out: &mut String, m: &Media<'_>) {
    let mut s = String::new();
    write::media(&mut s, m);
    if let Some((_, rest)) = s.split_once("\r\n") {
        out.push_str(rest);
    }
}

impl<'a> Connection<'a> {
    /// `IN IP4 <address>`.
    #[must_use]
    pub const fn ip4(address: &'a str) -> Self {
        Self {
            net_type: NetType::In,
            addr_type: AddrType::Ip4,
            address,
            ttl: None,
            count: None,
        }
    }

    /// `IN IP6 <address>`.
    #[must_use]
    pub const fn ip6(address: &'a str) -> Self {
        Self {
            net_type: NetType::In,
            addr_type: AddrType::Ip6,
            address,
            ttl: None,
            count: None,
        }
    }
}

impl<'a> Media<'a> {
    /// Adds an attribute (builder style).
    #[must_use]
    pub fn with(mut self, a: Attribute<'a>) -> Self {
        self.attributes.push(a);
        self
    }

    /// Adds a `c=` line (builder style).
    #[must_use]
    pub fn with_connection(mut self, c: Connection<'a>) -> Self {
        self.connections.push(c);
        self
    }

    /// Adds a `b=` line (builder style).
    #[must_use]
    pub fn with_bandwidth(mut self, b: Bandwidth<'a>) -> Self {
        self.bandwidths.push(b);
        self
    }
}
