//! The slot table: for every hash slot, the core that stores it and
//! whether this node serves it.
//!
//! One `AtomicU16` per slot, read with a relaxed load on the data path
//! (no locks): the low bits are the slot's core, the high bits say the
//! slot is not served here, importing or migrating. Standalone mode never
//! sets a flag and keeps contiguous per-core ranges. In cluster mode each
//! slot is placed on a core the first time this node takes it (the core
//! with fewest slots) and keeps that core for good, so keys never move
//! between cores when slots come and go; only the cluster module
//! (`src/cluster`) changes the table, under its own lock.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering::Relaxed};

use crate::storage::slot::SLOTS;

/// The bits that hold the slot's core.
pub const CORE: u16 = 0x07ff;
/// A replica keeps its master's copy of the slot (served to READONLY reads).
pub const REPLICA: u16 = 0x0800;
/// Another node serves the slot (or nobody does).
pub const FOREIGN: u16 = 0x8000;
/// The slot is being imported from another node (CLUSTER SETSLOT IMPORTING).
pub const IMPORTING: u16 = 0x4000;
/// The slot is being migrated to another node (CLUSTER SETSLOT MIGRATING).
pub const MIGRATING: u16 = 0x2000;
/// Cluster mode: the slot has not been placed on a core yet.
pub const UNPLACED: u16 = 0x1000;

static TABLE: [AtomicU16; SLOTS] = [const { AtomicU16::new(0) }; SLOTS];
static CLUSTER: AtomicBool = AtomicBool::new(false);

/// Fills the table at start: contiguous ranges over `n` cores, or in
/// cluster mode every slot foreign and unplaced.
pub fn init(n: usize, cluster: bool) {
    CLUSTER.store(cluster, Relaxed);
    for (s, e) in TABLE.iter().enumerate() {
        let core = (s * n / SLOTS) as u16;
        e.store(if cluster { FOREIGN | UNPLACED } else { core }, Relaxed);
    }
}

/// Whether the table is a cluster node's (slots may be foreign).
#[inline]
pub fn cluster() -> bool {
    CLUSTER.load(Relaxed)
}

/// The slot's entry: core bits and flags.
#[inline]
pub fn entry(slot: usize) -> u16 {
    TABLE[slot].load(Relaxed)
}

/// Sets the slot's entry (the cluster module only).
pub fn set(slot: usize, e: u16) {
    TABLE[slot].store(e, Relaxed)
}

/// The core that stores `slot`'s keys (core 0 for an unplaced slot,
/// which holds none): one load and a mask.
#[inline]
pub fn owner(slot: usize) -> usize {
    (entry(slot) & CORE) as usize
}

/// The contiguous slot range shard `i` of `n` owns in standalone mode.
pub fn range(i: usize, n: usize) -> std::ops::Range<usize> {
    (i * SLOTS / n)..((i + 1) * SLOTS / n)
}

/// The slots a core's storage spans: its range in standalone mode, all of
/// them in cluster mode (slots are placed at run time).
pub fn storage_range(i: usize, n: usize) -> std::ops::Range<usize> {
    if cluster() {
        0..SLOTS
    } else {
        range(i, n)
    }
}
