//! Allocation accounting for INFO memory (`used_memory`): jemalloc wrapped
//! with striped counters, so cores do not contend on one cache line for
//! every allocation.
//!
//! jemalloc, as Redis: its size classes are 8-16 bytes apart where glibc's
//! malloc adds an 8-byte header and rounds to 16 with a 32-byte minimum, so
//! small keys take 10-25% less RSS (bench/RESULTS.md, 2026-12-07).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use crossbeam::utils::CachePadded;

const STRIPES: usize = 64;

pub struct Counting;

static INNER: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

// SAFETY: forwards to jemalloc unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        USED[stripe()].fetch_add(layout.size() as isize, Ordering::Relaxed);
        INNER.alloc(layout)
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED[stripe()].fetch_sub(layout.size() as isize, Ordering::Relaxed);
        INNER.dealloc(ptr, layout)
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        USED[stripe()].fetch_add(layout.size() as isize, Ordering::Relaxed);
        INNER.alloc_zeroed(layout)
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        USED[stripe()].fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        INNER.realloc(ptr, layout, new_size)
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

/// The bytes jemalloc gives a request of `n` (its size class); 0 for 0.
pub fn size_class(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes a size; flags 0 asks for no alignment.
    unsafe { tikv_jemalloc_sys::nallocx(n, 0) }
}

/// The allocator's name as INFO's `mem_allocator` gives it (Redis:
/// `jemalloc-5.3.0`).
pub fn allocator() -> String {
    let v = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
    format!("jemalloc-{}", v.split('-').next().unwrap_or(v))
}

/// jemalloc's own figures, as INFO memory's `allocator_*` fields give
/// them: bytes the program holds, in active pages, and resident.
pub struct AllocatorStats {
    pub allocated: usize,
    pub active: usize,
    pub resident: usize,
}

/// `a / b` and `a - b`: how Redis states each overhead.
fn overhead(a: usize, b: usize) -> (f64, i64) {
    (a as f64 / b.max(1) as f64, a as i64 - b as i64)
}

impl AllocatorStats {
    /// Fragmentation inside jemalloc's pages (`allocator_frag_*`).
    pub fn frag(&self) -> (f64, i64) {
        overhead(self.active, self.allocated)
    }

    /// Pages jemalloc keeps resident beyond the active ones
    /// (`allocator_rss_*`).
    pub fn rss(&self) -> (f64, i64) {
        overhead(self.resident, self.active)
    }

    /// The process's RSS beyond jemalloc's (`rss_overhead_*`).
    pub fn process(&self, rss: usize) -> (f64, i64) {
        overhead(rss, self.resident)
    }
}

/// Reads jemalloc's statistics afresh (they are cached until an epoch
/// advance).
pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    AllocatorStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
    }
}

/// Returns the dirty pages of every arena to the system (MEMORY PURGE, as
/// Redis's jemalloc_purge) and flushes the calling thread's cache.
pub fn purge() {
    // 4096 is MALLCTL_ARENAS_ALL, the pseudo-arena that names them all.
    for name in [c"arena.4096.purge", c"thread.tcache.flush"] {
        // SAFETY: both controls take no value and return none.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
    }
}

/// jemalloc's statistics report (MEMORY MALLOC-STATS, as Redis's).
pub fn malloc_stats() -> String {
    unsafe extern "C" fn append(out: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `out` is the String passed below, `text` a C string
        // jemalloc owns for the call.
        let (out, text) = unsafe { (&mut *(out as *mut String), std::ffi::CStr::from_ptr(text)) };
        out.push_str(&text.to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            &mut out as *mut String as *mut std::ffi::c_void,
            std::ptr::null(),
        )
    };
    out
}
