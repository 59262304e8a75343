//! Fuzz entry point for the NAT state machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::{DropReason, Mapping, Nat, NatConfig, Pooling, PortAssignment};

fn endpoint(selector: u8, inside: bool) -> SocketAddr {
    let host = (selector & 0x3) + 1;
    let port = u16::from((selector >> 2) & 0x3);
    let v6 = selector & 0x80 != 0;
    let ip: IpAddr = match (inside, v6) {
        (true, false) => Ipv4Addr::new(10, 0, 0, host).into(),
        (false, false) => Ipv4Addr::new(198, 51, 100, host).into(),
        (true, true) => Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(host)).into(),
        (false, true) => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, u16::from(host)).into(),
    };
    SocketAddr::new(ip, if inside { 5000 } else { 3478 } + port)
}

/// Fuzz entry point: a NAT driven by a sequence of operations decoded from bytes, checking its
/// invariants after each one. `epoch` is virtual time zero (the crate never reads a clock).
///
/// Byte 0 picks the preset and tweaks (tiny port range, parity, sequential ports, two public
/// addresses, arbitrary pooling); then each 4-byte group is (time step in 100 ms units, operation,
/// source selector, destination selector).
#[doc(hidden)]
pub fn fuzz_ops(epoch: Instant, data: &[u8]) {
    let Some((&head, ops)) = data.split_first() else {
        return;
    };
    let name = NatConfig::PRESETS
        .get(usize::from(head & 0x7) % NatConfig::PRESETS.len())
        .copied()
        .unwrap_or("symmetric");
    let Some(mut config) = NatConfig::preset(name) else {
        return;
    };
    config.mapping_timeout = Duration::from_secs(3);
    if head & 0x08 != 0 {
        config.port_min = 6000;
        config.port_max = 6005;
    }
    config.parity = head & 0x10 != 0;
    if head & 0x20 != 0 {
        config.ports = PortAssignment::Sequential;
    }
    if head & 0x40 != 0 {
        config.pooling = Pooling::Arbitrary;
    }
    config.max_mappings = 12;
    let mut public: Vec<IpAddr> = vec![Ipv4Addr::new(203, 0, 113, 1).into()];
    if head & 0x80 != 0 {
        public.push(Ipv4Addr::new(203, 0, 113, 2).into());
        public.push(Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1).into());
    }
    let eim = config.mapping == Mapping::EndpointIndependent;
    let mut nat = Nat::new(config, &public, u64::from(head));
    let mut now = epoch;
    for op in ops.chunks_exact(4) {
        let [step, kind, a, b] = [op[0], op[1], op[2], op[3]];
        now += Duration::from_millis(u64::from(step) * 100);
        // A `now` that goes backwards must be clamped, not panic.
        let at = if kind & 0x40 != 0 {
            now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
        } else {
            now
        };
        match kind & 0x3 {
            0 | 1 => {
                let from = endpoint(a, true);
                let to = endpoint(b, false);
                let first = nat.outbound(at, from, to);
                if let Ok(external) = first {
                    if eim {
                        // RFC 4787 §4.1: the same mapping for any destination.
                        let other = endpoint(b ^ 0x0f, false);
                        if other.is_ipv4() == to.is_ipv4() {
                            assert_eq!(nat.outbound(at, from, other), Ok(external));
                        }
                    }
                    if nat.owns(external.ip()) {
                        // The reply from the destination is admitted by every filtering.
                        assert_eq!(nat.inbound(at, to, external), Ok(from));
                    }
                }
            }
            2 => {
                let from = endpoint(a, false);
                let Some(public_ip) = public.get(usize::from(b & 1)).or(public.first()).copied()
                else {
                    return;
                };
                let to = if b & 0x80 != 0 {
                    endpoint(b, true)
                } else {
                    SocketAddr::new(public_ip, 5000 + u16::from(b & 0x7))
                };
                if let Ok(internal) = nat.inbound(at, from, to) {
                    assert!(
                        nat.mappings().any(|m| m.internal == internal) || !nat.config().stateful
                    );
                }
            }
            _ => {
                let from = endpoint(a, true);
                let target = nat.mappings().nth(usize::from(b & 0x7)).map(|m| m.external);
                if let Some(to) = target.filter(|t| nat.owns(t.ip())) {
                    if let Ok((_, internal)) = nat.hairpin(at, from, to) {
                        assert!(nat.mappings().any(|m| m.internal == internal));
                    } else if !nat.config().hairpin {
                        assert_eq!(nat.hairpin(at, from, to), Err(DropReason::HairpinDisabled));
                    }
                }
            }
        }
        nat.check_invariants();
    }
}
