//! Replays every file of the committed seed corpora (`fuzz/corpus/stun_*`) and the regression
//! inputs through the fuzz entry points, so a plain `cargo test` covers what the fuzzers found.

use std::path::Path;

use icebreaker_stun::fuzz::{fuzz_channel_data, fuzz_decode, fuzz_integrity, fuzz_roundtrip};

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        run(&data);
        // Every input goes through every entry point: they must all hold for any bytes.
        fuzz_decode(&data);
        fuzz_channel_data(&data);
        n += 1;
    }
    n
}

#[test]
fn stun_decode_corpus() {
    assert!(replay("stun_decode", fuzz_decode) >= 5);
}

#[test]
fn stun_roundtrip_corpus() {
    assert!(replay("stun_roundtrip", fuzz_roundtrip) >= 3);
}

#[test]
fn stun_integrity_corpus() {
    assert!(replay("stun_integrity", fuzz_integrity) >= 3);
}

#[test]
fn stun_channel_data_corpus() {
    assert!(replay("stun_channel_data", fuzz_channel_data) >= 5);
}

/// The seeds of every corpus through every target (the fuzz fns must accept any bytes).
#[test]
fn every_seed_through_every_target() {
    for target in [
        "stun_decode",
        "stun_roundtrip",
        "stun_integrity",
        "stun_channel_data",
    ] {
        replay(target, |d| {
            fuzz_roundtrip(d);
            fuzz_integrity(d);
        });
    }
}
