#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| icebreaker_stun::framing::fuzz_framer(data));
