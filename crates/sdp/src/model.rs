//! The typed description: every field borrows from the parsed text.
//!
//! Lists that the grammar defines as space- or semicolon-separated tokens (format lists, BUNDLE
//! mids, candidate extensions, fmtp parameters ...) are kept as the validated source slice and
//! read through iterators, so that parsing allocates nothing per attribute and writing reproduces
//! the input exactly.

#[cfg(feature = "serde")]
use serde::Serialize;

/// A whole session description (RFC 8866 §5): the session part, then the media descriptions.
///
/// Fields appear in the order the grammar fixes for their lines. `v=` is not stored: the only
/// version is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SessionDescription<'a> {
    /// `o=`, the originator and the session identifier.
    pub origin: Origin<'a>,
    /// `s=`, the textual session name (`-` in WebRTC).
    pub session_name: &'a str,
    /// `i=`, session information.
    pub information: Option<&'a str>,
    /// `u=`, a URI reference (RFC 3986), as written. Strict mode checks its characters and
    /// scheme; lenient mode keeps one that breaks them with a warning.
    pub uri: Option<&'a str>,
    /// `e=` lines, email addresses (`j.doe@example.com (Jane Doe)`, `Jane Doe
    /// <j.doe@example.com>`), as written; checked like `u=`.
    pub emails: Vec<&'a str>,
    /// `p=` lines, phone numbers (`+1 617 555-6011`, with a comment or a name), as written;
    /// checked like `u=`.
    pub phones: Vec<&'a str>,
    /// `c=` at session level.
    pub connection: Option<Connection<'a>>,
    /// `b=` lines at session level.
    pub bandwidths: Vec<Bandwidth<'a>>,
    /// The time descriptions: each `t=` line with its `r=` and `z=` lines.
    pub timings: Vec<Timing<'a>>,
    /// `k=` (obsolete encryption key: `prompt`, `clear:`, `base64:` or `uri:`), kept verbatim;
    /// checked like `u=`.
    pub key: Option<&'a str>,
    /// `a=` lines at session level, in input order.
    pub attributes: Vec<Attribute<'a>>,
    /// Lines of unknown type that lenient mode tolerated (full line text, such as `x=1`),
    /// written back after the attributes.
    pub other_lines: Vec<&'a str>,
    /// The media descriptions (`m=` sections), in input order.
    pub media: Vec<Media<'a>>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (RFC 8866 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Origin<'a> {
    /// The user's login, `-` when there is none.
    pub username: &'a str,
    /// Numeric session identifier (`1*DIGIT`), kept as written: it may exceed 64 bits.
    pub session_id: &'a str,
    /// Numeric session version (`1*DIGIT`), kept as written.
    pub session_version: &'a str,
    /// Network type, `IN`.
    pub net_type: NetType<'a>,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: AddrType<'a>,
    /// The address of the originating host (an IP address or a domain name).
    pub address: &'a str,
}

/// Network type (`nettype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum NetType<'a> {
    /// `IN`, the Internet.
    In,
    /// Any other token, verbatim.
    Other(&'a str),
}

/// Address type (`addrtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum AddrType<'a> {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Any other token, verbatim.
    Other(&'a str),
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Connection<'a> {
    /// Network type.
    pub net_type: NetType<'a>,
    /// Address type.
    pub addr_type: AddrType<'a>,
    /// The address without its `/ttl` and `/count` suffixes.
    pub address: &'a str,
    /// IPv4 multicast time to live (`/ttl`).
    pub ttl: Option<u8>,
    /// Number of multicast addresses (`/count`).
    pub count: Option<u32>,
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8, RFC 3890 for TIAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Bandwidth<'a> {
    /// The bandwidth type.
    pub kind: BandwidthType<'a>,
    /// The value (kbit/s for CT and AS, bit/s for TIAS).
    pub value: u64,
}

/// Bandwidth type (`bwtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum BandwidthType<'a> {
    /// `CT`, conference total.
    Ct,
    /// `AS`, application specific.
    As,
    /// `TIAS`, transport independent application specific (RFC 3890).
    Tias,
    /// `RR` (RFC 3556).
    Rr,
    /// `RS` (RFC 3556).
    Rs,
    /// Any other token, verbatim.
    Other(&'a str),
}

/// A time description (RFC 8866 §5.9 to §5.11): `t=<start-time> <stop-time>`, its `r=` lines
/// and the `z=` line that may follow them (`time-description = time-field [repeat-description]`,
/// `repeat-description = 1*repeat-field [zone-field]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Timing<'a> {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
    /// The `r=` lines that follow this `t=` line.
    pub repeats: Vec<Repeat<'a>>,
    /// The `z=` line after the `r=` lines: the time zone adjustments of these repeats. Lenient
    /// mode also takes the RFC 4566 form, a `z=` after the last `t=` with no `r=` before it.
    pub zone_adjustments: Option<ZoneAdjustments<'a>>,
}

/// A time value with an optional unit suffix (`typed-time`, RFC 8866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct TypedTime {
    /// Whether a `-` sign precedes the value (zone adjustments only).
    pub negative: bool,
    /// The number as written.
    pub value: u64,
    /// The unit suffix; `None` means seconds without suffix.
    pub unit: Option<TimeUnit>,
}

impl TypedTime {
    /// The value in seconds (saturating), negative when `negative` is set.
    #[must_use]
    pub fn seconds(&self) -> i128 {
        let mult: u64 = match self.unit {
            None | Some(TimeUnit::Seconds) => 1,
            Some(TimeUnit::Minutes) => 60,
            Some(TimeUnit::Hours) => 3600,
            Some(TimeUnit::Days) => 86_400,
        };
        let s = i128::from(self.value) * i128::from(mult);
        if self.negative { -s } else { s }
    }
}

/// Unit of a [`TypedTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum TimeUnit {
    /// `d`.
    Days,
    /// `h`.
    Hours,
    /// `m`.
    Minutes,
    /// `s`.
    Seconds,
}

/// `r=<repeat interval> <active duration> <offsets from start-time>` (RFC 8866 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Repeat<'a> {
    /// Repeat interval.
    pub interval: TypedTime,
    /// Active duration.
    pub duration: TypedTime,
    /// The offsets, validated, space separated; read them with [`Repeat::offsets`].
    pub offsets: &'a str,
}

impl<'a> Repeat<'a> {
    /// The offsets from the start time.
    pub fn offsets(&self) -> impl Iterator<Item = TypedTime> + use<'a> {
        self.offsets
            .split(' ')
            .filter(|s| !s.is_empty())
            .filter_map(crate::grammar::typed_time_str)
    }
}

/// `z=<adjustment time> <offset> ...` (RFC 8866 §5.11), kept as validated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct ZoneAdjustments<'a>(pub &'a str);

impl<'a> ZoneAdjustments<'a> {
    /// The `(adjustment time, offset)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, TypedTime)> + use<'a> {
        let mut parts = self.0.split(' ');
        std::iter::from_fn(move || {
            let t = parts.next()?.parse().ok()?;
            let o = crate::grammar::typed_time_str(parts.next()?)?;
            Some((t, o))
        })
    }
}

/// A media description: `m=` and the lines up to the next `m=` (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Media<'a> {
    /// Media type (`audio`, `video`, `application` ...).
    pub kind: MediaType<'a>,
    /// Transport port (9 in WebRTC before candidates are known, 0 for a rejected section).
    pub port: u16,
    /// Number of ports (`<port>/<number of ports>`).
    pub port_count: Option<u16>,
    /// Transport protocol, such as `UDP/TLS/RTP/SAVPF` or `UDP/DTLS/SCTP`.
    pub proto: &'a str,
    /// Media formats, space separated, validated; read them with [`Media::formats`].
    pub formats: &'a str,
    /// `i=`, media title.
    pub title: Option<&'a str>,
    /// `c=` lines of this section.
    pub connections: Vec<Connection<'a>>,
    /// `b=` lines of this section.
    pub bandwidths: Vec<Bandwidth<'a>>,
    /// `k=` of this section, verbatim; checked like the session's.
    pub key: Option<&'a str>,
    /// `a=` lines of this section, in input order.
    pub attributes: Vec<Attribute<'a>>,
    /// Lines of unknown type that lenient mode tolerated, written after the attributes.
    pub other_lines: Vec<&'a str>,
}

impl<'a> Media<'a> {
    /// A media section with no lines besides `m=`.
    #[must_use]
    pub fn new(kind: MediaType<'a>, port: u16, proto: &'a str, formats: &'a str) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            proto,
            formats,
            title: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
            other_lines: Vec::new(),
        }
    }

    /// The media formats (RTP payload types for RTP profiles). They are separated by single
    /// spaces, or by runs of spaces and tabs in what a lenient parse kept.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.formats.split([' ', '\t']).filter(|s| !s.is_empty())
    }

    /// The `a=mid` value, if present.
    #[must_use]
    pub fn mid(&self) -> Option<&'a str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Mid(m) => Some(*m),
            _ => None,
        })
    }

    /// The `a=candidate` lines of this section.
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate<'a>> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Candidate(c) => Some(c),
            _ => None,
        })
    }

    /// The direction attribute, `sendrecv` when none is present (RFC 8866 §6.7).
    #[must_use]
    pub fn direction(&self) -> Direction {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::Direction(d) => Some(*d),
                _ => None,
            })
            .unwrap_or(Direction::SendRecv)
    }

    /// The first attribute for which `f` returns `Some`.
    pub fn find<T>(&self, f: impl FnMut(&Attribute<'a>) -> Option<T>) -> Option<T> {
        self.attributes.iter().find_map(f)
    }
}

impl<'a> SessionDescription<'a> {
    /// The first session-level attribute for which `f` returns `Some`.
    pub fn find<T>(&self, f: impl FnMut(&Attribute<'a>) -> Option<T>) -> Option<T> {
        self.attributes.iter().find_map(f)
    }

    /// The `a=group:BUNDLE` mids, if present.
    pub fn bundle(&self) -> Option<impl Iterator<Item = &'a str> + use<'a>> {
        self.find(|a| match a {
            Attribute::Group(g) if g.semantics == "BUNDLE" => Some(*g),
            _ => None,
        })
        .map(|g| g.mids())
    }
}

/// Media type of an `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum MediaType<'a> {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `text`.
    Text,
    /// `application`.
    Application,
    /// `message`.
    Message,
    /// `image`.
    Image,
    /// Any other token, verbatim.
    Other(&'a str),
}

/// Media direction attributes (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum Direction {
    /// `sendrecv`.
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// One `a=` line.
///
/// Known attributes are typed; every other one is kept verbatim as [`Attribute::Other`]. In
/// lenient mode a known attribute whose value does not match its grammar is also kept as
/// `Other` (with a warning), so nothing is ever dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub enum Attribute<'a> {
    /// `a=ice-ufrag` (RFC 8839 §5.4), 4 to 256 ice-chars.
    IceUfrag(&'a str),
    /// `a=ice-pwd` (RFC 8839 §5.4), 22 to 256 ice-chars.
    IcePwd(&'a str),
    /// `a=ice-options` (RFC 8839 §5.6), space-separated tokens.
    IceOptions(IceOptions<'a>),
    /// `a=ice-pacing` (RFC 8839 §5.5): the pacing of new checks the agent wants, in
    /// milliseconds (50 when absent); both agents use the larger of the two. The grammar allows
    /// ten digits; values beyond `u32` (49 days) are refused as out of range.
    IcePacing(u32),
    /// `a=ice-lite` (RFC 8839 §5.3).
    IceLite,
    /// `a=ice-mismatch` (RFC 8839 §5.2).
    IceMismatch,
    /// `a=candidate` (RFC 8839 §5.1).
    Candidate(Candidate<'a>),
    /// `a=end-of-candidates` (RFC 8840 §8.2).
    EndOfCandidates,
    /// `a=remote-candidates` (RFC 8839 §5.2), kept as validated text.
    RemoteCandidates(&'a str),
    /// `a=fingerprint` (RFC 8122 §5).
    Fingerprint(Fingerprint<'a>),
    /// `a=setup` (RFC 4145 §4).
    Setup(Setup),
    /// `a=tls-id` (RFC 8842 §5).
    TlsId(&'a str),
    /// `a=mid` (RFC 5888 §4).
    Mid(&'a str),
    /// `a=group` (RFC 5888 §5).
    Group(Group<'a>),
    /// `a=msid` (RFC 8830 §2).
    Msid(Msid<'a>),
    /// `a=msid-semantic` (draft-ietf-mmusic-msid, still emitted by browsers).
    MsidSemantic(MsidSemantic<'a>),
    /// `a=extmap` (RFC 8285 §8).
    Extmap(Extmap<'a>),
    /// `a=extmap-allow-mixed` (RFC 8285 §6).
    ExtmapAllowMixed,
    /// `a=rtpmap` (RFC 8866 §6.6).
    Rtpmap(Rtpmap<'a>),
    /// `a=fmtp` (RFC 8866 §6.15).
    Fmtp(Fmtp<'a>),
    /// `a=rtcp` (RFC 3605).
    Rtcp(Rtcp<'a>),
    /// `a=rtcp-mux` (RFC 5761).
    RtcpMux,
    /// `a=rtcp-mux-only` (RFC 8858).
    RtcpMuxOnly,
    /// `a=rtcp-rsize` (RFC 5506).
    RtcpRsize,
    /// `a=rtcp-fb` (RFC 4585 §4.2).
    RtcpFb(RtcpFb<'a>),
    /// `a=ssrc` (RFC 5576 §4.1).
    Ssrc(Ssrc<'a>),
    /// `a=ssrc-group` (RFC 5576 §4.2).
    SsrcGroup(SsrcGroup<'a>),
    /// `a=rid` (RFC 8851 §10).
    Rid(Rid<'a>),
    /// `a=simulcast` (RFC 8853 §5.1).
    Simulcast(Simulcast<'a>),
    /// `a=sctp-port` (RFC 8841 §5).
    SctpPort(u16),
    /// `a=max-message-size` (RFC 8841 §6).
    MaxMessageSize(u64),
    /// `a=sctpmap` (draft-ietf-mmusic-sctp-sdp-05, still sent by old peers).
    Sctpmap(Sctpmap<'a>),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// `a=bundle-only` (RFC 8843 §6).
    BundleOnly,
    /// `a=ptime` in milliseconds (RFC 8866 §6.4).
    Ptime(Decimal<'a>),
    /// `a=maxptime` in milliseconds (RFC 8866 §6.5).
    Maxptime(Decimal<'a>),
    /// `a=framerate` in frames per second (RFC 8866 §6.17).
    Framerate(Decimal<'a>),
    /// Any other attribute, verbatim: `a=<name>` or `a=<name>:<value>`.
    Other {
        /// The attribute name.
        name: &'a str,
        /// The value after the first `:`, if there is one.
        value: Option<&'a str>,
    },
}

/// A positive number written as an integer or a decimal (`non-zero-int-or-real`), kept as
/// written so it is printed back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Decimal<'a>(pub &'a str);

impl Decimal<'_> {
    /// The value as a float.
    #[must_use]
    pub fn value(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }
}

/// `a=ice-options` tokens (RFC 8839 §5.6), such as `trickle` and `ice2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct IceOptions<'a>(pub &'a str);

impl<'a> IceOptions<'a> {
    /// The option tags.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `tag` is among the options.
    #[must_use]
    pub fn contains(&self, tag: &str) -> bool {
        self.iter().any(|t| t == tag)
    }
}

/// An ICE candidate (RFC 8839 §5.1):
/// `candidate:<foundation> <component-id> <transport> <priority> <connection-address> <port>
/// typ <cand-type> [raddr <addr>] [rport <port>] *(<extension-name> <extension-value>)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Candidate<'a> {
    /// 1 to 32 ice-chars.
    pub foundation: &'a str,
    /// Component ID, 1 for RTP (and everything when RTCP is multiplexed), 2 for RTCP; the parser
    /// takes 1 to 256 (RFC 8445 §4), in at most three digits.
    pub component: u16,
    /// Transport as written (`udp`, `UDP`, `tcp` ...); compare case-insensitively.
    pub transport: &'a str,
    /// Priority (RFC 8445 §5.1.2); the parser takes 1 to 2^31 − 1, in at most ten digits.
    pub priority: u32,
    /// Connection address: an IP address or an FQDN, such as an mDNS `<uuid>.local` name.
    pub address: &'a str,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub typ: CandidateType<'a>,
    /// `raddr`, the related address.
    pub related_address: Option<&'a str>,
    /// `rport`, the related port.
    pub related_port: Option<u16>,
    /// The extension attributes (`generation 0 network-id 1 ...`) as validated text; read them
    /// in order with [`Candidate::extensions`].
    pub extensions: &'a str,
}

impl<'a> Candidate<'a> {
    /// Parses a candidate attribute value, with or without its `candidate:` prefix (the form
    /// that trickle ICE signalling carries).
    ///
    /// # Errors
    /// When the text does not match RFC 8839's grammar; the error's `line` is 1.
    pub fn parse(text: &'a str) -> Result<Self, crate::Error> {
        let value = text.strip_prefix("candidate:").unwrap_or(text);
        crate::grammar::candidate_standalone(text, value)
    }

    /// The extension attributes as `(name, value)` pairs, in order.
    pub fn extensions(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let mut parts = self.extensions.split(' ').filter(|s| !s.is_empty());
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }

    /// The value of extension attribute `name` (such as `generation`, `ufrag` or `tcptype`).
    #[must_use]
    pub fn extension(&self, name: &str) -> Option<&'a str> {
        self.extensions()
            .find_map(|(n, v)| (n == name).then_some(v))
    }

    /// Whether the transport is UDP (case-insensitive, RFC 8839 §5.1).
    #[must_use]
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("udp")
    }
}

/// Candidate type (`cand-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum CandidateType<'a> {
    /// `host`.
    Host,
    /// `srflx`, server reflexive.
    Srflx,
    /// `prflx`, peer reflexive.
    Prflx,
    /// `relay`.
    Relay,
    /// Any other token, verbatim.
    Other(&'a str),
}

impl<'a> CandidateType<'a> {
    /// The token.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        match self {
            Self::Host => "host",
            Self::Srflx => "srflx",
            Self::Prflx => "prflx",
            Self::Relay => "relay",
            Self::Other(s) => s,
        }
    }
}

/// `a=fingerprint:<hash-func> <fingerprint>` (RFC 8122 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Fingerprint<'a> {
    /// Hash function as written (`sha-256`, `SHA-256` ...).
    pub hash_function: &'a str,
    /// Colon-separated upper- or lower-case hex bytes.
    pub fingerprint: &'a str,
}

impl Fingerprint<'_> {
    /// The fingerprint bytes, decoded into `out`; returns how many were written, `None` when
    /// `out` is too small.
    #[must_use]
    pub fn decode_into(&self, out: &mut [u8]) -> Option<usize> {
        let mut n = 0;
        for pair in self.fingerprint.split(':') {
            let b = u8::from_str_radix(pair, 16).ok()?;
            *out.get_mut(n)? = b;
            n += 1;
        }
        Some(n)
    }
}

/// `a=setup` role (RFC 4145 §4, RFC 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum Setup {
    /// `active`: this endpoint opens the connection (DTLS client).
    Active,
    /// `passive`: this endpoint accepts (DTLS server).
    Passive,
    /// `actpass`: either; offers use it.
    Actpass,
    /// `holdconn`.
    Holdconn,
}

impl Setup {
    /// The token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::Actpass => "actpass",
            Self::Holdconn => "holdconn",
        }
    }
}

/// `a=group:<semantics> *(SP <identification-tag>)` (RFC 5888 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Group<'a> {
    /// `BUNDLE`, `LS`, `FID` ...
    pub semantics: &'a str,
    /// The mids, space separated (may be empty); read them with [`Group::mids`].
    pub mids: &'a str,
}

impl<'a> Group<'a> {
    /// The identification tags.
    pub fn mids(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.mids.split(' ').filter(|s| !s.is_empty())
    }
}

/// `a=msid:<stream id> [<track id>]` (RFC 8830 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Msid<'a> {
    /// The MediaStream id (`-` for none).
    pub stream_id: &'a str,
    /// The track id ("appdata").
    pub track_id: Option<&'a str>,
}

/// `a=msid-semantic:[ ]<semantic> [<ids>]` as browsers still send it (`a=msid-semantic: WMS`,
/// `a=msid-semantic:WMS *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct MsidSemantic<'a> {
    /// Whether a space follows the colon (Chrome writes one).
    pub leading_space: bool,
    /// The semantic, `WMS`.
    pub semantic: &'a str,
    /// Stream ids (or `*`), space separated, possibly empty.
    pub ids: &'a str,
}

/// `a=extmap:<id>[/<direction>] <uri> [<extension attributes>]` (RFC 8285 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Extmap<'a> {
    /// Extension id, 1 to 14 (one-byte) or up to 255 (two-byte); 4095 allowed by the grammar.
    pub id: u16,
    /// Optional direction.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: &'a str,
    /// Extension attributes after the URI, verbatim.
    pub attributes: Option<&'a str>,
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Rtpmap<'a> {
    /// RTP payload type, 0 to 127.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `H264` ...).
    pub encoding_name: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters (channel count for audio), verbatim.
    pub encoding_params: Option<&'a str>,
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Fmtp<'a> {
    /// The format (payload type for RTP).
    pub format: &'a str,
    /// The parameters verbatim, usually `key=value;key=value`.
    pub params: &'a str,
}

impl<'a> Fmtp<'a> {
    /// The `;`-separated parameters as `(key, value)`, value empty for flags.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        self.params
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|p| {
                p.split_once('=')
                    .map_or((p, ""), |(k, v)| (k.trim(), v.trim()))
            })
    }

    /// The value of parameter `key`.
    #[must_use]
    pub fn param(&self, key: &str) -> Option<&'a str> {
        self.params().find_map(|(k, v)| (k == key).then_some(v))
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Rtcp<'a> {
    /// The RTCP port.
    pub port: u16,
    /// The optional address.
    pub address: Option<(NetType<'a>, AddrType<'a>, &'a str)>,
}

/// `a=rtcp-fb:<payload type or *> <type> [<parameters>]` (RFC 4585 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct RtcpFb<'a> {
    /// The payload type or `*`.
    pub payload_type: &'a str,
    /// Feedback type (`nack`, `ccm`, `goog-remb`, `transport-cc` ...).
    pub feedback: &'a str,
    /// Parameters (`pli`, `fir` ...), verbatim.
    pub param: Option<&'a str>,
}

/// `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Ssrc<'a> {
    /// The SSRC.
    pub ssrc: u32,
    /// Source attribute name (`cname`, `msid` ...).
    pub attribute: &'a str,
    /// Its value.
    pub value: Option<&'a str>,
}

/// `a=ssrc-group:<semantics> *(SP <ssrc-id>)` (RFC 5576 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SsrcGroup<'a> {
    /// `FID`, `SIM`, `FEC-FR` ...
    pub semantics: &'a str,
    /// The SSRCs, validated; read them with [`SsrcGroup::ssrcs`].
    pub ssrcs: &'a str,
}

impl<'a> SsrcGroup<'a> {
    /// The SSRCs.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + use<'a> {
        self.ssrcs.split(' ').filter_map(|s| s.parse().ok())
    }
}

/// `a=rid:<rid-id> <send|recv> [<restrictions>]` (RFC 8851 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Rid<'a> {
    /// The RTP stream id.
    pub id: &'a str,
    /// `send` or `recv`.
    pub direction: RidDirection,
    /// `pt=` and restrictions, verbatim.
    pub restrictions: Option<&'a str>,
}

/// Direction of a [`Rid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub enum RidDirection {
    /// `send`.
    Send,
    /// `recv`.
    Recv,
}

/// `a=simulcast:<send|recv> <streams> [<send|recv> <streams>]` (RFC 8853 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Simulcast<'a> {
    /// The first direction and its stream list.
    pub first: (RidDirection, &'a str),
    /// The optional second direction and its stream list.
    pub second: Option<(RidDirection, &'a str)>,
}

impl<'a> Simulcast<'a> {
    /// The stream list for `dir`: alternatives per stream (`;` separates streams, `,`
    /// alternatives); a leading `~` marks a paused stream.
    #[must_use]
    pub fn streams(&self, dir: RidDirection) -> Option<&'a str> {
        if self.first.0 == dir {
            return Some(self.first.1);
        }
        self.second.and_then(|(d, s)| (d == dir).then_some(s))
    }

    /// The rids of `dir`, flattened over streams and alternatives, `~` removed.
    pub fn rids(&self, dir: RidDirection) -> impl Iterator<Item = &'a str> + use<'a> {
        self.streams(dir)
            .unwrap_or("")
            .split([';', ','])
            .filter(|s| !s.is_empty())
            .map(|s| s.strip_prefix('~').unwrap_or(s))
    }
}

/// `a=sctpmap:<number> <app> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Sctpmap<'a> {
    /// The SCTP port.
    pub number: u16,
    /// The application, `webrtc-datachannel`.
    pub app: &'a str,
    /// The number of streams.
    pub streams: Option<u32>,
}
