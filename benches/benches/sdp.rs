//! SDP parse and write: icebreaker-sdp beside webrtc-sdp (Mozilla), sdp (webrtc-rs), sdp-types
//! and msf-sdp, on the same descriptions, with heap allocations per operation counted by a
//! counting global allocator and printed before the timings.
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Counts every allocation and reallocation made through the global allocator.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes) made by `f`.
fn count<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    let a = ALLOCS.load(Ordering::Relaxed);
    let b = BYTES.load(Ordering::Relaxed);
    let out = f();
    let a2 = ALLOCS.load(Ordering::Relaxed);
    let b2 = BYTES.load(Ordering::Relaxed);
    (a2 - a, b2 - b, out)
}

const FIXTURES: &[(&str, &str)] = &[
    (
        "chrome_av_data_4k4",
        include_str!("../../crates/sdp/tests/fixtures/chrome_audio_video_data_offer.sdp"),
    ),
    (
        "firefox_offer",
        include_str!("../../crates/sdp/tests/fixtures/firefox_offer.sdp"),
    ),
    (
        "chrome_dc_gathered",
        include_str!("../../crates/sdp/tests/fixtures/chrome_datachannel_gathered.sdp"),
    ),
    (
        "chrome_dc_offer",
        include_str!("../../crates/sdp/tests/fixtures/chrome_datachannel_offer.sdp"),
    ),
];

fn ours_parse(t: &str) -> Option<icebreaker_sdp::SessionDescription<'_>> {
    icebreaker_sdp::parse(t).ok()
}
fn mozilla_parse(t: &str) -> Option<webrtc_sdp::SdpSession> {
    webrtc_sdp::parse_sdp(t, false).ok()
}
fn webrtc_rs_parse(t: &str) -> Option<sdp::description::session::SessionDescription> {
    sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(t.as_bytes())).ok()
}
fn sdp_types_parse(t: &str) -> Option<sdp_types::Session> {
    sdp_types::Session::parse(t.as_bytes()).ok()
}
fn msf_parse(t: &str) -> Option<msf_sdp::SessionDescription> {
    t.parse::<msf_sdp::SessionDescription>().ok()
}

/// Prints allocations per parse and per write for every library and fixture.
fn allocation_table() {
    println!("\nheap allocations per operation (allocations / bytes requested):");
    println!(
        "{:<20} {:<16} {:>16} {:>16}",
        "fixture", "library", "parse", "write"
    );
    for (name, text) in FIXTURES {
        let row = |lib: &str, parse: (usize, usize, bool), write: Option<(usize, usize)>| {
            let p = if parse.2 {
                format!("{} / {}", parse.0, parse.1)
            } else {
                "refused".into()
            };
            let w = write.map_or_else(|| "-".into(), |(a, b)| format!("{a} / {b}"));
            println!("{name:<20} {lib:<16} {p:>16} {w:>16}");
        };
        let (a, b, d) = count(|| ours_parse(text));
        let w = d.as_ref().map(|d| {
            // Into a fresh buffer reserved from the estimate (a reused one allocates nothing).
            let (a, b, _) = count(|| {
                let mut s = String::with_capacity(d.estimated_len());
                d.write_to(&mut s);
                s
            });
            (a, b)
        });
        row("icebreaker-sdp", (a, b, d.is_some()), w);
        let (a, b, d) = count(|| mozilla_parse(text));
        let w = d.as_ref().map(|d| {
            let (a, b, _) = count(|| d.to_string());
            (a, b)
        });
        row("webrtc-sdp", (a, b, d.is_some()), w);
        let (a, b, d) = count(|| webrtc_rs_parse(text));
        let w = d.as_ref().map(|d| {
            let (a, b, _) = count(|| d.marshal());
            (a, b)
        });
        row("sdp (webrtc-rs)", (a, b, d.is_some()), w);
        let (a, b, d) = count(|| sdp_types_parse(text));
        let w = d.as_ref().map(|d| {
            let (a, b, _) = count(|| {
                let mut v = Vec::new();
                d.write(&mut v).ok();
                v
            });
            (a, b)
        });
        row("sdp-types", (a, b, d.is_some()), w);
        let (a, b, d) = count(|| msf_parse(text));
        let w = d.as_ref().map(|d| {
            let (a, b, _) = count(|| d.to_string());
            (a, b)
        });
        row("msf-sdp", (a, b, d.is_some()), w);
    }
    println!();
}

fn parse(c: &mut Criterion) {
    allocation_table();
    for (name, text) in FIXTURES {
        let mut g = c.benchmark_group(format!("sdp_parse/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("icebreaker-sdp", |b| b.iter(|| ours_parse(black_box(text))));
        if mozilla_parse(text).is_some() {
            g.bench_function("webrtc-sdp", |b| b.iter(|| mozilla_parse(black_box(text))));
        }
        if webrtc_rs_parse(text).is_some() {
            g.bench_function("sdp", |b| b.iter(|| webrtc_rs_parse(black_box(text))));
        }
        if sdp_types_parse(text).is_some() {
            g.bench_function("sdp-types", |b| b.iter(|| sdp_types_parse(black_box(text))));
        }
        if msf_parse(text).is_some() {
            g.bench_function("msf-sdp", |b| b.iter(|| msf_parse(black_box(text))));
        }
        g.finish();
    }
}

fn write(c: &mut Criterion) {
    for (name, text) in FIXTURES {
        let mut g = c.benchmark_group(format!("sdp_write/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        if let Some(d) = ours_parse(text) {
            let mut buf = String::with_capacity(text.len());
            g.bench_function("icebreaker-sdp", |b| {
                b.iter(|| {
                    buf.clear();
                    black_box(&d).write_to(&mut buf);
                    buf.len()
                });
            });
            g.bench_function("icebreaker-sdp (to_string)", |b| {
                b.iter(|| black_box(&d).to_string());
            });
        }
        if let Some(d) = mozilla_parse(text) {
            g.bench_function("webrtc-sdp", |b| b.iter(|| black_box(&d).to_string()));
        }
        if let Some(d) = webrtc_rs_parse(text) {
            g.bench_function("sdp", |b| b.iter(|| black_box(&d).marshal()));
        }
        if let Some(d) = sdp_types_parse(text) {
            g.bench_function("sdp-types", |b| {
                b.iter(|| {
                    let mut v = Vec::with_capacity(text.len());
                    black_box(&d).write(&mut v).ok();
                    v
                });
            });
        }
        if let Some(d) = msf_parse(text) {
            g.bench_function("msf-sdp", |b| b.iter(|| black_box(&d).to_string()));
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = parse, write }
criterion_main!(benches);
