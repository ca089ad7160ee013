//! The string family: GET and SET with their variants, counters, ranges
//! and LCS, with Redis 7.0's replies and error texts.
//!
//! Every command runs on the core that owns its key. When the keys of a
//! multi-key command live on several cores: MGET and MSET are split per
//! core and run atomically in one visit per core (`gate::together`);
//! MSETNX holds the gates of every involved core (`runtime::Txn`) to check
//! before it sets, so no client ever sees them half done; LCS reads both
//! values under the gates and computes on the coordinating core.

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};

use super::{arg_i64, flags::*, is, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Merge, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::{parse_i64, Reply};
use crate::runtime::{Job, Txn};
use crate::storage::evict::new_lru;
use crate::storage::value::Str;
use crate::storage::Value;

type CoordFuture = Pin<Box<dyn Future<Output = Reply>>>;

/// The string a value holds, or None for another type.
fn as_str(v: &Value) -> Option<&Str> {
    match v {
        Value::Str(b) => Some(b),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn as_str_mut(v: &mut Value) -> Option<&mut Str> {
    match v {
        Value::Str(b) => Some(b),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The stored string at `key`, or the WRONGTYPE reply.
pub(crate) fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match as_str(&e.value) {
            Some(b) => Ok(Some(b.to_bytes())),
            None => Err(err(errors::WRONGTYPE)),
        },
    }
}

/// Stores a new string at `key` with expiry `expire_at` (0: none).
fn store(ctx: &mut Ctx, key: &[u8], value: &[u8], expire_at: i64) {
    ctx.insert(key, Value::string(value), expire_at, new_lru());
}

/// A stored string as a growable buffer, reusing its allocation when no
/// reply still shares it (so repeated APPENDs are amortized O(1)).
fn into_mut(b: Bytes) -> BytesMut {
    b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]))
}

/// Redis's checkStringLength: would `len + add` bytes exceed proto-max-bulk-len?
fn too_long(len: u64, add: u64) -> bool {
    len.checked_add(add)
        .is_none_or(|t| t > config::num(Opt::ProtoMaxBulkLen) as u64)
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_str(ctx, &args[1]) {
        Ok(v) => Reply::bulk_opt(v),
        Err(e) => e,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// The options of SET (from argument 3) or GETEX (from argument 2).
#[derive(Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a Bytes)>,
}

/// Redis's parseExtendedStringArgumentsOrReply: only the option words are
/// checked here; the expire value is validated later, as Redis does, so the
/// error that wins is the same. The same expire option may repeat (the
/// last wins); two different ones may not.
fn parse_ext(args: &[Bytes], for_set: bool) -> Result<ExtOpts<'_>, Reply> {
    let mut o = ExtOpts::default();
    let mut i = if for_set { 3 } else { 2 };
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        let kind = if is(a, "EX") {
            Some(ExpireKind::Ex)
        } else if is(a, "PX") {
            Some(ExpireKind::Px)
        } else if is(a, "EXAT") {
            Some(ExpireKind::ExAt)
        } else if is(a, "PXAT") {
            Some(ExpireKind::PxAt)
        } else {
            None
        };
        if for_set && is(a, "NX") && !o.xx {
            o.nx = true;
        } else if for_set && is(a, "XX") && !o.nx {
            o.xx = true;
        } else if for_set && is(a, "GET") {
            o.get = true;
        } else if for_set && is(a, "KEEPTTL") && o.expire.is_none() {
            o.keepttl = true;
        } else if !for_set && is(a, "PERSIST") && o.expire.is_none() {
            o.persist = true;
        } else if let (Some(k), Some(v)) = (kind, next) {
            if o.keepttl || o.persist || o.expire.is_some_and(|(prev, _)| prev != k) {
                return Err(err(errors::SYNTAX));
            }
            o.expire = Some((k, v));
            i += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// An expire argument as an absolute unix time in ms, or the command's
/// "invalid expire time" error (non-positive, or overflowing).
fn expire_at(ctx: &Ctx, kind: ExpireKind, arg: &[u8], cmd: &str) -> Result<i64, Reply> {
    let n = arg_i64(arg)?;
    let secs = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if n <= 0 || (secs && n > i64::MAX / 1000) {
        return Err(errors::invalid_expire(cmd));
    }
    let ms = if secs { n * 1000 } else { n };
    match kind {
        ExpireKind::Ex | ExpireKind::Px => ms
            .checked_add(ctx.now)
            .ok_or_else(|| errors::invalid_expire(cmd)),
        ExpireKind::ExAt | ExpireKind::PxAt => Ok(ms),
    }
}

/// Redis's setGenericCommand. Returns the old value (read only with GET)
/// and whether the key was set (NX/XX may refuse).
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    o: &ExtOpts,
    at: Option<i64>,
) -> Result<(Option<Bytes>, bool), Reply> {
    let old = if o.get { read_str(ctx, key)? } else { None };
    let entry = ctx.lookup_write(key);
    let found = entry.as_ref().map(|e| e.expire_at().unwrap_or(0));
    if (o.nx && found.is_some()) || (o.xx && found.is_none()) {
        return Ok((old, false));
    }
    let ttl = match (at, o.keepttl) {
        (Some(at), _) => at,
        (None, true) => found.unwrap_or(0),
        (None, false) => 0,
    };
    match entry {
        // A string without expiry overwritten by one without: in place,
        // as `Db::insert` would leave it (key count, volatile count and,
        // under LFU, the counter unchanged), without a second lookup.
        Some(e) if ttl == 0 && found == Some(0) && matches!(e.value, Value::Str(_)) => {
            e.value = Value::string(value);
            if !crate::storage::evict::policy().lfu() {
                e.lru = new_lru();
            }
        }
        _ => store(ctx, key, value, ttl),
    }
    ctx.dirty(1);
    ctx.notify(events::STRING, "set", key);
    if at.is_some() {
        ctx.notify(events::GENERIC, "expire", key);
    }
    Ok((old, true))
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let run = |ctx: &mut Ctx| {
        let o = parse_ext(args, true)?;
        let at = match o.expire {
            Some((kind, v)) => Some(expire_at(ctx, kind, v, "set")?),
            None => None,
        };
        let (old, done) = set_generic(ctx, &args[1], &args[2], &o, at)?;
        Ok(match (o.get, done) {
            (true, _) => Reply::bulk_opt(old),
            (false, true) => Reply::Ok,
            (false, false) => Reply::Nil,
        })
    };
    run(ctx).unwrap_or_else(|e| e)
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = ExtOpts {
        nx: true,
        ..Default::default()
    };
    match set_generic(ctx, &args[1], &args[2], &o, None) {
        Ok((_, done)) => Reply::Int(done as i64),
        Err(e) => e,
    }
}

/// SETEX and PSETEX: key, time, value.
fn set_with_expire(ctx: &mut Ctx, args: &[Bytes], kind: ExpireKind, cmd: &str) -> Reply {
    let at = match expire_at(ctx, kind, &args[2], cmd) {
        Ok(at) => at,
        Err(e) => return e,
    };
    match set_generic(ctx, &args[1], &args[3], &ExtOpts::default(), Some(at)) {
        Ok(_) => Reply::Ok,
        Err(e) => e,
    }
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expire(ctx, args, ExpireKind::Ex, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expire(ctx, args, ExpireKind::Px, "psetex")
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_str(ctx, &args[1]) {
        Ok(old) => {
            store(ctx, &args[1], &args[2], 0);
            ctx.dirty(1);
            ctx.notify(events::STRING, "set", &args[1]);
            Reply::bulk_opt(old)
        }
        Err(e) => e,
    }
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_str(ctx, &args[1]) {
        Ok(Some(v)) => {
            ctx.delete(&args[1]);
            ctx.dirty(1);
            Reply::Bulk(v)
        }
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = match parse_ext(args, false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let key = &args[1];
    // A missing key answers nil even when the expire value is invalid.
    let v = match read_str(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    match o.expire {
        Some((kind, arg)) => {
            let at = match expire_at(ctx, kind, arg, "getex") {
                Ok(at) => at,
                Err(e) => return e,
            };
            // An absolute time already past deletes the key.
            if matches!(kind, ExpireKind::ExAt | ExpireKind::PxAt) && at <= ctx.now {
                ctx.delete(key);
            } else {
                ctx.db().set_expire(key, at);
                ctx.notify(events::GENERIC, "expire", key);
            }
            ctx.dirty(1);
        }
        None if o.persist => {
            let volatile = ctx.db().peek(key).is_some_and(|e| e.expire_at().is_some());
            if volatile {
                ctx.db().set_expire(key, 0);
                ctx.dirty(1);
                ctx.notify(events::GENERIC, "persist", key);
            }
        }
        None => {}
    }
    Reply::Bulk(v)
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Array(
        args[1..]
            .iter()
            .map(|k| read_str(ctx, k).map_or(Reply::Nil, Reply::bulk_opt))
            .collect(),
    )
}

/// Whether any key of the key/value pairs exists (expiring lazily).
fn any_exists(ctx: &mut Ctx, pairs: &[Bytes]) -> bool {
    pairs.chunks(2).any(|kv| ctx.lookup_write(&kv[0]).is_some())
}

/// Sets every key/value pair, clearing TTLs.
fn set_pairs(ctx: &mut Ctx, pairs: &[Bytes]) {
    for kv in pairs.chunks(2) {
        store(ctx, &kv[0], &kv[1], 0);
        ctx.notify(events::STRING, "set", &kv[0]);
    }
    ctx.dirty(pairs.len() as u64 / 2);
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return errors::wrong_args("mset");
    }
    set_pairs(ctx, &args[1..]);
    Reply::Ok
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return errors::wrong_args("msetnx");
    }
    if any_exists(ctx, &args[1..]) {
        return Reply::Int(0);
    }
    set_pairs(ctx, &args[1..]);
    Reply::Int(1)
}

fn msetnx_across(c: ClientRef, args: Vec<Bytes>) -> CoordFuture {
    Box::pin(msetnx_txn(c, args))
}

/// MSETNX over keys on several cores, atomically: it must first check that
/// no key exists anywhere, so it holds every involved core in a
/// transaction, checks, then sets. (MSET needs no check: it is split per
/// core and run in one atomic visit per core.)
async fn msetnx_txn(c: ClientRef, args: Vec<Bytes>) -> Reply {
    if args.len().is_multiple_of(2) {
        return errors::wrong_args("msetnx");
    }
    let db = c.borrow().db;
    // Each core's key/value pairs, in argument order.
    let mut parts: Vec<(usize, Vec<Bytes>)> = Vec::new();
    for kv in args[1..].chunks(2) {
        let core = crate::cluster::route::core(&kv[0]);
        match parts.iter_mut().find(|p| p.0 == core) {
            Some(p) => p.1.extend_from_slice(kv),
            None => parts.push((core, kv.to_vec())),
        }
    }
    let cores: Vec<usize> = parts.iter().map(|p| p.0).collect();
    let pairs_of = |core: usize| {
        parts
            .iter()
            .find(|p| p.0 == core)
            .map(|p| p.1.clone())
            .unwrap_or_default()
    };
    let txn = Txn::begin(cores.iter().copied()).await;
    let found = txn
        .run_each(&cores, |core| {
            let pairs = pairs_of(core);
            Box::new(move || with_ctx(db, |ctx| Reply::Bool(any_exists(ctx, &pairs)))) as Job
        })
        .await;
    if let Some(stop) = found.into_iter().find(|r| *r != Reply::Bool(false)) {
        txn.end().await;
        return if stop.is_error() { stop } else { Reply::Int(0) };
    }
    let done = txn
        .run_each(&cores, |core| {
            let pairs = pairs_of(core);
            Box::new(move || {
                with_ctx(db, |ctx| {
                    set_pairs(ctx, &pairs);
                    Reply::Ok
                })
            }) as Job
        })
        .await;
    txn.end().await;
    done.into_iter()
        .find(Reply::is_error)
        .unwrap_or(Reply::Int(1))
}

/// INCR family: adds `by` to the integer at `key`; the key keeps its TTL.
pub(crate) fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    let text = |n: i64| Value::string(itoa::Buffer::new().format(n).as_bytes());
    let n = match ctx.lookup_write(key) {
        Some(e) => {
            let cur = match as_str(&e.value) {
                None => return err(errors::WRONGTYPE),
                Some(b) => match parse_i64(b) {
                    Some(n) => n,
                    None => return err(errors::NOT_INTEGER),
                },
            };
            let Some(n) = cur.checked_add(by) else {
                return err(errors::OVERFLOW);
            };
            e.value = text(n);
            n
        }
        None => {
            ctx.insert(key, text(by), 0, new_lru());
            by
        }
    };
    ctx.dirty(1);
    ctx.notify(events::STRING, "incrby", key);
    Reply::Int(n)
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match arg_i64(&args[2]) {
        Ok(by) => incr_by(ctx, &args[1], by),
        Err(e) => e,
    }
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match arg_i64(&args[2]) {
        Ok(i64::MIN) => err(errors::DECR_OVERFLOW),
        Ok(by) => incr_by(ctx, &args[1], -by),
        Err(e) => e,
    }
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let sum = match ctx.lookup_write(key) {
        Some(e) => {
            let Some(cur) = as_str(&e.value) else {
                return err(errors::WRONGTYPE);
            };
            match long_double::add(cur, &args[2]) {
                Ok(sum) => {
                    e.value = Value::string(sum.as_bytes());
                    sum
                }
                Err(text) => return err(text),
            }
        }
        None => match long_double::add(b"0", &args[2]) {
            Ok(sum) => {
                store(ctx, key, sum.as_bytes(), 0);
                sum
            }
            Err(text) => return err(text),
        },
    };
    ctx.dirty(1);
    ctx.notify(events::STRING, "incrbyfloat", key);
    Reply::bulk(sum)
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, add) = (&args[1], &args[2]);
    let len = match ctx.lookup_write(key) {
        Some(e) => {
            let Some(cur) = as_str_mut(&mut e.value) else {
                return err(errors::WRONGTYPE);
            };
            if too_long(cur.len() as u64, add.len() as u64) {
                return err(errors::STRING_TOO_LONG);
            }
            let mut buf = into_mut(cur.take());
            buf.extend_from_slice(add);
            *cur = buf.freeze().into();
            cur.len()
        }
        None => {
            store(ctx, key, add, 0);
            add.len()
        }
    };
    ctx.dirty(1);
    ctx.notify(events::STRING, "append", key);
    Reply::Int(len as i64)
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_str(ctx, &args[1]) {
        Ok(v) => Reply::Int(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

/// GETRANGE and SUBSTR: inclusive, negative indexes count from the end.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut start, mut end) = match (arg_i64(&args[2]), arg_i64(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let v = match read_str(ctx, &args[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::bulk("");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    let (start, end) = (start.max(0), end.max(0).min(len - 1));
    if start > end || len == 0 {
        return Reply::bulk("");
    }
    Reply::Bulk(v.slice(start as usize..=end as usize))
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, patch) = (&args[1], &args[3]);
    let offset = match arg_i64(&args[2]) {
        Ok(n) if n < 0 => return err(errors::OFFSET_RANGE),
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let grow = |cur: Bytes| {
        let end = offset as usize + patch.len();
        let mut buf = into_mut(cur);
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[offset as usize..end].copy_from_slice(patch);
        buf.freeze()
    };
    let len = match ctx.lookup_write(key) {
        Some(e) => {
            let Some(cur) = as_str_mut(&mut e.value) else {
                return err(errors::WRONGTYPE);
            };
            if patch.is_empty() {
                return Reply::Int(cur.len() as i64);
            }
            if too_long(offset, patch.len() as u64) {
                return err(errors::STRING_TOO_LONG);
            }
            *cur = grow(cur.take()).into();
            cur.len()
        }
        None => {
            // Setting nothing on a missing key creates nothing.
            if patch.is_empty() {
                return Reply::Int(0);
            }
            if too_long(offset, patch.len() as u64) {
                return err(errors::STRING_TOO_LONG);
            }
            // A fresh buffer of ours: it pins no read buffer.
            let v = grow(Bytes::new());
            let len = v.len();
            ctx.insert(key, Value::Str(v.into()), 0, new_lru());
            len
        }
    };
    ctx.dirty(1);
    ctx.notify(events::STRING, "setrange", key);
    Reply::Int(len as i64)
}

fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let a = read_str(ctx, &args[1]);
    let b = read_str(ctx, &args[2]);
    lcs_of(a, b, args)
}

/// LCS with its keys on two cores: reads both values while holding both
/// cores (a consistent pair), then computes here.
fn lcs_across(c: ClientRef, args: Vec<Bytes>) -> CoordFuture {
    Box::pin(async move {
        let db = c.borrow().db;
        let keys = [args[1].clone(), args[2].clone()];
        let cores = keys.clone().map(|k| crate::cluster::route::core(&k));
        let txn = Txn::begin(cores).await;
        let got = txn
            .run_each(&cores, |core| {
                let key = keys[cores.iter().position(|&c| c == core).unwrap_or(0)].clone();
                Box::new(move || {
                    with_ctx(db, |ctx| match read_str(ctx, &key) {
                        Ok(v) => Reply::bulk_opt(v),
                        Err(e) => e,
                    })
                }) as Job
            })
            .await;
        txn.end().await;
        let value = |r: &Reply| match r {
            Reply::Bulk(b) => Ok(Some(b.clone())),
            Reply::Nil => Ok(None),
            other => Err(other.clone()),
        };
        match got.as_slice() {
            [a, b] => lcs_of(value(a), value(b), &args),
            _ => err(errors::LCS_NOT_STRINGS),
        }
    })
}

/// Redis's lcsCommand over the two values read (an error: not a string).
fn lcs_of(
    a: Result<Option<Bytes>, Reply>,
    b: Result<Option<Bytes>, Reply>,
    args: &[Bytes],
) -> Reply {
    let (Ok(a), Ok(b)) = (a, b) else {
        return err(errors::LCS_NOT_STRINGS);
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut idx, mut len_only, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        if is(opt, "IDX") {
            idx = true;
        } else if is(opt, "LEN") {
            len_only = true;
        } else if is(opt, "WITHMATCHLEN") {
            with_len = true;
        } else if is(opt, "MINMATCHLEN") && j + 1 < args.len() {
            match arg_i64(&args[j + 1]) {
                Ok(n) => min_len = n.max(0),
                Err(e) => return e,
            }
            j += 1;
        } else {
            return err(errors::SYNTAX);
        }
        j += 1;
    }
    if idx && len_only {
        return err(errors::LCS_IDX_AND_LEN);
    }
    let limit = u32::MAX as usize - 1;
    if a.len() >= limit || b.len() >= limit {
        return err(errors::LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1) * (blen + 1);
    if cells as u64 * 4 > config::num(Opt::ProtoMaxBulkLen) as u64 {
        return err(errors::LCS_OVER_LIMIT);
    }
    // table[i * (blen + 1) + j]: the LCS length of a[..i] and b[..j].
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return err(errors::LCS_NO_MEMORY);
    }
    table.resize(cells, 0);
    let at = |t: &[u32], i: usize, j: usize| t[i * (blen + 1) + j];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * (blen + 1) + j] = if a[i - 1] == b[j - 1] {
                at(&table, i - 1, j - 1) + 1
            } else {
                at(&table, i - 1, j).max(at(&table, i, j - 1))
            };
        }
    }
    let total = at(&table, alen, blen) as usize;
    if len_only {
        return Reply::Int(total as i64);
    }

    // Walk back from the end, collecting the common string and, for IDX,
    // the matching ranges (last first), exactly as Redis walks.
    let mut common = vec![0u8; total];
    let mut matches = Vec::new();
    // The range being extended: a start, a end, b start, b end.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut k) = (alen, blen, total);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[k - 1] = a[i - 1];
            match &mut range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some(r) if r.0 == i && r.2 == j => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                Some(_) => emit = true,
            }
            // A range that reached the start of either string is complete.
            if range.is_some_and(|r| r.0 == 0 || r.2 == 0) {
                emit = true;
            }
            (i, j, k) = (i - 1, j - 1, k - 1);
        } else {
            if at(&table, i - 1, j) > at(&table, i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if let Some((a0, a1, b0, b1)) = range.filter(|_| emit) {
            let n = (a1 - a0 + 1) as i64;
            if idx && n >= min_len {
                let pair = |x: usize, y: usize| {
                    Reply::Array(vec![Reply::Int(x as i64), Reply::Int(y as i64)])
                };
                let mut m = vec![pair(a0, a1), pair(b0, b1)];
                if with_len {
                    m.push(Reply::Int(n));
                }
                matches.push(Reply::Array(m));
            }
            range = None;
        }
    }
    if idx {
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Int(total as i64)),
        ])
    } else {
        Reply::Bulk(Bytes::from(common))
    }
}

/// INCRBYFLOAT's arithmetic in C's `long double`, which on x86-64 is the
/// x87 80-bit format: glibc's strtold parses, the FPU adds and glibc's
/// snprintf prints, so results match redis-server digit for digit.
#[cfg(target_arch = "x86_64")]
pub(crate) mod long_double {
    use std::arch::asm;
    use std::ffi::{c_char, c_int};

    use crate::protocol::errors;

    /// Redis's MAX_LONG_DOUBLE_CHARS: longer input is not a number, and
    /// every finite value prints within it.
    const MAX_CHARS: usize = 5 * 1024;

    /// A long double in memory: 64-bit mantissa, then sign and exponent.
    #[repr(C, align(16))]
    struct F80([u8; 16]);

    impl F80 {
        fn exponent(&self) -> u16 {
            u16::from_le_bytes([self.0[8], self.0[9]]) & 0x7fff
        }
        fn mantissa(&self) -> u64 {
            u64::from_le_bytes(self.0[..8].try_into().unwrap())
        }
        fn is_finite(&self) -> bool {
            self.exponent() != 0x7fff
        }
        fn is_nan(&self) -> bool {
            !self.is_finite() && self.mantissa() != 1 << 63
        }
        fn is_zero(&self) -> bool {
            self.exponent() == 0 && self.mantissa() == 0
        }
    }

    extern "C" {
        // Their long double parts have no Rust type; only the asm below
        // calls them, following the C ABI by hand.
        fn strtold(s: *const c_char, end: *mut *mut c_char);
        fn snprintf(buf: *mut c_char, len: usize, fmt: *const c_char, ...) -> c_int;
    }

    /// Redis's string2ld: the whole input is one number, with no leading
    /// space, not NaN, and not out of range (overflow or flush to zero).
    fn parse(s: &[u8]) -> Option<F80> {
        let c_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        if s.is_empty() || s.len() >= MAX_CHARS || c_space(s[0]) {
            return None;
        }
        let mut text = Vec::with_capacity(s.len() + 1);
        text.extend_from_slice(s);
        text.push(0);
        let mut out = F80([0; 16]);
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated and `end` writable. strtold
        // returns in st(0), which is stored to `out` through r12, a
        // register the call preserves; the x87 stack is left empty.
        let errno = unsafe {
            *libc::__errno_location() = 0;
            asm!(
                "call {f}",
                "fstp tbyte ptr [r12]",
                f = sym strtold,
                in("rdi") text.as_ptr(),
                in("rsi") &mut end,
                in("r12") &mut out,
                clobber_abi("C"),
            );
            *libc::__errno_location()
        };
        let used = end as usize - text.as_ptr() as usize;
        let range_error = errno == libc::ERANGE && (!out.is_finite() || out.is_zero());
        (used == s.len() && !range_error && !out.is_nan()).then_some(out)
    }

    fn sum(a: &F80, b: &F80) -> F80 {
        let mut out = F80([0; 16]);
        // SAFETY: loads two long doubles, stores their sum; the x87 stack
        // is empty again at the end.
        unsafe {
            asm!(
                "fld tbyte ptr [{a}]",
                "fld tbyte ptr [{b}]",
                "faddp st(1), st",
                "fstp tbyte ptr [{out}]",
                a = in(reg) a,
                b = in(reg) b,
                out = in(reg) &mut out,
                out("st(0)") _,
                out("st(1)") _,
                options(nostack),
            );
        }
        out
    }

    /// Redis's ld2string in human mode: `%.17Lf`, then no trailing zeros
    /// (nor a trailing point), and "-0" as "0".
    fn format(v: &F80) -> String {
        let mut buf = vec![0u8; MAX_CHARS];
        let n: c_int;
        // SAFETY: the stack is 16-byte aligned here (no `nostack`); a
        // variadic long double is passed in memory at the call's stack
        // top, and al = 0 says no vector registers carry arguments.
        unsafe {
            asm!(
                "sub rsp, 16",
                "mov rax, qword ptr [rcx]",
                "mov qword ptr [rsp], rax",
                "mov rax, qword ptr [rcx + 8]",
                "mov qword ptr [rsp + 8], rax",
                "xor eax, eax",
                "call {f}",
                "add rsp, 16",
                f = sym snprintf,
                in("rdi") buf.as_mut_ptr(),
                in("rsi") buf.len(),
                in("rdx") c"%.17Lf".as_ptr(),
                in("rcx") v,
                lateout("rax") n,
                clobber_abi("C"),
            );
        }
        let mut s = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
        if s.contains('.') {
            s.truncate(s.trim_end_matches('0').trim_end_matches('.').len());
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }

    /// `a + b` as INCRBYFLOAT stores it, or the error text.
    pub fn add(a: &[u8], b: &[u8]) -> Result<String, &'static str> {
        let (Some(a), Some(b)) = (parse(a), parse(b)) else {
            return Err(errors::NOT_FLOAT);
        };
        let s = sum(&a, &b);
        if !s.is_finite() {
            return Err(errors::INCR_NAN);
        }
        Ok(format(&s))
    }
}

/// Elsewhere C's `long double` is another format anyway (Redis's digits
/// differ by platform); f64 keeps INCRBYFLOAT working with 17 decimals.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) mod long_double {
    use crate::protocol::errors;

    pub fn add(a: &[u8], b: &[u8]) -> Result<String, &'static str> {
        let parse = |x: &[u8]| crate::commands::arg_f64(x).map_err(|_| errors::NOT_FLOAT);
        let s = parse(a)? + parse(b)?;
        if !s.is_finite() {
            return Err(errors::INCR_NAN);
        }
        let mut t = format!("{s:.17}");
        t.truncate(t.trim_end_matches('0').trim_end_matches('.').len());
        Ok(if t == "-0" { "0".into() } else { t })
    }
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "string";
    t.extend([
        spec(
            "get",
            2,
            READONLY | FAST,
            (1, 1, 1),
            Key(get),
            Cross::Never,
            g,
            "Get the value of a key",
            "1.0.0",
        ),
        spec(
            "set",
            -3,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(set),
            Cross::Never,
            g,
            "Set the string value of a key",
            "1.0.0",
        ),
        spec(
            "setnx",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(setnx),
            Cross::Never,
            g,
            "Set the value of a key, only if the key does not exist",
            "1.0.0",
        ),
        spec(
            "setex",
            4,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(setex),
            Cross::Never,
            g,
            "Set the value and expiration of a key",
            "2.0.0",
        ),
        spec(
            "psetex",
            4,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(psetex),
            Cross::Never,
            g,
            "Set the value and expiration in milliseconds of a key",
            "2.6.0",
        ),
        spec(
            "getset",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(getset),
            Cross::Never,
            g,
            "Set the string value of a key and return its old value",
            "1.0.0",
        ),
        spec(
            "getdel",
            2,
            WRITE | FAST,
            (1, 1, 1),
            Key(getdel),
            Cross::Never,
            g,
            "Get the value of a key and delete the key",
            "6.2.0",
        ),
        spec(
            "getex",
            -2,
            WRITE | FAST,
            (1, 1, 1),
            Key(getex),
            Cross::Never,
            g,
            "Get the value of a key and optionally set its expiration",
            "6.2.0",
        ),
        spec(
            "mget",
            -2,
            READONLY | FAST,
            (1, -1, 1),
            Key(mget),
            Cross::Split(Merge::Array),
            g,
            "Get the values of all the given keys",
            "1.0.0",
        ),
        spec(
            "mset",
            -3,
            WRITE | DENYOOM,
            (1, -1, 2),
            Key(mset),
            Cross::Split(Merge::Ok),
            g,
            "Set multiple keys to multiple values",
            "1.0.1",
        ),
        spec(
            "msetnx",
            -3,
            WRITE | DENYOOM,
            (1, -1, 2),
            Key(msetnx),
            Cross::Coord(msetnx_across),
            g,
            "Set multiple keys to multiple values, only if none of the keys exist",
            "1.0.1",
        ),
        spec(
            "incr",
            2,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(incr),
            Cross::Never,
            g,
            "Increment the integer value of a key by one",
            "1.0.0",
        ),
        spec(
            "decr",
            2,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(decr),
            Cross::Never,
            g,
            "Decrement the integer value of a key by one",
            "1.0.0",
        ),
        spec(
            "incrby",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(incrby),
            Cross::Never,
            g,
            "Increment the integer value of a key by the given amount",
            "1.0.0",
        ),
        spec(
            "decrby",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(decrby),
            Cross::Never,
            g,
            "Decrement the integer value of a key by the given number",
            "1.0.0",
        ),
        spec(
            "incrbyfloat",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(incrbyfloat),
            Cross::Never,
            g,
            "Increment the float value of a key by the given amount",
            "2.6.0",
        ),
        spec(
            "append",
            3,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(append),
            Cross::Never,
            g,
            "Append a value to a key",
            "2.0.0",
        ),
        spec(
            "strlen",
            2,
            READONLY | FAST,
            (1, 1, 1),
            Key(strlen),
            Cross::Never,
            g,
            "Get the length of the value stored in a key",
            "2.2.0",
        ),
        spec(
            "getrange",
            4,
            READONLY,
            (1, 1, 1),
            Key(getrange),
            Cross::Never,
            g,
            "Get a substring of the string stored at a key",
            "2.4.0",
        ),
        spec(
            "setrange",
            4,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(setrange),
            Cross::Never,
            g,
            "Overwrite part of a string at key starting at the specified offset",
            "2.2.0",
        ),
        spec(
            "substr",
            4,
            READONLY,
            (1, 1, 1),
            Key(getrange),
            Cross::Never,
            g,
            "Get a substring of the string stored at a key",
            "1.0.0",
        ),
        spec(
            "lcs",
            -3,
            READONLY,
            (1, 2, 1),
            Key(lcs),
            Cross::Coord(lcs_across),
            g,
            "Find longest common substring",
            "7.0.0",
        ),
    ]);
}
