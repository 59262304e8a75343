//! Entry points for the fuzz targets (and the corpus replay test): arbitrary input must never
//! panic, and the agent's memory stays bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    IceControlled, IceControlling, Priority, UseCandidate, Username,
};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::{Class, Integrity, MessageWriter, Method, TransactionId};

use crate::{Agent, AgentConfig, Candidate, Credentials, Event, State, TurnServer, TurnTransport};

/// What [`Agent::pairs`] reports holds together: one entry per check-list pair, at most one
/// selected (and that one nominated and succeeded), and counters that add up.
fn check_pair_stats(agent: &Agent, max_pairs: usize) {
    let mut listed = 0;
    let mut selected = 0;
    for p in agent.pairs() {
        listed += 1;
        let c = &p.counters;
        if p.selected {
            selected += 1;
            assert!(
                p.nominated && p.state == crate::PairState::Succeeded,
                "{p:?}"
            );
        }
        assert!(c.consent_requests_sent <= c.requests_sent, "{p:?}");
        assert!(c.responses_sent <= c.requests_received, "{p:?}");
        assert!(
            c.round_trip_time_measurements <= c.responses_received,
            "{p:?}"
        );
        assert_eq!(
            c.current_round_trip_time.is_some(),
            c.round_trip_time_measurements > 0
        );
        assert_eq!(c.last_request_received.is_some(), c.requests_received > 0);
        assert_eq!(c.last_response_received.is_some(), c.responses_received > 0);
    }
    assert!(listed <= max_pairs, "{listed} pairs listed");
    assert!(selected <= 1, "{selected} pairs selected for one component");
}

/// The candidate grammar: whatever parses writes back to a line that parses to the same thing.
pub fn fuzz_candidate(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Candidate::parse(text) {
        let line = c.to_string();
        let again =
            Candidate::parse(&line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
        assert_eq!(c, again, "{line}");
    }
}

/// The agent fed a sequence of operations decoded from `data`: raw datagrams, datagrams signed
/// with the right credentials (so the authenticated paths run), frames from a TURN server
/// reached over TCP, remote candidate lines, and timer ticks. Checks that the agent's state stays within its limits. `epoch` is the virtual
/// start time (the fuzz target passes the clock's reading; sans-IO code never reads it).
pub fn fuzz_agent(epoch: Instant, data: &[u8]) {
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5000);
    let turn = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)), 3478);
    let ours = Credentials {
        ufrag: "ufra".into(),
        pwd: "local-password-0123456789".into(),
    };
    let theirs = Credentials {
        ufrag: "peer".into(),
        pwd: "remote-password-012345678".into(),
    };
    let config = AgentConfig {
        controlling: data.first().is_some_and(|b| b & 1 == 1),
        lite: data.first().is_some_and(|b| b & 6 == 6),
        rng_seed: [3; 32],
        stun_servers: vec!["198.51.100.1:3478".parse().unwrap_or(local)],
        turn_servers: vec![TurnServer {
            server: turn,
            transport: TurnTransport::Tcp,
            username: "user".into(),
            password: "pass".into(),
        }],
        ..AgentConfig::default()
    };
    let max_remote = config.max_remote_candidates;
    let max_pairs = config.max_pairs;
    let mut agent = Agent::new(config, ours.clone());
    let _ = agent.add_host_candidate(local, 1);
    if agent.set_remote_credentials(theirs).is_err() {
        return;
    }
    let mut now = epoch;
    agent.start(now);
    let key = Key::new(ours.pwd.as_bytes());
    let mut rest = data.get(1..).unwrap_or_default();
    let mut buf = Vec::new();
    let mut tid = 0u32;
    let mut closed = false;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        let from = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                203,
                0,
                113,
                payload.first().copied().unwrap_or(1),
            )),
            1000 + u16::from(payload.get(1).copied().unwrap_or(0)),
        );
        match op % 6 {
            0 => {
                let _ = agent.handle_receive(now, from, local, payload);
            }
            4 => {
                let _ = agent.handle_stream_receive(now, turn, local, payload);
            }
            1 => {
                if let Ok(text) = core::str::from_utf8(payload)
                    && let Ok(c) = Candidate::parse(text)
                {
                    let _ = agent.add_remote_candidate(c);
                }
            }
            2 => {
                now +=
                    Duration::from_millis(u64::from(payload.first().copied().unwrap_or(50)) * 20);
                agent.handle_timeout(now);
            }
            3 => {
                // A correctly signed check from `from`, with flags from the payload.
                tid += 1;
                let mut t = [0u8; 12];
                t[..4].copy_from_slice(&tid.to_be_bytes());
                let flags = payload.get(2).copied().unwrap_or(0);
                let mut out = [0u8; 200];
                let written = MessageWriter::new(
                    &mut out,
                    Class::Request,
                    Method::BINDING,
                    TransactionId::new(t),
                )
                .and_then(|mut w| {
                    w.push(&Username("ufra:peer"))?;
                    w.push(&Priority(u32::from(flags) << 16 | 0xff))?;
                    if flags & 1 == 1 {
                        w.push(&IceControlling(u64::from(flags)))?;
                    } else {
                        w.push(&IceControlled(u64::from(flags)))?;
                    }
                    if flags & 2 == 2 {
                        w.push(&UseCandidate)?;
                    }
                    w.finish_with_integrity(&key, Integrity::Sha1, flags & 4 == 4)
                });
                if let Ok(len) = written {
                    let _ = agent.handle_receive(now, from, local, &out[..len]);
                }
            }
            5 if payload.first() == Some(&0xc1) => {
                // Closed: the TURN allocation is deleted, and nothing else happens any more.
                while agent.poll_event().is_some() {}
                agent.close(now);
                closed = true;
            }
            _ => {
                // Application data, when a pair is selected.
                let _ = agent.send(1, payload, &mut buf);
                while agent.poll_transmit(&mut buf).is_some() {}
                while agent.poll_stream_transmit(&mut buf).is_some() {}
                while let Some(e) = agent.poll_event() {
                    assert!(
                        !closed || matches!(e, Event::StateChanged(State::Closed)),
                        "{e:?} after the close"
                    );
                }
            }
        }
        assert!(agent.remote_candidates().len() <= max_remote);
        assert!(agent.pair_count() <= 2 * max_pairs + 1);
        check_pair_stats(&agent, max_pairs);
    }
    while agent.poll_transmit(&mut buf).is_some() {}
    while agent.poll_stream_transmit(&mut buf).is_some() {}
    let _ = agent.poll_timeout();
}
