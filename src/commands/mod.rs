//! The command table and the types every command family shares.
//!
//! Each family file (`strings.rs`, `keys.rs`, ...) ends with a `register`
//! function: one row per command with its name, arity, flags, key
//! positions and handler. COMMAND, dispatch and cross-core routing all read
//! this one table.
//!
//! Handlers come in three shapes:
//! - [`Handler::Key`]: `op` code that runs synchronously on the core that
//!   owns the command's keys (the dispatcher moves it there).
//! - [`Handler::Conn`]: connection-level commands that read or change the
//!   client (SELECT, HELLO, CLIENT ...), run on the client's own core.
//! - [`Handler::Coord`]: async commands that coordinate several cores (a
//!   whole-keyspace command, or keys on different cores); they use
//!   `runtime` to hop.

pub mod bitmaps;
pub mod blocking;
pub mod client;
pub mod client_evict;
pub mod digest;
pub mod dump;
pub mod evict;
pub mod geo;
pub mod geohash;
pub mod hashes;
pub mod histogram;
pub mod hyperloglog;
pub mod keys;
pub mod keyspecs;
pub mod latency;
pub mod lists;
pub mod lolwut;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod multi;
pub mod pause;
pub mod propagate;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stats;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod zsets;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::config::events;
use crate::protocol::Reply;
use crate::storage::{Db, Entry, Shard, Value};

pub use client::ClientState;

/// What a key command runs with on the owning core.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    /// The command's clock, unix ms, read once per command as Redis does.
    pub now: i64,
    /// CLIENT NO-TOUCH: reads do not update the LRU clock.
    pub no_touch: bool,
}

impl<'a> Ctx<'a> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// Looks up a key for reading: expires it lazily, counts hits and
    /// misses (a miss is a "keymiss" event), and touches its LRU clock.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.read_lookup(key, true)
    }

    /// [`Ctx::lookup_read`] without the "keymiss" event (Redis's
    /// LOOKUP_NONOTIFY, used by OBJECT).
    pub fn lookup_read_nonotify(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.read_lookup(key, false)
    }

    fn read_lookup(&mut self, key: &[u8], miss_event: bool) -> Option<&mut Entry> {
        let now = self.now;
        let touch = !self.no_touch;
        let db = self.db;
        let shard = &mut *self.shard;
        let (e, expired) = shard.dbs[db].lookup(key, now);
        if expired {
            shard.stats.expired_keys += 1;
            shard.dirty += 1;
            key_expired(db, key);
        }
        match e {
            Some(e) => {
                shard.stats.keyspace_hits += 1;
                if touch {
                    e.lru = crate::storage::evict::touched(e.lru);
                }
                Some(e)
            }
            None => {
                shard.stats.keyspace_misses += 1;
                if miss_event {
                    pubsub::notify(events::KEY_MISS, "keymiss", key, db);
                }
                None
            }
        }
    }

    /// Looks up a key for writing: expires it lazily, no hit/miss counting;
    /// a write is an access for LRU/LFU, as in Redis.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now;
        let db = self.db;
        let touch = !self.no_touch;
        let shard = &mut *self.shard;
        let (e, expired) = if crate::storage::db::keeps_expired() {
            (shard.dbs[db].lookup_kept(key), false)
        } else {
            shard.dbs[db].lookup(key, now)
        };
        if expired {
            shard.stats.expired_keys += 1;
            shard.dirty += 1;
            key_expired(db, key);
        }
        let e = e?;
        if touch {
            e.lru = crate::storage::evict::touched(e.lru);
        }
        Some(e)
    }

    /// Stores `value` at `key` (Redis's dbAdd or dbOverwrite): a key that
    /// did not exist is announced with a "new" event. Callers look the key
    /// up for writing first, so an expired one is gone by now.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: i64, lru: u32) -> Option<Entry> {
        let old = self.db().insert(key, value, expire_at, lru);
        if old.is_none() {
            self.notify(events::NEW, "new", key);
        } else {
            // A stream replaced under a blocked XREADGROUP ends its wait.
            blocking::signal(self, key);
        }
        old
    }

    /// Deletes `key` with a "del" event (a command's removal, or a
    /// collection left empty). Returns whether it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let found = self.db().remove(key).is_some();
        if found {
            self.notify(events::GENERIC, "del", key);
            // A blocked XREADGROUP on a deleted stream ends its wait.
            blocking::signal(self, key);
        }
        found
    }

    /// Records `n` changes to the dataset (INFO, and later propagation).
    pub fn dirty(&mut self, n: u64) {
        self.shard.dirty += n;
    }

    /// Emits a keyspace notification of `class` (`config::events`) for
    /// `key` in this command's database, if enabled.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        pubsub::notify(class, event, key, self.db);
    }
}

/// Runs `f` with a context for database `db` on this core's shard; for
/// jobs that coordinating commands send to other cores.
pub fn with_ctx<R>(db: usize, f: impl FnOnce(&mut Ctx) -> R) -> R {
    crate::storage::shard::with(|shard| {
        let mut ctx = Ctx {
            shard,
            db,
            now: crate::storage::now_ms(),
            no_touch: false,
        };
        f(&mut ctx)
    })
}

/// The keys a write command changes: all its keys, except that the
/// `*STORE` commands, COPY, BITOP and PFMERGE change only their
/// destination (the first).
pub fn written_keys(spec: &Spec, argc: usize) -> impl Iterator<Item = usize> {
    let n = if spec.flags & flags::WRITE == 0 {
        0
    } else if spec.name.ends_with("store") || matches!(spec.name, "copy" | "bitop" | "pfmerge") {
        1
    } else {
        usize::MAX
    };
    spec.key_indices(argc).take(n)
}

/// Whether this call of a write command can change the dataset: SORT,
/// GEORADIUS and GEORADIUSBYMEMBER do only with STORE (Redis propagates a
/// command only when it changed data). MIGRATE journals the DEL of what it
/// moved itself.
pub fn may_write(spec: &Spec, args: &[Bytes]) -> bool {
    spec.flags & flags::WRITE != 0
        && spec.name != "migrate"
        && (spec.name != "sort" || args.iter().skip(2).any(|a| is(a, "store")))
        && geo::radius_stores(spec.name, args)
}

/// The server deleted an expired key (lazily or by the active walk): the
/// "expired" event, tracking and WATCH, and a DEL in the journal (as
/// Redis propagates expiry).
pub fn key_expired(db: usize, key: &[u8]) {
    pubsub::notify(events::EXPIRED, "expired", key, db);
    tracking::key_changed(key, 0);
    multi::key_expired(db, key);
    // A blocked XREADGROUP on an expired stream ends its wait.
    blocking::signal_db(db, key);
    crate::storage::journal::record(db, &[b"DEL".as_slice(), key]);
}

/// A key changed (by client `by`; 0 when the server expired it): tells
/// tracking clients and fails the EXEC of clients watching it. Cheap when
/// nobody tracks or watches.
#[inline]
pub fn key_changed(db: usize, key: &[u8], by: u64) {
    tracking::key_changed(key, by);
    multi::key_changed(db, key);
}

/// Runs `run`, a write that coordinates several cores, inside a transaction
/// over `cores` and journals it as `form` while they are held, so its entry
/// sits between the writes to those keys before and after it. Without a
/// journal reader it just runs.
pub async fn journaled(
    db: usize,
    cores: impl IntoIterator<Item = usize>,
    form: Vec<Bytes>,
    run: impl Future<Output = Reply>,
) -> Reply {
    if !crate::storage::journal::enabled() {
        return run.await;
    }
    let txn = crate::runtime::Txn::begin(cores).await;
    let reply = crate::runtime::gate::within(txn.id(), run).await;
    if !reply.is_error() {
        txn.record(db, &form);
    }
    txn.end().await;
    reply
}

/// Shared, per-connection state handed to coordinating commands.
pub type ClientRef = Rc<RefCell<ClientState>>;

pub type KeyFn = fn(&mut Ctx, &[Bytes]) -> Reply;
pub type ConnFn = fn(&mut ClientState, &[Bytes]) -> Reply;
pub type CoordFn = fn(ClientRef, Vec<Bytes>) -> Pin<Box<dyn Future<Output = Reply>>>;

#[derive(Clone, Copy)]
pub enum Handler {
    Key(KeyFn),
    Conn(ConnFn),
    Coord(CoordFn),
    /// Run by the dispatcher itself: MULTI, EXEC, DISCARD change how it
    /// runs the commands around them (server/transaction.rs); scripts run
    /// commands themselves and may hold several cores (server/script.rs).
    Dispatch,
}

/// How a key command whose keys live on several cores is carried out.
#[derive(Clone, Copy)]
pub enum Cross {
    /// Single-key command: never spans cores.
    Never,
    /// Split per core into the same command over that core's keys, run
    /// atomically in one visit per core (`transaction::Group`, `gate::together`),
    /// and merge (MGET, MSET, DEL, EXISTS ...).
    Split(Merge),
    /// Needs a coordinated, atomic run (MSETNX, RENAME, COPY ...).
    Coord(CoordFn),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Add the integer replies (DEL, EXISTS, TOUCH, UNLINK).
    Sum,
    /// Put array elements back in key order (MGET).
    Array,
    /// All must be OK (MSET).
    Ok,
}

/// Command flags, shown by COMMAND INFO with Redis's names.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const MOVABLE_KEYS: u32 = 1 << 12;
    pub const ALLOW_BUSY: u32 = 1 << 13;
    pub const SKIP_SLOWLOG: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    /// Served in a slot being imported as if the client sent ASKING.
    pub const ASKING: u32 = 1 << 16;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// One row of the command table.
#[derive(Clone, Copy)]
pub struct Spec {
    /// Lower case, as COMMAND shows it.
    pub name: &'static str,
    /// Redis arity: N exactly, or -N for at least N (the name counts).
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first, last (negative counts from the end), step.
    pub keys: (i32, i32, i32),
    pub handler: Handler,
    pub cross: Cross,
    /// COMMAND DOCS: group, summary, since.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
}

impl Spec {
    /// Whether `argc` (name included) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    /// Indices of the key arguments in `args` (args[0] is the name).
    pub fn key_indices(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, last, step) = self.keys;
        let (first, step) = (first.max(0) as usize, step.max(1) as usize);
        let last = if last < 0 { argc as i32 + last } else { last };
        let last = if first == 0 {
            0
        } else {
            (last.max(0) as usize).min(argc.saturating_sub(1))
        };
        (first..=last).step_by(step).filter(move |_| first > 0)
    }
}

/// A convenience constructor for table rows.
#[allow(clippy::too_many_arguments)]
pub const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: Handler,
    cross: Cross,
    group: &'static str,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        handler,
        cross,
        group,
        summary,
        since,
    }
}

/// The command table: every row, and an index by name.
pub struct Table {
    pub specs: Vec<Spec>,
    /// Command indices by name shape (`shape`): a request's name is found
    /// by comparing it with the one to three names of its length and first
    /// letter, with no lowercase copy and no hashing on the hot path.
    by_shape: Vec<Vec<u16>>,
}

/// Longest command name (`georadiusbymember_ro` has 20 bytes).
const NAME_MAX: usize = 32;

/// The bucket of a name: its length and its first letter, any case.
fn shape(name: &[u8]) -> Option<usize> {
    let first = *name.first()?;
    if name.len() > NAME_MAX {
        return None;
    }
    let letter = match first.to_ascii_lowercase() {
        c @ b'a'..=b'z' => (c - b'a') as usize,
        _ => 26,
    };
    Some(name.len() * 27 + letter)
}

static TABLE: OnceLock<Table> = OnceLock::new();

pub fn table() -> &'static Table {
    TABLE.get_or_init(|| {
        let mut specs = Vec::new();
        strings::register(&mut specs);
        keys::register(&mut specs);
        server::register(&mut specs);
        client::register(&mut specs);
        lists::register(&mut specs);
        hashes::register(&mut specs);
        sets::register(&mut specs);
        zsets::register(&mut specs);
        pubsub::register(&mut specs);
        multi::register(&mut specs);
        scripting::register(&mut specs);
        sort::register(&mut specs);
        bitmaps::register(&mut specs);
        hyperloglog::register(&mut specs);
        geo::register(&mut specs);
        streams::register(&mut specs);
        crate::acl::command::register(&mut specs);
        dump::register(&mut specs);
        slowlog::register(&mut specs);
        monitor::register(&mut specs);
        latency::register(&mut specs);
        lolwut::register(&mut specs);
        crate::cluster::commands::register(&mut specs);
        if crate::sentinel::enabled() {
            crate::sentinel::commands::restrict(&mut specs);
        }
        let mut by_shape = vec![Vec::new(); (NAME_MAX + 1) * 27];
        for (i, s) in specs.iter().enumerate() {
            let bucket: &mut Vec<u16> = &mut by_shape[shape(s.name.as_bytes()).unwrap()];
            let twice = bucket.iter().any(|&j| specs[j as usize].name == s.name);
            assert!(!twice, "command {} registered twice", s.name);
            bucket.push(i as u16);
        }
        Table { specs, by_shape }
    })
}

impl Table {
    /// Finds a command by name, any case.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<(usize, &Spec)> {
        self.by_shape[shape(name)?].iter().find_map(|&i| {
            let spec = &self.specs[i as usize];
            spec.name
                .as_bytes()
                .eq_ignore_ascii_case(name)
                .then_some((i as usize, spec))
        })
    }
}

/// Parses an integer argument as Redis does (strict).
pub fn arg_i64(b: &[u8]) -> Result<i64, Reply> {
    crate::protocol::parse_i64(b).ok_or_else(|| Reply::error(crate::protocol::errors::NOT_INTEGER))
}

/// An integer argument that must lie in `min..=max`, with Redis's
/// `getRangeLongFromObjectOrReply` texts (`msg`, or the generic "must
/// between" one). The one place count arguments get their range check.
pub fn arg_range(b: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, Reply> {
    let n = match (crate::protocol::parse_i64(b), msg) {
        (Some(n), _) => n,
        // With a message, Redis gives it for a non-number too.
        (None, Some(m)) => return Err(Reply::error(m)),
        (None, None) => return Err(Reply::error(crate::protocol::errors::NOT_INTEGER)),
    };
    if (min..=max).contains(&n) {
        return Ok(n);
    }
    Err(match msg {
        Some(m) => Reply::error(m),
        None => Reply::error(format!(
            "ERR value is out of range, value must between {min} and {max}"
        )),
    })
}

/// The count of SRANDMEMBER / HRANDFIELD / ZRANDMEMBER: -LONG_MAX..=LONG_MAX,
/// and half that when every pick is a pair (WITHVALUES / WITHSCORES), so
/// the reply length `2 * count` cannot overflow (Redis 7.0.9+).
pub fn random_count(b: &[u8], pairs: bool) -> Result<i64, Reply> {
    let n = arg_range(b, -i64::MAX, i64::MAX, None)?;
    if pairs && !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
        return Err(Reply::error(crate::protocol::errors::VALUE_OUT_OF_RANGE));
    }
    Ok(n)
}

/// Bytes of reply (and of its in-memory form) we count per element when a
/// client's number, not the data, sets a reply's length.
const REPLY_ITEM_COST: u64 = 64;

/// Checks that `count` elements picked *with repetition* (negative
/// SRANDMEMBER / HRANDFIELD / ZRANDMEMBER counts) stay a sane reply. Redis
/// streams such replies into an output buffer that is unlimited for normal
/// clients by default, so it grows until the OOM killer ends the server;
/// Redwing builds a reply before writing it, so it refuses, with Redis's
/// "value is out of range", a count whose reply would be bigger than the
/// largest argument a client may send (`proto-max-bulk-len`).
pub fn repeat_count(count: u64) -> Result<usize, Reply> {
    let max =
        crate::config::num(crate::config::Opt::ProtoMaxBulkLen).max(0) as u64 / REPLY_ITEM_COST;
    if count > max {
        return Err(Reply::error(crate::protocol::errors::VALUE_OUT_OF_RANGE));
    }
    Ok(count as usize)
}

/// Parses a float argument as Redis's strtold-based parsing (no NaN).
pub fn arg_f64(b: &[u8]) -> Result<f64, Reply> {
    let s = std::str::from_utf8(b).map_err(|_| Reply::error(crate::protocol::errors::NOT_FLOAT))?;
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t if t.is_empty()
            || t.starts_with(|c: char| c.is_whitespace())
            || t.ends_with(|c: char| c.is_whitespace()) =>
        {
            return Err(Reply::error(crate::protocol::errors::NOT_FLOAT))
        }
        t => t
            .parse()
            .map_err(|_| Reply::error(crate::protocol::errors::NOT_FLOAT))?,
    };
    if v.is_nan() {
        return Err(Reply::error(crate::protocol::errors::NOT_FLOAT));
    }
    Ok(v)
}

/// A SCAN-family cursor as Redis's strtoul reads it: optional sign, digits
/// only; the empty string is 0 and a minus wraps around.
pub fn parse_cursor(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
#[inline]
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions() {
        let s = table().lookup(b"MSET").unwrap().1;
        assert_eq!(s.key_indices(5).collect::<Vec<_>>(), vec![1, 3]);
        let s = table().lookup(b"get").unwrap().1;
        assert_eq!(s.key_indices(2).collect::<Vec<_>>(), vec![1]);
        let s = table().lookup(b"ping").unwrap().1;
        assert_eq!(s.key_indices(1).count(), 0);
    }

    #[test]
    fn every_row_is_consistent() {
        for s in &table().specs {
            assert_eq!(s.name, s.name.to_lowercase());
            assert!(s.arity != 0, "{}", s.name);
            if let Handler::Key(_) = s.handler {
                assert!(
                    s.keys.0 > 0,
                    "{} runs on a key's core but names no key",
                    s.name
                );
            }
        }
    }
}
