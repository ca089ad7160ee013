//! Allocation accounting for INFO memory (`used_memory`): the system
//! allocator wrapped with striped counters, so cores do not contend on one
//! cache line for every allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use crossbeam::utils::CachePadded;

const STRIPES: usize = 64;

pub struct Counting;

static USED: [CachePadded<AtomicIsize>; STRIPES] =
    [const { CachePadded::new(AtomicIsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe() -> usize {
    STRIPE
        .try_with(|s| {
            let v = s.get();
            if v != usize::MAX {
                return v;
            }
            let v = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(v);
            v
        })
        .unwrap_or(0)
}

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        USED[stripe()].fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED[stripe()].fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        USED[stripe()].fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        USED[stripe()].fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

/// Bytes currently allocated by the process. Sums only the stripes threads
/// were given (a handful), since the memory limit asks before each write.
pub fn used() -> usize {
    let stripes = NEXT_STRIPE.load(Ordering::Relaxed).clamp(1, STRIPES);
    let n: isize = USED[..stripes]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let n = n.max(0) as usize;
    PEAK.fetch_max(n, Ordering::Relaxed);
    n
}

/// This thread's stripe: what it allocated minus what it freed (threads
/// share a stripe only past 64). Eviction measures what a deletion freed
/// by its change, without summing every stripe.
#[inline]
pub fn thread_used() -> isize {
    USED[stripe()].load(Ordering::Relaxed)
}

/// Bytes the memory limit does not count (Redis's
/// `mem_not_counted_for_evict`: its replication and AOF buffers). Redwing's
/// only such buffer is the journal's, which is small and drained every
/// millisecond, and it is counted: the limit covers everything allocated.
pub fn not_counted_for_evict() -> usize {
    0
}

/// What the memory limit compares with `maxmemory`.
#[inline]
pub fn used_for_evict() -> usize {
    used().saturating_sub(not_counted_for_evict())
}

/// Highest `used()` seen.
pub fn peak() -> usize {
    used().max(PEAK.load(Ordering::Relaxed))
}

/// Resident set size from /proc, in bytes.
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Human form as Redis prints it (`1.23M`).
pub fn human(n: usize) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", n / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Memory in use while the keyspace was empty (Redis's used_memory_startup):
/// the lowest such reading seen, so the dataset is what lies above it.
/// `used` and `keys` are a reading now.
pub fn startup(used: usize, keys: usize) -> usize {
    static EMPTY_BASELINE: std::sync::Mutex<Option<usize>> = std::sync::Mutex::new(None);
    let mut b = EMPTY_BASELINE.lock().unwrap();
    if keys == 0 {
        *b = Some(b.map_or(used, |v| v.min(used)));
    }
    b.unwrap_or(0)
}
