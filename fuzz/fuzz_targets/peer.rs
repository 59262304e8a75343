#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    icebreaker::fuzz::fuzz_peer(std::time::Instant::now(), data);
});
