#![no_main]
use std::time::Instant;
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_nat::fuzz_ops(Instant::now(), data));
