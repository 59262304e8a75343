#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_turn::fuzz_server(std::time::Instant::now(), data));
