//! Replays the committed seed corpus of the `peer` fuzz target (`fuzz/corpus/peer`) through
//! its entry point, so a plain `cargo test` covers what the fuzzer found.

use std::path::Path;
use std::time::Instant;

use icebreaker::fuzz::fuzz_peer;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/peer");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), std::fs::read(&p).expect("read"))
        })
        .collect()
}

#[test]
fn peer_corpus() {
    let seeds = corpus();
    assert!(seeds.len() >= 5);
    for (name, data) in &seeds {
        let connected = fuzz_peer(Instant::now(), data);
        // The faithful schedules must reach the connected state, or the fuzzer would never
        // get past the offer.
        if name.starts_with("faithful") {
            assert!(connected, "{name} did not connect");
        }
    }
}
