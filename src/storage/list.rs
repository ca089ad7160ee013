//! Lists, packed like Redis's: a small list is one packed node (a
//! "listpack": entries back to back in one buffer); past the node size limit
//! (`list-max-listpack-size`) it becomes a deque of such nodes (a
//! "quicklist"). Redis 7.0 reports `quicklist` for both, so OBJECT ENCODING
//! does too; the split is about memory, not about what clients see.
//!
//! An entry is `len` (LEB128) + bytes + `back` (the size of the first two,
//! stored so it reads right to left), so a node can be walked from either
//! end: a small entry costs its length plus two bytes, as in a listpack.

use std::collections::VecDeque;

use bytes::Bytes;

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// Redis's per-node estimate of an entry's overhead when deciding whether
/// it still fits (`SIZE_ESTIMATE_OVERHEAD`).
pub const OVERHEAD: usize = 8;
/// A listpack's own header and terminator, counted in its size.
const NODE_HEADER: usize = 7;
/// Positive fill values still cap a node at this many bytes.
const SAFETY_LIMIT: usize = 8192;

/// Largest node size in bytes for a fill setting, and the entry cap
/// (also how RDB snapshots split a list into quicklist nodes).
pub fn node_limit(fill: i64) -> (usize, usize) {
    match fill {
        f if f >= 0 => (SAFETY_LIMIT, f.max(1) as usize),
        -1 => (4096, usize::MAX),
        -2 => (8192, usize::MAX),
        -3 => (16384, usize::MAX),
        -4 => (32768, usize::MAX),
        _ => (65536, usize::MAX),
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The back length, most significant group first: read right to left,
/// a set high bit means "more to the left" (the leftmost byte has none).
fn put_backlen(out: &mut Vec<u8>, n: usize) {
    let k = varint_len(n);
    for i in (0..k).rev() {
        let group = (n >> (7 * i)) as u8 & 0x7f;
        out.push(if i + 1 < k { group | 0x80 } else { group });
    }
}

/// Bytes one entry of `n` data bytes takes.
fn entry_size(n: usize) -> usize {
    let inner = varint_len(n) + n;
    inner + varint_len(inner)
}

fn encode(data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(entry_size(data.len()));
    encode_into(&mut e, data);
    e
}

/// Appends the entry for `data` to `out`.
fn encode_into(out: &mut Vec<u8>, data: &[u8]) {
    put_varint(out, data.len());
    out.extend_from_slice(data);
    put_backlen(out, varint_len(data.len()) + data.len());
}

/// One packed node: entries back to back in `buf[head..]`. The bytes
/// before `head` are slack for pushes at the head, so those do not move
/// the whole node each time (a listpack does).
#[derive(Debug, Clone, Default)]
struct Node {
    buf: Vec<u8>,
    head: u32,
    count: u32,
}

impl Node {
    /// The entries.
    fn bytes(&self) -> &[u8] {
        &self.buf[self.head as usize..]
    }

    /// Bytes of entries.
    fn len(&self) -> usize {
        self.buf.len() - self.head as usize
    }

    /// Reads the entry starting at `pos`: (data start, data end, next entry).
    fn fwd(&self, pos: usize) -> (usize, usize, usize) {
        let bytes = self.bytes();
        let (mut n, mut shift, mut p) = (0usize, 0, pos);
        loop {
            let b = bytes[p];
            n |= ((b & 0x7f) as usize) << shift;
            p += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let inner = p - pos + n;
        (p, p + n, pos + inner + varint_len(inner))
    }

    /// Reads the entry ending at `end`: (entry start, data start, data end).
    fn back(&self, end: usize) -> (usize, usize, usize) {
        let bytes = self.bytes();
        let (mut inner, mut shift, mut p) = (0usize, 0, end);
        loop {
            p -= 1;
            let b = bytes[p];
            inner |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let start = p - inner;
        let (ds, de, _) = self.fwd(start);
        (start, ds, de)
    }

    /// Byte offset of entry `i`.
    fn offset(&self, i: usize) -> usize {
        let mut pos = 0;
        for _ in 0..i {
            pos = self.fwd(pos).2;
        }
        pos
    }

    fn size(&self) -> usize {
        self.len() + NODE_HEADER
    }

    /// Makes room for `extra` bytes, growing by at least an eighth so a
    /// run of pushes is amortized without doubling the slack.
    fn reserve(&mut self, extra: usize) {
        if self.buf.capacity() - self.buf.len() < extra {
            self.buf.reserve_exact(extra.max(self.len() / 8).max(16));
        }
    }

    /// Gives back slack after removals.
    fn trim_slack(&mut self) {
        let (len, cap) = (self.len(), self.buf.capacity());
        if cap > 256 && cap > len * 2 {
            self.buf.drain(..self.head as usize);
            self.head = 0;
            self.buf.shrink_to(len + len / 8);
        }
    }

    /// Gives back all slack: the node will not grow again.
    fn shrink(&mut self) {
        self.buf.drain(..self.head as usize);
        self.head = 0;
        self.buf.shrink_to_fit();
    }

    fn push(&mut self, end: End, data: &[u8]) {
        match end {
            End::Tail => {
                // Straight into the buffer: no entry allocated per push.
                self.reserve(entry_size(data.len()));
                encode_into(&mut self.buf, data);
            }
            End::Head => {
                let e = encode(data);
                if (self.head as usize) < e.len() {
                    // Slack for this entry and an eighth of the node more:
                    // a run of head pushes moves the entries once per
                    // eighth, not on every push.
                    let slack = e.len().max(self.len() / 8).max(16);
                    let mut buf = Vec::with_capacity(slack + self.len());
                    buf.resize(slack, 0);
                    buf.extend_from_slice(self.bytes());
                    self.buf = buf;
                    self.head = slack as u32;
                }
                let at = self.head as usize - e.len();
                self.buf[at..at + e.len()].copy_from_slice(&e);
                self.head = at as u32;
            }
        }
        self.count += 1;
    }

    /// Replaces the entry bytes in `r` (offsets into the entries) with `with`.
    fn splice(&mut self, r: std::ops::Range<usize>, with: Vec<u8>) {
        let h = self.head as usize;
        self.buf.splice(h + r.start..h + r.end, with);
    }

    fn insert_at(&mut self, pos: usize, data: &[u8]) {
        let e = encode(data);
        self.reserve(e.len());
        self.splice(pos..pos, e);
        self.count += 1;
    }

    fn pop(&mut self, end: End) -> Bytes {
        let b = match end {
            End::Head => {
                let (ds, de, next) = self.fwd(0);
                let b = Bytes::copy_from_slice(&self.bytes()[ds..de]);
                self.head += next as u32;
                b
            }
            End::Tail => {
                let (start, ds, de) = self.back(self.len());
                let b = Bytes::copy_from_slice(&self.bytes()[ds..de]);
                self.buf.truncate(self.head as usize + start);
                b
            }
        };
        self.count -= 1;
        self.trim_slack();
        b
    }

    /// Removes `n` entries from one end.
    fn drop_n(&mut self, end: End, n: usize) {
        match end {
            End::Head => {
                let at = self.offset(n);
                self.head += at as u32;
            }
            End::Tail => {
                let at = self.offset(self.count as usize - n);
                self.buf.truncate(self.head as usize + at);
            }
        }
        self.count -= n as u32;
        self.trim_slack();
    }

    /// Calls `f` on each entry from the first; stops when it returns false.
    fn each(&self, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        let mut pos = 0;
        while pos < self.len() {
            let (ds, de, next) = self.fwd(pos);
            if !f(&self.bytes()[ds..de]) {
                return false;
            }
            pos = next;
        }
        true
    }

    /// Calls `f` on each entry from the last; stops when it returns false.
    fn each_rev(&self, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        let mut end = self.len();
        while end > 0 {
            let (start, ds, de) = self.back(end);
            if !f(&self.bytes()[ds..de]) {
                return false;
            }
            end = start;
        }
        true
    }

    /// Splits off the second half as a new node.
    fn split(&mut self) -> Node {
        let keep = self.count as usize / 2;
        let at = self.offset(keep);
        let rest = Node {
            buf: self.bytes()[at..].to_vec(),
            head: 0,
            count: self.count - keep as u32,
        };
        self.buf.truncate(self.head as usize + at);
        self.shrink();
        self.count = keep as u32;
        rest
    }
}

#[derive(Debug, Clone)]
enum Repr {
    /// A small list: one packed node ("listpack").
    Pack(Node),
    /// Several packed nodes ("quicklist"), with the total entry count.
    Quick(VecDeque<Node>, usize),
}

/// A stored list. Never empty while stored: commands delete the key when
/// the last element goes.
#[derive(Debug, Clone)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> List {
        List::new()
    }
}

impl List {
    pub fn new() -> List {
        List {
            repr: Repr::Pack(Node::default()),
        }
    }

    /// The OBJECT ENCODING name: Redis 7.0 says quicklist for every list.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Whether the list still fits in one packed node.
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Pack(_))
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        let node = |n: &Node| n.buf.capacity();
        std::mem::size_of::<List>()
            + match &self.repr {
                Repr::Pack(n) => node(n),
                Repr::Quick(nodes, _) => {
                    nodes.capacity() * std::mem::size_of::<Node>()
                        + nodes.iter().map(node).sum::<usize>()
                }
            }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(n) => n.count as usize,
            Repr::Quick(_, len) => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nodes, as a deque (converting a packed list to one).
    fn quick(&mut self) -> (&mut VecDeque<Node>, &mut usize) {
        if let Repr::Pack(n) = &mut self.repr {
            let n = std::mem::take(n);
            let len = n.count as usize;
            self.repr = Repr::Quick(VecDeque::from([n]), len);
        }
        match &mut self.repr {
            Repr::Quick(nodes, len) => (nodes, len),
            Repr::Pack(_) => unreachable!(),
        }
    }

    fn nodes(&self) -> impl DoubleEndedIterator<Item = &Node> {
        let (one, many) = match &self.repr {
            Repr::Pack(n) => (Some(n), None),
            Repr::Quick(nodes, _) => (None, Some(nodes.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Goes back to one packed node once everything fits in one again.
    /// O(1): every caller leaves no empty node behind (a pop runs this on
    /// every call, so it must not walk the nodes).
    fn maybe_pack(&mut self, fill: i64) {
        if let Repr::Quick(nodes, _) = &mut self.repr {
            let (limit, cap) = node_limit(fill);
            if nodes.len() == 1 && nodes[0].size() <= limit / 2 && (nodes[0].count as usize) < cap {
                let n = nodes.pop_front().expect("one node");
                self.repr = Repr::Pack(n);
            }
        }
    }

    /// Redis's `_quicklistNodeAllowInsert`.
    fn fits(n: &Node, data: usize, fill: i64) -> bool {
        let (limit, cap) = node_limit(fill);
        n.size() + entry_size(data) + OVERHEAD <= limit && (n.count as usize) < cap
    }

    pub fn push(&mut self, end: End, data: &[u8], fill: i64) {
        if let Repr::Pack(n) = &mut self.repr {
            if n.count == 0 || List::fits(n, data.len(), fill) {
                n.push(end, data);
                return;
            }
        }
        let (nodes, len) = self.quick();
        *len += 1;
        let edge = match end {
            End::Head => nodes.front_mut(),
            End::Tail => nodes.back_mut(),
        };
        if let Some(n) = edge.filter(|n| List::fits(n, data.len(), fill)) {
            n.push(end, data);
            return;
        }
        // The full edge node will not grow again: give back its slack.
        if let Some(full) = match end {
            End::Head => nodes.front_mut(),
            End::Tail => nodes.back_mut(),
        } {
            full.shrink();
        }
        let mut n = Node::default();
        n.push(end, data);
        match end {
            End::Head => nodes.push_front(n),
            End::Tail => nodes.push_back(n),
        }
    }

    pub fn pop(&mut self, end: End, fill: i64) -> Option<Bytes> {
        match &mut self.repr {
            Repr::Pack(n) => (n.count > 0).then(|| n.pop(end)),
            Repr::Quick(nodes, len) => {
                let n = match end {
                    End::Head => nodes.front_mut()?,
                    End::Tail => nodes.back_mut()?,
                };
                let b = n.pop(end);
                *len -= 1;
                if n.count == 0 {
                    match end {
                        End::Head => nodes.pop_front(),
                        End::Tail => nodes.pop_back(),
                    };
                }
                self.maybe_pack(fill);
                Some(b)
            }
        }
    }

    /// Node index and entry index within it of list index `i` (< len).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (k, n) in self.nodes().enumerate() {
            if i < n.count as usize {
                return (k, i);
            }
            i -= n.count as usize;
        }
        unreachable!("index checked against len")
    }

    fn node_mut(&mut self, k: usize) -> &mut Node {
        match &mut self.repr {
            Repr::Pack(n) => n,
            Repr::Quick(nodes, _) => &mut nodes[k],
        }
    }

    /// Element `i` (0-based from the head).
    pub fn get(&self, i: usize) -> Option<Bytes> {
        if i >= self.len() {
            return None;
        }
        let (k, j) = self.locate(i);
        let n = self.nodes().nth(k)?;
        let (ds, de, _) = n.fwd(n.offset(j));
        Some(Bytes::copy_from_slice(&n.bytes()[ds..de]))
    }

    /// Replaces element `i`; false if out of range.
    pub fn set(&mut self, i: usize, data: &[u8], fill: i64) -> bool {
        if i >= self.len() {
            return false;
        }
        let (k, j) = self.locate(i);
        let n = self.node_mut(k);
        let pos = n.offset(j);
        let next = n.fwd(pos).2;
        n.splice(pos..next, encode(data));
        self.rebalance(k, fill);
        true
    }

    /// Inserts `data` before (or after) the first element equal to `pivot`.
    /// Returns false when the pivot is absent.
    pub fn insert(&mut self, pivot: &[u8], data: &[u8], after: bool, fill: i64) -> bool {
        let mut found = None;
        for (k, n) in self.nodes().enumerate() {
            let mut j = 0;
            if !n.each(|e| {
                if e == pivot {
                    return false;
                }
                j += 1;
                true
            }) {
                found = Some((k, j));
                break;
            }
        }
        let Some((k, j)) = found else {
            return false;
        };
        let n = self.node_mut(k);
        let pos = n.offset(if after { j + 1 } else { j });
        n.insert_at(pos, data);
        if let Repr::Quick(_, len) = &mut self.repr {
            *len += 1;
        }
        self.rebalance(k, fill);
        true
    }

    /// Splits node `k` if an insert or replace made it too big.
    fn rebalance(&mut self, k: usize, fill: i64) {
        let (limit, cap) = node_limit(fill);
        let n = self.node_mut(k);
        if (n.size() <= limit && n.count as usize <= cap) || n.count < 2 {
            return;
        }
        let (nodes, _) = self.quick();
        let rest = nodes[k].split();
        nodes.insert(k + 1, rest);
        self.rebalance(k + 1, fill);
        self.rebalance(k, fill);
    }

    /// Calls `f` on elements from index `start` towards the tail; stops
    /// when it returns false.
    pub fn each_from(&self, start: usize, mut f: impl FnMut(&[u8]) -> bool) {
        if start >= self.len() {
            return;
        }
        let (k, j) = self.locate(start);
        for (i, n) in self.nodes().enumerate().skip(k) {
            let mut skip = if i == k { j } else { 0 };
            let go_on = n.each(|e| {
                if skip > 0 {
                    skip -= 1;
                    return true;
                }
                f(e)
            });
            if !go_on {
                return;
            }
        }
    }

    /// Calls `f` on elements from the tail; stops when it returns false.
    pub fn each_rev(&self, mut f: impl FnMut(&[u8]) -> bool) {
        for n in self.nodes().rev() {
            if !n.each_rev(&mut f) {
                return;
            }
        }
    }

    /// Removes up to `limit` elements equal to `elem`, scanning from the
    /// tail if `from_tail`. Returns how many went.
    pub fn remove(&mut self, elem: &[u8], limit: usize, from_tail: bool, fill: i64) -> usize {
        // Mark the global indices to remove, then rebuild the nodes that hold them.
        let len = self.len();
        let mut hits = Vec::new();
        let mut i = 0;
        let mut visit = |e: &[u8]| {
            if e == elem {
                hits.push(if from_tail { len - 1 - i } else { i });
            }
            i += 1;
            hits.len() < limit
        };
        if from_tail {
            self.each_rev(&mut visit);
            hits.reverse();
        } else {
            self.each_from(0, &mut visit);
        }
        if hits.is_empty() {
            return 0;
        }
        let mut base = 0;
        let mut h = hits.iter().peekable();
        let mut rebuild = |n: &mut Node| {
            let end = base + n.count as usize;
            if h.peek().is_some_and(|&&x| x < end) {
                let mut out = Node::default();
                let mut idx = base;
                n.each(|e| {
                    if h.peek() == Some(&&idx) {
                        h.next();
                    } else {
                        encode_into(&mut out.buf, e);
                        out.count += 1;
                    }
                    idx += 1;
                    true
                });
                out.buf.shrink_to_fit();
                *n = out;
            }
            base = end;
        };
        match &mut self.repr {
            Repr::Pack(n) => rebuild(n),
            Repr::Quick(nodes, len) => {
                nodes.iter_mut().for_each(rebuild);
                nodes.retain(|n| n.count > 0);
                *len -= hits.len();
            }
        }
        self.maybe_pack(fill);
        hits.len()
    }

    /// Keeps elements `start..=stop` (already clamped, start <= stop < len).
    pub fn trim(&mut self, start: usize, stop: usize, fill: i64) {
        let tail = self.len() - 1 - stop;
        self.drop_end(End::Head, start);
        self.drop_end(End::Tail, tail);
        self.maybe_pack(fill);
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.repr = Repr::Pack(Node::default());
    }

    /// Drops `n` elements from one end, whole nodes first.
    fn drop_end(&mut self, end: End, mut n: usize) {
        if n == 0 {
            return;
        }
        match &mut self.repr {
            Repr::Pack(node) => node.drop_n(end, n),
            Repr::Quick(nodes, len) => {
                *len -= n;
                while n > 0 {
                    let node = match end {
                        End::Head => nodes.front_mut(),
                        End::Tail => nodes.back_mut(),
                    }
                    .expect("n <= len");
                    if node.count as usize <= n {
                        n -= node.count as usize;
                        match end {
                            End::Head => nodes.pop_front(),
                            End::Tail => nodes.pop_back(),
                        };
                    } else {
                        node.drop_n(end, n);
                        n = 0;
                    }
                }
            }
        }
    }

    /// Every element, head to tail (tests, COPY-like work).
    pub fn to_vec(&self) -> Vec<Bytes> {
        let mut v = Vec::with_capacity(self.len());
        self.each_from(0, |e| {
            v.push(Bytes::copy_from_slice(e));
            true
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(l: &List, m: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), m.len());
        let v: Vec<Vec<u8>> = l.to_vec().into_iter().map(|b| b.to_vec()).collect();
        assert_eq!(v, m.iter().cloned().collect::<Vec<_>>());
        let mut r = Vec::new();
        l.each_rev(|e| {
            r.push(e.to_vec());
            true
        });
        r.reverse();
        assert_eq!(r, v);
    }

    #[test]
    fn backlen_roundtrip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 21, 70000] {
            let data = vec![b'x'; n];
            let mut node = Node::default();
            node.push(End::Tail, b"a");
            node.push(End::Tail, &data);
            assert_eq!(node.len(), entry_size(1) + entry_size(n));
            assert_eq!(node.pop(End::Tail).len(), n);
            assert_eq!(&node.pop(End::Tail)[..], b"a");
        }
    }

    #[test]
    fn converts_to_quicklist_and_back() {
        let mut l = List::new();
        let mut m = VecDeque::new();
        for i in 0..2000 {
            let v = format!("element-{i}").into_bytes();
            if i % 2 == 0 {
                l.push(End::Tail, &v, -2);
                m.push_back(v);
            } else {
                l.push(End::Head, &v, -2);
                m.push_front(v);
            }
        }
        assert!(!l.is_packed());
        model_check(&l, &m);
        assert_eq!(l.get(1000).unwrap().to_vec(), m[1000]);
        while l.len() > 10 {
            assert_eq!(
                l.pop(End::Head, -2).unwrap().to_vec(),
                m.pop_front().unwrap()
            );
            assert_eq!(
                l.pop(End::Tail, -2).unwrap().to_vec(),
                m.pop_back().unwrap()
            );
        }
        assert!(l.is_packed());
        model_check(&l, &m);
    }

    #[test]
    fn random_ops_match_a_deque() {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        for fill in [-2, 3, -1] {
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..5000 {
                let v = format!("{}", rng.gen_range(0..20)).repeat(rng.gen_range(1..50));
                let v = v.into_bytes();
                match rng.gen_range(0..8) {
                    0 | 1 => {
                        l.push(End::Tail, &v, fill);
                        m.push_back(v);
                    }
                    2 => {
                        l.push(End::Head, &v, fill);
                        m.push_front(v);
                    }
                    3 => {
                        assert_eq!(l.pop(End::Head, fill).map(|b| b.to_vec()), m.pop_front());
                    }
                    4 if !m.is_empty() => {
                        let i = rng.gen_range(0..m.len());
                        assert!(l.set(i, &v, fill));
                        m[i] = v;
                    }
                    5 if !m.is_empty() => {
                        let i = rng.gen_range(0..m.len());
                        let pivot = m[i].clone();
                        let at = m.iter().position(|e| *e == pivot).unwrap();
                        let after = rng.gen_bool(0.5);
                        assert!(l.insert(&pivot, &v, after, fill));
                        m.insert(if after { at + 1 } else { at }, v);
                    }
                    6 if !m.is_empty() => {
                        let e = m[rng.gen_range(0..m.len())].clone();
                        let tail = rng.gen_bool(0.5);
                        let n = l.remove(&e, 2, tail, fill);
                        let mut gone = 0;
                        if tail {
                            let mut i = m.len();
                            while i > 0 && gone < 2 {
                                i -= 1;
                                if m[i] == e {
                                    m.remove(i);
                                    gone += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < m.len() && gone < 2 {
                                if m[i] == e {
                                    m.remove(i);
                                    gone += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        assert_eq!(n, gone);
                    }
                    7 if m.len() > 4 => {
                        let (a, b) = (1, m.len() - 2);
                        l.trim(a, b, fill);
                        m.pop_front();
                        m.pop_back();
                    }
                    _ => {}
                }
                if l.is_empty() {
                    l.clear();
                }
            }
            model_check(&l, &m);
        }
    }
}
