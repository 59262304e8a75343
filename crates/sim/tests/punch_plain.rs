//! The hole-punching table with the self-contained codec (the STUN version is in `punch_stun.rs`).

use std::time::Instant;

use icebreaker_sim::punch::{self, CLASSIC, EXPECTED, PlainCodec, PunchConfig};
use icebreaker_sim::seeds_from_env;

#[test]
fn classic_table_plain_codec() {
    let epoch = Instant::now();
    let mut failures = Vec::new();
    for seed in seeds_from_env(0..3) {
        for (i, a) in CLASSIC.iter().enumerate() {
            for (j, b) in CLASSIC.iter().enumerate() {
                let config = PunchConfig::new(a.parse().unwrap(), b.parse().unwrap(), seed, epoch);
                let outcome =
                    punch::run(&config, PlainCodec).unwrap_or_else(|e| panic!("{a} x {b}: {e}"));
                if outcome.direct != EXPECTED[i][j] {
                    failures.push(format!(
                        "{a} x {b}: direct={} SIM_SEED={seed}",
                        outcome.direct
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
