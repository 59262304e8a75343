//! Where relayed transport addresses come from.
//!
//! The server core never binds a socket: it asks a [`PortAllocator`] for an address and gives it
//! back when the allocation ends. The runtime implements the trait by binding real UDP sockets;
//! the simulator by handing out virtual ports; [`PortPool`] is a simple in-memory implementation
//! for tests and for drivers that bind a port range themselves.

use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeSet;

use icebreaker_stun::attributes::AddressFamily;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Why no relayed address could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// This allocator has no address of that family (the server answers 440).
    FamilyUnsupported,
    /// No port is free (the server answers 508).
    Exhausted,
}

/// A source of relayed transport addresses.
pub trait PortAllocator {
    /// Takes a free address of `family`; with `even`, its port must be even (RFC 8656 EVEN-PORT).
    fn allocate(&mut self, family: AddressFamily, even: bool) -> Result<SocketAddr, PortError>;
    /// Takes exactly `addr` if it is free (for the port after an EVEN-PORT with R set).
    fn reserve(&mut self, addr: SocketAddr) -> bool;
    /// Gives an address back.
    fn release(&mut self, addr: SocketAddr);
}

/// Tries to draw a random free port before falling back to a scan.
const RANDOM_TRIES: usize = 32;

/// An in-memory pool over a port range on one IPv4 and/or one IPv6 address. Ports are drawn at
/// random (from a seeded ChaCha20) so relayed addresses are not predictable.
#[derive(Debug, Clone)]
pub struct PortPool {
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
    lo: u16,
    hi: u16,
    used: BTreeSet<SocketAddr>,
    rng: ChaCha20Rng,
}

impl PortPool {
    /// A pool of `ports` on the given addresses (either may be `None`). Panics if `lo > hi`.
    pub fn new(
        v4: Option<IpAddr>,
        v6: Option<IpAddr>,
        ports: core::ops::RangeInclusive<u16>,
        seed: [u8; 32],
    ) -> Self {
        let (lo, hi) = (*ports.start(), *ports.end());
        assert!(lo <= hi, "empty port range");
        Self {
            v4,
            v6,
            lo,
            hi,
            used: BTreeSet::new(),
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// Addresses currently handed out.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

impl PortAllocator for PortPool {
    fn allocate(&mut self, family: AddressFamily, even: bool) -> Result<SocketAddr, PortError> {
        let ip = match family {
            AddressFamily::V4 => self.v4,
            AddressFamily::V6 => self.v6,
        }
        .ok_or(PortError::FamilyUnsupported)?;
        let span = u32::from(self.hi - self.lo) + 1;
        let ok = |p: u16| !even || p.is_multiple_of(2);
        for _ in 0..RANDOM_TRIES {
            let p = self.lo + (self.rng.next_u32() % span) as u16;
            let a = SocketAddr::new(ip, p);
            if ok(p) && !self.used.contains(&a) {
                self.used.insert(a);
                return Ok(a);
            }
        }
        let start = (self.rng.next_u32() % span) as u16;
        for i in 0..span {
            let p = self.lo + ((u32::from(start) + i) % span) as u16;
            let a = SocketAddr::new(ip, p);
            if ok(p) && !self.used.contains(&a) {
                self.used.insert(a);
                return Ok(a);
            }
        }
        Err(PortError::Exhausted)
    }

    fn reserve(&mut self, addr: SocketAddr) -> bool {
        let ours = Some(addr.ip()) == self.v4 || Some(addr.ip()) == self.v6;
        ours && (self.lo..=self.hi).contains(&addr.port()) && self.used.insert(addr)
    }

    fn release(&mut self, addr: SocketAddr) {
        self.used.remove(&addr);
    }
}
