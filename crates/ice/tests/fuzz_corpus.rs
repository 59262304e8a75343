//! Replays the committed fuzz corpus through the fuzz entry points on stable, so every CI run
//! checks the seeds and any minimised crash that was added as a regression.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn ice_agent_corpus() {
    assert!(
        replay("ice_agent", |d| icebreaker_ice::fuzz::fuzz_agent(
            std::time::Instant::now(),
            d
        )) > 0
    );
}

#[test]
fn ice_candidate_corpus() {
    assert!(replay("ice_candidate", icebreaker_ice::fuzz::fuzz_candidate) > 0);
}

#[test]
fn agent_survives_pseudo_random_inputs() {
    // A cheap stand-in for the fuzzer on stable: 2000 deterministic pseudo-random inputs.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let len = (x % 300) as usize;
        let mut data = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push((x >> 24) as u8);
        }
        icebreaker_ice::fuzz::fuzz_agent(std::time::Instant::now(), &data);
        icebreaker_ice::fuzz::fuzz_candidate(&data);
    }
}
