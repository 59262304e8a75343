//! Candidates (RFC 8445 §5.1), their priorities and the candidate line of RFC 8839.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use icebreaker_sdp::{Candidate as SdpCandidate, CandidateType};

/// The kind of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// An address a STUN server saw (RFC 8445 §5.1.1.2).
    ServerReflexive,
    /// An address learned from a connectivity check (RFC 8445 §7.2.5.3.1).
    PeerReflexive,
    /// An address on a TURN server.
    Relayed,
}

impl CandidateKind {
    /// The recommended type preference of RFC 8445 §5.1.2.2.
    pub const fn type_preference(self) -> u8 {
        match self {
            Self::Host => 126,
            Self::PeerReflexive => 110,
            Self::ServerReflexive => 100,
            Self::Relayed => 0,
        }
    }

    /// The `typ` token: `host`, `srflx`, `prflx` or `relay`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::ServerReflexive => "srflx",
            Self::PeerReflexive => "prflx",
            Self::Relayed => "relay",
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A candidate's transport. TCP candidates (RFC 6544) are parsed and carried, not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP with its `tcptype` (`None` when the line did not say).
    Tcp(Option<TcpType>),
}

/// The RFC 6544 `tcptype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// `active`.
    Active,
    /// `passive`.
    Passive,
    /// `so` (simultaneous open).
    So,
}

/// RFC 8445 §5.1.2.1: priority = 2^24 × type preference + 2^8 × local preference + (256 − component).
pub const fn candidate_priority(type_pref: u8, local_pref: u16, component: u16) -> u32 {
    let component = if component == 0 {
        1
    } else if component > 256 {
        256
    } else {
        component
    };
    ((type_pref as u32) << 24) | ((local_pref as u32) << 8) | (256 - component as u32)
}

/// RFC 8445 §6.1.2.3: pair priority = 2^32 × MIN(G, D) + 2 × MAX(G, D) + (G > D ? 1 : 0), where G
/// is the controlling agent's candidate priority and D the controlled agent's.
pub const fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (controlling as u64, controlled as u64);
    let (min, max) = if g < d { (g, d) } else { (d, g) };
    (min << 32) + 2 * max + if g > d { 1 } else { 0 }
}

/// The local preference of the `rank`-th (from 0) candidate of its type and address family
/// (RFC 8421 §4): the families alternate, IPv6 first (IPv6 rank 0, IPv4 rank 0, IPv6 rank 1,
/// ...), so a broken family costs the other one check per candidate rather than one per
/// candidate of its own, while every local preference stays distinct. An IPv4-mapped IPv6
/// address counts as IPv4.
pub fn local_preference(ip: &IpAddr, rank: usize) -> u16 {
    // At most 0x7ffe × 2 + 1 = 0xfffd below 0xffff: never negative.
    let step = 2 * rank.min(0x7ffe) + usize::from(!is_ipv6(ip));
    u16::try_from(0xffff - step).unwrap_or(0)
}

/// Whether `ip` counts as IPv6 for [`local_preference`].
pub(crate) fn is_ipv6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none())
}

/// One candidate, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Candidates with the same foundation share a type, base IP, server and transport.
    pub foundation: String,
    /// Component (1 for RTP or a data channel, 2 for RTCP).
    pub component: u16,
    /// Transport.
    pub transport: Transport,
    /// Priority.
    pub priority: u32,
    /// The transport address. For an unresolved mDNS candidate the IP is unspecified and
    /// [`hostname`](Self::hostname) holds the name.
    pub address: SocketAddr,
    /// The mDNS host name (`<uuid>.local`), when the line carried one.
    pub hostname: Option<String>,
    /// Kind.
    pub kind: CandidateKind,
    /// `raddr`/`rport`: the related address (base of a reflexive candidate, mapped address of a
    /// relayed one). Informational only; a related address that is not an IP address (an FQDN)
    /// is not kept.
    pub related: Option<SocketAddr>,
    /// Extension attributes (`generation`, `ufrag`, `network-id`, `network-cost`, unknown
    /// ones), in order.
    pub extensions: Vec<(String, String)>,
}

/// Why a candidate line was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateError {
    /// The line does not follow RFC 8839's grammar (the SDP parser's error, as text).
    Syntax(String),
    /// The transport is neither UDP nor TCP.
    UnsupportedTransport,
    /// The candidate type is not host, srflx, prflx or relay.
    UnknownType,
    /// The connection address is neither an IP address nor an mDNS `.local` name.
    BadAddress,
    /// The component is 0 or above 256.
    BadComponent,
}

impl fmt::Display for CandidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(e) => write!(f, "bad candidate line: {e}"),
            Self::UnsupportedTransport => f.write_str("candidate transport is neither UDP nor TCP"),
            Self::UnknownType => f.write_str("unknown candidate type"),
            Self::BadAddress => f.write_str("candidate address is neither an IP nor an mDNS name"),
            Self::BadComponent => f.write_str("candidate component must be 1 to 256"),
        }
    }
}

impl std::error::Error for CandidateError {}

impl Candidate {
    /// A local candidate. The priority is computed from the kind, `local_pref` and component.
    pub fn new(
        kind: CandidateKind,
        address: SocketAddr,
        local_pref: u16,
        component: u16,
        foundation: String,
    ) -> Self {
        Self {
            foundation,
            component,
            transport: Transport::Udp,
            priority: candidate_priority(kind.type_preference(), local_pref, component),
            address,
            hostname: None,
            kind,
            related: None,
            extensions: Vec::new(),
        }
    }

    /// Parses a candidate line (`candidate:...`, with or without the prefix) as trickle ICE and
    /// SDP carry it.
    pub fn parse(line: &str) -> Result<Self, CandidateError> {
        let c =
            SdpCandidate::parse(line.trim()).map_err(|e| CandidateError::Syntax(e.to_string()))?;
        Self::try_from(&c)
    }

    /// Whether this is an unresolved mDNS candidate.
    pub fn needs_resolution(&self) -> bool {
        self.hostname.is_some() && self.address.ip().is_unspecified()
    }

    /// The value of an extension attribute.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl TryFrom<&SdpCandidate<'_>> for Candidate {
    type Error = CandidateError;

    fn try_from(c: &SdpCandidate<'_>) -> Result<Self, CandidateError> {
        if c.component == 0 || c.component > 256 {
            return Err(CandidateError::BadComponent);
        }
        // `raddr` and `rport` are the grammar's own words: as extension names they would be
        // read back as the related address, so such a line has no single meaning.
        if c.extensions().any(|(n, _)| n == "raddr" || n == "rport") {
            return Err(CandidateError::Syntax(
                "raddr or rport used as an extension attribute".into(),
            ));
        }
        let transport = if c.transport.eq_ignore_ascii_case("udp") {
            Transport::Udp
        } else if c.transport.eq_ignore_ascii_case("tcp") {
            Transport::Tcp(match c.extension("tcptype") {
                Some("active") => Some(TcpType::Active),
                Some("passive") => Some(TcpType::Passive),
                Some("so") => Some(TcpType::So),
                _ => None,
            })
        } else {
            return Err(CandidateError::UnsupportedTransport);
        };
        let kind = match c.typ {
            CandidateType::Host => CandidateKind::Host,
            CandidateType::Srflx => CandidateKind::ServerReflexive,
            CandidateType::Prflx => CandidateKind::PeerReflexive,
            CandidateType::Relay => CandidateKind::Relayed,
            CandidateType::Other(_) => return Err(CandidateError::UnknownType),
        };
        let (address, hostname) = match c.address.parse::<IpAddr>() {
            Ok(ip) => (SocketAddr::new(ip, c.port), None),
            Err(_) if is_mdns_name(c.address) => (
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), c.port),
                Some(c.address.to_ascii_lowercase()),
            ),
            Err(_) => return Err(CandidateError::BadAddress),
        };
        let related = match (
            c.related_address.and_then(|a| a.parse::<IpAddr>().ok()),
            c.related_port,
        ) {
            (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
            _ => None,
        };
        Ok(Self {
            foundation: c.foundation.to_string(),
            component: c.component,
            transport,
            priority: c.priority,
            address,
            hostname,
            kind,
            related,
            extensions: c
                .extensions()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        })
    }
}

/// An mDNS candidate name: labels of letters, digits and hyphens ending in `.local`.
fn is_mdns_name(s: &str) -> bool {
    let Some(split) = s.len().checked_sub(6) else {
        return false;
    };
    let (Some(stem), Some(suffix)) = (s.get(..split), s.get(split..)) else {
        return false;
    };
    suffix.eq_ignore_ascii_case(".local")
        && s.len() <= 253
        && stem.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Candidate {
    /// The candidate line as trickle ICE carries it: `candidate:<foundation> <component> ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp(_) => "tcp",
        };
        write!(
            f,
            "candidate:{} {} {} {} ",
            self.foundation, self.component, transport, self.priority
        )?;
        match &self.hostname {
            Some(name) if self.address.ip().is_unspecified() => write!(f, "{name}")?,
            _ => write!(f, "{}", self.address.ip())?,
        }
        write!(f, " {} typ {}", self.address.port(), self.kind)?;
        if let Some(r) = self.related {
            write!(f, " raddr {} rport {}", r.ip(), r.port())?;
        }
        for (n, v) in &self.extensions {
            write!(f, " {n} {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_rfc8445() {
        // Host, local preference 65535, component 1: 126 << 24 | 65535 << 8 | 255.
        assert_eq!(candidate_priority(126, 65535, 1), 2_130_706_431);
        assert_eq!(candidate_priority(0, 0, 256), 0);
        let (g, d) = (2_130_706_431u32, 1_694_498_815u32);
        assert_eq!(
            pair_priority(g, d),
            (u64::from(d) << 32) + 2 * u64::from(g) + 1
        );
        assert_eq!(pair_priority(d, g), (u64::from(d) << 32) + 2 * u64::from(g));
        assert!(
            local_preference(&"::2".parse().unwrap(), 0)
                > local_preference(&"10.0.0.1".parse().unwrap(), 0)
        );
    }

    /// RFC 8421 §4: IPv6 and IPv4 alternate, IPv6 first, all distinct, down to the last rank.
    #[test]
    fn local_preferences_interleave_the_families() {
        let (v6, v4, mapped): (IpAddr, IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        );
        let order = [
            local_preference(&v6, 0),
            local_preference(&v4, 0),
            local_preference(&v6, 1),
            local_preference(&v4, 1),
            local_preference(&v6, 2),
        ];
        assert_eq!(order, [0xffff, 0xfffe, 0xfffd, 0xfffc, 0xfffb]);
        assert_eq!(local_preference(&mapped, 3), local_preference(&v4, 3));
        assert_eq!(local_preference(&v4, 0x7ffe), 2);
        assert_eq!(local_preference(&v4, usize::MAX), 2);
        assert_eq!(local_preference(&v6, usize::MAX), 3);
    }

    #[test]
    fn parse_and_write_round_trip() {
        for line in [
            "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0 network-id 1",
            "candidate:842163049 1 udp 1677729535 198.51.100.7 40000 typ srflx raddr 10.0.0.2 rport 50000 generation 0",
            "candidate:3 1 udp 2122262783 2001:db8::1 50001 typ host",
            "candidate:4 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active",
            "candidate:5 1 udp 2122260223 1f4712db-ea17-4bcf-a596-105139dfd8bf.local 54321 typ host",
            "candidate:6 1 udp 25108223 203.0.113.9 61000 typ relay raddr 198.51.100.7 rport 40000 x-unknown yes",
        ] {
            let c = Candidate::parse(line).unwrap();
            assert_eq!(c.to_string(), line);
        }
        let m = Candidate::parse("candidate:5 1 udp 1 ABC-def.local 9 typ host").unwrap();
        assert!(m.needs_resolution());
        assert_eq!(m.hostname.as_deref(), Some("abc-def.local"));
    }

    #[test]
    fn rejects_what_the_agent_cannot_use() {
        assert_eq!(
            Candidate::parse("candidate:1 1 sctp 1 192.0.2.1 9 typ host"),
            Err(CandidateError::UnsupportedTransport)
        );
        assert_eq!(
            Candidate::parse("candidate:1 1 udp 1 example.com 9 typ host"),
            Err(CandidateError::BadAddress)
        );
        assert!(matches!(
            Candidate::parse("candidate:1 1 udp"),
            Err(CandidateError::Syntax(_))
        ));
    }
}
