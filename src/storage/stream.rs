//! Streams, laid out as Redis lays them out (t_stream.c): entries in
//! listpack nodes, each node keyed by its master ID in an ordered map (Redis
//! uses a radix tree keyed by the 128-bit big-endian ID).
//!
//! A node's listpack starts with the master entry `count | deleted |
//! num-fields | field... | 0`, then one entry after another: `flags |
//! ms-delta | seq-delta | [num-fields | field value ...] | [value ...] |
//! lp-count`, where flag SAMEFIELDS means the fields are the master's (only
//! values follow) and DELETED marks a tombstone. Keeping Redis's nodes
//! makes `~` trimming, XINFO's radix-tree counts and the RDB form (the
//! listpacks as they are) come out as Redis's do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

use super::listpack::edit as lp;
use super::set::Elem;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Largest listpack a node may grow to, whatever stream-node-max-bytes says.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID; None past the last one.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID; None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The 128-bit big-endian form (radix tree keys, RDB, PELs).
    pub fn to_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(StreamId::new(
            u64::from_be_bytes(b[..8].try_into().ok()?),
            u64::from_be_bytes(b[8..].try_into().ok()?),
        ))
    }

    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry: its ID and its field-value pairs.
pub type Fields = Vec<(Bytes, Bytes)>;

/// Why an append failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the last one.
    IdTooSmall,
    /// The fields and values are bigger than a node can hold.
    TooLarge,
}

/// Node limits: stream-node-max-bytes and stream-node-max-entries.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream's entries and its metadata.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Vec<u8>>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name, in Redis's rax (byte) order.
    pub groups: BTreeMap<Bytes, Group>,
}

/// A group's entries-read counter when it is not known
/// (SCG_INVALID_ENTRIES_READ).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// A delivered, not yet acknowledged entry (streamNACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer that owns it (a key of the group's consumers).
    pub consumer: Bytes,
}

/// A consumer of a group: when it was last seen, and the IDs it owns
/// (their NACKs are in the group's PEL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group (streamCG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read, or [`ENTRIES_READ_UNKNOWN`].
    pub entries_read: i64,
    /// Pending entries of every consumer.
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Adds consumer `name` seen at `now`; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        let c = Consumer {
            seen_time: now,
            pel: BTreeSet::new(),
        };
        self.consumers.insert(Bytes::copy_from_slice(name), c);
        true
    }

    /// Removes consumer `name` and its pending entries; how many it had
    /// (None if there is no such consumer).
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Removes `id` from the PEL (XACK); whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `consumer` (which must exist) own pending entry `id`, which
    /// is created when missing; returns the NACK to update.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now: i64) -> &mut Nack {
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: now,
            delivery_count: 1,
            consumer: Bytes::new(),
        });
        if nack.consumer != *consumer {
            if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                old.pel.remove(&id);
            }
            if let Some(new) = self.consumers.get_mut(consumer) {
                new.pel.insert(id);
            }
            nack.consumer = consumer.clone();
        }
        nack
    }
}

/// An entry's place in its node while walking it.
#[derive(Clone, Copy)]
struct Ent {
    id: StreamId,
    flags: i64,
    flags_pos: usize,
    /// Offset of the first field (or value, with SAMEFIELDS).
    body: usize,
    nfields: i64,
}

/// The master entry of a node.
struct Head {
    count: i64,
    deleted: i64,
    nfields: i64,
    fields_pos: usize,
    first_entry: usize,
}

fn head(node: &[u8]) -> Head {
    let (count, p) = lp::int(node, lp::first());
    let (deleted, p) = lp::int(node, p);
    let (nfields, fields_pos) = lp::int(node, p);
    let mut p = fields_pos;
    for _ in 0..nfields {
        p = skip(node, p);
    }
    Head {
        count,
        deleted,
        nfields,
        fields_pos,
        first_entry: skip(node, p),
    }
}

fn skip(node: &[u8], p: usize) -> usize {
    lp::get(node, p).map_or(node.len(), |(_, next)| next)
}

fn bytes_of(e: Elem) -> Bytes {
    e.to_bytes()
}

/// Every entry of a node (tombstones too), in order, until `f` says stop.
fn walk(master: StreamId, node: &[u8], mut f: impl FnMut(&Ent) -> bool) {
    let h = head(node);
    let mut p = h.first_entry;
    while p + 1 < node.len() {
        let flags_pos = p;
        let (flags, q) = lp::int(node, p);
        let (msd, q) = lp::int(node, q);
        let (seqd, q) = lp::int(node, q);
        let (nfields, body) = if flags & FLAG_SAMEFIELDS != 0 {
            (h.nfields, q)
        } else {
            lp::int(node, q)
        };
        let elems = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            nfields * 2
        };
        let mut end = body;
        for _ in 0..elems {
            end = skip(node, end);
        }
        let ent = Ent {
            id: StreamId::new(
                master.ms.wrapping_add(msd as u64),
                master.seq.wrapping_add(seqd as u64),
            ),
            flags,
            flags_pos,
            body,
            nfields,
        };
        if !f(&ent) {
            return;
        }
        p = skip(node, end); // past lp-count
        if p >= node.len() {
            return;
        }
    }
}

/// An entry's field-value pairs.
fn fields_of(node: &[u8], ent: &Ent) -> Fields {
    let mut out = Vec::with_capacity(ent.nfields.clamp(0, 1024) as usize);
    let same = ent.flags & FLAG_SAMEFIELDS != 0;
    let mut fp = if same { head(node).fields_pos } else { 0 };
    let mut p = ent.body;
    for _ in 0..ent.nfields {
        let field = if same {
            let (f, next) =
                lp::get(node, fp).map_or((Bytes::new(), node.len()), |(e, n)| (bytes_of(e), n));
            fp = next;
            f
        } else {
            let (f, next) =
                lp::get(node, p).map_or((Bytes::new(), node.len()), |(e, n)| (bytes_of(e), n));
            p = next;
            f
        };
        let (v, next) =
            lp::get(node, p).map_or((Bytes::new(), node.len()), |(e, n)| (bytes_of(e), n));
        p = next;
        out.push((field, v));
    }
    out
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Listpack nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Radix tree nodes Redis's rax would have for these node keys
    /// (XINFO's radix-tree-nodes): one per branching point, per key, per
    /// run of bytes below a branch, plus the root.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// The ID an automatic `*` gets at `now_ms`; None when the stream has
    /// used the last possible ID.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry with ID `id` (greater than the last), starting a new
    /// node when the tail one is full, exactly as streamAppendItem does.
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: &[Bytes],
        lim: NodeLimits,
    ) -> Result<(), AppendError> {
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let total: usize = pairs.iter().map(|b| b.len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let numfields = (pairs.len() / 2) as i64;
        let max_bytes = if lim.max_bytes == 0 || lim.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            lim.max_bytes
        };
        let tail_fits = self.nodes.last_key_value().is_some_and(|(_, node)| {
            let h = head(node);
            node.len() + total < max_bytes
                && (lim.max_entries <= 0 || h.count + h.deleted < lim.max_entries)
        });
        let mut flags = 0;
        if !tail_fits {
            let mut node = lp::new();
            lp::append_int(&mut node, 1);
            lp::append_int(&mut node, 0);
            lp::append_int(&mut node, numfields);
            for f in pairs.iter().step_by(2) {
                lp::append(&mut node, f);
            }
            lp::append_int(&mut node, 0);
            self.nodes.insert(id, node);
            flags |= FLAG_SAMEFIELDS;
        }
        let (&master, node) = self.nodes.iter_mut().next_back().expect("a tail node");
        if tail_fits {
            let h = head(node);
            lp::replace_int(node, lp::first(), h.count + 1);
            let h = head(node);
            if h.nfields == numfields {
                let mut p = h.fields_pos;
                let same = pairs.iter().step_by(2).all(|f| match lp::get(node, p) {
                    Some((e, next)) => {
                        p = next;
                        e.with(|m| m == &f[..])
                    }
                    None => false,
                });
                if same {
                    flags |= FLAG_SAMEFIELDS;
                }
            }
        }
        lp::append_int(node, flags);
        lp::append_int(node, id.ms.wrapping_sub(master.ms) as i64);
        lp::append_int(node, id.seq.wrapping_sub(master.seq) as i64);
        let same = flags & FLAG_SAMEFIELDS != 0;
        if !same {
            lp::append_int(node, numfields);
        }
        for pair in pairs.chunks(2) {
            if !same {
                lp::append(node, &pair[0]);
            }
            lp::append(node, &pair[1]);
        }
        let lp_count = if same {
            numfields + 3
        } else {
            numfields * 2 + 4
        };
        lp::append_int(node, lp_count);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Calls `f` with the live entries from `start` to `end` (inclusive),
    /// in order or reversed, until it returns false.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Fields) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            // The node that may hold `start`, and every one after it.
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(StreamId::MIN, |(k, _)| *k);
            for (&master, node) in self.nodes.range(from..) {
                if master > end {
                    return;
                }
                let mut go = true;
                walk(master, node, |e| {
                    if e.id > end {
                        go = false;
                        return false;
                    }
                    if e.id >= start && e.flags & FLAG_DELETED == 0 {
                        go = f(e.id, fields_of(node, e));
                    }
                    go
                });
                if !go {
                    return;
                }
            }
        } else {
            for (&master, node) in self.nodes.range(..=end).rev() {
                let mut ents = Vec::new();
                walk(master, node, |e| {
                    if e.id <= end && e.id >= start && e.flags & FLAG_DELETED == 0 {
                        ents.push(*e);
                    }
                    true
                });
                for e in ents.iter().rev() {
                    if !f(e.id, fields_of(node, e)) {
                        return;
                    }
                }
                if master < start {
                    return;
                }
            }
        }
    }

    /// The first (or last) live entry.
    pub fn edge(&self, last: bool) -> Option<(StreamId, Fields)> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, last, |id, f| {
            out = Some((id, f));
            false
        });
        out
    }

    /// The ID of the first entry of the first node, tombstone or not
    /// (streamGetEdgeID without skipping tombstones), for MINID's rewrite.
    pub fn first_id_with_tombstones(&self) -> StreamId {
        let mut out = StreamId::MAX;
        if let Some((&master, node)) = self.nodes.first_key_value() {
            walk(master, node, |e| {
                out = e.id;
                false
            });
        }
        out
    }

    /// Marks entry `id` deleted (XDEL); false if there is no such live entry.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let mut hit = None;
        walk(master, node, |e| {
            if e.id == id && e.flags & FLAG_DELETED == 0 {
                hit = Some((e.flags_pos, e.flags));
            }
            e.id < id
        });
        let Some((pos, flags)) = hit else {
            return false;
        };
        lp::replace_int(node, pos, flags | FLAG_DELETED);
        let h = head(node);
        if h.count == 1 {
            self.nodes.remove(&master);
        } else {
            let p = lp::replace_int(node, lp::first(), h.count - 1);
            lp::replace_int(node, p, h.deleted + 1);
        }
        self.length -= 1;
        true
    }

    /// XDEL of `ids`: deletes them, keeps first ID and max deleted ID up to
    /// date; returns how many were deleted.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first = false;
        for &id in ids {
            if self.delete(id) {
                first |= id == self.first_id;
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.first_id = self.edge(false).map_or(StreamId::MIN, |e| e.0);
            }
        }
        deleted
    }

    /// Trims as streamTrim does: whole nodes first; with `approx` only
    /// whole nodes; `limit` (0: none) caps the entries removed. Returns
    /// how many entries went.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let h = head(node);
            let entries = h.count.max(0) as u64;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let mut last = StreamId::MIN;
                    walk(master, node, |e| {
                        last = e.id;
                        true
                    });
                    last < min
                }
            };
            if remove {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries inside this node.
            let node = self.nodes.get_mut(&master).expect("node");
            let mut marks = Vec::new();
            let mut length = self.length;
            walk(master, node, |e| {
                let stop = match how {
                    Trim::MaxLen(max) => length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    return false;
                }
                if e.flags & FLAG_DELETED == 0 {
                    marks.push((e.flags_pos, e.flags));
                    length -= 1;
                }
                true
            });
            for &(pos, flags) in &marks {
                lp::replace_int(node, pos, flags | FLAG_DELETED);
            }
            let n = marks.len() as i64;
            let p = lp::replace_int(node, lp::first(), h.count - n);
            lp::replace_int(node, p, h.deleted + n);
            self.length = length;
            deleted += n as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge(false).map_or(StreamId::MIN, |e| e.0);
        }
        deleted
    }

    /// Whether a live entry `id` exists.
    pub fn entry_exists(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Whether a tombstone may lie between `start` and `end`
    /// (streamRangeHasTombstones: only the max deleted ID is known).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries were added up to `id`, if that can be known
    /// (streamEstimateDistanceFromFirstEverEntry).
    pub fn entries_before(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return ENTRIES_READ_UNKNOWN,
            _ => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            let before = (self.entries_added - self.length) as i64;
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return before,
                std::cmp::Ordering::Equal => return before + 1,
                _ => {}
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// A group's lag (streamReplyWithCGLag); None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.entries_before(g.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| self.entries_added as i64 - read)
    }

    /// Group `g` delivers entry `id` (past its last ID): moves the last
    /// ID and keeps the entries-read counter as Redis does.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(id, StreamId::MAX) {
            g.entries_read += 1;
        } else if self.entries_added > 0 {
            g.entries_read = self.entries_before(id);
        }
        g.last_id = id;
    }

    /// The nodes as Redis saves them: (master ID, listpack).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(k, v)| (*k, &v[..]))
    }

    /// Adds a node read from a snapshot (already checked by
    /// [`check_node`]); false if its key is taken.
    pub fn load_node(&mut self, master: StreamId, node: Vec<u8>) -> bool {
        if self.nodes.contains_key(&master) {
            return false;
        }
        self.nodes.insert(master, node);
        true
    }

    /// The live entries the nodes' master entries count.
    pub fn counted_len(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| head(n).count.max(0) as u64)
            .sum()
    }

    /// Approximate bytes used.
    pub fn mem_usage(&self) -> usize {
        let groups: usize = self
            .groups
            .values()
            .map(|g| 64 + g.pel.len() * 80 + g.consumers.len() * 64)
            .sum();
        std::mem::size_of::<Stream>()
            + groups
            + self
                .nodes
                .values()
                .map(|n| n.capacity() + 64)
                .sum::<usize>()
    }
}

/// Checks a node listpack read from a snapshot: the master entry and every
/// entry well formed, counts consistent (streamValidateListpackIntegrity).
pub fn check_node(master: StreamId, node: &[u8]) -> Result<(), String> {
    super::listpack::listpack_each(node, |_| Ok(()))?;
    let bad = |what: &str| Err(format!("stream node {master}: {what}"));
    let mut p = lp::first();
    let next_int = |p: &mut usize| -> Option<i64> {
        match lp::get(node, *p) {
            Some((Elem::Int(n), q)) => {
                *p = q;
                Some(n)
            }
            _ => None,
        }
    };
    let (Some(count), Some(deleted), Some(nfields)) =
        (next_int(&mut p), next_int(&mut p), next_int(&mut p))
    else {
        return bad("bad master entry");
    };
    if nfields < 0 || count < 0 || deleted < 0 {
        return bad("bad master entry");
    }
    for _ in 0..nfields {
        match lp::get(node, p) {
            Some((_, q)) => p = q,
            None => return bad("master fields missing"),
        }
    }
    if next_int(&mut p) != Some(0) {
        return bad("master entry not terminated");
    }
    let (mut live, mut dead) = (0, 0);
    while p + 1 < node.len() {
        let Some(flags) = next_int(&mut p) else {
            return bad("bad entry flags");
        };
        if next_int(&mut p).is_none() || next_int(&mut p).is_none() {
            return bad("bad entry ID");
        }
        let elems = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            match next_int(&mut p) {
                Some(n) if n >= 0 => n * 2,
                _ => return bad("bad entry field count"),
            }
        };
        for _ in 0..elems {
            match lp::get(node, p) {
                Some((_, q)) => p = q,
                None => return bad("entry cut short"),
            }
        }
        if next_int(&mut p).is_none() {
            return bad("entry without lp-count");
        }
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
        }
    }
    if live != count || dead != deleted {
        return bad("entry counts differ from the master entry");
    }
    Ok(())
}

/// Rax nodes below a node that starts at byte `depth` of `keys` (sorted,
/// distinct, all 16 bytes).
fn rax_count(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1; // the key's leaf
    }
    let (a, b) = (&keys[0], &keys[keys.len() - 1]);
    let common = (depth..16).take_while(|&i| a[i] == b[i]).count();
    if keys.len() == 1 {
        return 2; // a compressed run, then the leaf
    }
    if common > 0 {
        // A compressed run down to the branching byte.
        return 1 + rax_branch(keys, depth + common);
    }
    rax_branch(keys, depth)
}

fn rax_branch(keys: &[[u8; 16]], depth: usize) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < keys.len() {
        let j = i + keys[i..]
            .iter()
            .take_while(|k| k[depth] == keys[i][depth])
            .count();
        n += rax_count(&keys[i..j], depth + 1);
        i = j;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    const LIM: NodeLimits = NodeLimits {
        max_bytes: 4096,
        max_entries: 100,
    };

    fn ids(s: &Stream, rev: bool) -> Vec<String> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, rev, |id, _| {
            v.push(id.to_string());
            true
        });
        v
    }

    #[test]
    fn append_range_delete_trim() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            let f = if i % 3 == 0 { "other" } else { "f" };
            s.append(StreamId::new(i, 0), &[b(f), b(&i.to_string())], LIM)
                .unwrap();
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.node_count(), 3);
        assert_eq!(
            s.append(StreamId::new(5, 0), &[b("a"), b("b")], LIM),
            Err(AppendError::IdTooSmall)
        );
        let all = ids(&s, false);
        assert_eq!(all.len(), 250);
        let mut rev = ids(&s, true);
        rev.reverse();
        assert_eq!(all, rev);
        let mut got = Vec::new();
        s.range(StreamId::new(3, 0), StreamId::new(3, 0), false, |id, f| {
            got.push((id, f));
            true
        });
        assert_eq!(got, vec![(StreamId::new(3, 0), vec![(b("other"), b("3"))])]);
        assert_eq!(s.delete_ids(&[StreamId::new(1, 0), StreamId::new(1, 0)]), 1);
        assert_eq!(s.first_id, StreamId::new(2, 0));
        assert_eq!(s.max_deleted, StreamId::new(1, 0));
        // Approximate trimming only drops whole nodes.
        assert_eq!(s.trim(Trim::MaxLen(200), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(100), true, 0), 99);
        assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 140);
        assert_eq!(s.len(), 10);
        assert_eq!(s.first_id, StreamId::new(241, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(245, 0)), false, 0), 4);
        for (k, n) in s.nodes() {
            check_node(k, n).unwrap();
        }
    }

    #[test]
    fn rax_shapes() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        s.append(StreamId::new(1, 1), &[b("a"), b("1")], LIM)
            .unwrap();
        assert_eq!(s.rax_nodes(), 2);
    }
}
