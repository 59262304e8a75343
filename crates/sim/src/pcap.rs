//! pcap capture: raw IPv4/IPv6 + UDP packets (LINKTYPE_RAW) with correct checksums.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// Where a capture listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapturePoint {
    /// Everything a host sends and receives.
    Host(crate::HostId),
    /// The inside of a NAT box: outbound before translation, inbound after.
    NatInside(crate::NatId),
    /// The outside of a NAT box: outbound after translation, inbound before.
    NatOutside(crate::NatId),
    /// Everything sent across a realm's link (before loss is drawn), e.g. the public network.
    Realm(crate::RealmId),
}

/// One captured datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Virtual time since the epoch.
    pub elapsed: Duration,
    /// UDP source.
    pub from: SocketAddr,
    /// UDP destination.
    pub to: SocketAddr,
    /// UDP payload.
    pub data: Bytes,
}

/// The most datagrams one capture keeps; later ones are counted in `missed`.
pub const MAX_CAPTURED: usize = 1 << 20;

/// The datagrams seen at one [`CapturePoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Where.
    pub point: CapturePoint,
    /// What, in order.
    pub packets: Vec<Captured>,
    /// Datagrams not kept because the capture was full.
    pub missed: u64,
}

/// Writing a pcap file failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcapError {
    /// The capture id is unknown.
    UnknownCapture,
    /// The pcap writer refused (never happens with an in-memory buffer).
    Write,
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownCapture => "unknown capture",
            Self::Write => "pcap writer failed",
        })
    }
}

impl std::error::Error for PcapError {}

impl Capture {
    pub(crate) fn record(
        &mut self,
        elapsed: Duration,
        from: SocketAddr,
        to: SocketAddr,
        data: &Bytes,
    ) {
        if self.packets.len() >= MAX_CAPTURED {
            self.missed += 1;
            return;
        }
        self.packets.push(Captured {
            elapsed,
            from,
            to,
            data: data.clone(),
        });
    }

    /// The capture as a pcap file (LINKTYPE_RAW, little-endian, microsecond timestamps counted
    /// from the Unix epoch as virtual time since the simulation's epoch).
    pub fn to_pcap(&self) -> Result<Vec<u8>, PcapError> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            endianness: pcap_file::Endianness::Little,
            ..PcapHeader::default()
        };
        let mut writer =
            PcapWriter::with_header(Vec::new(), header).map_err(|_| PcapError::Write)?;
        let mut packet = Vec::new();
        for c in &self.packets {
            packet.clear();
            ip_udp(&mut packet, c.from, c.to, &c.data);
            let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
            writer
                .write_packet(&PcapPacket::new(c.elapsed, len, &packet))
                .map_err(|_| PcapError::Write)?;
        }
        Ok(writer.into_writer())
    }
}

fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Writes an IP + UDP packet carrying `payload` into `out`, with correct checksums (RFC 791,
/// RFC 768, RFC 8200 §8.1). Mixed families (never produced by the simulator) are written as IPv6
/// with the IPv4 address mapped.
pub fn ip_udp(out: &mut Vec<u8>, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
    // Payloads beyond 65507 bytes cannot be carried; the length fields saturate.
    let udp_len = u16::try_from(payload.len() + 8).unwrap_or(u16::MAX);
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&from.port().to_be_bytes());
    udp[2..4].copy_from_slice(&to.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    match (from, to) {
        (SocketAddr::V4(f), SocketAddr::V4(t)) => {
            let total = u16::try_from(payload.len() + 28).unwrap_or(u16::MAX);
            let mut ip = [0u8; 20];
            ip[0] = 0x45; // version 4, IHL 5
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64; // TTL
            ip[9] = 17; // UDP
            ip[12..16].copy_from_slice(&f.ip().octets());
            ip[16..20].copy_from_slice(&t.ip().octets());
            let check = fold(sum16(0, &ip));
            ip[10..12].copy_from_slice(&check.to_be_bytes());
            // RFC 768 pseudo-header: source, destination, zero, protocol, UDP length.
            let mut acc = sum16(0, &f.ip().octets());
            acc = sum16(acc, &t.ip().octets());
            acc = acc.wrapping_add(17).wrapping_add(u32::from(udp_len));
            acc = sum16(acc, &udp);
            acc = sum16(acc, payload);
            let mut check = fold(acc);
            if check == 0 {
                check = 0xffff;
            }
            udp[6..8].copy_from_slice(&check.to_be_bytes());
            out.extend_from_slice(&ip);
        }
        _ => {
            let (f, t) = (v6(from), v6(to));
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
            ip[6] = 17; // next header: UDP
            ip[7] = 64; // hop limit
            ip[8..24].copy_from_slice(&f);
            ip[24..40].copy_from_slice(&t);
            // RFC 8200 §8.1 pseudo-header: source, destination, upper-layer length, next header.
            let mut acc = sum16(0, &f);
            acc = sum16(acc, &t);
            acc = acc.wrapping_add(u32::from(udp_len)).wrapping_add(17);
            acc = sum16(acc, &udp);
            acc = sum16(acc, payload);
            let mut check = fold(acc);
            if check == 0 {
                check = 0xffff;
            }
            udp[6..8].copy_from_slice(&check.to_be_bytes());
            out.extend_from_slice(&ip);
        }
    }
    out.extend_from_slice(&udp);
    out.extend_from_slice(payload);
}

fn v6(a: SocketAddr) -> [u8; 16] {
    match a {
        SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped().octets(),
        SocketAddr::V6(v6) => v6.ip().octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_ipv4_udp_checksums_verify() {
        let mut out = Vec::new();
        ip_udp(
            &mut out,
            "192.0.2.1:5000".parse().unwrap(),
            "198.51.100.2:3478".parse().unwrap(),
            b"hello",
        );
        assert_eq!(out.len(), 20 + 8 + 5);
        // An IPv4 header's checksum verifies when the sum over the header folds to zero.
        assert_eq!(fold(sum16(0, &out[..20])), 0);
        // The UDP checksum verifies over pseudo-header + UDP header + payload.
        let mut acc = sum16(0, &out[12..20]);
        acc = acc.wrapping_add(17).wrapping_add(13);
        assert_eq!(fold(sum16(acc, &out[20..])), 0);
    }

    #[test]
    fn encode_ipv6_udp_checksum_verifies() {
        let mut out = Vec::new();
        ip_udp(
            &mut out,
            "[2001:db8::1]:5000".parse().unwrap(),
            "[2001:db8::2]:3478".parse().unwrap(),
            b"odd",
        );
        assert_eq!(out.len(), 40 + 8 + 3);
        let mut acc = sum16(0, &out[8..40]);
        acc = acc.wrapping_add(11).wrapping_add(17);
        assert_eq!(fold(sum16(acc, &out[40..])), 0);
    }
}
