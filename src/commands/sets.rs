//! The set family, with Redis 7.0's replies and error texts (encodings as
//! Redis 7.2: small string sets are listpacks).
//!
//! Every command runs on the core owning its keys when they share one.
//! When the keys of SINTER/SUNION/SDIFF (and their STORE forms),
//! SINTERCARD or SMOVE live on several cores, a `runtime::Txn` holds every
//! involved core: the source sets are copied from their cores, the result
//! is computed here, and the destination is written before the gates open,
//! so no client sees a half-done SMOVE or *STORE.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{
    arg_i64, flags::*, is, parse_cursor, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec,
};
use crate::config::events;
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::{self, Txn};
use crate::storage::evict::new_lru;
use crate::storage::set::{Elem, Set};
use crate::storage::{Db, Value};

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

fn as_set(v: &Value) -> Option<&Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn as_set_mut(v: &mut Value) -> Option<&mut Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

/// Runs `f` on the set at `key` for reading: Ok(None) when missing.
fn read<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&Set) -> R) -> Result<Option<R>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_set(&e.value)
            .map(|s| Some(f(s)))
            .ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// Runs `f` on the set at `key` for writing. Ok(None) when missing. The
/// caller announces the change, then calls [`emptied`].
fn write<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Set) -> R) -> Result<Option<R>, Reply> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => match as_set_mut(&mut e.value) {
            None => Err(err(errors::WRONGTYPE)),
            Some(s) => Ok(Some(f(s))),
        },
    }
}

/// Deletes `key` ("del") if a removal left its set empty.
fn emptied(ctx: &mut Ctx, key: &[u8]) {
    if matches!(ctx.db().peek(key).map(|e| &e.value), Some(Value::Set(s)) if s.is_empty()) {
        ctx.delete(key);
    }
}

fn bulk(e: Elem) -> Reply {
    Reply::Bulk(e.to_bytes())
}

fn or_reply(r: Result<Reply, Reply>) -> Reply {
    r.unwrap_or_else(|e| e)
}

/// Adds `members` to the set at `key`, creating it shaped for them.
/// Returns how many were new.
fn add(ctx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<i64, Reply> {
    let add_all = |s: &mut Set| members.iter().filter(|m| s.insert(m)).count() as i64;
    // One keyspace lookup: a missing set is built whole, then stored.
    let n = match ctx.lookup_write(key) {
        Some(e) => add_all(as_set_mut(&mut e.value).ok_or_else(|| err(errors::WRONGTYPE))?),
        None => {
            let mut s = Set::new(&members[0], members.len());
            let n = add_all(&mut s);
            ctx.insert(key, Value::Set(s), 0, new_lru());
            n
        }
    };
    if n > 0 {
        ctx.notify(events::SET, "sadd", key);
    }
    Ok(n)
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match add(ctx, &args[1], &args[2..]) {
        Ok(n) => {
            ctx.dirty(n as u64);
            Reply::Int(n)
        }
        Err(e) => e,
    }
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = write(ctx, &args[1], |s| {
        args[2..].iter().filter(|m| s.remove(m)).count() as i64
    });
    match r {
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                ctx.notify(events::SET, "srem", &args[1]);
                emptied(ctx, &args[1]);
            }
            ctx.dirty(n as u64);
            Reply::Int(n)
        }
        Err(e) => e,
    }
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read(ctx, &args[1], |s| s.len() as i64) {
        Ok(n) => Reply::Int(n.unwrap_or(0)),
        Err(e) => e,
    }
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read(ctx, &args[1], |s| s.contains(&args[2])) {
        Ok(b) => Reply::Int(b.unwrap_or(false) as i64),
        Err(e) => e,
    }
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = read(ctx, &args[1], |s| {
        args[2..]
            .iter()
            .map(|m| Reply::Int(s.contains(m) as i64))
            .collect()
    });
    match r {
        Ok(Some(v)) => Reply::Array(v),
        Ok(None) => Reply::Array(vec![Reply::Int(0); args.len() - 2]),
        Err(e) => e,
    }
}

/// SPOP's and SRANDMEMBER's optional count, and the syntax error when
/// more arguments follow.
fn count_arg(args: &[Bytes]) -> Result<Option<&Bytes>, Reply> {
    match args.len() {
        2 => Ok(None),
        3 => Ok(Some(&args[2])),
        _ => Err(err(errors::SYNTAX)),
    }
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    or_reply(spop_inner(ctx, args))
}

fn spop_inner(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let key = &args[1];
    let mut rng = rand::thread_rng();
    let Some(count) = count_arg(args)? else {
        let got = write(ctx, key, |s| {
            let i = rng.gen_range(0..s.len());
            s.pop_at(i)
        })?;
        if got.is_some() {
            ctx.dirty(1);
            ctx.notify(events::SET, "spop", key);
            emptied(ctx, key);
        }
        return Ok(Reply::bulk_opt(got));
    };
    let count = match arg_i64(count) {
        Ok(n) if n >= 0 => n as u64,
        _ => return Err(err(errors::MUST_BE_POSITIVE)),
    };
    let popped = write(ctx, key, |s| {
        if count == 0 {
            return Vec::new();
        }
        if count >= s.len() as u64 {
            let all: Vec<Reply> = s.iter().map(bulk).collect();
            *s = Set::empty();
            return all;
        }
        (0..count)
            .map(|_| {
                let i = rng.gen_range(0..s.len());
                Reply::Bulk(s.pop_at(i))
            })
            .collect()
    })?
    .unwrap_or_default();
    if !popped.is_empty() {
        ctx.notify(events::SET, "spop", key);
        emptied(ctx, key);
    }
    ctx.dirty(popped.len() as u64);
    Ok(Reply::Set(popped))
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    or_reply(srandmember_inner(ctx, args))
}

fn srandmember_inner(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let key = &args[1];
    let mut rng = rand::thread_rng();
    let Some(count) = count_arg(args)? else {
        let got = read(ctx, key, |s| bulk(s.get(rng.gen_range(0..s.len()))))?;
        return Ok(got.unwrap_or(Reply::Nil));
    };
    let n = super::random_count(count, false)?;
    let picked = read(ctx, key, |s| {
        let size = s.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let want = if n < 0 {
            super::repeat_count(n.unsigned_abs())?
        } else {
            n as usize
        };
        // A listpack has no cheap position lookup: list it once.
        let listed: Option<Vec<Elem>> = (!s.random_access()).then(|| s.iter().collect());
        let at = |i: usize| listed.as_ref().map_or_else(|| s.get(i), |v| v[i]);
        if n < 0 {
            return Ok((0..want)
                .map(|_| bulk(at(rng.gen_range(0..size))))
                .collect());
        }
        if want >= size {
            return Ok(s.iter().map(bulk).collect());
        }
        if want * 3 > size {
            let mut idx: Vec<usize> = (0..size).collect();
            let (chosen, _) = idx.partial_shuffle(&mut rng, want);
            return Ok(chosen.iter().map(|&i| bulk(at(i))).collect());
        }
        let mut seen = hashbrown::HashSet::with_capacity(want);
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let i = rng.gen_range(0..size);
            if seen.insert(i) {
                out.push(bulk(at(i)));
            }
        }
        Ok(out)
    })?;
    Ok(Reply::Array(picked.transpose()?.unwrap_or_default()))
}

/// SMOVE with both keys on this core.
fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst, m) = (&args[1], &args[2], &args[3]);
    // Both keys are looked up (and expired) first, as Redis does.
    let (s, d) = (holds(ctx, src, m), holds(ctx, dst, m));
    let has = match s {
        Holds::Missing => return Reply::Int(0),
        Holds::WrongType => return err(errors::WRONGTYPE),
        Holds::Set { member } => member,
    };
    if d == Holds::WrongType {
        return err(errors::WRONGTYPE);
    }
    if src == dst || !has {
        return Reply::Int(has as i64);
    }
    smove_out(ctx, src, m);
    let _ = add(ctx, dst, std::slice::from_ref(m));
    Reply::Int(1)
}

/// SMOVE's source half: the member leaves `key` ("srem", then "del" if
/// that emptied it).
fn smove_out(ctx: &mut Ctx, key: &[u8], m: &[u8]) {
    let _ = write(ctx, key, |s| s.remove(m));
    ctx.notify(events::SET, "srem", key);
    emptied(ctx, key);
    ctx.dirty(1);
}

/// Where a SMOVE key stands, read under the transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    Missing,
    WrongType,
    Set { member: bool },
}

fn holds(ctx: &mut Ctx, key: &[u8], m: &[u8]) -> Holds {
    match ctx.lookup_write(key) {
        None => Holds::Missing,
        Some(e) => match as_set(&e.value) {
            None => Holds::WrongType,
            Some(s) => Holds::Set {
                member: s.contains(m),
            },
        },
    }
}

/// SMOVE with the keys on two cores.
async fn smove_across(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let db = c.borrow().db;
    let (src, dst, m) = (args[1].clone(), args[2].clone(), args[3].clone());
    let (cs, cd) = (core_of(&src), core_of(&dst));
    let txn = Txn::begin([cs, cd]).await;
    let r = async {
        let (s, d) = {
            let (src, dst, m1, m2) = (src.clone(), dst.clone(), m.clone(), m.clone());
            futures_util::future::join(
                txn.call(cs, move || with_ctx(db, |ctx| holds(ctx, &src, &m1))),
                txn.call(cd, move || with_ctx(db, |ctx| holds(ctx, &dst, &m2))),
            )
            .await
        };
        let (s, d) = (s?, d?);
        let member = match s {
            Holds::Missing => return Ok(Reply::Int(0)),
            Holds::WrongType => return Ok(err(errors::WRONGTYPE)),
            Holds::Set { member } => member,
        };
        if d == Holds::WrongType {
            return Ok(err(errors::WRONGTYPE));
        }
        if !member {
            return Ok(Reply::Int(0));
        }
        let m2 = m.clone();
        let (a, b) = futures_util::future::join(
            txn.call(cs, move || with_ctx(db, |ctx| smove_out(ctx, &src, &m))),
            txn.call(cd, move || {
                with_ctx(db, |ctx| {
                    let _ = add(ctx, &dst, std::slice::from_ref(&m2));
                })
            }),
        )
        .await;
        a?;
        b?;
        Ok(Reply::Int(1))
    }
    .await;
    txn.end().await;
    or_reply(r)
}

fn smove_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(smove_across(c, args))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Looks up the keys in order (expiring, counting hits and misses) and
/// checks their types. As Redis, a missing key does not stop the walk, so
/// WRONGTYPE wins over it; the first key of another type does.
fn check_sources(ctx: &mut Ctx, keys: &[Bytes]) -> Result<(), Reply> {
    for k in keys {
        read(ctx, k, |_| ())?;
    }
    Ok(())
}

/// The sets at `keys` of an already checked database (None: missing).
fn sources<'a>(db: &'a Db, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    keys.iter()
        .map(|k| db.peek(k).and_then(|e| as_set(&e.value)))
        .collect()
}

/// The members of the intersection, smallest set first, up to `limit`
/// (0: all), given to `f`; returns how many.
fn inter_each(sets: &[Option<&Set>], limit: usize, mut f: impl FnMut(Elem)) -> usize {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return 0;
    };
    sets.sort_by_key(|s| s.len());
    let mut n = 0;
    for e in sets[0].iter() {
        if limit != 0 && n >= limit {
            break;
        }
        if e.with(|b| sets[1..].iter().all(|s| s.contains(b))) {
            f(e);
            n += 1;
        }
    }
    n
}

/// The result of `op` over `sets` as a new set (built as Redis builds a
/// destination: an intset converting as members arrive).
fn combine(op: Op, sets: &[Option<&Set>]) -> Set {
    let mut out = Set::empty();
    let mut add = |e: Elem| {
        e.with(|b| out.insert(b));
    };
    match op {
        Op::Inter => {
            inter_each(sets, 0, add);
        }
        Op::Union => sets
            .iter()
            .flatten()
            .for_each(|s| s.iter().for_each(&mut add)),
        Op::Diff => {
            if let Some(first) = sets[0] {
                for e in first.iter() {
                    let gone = e.with(|b| sets[1..].iter().flatten().any(|s| s.contains(b)));
                    if !gone {
                        add(e);
                    }
                }
            }
        }
    }
    out
}

/// SINTER/SUNION/SDIFF's reply over the sets read.
fn op_reply(op: Op, sets: &[Option<&Set>]) -> Reply {
    if op == Op::Inter {
        let mut v = Vec::new();
        inter_each(sets, 0, |e| v.push(bulk(e)));
        return Reply::Set(v);
    }
    Reply::Set(combine(op, sets).iter().map(bulk).collect())
}

/// Stores `result` at `dst` (deleting it when empty); replies its size.
fn store(ctx: &mut Ctx, dst: &[u8], op: Op, result: Set) -> Reply {
    let n = result.len() as i64;
    if n == 0 {
        if ctx.lookup_write(dst).is_some() {
            ctx.delete(dst);
            ctx.dirty(1);
        }
    } else {
        ctx.lookup_write(dst);
        ctx.insert(dst, Value::Set(result), 0, new_lru());
        ctx.dirty(1);
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        ctx.notify(events::SET, event, dst);
    }
    Reply::Int(n)
}

fn op_local(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Reply {
    if let Err(e) = check_sources(ctx, keys) {
        return e;
    }
    op_reply(op, &sources(ctx.db(), keys))
}

fn store_local(ctx: &mut Ctx, args: &[Bytes], op: Op) -> Reply {
    let keys = &args[2..];
    if let Err(e) = check_sources(ctx, keys) {
        return e;
    }
    let result = combine(op, &sources(ctx.db(), keys));
    store(ctx, &args[1], op, result)
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    op_local(ctx, &args[1..], Op::Inter)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    op_local(ctx, &args[1..], Op::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    op_local(ctx, &args[1..], Op::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    op_local(ctx, &args[1..], Op::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store_local(ctx, args, Op::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store_local(ctx, args, Op::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store_local(ctx, args, Op::Diff)
}

/// Copies the sets at `keys` from their cores under `txn`, in key order;
/// WRONGTYPE if any key holds another type.
async fn fetch(txn: &Txn, db: usize, keys: &[Bytes]) -> Result<Vec<Option<Set>>, Reply> {
    let cores = txn.cores().to_vec();
    let jobs = cores.iter().map(|&core| {
        let mine: Vec<Bytes> = keys
            .iter()
            .filter(|k| core_of(k) == core)
            .cloned()
            .collect();
        txn.call(core, move || {
            with_ctx(db, |ctx| {
                check_sources(ctx, &mine)?;
                Ok::<_, Reply>(
                    sources(ctx.db(), &mine)
                        .into_iter()
                        .map(|s| s.cloned())
                        .collect::<Vec<_>>(),
                )
            })
        })
    });
    let got = futures_util::future::join_all(jobs).await;
    let mut per_core = Vec::new();
    for r in got {
        per_core.push(r??.into_iter());
    }
    // Put the sets back in key order.
    Ok(keys
        .iter()
        .map(|k| {
            let i = cores.iter().position(|&c| c == core_of(k)).expect("a core");
            per_core[i].next().expect("one set per key")
        })
        .collect())
}

fn borrowed(sets: &[Option<Set>]) -> Vec<Option<&Set>> {
    sets.iter().map(Option::as_ref).collect()
}

/// SINTER/SUNION/SDIFF (`dst` None) or their STORE forms over keys on
/// several cores.
async fn op_across(c: ClientRef, args: Vec<Bytes>, op: Op, dst: Option<Bytes>) -> Reply {
    let db = c.borrow().db;
    let keys = &args[if dst.is_some() { 2 } else { 1 }..];
    let cores = keys.iter().chain(&dst).map(|k| core_of(k));
    let txn = Txn::begin(cores).await;
    let sets = fetch(&txn, db, keys).await;
    let r = match (sets, dst) {
        (Err(e), _) => Ok(e),
        (Ok(sets), None) => Ok(op_reply(op, &borrowed(&sets))),
        (Ok(sets), Some(dst)) => {
            let result = combine(op, &borrowed(&sets));
            drop(sets);
            txn.call(core_of(&dst), move || {
                with_ctx(db, |ctx| store(ctx, &dst, op, result))
            })
            .await
        }
    };
    txn.end().await;
    or_reply(r)
}

fn sinter_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(op_across(c, args, Op::Inter, None))
}

fn sunion_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(op_across(c, args, Op::Union, None))
}

fn sdiff_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(op_across(c, args, Op::Diff, None))
}

fn sinterstore_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    let dst = args[1].clone();
    Box::pin(op_across(c, args, Op::Inter, Some(dst)))
}

fn sunionstore_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    let dst = args[1].clone();
    Box::pin(op_across(c, args, Op::Union, Some(dst)))
}

fn sdiffstore_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    let dst = args[1].clone();
    Box::pin(op_across(c, args, Op::Diff, Some(dst)))
}

/// SINTERCARD's keys and LIMIT (0: none).
fn parse_sintercard(args: &[Bytes]) -> Result<(Vec<Bytes>, usize), Reply> {
    let numkeys = match arg_i64(&args[1]) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Err(err(errors::NUMKEYS_POSITIVE)),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(err(errors::SET_NUMKEYS_TOO_MANY));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut j = end;
    while j < args.len() {
        if is(&args[j], "LIMIT") && j + 1 < args.len() {
            limit = match arg_i64(&args[j + 1]) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(err(errors::LIMIT_NEGATIVE)),
            };
            j += 2;
        } else {
            return Err(err(errors::SYNTAX));
        }
    }
    Ok((args[2..end].to_vec(), limit))
}

/// SINTERCARD names its keys after a count, so it routes itself: on the
/// keys' core when they share one, else under a transaction.
async fn sintercard(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let (keys, limit) = match parse_sintercard(&args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let db = c.borrow().db;
    let card = |sets: &[Option<&Set>]| Reply::Int(inter_each(sets, limit, |_| ()) as i64);
    let first = core_of(&keys[0]);
    if keys.iter().all(|k| core_of(k) == first) {
        let job: runtime::Job = Box::new(move || {
            with_ctx(db, |ctx| match check_sources(ctx, &keys) {
                Ok(()) => Reply::Int(inter_each(&sources(ctx.db(), &keys), limit, |_| ()) as i64),
                Err(e) => e,
            })
        });
        return runtime::run_on(first, vec![job])
            .await
            .pop()
            .unwrap_or(Reply::Nil);
    }
    let txn = Txn::begin(keys.iter().map(|k| core_of(k))).await;
    let sets = fetch(&txn, db, &keys).await;
    txn.end().await;
    match sets {
        Ok(sets) => card(&borrowed(&sets)),
        Err(e) => e,
    }
}

fn sintercard_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(sintercard(c, args))
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    or_reply(sscan_inner(ctx, args))
}

fn sscan_inner(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = parse_cursor(&args[2]).ok_or_else(|| err(errors::INVALID_CURSOR))?;
    let reply = |next: u64, items: Vec<Reply>| {
        Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(items)])
    };
    // Redis reads the key before it parses the options.
    if read(ctx, &args[1], |_| ())?.is_none() {
        return Ok(reply(0, Vec::new()));
    }
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            let n = arg_i64(&args[i + 1])?;
            if n < 1 {
                return Err(err(errors::SYNTAX));
            }
            count = n as usize;
        } else if is(&args[i], "MATCH") && i + 1 < args.len() {
            pattern = Some(&args[i + 1]).filter(|p| &p[..] != b"*");
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 2;
    }
    let out = read(ctx, &args[1], |s| {
        let mut items = Vec::new();
        let next = s.scan(cursor, count, |e| {
            e.with(|b| {
                if pattern.is_none_or(|p| crate::glob::matches(p, b, false)) {
                    items.push(Reply::bulk(b));
                }
            })
        });
        (next, items)
    })?;
    let (next, items) = out.unwrap_or_default();
    Ok(reply(next, items))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const N: (i32, i32, i32) = (0, 0, 0);
    const K1: (i32, i32, i32) = (1, 1, 1);
    const K2: (i32, i32, i32) = (1, 2, 1);
    const ALL: (i32, i32, i32) = (1, -1, 1);
    let g = "set";
    t.extend([
        spec(
            "sadd",
            -3,
            WRITE | DENYOOM | FAST,
            K1,
            Key(sadd),
            Cross::Never,
            g,
            "Add one or more members to a set",
            "1.0.0",
        ),
        spec(
            "srem",
            -3,
            WRITE | FAST,
            K1,
            Key(srem),
            Cross::Never,
            g,
            "Remove one or more members from a set",
            "1.0.0",
        ),
        spec(
            "scard",
            2,
            READONLY | FAST,
            K1,
            Key(scard),
            Cross::Never,
            g,
            "Get the number of members in a set",
            "1.0.0",
        ),
        spec(
            "sismember",
            3,
            READONLY | FAST,
            K1,
            Key(sismember),
            Cross::Never,
            g,
            "Determine if a given value is a member of a set",
            "1.0.0",
        ),
        spec(
            "smismember",
            -3,
            READONLY | FAST,
            K1,
            Key(smismember),
            Cross::Never,
            g,
            "Returns the membership associated with the given elements for a set",
            "6.2.0",
        ),
        spec(
            "smembers",
            2,
            READONLY,
            K1,
            Key(smembers),
            Cross::Never,
            g,
            "Get all the members in a set",
            "1.0.0",
        ),
        spec(
            "spop",
            -2,
            WRITE | FAST,
            K1,
            Key(spop),
            Cross::Never,
            g,
            "Remove and return one or multiple random members from a set",
            "1.0.0",
        ),
        spec(
            "srandmember",
            -2,
            READONLY,
            K1,
            Key(srandmember),
            Cross::Never,
            g,
            "Get one or multiple random members from a set",
            "1.0.0",
        ),
        spec(
            "smove",
            4,
            WRITE | FAST,
            K2,
            Key(smove),
            Cross::Coord(smove_coord),
            g,
            "Move a member from one set to another",
            "1.0.0",
        ),
        spec(
            "sinter",
            -2,
            READONLY,
            ALL,
            Key(sinter),
            Cross::Coord(sinter_coord),
            g,
            "Intersect multiple sets",
            "1.0.0",
        ),
        spec(
            "sintercard",
            -3,
            READONLY | MOVABLE_KEYS,
            N,
            Coord(sintercard_coord),
            Cross::Never,
            g,
            "Intersect multiple sets and return the cardinality of the result",
            "7.0.0",
        ),
        spec(
            "sinterstore",
            -3,
            WRITE | DENYOOM,
            ALL,
            Key(sinterstore),
            Cross::Coord(sinterstore_coord),
            g,
            "Intersect multiple sets and store the resulting set in a key",
            "1.0.0",
        ),
        spec(
            "sunion",
            -2,
            READONLY,
            ALL,
            Key(sunion),
            Cross::Coord(sunion_coord),
            g,
            "Add multiple sets",
            "1.0.0",
        ),
        spec(
            "sunionstore",
            -3,
            WRITE | DENYOOM,
            ALL,
            Key(sunionstore),
            Cross::Coord(sunionstore_coord),
            g,
            "Add multiple sets and store the resulting set in a key",
            "1.0.0",
        ),
        spec(
            "sdiff",
            -2,
            READONLY,
            ALL,
            Key(sdiff),
            Cross::Coord(sdiff_coord),
            g,
            "Subtract multiple sets",
            "1.0.0",
        ),
        spec(
            "sdiffstore",
            -3,
            WRITE | DENYOOM,
            ALL,
            Key(sdiffstore),
            Cross::Coord(sdiffstore_coord),
            g,
            "Subtract multiple sets and store the resulting set in a key",
            "1.0.0",
        ),
        spec(
            "sscan",
            -3,
            READONLY,
            K1,
            Key(sscan),
            Cross::Never,
            g,
            "Incrementally iterate Set elements",
            "2.8.0",
        ),
    ]);
}
