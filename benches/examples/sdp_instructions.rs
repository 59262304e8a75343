//! SDP parse and write loops for counting instructions with callgrind, a measure that the load
//! of other processes does not disturb (criterion's wall-clock timings in benches/sdp.rs do).
//!
//! Each library's loop is its own non-inlined function, so callgrind's inclusive cost of
//! `sdp_instructions::parse_ours` divided by N is the instructions per parse (allocation and
//! drop included, as in the criterion bench):
//!
//! ```text
//! cargo build --profile bench -p benches --example sdp_instructions
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/sdp_instructions chrome_dc_offer 1000
//! callgrind_annotate --inclusive=yes cg.out | grep 'sdp_instructions::'
//! ```
//!
//! Arguments: the fixture name (one of `benches/sdp.rs`'s) or a file path, the number of runs per loop, and
//! optionally the one loop to run (such as `parse_msf`), so that each library is measured in a
//! process of its own, with an allocator that no other library has used.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Cursor;

const FIXTURES: &[(&str, &str)] = benches::SDP_FIXTURES;

/// Runs `$parse` `$n` times on a black-boxed `$text` (a macro: the results borrow the text).
macro_rules! repeat {
    ($text:expr, $n:expr, |$t:ident| $parse:expr) => {
        for _ in 0..$n {
            let $t: &str = black_box($text);
            black_box($parse);
        }
    };
}

#[inline(never)]
fn parse_ours(text: &str, n: usize) {
    repeat!(text, n, |t| icebreaker_sdp::parse(t).ok());
}

#[inline(never)]
fn parse_mozilla(text: &str, n: usize) {
    repeat!(text, n, |t| webrtc_sdp::parse_sdp(t, false).ok());
}

#[inline(never)]
fn parse_webrtc_rs(text: &str, n: usize) {
    repeat!(text, n, |t| {
        sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(t.as_bytes()))
            .ok()
    });
}

#[inline(never)]
fn parse_sdp_types(text: &str, n: usize) {
    repeat!(text, n, |t| sdp_types::Session::parse(t.as_bytes()).ok());
}

#[inline(never)]
fn parse_msf(text: &str, n: usize) {
    repeat!(text, n, |t| t.parse::<msf_sdp::SessionDescription>().ok());
}

/// Into a reused buffer, as `benches/sdp.rs` measures it.
#[inline(never)]
fn write_ours(d: &icebreaker_sdp::SessionDescription<'_>, n: usize) {
    let mut buf = String::new();
    for _ in 0..n {
        buf.clear();
        black_box(d).write_to(&mut buf);
        black_box(buf.len());
    }
}

#[inline(never)]
fn write_mozilla(d: &webrtc_sdp::SdpSession, n: usize) {
    for _ in 0..n {
        black_box(black_box(d).to_string());
    }
}

#[inline(never)]
fn write_webrtc_rs(d: &sdp::description::session::SessionDescription, n: usize) {
    for _ in 0..n {
        black_box(black_box(d).marshal());
    }
}

#[inline(never)]
fn write_sdp_types(d: &sdp_types::Session, capacity: usize, n: usize) {
    for _ in 0..n {
        let mut v = Vec::with_capacity(capacity);
        black_box(d).write(&mut v).ok();
        black_box(v);
    }
}

#[inline(never)]
fn write_msf(d: &msf_sdp::SessionDescription, n: usize) {
    for _ in 0..n {
        black_box(black_box(d).to_string());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "chrome_dc_offer".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    // One loop per process keeps the libraries from sharing (and skewing) the allocator's state.
    let only = args.next();
    let run = |f: &str| only.as_deref().is_none_or(|o| o == f);
    // A fixture name, or the path of a description (`./offer.sdp`): variants of a fixture
    // show what each of its lines costs.
    let file;
    let text = if name.contains('/') {
        file = std::fs::read_to_string(&name).unwrap_or_else(|e| {
            eprintln!("{name}: {e}");
            std::process::exit(2);
        });
        file.as_str()
    } else if let Some(&(_, text)) = FIXTURES.iter().find(|(f, _)| *f == name) {
        text
    } else {
        let names: Vec<_> = FIXTURES.iter().map(|(f, _)| *f).collect();
        eprintln!("unknown fixture {name}; one of {names:?} or a path containing '/'");
        std::process::exit(2);
    };
    if run("parse_ours") {
        parse_ours(text, n);
    }
    if run("parse_mozilla") {
        parse_mozilla(text, n);
    }
    if run("parse_webrtc_rs") {
        parse_webrtc_rs(text, n);
    }
    if run("parse_sdp_types") {
        parse_sdp_types(text, n);
    }
    if run("parse_msf") {
        parse_msf(text, n);
    }
    if run("write_ours")
        && let Ok(d) = icebreaker_sdp::parse(text)
    {
        write_ours(&d, n);
    }
    if run("write_mozilla")
        && let Ok(d) = webrtc_sdp::parse_sdp(text, false)
    {
        write_mozilla(&d, n);
    }
    if run("write_webrtc_rs")
        && let Ok(d) = sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(
            text.as_bytes(),
        ))
    {
        write_webrtc_rs(&d, n);
    }
    if run("write_sdp_types")
        && let Ok(d) = sdp_types::Session::parse(text.as_bytes())
    {
        write_sdp_types(&d, text.len(), n);
    }
    if run("write_msf")
        && let Ok(d) = text.parse::<msf_sdp::SessionDescription>()
    {
        write_msf(&d, n);
    }
}
