#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_nat::fuzz_ops(std::time::Instant::now(), data));
