//! Replays the fuzz corpora (`fuzz/corpus/sdp_*`, and crash artifacts when present) and the
//! fixtures through the fuzz entry points on stable, so a crash found once stays fixed.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    v.sort();
    v
}

#[test]
fn replay_fuzz_corpora_and_fixtures() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fuzz = root.join("../../fuzz");
    let mut dirs = vec![root.join("tests/fixtures")];
    for parent in [fuzz.join("corpus"), fuzz.join("artifacts")] {
        dirs.extend(files_under(&parent).into_iter().filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sdp_"))
        }));
    }
    let mut count = 0;
    for dir in dirs {
        for file in files_under(&dir).into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&file).expect("read");
            icebreaker_sdp::fuzz_parse(&data);
            icebreaker_sdp::fuzz_roundtrip(&data);
            count += 1;
        }
    }
    assert!(count >= 16, "replayed {count} inputs");
}
