//! Sets, with Redis 7.2's three encodings:
//!
//! - `intset`: sorted packed integers of one width (2, 4 or 8 bytes, the
//!   smallest that fits every member), found by binary search; while every
//!   member is an integer and there are at most `set-max-intset-entries`.
//! - `listpack`: small sets of short strings packed in one buffer as
//!   (varint length, bytes), in insertion order, searched linearly; at
//!   most `set-max-listpack-entries` members of at most
//!   `set-max-listpack-value` bytes.
//! - `hashtable`: every member's bytes in one arena, a dense array of
//!   (offset, length) spans, and a hash index of span positions. The dense
//!   array gives SPOP/SRANDMEMBER O(1) random picks; one arena instead of
//!   one allocation per member keeps a member at its length plus ~20 bytes
//!   (Redis spends ~50 on dictEntry, sds header and bucket).
//!
//! Thresholds are read when a conversion is considered, as Redis does; a
//! set never converts back to a smaller encoding.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashTable;

use super::db::KeyHasher;
use super::small::{spliced, SmallBytes};
use crate::config::{self, Opt};
use crate::protocol::parse_i64;

/// One member as stored: an intset holds integers, the others bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Elem<'_> {
    /// Calls `f` with the member's bytes (integers printed on the stack).
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Elem::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Elem::Str(s) => f(s),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        self.with(Bytes::copy_from_slice)
    }
}

/// A stored set.
#[derive(Debug, Clone)]
pub struct Set {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Ints(IntSet),
    Pack(Pack),
    /// Boxed: the common small sets stay small.
    Table(Box<Table>),
}

fn max_intset() -> usize {
    // Redis caps the intset at 2^30 entries whatever the option says.
    (config::num(Opt::SetMaxIntsetEntries).max(0) as usize).min(1 << 30)
}

fn max_pack_entries() -> usize {
    config::num(Opt::SetMaxListpackEntries).max(0) as usize
}

fn max_pack_value() -> usize {
    config::num(Opt::SetMaxListpackValue).max(0) as usize
}

impl Default for Set {
    fn default() -> Self {
        Set {
            repr: Repr::Ints(IntSet::default()),
        }
    }
}

impl Set {
    /// An empty set shaped for `hint` members, the first being `first`
    /// (Redis's setTypeCreate).
    pub fn new(first: &[u8], hint: usize) -> Set {
        let repr = if parse_i64(first).is_some() && hint <= max_intset() {
            Repr::Ints(IntSet::default())
        } else if hint <= max_pack_entries() {
            Repr::Pack(Pack::default())
        } else {
            Repr::Table(Box::new(Table::with_capacity(hint)))
        };
        Set { repr }
    }

    /// An empty intset, converting as members arrive (the *STORE commands).
    pub fn empty() -> Set {
        Set::default()
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes used outside the `Set` itself.
    pub fn mem_usage(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.0.block_len().unwrap_or(0),
            Repr::Pack(p) => p.data.len(),
            Repr::Table(t) => std::mem::size_of::<Table>() + t.mem_usage(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.len(),
            Repr::Pack(p) => p.count(),
            Repr::Table(t) => t.spans.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(s) => parse_i64(m).is_some_and(|n| s.find(n).is_ok()),
            Repr::Pack(p) => p.find(m).is_some(),
            Repr::Table(t) => t.find(m).is_some(),
        }
    }

    /// Adds `m`; false if it was already a member.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => {
                if let Some(n) = parse_i64(m) {
                    if !s.insert(n) {
                        return false;
                    }
                    if s.len() > max_intset() {
                        self.convert_to_table(0);
                    }
                    return true;
                }
                // The intset's longest member is at most its widest bound.
                let digits = |n: i64| itoa::Buffer::new().format(n).len();
                let widest = match s.len() {
                    0 => 0,
                    n => digits(s.get(0)).max(digits(s.get(n - 1))),
                };
                let limit = max_pack_value();
                if s.len() < max_pack_entries() && m.len() <= limit && widest <= limit {
                    self.convert_to_pack();
                } else {
                    self.convert_to_table(1);
                }
                self.insert(m)
            }
            Repr::Pack(p) => {
                if p.find(m).is_some() {
                    return false;
                }
                if p.count() < max_pack_entries() && m.len() <= max_pack_value() {
                    p.push(m);
                    return true;
                }
                self.convert_to_table(1);
                self.insert(m)
            }
            Repr::Table(t) => t.insert(m),
        }
    }

    /// Removes `m`; false if it was not a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => match parse_i64(m).map(|n| s.find(n)) {
                Some(Ok(i)) => {
                    s.remove_at(i);
                    true
                }
                _ => false,
            },
            Repr::Pack(p) => match p.find(m) {
                Some(at) => {
                    p.remove_at_offset(at);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(m),
        }
    }

    /// The member at position `i` (< len): O(1) except for listpack.
    pub fn get(&self, i: usize) -> Elem<'_> {
        match &self.repr {
            Repr::Ints(s) => Elem::Int(s.get(i)),
            Repr::Pack(p) => Elem::Str(p.iter().nth(i).expect("index below len").1),
            Repr::Table(t) => Elem::Str(t.member(i)),
        }
    }

    /// Removes and returns the member at position `i` (< len).
    pub fn pop_at(&mut self, i: usize) -> Bytes {
        let b = self.get(i).to_bytes();
        match &mut self.repr {
            Repr::Ints(s) => s.remove_at(i),
            Repr::Pack(p) => {
                let at = p.iter().nth(i).expect("index below len").0;
                p.remove_at_offset(at);
            }
            Repr::Table(t) => t.remove_at(i),
        }
        b
    }

    /// Whether position lookups are cheap (not a listpack walk).
    pub fn random_access(&self) -> bool {
        !matches!(self.repr, Repr::Pack(_))
    }

    /// Every member: intsets in ascending order, listpacks in insertion
    /// order, hashtables in their dense order.
    pub fn iter(&self) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (ints, pack, table) = match &self.repr {
            Repr::Ints(s) => (Some(s), None, None),
            Repr::Pack(p) => (None, Some(p), None),
            Repr::Table(t) => (None, None, Some(t)),
        };
        let ints = ints
            .into_iter()
            .flat_map(|s| (0..s.len()).map(|i| Elem::Int(s.get(i))));
        let pack = pack
            .into_iter()
            .flat_map(|p| p.iter().map(|(_, m)| Elem::Str(m)));
        let table = table
            .into_iter()
            .flat_map(|t| (0..t.spans.len()).map(|i| Elem::Str(t.member(i))));
        ints.chain(pack).chain(table)
    }

    /// One SSCAN step: small encodings return everything with cursor 0;
    /// a hashtable walks its dense array downwards from `cursor` (0: the
    /// top), at least `count` positions. Walking down, a removal only
    /// moves an already-visited member into the unvisited part, so every
    /// member present for the whole scan is returned. Returns the next
    /// cursor (0: done).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Elem)) -> u64 {
        let Repr::Table(t) = &self.repr else {
            self.iter().for_each(f);
            return 0;
        };
        let n = t.spans.len() as u64;
        let top = if cursor == 0 || cursor > n { n } else { cursor };
        let bottom = top.saturating_sub(count.max(1) as u64);
        for i in (bottom..top).rev() {
            f(Elem::Str(t.member(i as usize)));
        }
        bottom
    }

    fn convert_to_pack(&mut self) {
        let mut p = Pack::default();
        for e in self.iter() {
            e.with(|b| p.push(b));
        }
        self.repr = Repr::Pack(p);
    }

    fn convert_to_table(&mut self, extra: usize) {
        let mut t = Table::with_capacity(self.len() + extra);
        for e in self.iter() {
            e.with(|b| t.insert(b));
        }
        self.repr = Repr::Table(Box::new(t));
    }
}

/// Sorted integers, little-endian, `width` bytes each (the meta): up to
/// [`INTS_INLINE`] bytes inside the `Set` itself, so a small intset needs
/// no block of its own.
#[derive(Debug, Clone)]
struct IntSet(SmallBytes<INTS_INLINE>);

/// Bytes of integers kept inline: ten 16-bit members.
const INTS_INLINE: usize = 20;

const _: () = assert!(std::mem::size_of::<Set>() == 24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Width {
    W2 = 2,
    W4 = 4,
    W8 = 8,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet(SmallBytes::empty(Width::W2 as u8))
    }
}

fn width_of(n: i64) -> Width {
    if i16::try_from(n).is_ok() {
        Width::W2
    } else if i32::try_from(n).is_ok() {
        Width::W4
    } else {
        Width::W8
    }
}

impl IntSet {
    fn width(&self) -> Width {
        match self.0.meta() {
            2 => Width::W2,
            4 => Width::W4,
            _ => Width::W8,
        }
    }

    fn data(&self) -> &[u8] {
        self.0.bytes()
    }

    /// Stores `data`, integers of `width` bytes.
    fn store(&mut self, width: Width, data: Vec<u8>) {
        self.0 = SmallBytes::new(data, width as usize);
    }

    fn len(&self) -> usize {
        self.data().len() / self.width() as usize
    }

    fn get(&self, i: usize) -> i64 {
        let width = self.width();
        let w = width as usize;
        let b = &self.data()[i * w..(i + 1) * w];
        match width {
            Width::W2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            Width::W4 => i32::from_le_bytes(b.try_into().unwrap()) as i64,
            Width::W8 => i64::from_le_bytes(b.try_into().unwrap()),
        }
    }

    /// Ok(position) if present, Err(insertion point) if not.
    fn find(&self, n: i64) -> Result<usize, usize> {
        if width_of(n) > self.width() {
            return Err(if n < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn insert(&mut self, n: i64) -> bool {
        if width_of(n) > self.width() {
            self.upgrade(width_of(n));
        }
        let Err(i) = self.find(n) else {
            return false;
        };
        let width = self.width();
        let w = width as usize;
        let data = spliced(self.data(), i * w, 0, &n.to_le_bytes()[..w]);
        self.store(width, data);
        true
    }

    fn upgrade(&mut self, width: Width) {
        let w = width as usize;
        let mut data = Vec::with_capacity(self.len() * w);
        for i in 0..self.len() {
            data.extend_from_slice(&self.get(i).to_le_bytes()[..w]);
        }
        self.store(width, data);
    }

    fn remove_at(&mut self, i: usize) {
        let width = self.width();
        let w = width as usize;
        let data = spliced(self.data(), i * w, w, &[]);
        self.store(width, data);
    }
}

/// Members packed as (LEB128 length, bytes), unordered, after a 4-byte
/// member count (kept in the buffer so `Repr` stays at 24 bytes); the
/// buffer is exact-size and empty while the set is.
#[derive(Debug, Clone, Default)]
struct Pack {
    data: Box<[u8]>,
}

const COUNT: usize = 4;

impl Pack {
    fn count(&self) -> usize {
        match self.data.get(..COUNT) {
            Some(c) => u32::from_le_bytes(c.try_into().unwrap()) as usize,
            None => 0,
        }
    }

    fn set_count(data: &mut [u8], n: usize) {
        data[..COUNT].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// (entry offset, member bytes) for each member.
    fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut at = COUNT;
        std::iter::from_fn(move || {
            if at >= self.data.len() {
                return None;
            }
            let start = at;
            let (len, used) = read_varint(&self.data[at..]);
            let m = &self.data[at + used..at + used + len];
            at += used + len;
            Some((start, m))
        })
    }

    fn find(&self, m: &[u8]) -> Option<usize> {
        self.iter().find(|(_, x)| *x == m).map(|(at, _)| at)
    }

    fn push(&mut self, m: &[u8]) {
        let n = self.count() + 1;
        let mut head = [0u8; 10];
        let h = write_varint(m.len(), &mut head);
        let mut v = Vec::with_capacity(self.data.len().max(COUNT) + h + m.len());
        v.extend_from_slice(if self.data.is_empty() {
            &[0; COUNT]
        } else {
            &self.data
        });
        v.extend_from_slice(&head[..h]);
        v.extend_from_slice(m);
        Pack::set_count(&mut v, n);
        self.data = v.into_boxed_slice();
    }

    fn remove_at_offset(&mut self, at: usize) {
        let n = self.count() - 1;
        if n == 0 {
            self.data = Box::default();
            return;
        }
        let (len, used) = read_varint(&self.data[at..]);
        self.data = spliced(&self.data, at, used + len, &[]).into_boxed_slice();
        Pack::set_count(&mut self.data, n);
    }
}

fn read_varint(b: &[u8]) -> (usize, usize) {
    let (mut v, mut shift) = (0usize, 0);
    for (i, &c) in b.iter().enumerate() {
        v |= ((c & 0x7f) as usize) << shift;
        if c & 0x80 == 0 {
            return (v, i + 1);
        }
        shift += 7;
    }
    unreachable!("truncated listpack entry")
}

fn write_varint(mut v: usize, out: &mut [u8; 10]) -> usize {
    let mut i = 0;
    loop {
        let c = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[i] = c;
            return i + 1;
        }
        out[i] = c | 0x80;
        i += 1;
    }
}

/// Where a hashtable member's bytes are in the arena. Packed to 12 bytes:
/// fields are only ever copied out, never borrowed.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(4))]
struct Span {
    off: u64,
    len: u32,
}

#[derive(Debug, Clone, Default)]
struct Table {
    /// Member bytes; removed members leave holes until compaction.
    data: Vec<u8>,
    /// Dense: position i is member i.
    spans: Vec<Span>,
    /// Positions into `spans`, hashed by member.
    index: HashTable<u32>,
    /// Bytes of `data` no member uses.
    holes: usize,
}

fn hash(m: &[u8]) -> u64 {
    KeyHasher.hash_one(m)
}

fn slice<'a>(data: &'a [u8], spans: &[Span], i: u32) -> &'a [u8] {
    let s = spans[i as usize];
    let (off, len) = (s.off as usize, s.len as usize);
    &data[off..off + len]
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table {
            data: Vec::new(),
            spans: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            holes: 0,
        }
    }

    fn member(&self, i: usize) -> &[u8] {
        slice(&self.data, &self.spans, i as u32)
    }

    fn find(&self, m: &[u8]) -> Option<u32> {
        let (data, spans) = (&self.data, &self.spans);
        self.index
            .find(hash(m), |&i| slice(data, spans, i) == m)
            .copied()
    }

    fn insert(&mut self, m: &[u8]) -> bool {
        if self.find(m).is_some() {
            return false;
        }
        let pos = self.spans.len() as u32;
        // Grow by an eighth, not double: still amortized O(1), and the
        // spare capacity stays small (Redis allocates per member).
        let (dl, sl) = (self.data.len(), self.spans.len());
        if self.data.capacity() - dl < m.len() {
            self.data.reserve_exact(m.len().max(dl / 8));
        }
        if self.spans.capacity() == sl {
            self.spans.reserve_exact((sl / 8).max(4));
        }
        self.spans.push(Span {
            off: self.data.len() as u64,
            len: m.len() as u32,
        });
        self.data.extend_from_slice(m);
        let (data, spans) = (&self.data, &self.spans);
        self.index
            .insert_unique(hash(m), pos, |&i| hash(slice(data, spans, i)));
        true
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        match self.find(m) {
            Some(i) => {
                self.remove_at(i as usize);
                true
            }
            None => false,
        }
    }

    /// Removes member `i`; the last member moves into its place.
    fn remove_at(&mut self, i: usize) {
        let (data, spans) = (&self.data, &self.spans);
        let m = slice(data, spans, i as u32);
        if let Ok(e) = self.index.find_entry(hash(m), |&p| p as usize == i) {
            e.remove();
        }
        self.holes += self.spans[i].len as usize;
        let last = self.spans.len() - 1;
        self.spans.swap_remove(i);
        if i != last {
            let (data, spans) = (&self.data, &self.spans);
            let moved = slice(data, spans, i as u32);
            if let Some(p) = self.index.find_mut(hash(moved), |&p| p as usize == last) {
                *p = i as u32;
            }
        }
        if self.spans.is_empty() {
            self.data = Vec::new();
            self.holes = 0;
        } else if self.holes > 64 && self.holes * 2 > self.data.len() {
            self.compact();
        }
    }

    /// Rewrites the arena without holes; amortized O(1) per removal.
    fn compact(&mut self) {
        let mut data = Vec::with_capacity(self.data.len() - self.holes);
        for s in self.spans.iter_mut() {
            let (off, len) = (s.off as usize, s.len as usize);
            s.off = data.len() as u64;
            data.extend_from_slice(&self.data[off..off + len]);
        }
        self.data = data;
        self.holes = 0;
    }

    fn mem_usage(&self) -> usize {
        let cap = self.index.capacity();
        // hashbrown: buckets a power of two at 7/8 load, a control byte
        // each plus one group.
        let buckets = if cap == 0 {
            0
        } else {
            (cap * 8 / 7).next_power_of_two()
        };
        self.data.capacity()
            + self.spans.capacity() * std::mem::size_of::<Span>()
            + buckets * (std::mem::size_of::<u32>() + 1)
            + if buckets > 0 { 16 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(items: &[&str]) -> Set {
        let mut s = Set::new(items[0].as_bytes(), items.len());
        for m in items {
            s.insert(m.as_bytes());
        }
        s
    }

    fn members(s: &Set) -> Vec<String> {
        let mut v: Vec<String> = s
            .iter()
            .map(|e| String::from_utf8(e.to_bytes().to_vec()).unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn intset_widths_and_order() {
        let mut s = set_of(&["5", "-3"]);
        assert_eq!(s.encoding(), "intset");
        assert!(s.insert(b"100000"));
        assert!(s.insert(b"-9223372036854775808"));
        assert!(!s.insert(b"5"));
        let got: Vec<Elem> = s.iter().collect();
        assert_eq!(
            got,
            vec![
                Elem::Int(i64::MIN),
                Elem::Int(-3),
                Elem::Int(5),
                Elem::Int(100000)
            ]
        );
        assert!(s.contains(b"100000") && !s.contains(b"05") && !s.contains(b"7"));
        assert!(s.remove(b"-3") && !s.remove(b"-3"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn listpack_and_table() {
        let mut s = set_of(&["1", "2"]);
        assert!(s.insert(b"abc"));
        assert_eq!(s.encoding(), "listpack");
        assert!(s.contains(b"1") && s.contains(b"abc"));
        let long = vec![b'x'; 65];
        assert!(s.insert(&long));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(members(&s), vec!["1", "2", "abc", &"x".repeat(65)]);
        for i in 0..1000 {
            s.insert(format!("m{i}").as_bytes());
        }
        for i in 0..990 {
            assert!(s.remove(format!("m{i}").as_bytes()));
        }
        assert_eq!(s.len(), 14);
        for i in 990..1000 {
            assert!(s.contains(format!("m{i}").as_bytes()));
        }
        assert!(s.contains(b"abc") && !s.contains(b"m5"));
        while !s.is_empty() {
            s.pop_at(0);
        }
    }
}
