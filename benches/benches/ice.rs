//! ICE benchmarks: answering a connectivity check (decode, verify MESSAGE-INTEGRITY, encode the
//! authenticated response), building the check list for 20 × 20 candidates, and parsing a
//! candidate line (zero-copy, through icebreaker-sdp's grammar, and into the agent's owned
//! candidate). Allocations per operation are printed before the timings. Answering a check is
//! measured beside str0m's sans-IO ICE crate (`is`) fed the same bytes.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;

use benches::allocations_per_op;
use criterion::{Criterion, criterion_group};
use icebreaker_ice::{Agent, AgentConfig, Candidate};

#[path = "../shared/ice_agents.rs"]
mod ice_agents;
use ice_agents::creds;

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

const LINE: &str = "candidate:842163049 1 udp 1677729535 198.51.100.7 40000 typ srflx raddr 10.0.0.2 rport 50000 generation 0 network-id 1 network-cost 10";

fn answer_check(c: &mut Criterion) {
    let mut ours = ice_agents::Ours::new();
    let allocs = allocations_per_op(|| ours.answer());
    eprintln!("ice answer check: icebreaker {allocs:.2} allocations per op");
    let mut str0m = ice_agents::Str0m::new();
    let allocs = allocations_per_op(|| str0m.answer());
    eprintln!("ice answer check: str0m's is {allocs:.2} allocations per op");
    let mut g = c.benchmark_group("ice/answer_check");
    g.bench_function("icebreaker", |b| b.iter(|| ours.answer()));
    g.bench_function("str0m_is", |b| b.iter(|| str0m.answer()));
    g.finish();
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
