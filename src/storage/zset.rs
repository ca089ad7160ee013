//! Sorted sets: listpack while small, skiplist (with a member index) past `zset-max-listpack-*`.
//!
//! Elements are ordered by (score, member bytes), as Redis orders them.
//! - `listpack`: one packed byte buffer of entries in order; every
//!   operation scans it, which is fast for the small sizes it is used for.
//!   Entry: varint(member_len << 1 | is_float), member, then the score as a
//!   zigzag varint (integral scores) or 8 bytes of f64.
//! - `skiplist`: Redis's skiplist with spans (O(log n) insert, delete, rank
//!   and rank lookup) in an arena of nodes addressed by `u32`, plus a hash
//!   table of node indices keyed by member. Each node keeps its levels and
//!   its member in one allocation.
//!
//! Like Redis, a set converts to skiplist when it outgrows the limits and
//! never converts back (store commands build their result afresh).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::db::KeyHasher;
use super::small::{spliced, SmallBytes};
// What the allocator hands out for a request, so MEMORY USAGE is honest.
use crate::memory::size_class as alloc_size;

/// The `zset-max-listpack-*` limits in force for an operation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// A stored zset.
#[derive(Debug, Clone)]
pub struct ZSet {
    enc: Enc,
}

#[derive(Debug, Clone)]
enum Enc {
    Pack(Pack),
    Skip(Box<Skip>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            enc: Enc::Pack(Pack::default()),
        }
    }
}

impl ZSet {
    /// An empty set with the encoding Redis picks for `n` elements whose
    /// longest member is `max_len` bytes (zsetTypeCreate).
    pub fn with_hint(n: usize, max_len: usize, lim: Limits) -> ZSet {
        if n <= lim.entries && max_len <= lim.value {
            ZSet::default()
        } else {
            ZSet {
                enc: Enc::Skip(Box::default()),
            }
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.enc {
            Enc::Pack(_) => "listpack",
            Enc::Skip(_) => "skiplist",
        }
    }

    /// Heap bytes used outside the `ZSet` itself, allocator rounding included.
    pub fn mem_usage(&self) -> usize {
        match &self.enc {
            Enc::Pack(p) => p.0.block_len().map_or(0, alloc_size),
            Enc::Skip(s) => alloc_size(std::mem::size_of::<Skip>()) + s.mem_usage(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Pack(p) => p.len(),
            Enc::Skip(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.enc {
            Enc::Pack(p) => p.find(member).map(|e| e.score),
            Enc::Skip(s) => s.find(member).map(|x| s.nodes[x as usize].score),
        }
    }

    /// Adds `member` or moves it to `score`; returns the old score.
    pub fn insert(&mut self, member: &[u8], score: f64, lim: Limits) -> Option<f64> {
        if let Enc::Pack(p) = &mut self.enc {
            if let Some(e) = p.find(member) {
                if e.score != score {
                    p.cut(e.start..e.end);
                    p.insert(member, score);
                }
                return Some(e.score);
            }
            if p.len() < lim.entries && member.len() <= lim.value {
                p.insert(member, score);
                return None;
            }
            self.convert();
        }
        let Enc::Skip(s) = &mut self.enc else {
            unreachable!("converted above")
        };
        s.upsert(member, score)
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.enc {
            Enc::Pack(p) => {
                let e = p.find(member)?;
                p.cut(e.start..e.end);
                Some(e.score)
            }
            Enc::Skip(s) => s.remove(member),
        }
    }

    /// The 0-based ascending rank and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.enc {
            Enc::Pack(p) => p.find(member).map(|e| (e.rank, e.score)),
            Enc::Skip(s) => {
                let x = s.find(member)?;
                let score = s.nodes[x as usize].score;
                Some((s.rank_of(score, member), score))
            }
        }
    }

    /// How many leading elements (in ascending order) satisfy `before`,
    /// which must hold for a prefix of the order and fail after it.
    pub fn count_while(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.enc {
            Enc::Pack(p) => p.iter().take_while(|e| before(e.1, e.0)).count(),
            Enc::Skip(s) => s.count_while(before),
        }
    }

    /// Calls `f` on the elements of ranks `start..end`, ascending, or
    /// descending from `end - 1` when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.enc {
            Enc::Pack(p) => {
                let all: Vec<(&[u8], f64)> = p.iter().skip(start).take(end - start).collect();
                if rev {
                    all.iter().rev().for_each(|e| f(e.0, e.1));
                } else {
                    all.iter().for_each(|e| f(e.0, e.1));
                }
            }
            Enc::Skip(s) => {
                let mut x = s.at_rank(if rev { end - 1 } else { start });
                for _ in start..end {
                    let n = &s.nodes[x as usize];
                    f(n.member(), n.score);
                    x = if rev { n.back } else { n.next(0) };
                }
            }
        }
    }

    /// One ZSCAN step from `cursor`: calls `f` on about `count` elements
    /// and returns the next cursor, 0 when done. A listpack is visited
    /// whole, as Redis does. A skiplist is walked in arena order: a node
    /// keeps its slot for life (a moved member gets its own slot back), so
    /// an element present for the whole scan is returned exactly once.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let s = match &self.enc {
            Enc::Pack(p) => {
                p.iter().for_each(|(m, sc)| f(m, sc));
                return 0;
            }
            Enc::Skip(s) => s,
        };
        let mut i = (cursor as usize).max(1);
        let mut seen = 0;
        while i < s.nodes.len() && seen < count {
            let n = &s.nodes[i];
            if n.levels > 0 {
                f(n.member(), n.score);
                seen += 1;
            }
            i += 1;
        }
        if i >= s.nodes.len() {
            0
        } else {
            i as u64
        }
    }

    /// The element of rank `r`.
    pub fn at(&self, r: usize) -> Option<(Vec<u8>, f64)> {
        let mut out = None;
        self.range(r, r + 1, false, |m, s| out = Some((m.to_vec(), s)));
        out
    }

    /// Every element, ascending.
    pub fn to_vec(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.range(0, self.len(), false, |m, s| v.push((m.to_vec(), s)));
        v
    }

    fn convert(&mut self) {
        let mut s = Skip::default();
        if let Enc::Pack(p) = &self.enc {
            for (m, score) in p.iter() {
                s.upsert(m, score);
            }
        }
        self.enc = Enc::Skip(Box::new(s));
    }
}

// ---------------------------------------------------------------- listpack

/// The packed entries, with their count as the meta: up to [`INLINE`]
/// bytes inside the `ZSet` (which stays 24 bytes), so a small zset needs
/// no block of its own.
#[derive(Debug, Clone)]
struct Pack(SmallBytes<INLINE>);

/// Bytes of entries kept inline: three members of a few bytes with small
/// integer scores.
const INLINE: usize = 21;

const _: () = assert!(std::mem::size_of::<ZSet>() == 24);

impl Default for Pack {
    fn default() -> Pack {
        Pack(SmallBytes::empty(0))
    }
}

struct Found {
    start: usize,
    end: usize,
    score: f64,
    rank: usize,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Scores kept as integers when that is exact; -0 becomes 0, as in
/// Redis's listpack.
fn as_int(score: f64) -> Option<i64> {
    (score.fract() == 0.0 && score.abs() < (1u64 << 53) as f64).then_some(score as i64)
}

impl Pack {
    fn bytes(&self) -> &[u8] {
        self.0.bytes()
    }

    fn len(&self) -> usize {
        self.0.meta()
    }

    /// Stores `bytes`, holding `count` entries.
    fn set(&mut self, bytes: Vec<u8>, count: usize) {
        self.0 = SmallBytes::new(bytes, count);
    }

    fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: self.bytes(),
            pos: 0,
        }
    }

    fn find(&self, member: &[u8]) -> Option<Found> {
        let mut it = self.iter();
        let mut rank = 0;
        loop {
            let start = it.pos;
            let (m, score) = it.next()?;
            if m == member {
                return Some(Found {
                    start,
                    end: it.pos,
                    score,
                    rank,
                });
            }
            rank += 1;
        }
    }

    /// Inserts a member known to be absent, in order.
    fn insert(&mut self, member: &[u8], score: f64) {
        let mut it = self.iter();
        let mut at = self.bytes().len();
        loop {
            let start = it.pos;
            let Some((m, s)) = it.next() else { break };
            if s > score || (s == score && m > member) {
                at = start;
                break;
            }
        }
        let mut e = Vec::with_capacity(member.len() + 10);
        let int = as_int(score);
        put_varint(&mut e, (member.len() as u64) << 1 | int.is_none() as u64);
        e.extend_from_slice(member);
        match int {
            Some(i) => put_varint(&mut e, ((i << 1) ^ (i >> 63)) as u64),
            None => e.extend_from_slice(&score.to_le_bytes()),
        }
        self.set(spliced(self.bytes(), at, 0, &e), self.len() + 1);
    }

    /// Removes the entry at `r`.
    fn cut(&mut self, r: std::ops::Range<usize>) {
        self.set(spliced(self.bytes(), r.start, r.len(), &[]), self.len() - 1);
    }
}

struct PackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let h = get_varint(self.buf, &mut self.pos);
        let len = (h >> 1) as usize;
        let m = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        let score = if h & 1 == 1 {
            let b: [u8; 8] = self.buf[self.pos..self.pos + 8].try_into().unwrap();
            self.pos += 8;
            f64::from_le_bytes(b)
        } else {
            let z = get_varint(self.buf, &mut self.pos);
            ((z >> 1) as i64 ^ -((z & 1) as i64)) as f64
        };
        Some((m, score))
    }
}

// ---------------------------------------------------------------- skiplist

const MAX_LEVEL: usize = 32;
/// Node 0 is the header; as a `next` it means "none".
const NIL: u32 = 0;

/// Levels kept in the node itself: three in four nodes have one level and
/// fifteen in sixteen at most two, so a step through them reads the score
/// and the link from one place (a second cache miss otherwise).
const INLINE_LEVELS: usize = 2;

/// `data` holds the (next: u32, span: u32) pairs of the levels above
/// `INLINE_LEVELS`, then the member.
#[derive(Debug, Clone)]
struct Node {
    data: Box<[u8]>,
    score: f64,
    low: [(u32, u32); INLINE_LEVELS],
    back: u32,
    levels: u8,
}

impl Node {
    fn new(levels: usize, member: &[u8], score: f64) -> Node {
        let high = levels.saturating_sub(INLINE_LEVELS) * 8;
        let mut data = vec![0u8; high + member.len()];
        data[high..].copy_from_slice(member);
        Node {
            data: data.into_boxed_slice(),
            score,
            low: [(NIL, 0); INLINE_LEVELS],
            back: NIL,
            levels: levels as u8,
        }
    }

    fn member(&self) -> &[u8] {
        &self.data[(self.levels as usize).saturating_sub(INLINE_LEVELS) * 8..]
    }

    fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.data[at..at + 4].try_into().unwrap())
    }

    fn set_word(&mut self, at: usize, v: u32) {
        self.data[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn next(&self, i: usize) -> u32 {
        match self.low.get(i) {
            Some(l) => l.0,
            None => self.word((i - INLINE_LEVELS) * 8),
        }
    }

    fn span(&self, i: usize) -> u32 {
        match self.low.get(i) {
            Some(l) => l.1,
            None => self.word((i - INLINE_LEVELS) * 8 + 4),
        }
    }

    fn set_next(&mut self, i: usize, v: u32) {
        match self.low.get_mut(i) {
            Some(l) => l.0 = v,
            None => self.set_word((i - INLINE_LEVELS) * 8, v),
        }
    }

    fn set_span(&mut self, i: usize, v: u32) {
        match self.low.get_mut(i) {
            Some(l) => l.1 = v,
            None => self.set_word((i - INLINE_LEVELS) * 8 + 4, v),
        }
    }

    /// Orders before (score, member)?
    fn before(&self, score: f64, member: &[u8]) -> bool {
        self.score < score || (self.score == score && self.member() < member)
    }
}

#[derive(Debug, Clone)]
struct Skip {
    nodes: Vec<Node>,
    /// Arena slots of deleted nodes, reused first.
    free: Vec<u32>,
    tail: u32,
    level: usize,
    len: usize,
    /// Node indices, hashed by member.
    index: HashTable<u32>,
    /// Bytes of the nodes' own allocations.
    heap: usize,
}

impl Default for Skip {
    fn default() -> Self {
        let header = Node::new(MAX_LEVEL, b"", 0.0);
        Skip {
            heap: alloc_size(header.data.len()),
            nodes: vec![header],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            len: 0,
            index: HashTable::new(),
        }
    }
}

fn hash(member: &[u8]) -> u64 {
    KeyHasher.hash_one(member)
}

/// Redis's level distribution: p = 1/4, at most 32.
fn random_level() -> usize {
    let mut l = 1;
    while l < MAX_LEVEL && rand::random::<u16>() < 0x4000 {
        l += 1;
    }
    l
}

impl Skip {
    fn mem_usage(&self) -> usize {
        alloc_size(self.nodes.capacity() * std::mem::size_of::<Node>())
            + alloc_size(self.free.capacity() * 4)
            + alloc_size(self.index.capacity() * 5 + 16)
            + self.heap
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash(member), |&x| nodes[x as usize].member() == member)
            .copied()
    }

    fn upsert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let Some(x) = self.find(member) else {
            let x = self.insert_node(member, score);
            let nodes = &self.nodes;
            self.index
                .insert_unique(hash(member), x, |&y| hash(nodes[y as usize].member()));
            return None;
        };
        let old = self.nodes[x as usize].score;
        if old == score {
            return Some(old);
        }
        let n = &self.nodes[x as usize];
        let (back, next) = (n.back, n.next(0));
        // Still in order between its neighbours: change the score in place.
        if (back == NIL || self.nodes[back as usize].before(score, member))
            && (next == NIL || !self.nodes[next as usize].before(score, member))
        {
            self.nodes[x as usize].score = score;
            return Some(old);
        }
        // The node moves with its slot, levels and member: ZSCAN's cursor
        // relies on the slot, and nothing is freed, allocated or rehashed.
        self.unlink(x);
        self.nodes[x as usize].score = score;
        self.link(x);
        Some(old)
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        let score = self.nodes[x as usize].score;
        self.unlink(x);
        if let Ok(e) = self.index.find_entry(hash(member), |&y| y == x) {
            e.remove();
        }
        let node = std::mem::replace(&mut self.nodes[x as usize], Node::new(0, b"", 0.0));
        self.heap -= alloc_size(node.data.len());
        self.free.push(x);
        Some(score)
    }

    /// The last node before `x`'s position at every level, and the rank
    /// of each (`x` itself is not in the list, or is skipped as not before
    /// itself): the search zslInsert and zslDeleteNode's callers make.
    fn predecessors(&self, x: u32) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [NIL; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let xn = &self.nodes[x as usize];
        let (score, member) = (xn.score, xn.member());
        let mut y = NIL;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let n = &self.nodes[y as usize];
                let nx = n.next(i);
                if nx != NIL && self.nodes[nx as usize].before(score, member) {
                    rank[i] += n.span(i);
                    y = nx;
                } else {
                    break;
                }
            }
            update[i] = y;
        }
        (update, rank)
    }

    /// Takes node `x` out of the list; Redis's zslDeleteNode.
    fn unlink(&mut self, x: u32) {
        let (update, _) = self.predecessors(x);
        debug_assert_eq!(self.nodes[update[0] as usize].next(0), x);
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let (un, us) = (
                self.nodes[u as usize].next(i),
                self.nodes[u as usize].span(i),
            );
            if un == x {
                let xn = &self.nodes[x as usize];
                let (xnext, xspan) = (xn.next(i), xn.span(i));
                let un = &mut self.nodes[u as usize];
                un.set_span(i, us + xspan - 1);
                un.set_next(i, xnext);
            } else {
                self.nodes[u as usize].set_span(i, us - 1);
            }
        }
        let (back, next) = (self.nodes[x as usize].back, self.nodes[x as usize].next(0));
        if next != NIL {
            self.nodes[next as usize].back = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.nodes[0].next(self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Adds a new node in order; Redis's zslInsert.
    fn insert_node(&mut self, member: &[u8], score: f64) -> u32 {
        let node = Node::new(random_level(), member, score);
        self.heap += alloc_size(node.data.len());
        let x = match self.free.pop() {
            Some(x) => {
                self.nodes[x as usize] = node;
                x
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.link(x);
        x
    }

    /// Links node `x` (not in the list) in order by its score and member,
    /// at its own number of levels.
    fn link(&mut self, x: u32) {
        let (mut update, mut rank) = self.predecessors(x);
        let lvl = self.nodes[x as usize].levels as usize;
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = NIL;
                self.nodes[0].set_span(i, self.len as u32);
            }
            self.level = lvl;
        }
        for i in 0..lvl {
            let u = update[i] as usize;
            let (un, us) = (self.nodes[u].next(i), self.nodes[u].span(i));
            let xn = &mut self.nodes[x as usize];
            xn.set_next(i, un);
            xn.set_span(i, us - (rank[0] - rank[i]));
            let un = &mut self.nodes[u];
            un.set_next(i, x);
            un.set_span(i, rank[0] - rank[i] + 1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let s = self.nodes[u as usize].span(i);
            self.nodes[u as usize].set_span(i, s + 1);
        }
        self.nodes[x as usize].back = update[0];
        let next = self.nodes[x as usize].next(0);
        if next != NIL {
            self.nodes[next as usize].back = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// 0-based rank of an element known to be present.
    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.count_while(|s, m| s < score || (s == score && m < member))
    }

    fn count_while(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let (mut y, mut rank) = (NIL, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let n = &self.nodes[y as usize];
                let nx = n.next(i);
                if nx == NIL {
                    break;
                }
                let nn = &self.nodes[nx as usize];
                if !before(nn.score, nn.member()) {
                    break;
                }
                rank += n.span(i) as usize;
                y = nx;
            }
        }
        rank
    }

    /// The node of 0-based rank `r` (< len).
    fn at_rank(&self, r: usize) -> u32 {
        let target = r + 1;
        let (mut y, mut seen) = (NIL, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let n = &self.nodes[y as usize];
                let nx = n.next(i);
                if nx != NIL && seen + n.span(i) as usize <= target {
                    seen += n.span(i) as usize;
                    y = nx;
                } else {
                    break;
                }
            }
            if seen == target {
                return y;
            }
        }
        unreachable!("rank {r} out of {}", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    const SMALL: Limits = Limits {
        entries: 8,
        value: 16,
    };

    /// Checks every view of `z` against a sorted model.
    fn check(z: &ZSet, model: &[(f64, Vec<u8>)]) {
        assert_eq!(z.len(), model.len());
        let all = z.to_vec();
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(all[i], (m.clone(), *s));
            assert_eq!(z.rank(m), Some((i, *s)));
            assert_eq!(z.score(m), Some(*s));
        }
        let mut rev = Vec::new();
        z.range(0, model.len(), true, |m, s| rev.push((m.to_vec(), s)));
        rev.reverse();
        assert_eq!(rev, all);
    }

    #[test]
    fn random_ops_match_a_model_in_both_encodings() {
        let mut rng = rand::thread_rng();
        for lim in [
            SMALL,
            Limits {
                entries: 1000,
                value: 64,
            },
        ] {
            let mut z = ZSet::default();
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for step in 0..3000 {
                let m = format!("m{}", rng.gen_range(0..200)).into_bytes();
                let score = match rng.gen_range(0..4) {
                    0 => rng.gen_range(-5..5) as f64,
                    1 => rng.gen::<f64>() * 100.0,
                    2 => -0.0,
                    _ => 1e300,
                };
                if rng.gen_bool(0.6) {
                    let old = model.iter().position(|e| e.1 == m);
                    let prev = z.insert(&m, score, lim);
                    assert_eq!(prev, old.map(|i| model[i].0));
                    if let Some(i) = old {
                        model.remove(i);
                    }
                    model.push((score, m));
                } else {
                    let old = model.iter().position(|e| e.1 == m);
                    assert_eq!(z.remove(&m), old.map(|i| model[i].0));
                    if let Some(i) = old {
                        model.remove(i);
                    }
                }
                model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
                if step % 97 == 0 {
                    check(&z, &model);
                    let k = rng.gen_range(-5..5) as f64;
                    let want = model.iter().filter(|e| e.0 < k).count();
                    assert_eq!(z.count_while(|s, _| s < k), want);
                }
            }
            check(&z, &model);
        }
    }

    #[test]
    fn converts_past_the_limits_and_never_back() {
        let mut z = ZSet::default();
        for i in 0..8 {
            z.insert(format!("{i}").as_bytes(), i as f64, SMALL);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"x", 0.5, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"x");
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::default();
        z.insert(&[b'a'; 17], 1.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn scan_returns_stable_members_once_while_others_change() {
        let lim = Limits {
            entries: 4,
            value: 64,
        };
        let mut z = ZSet::default();
        for i in 0..500 {
            z.insert(format!("s{i}").as_bytes(), i as f64, lim);
            z.insert(format!("t{i}").as_bytes(), i as f64, lim);
        }
        let mut seen = std::collections::HashMap::new();
        let (mut cursor, mut round) = (0, 0);
        loop {
            cursor = z.scan(cursor, 30, |m, _| {
                *seen.entry(m.to_vec()).or_insert(0) += 1;
            });
            // Churn: move stable members, drop and add transient ones.
            round += 1;
            z.insert(format!("s{round}").as_bytes(), -(round as f64), lim);
            z.remove(format!("t{round}").as_bytes());
            z.insert(format!("u{round}").as_bytes(), 0.5, lim);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert_eq!(seen.get(format!("s{i}").as_bytes()), Some(&1), "s{i}");
        }
        assert!(seen.values().all(|&n| n == 1));
    }

    #[test]
    fn large_set_ranks() {
        let lim = Limits {
            entries: 128,
            value: 64,
        };
        let mut z = ZSet::default();
        let n = 100_000;
        for i in (0..n).rev() {
            z.insert(format!("m{i:06}").as_bytes(), i as f64, lim);
        }
        // Honest and compact: well under Redis's ~100 bytes per element.
        assert!(z.mem_usage() / z.len() < 90, "{}", z.mem_usage() / z.len());
        for i in (0..n).step_by(997) {
            assert_eq!(z.rank(format!("m{i:06}").as_bytes()), Some((i, i as f64)));
            assert_eq!(z.at(i).unwrap().1, i as f64);
        }
        for i in (0..n).step_by(2) {
            z.remove(format!("m{i:06}").as_bytes());
        }
        assert_eq!(z.len(), n / 2);
        assert_eq!(z.rank(b"m000003"), Some((1, 3.0)));
        assert_eq!(
            z.at(n / 2 - 1).unwrap().0,
            format!("m{:06}", n - 1).into_bytes()
        );
        // Removed elements' slots are kept for reuse (ZSCAN's cursor).
        assert!(z.mem_usage() / z.len() < 170, "{}", z.mem_usage() / z.len());
    }
}
