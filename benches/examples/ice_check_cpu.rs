//! CPU time per answered connectivity check, icebreaker-ice against str0m's `is`, in one process:
//! both agents are sans-IO, so each answer is pure computation on this thread, and the thread's
//! own CPU clock (`CLOCK_THREAD_CPUTIME_ID`) measures it without counting the time other
//! processes take. `cargo xtask bench --peers ice` runs this and prints
//! its line in its table.
//!
//! ```text
//! cargo run --release -p benches --example ice_check_cpu [ROUNDS]
//! ```
//!
//! Each round runs a batch of answers on each agent in turn (a batch takes about 0.2 s of CPU);
//! the figure is the median over the rounds (default 7). Allocations per answer come from the
//! counting allocator. The last line is for machines:
//! `ice_check_cpu icebreaker_ns=… is_ns=… icebreaker_allocs=… is_allocs=… rounds=…`.
#![allow(missing_docs)]

use benches::allocations_per_op;
use nix::time::{ClockId, clock_gettime};

#[path = "../shared/ice_agents.rs"]
mod ice_agents;

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

/// CPU nanoseconds this thread has run.
fn cpu_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("a thread CPU clock");
    u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0)
}

/// CPU nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, f: &mut impl FnMut()) -> f64 {
    let t = cpu_ns();
    for _ in 0..n {
        f();
    }
    (cpu_ns() - t) as f64 / f64::from(n)
}

/// A batch size that takes about 0.2 s of CPU for `f`.
fn batch(f: &mut impl FnMut()) -> u32 {
    let ns = per_call(10_000, f).max(1.0);
    (2e8 / ns).clamp(1_000.0, 5_000_000.0) as u32
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS: a count"))
        .unwrap_or(7)
        .clamp(1, 99);
    let mut ours = ice_agents::Ours::new();
    let mut str0m = ice_agents::Str0m::new();
    let mut a = || ours.answer();
    let mut b = || str0m.answer();
    let ours_allocs = allocations_per_op(&mut a);
    let is_allocs = allocations_per_op(&mut b);
    let (na, nb) = (batch(&mut a), batch(&mut b));
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ta.push(per_call(na, &mut a));
        tb.push(per_call(nb, &mut b));
    }
    let (ma, mb) = (median(ta), median(tb));
    println!(
        "answering a connectivity check, CPU per answer (median of {rounds} rounds of {na} and {nb}): icebreaker {:.2} µs, str0m's is {:.2} µs ({:.2}× less CPU); allocations per answer: {ours_allocs:.2} and {is_allocs:.2}",
        ma / 1e3,
        mb / 1e3,
        mb / ma
    );
    println!(
        "ice_check_cpu icebreaker_ns={ma:.0} is_ns={mb:.0} icebreaker_allocs={ours_allocs:.2} is_allocs={is_allocs:.2} rounds={rounds}"
    );
}
