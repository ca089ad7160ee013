//! Client eviction (`maxmemory-clients`), as Redis 7.0: when the memory held
//! by all normal and pub/sub clients passes the limit, the biggest clients
//! are closed until it is under again.
//!
//! Each core keeps the sum of its own clients' memory (query buffer, output
//! buffer and pushes, as CLIENT LIST `tot-mem`) in its slot of `TOTALS`; a
//! client's connection task adjusts it when the buffers change. The check
//! reads the slots of all cores and closes clients of its own core, biggest
//! first: each core frees what it holds, without cross-core messages.

use std::sync::atomic::{AtomicU64, Ordering};

use super::client::{for_each_local, with_local};
use crate::config::{self, Opt};
use crate::runtime;

/// Most cores a server runs (`threads` is at most 1024).
const MAX_CORES: usize = 1025;

static TOTALS: [AtomicU64; MAX_CORES] = [const { AtomicU64::new(0) }; MAX_CORES];

/// Clients closed by client eviction (INFO stats `evicted_clients`).
pub static EVICTED: AtomicU64 = AtomicU64::new(0);

/// Redis's floor: a smaller setting would cut off every client.
const MIN_LIMIT: u64 = 128 * 1024;

/// A client of this core now holds `now` bytes instead of `before`.
#[inline]
pub fn adjust(before: usize, now: usize) {
    if before != now {
        let slot = &TOTALS[runtime::me()];
        let total = slot.load(Ordering::Relaxed) + now as u64 - before as u64;
        slot.store(total, Ordering::Relaxed);
    }
}

/// The limit in bytes, 0 when off. A percentage is of `maxmemory`.
pub fn limit() -> u64 {
    let set = config::num(Opt::MaxmemoryClients);
    let bytes = match set {
        0 => return 0,
        p if p < 0 => {
            let max = config::num(Opt::Maxmemory) as u64;
            if max == 0 {
                return 0;
            }
            (max as f64 * (-p) as f64 / 100.0) as u64
        }
        n => n as u64,
    };
    bytes.max(MIN_LIMIT)
}

/// Memory held by every client of every core (the control executor's too).
pub fn total() -> u64 {
    TOTALS[..=runtime::shards()]
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .sum()
}

/// Closes this core's biggest evictable clients while all clients together
/// hold more than `maxmemory-clients`. Cheap when the limit is off.
pub fn evict_if_needed() {
    let limit = limit();
    if limit == 0 {
        return;
    }
    let total = total();
    if total <= limit {
        return;
    }
    let mut over = total - limit;
    let mut candidates = Vec::new();
    for_each_local(|c| {
        if c.evictable() {
            candidates.push((c.tot_mem(), c.id));
        }
    });
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    for (mem, id) in candidates {
        if over == 0 {
            break;
        }
        let evicted = with_local(id, |c| {
            tracing::debug!("Evicting client: {}", c.info_line());
            c.close_now();
        });
        if evicted.is_some() {
            EVICTED.fetch_add(1, Ordering::Relaxed);
            over = over.saturating_sub(mem as u64);
        }
    }
}
