//! The two sans-IO ICE agents that `benches/ice.rs` and `examples/ice_check_cpu.rs` hand the same
//! connectivity check: icebreaker-ice's [`Agent`] and str0m's `is::IceAgent`, each controlled,
//! with one host candidate and the peer's credentials, answering a USE-CANDIDATE Binding request
//! signed with its password. Included with `#[path]` by both, so that both measure the same thing.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use icebreaker_ice::{Agent, AgentConfig, Credentials};
use icebreaker_stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::{Class, Integrity, MessageWriter, Method, TransactionId};

const LOCAL: &str = "192.0.2.1:5000";
const PEER: &str = "192.0.2.2:6000";

pub fn creds(c: char) -> Credentials {
    Credentials {
        ufrag: c.to_string().repeat(4),
        pwd: c.to_string().repeat(24),
    }
}

/// The check both agents answer: from the controlling peer `aaaa` to `bbbb`.
fn check() -> Vec<u8> {
    let key = Key::short_term(&creds('b').pwd).unwrap();
    let mut buf = vec![0u8; 256];
    let n = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([9; 12]),
    )
    .and_then(|mut w| {
        w.push(&Username("bbbb:aaaa"))?;
        w.push(&Priority(1_853_817_087))?;
        w.push(&IceControlling(42))?;
        w.push(&UseCandidate)?;
        w.finish_with_integrity(&key, Integrity::Sha1, true)
    })
    .unwrap();
    buf.truncate(n);
    buf
}

/// icebreaker-ice's agent and the check.
pub struct Ours {
    agent: Agent,
    check: Vec<u8>,
    out: Vec<u8>,
    now: Instant,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Ours {
    pub fn new() -> Self {
        let local: SocketAddr = LOCAL.parse().unwrap();
        let mut agent = Agent::new(
            AgentConfig {
                rng_seed: [1; 32],
                ..Default::default()
            },
            creds('b'),
        );
        agent.add_host_candidate(local, 1).unwrap();
        agent.set_remote_credentials(creds('a')).unwrap();
        let now = Instant::now();
        agent.start(now);
        Self {
            agent,
            check: check(),
            out: Vec::with_capacity(256),
            now,
            peer: PEER.parse().unwrap(),
            local,
        }
    }

    /// Decodes and verifies the check, answers it, and drains everything the agent sends.
    pub fn answer(&mut self) {
        self.agent
            .handle_receive(self.now, self.peer, self.local, black_box(&self.check))
            .unwrap();
        while self.agent.poll_transmit(&mut self.out).is_some() {}
    }
}

/// str0m's sans-IO agent (`is`) in the same position, with the peer's candidate known.
pub struct Str0m {
    agent: is::IceAgent,
    check: Vec<u8>,
    now: Instant,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Str0m {
    pub fn new() -> Self {
        let local: SocketAddr = LOCAL.parse().unwrap();
        let peer: SocketAddr = PEER.parse().unwrap();
        let to_is = |c: Credentials| is::IceCreds {
            ufrag: c.ufrag,
            pass: c.pwd,
        };
        let mut agent = is::IceAgent::new(to_is(creds('b')));
        agent.set_controlling(false);
        agent.set_remote_credentials(to_is(creds('a')));
        agent.add_local_candidate(is::Candidate::host(local, "udp").unwrap());
        agent.add_remote_candidate(is::Candidate::host(peer, "udp").unwrap());
        let now = Instant::now();
        agent.handle_timeout(now);
        while agent.poll_transmit().is_some() {}
        while agent.poll_event().is_some() {}
        Self {
            agent,
            check: check(),
            now,
            peer,
            local,
        }
    }

    /// The same: parse, hand to the agent, drain its transmits and events.
    pub fn answer(&mut self) {
        let message = is::stun::StunMessage::parse(black_box(&self.check)).unwrap();
        let packet = is::stun::StunPacket {
            proto: is::Protocol::Udp,
            source: self.peer,
            destination: self.local,
            message,
        };
        assert!(self.agent.handle_packet(self.now, packet));
        while self.agent.poll_transmit().is_some() {}
        while self.agent.poll_event().is_some() {}
    }
}
