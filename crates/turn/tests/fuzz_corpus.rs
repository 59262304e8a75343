//! Replays the fuzz corpora (`fuzz/corpus/turn_*`, `fuzz/corpus/stun_framer`, and crash
//! artifacts when present) through the fuzz entry points on stable, so a crash found once stays
//! fixed.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn replay(target: &str, run: impl Fn(&[u8])) -> usize {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        for file in files_under(&dir) {
            run(&std::fs::read(&file).expect("read"));
            n += 1;
        }
    }
    n
}

#[test]
fn replay_turn_server_corpus() {
    assert!(
        replay("turn_server", |d| icebreaker_turn::fuzz_server(
            std::time::Instant::now(),
            d
        )) >= 6
    );
}

#[test]
fn replay_turn_client_corpus() {
    assert!(
        replay("turn_client", |d| icebreaker_turn::fuzz_client(
            std::time::Instant::now(),
            d
        )) >= 4
    );
}

#[test]
fn replay_stun_framer_corpus() {
    assert!(replay("stun_framer", icebreaker_stun::framing::fuzz_framer) >= 4);
}
