#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_turn::fuzz_client(std::time::Instant::now(), data));
