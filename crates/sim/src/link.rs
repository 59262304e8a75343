//! The link model of one network segment: latency, jitter, loss, duplication, reordering, MTU.

use std::time::Duration;

/// How a network segment (a realm: the public network or the LAN behind one NAT) treats packets.
///
/// Every packet crossing the segment draws its fate from the segment's own seeded RNG: lost with
/// probability `loss`; otherwise delayed by `latency` plus a uniform draw in `[0, jitter]`, plus
/// `reorder_delay` with probability `reorder`; and with probability `duplicate` a second copy with
/// its own delay is sent as well. Packets whose IP datagram (payload + 28 bytes for IPv4, 48 for
/// IPv6) exceeds `mtu` are dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way base delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]`.
    pub jitter: Duration,
    /// Probability of losing a packet, in `[0, 1]`.
    pub loss: f64,
    /// Probability of delivering a packet twice, in `[0, 1]`.
    pub duplicate: f64,
    /// Probability of holding a packet back by `reorder_delay`, in `[0, 1]`.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Largest IP datagram (headers included) the segment carries.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// A clean LAN: 1 ms, no jitter, no loss, MTU 1500.
    fn default() -> Self {
        Self::lan()
    }
}

impl LinkConfig {
    /// A clean LAN: 1 ms, no jitter, no loss, MTU 1500.
    pub fn lan() -> Self {
        Self {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            mtu: 1500,
        }
    }

    /// A clean wide-area path: 20 ms one way, 2 ms jitter, no loss, MTU 1500.
    pub fn internet() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(2),
            ..Self::lan()
        }
    }

    /// This link with a loss probability.
    #[must_use]
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }
}

/// Header bytes added to a UDP payload for the MTU check and for pcap: IP + UDP.
pub(crate) fn header_len(v4: bool) -> usize {
    if v4 { 20 + 8 } else { 40 + 8 }
}
