//! The RDB writer: appends to a buffer that the caller drains between keys
//! (to a file, or to a replica's socket), keeping the running CRC64, so a
//! snapshot can be produced in budgeted chunks.
//!
//! What it writes is what Redis 7.0 writes for the same data (version 10):
//! strings with the INT8/16/32 encodings for small integers and LZF for
//! longer ones when `rdbcompression` is on and it saves space; lists as
//! quicklist2 of listpack nodes; small hashes and zsets as one listpack;
//! integer sets as an intset; other sets, hashes and zsets as plain
//! entries; streams as their listpack nodes (type 19). Redis 7.0 has no
//! listpack sets, so ours are written as plain.

use crc::{Digest, Table};

use super::{enc, op, ty, CRC64, QUICKLIST_NODE_PACKED, RDB_VERSION};
use crate::config::{self, Opt};
use crate::persistence::lzf;
use crate::protocol::parse_i64;
use crate::protocol::reply::format_double;
use crate::storage::list::{node_limit, OVERHEAD};
use crate::storage::listpack::{intset, LpBuilder};
use crate::storage::set::Elem;
use crate::storage::value::{Hash, List, Set, Stream, ZSet};
use crate::storage::Value;

/// `rdbcompression` and `rdbchecksum`.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub compression: bool,
    pub checksum: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: true,
            checksum: true,
        }
    }
}

/// A replica's or master's replication position (written by Redis when it
/// has a replication backlog, so a restarted node can PSYNC).
#[derive(Debug, Clone)]
pub struct ReplInfo {
    pub stream_db: i64,
    pub id: String,
    pub offset: i64,
}

/// The aux fields Redis 7.0 writes after the header.
#[derive(Debug, Clone)]
pub struct Aux {
    pub redis_ver: String,
    /// Unix seconds when the snapshot started.
    pub ctime: i64,
    pub used_mem: u64,
    pub repl: Option<ReplInfo>,
    /// True when the snapshot is the base of an AOF (appendonly's preamble).
    pub aof_base: bool,
}

impl Default for Aux {
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Aux {
            redis_ver: "7.0.15".into(),
            ctime: now,
            used_mem: 0,
            repl: None,
            aof_base: false,
        }
    }
}

/// Eviction data Redis stores per key under an LRU or LFU maxmemory-policy
/// (none under the default noeviction).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyMeta {
    /// Seconds since last access (LRU policies).
    pub idle: Option<u64>,
    /// The LFU counter (LFU policies).
    pub freq: Option<u8>,
}

/// Produces one snapshot.
pub struct RdbWriter {
    buf: Vec<u8>,
    /// How much of `buf` is already in `crc`.
    hashed: usize,
    crc: Digest<'static, u64, Table<16>>,
    opts: WriteOptions,
    /// Bytes handed out by `take_chunk` so far.
    drained: u64,
    lzf: lzf::Compressor,
}

impl RdbWriter {
    /// A writer with the header already in its buffer.
    pub fn new(opts: WriteOptions) -> RdbWriter {
        let mut w = RdbWriter {
            buf: Vec::with_capacity(64 * 1024),
            hashed: 0,
            crc: CRC64.digest(),
            opts,
            drained: 0,
            lzf: lzf::Compressor::default(),
        };
        w.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w
    }

    /// Bytes waiting in the buffer.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Bytes produced so far, drained or not.
    pub fn offset(&self) -> u64 {
        self.drained + self.buf.len() as u64
    }

    /// Everything written since the last call.
    pub fn take_chunk(&mut self) -> Vec<u8> {
        self.hash_pending();
        self.hashed = 0;
        self.drained += self.buf.len() as u64;
        std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024))
    }

    fn hash_pending(&mut self) {
        if self.opts.checksum {
            self.crc.update(&self.buf[self.hashed..]);
        }
        self.hashed = self.buf.len();
    }

    /// One aux field (`key` = `value`).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.buf.push(op::AUX);
        self.string(key);
        self.string(value);
    }

    /// The aux fields Redis 7.0 writes, in its order.
    pub fn aux_fields(&mut self, a: &Aux) {
        let int = |n: i64| n.to_string().into_bytes();
        self.aux(b"redis-ver", a.redis_ver.as_bytes());
        self.aux(b"redis-bits", &int(usize::BITS as i64));
        self.aux(b"ctime", &int(a.ctime));
        self.aux(b"used-mem", a.used_mem.to_string().as_bytes());
        if let Some(r) = &a.repl {
            self.aux(b"repl-stream-db", &int(r.stream_db));
            self.aux(b"repl-id", r.id.as_bytes());
            self.aux(b"repl-offset", &int(r.offset));
        }
        self.aux(b"aof-base", &int(a.aof_base as i64));
    }

    /// One function library (its FUNCTION LOAD code).
    pub fn function(&mut self, code: &[u8]) {
        self.buf.push(op::FUNCTION2);
        self.string(code);
    }

    /// Starts database `db`: SELECTDB, then RESIZEDB with its key count and
    /// how many of them have a TTL (sizing hints for the loader).
    pub fn select_db(&mut self, db: u64, size: u64, expires: u64) {
        self.buf.push(op::SELECTDB);
        self.len(db);
        self.buf.push(op::RESIZEDB);
        self.len(size);
        self.len(expires);
    }

    /// SELECTDB alone: a database selected again later in the file (each
    /// core writes its own sections; Redis's loader accepts that).
    pub fn select(&mut self, db: u64) {
        self.buf.push(op::SELECTDB);
        self.len(db);
    }

    /// Bytes another writer produced (a core's chunk of entries), appended
    /// as they are so that this writer's CRC covers them.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// One key.
    pub fn entry(&mut self, key: &[u8], value: &Value, expire_ms: Option<i64>, meta: KeyMeta) {
        if let Some(t) = expire_ms {
            self.buf.push(op::EXPIRETIME_MS);
            self.buf.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(idle) = meta.idle {
            self.buf.push(op::IDLE);
            self.len(idle);
        }
        if let Some(freq) = meta.freq {
            self.buf.push(op::FREQ);
            self.buf.push(freq);
        }
        self.buf.push(value_type(value));
        self.string(key);
        self.value(value);
    }

    /// A value without its type byte (rdbSaveObject).
    fn value(&mut self, value: &Value) {
        match value {
            Value::Str(_) => self.string(value.str_bytes().unwrap_or_default()),
            Value::List(l) => self.list(l),
            Value::Hash(h) => self.hash(h),
            Value::Set(s) => self.set(s),
            Value::ZSet(z) => self.zset(z),
            Value::Stream(st) => self.stream(st),
        }
    }

    /// EOF and the checksum (0 with `rdbchecksum no`); the snapshot is
    /// complete once this and everything before is drained.
    pub fn finish(&mut self) {
        self.buf.push(op::EOF);
        self.hash_pending();
        let crc = if self.opts.checksum {
            self.crc.clone().finalize()
        } else {
            0
        };
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.hashed = self.buf.len();
    }

    /// rdbSaveLen: 6 bits, 14 bits, or a 32/64-bit big-endian length.
    fn len(&mut self, n: u64) {
        if n < 1 << 6 {
            self.buf.push(n as u8);
        } else if n < 1 << 14 {
            self.buf
                .extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        } else if n <= u32::MAX as u64 {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.buf.push(0x81);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// rdbSaveRawString: small integers as INT8/16/32, then LZF for
    /// strings over 20 bytes that it shrinks by at least 4, then plain.
    fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(n) = parse_i64(s) {
                let b = &mut self.buf;
                if let Ok(v) = i8::try_from(n) {
                    b.extend_from_slice(&[0xC0 | enc::INT8, v as u8]);
                    return;
                } else if let Ok(v) = i16::try_from(n) {
                    b.push(0xC0 | enc::INT16);
                    b.extend_from_slice(&v.to_le_bytes());
                    return;
                } else if let Ok(v) = i32::try_from(n) {
                    b.push(0xC0 | enc::INT32);
                    b.extend_from_slice(&v.to_le_bytes());
                    return;
                }
            }
        }
        if self.opts.compression && s.len() > 20 {
            if let Some(c) = self.lzf.compress(s, s.len() - 4) {
                self.buf.push(0xC0 | enc::LZF);
                self.len(c.len() as u64);
                self.len(s.len() as u64);
                self.buf.extend_from_slice(&c);
                return;
            }
        }
        self.len(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// Quicklist2: listpack nodes split by list-max-listpack-size, as
    /// Redis would have split them.
    fn list(&mut self, l: &List) {
        let (limit, cap) = node_limit(config::num(Opt::ListMaxListpackSize));
        let mut nodes = Vec::new();
        let mut node = LpBuilder::new();
        l.each_from(0, |e| {
            let fits = node.size() + LpBuilder::entry_size(e) + OVERHEAD <= limit;
            if node.count() > 0 && (!fits || node.count() >= cap) {
                nodes.push(std::mem::take(&mut node).finish());
            }
            node.push(e);
            true
        });
        if node.count() > 0 {
            nodes.push(node.finish());
        }
        self.len(nodes.len() as u64);
        for n in nodes {
            self.len(QUICKLIST_NODE_PACKED);
            self.string(&n);
        }
    }

    fn hash(&mut self, h: &Hash) {
        if h.encoding() == "listpack" {
            let mut lp = LpBuilder::new();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            self.string(&lp.finish());
        } else {
            self.len(h.len() as u64);
            for (f, v) in h.iter() {
                self.string(f);
                self.string(v);
            }
        }
    }

    fn set(&mut self, s: &Set) {
        if s.encoding() == "intset" {
            let ints: Vec<i64> = s
                .iter()
                .filter_map(|e| match e {
                    Elem::Int(n) => Some(n),
                    Elem::Str(_) => None,
                })
                .collect();
            self.string(&intset(&ints));
        } else {
            self.len(s.len() as u64);
            for e in s.iter() {
                e.with(|m| self.string(m));
            }
        }
    }

    /// Type 19 (rdbSaveObject): the node listpacks as they are, each
    /// after its 128-bit master ID, then length, last ID, first ID, max
    /// deleted ID, entries added, and the consumer groups: name, last ID,
    /// entries read, the PEL (raw IDs with delivery time and count), the
    /// consumers (name, seen time, the raw IDs they own).
    fn stream(&mut self, s: &Stream) {
        self.len(s.node_count() as u64);
        for (master, node) in s.nodes() {
            self.string(&master.to_be());
            self.string(node);
        }
        self.len(s.len());
        for id in [s.last_id, s.first_id, s.max_deleted] {
            self.len(id.ms);
            self.len(id.seq);
        }
        self.len(s.entries_added);
        self.len(s.groups.len() as u64);
        for (name, g) in &s.groups {
            self.string(name);
            self.len(g.last_id.ms);
            self.len(g.last_id.seq);
            self.len(g.entries_read as u64);
            self.len(g.pel.len() as u64);
            for (id, nack) in &g.pel {
                self.buf.extend_from_slice(&id.to_be());
                self.buf
                    .extend_from_slice(&nack.delivery_time.to_le_bytes());
                self.len(nack.delivery_count);
            }
            self.len(g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                self.string(cname);
                self.buf.extend_from_slice(&c.seen_time.to_le_bytes());
                self.len(c.pel.len() as u64);
                for id in &c.pel {
                    self.buf.extend_from_slice(&id.to_be());
                }
            }
        }
    }

    fn zset(&mut self, z: &ZSet) {
        if z.encoding() == "listpack" {
            let mut lp = LpBuilder::new();
            z.range(0, z.len(), false, |m, score| {
                lp.push(m);
                lp.push(format_double(score).as_bytes());
            });
            self.string(&lp.finish());
        } else {
            self.len(z.len() as u64);
            // Highest first, as Redis does: loading then inserts at the head.
            z.range(0, z.len(), true, |m, score| {
                self.string(m);
                self.buf.extend_from_slice(&score.to_le_bytes());
            });
        }
    }
}

/// The RDB type byte a value is written with (rdbSaveObjectType).
fn value_type(value: &Value) -> u8 {
    match value {
        Value::Str(_) => ty::STRING,
        Value::List(_) => ty::LIST_QUICKLIST_2,
        Value::Hash(h) if h.encoding() == "listpack" => ty::HASH_LISTPACK,
        Value::Hash(_) => ty::HASH,
        Value::Set(s) if s.encoding() == "intset" => ty::SET_INTSET,
        Value::Set(_) => ty::SET,
        Value::ZSet(z) if z.encoding() == "listpack" => ty::ZSET_LISTPACK,
        Value::ZSet(_) => ty::ZSET_2,
        Value::Stream(_) => ty::STREAM_LISTPACKS_2,
    }
}

/// One value as DUMP carries it: its type byte and its RDB encoding, as
/// `RdbWriter::entry` writes it after the key (createDumpPayload).
pub fn typed_value(value: &Value, opts: WriteOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(opts);
    w.buf.clear();
    w.buf.push(value_type(value));
    w.value(value);
    w.buf
}
