//! One numbered database's part on one core: a hash table per owned slot.
//!
//! Keeping a table per slot gives SCAN a stable cursor (a slot is listed
//! whole, so a key present for the whole scan is always returned), lets
//! cluster mode count and move a slot's keys, and keeps each rehash small.
//! A table holds only pointers to entry blocks (see `entry.rs`).

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use hashbrown::hash_table::Entry as Slot;
use hashbrown::HashTable;

pub use super::entry::Entry;
use super::entry::Node;
use super::slot::key_slot;
use super::value::Value;

/// Key hasher: ahash with one random seed per process, zero-sized so that
/// thousands of per-slot maps cost no more than their tables.
#[derive(Clone, Copy, Default)]
pub struct KeyHasher;

static SEED: OnceLock<ahash::RandomState> = OnceLock::new();

impl BuildHasher for KeyHasher {
    type Hasher = ahash::AHasher;
    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        SEED.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

/// This server is a replica: keys are expired by its master's DELs only.
/// Reads see a logically expired key as missing, but it stays (Redis's
/// `expireIfNeeded` on a replica), and the master's commands still see it.
static KEEP_EXPIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set while this server is a replica (REPLICAOF), cleared on promotion.
pub fn set_keep_expired(on: bool) {
    KEEP_EXPIRED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Set while CLIENT PAUSE holds clients: keys do not expire meanwhile.
static EXPIRY_PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_expiry_paused(on: bool) {
    EXPIRY_PAUSED.store(on, std::sync::atomic::Ordering::Relaxed);
}

#[inline]
pub fn keeps_expired() -> bool {
    KEEP_EXPIRED.load(std::sync::atomic::Ordering::Relaxed)
        || EXPIRY_PAUSED.load(std::sync::atomic::Ordering::Relaxed)
}

pub type Key = Box<[u8]>;
/// One slot's keys: thin pointers to entry blocks (8 bytes a bucket).
type SlotTable = HashTable<Node>;

#[inline]
fn hash(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
}

/// Keys `Db::prefetch` looks at in one call (a pipelined read's worth:
/// 16 commands, or 6 MSETs of 10 keys).
const PREFETCH_MAX: usize = 64;

/// Asks the CPU to start loading the cache line at `p` (a hint: any
/// address is allowed, nothing is read).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no effect on memory.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
fn rehash(n: &Node) -> u64 {
    hash(n.key())
}

/// Keys of one database owned by this core.
pub struct Db {
    first_slot: usize,
    nslots: usize,
    /// Empty until the first write, so unused databases cost nothing.
    slots: Vec<SlotTable>,
    /// Keys with a TTL, per slot, so the expiry walk skips slots without.
    slot_volatile: Vec<u32>,
    keys: usize,
    volatile: usize,
}

/// What a lookup found: lazily expired keys count as missing.
pub enum Lookup<'a> {
    Found(&'a mut Entry),
    Missing,
}

impl Db {
    pub fn new(range: Range<usize>) -> Db {
        Db {
            first_slot: range.start,
            nslots: range.len(),
            slots: Vec::new(),
            slot_volatile: Vec::new(),
            keys: 0,
            volatile: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    pub fn volatile(&self) -> usize {
        self.volatile
    }

    pub fn slot_range(&self) -> Range<usize> {
        self.first_slot..self.first_slot + self.nslots
    }

    fn table(&mut self, slot: usize) -> &mut SlotTable {
        if self.slots.is_empty() {
            self.slots = (0..self.nslots).map(|_| SlotTable::new()).collect();
            self.slot_volatile = vec![0; self.nslots];
        }
        &mut self.slots[slot - self.first_slot]
    }

    /// The slot's table if it exists (read-only paths never allocate).
    fn slot_table(&self, slot: usize) -> Option<&SlotTable> {
        self.slots.get(slot.checked_sub(self.first_slot)?)
    }

    /// Looks a key up, deleting it first if it has expired (on a replica
    /// an expired key is only hidden). Returns `(entry, expired_now)`.
    pub fn lookup(&mut self, key: &[u8], now: i64) -> (Option<&mut Entry>, bool) {
        if self.keys == 0 {
            return (None, false);
        }
        // A slot outside this part (a foreign one) simply has no keys.
        let i = key_slot(key).wrapping_sub(self.first_slot);
        let Some(table) = self.slots.get_mut(i) else {
            return (None, false);
        };
        let Ok(found) = table.find_entry(hash(key), |n| n.key() == key) else {
            return (None, false);
        };
        if !found.get().entry().expired(now) {
            return (Some(found.into_mut().entry_mut()), false);
        }
        if keeps_expired() {
            return (None, false);
        }
        found.remove();
        // Fields apart from `slots`, which `found` still borrows; an
        // expired key was volatile.
        self.keys -= 1;
        self.volatile -= 1;
        self.slot_volatile[i] -= 1;
        (None, true)
    }

    /// Starts loading what looking up each of `keys` will read (the slot's
    /// table, its control bytes and bucket, the entry block), so that a
    /// pipelined read's commands wait for their cache misses together
    /// instead of one after another. Two passes, each over all the keys:
    /// the second reads what the first fetched.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        if self.keys == 0 {
            return;
        }
        let mut found: [(u64, usize); PREFETCH_MAX] = [(0, 0); PREFETCH_MAX];
        let mut n = 0;
        for key in keys.take(PREFETCH_MAX) {
            let i = key_slot(key).wrapping_sub(self.first_slot);
            if let Some(t) = self.slots.get(i) {
                prefetch(std::ptr::from_ref(t).cast());
                found[n] = (hash(key), i);
                n += 1;
            }
        }
        for &(h, i) in &found[..n] {
            // Never matches: visits each candidate's bucket, starting the
            // load of its block (entry, then key) without waiting for it.
            self.slots[i].find(h, |node| {
                let p = node.as_ptr();
                prefetch(p);
                prefetch(p.wrapping_add(64));
                false
            });
        }
    }

    /// A replica's write lookup: its master's commands see a key whether
    /// or not its time has passed here (the master's DEL removes it).
    pub fn lookup_kept(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.keys == 0 {
            return None;
        }
        let i = key_slot(key).wrapping_sub(self.first_slot);
        self.slots
            .get_mut(i)?
            .find_mut(hash(key), |n| n.key() == key)
            .map(Node::entry_mut)
    }

    /// Reads an entry without expiring it (for code that already expired it).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        let t = self.slot_table(key_slot(key))?;
        t.find(hash(key), |n| n.key() == key).map(Node::entry)
    }

    /// Inserts or replaces; `expire_at` 0 means persistent. Returns the old entry.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: i64, lru: u32) -> Option<Entry> {
        let slot = key_slot(key);
        let entry = Entry::new(value, expire_at, lru);
        let old = match self
            .table(slot)
            .entry(hash(key), |n| n.key() == key, rehash)
        {
            Slot::Occupied(mut o) => {
                let mut entry = entry;
                // Under LFU an overwritten key keeps its counter (Redis's
                // dbOverwrite): a new value is not a new access history.
                if super::evict::policy().lfu() {
                    entry.lru = o.get().entry().lru;
                }
                Some(std::mem::replace(o.get_mut().entry_mut(), entry))
            }
            Slot::Vacant(v) => {
                v.insert(Node::new(key, entry));
                None
            }
        };
        if old.is_none() {
            self.keys += 1;
        }
        self.count_volatile(
            slot,
            old.as_ref().is_some_and(|o| o.expire_at != 0),
            expire_at != 0,
        );
        old
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.keys == 0 {
            return None;
        }
        let slot = key_slot(key);
        let found = self.table(slot).find_entry(hash(key), |n| n.key() == key);
        let old = found.ok()?.remove().0.into_entry();
        self.keys -= 1;
        self.count_volatile(slot, old.expire_at != 0, false);
        Some(old)
    }

    /// Sets or clears (0) the expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: i64) -> bool {
        let slot = key_slot(key);
        let Some(n) = self.table(slot).find_mut(hash(key), |n| n.key() == key) else {
            return false;
        };
        let e = n.entry_mut();
        let before = e.expire_at != 0;
        e.expire_at = expire_at;
        self.count_volatile(slot, before, expire_at != 0);
        true
    }

    /// Keeps the volatile counters right when a key's TTL state changes.
    fn count_volatile(&mut self, slot: usize, before: bool, after: bool) {
        let i = slot - self.first_slot;
        if after && !before {
            self.volatile += 1;
            self.slot_volatile[i] += 1;
        } else if before && !after {
            self.volatile -= 1;
            self.slot_volatile[i] -= 1;
        }
    }

    /// Appends the live keys of `slot` to `out`.
    pub fn slot_keys(&self, slot: usize, now: i64, out: &mut Vec<Bytes>) {
        if let Some(t) = self.slot_table(slot) {
            for n in t {
                if !n.entry().expired(now) {
                    out.push(Bytes::copy_from_slice(n.key()));
                }
            }
        }
    }

    /// The entries of one slot (a snapshot walks slot by slot).
    pub fn slot_entries(&self, slot: usize) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.slot_table(slot)
            .into_iter()
            .flat_map(|t| t.iter().map(|n| (n.key(), n.entry())))
    }

    /// All entries, for whole-keyspace commands (KEYS, snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.slots
            .iter()
            .flat_map(|t| t.iter().map(|n| (n.key(), n.entry())))
    }

    /// Removes the expired keys of one slot; returns the keys removed.
    pub fn expire_slot(&mut self, slot: usize, now: i64) -> Vec<Key> {
        let i = slot - self.first_slot;
        if keeps_expired() || self.slot_volatile.get(i).copied().unwrap_or(0) == 0 {
            return Vec::new();
        }
        let mut gone = Vec::new();
        self.slots[i].retain(|n| {
            let dead = n.entry().expired(now);
            if dead {
                gone.push(n.key().into());
            }
            !dead
        });
        self.keys -= gone.len();
        self.volatile -= gone.len();
        self.slot_volatile[i] -= gone.len() as u32;
        gone
    }

    pub fn slot_len(&self, slot: usize) -> usize {
        self.slot_table(slot).map_or(0, |t| t.len())
    }

    /// A random key of this part, by walking to a random slot with keys.
    pub fn random_key(&self, rng: &mut impl rand::Rng) -> Option<Key> {
        if self.keys == 0 {
            return None;
        }
        let start = rng.gen_range(0..self.nslots);
        for i in 0..self.nslots {
            let t = &self.slots[(start + i) % self.nslots];
            if !t.is_empty() {
                let n = rng.gen_range(0..t.len());
                return t.iter().nth(n).map(|n| n.key().into());
            }
        }
        None
    }

    /// Gives `f` up to `n` entries (only those with a TTL when `volatile`)
    /// from a random position on: the rest of that slot, then the slots
    /// after it (a slot often holds only a key or two), as Redis's
    /// dictGetSomeKeys walks buckets. `below(n)` is a random number under n.
    pub fn sample(
        &self,
        n: usize,
        volatile: bool,
        below: impl Fn(usize) -> usize,
        mut f: impl FnMut(&[u8], &Entry),
    ) {
        if self.keys == 0 || (volatile && self.volatile == 0) {
            return;
        }
        let start = below(self.nslots);
        let mut taken = 0;
        let mut first = true;
        for i in 0..self.nslots {
            let s = (start + i) % self.nslots;
            let t = &self.slots[s];
            if t.is_empty() || (volatile && self.slot_volatile[s] == 0) {
                continue;
            }
            // A random start within the first slot only.
            let from = if first { below(t.len()) } else { 0 };
            first = false;
            for node in t.iter().skip(from) {
                let e = node.entry();
                if volatile && e.expire_at == 0 {
                    continue;
                }
                f(node.key(), e);
                taken += 1;
                if taken == n {
                    return;
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.slot_volatile = Vec::new();
        self.keys = 0;
        self.volatile = 0;
    }
}
