//! One core's part of a fork-less snapshot.
//!
//! Every core starts its part at the same logical instant (`begin`, run on
//! all cores by one `write_atomically`). From then on the core walks its
//! (database, slot) pairs in order, a budgeted chunk at a time, whenever the
//! coordinator asks (`next_chunk`), and keeps serving clients in between.
//!
//! Copy-before-write keeps the result a point-in-time image: before a write
//! changes a key whose slot the walk has not reached, `before_write`
//! serializes the key as it is now (nothing if it is absent) and marks it
//! done, so the walk skips it later. A key first written after the start is
//! marked done while absent, so it is not in the snapshot. The first write
//! to a key after the start always passes here first, so what is written is
//! the value at the start.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::rdb::{KeyMeta, RdbWriter, WriteOptions};
use crate::storage::{key_slot, shard, Entry, Key};

/// A chunk stops growing past this many bytes, whatever its time budget.
const MAX_CHUNK: usize = 1 << 20;

thread_local! {
    /// Read on every write command: one thread-local load when idle.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static SNAP: RefCell<Option<CoreSnap>> = const { RefCell::new(None) };
}

struct CoreSnap {
    dbs: usize,
    /// The walk's cursor: the next (database, slot) to serialize. Pairs
    /// before it are in the snapshot already.
    db: usize,
    slot: usize,
    first_slot: usize,
    end_slot: usize,
    /// Keys of not-yet-walked slots that are already handled.
    done: HashMap<(usize, usize), HashSet<Key>>,
    /// Entries serialized but not yet pulled, without header or checksum
    /// (the coordinator's writer adds both).
    out: RdbWriter,
    /// The database the bytes in `out` currently select.
    out_db: Option<usize>,
    keys: u64,
}

impl CoreSnap {
    fn write(&mut self, db: usize, key: &[u8], e: &Entry) {
        if self.out_db != Some(db) {
            self.out.select(db as u64);
            self.out_db = Some(db);
        }
        self.out
            .entry(key, &e.value, e.expire_at(), KeyMeta::default());
        self.keys += 1;
    }

    fn walked(&self, db: usize, slot: usize) -> bool {
        (db, slot) < (self.db, self.slot)
    }

    fn advance(&mut self) {
        self.slot += 1;
        if self.slot >= self.end_slot {
            self.slot = self.first_slot;
            self.db += 1;
        }
    }
}

/// What one pull returns.
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// This core has serialized everything.
    pub done: bool,
    /// Keys written by this core so far.
    pub keys: u64,
}

/// Starts this core's part; returns its key count and `dirty` counter at
/// this instant.
pub fn begin(opts: WriteOptions) -> (u64, u64) {
    let mut out = RdbWriter::new(WriteOptions {
        compression: opts.compression,
        checksum: false,
    });
    // The header belongs to the coordinator's writer.
    out.take_chunk();
    let (snap, keys, dirty) = shard::with(|sh| {
        let keys = sh.dbs.iter().map(|d| d.len() as u64).sum();
        let snap = CoreSnap {
            dbs: sh.dbs.len(),
            db: 0,
            slot: sh.slots.start,
            first_slot: sh.slots.start,
            end_slot: sh.slots.end,
            done: HashMap::new(),
            out,
            out_db: None,
            keys: 0,
        };
        (snap, keys, sh.dirty)
    });
    SNAP.with(|s| *s.borrow_mut() = Some(snap));
    ACTIVE.set(true);
    (keys, dirty)
}

/// Whether a snapshot is being taken on this core.
#[inline]
pub fn running() -> bool {
    ACTIVE.get()
}

/// Call before a write may change `key` in database `db` (a key owned by
/// this core).
pub fn before_write(db: usize, key: &[u8]) {
    if !ACTIVE.get() {
        return;
    }
    SNAP.with(|s| {
        let mut g = s.borrow_mut();
        let Some(sn) = g.as_mut() else { return };
        let slot = key_slot(key);
        if db >= sn.dbs || sn.walked(db, slot) {
            return;
        }
        if !sn.done.entry((db, slot)).or_default().insert(key.into()) {
            return;
        }
        shard::with(|sh| {
            if let Some(e) = sh.dbs[db].peek(key) {
                sn.write(db, key, e);
            }
        });
    });
}

/// Serializes up to `budget` of work; everything written since the last
/// pull (walk and copy-before-write) comes back.
pub fn next_chunk(budget: Duration) -> Chunk {
    SNAP.with(|s| {
        let mut g = s.borrow_mut();
        let Some(sn) = g.as_mut() else {
            return Chunk {
                bytes: Vec::new(),
                done: true,
                keys: 0,
            };
        };
        let start = Instant::now();
        shard::with(|sh| {
            while sn.db < sn.dbs && sn.out.pending() < MAX_CHUNK {
                let db = &sh.dbs[sn.db];
                if db.is_empty() {
                    // Nothing to walk: the whole database is done.
                    sn.slot = sn.end_slot - 1;
                    sn.advance();
                    continue;
                }
                let skip = sn.done.remove(&(sn.db, sn.slot));
                for (k, e) in db.slot_entries(sn.slot) {
                    if skip.as_ref().is_some_and(|d| d.contains(k)) {
                        continue;
                    }
                    let dbi = sn.db;
                    sn.write(dbi, k, e);
                }
                sn.advance();
                if start.elapsed() >= budget {
                    break;
                }
            }
        });
        let done = sn.db >= sn.dbs;
        let bytes = sn.out.take_chunk();
        sn.out_db = None;
        let keys = sn.keys;
        if done {
            *g = None;
            ACTIVE.set(false);
        }
        Chunk { bytes, done, keys }
    })
}

/// Drops this core's part (an aborted snapshot).
pub fn cancel() {
    SNAP.with(|s| *s.borrow_mut() = None);
    ACTIVE.set(false);
}
