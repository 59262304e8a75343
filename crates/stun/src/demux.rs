//! RFC 7983 demultiplexing: which protocol a datagram on a shared port belongs to, from its
//! first byte.

/// What a datagram is, by its first byte (RFC 7983 §7, with the RFC 8656 ChannelData range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// 0–3: STUN.
    Stun,
    /// 16–19: ZRTP.
    Zrtp,
    /// 20–63: DTLS.
    Dtls,
    /// 64–79: TURN ChannelData.
    ChannelData,
    /// 128–191: RTP or RTCP.
    Rtp,
    /// Anything else, including an empty datagram.
    Other,
}

/// Classifies a datagram by its first byte.
pub fn classify(datagram: &[u8]) -> Protocol {
    match datagram.first() {
        Some(0..=3) => Protocol::Stun,
        Some(16..=19) => Protocol::Zrtp,
        Some(20..=63) => Protocol::Dtls,
        Some(64..=79) => Protocol::ChannelData,
        Some(128..=191) => Protocol::Rtp,
        _ => Protocol::Other,
    }
}
