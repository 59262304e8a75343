//! Peer policy: where a TURN server may relay to (and where a client may be redirected to).
//!
//! Denied by default: every special-purpose range of the IANA IPv4 and IPv6 registries and the
//! server's own addresses, after reducing each IPv4-in-IPv6 encoding (mapped, compatible,
//! translated, 6to4, NAT64, Teredo server and obfuscated client) to the IPv4 address inside it,
//! so that `::ffff:127.0.0.1`, `::127.0.0.1`, `2002:7f00:1::` and `64:ff9b::7f00:1` are all
//! loopback. An explicit allow-list of CIDR blocks overrides the defaults. A malformed allow-list
//! entry is an error, never a silently wider or narrower policy (fail closed).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// An IPv4 or IPv6 block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR or policy entry was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// The address part is not an IP address.
    BadAddress,
    /// The prefix is not a number, or is longer than the address.
    BadPrefix,
    /// Bits are set after the prefix (`10.0.0.1/8`): ambiguous, so refused.
    HostBitsSet,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadAddress => "not an IP address",
            Self::BadPrefix => "bad prefix length",
            Self::HostBitsSet => "address has bits set beyond the prefix length",
        })
    }
}

impl std::error::Error for PolicyError {}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    all & !((1u128 << (width - prefix)) - 1)
}

impl Cidr {
    /// A block; fails when the prefix is too long or host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, PolicyError> {
        let (v, width) = bits(addr);
        if prefix > width {
            return Err(PolicyError::BadPrefix);
        }
        if v & !mask(prefix, width) != 0 {
            return Err(PolicyError::HostBitsSet);
        }
        Ok(Self { addr, prefix })
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Self {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    /// Whether `ip` is inside the block (families must match).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, w1) = bits(self.addr);
        let (v, w2) = bits(ip);
        w1 == w2 && (v & mask(self.prefix, w1)) == net
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = PolicyError;

    /// Parses `ADDR/PREFIX`, or a bare address as a single-host block. Nothing else: no
    /// whitespace, no shortened IPv4 (`10/8`), no leading `+`.
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| PolicyError::BadAddress)?;
        let prefix = match prefix {
            None => bits(addr).1,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| PolicyError::BadPrefix)?
            }
            Some(_) => return Err(PolicyError::BadPrefix),
        };
        Self::new(addr, prefix)
    }
}

/// IPv4 special-purpose blocks (IANA registry, RFC 6890 and successors) plus multicast and the
/// reserved class E space: none of these is a peer a public relay should send to.
pub const DENIED_V4: &[Cidr] = &[
    Cidr::v4(0, 0, 0, 0, 8),       // "this network", includes 0.0.0.0 (RFC 791)
    Cidr::v4(10, 0, 0, 0, 8),      // private (RFC 1918)
    Cidr::v4(100, 64, 0, 0, 10),   // carrier-grade NAT (RFC 6598)
    Cidr::v4(127, 0, 0, 0, 8),     // loopback
    Cidr::v4(169, 254, 0, 0, 16),  // link-local, incl. 169.254.169.254 cloud metadata
    Cidr::v4(172, 16, 0, 0, 12),   // private
    Cidr::v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    Cidr::v4(192, 0, 2, 0, 24),    // documentation TEST-NET-1
    Cidr::v4(192, 31, 196, 0, 24), // AS112-v4
    Cidr::v4(192, 52, 193, 0, 24), // AMT
    Cidr::v4(192, 88, 99, 0, 24),  // deprecated 6to4 relay anycast
    Cidr::v4(192, 168, 0, 0, 16),  // private
    Cidr::v4(192, 175, 48, 0, 24), // direct delegation AS112
    Cidr::v4(198, 18, 0, 0, 15),   // benchmarking
    Cidr::v4(198, 51, 100, 0, 24), // documentation TEST-NET-2
    Cidr::v4(203, 0, 113, 0, 24),  // documentation TEST-NET-3
    Cidr::v4(224, 0, 0, 0, 4),     // multicast
    Cidr::v4(240, 0, 0, 0, 4),     // reserved, incl. 255.255.255.255 broadcast
];

/// IPv6 special-purpose blocks. The IPv4-embedding prefixes are handled by [`embedded_v4`];
/// those that are never global (and `::`, `::1`) are listed here as well.
pub const DENIED_V6: &[Cidr] = &[
    Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), // ::/96: ::, ::1, deprecated compatible
    Cidr::v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), // IPv4-mapped: use an IPv4 peer instead
    Cidr::v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // IPv4-translated (RFC 2765)
    Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64 (RFC 8215)
    Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only (RFC 6666)
    Cidr::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, incl. Teredo
    Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
    Cidr::v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // SRv6 SIDs (RFC 9602)
    Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
    Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // deprecated site-local
    Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

/// The IPv4 addresses an IPv6 address carries, by each encoding that routes to IPv4: mapped
/// `::ffff:a.b.c.d`, compatible `::a.b.c.d`, translated `::ffff:0:a.b.c.d`, 6to4
/// `2002:AABB:CCDD::/48`, NAT64 `64:ff9b::a.b.c.d`, and Teredo `2001:0:SSSS:SSSS:..:~CCCC:~CCCC`
/// (the server address and the obfuscated client address). Up to two addresses.
pub fn embedded_v4(ip: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let s = ip.segments();
    let o = ip.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => [Some(last), None],
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => [Some(last), None],
        [0x2002, _, _, ..] => [Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])), None],
        [0x2001, 0, ..] => {
            let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
            let client = Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]);
            [Some(client), Some(server)]
        }
        _ => [None, None],
    }
}

/// The address a packet to `ip` really reaches: the IPv4 address inside an IPv4-mapped,
/// compatible, translated, 6to4, NAT64 or Teredo (client) address, else `ip` itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6)[0].map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip`, or any IPv4 address embedded in it, is in a special-purpose block.
pub fn is_special_purpose(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => DENIED_V4.iter().any(|c| c.contains(ip)),
        IpAddr::V6(v6) => {
            DENIED_V6.iter().any(|c| c.contains(ip))
                || embedded_v4(v6)
                    .into_iter()
                    .flatten()
                    .any(|v4| DENIED_V4.iter().any(|c| c.contains(IpAddr::V4(v4))))
        }
    }
}

/// Longest allow-list accepted (bounded memory and lookup time).
pub const MAX_ALLOW_ENTRIES: usize = 1024;
/// Most own addresses a policy holds.
pub const MAX_OWN_ADDRESSES: usize = 256;

/// Where relaying is permitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    allow: Vec<Cidr>,
    own: Vec<IpAddr>,
}

impl PeerPolicy {
    /// The default policy: every special-purpose range denied, nothing explicitly allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy with an allow-list of CIDR strings (`127.0.0.0/8`, `::1`). Any malformed entry,
    /// or more than [`MAX_ALLOW_ENTRIES`], fails the whole policy.
    pub fn with_allow_list<S: AsRef<str>>(entries: &[S]) -> Result<Self, PolicyError> {
        if entries.len() > MAX_ALLOW_ENTRIES {
            return Err(PolicyError::BadPrefix);
        }
        let allow = entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<Cidr>, _>>()?;
        Ok(Self {
            allow,
            own: Vec::new(),
        })
    }

    /// Adds an allowed block.
    pub fn allow(&mut self, cidr: Cidr) {
        if self.allow.len() < MAX_ALLOW_ENTRIES {
            self.allow.push(cidr);
        }
    }

    /// Denies one of the server's own addresses (listening or relay IPs), and its canonical
    /// form. Beyond [`MAX_OWN_ADDRESSES`] entries the call is ignored.
    pub fn deny_own(&mut self, ip: IpAddr) {
        if self.own.len() < MAX_OWN_ADDRESSES && !self.own.contains(&ip) {
            self.own.push(ip);
        }
    }

    /// The allow-list.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allow
    }

    /// Whether relaying to `ip` is permitted: an explicit allow entry matching `ip` or its
    /// canonical form wins; otherwise special-purpose ranges and own addresses are denied.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canon = canonical(ip);
        if self
            .allow
            .iter()
            .any(|c| c.contains(ip) || c.contains(canon))
        {
            return true;
        }
        let own = self.own.iter().any(|o| *o == ip || canonical(*o) == canon);
        !own && !is_special_purpose(ip)
    }

    /// Whether `ip` is refused only for being one of the server's own addresses: no
    /// special-purpose range covers it (and no allow entry names it).
    pub fn denies_only_as_own(&self, ip: IpAddr) -> bool {
        !self.permits(ip) && !is_special_purpose(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_cidr_fails_closed() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "10/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.1/8",
            " 10.0.0.0/8",
            "10.0.0.0/+8",
            "::/129",
            "x",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert!(PeerPolicy::with_allow_list(&["127.0.0.0/8", "nonsense"]).is_err());
    }

    #[test]
    fn embedded_forms_are_canonicalised() {
        for s in [
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::7f00:1",
            "::ffff:0:7f00:1",
        ] {
            assert_eq!(canonical(ip(s)), ip("127.0.0.1"), "{s}");
            assert!(!PeerPolicy::new().permits(ip(s)), "{s}");
        }
        // Teredo: client 127.0.0.1 obfuscated as 80ff:fffe.
        assert_eq!(
            canonical(ip("2001:0:4136:e378:8000:63bf:80ff:fffe")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn public_addresses_pass_and_allow_overrides() {
        let p = PeerPolicy::new();
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(p.permits(ip(s)), "{s}");
        }
        // An IPv6 peer must be a real IPv6 address: the mapped and compatible forms of even a
        // public IPv4 address are refused (ask for an IPv4 peer instead).
        assert!(!p.permits(ip("::ffff:8.8.8.8")) && !p.permits(ip("::8.8.8.8")));
        let mut p = PeerPolicy::with_allow_list(&["127.0.0.0/8"]).unwrap();
        assert!(p.permits(ip("127.0.0.1")) && p.permits(ip("::ffff:127.0.0.1")));
        assert!(!p.permits(ip("10.0.0.1")));
        p.deny_own(ip("203.0.114.9"));
        assert!(!p.permits(ip("203.0.114.9")) && !p.permits(ip("::ffff:203.0.114.9")));
        // 203.0.114.9 is outside the documentation ranges: refused only as our own.
        assert!(p.denies_only_as_own(ip("203.0.114.9")));
        p.deny_own(ip("127.0.0.1"));
        assert!(!p.denies_only_as_own(ip("127.0.0.1")));
        assert!(!p.denies_only_as_own(ip("8.8.8.8")));
    }
}
