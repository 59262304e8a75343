//! Replays the committed fuzz corpora (`fuzz/corpus/nat_spec`, `fuzz/corpus/nat_ops`) through the
//! fuzz entry points on stable, so every input ever found interesting stays a regression test.

use std::path::PathBuf;
use std::time::Instant;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        run(&data);
    }
    paths.len()
}

#[test]
fn replay_nat_spec_corpus() {
    assert!(replay("nat_spec", icebreaker_nat::fuzz_spec) > 0);
}

#[test]
fn replay_nat_ops_corpus() {
    assert!(
        replay("nat_ops", |data| icebreaker_nat::fuzz_ops(
            Instant::now(),
            data
        )) > 0
    );
}

#[test]
fn fuzz_ops_smoke_every_head_byte() {
    let epoch = Instant::now();
    for head in 0..=255u8 {
        let mut data = vec![head];
        for i in 0..64u8 {
            data.extend_from_slice(&[
                i % 7,
                i.wrapping_mul(37),
                i.wrapping_mul(11),
                i.wrapping_mul(13),
            ]);
        }
        icebreaker_nat::fuzz_ops(epoch, &data);
    }
}
