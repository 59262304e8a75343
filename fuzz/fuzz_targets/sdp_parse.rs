#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_sdp::fuzz_parse(data));
