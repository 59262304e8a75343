//! ICE benchmarks: answering a connectivity check (decode, verify MESSAGE-INTEGRITY, encode the
//! authenticated response), building the check list for 20 × 20 candidates, and parsing a
//! candidate line (zero-copy, through icebreaker-sdp's grammar, and into the agent's owned
//! candidate). Allocations per operation are printed before the timings. Answering a check is
//! measured beside str0m's sans-IO ICE crate (`is`) fed the same bytes.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use benches::allocations_per_op;
use criterion::{Criterion, criterion_group};
use icebreaker_ice::{Agent, AgentConfig, Candidate, Credentials};
use icebreaker_stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::{Class, Integrity, MessageWriter, Method, TransactionId};

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

const LINE: &str = "candidate:842163049 1 udp 1677729535 198.51.100.7 40000 typ srflx raddr 10.0.0.2 rport 50000 generation 0 network-id 1 network-cost 10";

fn creds(c: char) -> Credentials {
    Credentials {
        ufrag: c.to_string().repeat(4),
        pwd: c.to_string().repeat(24),
    }
}

/// A controlled agent with one host candidate and the peer's credentials, plus a valid check
/// from the peer.
fn answering_agent() -> (Agent, Vec<u8>, SocketAddr, SocketAddr) {
    let local: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let peer: SocketAddr = "192.0.2.2:6000".parse().unwrap();
    let mut agent = Agent::new(
        AgentConfig {
            rng_seed: [1; 32],
            ..Default::default()
        },
        creds('b'),
    );
    agent.add_host_candidate(local, 1).unwrap();
    agent.set_remote_credentials(creds('a'));
    agent.start(Instant::now());
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
    (agent, buf, peer, local)
}

fn answer_check(c: &mut Criterion) {
    let (mut agent, check, peer, local) = answering_agent();
    let now = Instant::now();
    let mut out = Vec::with_capacity(256);
    let mut answer = || {
        agent
            .handle_receive(now, peer, local, black_box(&check))
            .unwrap();
        // Drain the answer (and anything else the agent wants to send).
        while agent.poll_transmit(&mut out).is_some() {}
    };
    let allocs = allocations_per_op(&mut answer);
    eprintln!("ice answer check: icebreaker {allocs:.2} allocations per op");
    let (mut str0m, s_peer, s_local) = str0m_answering_agent();
    let mut str0m_answer = || {
        let message = is::stun::StunMessage::parse(black_box(&check)).unwrap();
        let packet = is::stun::StunPacket {
            proto: is::Protocol::Udp,
            source: s_peer,
            destination: s_local,
            message,
        };
        assert!(str0m.handle_packet(now, packet));
        while str0m.poll_transmit().is_some() {}
        while str0m.poll_event().is_some() {}
    };
    let allocs = allocations_per_op(&mut str0m_answer);
    eprintln!("ice answer check: str0m's is {allocs:.2} allocations per op");
    let mut g = c.benchmark_group("ice/answer_check");
    g.bench_function("icebreaker", |b| b.iter(&mut answer));
    g.bench_function("str0m_is", |b| b.iter(&mut str0m_answer));
    g.finish();
}

/// str0m's sans-IO agent (`is`) in the same position: controlled, one host candidate, the
/// peer's credentials and candidate known, answering the same check bytes.
fn str0m_answering_agent() -> (is::IceAgent, SocketAddr, SocketAddr) {
    let local: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let peer: SocketAddr = "192.0.2.2:6000".parse().unwrap();
    let to_is = |c: Credentials| is::IceCreds {
        ufrag: c.ufrag,
        pass: c.pwd,
    };
    let mut agent = is::IceAgent::new(to_is(creds('b')));
    agent.set_controlling(false);
    agent.set_remote_credentials(to_is(creds('a')));
    agent.add_local_candidate(is::Candidate::host(local, "udp").unwrap());
    agent.add_remote_candidate(is::Candidate::host(peer, "udp").unwrap());
    agent.handle_timeout(Instant::now());
    while agent.poll_transmit().is_some() {}
    while agent.poll_event().is_some() {}
    (agent, peer, local)
}

fn checklist(c: &mut Criterion) {
    let remote: Vec<Candidate> = (0..20)
        .map(|i| {
            Candidate::parse(&format!(
                "candidate:{i} 1 udp {} 198.51.100.{} {} typ host",
                2_000_000_000 - i,
                i + 1,
                40000 + i
            ))
            .unwrap()
        })
        .collect();
    c.bench_function("ice/checklist_20x20", |b| {
        b.iter(|| {
            let mut agent = Agent::new(
                AgentConfig {
                    controlling: true,
                    rng_seed: [2; 32],
                    ..Default::default()
                },
                creds('a'),
            );
            for i in 0..20u16 {
                let local =
                    SocketAddr::new(format!("192.0.2.{}", i + 1).parse().unwrap(), 5000 + i);
                agent.add_host_candidate(local, 1).unwrap();
            }
            for r in &remote {
                let _ = agent.add_remote_candidate(r.clone());
            }
            black_box(agent.pair_count())
        })
    });
}

fn candidate_parse(c: &mut Criterion) {
    let zero_copy = allocations_per_op(|| {
        black_box(icebreaker_sdp::Candidate::parse(black_box(LINE)).unwrap());
    });
    let owned = allocations_per_op(|| {
        black_box(Candidate::parse(black_box(LINE)).unwrap());
    });
    let str0m = allocations_per_op(|| {
        black_box(is::Candidate::from_sdp_string(black_box(LINE)).unwrap());
    });
    eprintln!(
        "ice candidate parse: zero-copy {zero_copy:.2}, owned {owned:.2}, str0m's is {str0m:.2} allocations per op"
    );
    let mut g = c.benchmark_group("ice/candidate_parse");
    g.throughput(criterion::Throughput::Bytes(LINE.len() as u64));
    g.bench_function("zero_copy", |b| {
        b.iter(|| icebreaker_sdp::Candidate::parse(black_box(LINE)).unwrap())
    });
    g.bench_function("owned", |b| {
        b.iter(|| Candidate::parse(black_box(LINE)).unwrap())
    });
    // str0m's agent parses into its owned candidate (and takes no mDNS host names).
    g.bench_function("str0m_is", |b| {
        b.iter(|| is::Candidate::from_sdp_string(black_box(LINE)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, answer_check, checklist, candidate_parse);
criterion::criterion_main!(benches);
