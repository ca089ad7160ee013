//! The list family and its blocking commands, with Redis 7.0's replies
//! and error texts.
//!
//! Single-key commands run on the key's core. LMOVE/RPOPLPUSH with the
//! keys on two cores hold both cores' gates (`runtime::Txn`), so the
//! element is never seen in both lists or in neither. LMPOP tries its keys
//! in order, each on its core. The blocking commands park the client in
//! `blocking::block`; every push calls `blocking::signal` so the key's
//! waiters are served on its core, first blocked first.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::blocking::{self, Outcome};
use super::{arg_i64, flags::*, is, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::{self, Txn};
use crate::storage::evict::new_lru;
use crate::storage::journal;
use crate::storage::list::{End, List};
use crate::storage::Value;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

/// `list-max-listpack-size`, read per command (it is mutable).
fn fill() -> i64 {
    config::num(Opt::ListMaxListpackSize)
}

fn as_list(v: &mut Value) -> Option<&mut List> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

/// The list at `key` for writing: None when missing, WRONGTYPE for another type.
fn list_w<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut List>, Reply> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => as_list(&mut e.value)
            .map(Some)
            .ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// The list at `key` for reading (counts a hit or miss).
fn list_r<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut List>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_list(&mut e.value)
            .map(Some)
            .ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// Turns `Result<Reply, Reply>` into the reply.
fn done(r: Result<Reply, Reply>) -> Reply {
    r.unwrap_or_else(|e| e)
}

fn parse_end(b: &[u8]) -> Result<End, Reply> {
    if is(b, "LEFT") {
        Ok(End::Head)
    } else if is(b, "RIGHT") {
        Ok(End::Tail)
    } else {
        Err(err(errors::SYNTAX))
    }
}

/// Pushes `vals` at `end` of the list at `key`, creating the list when it
/// is missing unless `only_existing` (LPUSHX: then nothing happens and the
/// length is 0). Returns the new length. One keyspace lookup: a missing
/// list is built whole, then stored.
fn push_vals(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    vals: &[Bytes],
    only_existing: bool,
) -> Result<usize, Reply> {
    let f = fill();
    let n = match ctx.lookup_write(key) {
        Some(e) => {
            let l = as_list(&mut e.value).ok_or_else(|| err(errors::WRONGTYPE))?;
            vals.iter().for_each(|v| l.push(end, v, f));
            l.len()
        }
        None if only_existing => return Ok(0),
        None => {
            let mut l = Box::<List>::default();
            vals.iter().for_each(|v| l.push(end, v, f));
            let n = l.len();
            ctx.insert(key, Value::List(l), 0, new_lru());
            n
        }
    };
    ctx.dirty(vals.len() as u64);
    let event = if end == End::Head { "lpush" } else { "rpush" };
    ctx.notify(events::LIST, event, key);
    blocking::signal(ctx, key);
    Ok(n)
}

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> Reply {
    match push_vals(ctx, &args[1], end, &args[2..], only_existing) {
        Ok(n) => Reply::Int(n as i64),
        Err(e) => e,
    }
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Tail, true)
}

/// Pops up to `count` elements from a list known to exist; deletes the key
/// when it empties.
fn pop_n(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> Vec<Bytes> {
    let f = fill();
    let Ok(Some(l)) = list_w(ctx, key) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(count.min(l.len()));
    while out.len() < count {
        match l.pop(end, f) {
            Some(b) => out.push(b),
            None => break,
        }
    }
    popped(ctx, key, end, out.len());
    out
}

/// After `n` elements left `key` from `end`: the pop event, and the key
/// deleted ("del") when the list is now empty (Redis's listElementsRemoved).
fn popped(ctx: &mut Ctx, key: &[u8], end: End, n: usize) {
    if n == 0 {
        return;
    }
    let event = if end == End::Head { "lpop" } else { "rpop" };
    ctx.notify(events::LIST, event, key);
    if matches!(ctx.db().peek(key).map(|e| &e.value), Some(Value::List(l)) if l.is_empty()) {
        ctx.delete(key);
    }
    ctx.dirty(n as u64);
}

fn bulks(v: Vec<Bytes>) -> Reply {
    Reply::Array(v.into_iter().map(Reply::Bulk).collect())
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End, name: &str) -> Reply {
    if args.len() > 3 {
        return errors::wrong_args(name);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match arg_i64(a) {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return err(errors::MUST_BE_POSITIVE),
        },
    };
    let key = &args[1];
    match list_w(ctx, key) {
        Err(e) => return e,
        Ok(None) => {
            return if count.is_some() {
                Reply::NilArray
            } else {
                Reply::Nil
            }
        }
        Ok(Some(_)) => {}
    }
    match count {
        None => Reply::Bulk(
            pop_n(ctx, key, end, 1)
                .pop()
                .expect("lists are never empty"),
        ),
        Some(n) => bulks(pop_n(ctx, key, end, n)),
    }
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Head, "lpop")
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Tail, "rpop")
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match list_r(ctx, &args[1]) {
        Err(e) => e,
        Ok(l) => Reply::Int(l.map_or(0, |l| l.len()) as i64),
    }
}

/// Redis's range normalization: Some((start, stop)) within the list, or
/// None when the range is empty.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done((|| {
        let start = arg_i64(&args[2])?;
        let stop = arg_i64(&args[3])?;
        let Some(l) = list_r(ctx, &args[1])? else {
            return Ok(Reply::Array(vec![]));
        };
        let Some((a, b)) = clamp_range(start, stop, l.len()) else {
            return Ok(Reply::Array(vec![]));
        };
        let mut out = Vec::with_capacity(b - a + 1);
        l.each_from(a, |e| {
            out.push(Reply::bulk(e));
            out.len() < b - a + 1
        });
        Ok(Reply::Array(out))
    })())
}

/// A list index (negative from the tail) as a position, if in range.
fn index_of(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done((|| {
        let Some(l) = list_r(ctx, &args[1])? else {
            return Ok(Reply::Nil);
        };
        let i = arg_i64(&args[2])?;
        Ok(index_of(i, l.len())
            .and_then(|i| l.get(i))
            .map_or(Reply::Nil, Reply::Bulk))
    })())
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = fill();
    done((|| {
        let Some(l) = list_w(ctx, &args[1])? else {
            return Err(err(errors::NO_SUCH_KEY));
        };
        let i = arg_i64(&args[2])?;
        let Some(i) = index_of(i, l.len()) else {
            return Err(err(errors::LIST_INDEX_OUT_OF_RANGE));
        };
        l.set(i, &args[3], f);
        ctx.dirty(1);
        ctx.notify(events::LIST, "lset", &args[1]);
        Ok(Reply::Ok)
    })())
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = fill();
    done((|| {
        let after = if is(&args[2], "AFTER") {
            true
        } else if is(&args[2], "BEFORE") {
            false
        } else {
            return Err(err(errors::SYNTAX));
        };
        let Some(l) = list_w(ctx, &args[1])? else {
            return Ok(Reply::Int(0));
        };
        if !l.insert(&args[3], &args[4], after, f) {
            return Ok(Reply::Int(-1));
        }
        let n = l.len();
        ctx.dirty(1);
        ctx.notify(events::LIST, "linsert", &args[1]);
        Ok(Reply::Int(n as i64))
    })())
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = fill();
    done((|| {
        let count = arg_i64(&args[2])?;
        let key = &args[1];
        let Some(l) = list_w(ctx, key)? else {
            return Ok(Reply::Int(0));
        };
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let n = l.remove(&args[3], limit, count < 0, f);
        let empty = l.is_empty();
        if n > 0 {
            ctx.notify(events::LIST, "lrem", key);
        }
        if empty {
            ctx.delete(key);
        }
        ctx.dirty(n as u64);
        Ok(Reply::Int(n as i64))
    })())
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = fill();
    done((|| {
        let start = arg_i64(&args[2])?;
        let stop = arg_i64(&args[3])?;
        let key = &args[1];
        let Some(l) = list_w(ctx, key)? else {
            return Ok(Reply::Ok);
        };
        let before = l.len();
        match clamp_range(start, stop, before) {
            Some((a, b)) => l.trim(a, b, f),
            None => l.clear(),
        }
        let removed = before - l.len();
        let empty = l.is_empty();
        ctx.notify(events::LIST, "ltrim", key);
        if empty {
            ctx.delete(key);
        }
        ctx.dirty(removed as u64);
        Ok(Reply::Ok)
    })())
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done((|| {
        let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
        let mut j = 3;
        while j < args.len() {
            let more = j + 1 < args.len();
            if is(&args[j], "RANK") && more {
                rank = arg_i64(&args[j + 1])?;
                if rank == 0 {
                    return Err(err(errors::LPOS_RANK_ZERO));
                }
            } else if is(&args[j], "COUNT") && more {
                match arg_i64(&args[j + 1]) {
                    Ok(n) if n >= 0 => count = Some(n),
                    _ => return Err(err(errors::LPOS_COUNT_NEGATIVE)),
                }
            } else if is(&args[j], "MAXLEN") && more {
                match arg_i64(&args[j + 1]) {
                    Ok(n) if n >= 0 => maxlen = n,
                    _ => return Err(err(errors::LPOS_MAXLEN_NEGATIVE)),
                }
            } else {
                return Err(err(errors::SYNTAX));
            }
            j += 2;
        }
        let Some(l) = list_r(ctx, &args[1])? else {
            return Ok(if count.is_some() {
                Reply::Array(vec![])
            } else {
                Reply::Nil
            });
        };
        let elem = &args[2];
        let len = l.len() as i64;
        // Redis negates the rank with wrapping arithmetic: RANK of
        // LLONG_MIN ends up matching the first hit from the tail.
        let from_tail = rank < 0;
        let rank = if from_tail { rank.wrapping_neg() } else { rank };
        let (mut matches, mut index) = (0i64, 0i64);
        let mut found = Vec::new();
        let mut visit = |e: &[u8]| {
            if maxlen != 0 && index >= maxlen {
                return false;
            }
            if e == &elem[..] {
                matches += 1;
                if matches >= rank {
                    found.push(if from_tail { len - index - 1 } else { index });
                    match count {
                        None => return false,
                        Some(c) if c != 0 && matches - rank + 1 >= c => return false,
                        _ => {}
                    }
                }
            }
            index += 1;
            true
        };
        if from_tail {
            l.each_rev(&mut visit);
        } else {
            l.each_from(0, &mut visit);
        }
        Ok(match count {
            Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
            None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
        })
    })())
}

/// LMOVE with both keys on this core: pop from `src`, push to `dst`.
fn lmove_here(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
    done((|| {
        let Some(l) = list_w(ctx, src)? else {
            return Ok(Reply::Nil);
        };
        if l.is_empty() {
            return Ok(Reply::Nil);
        }
        list_w(ctx, dst)?;
        // As Redis: the push is done (and announced) before the pop, so
        // moving a list's only element onto itself never deletes it.
        let l = list_w(ctx, src)?.expect("checked above");
        let v = l.pop(from, fill()).expect("checked non-empty");
        push_vals(ctx, dst, to, std::slice::from_ref(&v), false)?;
        popped(ctx, src, from, 1);
        Ok(Reply::Bulk(v))
    })())
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (from, to) = match (parse_end(&args[3]), parse_end(&args[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    lmove_here(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    lmove_here(ctx, &args[1], &args[2], End::Tail, End::Head)
}

/// The journal name of a pop from `end`.
fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    }
}

/// The journal entry of a move a blocked client was served by.
fn lmove_form(src: &[u8], dst: &[u8], from: End, to: End) -> Vec<Bytes> {
    let side = |e: End| Bytes::from_static(if e == End::Head { b"LEFT" } else { b"RIGHT" });
    let key = Bytes::copy_from_slice;
    vec![
        Bytes::from_static(b"LMOVE"),
        key(src),
        key(dst),
        side(from),
        side(to),
    ]
}

/// LMOVE with the keys on two cores, holding both cores' gates: check the
/// destination's type, pop from the source, push to the destination.
async fn lmove_cross(db: usize, src: Bytes, dst: Bytes, from: End, to: End) -> Reply {
    let (cs, cd) = (core_of(&src), core_of(&dst));
    let txn = Txn::begin([cs, cd]).await;
    let r = async {
        let d = dst.clone();
        let dst_ok = txn
            .call(cd, move || with_ctx(db, |ctx| list_w(ctx, &d).is_ok()))
            .await?;
        let popped = txn
            .call(cs, move || {
                with_ctx(db, |ctx| match list_w(ctx, &src) {
                    Err(e) => Err(e),
                    Ok(None) => Ok(None),
                    Ok(Some(_)) if !dst_ok => Err(err(errors::WRONGTYPE)),
                    Ok(Some(_)) => Ok(pop_n(ctx, &src, from, 1).pop()),
                })
            })
            .await?;
        let Some(v) = popped? else {
            return Ok(Reply::Nil);
        };
        let v2 = v.clone();
        txn.call(cd, move || {
            with_ctx(db, |ctx| push_vals(ctx, &dst, to, &[v2], false))
        })
        .await??;
        Ok::<Reply, Reply>(Reply::Bulk(v))
    }
    .await;
    txn.end().await;
    done(r)
}

fn lmove_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let (from, to) = match (parse_end(&args[3]), parse_end(&args[4])) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let db = c.borrow().db;
        lmove_cross(db, args[1].clone(), args[2].clone(), from, to).await
    })
}

fn rpoplpush_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let db = c.borrow().db;
        lmove_cross(db, args[1].clone(), args[2].clone(), End::Tail, End::Head).await
    })
}

/// LMPOP/BLMPOP arguments after the timeout: numkeys, keys, where, COUNT.
fn parse_mpop(args: &[Bytes]) -> Result<(Vec<Bytes>, End, usize), Reply> {
    let numkeys = match arg_i64(&args[0]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return Err(err(errors::NUMKEYS_POSITIVE)),
    };
    // The keys and then where must follow.
    if numkeys + 1 >= args.len() {
        return Err(err(errors::SYNTAX));
    }
    let keys = args[1..=numkeys].to_vec();
    let end = parse_end(&args[numkeys + 1])?;
    let mut count = None;
    let mut j = numkeys + 2;
    while j < args.len() {
        if count.is_none() && is(&args[j], "COUNT") && j + 1 < args.len() {
            match arg_i64(&args[j + 1]) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(err(errors::COUNT_POSITIVE)),
            }
            j += 2;
        } else {
            return Err(err(errors::SYNTAX));
        }
    }
    Ok((keys, end, count.unwrap_or(1)))
}

/// Whether `key` holds a list to pop from; WRONGTYPE for another type.
fn list_ready(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    Ok(list_w(ctx, key)?.is_some_and(|l| !l.is_empty()))
}

fn mpop_reply(key: &[u8], vals: Vec<Bytes>) -> Reply {
    Reply::Array(vec![Reply::bulk(key), bulks(vals)])
}

/// LMPOP: the first key, in order, that holds a list; each key is checked
/// on its core.
async fn lmpop(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let (keys, end, count) = match parse_mpop(&args[1..]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let db = c.borrow().db;
    for k in keys {
        let core = core_of(&k);
        let job: runtime::Job = Box::new(move || {
            with_ctx(db, |ctx| match list_ready(ctx, &k) {
                Err(e) => e,
                Ok(false) => Reply::NilArray,
                Ok(true) => mpop_reply(&k, pop_n(ctx, &k, end, count)),
            })
        });
        let r = runtime::run_on(core, vec![job])
            .await
            .pop()
            .unwrap_or(Reply::NilArray);
        if !matches!(r, Reply::NilArray) {
            return r;
        }
    }
    Reply::NilArray
}

fn lmpop_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(lmpop(c, args))
}

/// Blocks for a pop from the first of `keys` to hold a list; the reply
/// on a timeout is `on_timeout`.
async fn block_pop(
    c: &ClientRef,
    keys: &[Bytes],
    timeout: u64,
    take: blocking::TakeFn,
    on_timeout: Reply,
) -> Reply {
    match blocking::block(c, keys, timeout, list_ready, take).await {
        Outcome::Served(r) => r,
        Outcome::TimedOut | Outcome::Gone => on_timeout,
        // Pops always finish on the key's core; never reached.
        Outcome::Woken(_) => on_timeout,
    }
}

/// BLPOP / BRPOP: keys, then the timeout.
async fn bpop(c: ClientRef, args: Vec<Bytes>, end: End) -> Reply {
    let timeout = match blocking::parse_timeout(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let v = pop_n(ctx, key, end, 1).pop()?;
        journal::record_effect(ctx.db, &[pop_name(end), key]);
        Some(Reply::Array(vec![Reply::bulk(key), Reply::Bulk(v)]))
    });
    block_pop(&c, &args[1..args.len() - 1], timeout, take, Reply::NilArray).await
}

fn blpop_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(bpop(c, args, End::Head))
}

fn brpop_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(bpop(c, args, End::Tail))
}

async fn blmpop(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let timeout = match blocking::parse_timeout(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let (keys, end, count) = match parse_mpop(&args[2..]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let vals = pop_n(ctx, key, end, count);
        let n = vals.len().to_string();
        journal::record_effect(ctx.db, &[pop_name(end), key, n.as_bytes()]);
        Some(mpop_reply(key, vals))
    });
    block_pop(&c, &keys, timeout, take, Reply::NilArray).await
}

fn blmpop_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(blmpop(c, args))
}

/// BLMOVE / BRPOPLPUSH. With both keys on one core the move happens where
/// the waiter is served; otherwise the served client runs the two-core
/// LMOVE itself and blocks again if another client got there first.
async fn bmove(c: ClientRef, src: Bytes, dst: Bytes, from: End, to: End, t: &[u8]) -> Reply {
    let timeout = match blocking::parse_timeout(t) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let db = c.borrow().db;
    let same_core = core_of(&src) == core_of(&dst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout);
    loop {
        let d = dst.clone();
        let take: blocking::TakeFn = Box::new(move |ctx, key| {
            same_core.then(|| {
                // A snapshot copies the destination before it changes.
                crate::persistence::snapshot::before_write(ctx.db, &d);
                let r = lmove_here(ctx, key, &d, from, to);
                if matches!(r, Reply::Bulk(_)) {
                    journal::record_effect(ctx.db, &lmove_form(key, &d, from, to));
                }
                r
            })
        });
        let left = if timeout == 0 {
            0
        } else {
            let ms = deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as u64;
            if ms == 0 {
                return Reply::NilArray;
            }
            ms
        };
        match blocking::block(&c, std::slice::from_ref(&src), left, list_ready, take).await {
            Outcome::Served(r) => return r,
            // Redis answers a blocked BLMOVE's timeout with a null array;
            // inside EXEC (it never blocked) with a null.
            Outcome::TimedOut | Outcome::Gone if c.borrow().in_exec => return Reply::Nil,
            Outcome::TimedOut | Outcome::Gone => return Reply::NilArray,
            Outcome::Woken(_) => {
                let keys = [src.clone(), dst.clone()];
                let snap = crate::persistence::before_coord(&keys, db..db + 1).await;
                let form = lmove_form(&src, &dst, from, to);
                let cores = [core_of(&src), core_of(&dst)];
                let run = lmove_cross(db, src.clone(), dst.clone(), from, to);
                let r = super::journaled(db, cores, form, run).await;
                drop(snap);
                // Whatever this client left in the source goes to the next waiter.
                blocking::signal_on(db, src.clone()).await;
                if !matches!(r, Reply::Nil) {
                    return r;
                }
            }
        }
    }
}

fn blmove_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let (from, to) = match (parse_end(&args[3]), parse_end(&args[4])) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        bmove(c, args[1].clone(), args[2].clone(), from, to, &args[5]).await
    })
}

fn brpoplpush_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        bmove(
            c,
            args[1].clone(),
            args[2].clone(),
            End::Tail,
            End::Head,
            &args[3],
        )
        .await
    })
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const N: (i32, i32, i32) = (0, 0, 0);
    const K1: (i32, i32, i32) = (1, 1, 1);
    const K2: (i32, i32, i32) = (1, 2, 1);
    const BK: (i32, i32, i32) = (1, -2, 1);
    let g = "list";
    t.extend([
        spec("lpush", -3, WRITE | DENYOOM | FAST, K1, Key(lpush), Cross::Never, g, "Prepend one or multiple elements to a list", "1.0.0"),
        spec("rpush", -3, WRITE | DENYOOM | FAST, K1, Key(rpush), Cross::Never, g, "Append one or multiple elements to a list", "1.0.0"),
        spec("lpushx", -3, WRITE | DENYOOM | FAST, K1, Key(lpushx), Cross::Never, g, "Prepend an element to a list, only if the list exists", "2.2.0"),
        spec("rpushx", -3, WRITE | DENYOOM | FAST, K1, Key(rpushx), Cross::Never, g, "Append an element to a list, only if the list exists", "2.2.0"),
        spec("lpop", -2, WRITE | FAST, K1, Key(lpop), Cross::Never, g, "Remove and get the first elements in a list", "1.0.0"),
        spec("rpop", -2, WRITE | FAST, K1, Key(rpop), Cross::Never, g, "Remove and get the last elements in a list", "1.0.0"),
        spec("llen", 2, READONLY | FAST, K1, Key(llen), Cross::Never, g, "Get the length of a list", "1.0.0"),
        spec("lrange", 4, READONLY, K1, Key(lrange), Cross::Never, g, "Get a range of elements from a list", "1.0.0"),
        spec("lindex", 3, READONLY, K1, Key(lindex), Cross::Never, g, "Get an element from a list by its index", "1.0.0"),
        spec("lset", 4, WRITE | DENYOOM, K1, Key(lset), Cross::Never, g, "Set the value of an element in a list by its index", "1.0.0"),
        spec("linsert", 5, WRITE | DENYOOM, K1, Key(linsert), Cross::Never, g, "Insert an element before or after another element in a list", "2.2.0"),
        spec("lrem", 4, WRITE, K1, Key(lrem), Cross::Never, g, "Remove elements from a list", "1.0.0"),
        spec("ltrim", 4, WRITE, K1, Key(ltrim), Cross::Never, g, "Trim a list to the specified range", "1.0.0"),
        spec("lpos", -3, READONLY, K1, Key(lpos), Cross::Never, g, "Return the index of matching elements on a list", "6.0.6"),
        spec("lmove", 5, WRITE | DENYOOM, K2, Key(lmove), Cross::Coord(lmove_coord), g, "Pop an element from a list, push it to another list and return it", "6.2.0"),
        spec("rpoplpush", 3, WRITE | DENYOOM, K2, Key(rpoplpush), Cross::Coord(rpoplpush_coord), g, "Remove the last element in a list, prepend it to another list and return it", "1.2.0"),
        spec("lmpop", -4, WRITE | MOVABLE_KEYS, N, Coord(lmpop_coord), Cross::Never, g, "Pop elements from a list", "7.0.0"),
        spec("blpop", -3, WRITE | NOSCRIPT | BLOCKING, BK, Coord(blpop_coord), Cross::Never, g, "Remove and get the first element in a list, or block until one is available", "2.0.0"),
        spec("brpop", -3, WRITE | NOSCRIPT | BLOCKING, BK, Coord(brpop_coord), Cross::Never, g, "Remove and get the last element in a list, or block until one is available", "2.0.0"),
        spec("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, K2, Coord(blmove_coord), Cross::Never, g, "Pop an element from a list, push it to another list and return it; or block until one is available", "6.2.0"),
        spec("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, K2, Coord(brpoplpush_coord), Cross::Never, g, "Pop an element from a list, push it to another list and return it; or block until one is available", "2.2.0"),
        spec("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, N, Coord(blmpop_coord), Cross::Never, g, "Pop elements from a list, or block until one is available", "7.0.0"),
    ]);
}
