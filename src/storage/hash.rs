//! Hashes, in Redis's two encodings.
//!
//! - "listpack": every field and value back to back in one byte buffer,
//!   `[varint len][field][varint len][value]` per entry, in insertion order,
//!   searched linearly. Up to [`INLINE`] bytes live inside the `Box<Hash>`
//!   allocation itself, so a small hash costs one allocation.
//! - "hashtable": hashbrown tables, used once the hash has more than
//!   `hash-max-listpack-entries` entries or a field or value longer than
//!   `hash-max-listpack-value` bytes. As in Redis, never converted back.
//!
//! The hashtable is split by hash bits into 2^k hashbrown tables (k grows
//! and shrinks with the size) so that HSCAN can resume at a position in
//! hash order: a cursor names a position, any resize keeps that position
//! meaningful, and an entry present for a whole scan is returned exactly
//! once.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::HashTable;
use rand::Rng;

use super::db::KeyHasher;
use super::small::{spliced, SmallBytes};
use crate::config::{self, Opt};

/// Bytes of listpack kept inside the `Hash` itself: the struct is then 40
/// bytes, one 48-byte malloc chunk, enough for a few short fields.
const INLINE: usize = 37;

/// Average entries per hashtable part before the parts double, and below
/// which they halve.
const PART_MAX: usize = 256;
const PART_MIN: usize = 16;

fn max_entries() -> usize {
    config::num(Opt::HashMaxListpackEntries).max(0) as usize
}

fn max_value() -> usize {
    config::num(Opt::HashMaxListpackValue).max(0) as usize
}

/// A stored hash.
#[derive(Debug, Clone)]
pub struct Hash(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// The listpack, with its entry count as the meta: inside the
    /// `Box<Hash>` up to INLINE bytes.
    Pack(SmallBytes<INLINE>),
    Table(Box<Table>),
}

const _: () = assert!(std::mem::size_of::<Hash>() == 40);

impl Default for Hash {
    fn default() -> Hash {
        Hash::new()
    }
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_len(b: &[u8], i: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let c = b[*i];
        *i += 1;
        n |= ((c & 0x7f) as usize) << shift;
        if c < 0x80 {
            return n;
        }
        shift += 7;
    }
}

/// Listpack entries: (field, value, byte range of the whole entry).
struct PackIter<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], &'a [u8], std::ops::Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.b.len() {
            return None;
        }
        let start = self.i;
        let mut i = self.i;
        let flen = get_len(self.b, &mut i);
        let field = &self.b[i..i + flen];
        i += flen;
        let vlen = get_len(self.b, &mut i);
        let value = &self.b[i..i + vlen];
        i += vlen;
        self.i = i;
        Some((field, value, start..i))
    }
}

/// The byte range of `field`'s entry in a listpack.
fn pack_find(b: &[u8], field: &[u8]) -> Option<std::ops::Range<usize>> {
    PackIter { b, i: 0 }
        .find(|(f, _, _)| *f == field)
        .map(|(_, _, r)| r)
}

fn pack_entry(out: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    put_len(out, field.len());
    out.extend_from_slice(field);
    put_len(out, value.len());
    out.extend_from_slice(value);
}

/// A hashtable entry: `[varint field len][field][value]` in one allocation.
fn table_entry(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(field.len() + value.len() + 2);
    put_len(&mut v, field.len());
    v.extend_from_slice(field);
    v.extend_from_slice(value);
    v.into_boxed_slice()
}

fn split_entry(e: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    let flen = get_len(e, &mut i);
    (&e[i..i + flen], &e[i + flen..])
}

fn entry_field(e: &[u8]) -> &[u8] {
    split_entry(e).0
}

fn hash_of(field: &[u8]) -> u64 {
    KeyHasher.hash_one(field)
}

/// An entry's place in scan order. The top 7 bits are dropped: hashbrown
/// keeps them as its tag, so parts split on the bits below them.
fn scan_pos(h: u64) -> u64 {
    h << 7
}

/// The hashtable encoding: `parts.len() == 1 << bits`; part `p` holds the
/// entries whose scan position has `p` in its top `bits` bits.
#[derive(Debug, Clone)]
struct Table {
    parts: Vec<HashTable<Box<[u8]>>>,
    len: usize,
    bits: u32,
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table {
            parts: vec![HashTable::with_capacity(n)],
            len: 0,
            bits: 0,
        }
    }

    fn part_of_pos(&self, pos: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (pos >> (64 - self.bits)) as usize
        }
    }

    fn part_start(&self, p: usize) -> u64 {
        if self.bits == 0 {
            0
        } else {
            (p as u64) << (64 - self.bits)
        }
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let h = hash_of(field);
        self.parts[self.part_of_pos(scan_pos(h))]
            .find(h, |e| entry_field(e) == field)
            .map(|e| split_entry(e).1)
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = hash_of(field);
        let p = self.part_of_pos(scan_pos(h));
        let table = &mut self.parts[p];
        match table.entry(h, |e| entry_field(e) == field, |e| hash_of(entry_field(e))) {
            TableEntry::Occupied(mut o) => {
                *o.get_mut() = table_entry(field, value);
                false
            }
            TableEntry::Vacant(v) => {
                v.insert(table_entry(field, value));
                self.len += 1;
                if self.len > self.parts.len() * PART_MAX {
                    self.resplit(self.bits + 1);
                }
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let h = hash_of(field);
        let p = self.part_of_pos(scan_pos(h));
        match self.parts[p].find_entry(h, |e| entry_field(e) == field) {
            Ok(o) => {
                o.remove();
                self.len -= 1;
                if self.bits > 0 && self.len < self.parts.len() * PART_MIN {
                    self.resplit(self.bits - 1);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Redistributes every entry over `1 << bits` parts.
    fn resplit(&mut self, bits: u32) {
        let old = std::mem::take(&mut self.parts);
        self.bits = bits;
        let n = 1usize << bits;
        let each = self.len / n + self.len / (4 * n);
        self.parts = (0..n).map(|_| HashTable::with_capacity(each)).collect();
        for part in old {
            for e in part {
                let h = hash_of(entry_field(&e));
                let p = self.part_of_pos(scan_pos(h));
                self.parts[p].insert_unique(h, e, |e| hash_of(entry_field(e)));
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.parts
            .iter()
            .flat_map(|p| p.iter().map(|e| split_entry(e)))
    }

    fn mem_usage(&self) -> usize {
        let slot = std::mem::size_of::<Box<[u8]>>() + 1;
        let mut n = std::mem::size_of::<Table>()
            + self.parts.capacity() * std::mem::size_of::<HashTable<Box<[u8]>>>();
        for p in &self.parts {
            // hashbrown keeps at most 7/8 of its buckets full.
            n += (p.capacity() * 8 / 7).next_power_of_two() * slot;
            n += p.iter().map(|e| e.len()).sum::<usize>();
        }
        n
    }
}

impl Hash {
    /// An empty hash in the listpack encoding, as Redis creates them.
    pub fn new() -> Hash {
        Hash(Repr::Pack(SmallBytes::empty(0)))
    }

    /// An empty hash for `n` fields: a hashtable straight away when that
    /// many cannot be a listpack (loading a snapshot).
    pub fn with_hint(n: usize) -> Hash {
        if n > max_entries() {
            Hash(Repr::Table(Box::new(Table::with_capacity(n))))
        } else {
            Hash::new()
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.0 {
            Repr::Table(_) => "hashtable",
            _ => "listpack",
        }
    }

    /// Heap bytes used, the `Box<Hash>` itself included.
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Hash>()
            + match &self.0 {
                Repr::Pack(p) => p.block_len().unwrap_or(0),
                Repr::Table(t) => t.mem_usage(),
            }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.meta(),
            Repr::Table(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listpack bytes, or None for the hashtable encoding.
    fn pack(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Pack(p) => Some(p.bytes()),
            Repr::Table(_) => None,
        }
    }

    /// Replaces the listpack with `bytes` holding `count` entries.
    fn set_pack(&mut self, count: usize, bytes: Vec<u8>) {
        self.0 = Repr::Pack(SmallBytes::new(bytes, count));
    }

    /// Converts a listpack to the hashtable encoding.
    fn convert(&mut self) {
        let Some(b) = self.pack() else { return };
        let mut t = Table::with_capacity(self.len());
        for (f, v, _) in (PackIter { b, i: 0 }) {
            t.set(f, v);
        }
        self.0 = Repr::Table(Box::new(t));
    }

    /// Redis's hashTypeTryConversion: a listpack that is about to receive
    /// any of `args` (fields and values) longer than hash-max-listpack-value
    /// becomes a hashtable first.
    pub fn try_convert<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>) {
        if self.pack().is_some() {
            let max = max_value();
            if args.into_iter().any(|a| a.len() > max) {
                self.convert();
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match (&self.0, self.pack()) {
            (Repr::Table(t), _) => t.get(field),
            (_, b) => PackIter {
                b: b.expect("a listpack"),
                i: 0,
            }
            .find(|(f, _, _)| *f == field)
            .map(|(_, v, _)| v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts as
    /// Redis's hashTypeSet: before, for a field or value too long for a
    /// listpack; after, when the entry count passes the limit.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if self.pack().is_some() {
            let max = max_value();
            if field.len() > max || value.len() > max {
                self.convert();
            }
        }
        if let Repr::Table(t) = &mut self.0 {
            return t.set(field, value);
        }
        let b = self.pack().expect("a listpack");
        let mut out = Vec::with_capacity(b.len() + field.len() + value.len() + 4);
        let new = match pack_find(b, field) {
            Some(r) => {
                out.extend_from_slice(&b[..r.start]);
                pack_entry(&mut out, field, value);
                out.extend_from_slice(&b[r.end..]);
                false
            }
            None => {
                out.extend_from_slice(b);
                pack_entry(&mut out, field, value);
                true
            }
        };
        let count = self.len() + new as usize;
        self.set_pack(count, out);
        if count > max_entries() {
            self.convert();
        }
        new
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(b) = self.pack() else {
            let Repr::Table(t) = &mut self.0 else {
                unreachable!()
            };
            return t.remove(field);
        };
        let Some(std::ops::Range { start, end }) = pack_find(b, field) else {
            return false;
        };
        let out = spliced(b, start, end - start, &[]);
        let count = self.len() - 1;
        self.set_pack(count, out);
        true
    }

    /// Every (field, value): insertion order for a listpack, table order
    /// for a hashtable.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match (&self.0, self.pack()) {
            (_, Some(b)) => Box::new(PackIter { b, i: 0 }.map(|(f, v, _)| (f, v))),
            (Repr::Table(t), None) => Box::new(t.iter()),
            _ => unreachable!(),
        }
    }

    /// One HSCAN step from `cursor`, calling `f` for each entry, returning
    /// the next cursor (0: done). A listpack is returned whole, as Redis
    /// does; a hashtable from the cursor's position in hash order, whole
    /// parts at a time, until at least `count` entries.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        let t = match &self.0 {
            Repr::Table(t) => t,
            _ => {
                self.iter().for_each(|(k, v)| f(k, v));
                return 0;
            }
        };
        let mut p = t.part_of_pos(cursor);
        // A cursor inside a part (the parts merged since it was handed out):
        // skip the entries before it.
        let skip = cursor != t.part_start(p);
        let mut seen = 0;
        while p < t.parts.len() && seen < count {
            for e in t.parts[p].iter() {
                let (k, v) = split_entry(e);
                if !skip || seen > 0 || scan_pos(hash_of(k)) >= cursor {
                    f(k, v);
                }
            }
            seen += t.parts[p].len().max(1);
            p += 1;
        }
        if p >= t.parts.len() {
            0
        } else {
            t.part_start(p)
        }
    }

    /// `n` random entries, with repetition.
    pub fn random_with_repeats(&self, n: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::with_capacity(n.min(1 << 16));
        match &self.0 {
            Repr::Table(t) => {
                // A random part, then a random index below the biggest
                // part's size: retrying misses keeps every entry equally
                // likely.
                let max = t.parts.iter().map(|p| p.len()).max().unwrap_or(0);
                if max == 0 {
                    return out;
                }
                while out.len() < n {
                    let p = &t.parts[rng.gen_range(0..t.parts.len())];
                    let i = rng.gen_range(0..max);
                    if i < p.len() {
                        out.push(split_entry(p.iter().nth(i).expect("i < len")));
                    }
                }
            }
            _ => {
                let all: Vec<_> = self.iter().collect();
                if all.is_empty() {
                    return out;
                }
                while out.len() < n {
                    out.push(all[rng.gen_range(0..all.len())]);
                }
            }
        }
        out
    }

    /// `n` distinct random entries (all of them when `n >= len`).
    pub fn random_distinct(&self, n: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let len = self.len();
        if n >= len {
            return self.iter().collect();
        }
        if matches!(self.0, Repr::Table(_)) && n * 3 <= len {
            // Few of many: draw until enough distinct fields.
            let mut seen = hashbrown::HashSet::with_capacity(n);
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                for (k, v) in self.random_with_repeats(n - out.len(), rng) {
                    if seen.insert(k) {
                        out.push((k, v));
                    }
                }
            }
            return out;
        }
        let all: Vec<_> = self.iter().collect();
        rand::seq::index::sample(rng, len, n)
            .into_iter()
            .map(|i| all[i])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hash_fits_one_chunk() {
        assert_eq!(std::mem::size_of::<Hash>(), 40);
    }

    #[test]
    fn listpack_set_get_remove_keeps_order() {
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(!h.set(b"a", b"three"));
        assert_eq!(h.get(b"a"), Some(&b"three"[..]));
        let order: Vec<_> = h.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(order, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 1);
        assert_eq!(h.encoding(), "listpack");
        // Grows past the inline buffer and stays a listpack.
        for i in 0..20 {
            h.set(format!("field{i}").as_bytes(), b"some value");
        }
        assert_eq!(h.len(), 21);
        assert!(matches!(&h.0, Repr::Pack(p) if p.block_len().is_some()));
        assert_eq!(h.get(b"field7"), Some(&b"some value"[..]));
    }

    #[test]
    fn table_parts_split_merge_and_scan_once() {
        let mut h = Hash::new();
        h.convert();
        for i in 0..5000 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        let Repr::Table(t) = &h.0 else { panic!() };
        assert!(t.bits >= 4);
        // Scan while the table shrinks, then grows: every field present
        // throughout comes back exactly once.
        let mut cursor = 0;
        let mut got = std::collections::HashMap::new();
        let mut step = 0;
        loop {
            cursor = h.scan(cursor, 10, |k, _| {
                *got.entry(k.to_vec()).or_insert(0) += 1;
            });
            for j in 0..300 {
                let i = 100 + step * 300 + j;
                if i < 5000 {
                    h.remove(format!("f{i}").as_bytes());
                } else {
                    h.set(format!("g{i}").as_bytes(), b"v");
                }
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert_eq!(got.get(format!("f{i}").as_bytes()), Some(&1), "f{i}");
        }
        let Repr::Table(t) = &h.0 else { panic!() };
        assert_eq!(t.iter().count(), h.len());
    }
}
