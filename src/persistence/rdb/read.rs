//! The RDB reader: streams items from any `Read` (a file, a master's
//! socket), checking the CRC64 at the end. Values are built through the
//! storage types' own constructors and inserts, so each takes the encoding
//! the configured thresholds give it, whatever the file used. Corrupt input
//! is an `RdbError` naming the offset; lengths from the file never size an
//! allocation beyond what has actually arrived.

use std::io::Read;

use bytes::Bytes;

use crc::{Digest, Table};

use super::legacy::{ziplist_each, zipmap_each};
use super::{
    enc, module_name, op, ty, Entry, ErrorKind, Item, RdbError, CRC64, MAX_READ_VERSION,
    QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN,
};
use crate::config::{self, Opt};
use crate::persistence::lzf;
use crate::storage::list::End;
use crate::storage::listpack::{intset_each, listpack_each};
use crate::storage::set::Elem;
use crate::storage::stream::{check_node, Consumer, Group, Nack, Stream, StreamId};
use crate::storage::value::{Hash, List, Set, ZSet};
use crate::storage::zset::Limits;
use crate::storage::Value;

/// Largest piece read at once, so a bogus length costs no more memory
/// than the bytes that really follow it.
const CHUNK: u64 = 1 << 20;

/// Read buffer size.
const BUF: usize = 64 * 1024;

/// The byte source: a read buffer that counts the offset and feeds the
/// checksum whole buffers at a time (per field would cost a quarter of the
/// load time, most fields being a few bytes).
struct Src<R> {
    r: R,
    buf: Box<[u8]>,
    /// Next unread byte, end of the valid bytes, end of the checksummed ones.
    pos: usize,
    end: usize,
    hashed: usize,
    offset: u64,
    crc: Digest<'static, u64, Table<16>>,
}

impl<R: Read> Src<R> {
    fn new(r: R) -> Src<R> {
        Src {
            r,
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            hashed: 0,
            offset: 0,
            crc: CRC64.digest(),
        }
    }

    /// Checksums what has been consumed so far.
    fn hash_consumed(&mut self) {
        self.crc.update(&self.buf[self.hashed..self.pos]);
        self.hashed = self.pos;
    }

    /// The CRC64 of everything consumed so far.
    fn crc(&mut self) -> u64 {
        self.hash_consumed();
        self.crc.clone().finalize()
    }

    /// Reads more; false at end of input.
    fn fill(&mut self) -> Result<bool, RdbError> {
        self.hash_consumed();
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        (self.pos, self.hashed) = (0, 0);
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RdbError::new(self.offset, ErrorKind::Io(e))),
            }
        }
    }

    fn exact(&mut self, out: &mut [u8]) -> Result<(), RdbError> {
        let start = self.offset;
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end && !self.fill()? {
                return Err(RdbError::new(start, ErrorKind::Truncated));
            }
            let k = (out.len() - done).min(self.end - self.pos);
            out[done..done + k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
            (done, self.pos) = (done + k, self.pos + k);
            self.offset += k as u64;
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.array::<1>()?[0])
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::with_capacity(n.min(CHUNK) as usize);
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK) as usize;
            let at = v.len();
            v.resize(at + k, 0);
            self.exact(&mut v[at..])?;
            left -= k as u64;
        }
        Ok(v)
    }

    /// rdbLoadLen: (length, or special encoding when the flag is set).
    fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let at = self.offset;
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => ((b & 0x3F) as u64, false),
            1 => ((((b & 0x3F) as u64) << 8) | self.byte()? as u64, false),
            3 => ((b & 0x3F) as u64, true),
            _ => match b {
                0x80 => (u32::from_be_bytes(self.array()?) as u64, false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => {
                    return Err(RdbError::bad(
                        at,
                        format!("unknown length encoding {b:#04x}"),
                    ))
                }
            },
        })
    }

    fn len(&mut self) -> Result<u64, RdbError> {
        let at = self.offset;
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            _ => Err(RdbError::bad(at, "string encoding where a length belongs")),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.offset;
        let (n, encoded) = self.len_or_enc()?;
        if !encoded {
            return self.bytes(n);
        }
        let int = |n: i64| itoa::Buffer::new().format(n).as_bytes().to_vec();
        match n as u8 {
            enc::INT8 => Ok(int(self.byte()? as i8 as i64)),
            enc::INT16 => Ok(int(i16::from_le_bytes(self.array()?) as i64)),
            enc::INT32 => Ok(int(i32::from_le_bytes(self.array()?) as i64)),
            enc::LZF => {
                let clen = self.len()?;
                let len = self.len()?;
                let data = self.bytes(clen)?;
                let len = usize::try_from(len).map_err(|_| RdbError::bad(at, "LZF length"))?;
                lzf::decompress(&data, len).map_err(|e| RdbError::bad(at, e))
            }
            e => Err(RdbError::bad(at, format!("unknown string encoding {e}"))),
        }
    }

    /// A double as old zsets store it: a length byte (253 nan, 254 inf,
    /// 255 -inf) and that many ASCII characters.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let at = self.offset;
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.bytes(n as u64)?;
                parse_double(&s).ok_or_else(|| RdbError::bad(at, "bad double value"))
            }
        }
    }
}

fn parse_double(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads one snapshot, item by item.
pub struct RdbReader<R: Read> {
    src: Src<R>,
    version: u32,
    db: u64,
    done: bool,
}

impl<R: Read> RdbReader<R> {
    /// Reads and checks the header.
    pub fn new(r: R) -> Result<RdbReader<R>, RdbError> {
        let mut src = Src::new(r);
        let head: [u8; 9] = src.array()?;
        if &head[..5] != b"REDIS" {
            return Err(RdbError::new(0, ErrorKind::BadMagic));
        }
        let version = std::str::from_utf8(&head[5..])
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or(RdbError::new(5, ErrorKind::BadMagic))?;
        if !(1..=MAX_READ_VERSION).contains(&version) {
            return Err(RdbError::new(5, ErrorKind::UnsupportedVersion(version)));
        }
        Ok(RdbReader {
            src,
            version,
            db: 0,
            done: false,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// The source and any bytes read ahead of the snapshot's end (a
    /// replica's command stream follows the snapshot on the same socket).
    pub fn into_inner(self) -> (R, Vec<u8>) {
        let ahead = self.src.buf[self.src.pos..self.src.end].to_vec();
        (self.src.r, ahead)
    }

    /// The next item and the offset where it starts; None after EOF.
    pub fn next_item(&mut self) -> Result<Option<(u64, Item)>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let mut start = self.src.offset;
        let (mut expire_ms, mut idle, mut freq) = (None, None, None);
        loop {
            let at = self.src.offset;
            let item = match self.src.byte()? {
                op::EXPIRETIME_MS => {
                    expire_ms = Some(i64::from_le_bytes(self.src.array()?));
                    continue;
                }
                op::EXPIRETIME => {
                    expire_ms = Some(i32::from_le_bytes(self.src.array()?) as i64 * 1000);
                    continue;
                }
                op::IDLE => {
                    idle = Some(self.src.len()?);
                    continue;
                }
                op::FREQ => {
                    freq = Some(self.src.byte()?);
                    continue;
                }
                op::SELECTDB => {
                    self.db = self.src.len()?;
                    Item::SelectDb(self.db)
                }
                op::RESIZEDB => Item::ResizeDb {
                    size: self.src.len()?,
                    expires: self.src.len()?,
                },
                op::AUX => Item::Aux {
                    key: self.src.string()?,
                    value: self.src.string()?,
                },
                op::MODULE_AUX => Item::ModuleAux {
                    module: self.skip_module_aux(at)?,
                },
                op::FUNCTION2 => Item::Function(self.src.string()?),
                op::FUNCTION_PRE_GA => {
                    let what = "pre-GA function format (opcode 246)".to_string();
                    return Err(RdbError::new(at, ErrorKind::Unsupported(what)));
                }
                op::EOF => self.eof()?,
                t => {
                    let key = self.src.string()?;
                    match self.value(t, at)? {
                        Some(value) => Item::Entry(Entry {
                            db: self.db,
                            key,
                            value,
                            expire_ms,
                            idle,
                            freq,
                        }),
                        // Redis skips empty collections on load too.
                        None => {
                            (expire_ms, idle, freq) = (None, None, None);
                            start = self.src.offset;
                            continue;
                        }
                    }
                }
            };
            return Ok(Some((start, item)));
        }
    }

    /// Checks the trailing CRC64 (version 5 on; 0 means not computed).
    fn eof(&mut self) -> Result<Item, RdbError> {
        self.done = true;
        if self.version < 5 {
            return Ok(Item::Eof { checksum: None });
        }
        let computed = self.src.crc();
        let at = self.src.offset;
        let stored = u64::from_le_bytes(self.src.array()?);
        if stored != 0 && stored != computed {
            return Err(RdbError::new(
                at,
                ErrorKind::BadChecksum { stored, computed },
            ));
        }
        Ok(Item::Eof {
            checksum: Some(stored),
        })
    }

    /// Skips module aux data written in the self-describing module format
    /// (what redis-check-rdb can skip too); returns the module's name.
    fn skip_module_aux(&mut self, at: u64) -> Result<String, RdbError> {
        let id = self.src.len()?;
        if self.src.len()? != 2 {
            return Err(RdbError::bad(at, "bad module aux when_opcode"));
        }
        self.src.len()?;
        let name = module_name(id);
        loop {
            let code_at = self.src.offset;
            match self.src.len()? {
                0 => return Ok(name),
                1 | 2 => drop(self.src.len()?),
                3 => drop(self.src.array::<4>()?),
                4 => drop(self.src.array::<8>()?),
                5 => drop(self.src.string()?),
                n => {
                    let what = format!("unknown module data opcode {n} in module {name}");
                    return Err(RdbError::bad(code_at, what));
                }
            }
        }
    }

    /// A value of RDB type `t`; None for an empty collection.
    fn value(&mut self, t: u8, at: u64) -> Result<Option<Value>, RdbError> {
        let bad = |what: String| RdbError::bad(at, format!("{what} in a value of type {t}"));
        let v = match t {
            ty::STRING => Some(Value::string(&self.src.string()?)),
            ty::LIST => {
                let mut l = ListB::new();
                for _ in 0..self.src.len()? {
                    l.push(&self.src.string()?);
                }
                l.done()
            }
            ty::SET => {
                let n = self.src.len()?;
                let mut s = SetB::new(n);
                for _ in 0..n {
                    s.add(&self.src.string()?).map_err(bad)?;
                }
                s.done()
            }
            ty::ZSET | ty::ZSET_2 => {
                let mut z = ZSetB::default();
                for _ in 0..self.src.len()? {
                    let m = self.src.string()?;
                    let score = if t == ty::ZSET {
                        self.src.text_double()?
                    } else {
                        f64::from_le_bytes(self.src.array()?)
                    };
                    z.add(&m, score).map_err(bad)?;
                }
                z.done().map_err(bad)?
            }
            ty::HASH => {
                let n = self.src.len()?;
                let mut h = HashB::new(n);
                for _ in 0..n {
                    let f = self.src.string()?;
                    h.add(&f, &self.src.string()?).map_err(bad)?;
                }
                h.done()
            }
            ty::HASH_ZIPMAP => {
                let blob = self.src.string()?;
                let mut h = HashB::new(0);
                zipmap_each(&blob, |f, v| h.add(f, v)).map_err(bad)?;
                h.done()
            }
            ty::LIST_ZIPLIST => {
                let blob = self.src.string()?;
                let mut l = ListB::new();
                ziplist_each(&blob, |e| l.push_elem(e)).map_err(bad)?;
                l.done()
            }
            ty::SET_INTSET => {
                let blob = self.src.string()?;
                // The member count from the intset header (checked below).
                let n = blob
                    .get(4..8)
                    .map_or(0, |c| u32::from_le_bytes(c.try_into().unwrap()));
                let mut s = SetB::new(n as u64);
                intset_each(&blob, |n| Elem::Int(n).with(|m| s.add(m))).map_err(bad)?;
                s.done()
            }
            ty::SET_LISTPACK => {
                let blob = self.src.string()?;
                let mut s = SetB::new(0);
                listpack_each(&blob, |e| e.with(|m| s.add(m))).map_err(bad)?;
                s.done()
            }
            ty::ZSET_ZIPLIST | ty::ZSET_LISTPACK => {
                let blob = self.src.string()?;
                let mut z = ZSetB::default();
                let add = |m: &[u8], s: Elem| z.add(m, elem_double(s)?);
                if t == ty::ZSET_ZIPLIST {
                    pairs(|g| ziplist_each(&blob, g), add)
                } else {
                    pairs(|g| listpack_each(&blob, g).map(drop), add)
                }
                .map_err(bad)?;
                z.done().map_err(bad)?
            }
            ty::HASH_ZIPLIST | ty::HASH_LISTPACK => {
                let blob = self.src.string()?;
                let mut h = HashB::new(0);
                let add = |f: &[u8], v: Elem| v.with(|v| h.add(f, v));
                if t == ty::HASH_ZIPLIST {
                    pairs(|g| ziplist_each(&blob, g), add)
                } else {
                    pairs(|g| listpack_each(&blob, g).map(drop), add)
                }
                .map_err(bad)?;
                h.done()
            }
            ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
                let mut l = ListB::new();
                for _ in 0..self.src.len()? {
                    let container = if t == ty::LIST_QUICKLIST_2 {
                        self.src.len()?
                    } else {
                        QUICKLIST_NODE_PACKED
                    };
                    let blob = self.src.string()?;
                    let mut push = |e: Elem| l.push_elem(e);
                    match container {
                        QUICKLIST_NODE_PLAIN => l.push(&blob),
                        QUICKLIST_NODE_PACKED if t == ty::LIST_QUICKLIST => {
                            ziplist_each(&blob, push).map_err(bad)?
                        }
                        QUICKLIST_NODE_PACKED => {
                            listpack_each(&blob, &mut push).map_err(bad)?;
                        }
                        c => return Err(bad(format!("quicklist node container {c}"))),
                    }
                }
                l.done()
            }
            ty::STREAM_LISTPACKS | ty::STREAM_LISTPACKS_2 | ty::STREAM_LISTPACKS_3 => {
                // Streams are kept even when empty.
                Some(Value::Stream(Box::new(self.stream(t, at)?)))
            }
            ty::MODULE_PRE_GA | ty::MODULE_2 => {
                let what = format!("module value type {t}");
                return Err(RdbError::new(at, ErrorKind::Unsupported(what)));
            }
            _ => return Err(RdbError::bad(at, format!("unknown value type {t}"))),
        };
        Ok(v)
    }
}

impl<R: Read> RdbReader<R> {
    /// A stream (rdbLoadObject): its node listpacks, each checked, then
    /// its metadata (first ID, max deleted ID and entries added from type
    /// 19 on; derived before), then its consumer groups.
    fn stream(&mut self, t: u8, at: u64) -> Result<Stream, RdbError> {
        let bad = |what: String| RdbError::bad(at, format!("{what} in a stream"));
        let mut s = Stream::new();
        for _ in 0..self.src.len()? {
            let key = self.src.string()?;
            let master = StreamId::from_be(&key)
                .ok_or_else(|| bad("node key entry not the size of a stream ID".into()))?;
            let node = self.src.string()?;
            check_node(master, &node).map_err(bad)?;
            if !s.load_node(master, node) {
                return Err(bad("listpack re-added with existing key".into()));
            }
        }
        s.length = self.src.len()?;
        if s.length != s.counted_len() {
            return Err(bad("length inconsistent with its nodes".into()));
        }
        s.last_id = self.stream_id()?;
        if t >= ty::STREAM_LISTPACKS_2 {
            s.first_id = self.stream_id()?;
            s.max_deleted = self.stream_id()?;
            s.entries_added = self.src.len()?;
        } else {
            s.entries_added = s.length;
            s.first_id = s.edge(false).map_or(StreamId::MIN, |e| e.0);
        }
        for _ in 0..self.src.len()? {
            let name = self.src.string()?;
            let last_id = self.stream_id()?;
            let entries_read = if t >= ty::STREAM_LISTPACKS_2 {
                self.src.len()? as i64
            } else {
                s.entries_before(last_id)
            };
            let mut g = Group::new(last_id, entries_read);
            // The group's PEL: IDs with delivery time and count.
            for _ in 0..self.src.len()? {
                let id = self.pel_id()?;
                let delivery_time = i64::from_le_bytes(self.src.array()?);
                let delivery_count = self.src.len()?;
                let nack = Nack {
                    delivery_time,
                    delivery_count,
                    consumer: Bytes::new(),
                };
                if g.pel.insert(id, nack).is_some() {
                    return Err(bad("duplicated group PEL entry".into()));
                }
            }
            // The consumers, each with the IDs it owns.
            for _ in 0..self.src.len()? {
                let cname = Bytes::from(self.src.string()?);
                let seen_time = i64::from_le_bytes(self.src.array()?);
                if t >= ty::STREAM_LISTPACKS_3 {
                    self.src.array::<8>()?; // active time (Redis 7.2)
                }
                let mut c = Consumer {
                    seen_time,
                    pel: Default::default(),
                };
                for _ in 0..self.src.len()? {
                    let id = self.pel_id()?;
                    let nack = g.pel.get_mut(&id).filter(|n| n.consumer.is_empty());
                    let Some(nack) = nack else {
                        return Err(bad("consumer PEL entry not in the group PEL".into()));
                    };
                    nack.consumer = cname.clone();
                    c.pel.insert(id);
                }
                if g.consumers.insert(cname, c).is_some() {
                    return Err(bad("duplicated consumer".into()));
                }
            }
            if g.pel.values().any(|n| n.consumer.is_empty()) {
                return Err(bad("group PEL entry without a consumer".into()));
            }
            if s.groups.insert(Bytes::from(name), g).is_some() {
                return Err(bad("duplicated consumer group name".into()));
            }
        }
        Ok(s)
    }

    /// A PEL key: a raw 128-bit big-endian stream ID.
    fn pel_id(&mut self) -> Result<StreamId, RdbError> {
        let b: [u8; 16] = self.src.array()?;
        Ok(StreamId::from_be(&b).expect("16 bytes"))
    }

    fn stream_id(&mut self) -> Result<StreamId, RdbError> {
        Ok(StreamId::new(self.src.len()?, self.src.len()?))
    }
}

/// A value as DUMP carries it: its type byte, then its RDB encoding
/// (rdbLoadObjectType and rdbLoadObject). None for an empty collection,
/// which Redis refuses to load as well. Types newer than `version` are
/// refused, as the Redis that writes `version` knows no others.
pub fn typed_value(bytes: &[u8], version: u32) -> Result<Option<Value>, RdbError> {
    let mut r = RdbReader {
        src: Src::new(bytes),
        version,
        db: 0,
        done: false,
    };
    let t = r.src.byte()?;
    let newest = if version >= 11 {
        ty::STREAM_LISTPACKS_3
    } else {
        ty::STREAM_LISTPACKS_2
    };
    if t > newest {
        return Err(RdbError::bad(0, format!("unknown value type {t}")));
    }
    r.value(t, 0)
}

impl<R: Read> Iterator for RdbReader<R> {
    type Item = Result<(u64, Item), RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(x) => x.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

type Walk<'a> = &'a mut dyn FnMut(Elem) -> Result<(), String>;

/// Feeds the elements `walk` produces to `f` two by two (field and value,
/// member and score).
fn pairs(
    walk: impl FnOnce(Walk) -> Result<(), String>,
    mut f: impl FnMut(&[u8], Elem) -> Result<(), String>,
) -> Result<(), String> {
    let mut first: Option<bytes::Bytes> = None;
    walk(&mut |e| match first.take() {
        None => {
            first = Some(e.to_bytes());
            Ok(())
        }
        Some(a) => f(&a, e),
    })?;
    match first {
        Some(_) => Err("odd number of elements".into()),
        None => Ok(()),
    }
}

fn elem_double(e: Elem) -> Result<f64, String> {
    match e {
        Elem::Int(n) => Ok(n as f64),
        Elem::Str(s) => parse_double(s).ok_or_else(|| "bad score".to_string()),
    }
}

struct ListB {
    list: List,
    fill: i64,
}

impl ListB {
    fn new() -> ListB {
        ListB {
            list: List::new(),
            fill: config::num(Opt::ListMaxListpackSize),
        }
    }

    fn push(&mut self, e: &[u8]) {
        self.list.push(End::Tail, e, self.fill);
    }

    /// `push` for the blob walkers.
    fn push_elem(&mut self, e: Elem) -> Result<(), String> {
        e.with(|b| self.push(b));
        Ok(())
    }

    fn done(self) -> Option<Value> {
        (!self.list.is_empty()).then(|| Value::List(Box::new(self.list)))
    }
}

/// A set built as SADD would, shaped by the member count the file gives.
struct SetB {
    set: Option<Set>,
    hint: usize,
}

impl SetB {
    fn new(hint: u64) -> SetB {
        SetB {
            set: None,
            hint: hint.min(1 << 16) as usize,
        }
    }

    fn add(&mut self, m: &[u8]) -> Result<(), String> {
        let hint = self.hint;
        if self.set.get_or_insert_with(|| Set::new(m, hint)).insert(m) {
            Ok(())
        } else {
            Err("duplicate set member".into())
        }
    }

    fn done(self) -> Option<Value> {
        self.set.map(Value::Set)
    }
}

struct HashB {
    hash: Hash,
}

impl HashB {
    /// Shaped for the `n` fields the file announces (0: unknown).
    fn new(n: u64) -> HashB {
        HashB {
            hash: Hash::with_hint(n.min(1 << 16) as usize),
        }
    }

    fn add(&mut self, f: &[u8], v: &[u8]) -> Result<(), String> {
        if self.hash.set(f, v) {
            Ok(())
        } else {
            Err("duplicate hash field".into())
        }
    }

    fn done(self) -> Option<Value> {
        (!self.hash.is_empty()).then(|| Value::Hash(Box::new(self.hash)))
    }
}

/// Elements are gathered first: the encoding depends on the longest member
/// (zsetTypeCreate), as when Redis converts a loaded zset.
#[derive(Default)]
struct ZSetB {
    items: Vec<(Vec<u8>, f64)>,
}

impl ZSetB {
    fn add(&mut self, m: &[u8], score: f64) -> Result<(), String> {
        if score.is_nan() {
            return Err("zset score is NaN".into());
        }
        self.items.push((m.to_vec(), score));
        Ok(())
    }

    fn done(self) -> Result<Option<Value>, String> {
        if self.items.is_empty() {
            return Ok(None);
        }
        let lim = Limits {
            entries: config::num(Opt::ZsetMaxListpackEntries).max(0) as usize,
            value: config::num(Opt::ZsetMaxListpackValue).max(0) as usize,
        };
        let longest = self.items.iter().map(|i| i.0.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(self.items.len(), longest, lim);
        for (m, score) in &self.items {
            if z.insert(m, *score, lim).is_some() {
                return Err("duplicate zset member".into());
            }
        }
        Ok(Some(Value::ZSet(z)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, b: &[u8]) {
        assert!(b.len() < 64);
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }

    /// A ziplist of short strings (what Redis 2.6 to 6.2 wrote).
    fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut prev = 0;
        for it in items {
            let start = entries.len();
            entries.extend_from_slice(&[prev as u8, it.len() as u8]);
            entries.extend_from_slice(it);
            prev = entries.len() - start;
        }
        let mut z = ((11 + entries.len()) as u32).to_le_bytes().to_vec();
        z.extend_from_slice(&[0; 4]);
        z.extend_from_slice(&(items.len() as u16).to_le_bytes());
        z.extend_from_slice(&entries);
        z.push(0xFF);
        z
    }

    fn read(file: &[u8]) -> Result<Vec<(u64, Item)>, RdbError> {
        RdbReader::new(file)?.collect()
    }

    fn items(v: &Value) -> Vec<String> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match v {
            Value::Str(_) => vec![s(v.str_bytes().unwrap())],
            Value::List(l) => l.to_vec().iter().map(|b| s(b)).collect(),
            Value::Hash(h) => h.iter().flat_map(|(f, v)| [s(f), s(v)]).collect(),
            Value::Set(x) => x.iter().map(|e| s(&e.to_bytes())).collect(),
            Value::ZSet(z) => z
                .to_vec()
                .iter()
                .flat_map(|(m, sc)| [s(m), sc.to_string()])
                .collect(),
            Value::Stream(st) => {
                let mut v = Vec::new();
                st.range(StreamId::MIN, StreamId::MAX, false, |id, f| {
                    v.push(id.to_string());
                    v.extend(f.iter().flat_map(|(a, b)| [s(a), s(b)]));
                    true
                });
                v
            }
        }
    }

    #[test]
    fn old_formats() {
        let mut f = b"REDIS0004".to_vec();
        f.extend_from_slice(&[op::SELECTDB, 2]);
        // Seconds expiry, plain list.
        f.push(op::EXPIRETIME);
        f.extend_from_slice(&2_000_000_000i32.to_le_bytes());
        f.push(ty::LIST);
        s(&mut f, b"l");
        f.push(2);
        s(&mut f, b"a");
        f.extend_from_slice(&[0xC0, 0xFB]); // INT8 -5
                                            // Old zset with text doubles.
        f.push(ty::ZSET);
        s(&mut f, b"z");
        f.push(2);
        s(&mut f, b"m");
        s(&mut f, b"1.5");
        s(&mut f, b"n");
        f.push(254);
        // Zipmap hash.
        f.push(ty::HASH_ZIPMAP);
        s(&mut f, b"hz");
        let zm = [1, 1, b'f', 2, 0, b'v', b'1', 0xFF];
        s(&mut f, &zm);
        // Ziplist list, zset, hash; quicklist of ziplists.
        for (t, k, items) in [
            (ty::LIST_ZIPLIST, &b"lz"[..], &[&b"x"[..], b"y"][..]),
            (ty::ZSET_ZIPLIST, b"zz", &[b"a", b"2", b"b", b"-1.25"]),
            (ty::HASH_ZIPLIST, b"hh", &[b"k", b"v"]),
        ] {
            f.push(t);
            s(&mut f, k);
            s(&mut f, &ziplist(items));
        }
        f.push(ty::LIST_QUICKLIST);
        s(&mut f, b"q");
        f.push(2);
        s(&mut f, &ziplist(&[b"1", b"2"]));
        s(&mut f, &ziplist(&[b"3"]));
        // An empty set is skipped.
        f.push(ty::SET);
        s(&mut f, b"empty");
        f.push(0);
        f.push(op::EOF);

        let got = read(&f).unwrap();
        let keys: Vec<(String, Vec<String>)> = got
            .iter()
            .filter_map(|(_, i)| match i {
                Item::Entry(e) => {
                    assert_eq!(e.db, 2);
                    Some((
                        String::from_utf8_lossy(&e.key).into_owned(),
                        items(&e.value),
                    ))
                }
                _ => None,
            })
            .collect();
        let want: Vec<(&str, Vec<&str>)> = vec![
            ("l", vec!["a", "-5"]),
            ("z", vec!["m", "1.5", "n", "inf"]),
            ("hz", vec!["f", "v1"]),
            ("lz", vec!["x", "y"]),
            ("zz", vec!["b", "-1.25", "a", "2"]),
            ("hh", vec!["k", "v"]),
            ("q", vec!["1", "2", "3"]),
        ];
        let want: Vec<(String, Vec<String>)> = want
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect();
        assert_eq!(keys, want);
        let Item::Entry(first) = &got[1].1 else {
            panic!("{:?}", got[1])
        };
        assert_eq!(first.expire_ms, Some(2_000_000_000_000));
        assert!(matches!(
            got.last(),
            Some((_, Item::Eof { checksum: None }))
        ));
    }

    #[test]
    fn redis_7_2_set_listpack_and_plain_nodes() {
        let mut f = b"REDIS0011".to_vec();
        let mut lp = crate::storage::listpack::LpBuilder::new();
        for m in [&b"a"[..], b"7", b"bb"] {
            lp.push(m);
        }
        f.push(ty::SET_LISTPACK);
        s(&mut f, b"s");
        s(&mut f, &lp.finish());
        // A quicklist2 with a plain node (one big element) between packed ones.
        let mut lp = crate::storage::listpack::LpBuilder::new();
        lp.push(b"x");
        let lp = lp.finish();
        f.push(ty::LIST_QUICKLIST_2);
        s(&mut f, b"l");
        f.push(3);
        f.push(QUICKLIST_NODE_PACKED as u8);
        s(&mut f, &lp);
        f.push(QUICKLIST_NODE_PLAIN as u8);
        s(&mut f, b"plain");
        f.push(QUICKLIST_NODE_PACKED as u8);
        s(&mut f, &lp);
        f.push(op::EOF);
        f.extend_from_slice(&0u64.to_le_bytes());
        let got = read(&f).unwrap();
        let Item::Entry(set) = &got[0].1 else {
            panic!()
        };
        assert_eq!(items(&set.value), ["a", "7", "bb"]);
        let Item::Entry(list) = &got[1].1 else {
            panic!()
        };
        assert_eq!(items(&list.value), ["x", "plain", "x"]);
    }

    #[test]
    fn module_aux_and_functions() {
        let mut f = b"REDIS0010".to_vec();
        // Module aux: id, when_opcode 2 (uint), when, then typed values.
        f.extend_from_slice(&[op::MODULE_AUX, 0x81, 0, 0, 0, 0, 0, 0, 4, 1, 2, 2]);
        f.extend_from_slice(&[2, 7, 5, 2, b'h', b'i', 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.push(op::FUNCTION2);
        s(&mut f, b"#!lua name=lib");
        f.push(op::EOF);
        f.extend_from_slice(&0u64.to_le_bytes());
        let got = read(&f).unwrap();
        assert!(matches!(&got[0].1, Item::ModuleAux { module } if module.len() == 9));
        assert!(matches!(&got[1].1, Item::Function(code) if code == b"#!lua name=lib"));
        assert_eq!(got[1].0, 37);
        f[19] = 3; // a when_opcode that is not "uint"
        assert!(read(&f).unwrap_err().to_string().contains("when_opcode"));
    }
}
