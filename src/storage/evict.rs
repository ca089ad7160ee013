//! The memory limit's per-core half: the policy, each key's LRU clock or
//! LFU counter, and choosing which key to evict, as Redis 7.0 does.
//!
//! The 32-bit `Entry::lru` holds, as Redis's 24-bit `robj.lru`, either the
//! last access in seconds (LRU policies and no policy) or, under an LFU
//! policy, `minutes << 8 | counter`: a logarithmic access counter (0-255,
//! new keys start at 5) and the minute it was last decremented; it decays
//! by one per `lfu-decay-time` minutes without access.
//! Switching policy at run time reinterprets the bits, as in Redis.
//!
//! Victims are chosen by sampling (`maxmemory-samples` keys per database)
//! into a pool of the 16 best candidates kept between rounds, Redis's
//! `evictionPoolPopulate`. The cross-core part (how much each core frees,
//! waking cores) lives in `commands::evict`; this module only reads and
//! publishes per-core counters through atomics.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::db::{Db, Key};
use super::entry::Entry;
use super::shard::{lru_clock, Shard};
use crate::config::{self, Opt};

/// `maxmemory-policy`, in the order of `config::POLICIES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    /// Only keys with a TTL may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    fn random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// The configured policy.
#[inline]
pub fn policy() -> Policy {
    const ALL: [Policy; 8] = [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllkeysLru,
        Policy::AllkeysLfu,
        Policy::AllkeysRandom,
        Policy::NoEviction,
    ];
    ALL[config::num(Opt::MaxmemoryPolicy) as usize]
}

/// `maxmemory` in bytes; 0 is no limit.
#[inline]
pub fn limit() -> usize {
    config::num(Opt::Maxmemory) as usize
}

// ---------------------------------------------------------------------------
// LRU clock and LFU counter

/// A new key's counter under LFU (Redis's LFU_INIT_VAL), so that a key
/// just written is not the first one evicted.
const LFU_INIT_VAL: u32 = 5;

/// Minutes on a 16-bit clock (Redis's LFUGetTimeInMinutes).
#[inline]
fn minutes() -> u32 {
    (lru_clock() / 60) & 0xFFFF
}

/// The `lru` field of a key created now.
#[inline]
pub fn new_lru() -> u32 {
    if policy().lfu() {
        minutes() << 8 | LFU_INIT_VAL
    } else {
        lru_clock()
    }
}

/// The `lru` field after an access: the clock, or under LFU the decayed
/// counter incremented with probability 1/((counter-5)*lfu-log-factor+1).
#[inline]
pub fn touched(lru: u32) -> u32 {
    if policy().lfu() {
        minutes() << 8 | log_incr(lfu_counter(lru))
    } else {
        lru_clock()
    }
}

/// The LFU counter after decay for the minutes since its last decrement
/// (Redis's LFUDecrAndReturn; OBJECT FREQ shows it).
pub fn lfu_counter(lru: u32) -> u32 {
    let ldt = (lru >> 8) & 0xFFFF;
    let counter = lru & 0xFF;
    let now = minutes();
    // The clock wraps every 45 days, as Redis's does.
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let decay = config::num(Opt::LfuDecayTime);
    let periods = if decay > 0 {
        (elapsed as i64 / decay) as u32
    } else {
        0
    };
    counter.saturating_sub(periods)
}

fn log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * config::num(Opt::LfuLogFactor) as f64 + 1.0);
    if unit_random() < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// xorshift64*: a touch must stay cheap, and this needs no quality.
fn next_random() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = (super::now_ms() as u64 ^ (r as *const _ as u64)) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn unit_random() -> f64 {
    (next_random() >> 11) as f64 / (1u64 << 53) as f64
}

fn below(n: usize) -> usize {
    (next_random() % n.max(1) as u64) as usize
}

/// Seconds since the key's last access (OBJECT IDLETIME, LRU ranking).
pub fn idle_secs(lru: u32) -> u32 {
    lru_clock().saturating_sub(lru)
}

// ---------------------------------------------------------------------------
// Per-core counters the coordinator reads

/// Cores a process can have (`threads` is at most 1024).
pub const MAX_CORES: usize = 1024;

struct Core {
    /// Keys and keys with a TTL, as of the core's last publication.
    keys: AtomicU64,
    volatile: AtomicU64,
    /// Bytes this core was asked to free and has not freed yet.
    pending: AtomicU64,
    /// A wake-up job is on its way to (or running on) this core.
    woken: AtomicBool,
}

static CORES: [Core; MAX_CORES] = [const {
    Core {
        keys: AtomicU64::new(0),
        volatile: AtomicU64::new(0),
        pending: AtomicU64::new(0),
        woken: AtomicBool::new(false),
    }
}; MAX_CORES];

/// Keys the policy may evict on `core`, as last published.
pub fn evictable(core: usize, p: Policy) -> u64 {
    let c = &CORES[core];
    match p {
        Policy::NoEviction => 0,
        p if p.volatile() => c.volatile.load(Relaxed),
        _ => c.keys.load(Relaxed),
    }
}

/// Bytes `core` still has to free.
pub fn pending(core: usize) -> u64 {
    CORES[core].pending.load(Relaxed)
}

/// Asks `core` to free `bytes` more.
pub fn add_pending(core: usize, bytes: u64) {
    CORES[core].pending.fetch_add(bytes, Relaxed);
}

/// Takes what `core` was asked to free.
pub fn take_pending(core: usize) -> u64 {
    CORES[core].pending.swap(0, Relaxed)
}

/// Marks `core` as woken; false if it already was.
pub fn wake(core: usize) -> bool {
    !CORES[core].woken.swap(true, Relaxed)
}

pub fn sleep(core: usize) {
    CORES[core].woken.store(false, Relaxed);
}

// ---------------------------------------------------------------------------
// Choosing victims

/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

/// The best candidates seen so far, ascending by score (best last).
#[derive(Default)]
pub struct Pool {
    items: Vec<(u64, usize, Key)>,
}

impl Pool {
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.items.len() >= POOL_SIZE && score <= self.items[0].0 {
            return;
        }
        if self.items.iter().any(|(_, d, k)| *d == db && &k[..] == key) {
            return;
        }
        let at = self.items.partition_point(|(s, _, _)| *s < score);
        self.items.insert(at, (score, db, key.into()));
        if self.items.len() > POOL_SIZE {
            self.items.remove(0);
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// How evictable an entry is under `p`: higher goes first.
fn score(p: Policy, e: &Entry) -> u64 {
    if p.lfu() {
        255 - lfu_counter(e.lru) as u64
    } else if p == Policy::VolatileTtl {
        u64::MAX - e.expire_at as u64
    } else {
        idle_secs(e.lru) as u64
    }
}

impl Shard {
    /// Publishes this core's key counts for the coordinator.
    pub fn publish_counts(&self) {
        let c = &CORES[self.id];
        c.keys
            .store(self.dbs.iter().map(|d| d.len() as u64).sum(), Relaxed);
        c.volatile
            .store(self.dbs.iter().map(|d| d.volatile() as u64).sum(), Relaxed);
    }

    /// The next key to evict under `p`, as (database, key); None when no
    /// key qualifies. The key is not removed.
    pub fn victim(&mut self, p: Policy) -> Option<(usize, Key)> {
        let volatile = p.volatile();
        let has = |d: &Db| {
            if volatile {
                d.volatile() > 0
            } else {
                !d.is_empty()
            }
        };
        if p == Policy::NoEviction || !self.dbs.iter().any(has) {
            return None;
        }
        if p.random() {
            // Databases in turn, as Redis's static next_db.
            let n = self.dbs.len();
            for i in 0..n {
                let db = (self.evict_next_db + i) % n;
                if !has(&self.dbs[db]) {
                    continue;
                }
                self.evict_next_db = db + 1;
                let mut found = None;
                self.dbs[db].sample(1, volatile, below, |k, _| found = Some(k.into()));
                return found.map(|k| (db, k));
            }
            return None;
        }
        let samples = config::num(Opt::MaxmemorySamples) as usize;
        // Sampling finds a candidate whenever one exists; the bound only
        // guards against a bug turning into a hang.
        for _ in 0..16 {
            let pool = &mut self.evict_pool;
            for (i, d) in self.dbs.iter().enumerate() {
                if has(d) {
                    d.sample(samples, volatile, below, |k, e| {
                        pool.offer(score(p, e), i, k)
                    });
                }
            }
            // Best first; a candidate deleted (or made persistent) since it
            // was pooled is dropped.
            while let Some((_, db, key)) = self.evict_pool.items.pop() {
                if let Some(e) = self.dbs[db].peek(&key) {
                    if !volatile || e.expire_at().is_some() {
                        return Some((db, key));
                    }
                }
            }
        }
        None
    }
}
