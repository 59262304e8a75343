//! # icebreaker-ice
//!
//! A sans-IO ICE agent (RFC 8445) for one data stream: candidates and their RFC 8839 lines,
//! priorities, pairing and pruning, the check list with its frozen/waiting/in-progress states
//! and Ta pacing (at the larger of both agents' values), triggered checks, peer-reflexive candidates, role conflicts, regular
//! nomination (and aggressive nomination from a peer accepted), trickle (RFC 8838), consent
//! freshness (RFC 7675), restarts, ICE-lite and mDNS remote candidates.
//!
//! The agent does no I/O and reads no clock. The loop:
//!
//! ```text
//! handle_receive(now, from, to, &datagram)   datagrams that arrived on the agent's sockets
//! handle_timeout(now)                        once poll_timeout() has passed
//! poll_transmit(&mut buf) -> Transmit        datagrams to send (from, to)
//! poll_stream_transmit(&mut buf)             frames for TCP/TLS TURN servers (from, to), whose
//!                                            frames come back in handle_stream_receive
//! poll_timeout()                             when to call handle_timeout next
//! poll_event()                               candidates to signal, state, the selected pair
//! pairs()                                    each candidate pair's state, checks, round trips
//!                                            and data (what getStats() calls candidate-pairs)
//! ```
//!
//! ## Example: two agents on one machine
//!
//! ```
//! use std::time::{Duration, Instant};
//! use icebreaker_ice::{Agent, AgentConfig, Credentials, Event, State};
//!
//! let a_creds = Credentials { ufrag: "aaaa".into(), pwd: "aaaaaaaaaaaaaaaaaaaaaa".into() };
//! let b_creds = Credentials { ufrag: "bbbb".into(), pwd: "bbbbbbbbbbbbbbbbbbbbbb".into() };
//! let mut a = Agent::new(AgentConfig { controlling: true, rng_seed: [1; 32], ..Default::default() }, a_creds.clone());
//! let mut b = Agent::new(AgentConfig { rng_seed: [2; 32], ..Default::default() }, b_creds.clone());
//! let (a_addr, b_addr) = ("192.0.2.1:5000".parse().unwrap(), "192.0.2.2:6000".parse().unwrap());
//! a.add_host_candidate(a_addr, 1).unwrap();
//! b.add_host_candidate(b_addr, 1).unwrap();
//! a.set_remote_credentials(b_creds).unwrap();
//! b.set_remote_credentials(a_creds).unwrap();
//! // Signalling: each side's local candidates become the other's remote candidates.
//! let a_cands: Vec<_> = a.local_candidates().cloned().collect();
//! let b_cands: Vec<_> = b.local_candidates().cloned().collect();
//! a_cands.into_iter().for_each(|c| b.add_remote_candidate(c).unwrap());
//! b_cands.into_iter().for_each(|c| a.add_remote_candidate(c).unwrap());
//!
//! let mut now = Instant::now();
//! a.start(now);
//! b.start(now);
//! let mut buf = Vec::new();
//! for _ in 0..200 {
//!     // Deliver everything each side wants to send, instantly.
//!     while let Some(t) = a.poll_transmit(&mut buf) { let _ = b.handle_receive(now, t.from, t.to, &buf); }
//!     while let Some(t) = b.poll_transmit(&mut buf) { let _ = a.handle_receive(now, t.from, t.to, &buf); }
//!     now += Duration::from_millis(10);
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//! }
//! assert_eq!(a.state(), State::Connected);
//! assert_eq!(b.state(), State::Connected);
//! assert_eq!(a.send_path(1).unwrap().to, b_addr);
//! ```
//!
//! ## Relevant standards
//!
//! - [x] RFC 8445 ICE: gathering (host, server-reflexive), priorities, pairing, check lists,
//!   triggered checks, peer-reflexive candidates, role conflicts, regular nomination, ICE-lite
//! - [x] RFC 8421 local preferences: IPv6 first, the families alternating
//! - [x] RFC 8838 trickle ICE: candidates at any time, end-of-candidates
//! - [x] RFC 7675 consent freshness
//! - [x] RFC 8839 candidate lines (through icebreaker-sdp's grammar), mDNS host names
//! - [x] RFC 8656 relayed candidates through icebreaker-turn (checks and data wrapped in Send
//!   indications, then ChannelData once a relayed pair is selected), the TURN server reached
//!   over UDP, TCP or TLS (a stream's bytes carried by the caller:
//!   [`Agent::poll_stream_transmit`], [`Agent::handle_stream_receive`])

mod agent;
mod candidate;
#[doc(hidden)]
pub mod fuzz;

pub use agent::{
    Agent, AgentConfig, Credentials, Error, Event, MAX_REMOTE_PACING, PairCounters, PairState,
    PairStats, Received, RecvError, State, Stats, Transmit, TurnServer, TurnTransport,
};
pub use candidate::{
    Candidate, CandidateError, CandidateKind, TcpType, Transport, candidate_priority,
    local_preference, pair_priority,
};
