//! Replays every file of the committed seed corpora (`fuzz/corpus/stun_*`) and the regression
//! inputs through the fuzz entry points, so a plain `cargo test` covers what the fuzzers found.

use std::path::Path;

use std::time::Instant;

use icebreaker_stun::fuzz::{
    fuzz_channel_data, fuzz_decode, fuzz_discovery, fuzz_integrity, fuzz_roundtrip, fuzz_server,
    fuzz_transaction,
};
use rand_chacha::rand_core::SeedableRng as _;

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

#[test]
fn stun_server_corpus() {
    assert!(replay("stun_server", fuzz_server) >= 5);
}

fn discovery(data: &[u8]) {
    let mut rng = rand_chacha::ChaCha8Rng::from_seed([7; 32]);
    fuzz_discovery(Instant::now(), &mut rng, data);
}

#[test]
fn stun_discovery_corpus() {
    assert!(replay("stun_discovery", discovery) >= 6);
}

fn transaction(data: &[u8]) {
    fuzz_transaction(Instant::now(), data);
}

#[test]
fn stun_transaction_corpus() {
    assert!(replay("stun_transaction", transaction) >= 4);
}

/// The seeds of every corpus through every target (the fuzz fns must accept any bytes).
#[test]
fn every_seed_through_every_target() {
    for target in [
        "stun_decode",
        "stun_roundtrip",
        "stun_integrity",
        "stun_channel_data",
        "stun_server",
        "stun_discovery",
        "stun_transaction",
    ] {
        replay(target, |d| {
            fuzz_roundtrip(d);
            fuzz_integrity(d);
            fuzz_server(d);
            discovery(d);
            transaction(d);
        });
    }
}
