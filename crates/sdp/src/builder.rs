//! Creating descriptions from scratch: [`SessionBuilder`] owns its text, takes typed lines, and
//! checks its output with the strict parser.

use crate::error::Error;
use crate::model::{AddrType, Attribute, Bandwidth, Connection, Media, NetType, Origin};
use crate::parse::{ParseOptions, parse_with};
use crate::write;

/// Builds a session description as text, the way the runtime creates offers and answers.
///
/// Session-level lines may be added in any order before or after media sections; they are
/// written in the grammar's order. Media sections are written in the order they are added.
/// [`SessionBuilder::build`] parses the result in strict mode, so what it returns is accepted by
/// this crate's parser (and follows what browsers accept: `s=-`, `t=0 0`, CRLF).
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
        // The origin is the second line of what was written.
        if let Some(line) = s.split_inclusive("\r\n").nth(1) {
            self.origin.push_str(line);
        }
        self
    }

    /// Sets `s=` (default `-`).
    pub fn session_name(&mut self, name: &str) -> &mut Self {
        self.name = format!("s={name}\r\n");
        self
    }

    /// Sets `i=`.
    pub fn information(&mut self, text: &str) -> &mut Self {
        self.info = format!("i={text}\r\n");
        self
    }

    /// Sets `u=`.
    pub fn uri(&mut self, uri: &str) -> &mut Self {
        self.uri = format!("u={uri}\r\n");
        self
    }

    /// Adds an `e=` line.
    pub fn email(&mut self, email: &str) -> &mut Self {
        self.emails.push_str("e=");
        self.emails.push_str(email);
        self.emails.push_str("\r\n");
        self
    }

    /// Sets the session-level `c=`.
    pub fn connection(&mut self, c: Connection<'_>) -> &mut Self {
        self.connection.clear();
        let mut m = Media::new(crate::MediaType::Audio, 0, "x", "x");
        m.connections.push(c);
        push_lines_after_m(&mut self.connection, &m);
        self
    }

    /// Adds a session-level `b=`.
    pub fn bandwidth(&mut self, b: Bandwidth<'_>) -> &mut Self {
        let mut m = Media::new(crate::MediaType::Audio, 0, "x", "x");
        m.bandwidths.push(b);
        push_lines_after_m(&mut self.bandwidths, &m);
        self
    }

    /// Adds a session-level attribute.
    pub fn attribute(&mut self, a: &Attribute<'_>) -> &mut Self {
        write::attribute::<true>(&mut self.attributes, a);
        self
    }

    /// Adds a media section with all its lines.
    pub fn media(&mut self, m: &Media<'_>) -> &mut Self {
        write::media(&mut self.media, m);
        self
    }

    /// The description as text, without checking it.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(
            32 + self.origin.len() + self.name.len() + self.attributes.len() + self.media.len(),
        );
        s.push_str("v=0\r\n");
        for part in [
            &self.origin,
            &self.name,
            &self.info,
            &self.uri,
            &self.emails,
            &self.connection,
            &self.bandwidths,
        ] {
            s.push_str(part);
        }
        s.push_str("t=0 0\r\n");
        s.push_str(&self.attributes);
        s.push_str(&self.media);
        s
    }

    /// The description as text, checked by the strict parser.
    ///
    /// # Errors
    /// When a line does not match its grammar (an `ice-ufrag` of 3 characters, a token with a
    /// space ...); the error points into [`SessionBuilder::to_text`]'s output.
    pub fn build(&self) -> Result<String, Error> {
        let s = self.to_text();
        parse_with(&s, &ParseOptions::strict())?;
        Ok(s)
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
