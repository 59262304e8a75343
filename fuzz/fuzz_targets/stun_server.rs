#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_stun::fuzz::fuzz_server(data));
