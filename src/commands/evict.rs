//! The memory limit across cores (`maxmemory`): how much each core frees
//! and when, and what an evicted key does to the rest of the server.
//!
//! The limit is on the whole process (`memory::used`, every thread's
//! allocations). A write that finds the process over it computes the
//! excess beyond what cores are already asked to free, splits it over the
//! cores by their share of the evictable keys, frees its own core's share
//! at once (within `maxmemory-eviction-tenacity`'s time budget, as Redis
//! does) and sends one wake-up job to each other core with a share (a job
//! already on its way takes any later request too). Writes go on meanwhile,
//! so the limit can be passed by what clients write while those jobs
//! travel; -OOM is the answer only when no core has a key the policy may
//! evict. Victims are chosen on each core by `storage::evict`.

use std::time::{Duration, Instant};

use crate::config::events;
use crate::memory;
use crate::persistence::snapshot;
use crate::protocol::{errors, Reply};
use crate::runtime::{self, background::CHUNK_BUDGET};
use crate::storage::evict::{self, Policy};
use crate::storage::{journal, shard};

use super::{flags, pubsub, Spec};

/// Before a command while `maxmemory` is set: evicts if the process is over
/// the limit, and returns -OOM when the command may not run (a `denyoom`
/// command, or any command queued in MULTI, as Redis's processCommand,
/// with nothing left to evict).
pub async fn before_command(spec: &Spec, queueing: bool) -> Option<Reply> {
    // CLIENT PAUSE pauses eviction (and the -OOM it would lead to).
    if super::pause::active() {
        return None;
    }
    let reject = spec.flags & flags::DENYOOM != 0
        || (queueing && !matches!(spec.name, "exec" | "discard" | "quit" | "reset"));
    if !reject && spec.flags & flags::WRITE == 0 {
        return None;
    }
    let oom = out_of_memory().await;
    (reject && oom).then(|| Reply::error(errors::OOM))
}

/// Evicts what the policy allows if the process is over the limit; true
/// when it stays over with nothing left to evict (Redis's
/// `pre_command_oom_state`, which scripts also consult).
pub async fn out_of_memory() -> bool {
    let limit = evict::limit();
    if limit == 0 || memory::used_for_evict() <= limit {
        return false;
    }
    let freeable = free(limit).await;
    !freeable && memory::used_for_evict() > limit
}

/// Over the limit: asks every core for its share and frees this core's.
/// Returns whether any core has a key the policy may evict.
///
/// Other cores publish their counts at `hz`, so the shares follow counts
/// up to a tick old: this core may free all it has while another, filled
/// since its last count, still has thousands. Before refusing, every core
/// is asked for its count now and the excess requested again.
async fn free(limit: usize) -> bool {
    let p = evict::policy();
    if p == Policy::NoEviction {
        return false;
    }
    let n = runtime::shards();
    let me = runtime::me();
    shard::with(|s| s.publish_counts());
    for fresh in [false, true] {
        if fresh {
            if memory::used_for_evict() <= limit {
                return true;
            }
            runtime::gather(0..n, || shard::with(|s| s.publish_counts())).await;
        }
        let total: u64 = (0..n).map(|c| evict::evictable(c, p)).sum();
        if total == 0 {
            continue;
        }
        request(limit, p, total);
        // Not under a transaction's gate: its journal block must not gain a
        // deletion it did not make. The wake-up job waits for the gate.
        if runtime::gate::current() == 0 && runtime::gate::admits(0) {
            evict_pending(time_limit());
        }
        wake_all(n);
        if (0..n).any(|c| evict::evictable(c, p) > 0 || c != me && evict::pending(c) > 0) {
            return true;
        }
    }
    false
}

/// Splits the excess not yet requested over the cores, by evictable keys.
fn request(limit: usize, p: Policy, total: u64) {
    let n = runtime::shards();
    let excess = memory::used_for_evict().saturating_sub(limit) as u64;
    let asked: u64 = (0..n).map(evict::pending).sum();
    let more = excess.saturating_sub(asked);
    if more == 0 {
        return;
    }
    for c in 0..n {
        let e = evict::evictable(c, p);
        if e > 0 {
            evict::add_pending(c, (more as u128 * e as u128).div_ceil(total as u128) as u64);
        }
    }
}

/// Redis's evictionTimeLimitUs: how long one command may spend evicting.
fn time_limit() -> Duration {
    let t = crate::config::num(crate::config::Opt::MaxmemoryEvictionTenacity);
    if t <= 10 {
        Duration::from_micros(50 * t as u64)
    } else if t < 100 {
        Duration::from_micros((500.0 * 1.15f64.powi(t as i32 - 10)) as u64)
    } else {
        Duration::MAX
    }
}

/// Sends a wake-up job to each core with bytes to free and none on its way.
fn wake_all(n: usize) {
    for c in 0..n {
        if evict::pending(c) > 0 && evict::wake(c) {
            runtime::spawn(drive(c));
        }
    }
}

/// Frees `core`'s pending bytes in budgeted chunks until none are left.
async fn drive(core: usize) {
    loop {
        let more = runtime::call_on(core, move || {
            if evict_pending(CHUNK_BUDGET) {
                return true;
            }
            evict::sleep(core);
            // A request that came after the last chunk took its bytes.
            evict::pending(core) > 0 && evict::wake(core)
        })
        .await;
        if more != Some(true) {
            return;
        }
        // A real sleep lets the core's reactor serve its sockets.
        runtime::sleep(Duration::from_micros(1)).await;
    }
}

/// Evicts keys of this core until its pending bytes are freed or `budget`
/// is spent; returns whether bytes remain (and keys to free them).
fn evict_pending(budget: Duration) -> bool {
    let me = runtime::me();
    let want = evict::take_pending(me);
    if want == 0 {
        return false;
    }
    let p = evict::policy();
    let start = Instant::now();
    let (mut freed, mut n) = (0u64, 0u32);
    let mut left = true;
    while freed < want {
        let Some((db, key)) = shard::with(|s| s.victim(p)) else {
            left = false;
            break;
        };
        // The snapshot keeps the value it started with.
        snapshot::before_write(db, &key);
        let before = memory::thread_used();
        shard::with(|s| {
            s.dbs[db].remove(&key);
            s.stats.evicted_keys += 1;
        });
        freed += (before - memory::thread_used()).max(0) as u64;
        key_evicted(db, &key);
        n += 1;
        if n.is_multiple_of(16) && start.elapsed() > budget {
            break;
        }
    }
    shard::with(|s| s.publish_counts());
    journal::publish();
    if left && freed < want {
        evict::add_pending(me, want - freed);
        return true;
    }
    false
}

/// The server evicted a key: the "evicted" event, tracking and WATCH, and
/// a DEL in the journal so the AOF and replicas drop it too.
fn key_evicted(db: usize, key: &[u8]) {
    pubsub::notify(events::EVICTED, "evicted", key, db);
    super::key_changed(db, key, 0);
    journal::record(db, &[b"DEL".as_slice(), key]);
}

/// Every core's periodic check (at `hz`): publishes its counts and, when
/// the process is over the limit, asks for and starts eviction, so memory
/// comes down without writes too (CONFIG SET maxmemory lower, growth from
/// commands that do not evict).
pub fn cron() {
    shard::with(|s| s.publish_counts());
    let limit = evict::limit();
    if limit == 0 || memory::used_for_evict() <= limit || super::pause::active() {
        return;
    }
    let p = evict::policy();
    let n = runtime::shards();
    let total: u64 = (0..n).map(|c| evict::evictable(c, p)).sum();
    if p != Policy::NoEviction && total > 0 {
        request(limit, p, total);
        wake_all(n);
    }
}

/// After CONFIG SET maxmemory: evict down to the new limit now.
pub async fn config_changed() {
    let limit = evict::limit();
    if limit == 0 || memory::used_for_evict() <= limit {
        return;
    }
    let n = runtime::shards();
    runtime::gather(0..n, || shard::with(|s| s.publish_counts())).await;
    let p = evict::policy();
    let total: u64 = (0..n).map(|c| evict::evictable(c, p)).sum();
    if p != Policy::NoEviction && total > 0 {
        request(limit, p, total);
        wake_all(n);
    }
}
