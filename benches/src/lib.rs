//! Shared pieces of the benchmarks: a counting global allocator, so that every bench can report
//! heap allocations per operation next to its timings.
//!
//! A bench binary installs it with
//! `#[global_allocator] static GLOBAL: benches::Counting = benches::Counting;`
//! and measures with [`allocations_per_op`].
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting every allocation (and reallocation).
pub struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method defers to the system allocator with the caller's arguments unchanged;
// the only addition is an atomic counter, which cannot affect memory safety.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as this method's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as this method's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as this method's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as this method's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations so far (only meaningful when [`Counting`] is the global allocator).
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Heap allocations per call of `f`, averaged over 1000 calls after one warm-up call.
pub fn allocations_per_op(mut f: impl FnMut()) -> f64 {
    f();
    const N: usize = 1000;
    let before = allocations();
    for _ in 0..N {
        f();
    }
    (allocations() - before) as f64 / N as f64
}

/// The SDP descriptions every SDP measurement uses (`benches/sdp.rs`, and
/// `examples/sdp_instructions.rs` for callgrind): name and text.
pub const SDP_FIXTURES: &[(&str, &str)] = &[
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
