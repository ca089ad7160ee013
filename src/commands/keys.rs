//! The generic keyspace family: existence, expiry, renaming and copying,
//! and the whole-keyspace commands (KEYS, SCAN, RANDOMKEY).
//!
//! Single-key commands run on the key's core. RENAME and COPY run there too
//! when both keys share a core; otherwise they hold both cores' gates
//! (`runtime::Txn`) so no client sees the key in both places or neither.
//! KEYS, SCAN, RANDOMKEY and OBJECT coordinate: they are not tied to the
//! connection's core.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use rand::Rng;

use super::{
    arg_i64, blocking, flags::*, is, parse_cursor, pubsub, spec, with_ctx, ClientRef, Cross, Ctx,
    Handler, Merge, Spec,
};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::{self, Txn};
use crate::storage::slot::SLOTS;
use crate::storage::{key_slot, Entry, Value};

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

/// Reads a key without touching its LRU clock (TTL, TYPE, OBJECT, EXISTS
/// use Redis's LOOKUP_NOTOUCH); hits and misses still count.
fn read_notouch<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&Entry) -> R) -> Option<R> {
    let saved = std::mem::replace(&mut ctx.no_touch, true);
    let r = ctx.lookup_read(key).map(|e| f(e));
    ctx.no_touch = saved;
    r
}

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut n = 0;
    for k in &args[1..] {
        if ctx.lookup_write(k).is_some() {
            ctx.delete(k);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    Reply::Int(n)
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(
        args[1..]
            .iter()
            .filter(|k| read_notouch(ctx, k, |_| ()).is_some())
            .count() as i64,
    )
}

/// TOUCH updates the LRU clock even for a CLIENT NO-TOUCH client.
fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let saved = std::mem::replace(&mut ctx.no_touch, false);
    let n = args[1..]
        .iter()
        .filter(|k| ctx.lookup_read(k).is_some())
        .count();
    ctx.no_touch = saved;
    Reply::Int(n as i64)
}

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(opts: &[Bytes]) -> Result<ExpireFlags, Reply> {
    let mut f = ExpireFlags::default();
    for o in opts {
        if is(o, "NX") {
            f.nx = true;
        } else if is(o, "XX") {
            f.xx = true;
        } else if is(o, "GT") {
            f.gt = true;
        } else if is(o, "LT") {
            f.lt = true;
        } else {
            // Redis formats the option with %s (it ends at a NUL) and its
            // error replies turn CR/LF into spaces.
            let o = o.split(|&c| c == 0).next().unwrap_or_default();
            let o = String::from_utf8_lossy(o).replace(['\r', '\n'], " ");
            return Err(Reply::error(format!("ERR Unsupported option {o}")));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(err(errors::EXPIRE_NX_AND_OTHERS));
    }
    if f.gt && f.lt {
        return Err(err(errors::EXPIRE_GT_AND_LT));
    }
    Ok(f)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `base` is added to the argument
/// (now for the relative forms, 0 for the absolute ones).
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], name: &str, base: i64, secs: bool) -> Reply {
    // Redis checks the options before the number.
    let f = match parse_expire_flags(&args[3..]) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let n = match arg_i64(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let when = if secs { n.checked_mul(1000) } else { Some(n) };
    let Some(when) = when.and_then(|w| w.checked_add(base)) else {
        return errors::invalid_expire(name);
    };
    let key = &args[1];
    let Some(e) = ctx.lookup_write(key) else {
        return Reply::Int(0);
    };
    let current = e.expire_at();
    let refused = (f.nx && current.is_some())
        || (f.xx && current.is_none())
        || (f.gt && current.is_none_or(|c| when <= c))
        || (f.lt && current.is_some_and(|c| when >= c));
    if refused {
        return Reply::Int(0);
    }
    if when <= ctx.now {
        // A time in the past deletes the key, as Redis does.
        ctx.delete(key);
    } else {
        ctx.db().set_expire(key, when);
        ctx.notify(events::GENERIC, "expire", key);
    }
    ctx.dirty(1);
    Reply::Int(1)
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    expire_generic(ctx, args, "expire", now, true)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    expire_generic(ctx, args, "pexpire", now, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "expireat", 0, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "pexpireat", 0, false)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 missing, -1 persistent.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], ms: bool, absolute: bool) -> Reply {
    let now = ctx.now;
    let Some(at) = read_notouch(ctx, key, |e| e.expire_at()) else {
        return Reply::Int(-2);
    };
    let Some(at) = at else {
        return Reply::Int(-1);
    };
    let t = if absolute { at } else { (at - now).max(0) };
    // Seconds are rounded to nearest, like Redis.
    Reply::Int(if ms {
        t
    } else {
        ((t as i128 + 500) / 1000) as i64
    })
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], true, true)
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let had_ttl = ctx
        .lookup_write(key)
        .is_some_and(|e| e.expire_at().is_some());
    if !had_ttl {
        return Reply::Int(0);
    }
    ctx.db().set_expire(key, 0);
    ctx.dirty(1);
    ctx.notify(events::GENERIC, "persist", key);
    Reply::Int(1)
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::status(read_notouch(ctx, &args[1], |e| e.value.type_name()).unwrap_or("none"))
}

/// RENAME / RENAMENX with both keys on this core. The TTL moves with the value.
fn rename_local(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    if ctx.lookup_write(src).is_none() {
        return err(errors::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::Ok };
    }
    if ctx.lookup_write(dst).is_some() && nx {
        return Reply::Int(0);
    }
    let e = ctx.db().remove(src).expect("looked up above");
    // A blocked XREADGROUP on the source stream ends its wait.
    blocking::signal(ctx, src);
    renamed_to(ctx, dst, e);
    ctx.notify(events::GENERIC, "rename_from", src);
    ctx.notify(events::GENERIC, "rename_to", dst);
    ctx.dirty(1);
    blocking::signal(ctx, dst);
    if nx {
        Reply::Int(1)
    } else {
        Reply::Ok
    }
}

/// Stores a renamed (or moved) entry at `key`, TTL included. Redis deletes
/// a key in the way and adds the new one, so "new" is always announced.
fn renamed_to(ctx: &mut Ctx, key: &[u8], e: Entry) {
    let at = e.expire_at().unwrap_or(0);
    ctx.db().insert(key, e.value, at, e.lru);
    ctx.notify(events::NEW, "new", key);
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_local(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_local(ctx, args, true)
}

/// RENAME / RENAMENX with the keys on two cores.
/// Holds both keys' cores while it moves the entry, so no client sees the
/// key in both places or in neither.
async fn rename_cross(c: ClientRef, args: Vec<Bytes>, nx: bool) -> Reply {
    let db = c.borrow().db;
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (cs, cd) = (core_of(&src), core_of(&dst));
    let txn = Txn::begin([cs, cd]).await;
    let r = rename_steps(&txn, db, src, dst, nx).await;
    txn.end().await;
    r.unwrap_or_else(|e| e)
}

async fn rename_steps(
    txn: &Txn,
    db: usize,
    src: Bytes,
    dst: Bytes,
    nx: bool,
) -> Result<Reply, Reply> {
    let (cs, cd) = (core_of(&src), core_of(&dst));
    let dst_exists = if nx {
        let d = dst.clone();
        txn.call(cd, move || {
            with_ctx(db, |ctx| ctx.lookup_write(&d).is_some())
        })
        .await?
    } else {
        false
    };
    // Outer None: no source; inner None: RENAMENX refused.
    let taken = txn
        .call(cs, move || {
            with_ctx(db, |ctx| {
                ctx.lookup_write(&src)?;
                if dst_exists {
                    return Some(None);
                }
                let e = ctx.db().remove(&src)?;
                blocking::signal(ctx, &src);
                ctx.notify(events::GENERIC, "rename_from", &src);
                ctx.dirty(1);
                Some(Some(e))
            })
        })
        .await?;
    let e = match taken {
        None => return Ok(err(errors::NO_SUCH_KEY)),
        Some(None) => return Ok(Reply::Int(0)),
        Some(Some(e)) => e,
    };
    txn.call(cd, move || {
        with_ctx(db, |ctx| {
            ctx.lookup_write(&dst);
            renamed_to(ctx, &dst, e);
            ctx.notify(events::GENERIC, "rename_to", &dst);
            ctx.dirty(1);
            blocking::signal(ctx, &dst);
        })
    })
    .await?;
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

fn rename_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(rename_cross(c, args, false))
}

fn renamenx_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(rename_cross(c, args, true))
}

/// Parses a database index argument as Redis's getIntFromObject + selectDb.
fn parse_db(b: &[u8]) -> Result<usize, Reply> {
    let n = super::arg_range(b, i32::MIN as i64, i32::MAX as i64, None)?;
    if n < 0 || n >= config::num(Opt::Databases) {
        return Err(err(errors::DB_RANGE));
    }
    Ok(n as usize)
}

/// COPY's options: the target database and REPLACE.
fn parse_copy(db: usize, args: &[Bytes]) -> Result<(usize, bool), Reply> {
    let (mut dst_db, mut replace) = (db, false);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            dst_db = parse_db(&args[i + 1])?;
            i += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    if crate::cluster::enabled() && dst_db != db {
        return Err(err(
            "ERR Copying to another database is not allowed in cluster mode",
        ));
    }
    if dst_db == db && args[1] == args[2] {
        return Err(err(errors::SAME_OBJECT));
    }
    Ok((dst_db, replace))
}

/// The value and TTL COPY duplicates, or None when the source is missing.
fn copy_source(ctx: &mut Ctx, key: &[u8]) -> Option<(Value, i64)> {
    ctx.lookup_read(key)
        .map(|e| (e.value.clone(), e.expire_at().unwrap_or(0)))
}

/// COPY's write half, in the target database.
fn copy_target(ctx: &mut Ctx, key: &[u8], v: Value, at: i64, replace: bool) -> Reply {
    if ctx.lookup_write(key).is_some() && !replace {
        return Reply::Int(0);
    }
    let lru = crate::storage::evict::new_lru();
    ctx.db().insert(key, v, at, lru);
    // Redis deletes a replaced key and adds the copy: always "new".
    ctx.notify(events::NEW, "new", key);
    ctx.notify(events::GENERIC, "copy_to", key);
    ctx.dirty(1);
    blocking::signal(ctx, key);
    Reply::Int(1)
}

fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (dst_db, replace) = match parse_copy(ctx.db, args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some((v, at)) = copy_source(ctx, &args[1]) else {
        return Reply::Int(0);
    };
    let src_db = std::mem::replace(&mut ctx.db, dst_db);
    let r = copy_target(ctx, &args[2], v, at, replace);
    ctx.db = src_db;
    r
}

async fn copy_cross(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let db = c.borrow().db;
    let (dst_db, replace) = match parse_copy(db, &args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (cs, cd) = (core_of(&src), core_of(&dst));
    let txn = Txn::begin([cs, cd]).await;
    let r = async {
        let found = txn
            .call(cs, move || with_ctx(db, |ctx| copy_source(ctx, &src)))
            .await?;
        let Some((v, at)) = found else {
            return Ok(Reply::Int(0));
        };
        txn.call(cd, move || {
            with_ctx(dst_db, |ctx| copy_target(ctx, &dst, v, at, replace))
        })
        .await
    }
    .await;
    txn.end().await;
    r.unwrap_or_else(|e| e)
}

fn copy_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(copy_cross(c, args))
}

/// MOVE: another database on the same core, so no coordination.
fn move_(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if crate::cluster::enabled() {
        return err("ERR MOVE is not allowed in cluster mode");
    }
    let key = &args[1];
    let dst_db = match parse_db(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if dst_db == ctx.db {
        return err(errors::SAME_OBJECT);
    }
    if ctx.lookup_write(key).is_none() {
        return Reply::Int(0);
    }
    let src_db = std::mem::replace(&mut ctx.db, dst_db);
    let taken = ctx.lookup_write(key).is_some();
    ctx.db = src_db;
    if taken {
        return Reply::Int(0);
    }
    let e = ctx.db().remove(key).expect("looked up above");
    // A blocked XREADGROUP on the moved stream ends its wait.
    blocking::signal(ctx, key);
    let src_db = std::mem::replace(&mut ctx.db, dst_db);
    renamed_to(ctx, key, e);
    ctx.db = src_db;
    ctx.notify(events::GENERIC, "move_from", key);
    pubsub::notify(events::GENERIC, "move_to", key, dst_db);
    ctx.dirty(1);
    // Clients blocked on the key in the target database may be served now.
    let src_db = std::mem::replace(&mut ctx.db, dst_db);
    blocking::signal(ctx, key);
    ctx.db = src_db;
    Reply::Int(1)
}

/// KEYS: every core lists its matching live keys; replies are joined in
/// core order.
async fn keys(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let db = c.borrow().db;
    let pat = args[1].clone();
    let parts = runtime::gather(0..runtime::shards(), move || {
        with_ctx(db, |ctx| {
            let (now, all) = (ctx.now, &pat[..] == b"*");
            ctx.db()
                .iter()
                .filter(|(k, e)| {
                    e.expire_at().is_none_or(|t| t > now)
                        && (all || crate::glob::matches(&pat, k, false))
                })
                .map(|(k, _)| Reply::bulk(k))
                .collect::<Vec<_>>()
        })
    })
    .await;
    Reply::Array(parts.into_iter().flatten().collect())
}

fn keys_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(keys(c, args))
}

#[derive(Clone)]
struct ScanOpts {
    count: usize,
    pattern: Option<Bytes>,
    type_name: Option<Bytes>,
}

fn parse_scan_opts(args: &[Bytes]) -> Result<ScanOpts, Reply> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = 0;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is(&args[i], "COUNT") && has_value {
            let n = arg_i64(&args[i + 1])?;
            if n < 1 {
                return Err(err(errors::SYNTAX));
            }
            o.count = n as usize;
        } else if is(&args[i], "MATCH") && has_value {
            // "*" matches everything: same as no pattern.
            o.pattern = Some(args[i + 1].clone()).filter(|p| &p[..] != b"*");
        } else if is(&args[i], "TYPE") && has_value {
            o.type_name = Some(args[i + 1].clone());
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 2;
    }
    Ok(o)
}

/// One SCAN step on the core owning `slot`: lists whole slots from `slot`
/// until COUNT keys or a slot this core does not store. Returns the next
/// slot (0 when the keyspace is done) and the keys that pass the filters.
fn scan_here(ctx: &mut Ctx, slot: usize, o: &ScanOpts) -> (usize, Vec<Bytes>) {
    let me = ctx.shard.id;
    let now = ctx.now;
    let db = ctx.db();
    let mut found = Vec::new();
    let mut s = slot;
    while s < SLOTS && runtime::owner(s) == me && found.len() < o.count {
        db.slot_keys(s, now, &mut found);
        s += 1;
    }
    found.retain(|k| {
        o.pattern
            .as_ref()
            .is_none_or(|p| crate::glob::matches(p, k, false))
            && o.type_name
                .as_ref()
                .is_none_or(|t| db.peek(k).is_some_and(|e| is(t, e.value.type_name())))
    });
    (if s >= SLOTS { 0 } else { s }, found)
}

/// SCAN: the cursor is the next slot to visit, so it walks the cores in
/// slot order and a key present for the whole scan is always returned.
async fn scan(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return err(errors::INVALID_CURSOR);
    };
    let o = match parse_scan_opts(&args[2..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let reply = |next: usize, keys: Vec<Bytes>| {
        Reply::Array(vec![
            Reply::bulk(next.to_string()),
            Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        ])
    };
    // A cursor past the last slot is one we never handed out: done.
    if cursor >= SLOTS as u64 {
        return reply(0, Vec::new());
    }
    let slot = cursor as usize;
    let db = c.borrow().db;
    let mut out = runtime::gather([runtime::owner(slot)], move || {
        with_ctx(db, |ctx| scan_here(ctx, slot, &o))
    })
    .await;
    let (next, keys) = out.pop().expect("one core answered");
    reply(next, keys)
}

fn scan_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(scan(c, args))
}

/// A live random key of this core's part of the database. Expired keys it
/// lands on are removed (with the rest of their slot's) before retrying.
fn random_here(ctx: &mut Ctx) -> Option<Bytes> {
    let mut rng = rand::thread_rng();
    let now = ctx.now;
    for _ in 0..1000 {
        let k = ctx.db().random_key(&mut rng)?;
        let alive = ctx
            .db()
            .peek(&k)
            .is_some_and(|e| e.expire_at().is_none_or(|t| t > now));
        if alive {
            return Some(Bytes::from(k.into_vec()));
        }
        let gone = ctx.db().expire_slot(key_slot(&k), now);
        for k in &gone {
            super::key_expired(ctx.db, k);
        }
        ctx.shard.stats.expired_keys += gone.len() as u64;
        ctx.dirty(gone.len() as u64);
    }
    None
}

/// RANDOMKEY: picks a core weighted by its key count, then a key there.
async fn randomkey(c: ClientRef, _args: Vec<Bytes>) -> Reply {
    let db = c.borrow().db;
    for _ in 0..16 {
        let counts = runtime::gather(0..runtime::shards(), move || {
            with_ctx(db, |ctx| ctx.db().len())
        })
        .await;
        let total: usize = counts.iter().sum();
        if total == 0 {
            return Reply::Nil;
        }
        let mut pick = rand::thread_rng().gen_range(0..total);
        let core = counts
            .iter()
            .position(|&n| {
                if pick < n {
                    true
                } else {
                    pick -= n;
                    false
                }
            })
            .expect("pick is below the total");
        let got = runtime::gather([core], move || with_ctx(db, random_here)).await;
        if let Some(Some(k)) = got.into_iter().next() {
            return Reply::Bulk(k);
        }
    }
    Reply::Nil
}

fn randomkey_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(randomkey(c, args))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

#[derive(Clone, Copy)]
enum ObjectSub {
    Encoding,
    Freq,
    IdleTime,
    RefCount,
}

/// An OBJECT subcommand on the key's own core.
fn object_here(ctx: &mut Ctx, sub: ObjectSub, key: &[u8]) -> Reply {
    use crate::storage::evict;
    let lfu = evict::policy().lfu();
    let saved = std::mem::replace(&mut ctx.no_touch, true);
    let found = ctx.lookup_read_nonotify(key).map(|e| match sub {
        ObjectSub::Encoding => Reply::bulk(e.value.encoding()),
        // The field holds one of the two, by policy (storage::evict).
        ObjectSub::Freq if !lfu => err(errors::LFU_NOT_SELECTED),
        ObjectSub::Freq => Reply::Int(evict::lfu_counter(e.lru) as i64),
        ObjectSub::IdleTime if lfu => err(errors::LFU_SELECTED),
        ObjectSub::IdleTime => Reply::Int(evict::idle_secs(e.lru) as i64),
        // Redis shares the objects of small integers (0..10000).
        ObjectSub::RefCount => match &e.value {
            Value::Str(b)
                if e.value.encoding() == "int"
                    && crate::protocol::parse_i64(b).is_some_and(|n| (0..10000).contains(&n)) =>
            {
                Reply::Int(i32::MAX as i64)
            }
            _ => Reply::Int(1),
        },
    });
    ctx.no_touch = saved;
    found.unwrap_or(Reply::Nil)
}

/// OBJECT is a container: subcommand arity is checked here, then the
/// subcommand runs on the core owning the key.
async fn object(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let name = String::from_utf8_lossy(&args[1]).to_lowercase();
    let (sub, arity) = match name.as_str() {
        "help" => (None, 2),
        "encoding" => (Some(ObjectSub::Encoding), 3),
        "freq" => (Some(ObjectSub::Freq), 3),
        "idletime" => (Some(ObjectSub::IdleTime), 3),
        "refcount" => (Some(ObjectSub::RefCount), 3),
        _ => return errors::unknown_subcommand("object", &args[1]),
    };
    if args.len() != arity {
        return errors::wrong_args(&format!("object|{name}"));
    }
    let Some(sub) = sub else {
        return Reply::Array(OBJECT_HELP.iter().map(|l| Reply::status(*l)).collect());
    };
    let db = c.borrow().db;
    let key = args[2].clone();
    let job: runtime::Job = Box::new(move || with_ctx(db, |ctx| object_here(ctx, sub, &key)));
    runtime::run_on(core_of(&args[2]), vec![job])
        .await
        .pop()
        .unwrap_or(Reply::Nil)
}

fn object_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(object(c, args))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const N: (i32, i32, i32) = (0, 0, 0);
    const K1: (i32, i32, i32) = (1, 1, 1);
    const K2: (i32, i32, i32) = (1, 2, 1);
    const ALL: (i32, i32, i32) = (1, -1, 1);
    let g = "generic";
    t.extend([
        spec("del", -2, WRITE, ALL, Key(del), Cross::Split(Merge::Sum), g, "Delete a key", "1.0.0"),
        spec("unlink", -2, WRITE | FAST, ALL, Key(del), Cross::Split(Merge::Sum), g, "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "4.0.0"),
        spec("exists", -2, READONLY | FAST, ALL, Key(exists), Cross::Split(Merge::Sum), g, "Determine if a key exists", "1.0.0"),
        spec("touch", -2, READONLY | FAST, ALL, Key(touch), Cross::Split(Merge::Sum), g, "Alters the last access time of a key(s). Returns the number of existing keys specified.", "3.2.1"),
        spec("expire", -3, WRITE | FAST, K1, Key(expire), Cross::Never, g, "Set a key's time to live in seconds", "1.0.0"),
        spec("pexpire", -3, WRITE | FAST, K1, Key(pexpire), Cross::Never, g, "Set a key's time to live in milliseconds", "2.6.0"),
        spec("expireat", -3, WRITE | FAST, K1, Key(expireat), Cross::Never, g, "Set the expiration for a key as a UNIX timestamp", "1.2.0"),
        spec("pexpireat", -3, WRITE | FAST, K1, Key(pexpireat), Cross::Never, g, "Set the expiration for a key as a UNIX timestamp specified in milliseconds", "2.6.0"),
        spec("ttl", 2, READONLY | FAST, K1, Key(ttl), Cross::Never, g, "Get the time to live for a key in seconds", "1.0.0"),
        spec("pttl", 2, READONLY | FAST, K1, Key(pttl), Cross::Never, g, "Get the time to live for a key in milliseconds", "2.6.0"),
        spec("expiretime", 2, READONLY | FAST, K1, Key(expiretime), Cross::Never, g, "Get the expiration Unix timestamp for a key", "7.0.0"),
        spec("pexpiretime", 2, READONLY | FAST, K1, Key(pexpiretime), Cross::Never, g, "Get the expiration Unix timestamp for a key in milliseconds", "7.0.0"),
        spec("persist", 2, WRITE | FAST, K1, Key(persist), Cross::Never, g, "Remove the expiration from a key", "2.2.0"),
        spec("type", 2, READONLY | FAST, K1, Key(type_), Cross::Never, g, "Determine the type stored at key", "1.0.0"),
        spec("rename", 3, WRITE, K2, Key(rename), Cross::Coord(rename_coord), g, "Rename a key", "1.0.0"),
        spec("renamenx", 3, WRITE | FAST, K2, Key(renamenx), Cross::Coord(renamenx_coord), g, "Rename a key, only if the new key does not exist", "1.0.0"),
        spec("copy", -3, WRITE | DENYOOM, K2, Key(copy), Cross::Coord(copy_coord), g, "Copy a key", "6.2.0"),
        spec("move", 3, WRITE | FAST, K1, Key(move_), Cross::Never, g, "Move a key to another database", "1.0.0"),
        spec("keys", 2, READONLY, N, Coord(keys_coord), Cross::Never, g, "Find all keys matching the given pattern", "1.0.0"),
        spec("scan", -2, READONLY, N, Coord(scan_coord), Cross::Never, g, "Incrementally iterate the keys space", "2.8.0"),
        spec("randomkey", 1, READONLY, N, Coord(randomkey_coord), Cross::Never, g, "Return a random key from the keyspace", "1.0.0"),
        spec("object", -2, 0, N, Coord(object_coord), Cross::Never, g, "A container for object introspection commands", "2.2.3"),
    ]);
}
