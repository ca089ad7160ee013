//! A shard: everything one core owns. It lives in a thread-local of that
//! core's executor and is reached only through [`with`], synchronously, so
//! no borrow of it ever crosses an `.await`.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::db::Db;

/// Counters INFO sums over cores.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub expire_cycle_time_us: u64,
    pub expired_time_cap_reached: u64,
    pub evicted_keys: u64,
}

impl ShardStats {
    /// Adds another core's counters into these.
    pub fn merge(&mut self, o: &ShardStats) {
        self.keyspace_hits += o.keyspace_hits;
        self.keyspace_misses += o.keyspace_misses;
        self.expired_keys += o.expired_keys;
        self.expire_cycle_time_us += o.expire_cycle_time_us;
        self.expired_time_cap_reached += o.expired_time_cap_reached;
        self.evicted_keys += o.evicted_keys;
    }
}

pub struct Shard {
    pub id: usize,
    pub slots: Range<usize>,
    pub dbs: Vec<Db>,
    pub stats: ShardStats,
    /// Writes since start (Redis's `server.dirty`, per core).
    pub dirty: u64,
    /// Where the active expiry walk resumes.
    expire_cursor: usize,
    /// Eviction candidates kept between rounds (`evict.rs`).
    pub(super) evict_pool: super::evict::Pool,
    /// The database random eviction takes from next.
    pub(super) evict_next_db: usize,
}

thread_local! {
    static SHARD: RefCell<Option<Shard>> = const { RefCell::new(None) };
}

/// Installs this thread's shard. Called once when a shard executor starts.
pub fn install(id: usize, slots: Range<usize>, databases: usize) {
    let dbs = (0..databases).map(|_| Db::new(slots.clone())).collect();
    let shard = Shard {
        id,
        slots: slots.clone(),
        dbs,
        stats: ShardStats::default(),
        dirty: 0,
        expire_cursor: slots.start,
        evict_pool: Default::default(),
        evict_next_db: 0,
    };
    SHARD.with(|s| *s.borrow_mut() = Some(shard));
}

/// Runs `f` on this core's shard. Panics on a thread without one: running
/// shard code elsewhere is a routing bug.
#[inline]
pub fn with<R>(f: impl FnOnce(&mut Shard) -> R) -> R {
    SHARD.with(|s| {
        f(s.borrow_mut()
            .as_mut()
            .expect("shard code ran off a shard core"))
    })
}

/// Current time in unix milliseconds.
#[inline]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Seconds clock for LRU/idle time. Like Redis's `server.lruclock`, it is
/// a cached value refreshed by each shard's periodic task, so touching a
/// key costs a load, not a clock read.
pub fn lru_clock() -> u32 {
    match LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed) {
        0 => refresh_lru_clock(),
        c => c,
    }
}

static LRU_CLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Re-reads the wall clock into the LRU clock; returns the new value.
pub fn refresh_lru_clock() -> u32 {
    let c = (now_ms() / 1000) as u32;
    LRU_CLOCK.store(c, std::sync::atomic::Ordering::Relaxed);
    c
}

/// A cheap monotonic clock for statistics (vDSO coarse clock, ~1-4 ms
/// resolution). Summed over many calls the error averages out, which is
/// all INFO commandstats needs.
#[inline]
pub fn coarse_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// DEBUG SET-ACTIVE-EXPIRE 0 turns the active expiry cycle off (keys still
/// expire when accessed), as Redis's `active_expire_enabled`.
static ACTIVE_EXPIRE: AtomicBool = AtomicBool::new(true);

pub fn set_active_expire(on: bool) {
    ACTIVE_EXPIRE.store(on, Ordering::Relaxed);
}

pub fn active_expire_enabled() -> bool {
    ACTIVE_EXPIRE.load(Ordering::Relaxed)
}

impl Shard {
    /// One active expiry chunk: walks the slots within `budget`, deleting
    /// expired keys and telling `expired` (db, key) of each. Returns true
    /// when it stopped for time (more to do).
    pub fn active_expire(
        &mut self,
        budget: Duration,
        mut expired: impl FnMut(usize, &[u8]),
    ) -> bool {
        let start = Instant::now();
        let now = now_ms();
        let mut capped = false;
        let nslots = self.slots.len();
        let mut visited = 0;
        while visited < nslots && self.dbs.iter().any(|d| d.volatile() > 0) {
            let slot = self.expire_cursor;
            self.expire_cursor = if slot + 1 >= self.slots.end {
                self.slots.start
            } else {
                slot + 1
            };
            visited += 1;
            for (i, db) in self.dbs.iter_mut().enumerate() {
                if db.volatile() == 0 {
                    continue;
                }
                let gone = db.expire_slot(slot, now);
                for k in &gone {
                    expired(i, k);
                }
                self.stats.expired_keys += gone.len() as u64;
                self.dirty += gone.len() as u64;
            }
            // Checking the clock every few slots keeps the check itself cheap.
            if visited % 64 == 0 && start.elapsed() > budget {
                self.stats.expired_time_cap_reached += 1;
                capped = true;
                break;
            }
        }
        self.stats.expire_cycle_time_us += start.elapsed().as_micros() as u64;
        capped
    }
}
