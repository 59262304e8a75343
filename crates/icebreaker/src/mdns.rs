//! Resolving the mDNS host names browsers put in their host candidates (`<uuid>.local`,
//! draft-ietf-mmusic-mdns-ice-candidates): a one-shot multicast DNS query (RFC 6762 §5.1) for
//! the name's A and AAAA records, and the first matching answer.
//!
//! The codec is sans-IO and takes untrusted bytes: [`answer`] never panics, follows at most a
//! few compression pointers and reads nothing outside the datagram. [`resolve`] is the tokio
//! side: it sends the query from an ephemeral port (so responders answer by unicast, RFC 6762
//! §6.7), retransmits once, and gives up after a bounded time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Where mDNS queries go over IPv4 (RFC 6762 §3).
pub const MDNS_V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 5353);

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// The unicast-response bit of a question's class (RFC 6762 §5.4).
const QU: u16 = 0x8000;
/// DNS names are at most 255 bytes on the wire (RFC 1035 §3.1).
const MAX_NAME: usize = 255;
/// Compression pointers followed per name before the answer is refused as a loop.
const MAX_JUMPS: usize = 16;

/// Why a name cannot be queried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Not a `.local` name.
    NotLocal,
    /// An empty label, a label over 63 bytes, or a name over 255 bytes.
    BadLabel,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLocal => f.write_str("not an mDNS (.local) name"),
            Self::BadLabel => f.write_str("an empty or over-long label"),
        }
    }
}

impl std::error::Error for NameError {}

/// Writes a query for `name`'s A and AAAA records into `out` (cleared first), with the
/// transaction id `id` and the unicast-response bit set.
pub fn query(name: &str, id: u16, out: &mut Vec<u8>) -> Result<(), NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let local = name
        .len()
        .checked_sub(".local".len())
        .and_then(|i| name.as_bytes().get(i..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(b".local"));
    if !local {
        return Err(NameError::NotLocal);
    }
    if name.len() + 2 > MAX_NAME {
        return Err(NameError::BadLabel);
    }
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    for qtype in [TYPE_A, TYPE_AAAA] {
        for label in name.split('.') {
            let len = u8::try_from(label.len()).map_err(|_| NameError::BadLabel)?;
            if len == 0 || len > 63 {
                return Err(NameError::BadLabel);
            }
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&(CLASS_IN | QU).to_be_bytes());
    }
    Ok(())
}

/// The address `packet` (a DNS response) gives for `name`: the first A or AAAA record for it
/// in any section. `None` for anything else, malformed input included.
pub fn answer(packet: &[u8], name: &str) -> Option<IpAddr> {
    let want = name.strip_suffix('.').unwrap_or(name);
    let header = packet.get(..12)?;
    if header[2] & 0x80 == 0 {
        return None; // a query, not a response
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    let questions = count(4);
    let records = count(6) + count(8) + count(10);
    let mut at = 12;
    let mut scratch = [0u8; MAX_NAME];
    for _ in 0..questions {
        at = read_name(packet, at, &mut scratch)?.0;
        at = at.checked_add(4).filter(|&a| a <= packet.len())?;
    }
    for _ in 0..records {
        let (next, len) = read_name(packet, at, &mut scratch)?;
        let fixed = packet.get(next..next + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]) & 0x7FFF; // cache-flush bit
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = packet.get(next + 10..next + 10 + rdlen)?;
        at = next + 10 + rdlen;
        let same = scratch
            .get(..len)
            .is_some_and(|n| n.eq_ignore_ascii_case(want.as_bytes()));
        if !same || class != CLASS_IN {
            continue;
        }
        match (rtype, rdata.len()) {
            (TYPE_A, 4) => {
                let b: [u8; 4] = rdata.try_into().ok()?;
                return Some(IpAddr::V4(Ipv4Addr::from(b)));
            }
            (TYPE_AAAA, 16) => {
                let b: [u8; 16] = rdata.try_into().ok()?;
                return Some(IpAddr::V6(Ipv6Addr::from(b)));
            }
            _ => {}
        }
    }
    None
}

/// Reads the (possibly compressed) name at `at` as dotted text into `out`; returns where the
/// record continues and the text's length.
fn read_name(packet: &[u8], mut at: usize, out: &mut [u8; MAX_NAME]) -> Option<(usize, usize)> {
    let mut len = 0;
    let mut resume = None;
    let mut jumps = 0;
    loop {
        let b = *packet.get(at)?;
        match b {
            0 => return Some((resume.unwrap_or(at + 1), len)),
            1..=63 => {
                let label = packet.get(at + 1..at + 1 + usize::from(b))?;
                let dot = usize::from(len > 0);
                let end = len + dot + label.len();
                if end > MAX_NAME {
                    return None;
                }
                if dot == 1 {
                    out[len] = b'.';
                }
                out[len + dot..end].copy_from_slice(label);
                len = end;
                at += 1 + label.len();
            }
            0xC0..=0xFF => {
                let lo = *packet.get(at + 1)?;
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                resume.get_or_insert(at + 2);
                at = usize::from(u16::from_be_bytes([b & 0x3F, lo]));
            }
            _ => return None, // 0x40 and 0x80 label types are not in use
        }
    }
}

/// Whether a response from `source` comes from the local link (RFC 6762 §11): a loopback or
/// IPv6 link-local source, or one inside the subnet of one of `subnets` (this host's interface
/// addresses with their netmasks). A querier "MUST only accept responses ... that originate
/// from the local link", so that a remote host cannot plant an address for a `.local` name.
pub fn on_link(source: IpAddr, subnets: &[(IpAddr, IpAddr)]) -> bool {
    let source = source.to_canonical();
    let link_local_v6 = matches!(source, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    source.is_loopback()
        || link_local_v6
        || subnets.iter().any(|(ip, mask)| match (source, ip, mask) {
            // No netmask known (reported as all zeros): that says nothing about the link.
            (_, _, IpAddr::V4(m)) if m.is_unspecified() => false,
            (_, _, IpAddr::V6(m)) if m.is_unspecified() => false,
            (IpAddr::V4(s), IpAddr::V4(ip), IpAddr::V4(m)) => {
                (s.to_bits() ^ ip.to_bits()) & m.to_bits() == 0
            }
            (IpAddr::V6(s), IpAddr::V6(ip), IpAddr::V6(m)) => {
                (s.to_bits() ^ ip.to_bits()) & m.to_bits() == 0
            }
            _ => false,
        })
}

/// This host's interface addresses and netmasks, for [`on_link`] (none when they cannot be
/// listed: then only loopback and IPv6 link-local sources are on the link).
fn local_subnets() -> Vec<(IpAddr, IpAddr)> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| match i.addr {
                if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), IpAddr::V4(a.netmask)),
                if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), IpAddr::V6(a.netmask)),
            })
            .collect(),
        Err(e) => {
            tracing::debug!("cannot list the network interfaces: {e}");
            Vec::new()
        }
    }
}

/// Asks `to` (normally [`MDNS_V4`]) for `name`'s address and waits at most `limit` for the
/// answer; the query goes out twice, 250 ms apart. `None` when nobody answered in time or the
/// name cannot be queried. Only responses from the local link ([`on_link`]) that repeat the
/// query's id (which responders do for a query from an ephemeral port, RFC 6762 §6.7) count.
pub async fn resolve(name: &str, to: SocketAddr, limit: Duration) -> Option<IpAddr> {
    use rand_chacha::rand_core::Rng as _;
    // Responders echo the id of a query from an ephemeral port (RFC 6762 §6.7); a fresh one per
    // query keeps stale answers apart. The answer is matched by name in any case.
    let id = crate::entropy::os_seeded_rng().ok()?.next_u32() as u16;
    let mut q = Vec::new();
    query(name, id, &mut q).ok()?;
    let bind = if to.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(bind).await.ok()?;
    let subnets = local_subnets();
    if to.ip().is_multicast() && to.is_ipv4() {
        // RFC 6762 §11: link-local, so TTL 255 and never routed beyond it.
        let _ = socket.set_multicast_ttl_v4(255);
    }
    let wait = async {
        let mut buf = vec![0u8; 9000];
        for attempt in 0..2u32 {
            if socket.send_to(&q, to).await.is_err() {
                return None;
            }
            let round = tokio::time::sleep(Duration::from_millis(250 << (attempt * 2)));
            tokio::pin!(round);
            loop {
                tokio::select! {
                    () = &mut round => break,
                    r = socket.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { continue };
                        if !on_link(from.ip(), &subnets) {
                            tracing::debug!(%from, "mDNS response from off the link ignored");
                            continue;
                        }
                        let Some(packet) = buf.get(..n) else { continue };
                        if packet.get(..2) != Some(&id.to_be_bytes()[..]) {
                            continue;
                        }
                        if let Some(ip) = answer(packet, name) {
                            return Some(ip);
                        }
                    }
                }
            }
        }
        None
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "1f4712db-ea17-4bcf-a596-105139dfd8bf.local";

    /// A response to `q` with `records` (already encoded) in the answer section.
    fn response(q: &[u8], records: &[&[u8]]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x84; // QR, AA
        r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for rec in records {
            r.extend_from_slice(rec);
        }
        r
    }

    /// A record whose name is a pointer to the first question's name (offset 12).
    fn record(rtype: u16, class: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = vec![0xC0, 12];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&class.to_be_bytes());
        r.extend_from_slice(&120u32.to_be_bytes());
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn query_asks_for_a_and_aaaa_with_unicast_responses() {
        let mut q = Vec::new();
        query(NAME, 0x1234, &mut q).unwrap();
        assert_eq!(&q[..6], &[0x12, 0x34, 0, 0, 0, 2]);
        let name_len = NAME.len() + 2;
        let first = &q[12..12 + name_len + 4];
        assert_eq!(first[0] as usize, 36);
        assert_eq!(&first[name_len..], &[0, 1, 0x80, 1]);
        assert_eq!(&q[q.len() - 4..], &[0, 28, 0x80, 1]);
        assert_eq!(query("example.com", 1, &mut q), Err(NameError::NotLocal));
        assert_eq!(query("a..local", 1, &mut q), Err(NameError::BadLabel));
        let long = format!("{}.local", "x".repeat(64));
        assert_eq!(query(&long, 1, &mut q), Err(NameError::BadLabel));
    }

    #[test]
    fn answers_are_read_through_compression_and_the_cache_flush_bit() {
        let mut q = Vec::new();
        query(NAME, 7, &mut q).unwrap();
        let v4 = response(&q, &[&record(TYPE_A, 0x8001, &[192, 0, 2, 7])]);
        assert_eq!(answer(&v4, NAME), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(
            answer(&v4, &NAME.to_ascii_uppercase()),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(answer(&v4, "other.local"), None);
        let v6 = response(
            &q,
            &[&record(
                TYPE_AAAA,
                1,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )],
        );
        assert_eq!(answer(&v6, NAME), Some("2001:db8::1".parse().unwrap()));
        // A record of another type first, then the address.
        let both = response(
            &q,
            &[
                &record(16, 1, b"\x03txt"),
                &record(TYPE_A, 1, &[10, 0, 0, 9]),
            ],
        );
        assert_eq!(answer(&both, NAME), Some("10.0.0.9".parse().unwrap()));
        // A query (QR clear) is no answer; nor is an A record of the wrong length.
        assert_eq!(answer(&q, NAME), None);
        let short = response(&q, &[&record(TYPE_A, 1, &[10, 0, 0])]);
        assert_eq!(answer(&short, NAME), None);
    }

    #[test]
    fn hostile_answers_are_refused_without_panicking() {
        let mut q = Vec::new();
        query(NAME, 7, &mut q).unwrap();
        // A pointer loop in a record name.
        let mut looped = response(&q, &[&[0xC0, 0x00]]);
        let at = looped.len() - 2;
        looped[at + 1] = at as u8;
        assert_eq!(answer(&looped, NAME), None);
        // Truncated everywhere.
        let good = response(&q, &[&record(TYPE_A, 1, &[192, 0, 2, 7])]);
        for n in 0..good.len() {
            assert_eq!(answer(&good[..n], NAME), None, "cut at {n}");
        }
        // Counts that claim more than there is.
        let mut lying = good.clone();
        lying[6] = 0xFF;
        lying[7] = 0xFF;
        assert_eq!(answer(&lying, NAME), Some("192.0.2.7".parse().unwrap()));
        lying[4] = 0xFF;
        assert_eq!(answer(&lying, NAME), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = answer(&bytes, NAME);
        }
    }

    #[test]
    fn only_sources_on_the_local_link_are_trusted() {
        let subnets = [
            (
                "192.168.1.20".parse().unwrap(),
                "255.255.255.0".parse().unwrap(),
            ),
            (
                "2001:db8:1::5".parse().unwrap(),
                "ffff:ffff:ffff:ffff::".parse().unwrap(),
            ),
        ];
        for (source, trusted) in [
            ("127.0.0.1", true),
            ("::1", true),
            ("fe80::1", true),
            ("192.168.1.77", true),
            ("::ffff:192.168.1.77", true),
            ("192.168.2.77", false),
            ("203.0.113.9", false),
            ("2001:db8:1::99", true),
            ("2001:db8:2::99", false),
        ] {
            let ip: IpAddr = source.parse().unwrap();
            assert_eq!(on_link(ip, &subnets), trusted, "{source}");
        }
        assert!(!on_link("192.168.1.77".parse().unwrap(), &[]));
        let unknown_masks = [
            ("192.168.1.20".parse().unwrap(), "0.0.0.0".parse().unwrap()),
            ("2001:db8:1::5".parse().unwrap(), "::".parse().unwrap()),
        ];
        assert!(!on_link("203.0.113.9".parse().unwrap(), &unknown_masks));
        assert!(!on_link("2001:db8:2::99".parse().unwrap(), &unknown_masks));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_with_another_id_is_ignored() {
        let responder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = responder.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            let (n, from) = responder.recv_from(&mut buf).await.unwrap();
            let mut r = response(&buf[..n], &[&record(TYPE_A, 1, &[127, 0, 0, 9])]);
            r[0] ^= 0xFF;
            responder.send_to(&r, from).await.unwrap();
        });
        let ip = resolve(NAME, to, Duration::from_millis(400)).await;
        assert_eq!(ip, None);
        serve.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn resolves_against_a_responder_on_loopback() {
        // A responder on loopback stands in for the multicast group (tests stay on 127.0.0.1).
        let responder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = responder.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            // Ignore the first query, as a lossy link would: the retransmission is answered.
            let _ = responder.recv_from(&mut buf).await.unwrap();
            let (n, from) = responder.recv_from(&mut buf).await.unwrap();
            let r = response(&buf[..n], &[&record(TYPE_A, 0x8001, &[127, 0, 0, 9])]);
            responder.send_to(&r, from).await.unwrap();
        });
        let ip = resolve(NAME, to, Duration::from_secs(5)).await;
        assert_eq!(ip, Some("127.0.0.9".parse().unwrap()));
        serve.await.unwrap();
        // Nobody answering: None within the limit.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let t = std::time::Instant::now();
        let none = resolve(
            NAME,
            silent.local_addr().unwrap(),
            Duration::from_millis(400),
        )
        .await;
        assert_eq!(none, None);
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
