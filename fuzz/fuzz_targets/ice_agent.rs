#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_ice::fuzz::fuzz_agent(
    std::time::Instant::now(),
    data
));
