//! OS entropy, read once and turned into a seeded ChaCha20 RNG. This crate is the only one in
//! the workspace that reads OS entropy; the protocol crates take the RNG as an argument.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// A ChaCha20 RNG seeded from the operating system (`getrandom`).
pub fn os_seeded_rng() -> std::io::Result<ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("no OS entropy: {e}")))?;
    Ok(ChaCha20Rng::from_seed(seed))
}
