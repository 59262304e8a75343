#![no_main]
use rand_chacha::rand_core::SeedableRng as _;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut rng = rand_chacha::ChaCha8Rng::from_seed([7; 32]);
    icebreaker_stun::fuzz::fuzz_discovery(std::time::Instant::now(), &mut rng, data)
});
