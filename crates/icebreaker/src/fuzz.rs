//! Fuzzing entry point for the runtime's sans-IO parts, shared by the cargo-fuzz target in
//! `fuzz/` and the corpus replay test: signalling messages ([`Signal::parse`]), the [`Peer`]
//! that composes ICE and SDP, and mDNS answers ([`crate::mdns::answer`]). It panics only on
//! a real bug: a panic inside, or a broken invariant.
//!
//! Not part of the stable API.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_ice::AgentConfig;

use crate::peer::{MAX_SIGNAL_LEN, Peer, PeerConfig, Reports, Role, Signal};

/// Datagrams in flight between the two peers at most (older ones are lost).
const WIRE: usize = 256;
/// Signals in flight towards each peer at most.
const MAILBOX: usize = 64;

struct Side {
    peer: Peer,
    host: SocketAddr,
    reports: Reports,
    /// Signals the other side sent, not yet delivered.
    inbox: VecDeque<Signal>,
}

/// Two [`Peer`]s, an offerer and an answerer, whose signalling and datagrams the input
/// controls. Each op byte delivers the next signal to one side, delivers, drops or corrupts the
/// next datagram, hands a side a signalling message or datagram made of input bytes, answers
/// an mDNS query, restarts ICE on one side (a new offer), or lets time pass. The first byte's
/// flags make either side ICE-lite, choose where each reports ([`Reports`]), whether it
/// trickles and whether it restarts ICE by itself when it fails. Checks: every signal a peer emits survives its own JSON
/// round trip, every report goes where the peer was told to send it, every datagram leaves
/// from the sender's host address, and nothing panics.
/// Returns whether both peers were connected at the end (so that tests can tell a seed reaches
/// the deep states).
pub fn fuzz_peer(epoch: Instant, data: &[u8]) -> bool {
    let Some((&flags, mut rest)) = data.split_first() else {
        return false;
    };
    let side = |role, seed: u8, host: SocketAddr, bit: u8| {
        let reports = if flags & (bit << 2) == 0 {
            Reports::Signals
        } else {
            Reports::Events
        };
        let config = PeerConfig {
            role,
            agent: AgentConfig {
                rng_seed: [seed; 32],
                lite: flags & bit != 0,
                ..AgentConfig::default()
            },
            host_addresses: vec![host],
            reports,
            trickle: flags & (bit << 4) == 0,
            restart_on_failure: flags & (bit << 6) != 0,
        };
        Side {
            peer: Peer::new(config, epoch),
            host,
            reports,
            inbox: VecDeque::new(),
        }
    };
    let a_host = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5000);
    let b_host = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 6000);
    let mut sides = [
        side(Role::Offerer, 1, a_host, 1),
        side(Role::Answerer, 2, b_host, 2),
    ];
    // (to side, from, to, bytes)
    let mut wire: VecDeque<(usize, SocketAddr, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut now = epoch;
    let mut buf = Vec::new();
    while let [op, tail @ ..] = rest {
        rest = tail;
        collect(&mut sides, &mut wire, &mut buf, *op & 0x80 != 0);
        let side = usize::from(op >> 6 & 1);
        match op & 7 {
            0 | 1 => {
                let to = usize::from(op & 1);
                if let Some(s) = sides[to].inbox.pop_front() {
                    sides[to].peer.handle_signal(now, s);
                }
            }
            // A datagram reaches the other side only at its host address: the network carries
            // nothing to the addresses a forged candidate names.
            2 => {
                if let Some((to, from, dst, bytes)) = wire.pop_front()
                    && dst == sides[to].host
                {
                    sides[to].peer.handle_receive(now, from, dst, &bytes);
                }
            }
            3 => {
                wire.pop_front();
            }
            4 => {
                let [at, tail @ ..] = rest else { break };
                rest = tail;
                if let Some((to, from, dst, mut bytes)) = wire.pop_front()
                    && dst == sides[to].host
                {
                    if !bytes.is_empty() {
                        let i = usize::from(*at) % bytes.len();
                        bytes[i] ^= 1 << (at % 8);
                    }
                    sides[to].peer.handle_receive(now, from, dst, &bytes);
                }
            }
            5 | 6 => {
                let [len, tail @ ..] = rest else { break };
                let n = usize::from(*len).min(tail.len());
                let (bytes, next) = tail.split_at(n);
                rest = next;
                if op & 7 == 5 {
                    let text = String::from_utf8_lossy(bytes);
                    if let Ok(s) = Signal::parse(&text) {
                        sides[side].peer.handle_signal(now, s);
                    }
                    let _ = crate::mdns::answer(bytes, "fuzz.local");
                } else {
                    let other = sides[1 - side].host;
                    sides[side]
                        .peer
                        .handle_receive(now, other, sides[side].host, bytes);
                }
            }
            _ if op >> 3 & 7 == 0 => sides[side].peer.handle_signal(now, Signal::Restart),
            _ => {
                now += Duration::from_millis(u64::from(op >> 3 & 7) * 40);
                for s in &mut sides {
                    s.peer.handle_timeout(now);
                }
            }
        }
    }
    collect(&mut sides, &mut wire, &mut buf, false);
    sides.iter().all(|s| s.peer.is_connected())
}

/// Moves what the peers emitted into the inboxes and onto the wire, checking it on the way.
fn collect(
    sides: &mut [Side; 2],
    wire: &mut VecDeque<(usize, SocketAddr, SocketAddr, Vec<u8>)>,
    buf: &mut Vec<u8>,
    resolve: bool,
) {
    for from in 0..2 {
        let to = 1 - from;
        while let Some(s) = sides[from].peer.poll_signal() {
            let json = s.to_json();
            if json.len() <= MAX_SIGNAL_LEN {
                assert_eq!(Signal::parse(&json).as_ref(), Ok(&s), "{json}");
            }
            let report = matches!(
                s,
                Signal::State { .. } | Signal::Selected { .. } | Signal::Message { .. }
            );
            assert!(
                !report || sides[from].reports == Reports::Signals,
                "a report as a signal: {json}"
            );
            if s.is_for_remote() && sides[to].inbox.len() < MAILBOX {
                sides[to].inbox.push_back(s);
            }
        }
        while let Some(t) = sides[from].peer.poll_transmit(buf) {
            assert_eq!(t.from, sides[from].host, "a datagram from another address");
            if wire.len() >= WIRE {
                wire.pop_front();
            }
            wire.push_back((to, t.from, t.to, buf.clone()));
        }
        while sides[from].peer.poll_stream_transmit(buf).is_some() {}
        while let Some(e) = sides[from].peer.poll_event() {
            assert_eq!(
                sides[from].reports,
                Reports::Events,
                "a report as an event: {e:?}"
            );
        }
        while let Some(name) = sides[from].peer.poll_mdns_query() {
            let ip = resolve.then_some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
            sides[from].peer.resolve_mdns(&name, ip);
        }
    }
}
