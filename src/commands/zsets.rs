//! The sorted set family.
//!
//! Single-key commands run on the key's core. Commands naming several keys
//! (ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD, ZMPOP,
//! ZRANGESTORE) run in one job when their keys share a core; otherwise they
//! hold every involved core's gate (`runtime::Txn`), read the sources from
//! their cores, compute here and write the destination on its core, so no
//! client sees half of the work.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use rand::Rng;

use super::blocking::{self, Outcome as Blocked};
use super::{
    arg_f64, arg_i64, flags::*, is, parse_cursor, random_count, repeat_count, spec, with_ctx,
    ClientRef, Cross, Ctx, Handler, Spec,
};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::reply::format_double;
use crate::protocol::Reply;
use crate::runtime::{self, Job, Txn};
use crate::storage::journal;
use crate::storage::value::ZSet;
use crate::storage::zset::Limits;
use crate::storage::Value;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;
/// Members with their scores, in order.
type Items = Vec<(Bytes, f64)>;

fn limits() -> Limits {
    Limits {
        entries: config::num(Opt::ZsetMaxListpackEntries).max(0) as usize,
        value: config::num(Opt::ZsetMaxListpackValue).max(0) as usize,
    }
}

/// The zset at `key`: None when missing, WRONGTYPE for another type.
pub(super) fn zset<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    write: bool,
) -> Result<Option<&'a mut ZSet>, Reply> {
    let e = if write {
        ctx.lookup_write(key)
    } else {
        ctx.lookup_read(key)
    };
    match e.map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(err(errors::WRONGTYPE)),
    }
}

/// After a removal from `key` announced as `event` (none if nothing was
/// removed): deletes the key ("del") if its zset was emptied.
fn removed(ctx: &mut Ctx, key: &[u8], event: &str, n: usize) {
    if n == 0 {
        return;
    }
    ctx.notify(events::ZSET, event, key);
    if matches!(ctx.db().peek(key).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty()) {
        ctx.delete(key);
    }
}

fn items_reply(items: Items, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

fn collect(z: &ZSet, start: usize, end: usize, rev: bool) -> Items {
    let mut v = Vec::with_capacity(end.saturating_sub(start).min(z.len()));
    z.range(start, end, rev, |m, s| {
        v.push((Bytes::copy_from_slice(m), s))
    });
    v
}

// ------------------------------------------------------------------ ZADD

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one zsetAdd did.
enum Outcome {
    New(f64),
    Changed(f64),
    /// Present with that score already: processed, not changed.
    Same(f64),
    Nop,
}

/// Redis's zsetAdd: adds or updates one member under the flags.
fn zset_add(z: &mut ZSet, f: &AddFlags, member: &[u8], mut score: f64) -> Result<Outcome, Reply> {
    let lim = limits();
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(Outcome::Nop);
            }
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return Err(err(errors::ZSET_NAN));
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Ok(Outcome::Nop);
            }
            if score != cur {
                z.insert(member, score, lim);
                return Ok(Outcome::Changed(score));
            }
            Ok(Outcome::Same(score))
        }
        None if f.xx => Ok(Outcome::Nop),
        None => {
            z.insert(member, score, lim);
            Ok(Outcome::New(score))
        }
    }
}

fn zadd_generic(ctx: &mut Ctx, key: &[u8], f: AddFlags, pairs: &[Bytes]) -> Reply {
    if f.nx && f.xx {
        return err(errors::ZADD_XX_NX);
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return err(errors::ZADD_GT_LT_NX);
    }
    if f.incr && pairs.len() > 2 {
        return err(errors::ZADD_INCR_PAIR);
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        match score_arg(&p[0]) {
            Ok(s) => scores.push(s),
            Err(e) => return e,
        }
    }
    let exists = match zset(ctx, key, true) {
        Ok(z) => z.is_some(),
        Err(e) => return e,
    };
    let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
    let mut fresh = None;
    if !exists {
        if f.xx {
            return if f.incr { Reply::Nil } else { Reply::Int(0) };
        }
        fresh = Some(ZSet::default());
    }
    let mut failed = None;
    {
        let z = match fresh.as_mut() {
            Some(z) => z,
            None => zset(ctx, key, true).ok().flatten().expect("checked above"),
        };
        for (p, &score) in pairs.chunks(2).zip(&scores) {
            match zset_add(z, &f, &p[1], score) {
                Ok(Outcome::New(s)) => {
                    added += 1;
                    processed += 1;
                    last = s;
                }
                Ok(Outcome::Changed(s)) => {
                    updated += 1;
                    processed += 1;
                    last = s;
                }
                Ok(Outcome::Same(s)) => {
                    processed += 1;
                    last = s;
                }
                Ok(Outcome::Nop) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(z) = fresh.filter(|z| !z.is_empty()) {
        let lru = crate::storage::evict::new_lru();
        ctx.insert(key, Value::ZSet(z), 0, lru);
    }
    ctx.dirty(added + updated);
    if added + updated > 0 {
        ctx.notify(events::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if added > 0 {
        blocking::signal(ctx, key);
    }
    if let Some(e) = failed {
        return e;
    }
    if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if f.ch { added + updated } else { added } as i64)
    }
}

pub(super) fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "NX") {
            f.nx = true;
        } else if is(a, "XX") {
            f.xx = true;
        } else if is(a, "GT") {
            f.gt = true;
        } else if is(a, "LT") {
            f.lt = true;
        } else if is(a, "CH") {
            f.ch = true;
        } else if is(a, "INCR") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return err(errors::SYNTAX);
    }
    zadd_generic(ctx, &args[1], f, pairs)
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = AddFlags {
        incr: true,
        ..Default::default()
    };
    zadd_generic(ctx, &args[1], f, &args[2..4])
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let n = match zset(ctx, key, true) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(z)) => args[2..].iter().filter(|m| z.remove(m).is_some()).count(),
    };
    removed(ctx, key, "zrem", n);
    ctx.dirty(n as u64);
    Reply::Int(n as i64)
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match zset(ctx, &args[1], false) {
        Err(e) => e,
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len() as i64)),
    }
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match zset(ctx, &args[1], false) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.score(&args[2]))
            .map_or(Reply::Nil, Reply::Double),
    }
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match zset(ctx, &args[1], false) {
        Err(e) => e,
        Ok(z) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| {
                    z.as_ref()
                        .and_then(|z| z.score(m))
                        .map_or(Reply::Nil, Reply::Double)
                })
                .collect(),
        ),
    }
}

/// ZRANK / ZREVRANK, with 7.2's WITHSCORE.
fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    if args.len() > 4 {
        return errors::wrong_args(if rev { "zrevrank" } else { "zrank" });
    }
    let withscore = args.len() == 4;
    if withscore && !is(&args[3], "WITHSCORE") {
        return err(errors::SYNTAX);
    }
    let z = match zset(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(z) => z,
    };
    match z.and_then(|z| z.rank(&args[2]).map(|r| (r, z.len()))) {
        None if withscore => Reply::NilArray,
        None => Reply::Nil,
        Some(((r, score), len)) => {
            let r = if rev { len - 1 - r } else { r } as i64;
            if withscore {
                Reply::Array(vec![Reply::Int(r), Reply::Double(score)])
            } else {
                Reply::Int(r)
            }
        }
    }
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, true)
}

// ---------------------------------------------------------------- ranges

/// One end of a lex range.
#[derive(Clone, Debug)]
enum Lex {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

#[derive(Clone, Debug)]
enum Range {
    /// Start and stop ranks as given (negative from the end).
    Rank(i64, i64),
    /// min, min exclusive, max, max exclusive.
    Score(f64, bool, f64, bool),
    Lex(Lex, Lex),
}

/// A score range end as zslParseRange reads it (strtod, `(` exclusive).
fn parse_score(b: &[u8]) -> Option<(f64, bool)> {
    let (excl, num) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    if num.is_empty() {
        // strtod of "" consumes nothing and leaves the end at '\0': 0.
        return Some((0.0, excl));
    }
    let s = std::str::from_utf8(num).ok()?.trim_start();
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t => t.parse().ok().or_else(|| hex_f64(t))?,
    };
    (!v.is_nan()).then_some((v, excl))
}

/// strtod's hexadecimal form (`0x10`, `-0x1.8p1`), which Redis's score
/// parsing accepts because it calls strtod.
fn hex_f64(t: &str) -> Option<f64> {
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let t = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    let (mant, exp) = match t.find(['p', 'P']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    Some(if neg { -v } else { v })
}

/// A score or weight as Redis's getDoubleFromObject reads it: strtod, so
/// hexadecimal is accepted, but a value out of double's range (1e400,
/// 1e-400: ERANGE) is "not a valid float" rather than inf or 0.
pub(super) fn score_arg(b: &[u8]) -> Result<f64, Reply> {
    let bad = || Reply::error(errors::NOT_FLOAT);
    let v = match arg_f64(b) {
        Ok(v) => v,
        Err(e) => {
            let t = std::str::from_utf8(b).map_err(|_| bad())?;
            return hex_f64(t).filter(|v| v.is_finite()).ok_or(e);
        }
    };
    let t = std::str::from_utf8(b).map_err(|_| bad())?;
    let digits = t.split(['e', 'E']).next().unwrap_or("");
    let literal_inf = t.to_ascii_lowercase().contains("inf");
    if (v.is_infinite() && !literal_inf)
        || (v == 0.0 && digits.bytes().any(|c| (b'1'..=b'9').contains(&c)))
    {
        return Err(bad());
    }
    Ok(v)
}

fn parse_lex(b: &[u8]) -> Option<Lex> {
    match b.first()? {
        b'+' if b.len() == 1 => Some(Lex::Max),
        b'-' if b.len() == 1 => Some(Lex::Min),
        b'(' => Some(Lex::Excl(Bytes::copy_from_slice(&b[1..]))),
        b'[' => Some(Lex::Incl(Bytes::copy_from_slice(&b[1..]))),
        _ => None,
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<Range, Reply> {
    match (parse_score(min), parse_score(max)) {
        (Some((a, ax)), Some((b, bx))) => Ok(Range::Score(a, ax, b, bx)),
        _ => Err(err(errors::ZSET_MIN_MAX_FLOAT)),
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<Range, Reply> {
    match (parse_lex(min), parse_lex(max)) {
        (Some(a), Some(b)) => Ok(Range::Lex(a, b)),
        _ => Err(err(errors::ZSET_MIN_MAX_LEX)),
    }
}

/// Is `m` below the lex range's start?
fn below_min(m: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Min => false,
        Lex::Max => true,
        Lex::Incl(b) => m < &b[..],
        Lex::Excl(b) => m <= &b[..],
    }
}

/// Is `m` at or below the lex range's end?
fn within_max(m: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Min => false,
        Lex::Max => true,
        Lex::Incl(b) => m <= &b[..],
        Lex::Excl(b) => m < &b[..],
    }
}

/// The ascending rank interval a score or lex range covers.
fn bounds(z: &ZSet, r: &Range) -> (usize, usize) {
    let (lo, hi) = match r {
        Range::Score(min, minx, max, maxx) => (
            z.count_while(|s, _| s < *min || (*minx && s <= *min)),
            z.count_while(|s, _| s < *max || (!*maxx && s <= *max)),
        ),
        Range::Lex(min, max) => (
            z.count_while(|_, m| below_min(m, min)),
            z.count_while(|_, m| within_max(m, max)),
        ),
        Range::Rank(..) => unreachable!("rank ranges are not bounds"),
    };
    (lo, hi.max(lo))
}

/// Normalizes start/stop ranks as Redis does; None when empty.
fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize + 1))
}

/// The elements a ZRANGE selects, in reply order.
fn select(z: &ZSet, r: &Range, rev: bool, offset: i64, limit: i64) -> Items {
    let len = z.len();
    if let Range::Rank(start, end) = *r {
        let Some((a, b)) = rank_span(start, end, len) else {
            return Vec::new();
        };
        return if rev {
            collect(z, len - b, len - a, true)
        } else {
            collect(z, a, b, false)
        };
    }
    if offset < 0 {
        return Vec::new();
    }
    let (lo, hi) = bounds(z, r);
    let offset = offset as usize;
    let take = |n: usize| {
        if limit < 0 {
            n
        } else {
            n.min(limit as usize)
        }
    };
    if rev {
        let end = hi.saturating_sub(offset).max(lo);
        collect(z, end - take(end - lo), end, true)
    } else {
        let start = (lo + offset).min(hi);
        collect(z, start, start + take(hi - start), false)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

#[derive(Clone)]
struct RangeCmd {
    range: Range,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

/// Parses `min max [options]` starting at `args[at]`, as zrangeGenericCommand.
/// `kind`/`rev` are fixed by the legacy commands and chosen by ZRANGE.
fn parse_range(
    args: &[Bytes],
    at: usize,
    kind: Option<Kind>,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeCmd, Reply> {
    let (mut kind_opt, mut rev_opt) = (kind, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0, -1);
    let mut j = at + 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if rev_opt.is_none() && is(a, "REV") {
            rev_opt = Some(true);
        } else if kind_opt.is_none() && is(a, "BYLEX") {
            kind_opt = Some(Kind::Lex);
        } else if kind_opt.is_none() && is(a, "BYSCORE") {
            kind_opt = Some(Kind::Score);
        } else {
            return Err(err(errors::SYNTAX));
        }
        j += 1;
    }
    let rev = rev_opt.unwrap_or(false);
    let kind = kind_opt.unwrap_or(Kind::Rank);
    if limit != -1 && kind == Kind::Rank {
        return Err(err(errors::ZSET_LIMIT_RANK));
    }
    if withscores && kind == Kind::Lex {
        return Err(err(errors::ZSET_WITHSCORES_LEX));
    }
    let (mut min, mut max) = (&args[at], &args[at + 1]);
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match kind {
        Kind::Rank => Range::Rank(arg_i64(min)?, arg_i64(max)?),
        Kind::Score => parse_score_range(min, max)?,
        Kind::Lex => parse_lex_range(min, max)?,
    };
    Ok(RangeCmd {
        range,
        rev,
        withscores,
        offset,
        limit,
    })
}

fn range_generic(ctx: &mut Ctx, args: &[Bytes], kind: Option<Kind>, rev: Option<bool>) -> Reply {
    let cmd = match parse_range(args, 2, kind, rev, false) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match zset(ctx, &args[1], false) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(z)) => items_reply(
            select(z, &cmd.range, cmd.rev, cmd.offset, cmd.limit),
            cmd.withscores,
        ),
    }
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, None, None)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, Some(Kind::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, Some(Kind::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, Some(Kind::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, Some(Kind::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, Some(Kind::Lex), Some(true))
}

fn count_generic(ctx: &mut Ctx, args: &[Bytes], lex: bool) -> Reply {
    let r = if lex {
        parse_lex_range(&args[2], &args[3])
    } else {
        parse_score_range(&args[2], &args[3])
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => return e,
    };
    match zset(ctx, &args[1], false) {
        Err(e) => e,
        Ok(None) => Reply::Int(0),
        Ok(Some(z)) => {
            let (lo, hi) = bounds(z, &r);
            Reply::Int((hi - lo) as i64)
        }
    }
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_generic(ctx, args, false)
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_generic(ctx, args, true)
}

fn remrange_generic(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Reply {
    let r = match kind {
        Kind::Rank => match (arg_i64(&args[2]), arg_i64(&args[3])) {
            (Ok(a), Ok(b)) => Ok(Range::Rank(a, b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        Kind::Score => parse_score_range(&args[2], &args[3]),
        Kind::Lex => parse_lex_range(&args[2], &args[3]),
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => return e,
    };
    let key = &args[1];
    let n = match zset(ctx, key, true) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(z)) => {
            let gone = select(z, &r, false, 0, -1);
            for (m, _) in &gone {
                z.remove(m);
            }
            gone.len()
        }
    };
    let event = match kind {
        Kind::Rank => "zremrangebyrank",
        Kind::Score => "zremrangebyscore",
        Kind::Lex => "zremrangebylex",
    };
    removed(ctx, key, event, n);
    ctx.dirty(n as u64);
    Reply::Int(n as i64)
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remrange_generic(ctx, args, Kind::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remrange_generic(ctx, args, Kind::Score)
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remrange_generic(ctx, args, Kind::Lex)
}

// ------------------------------------------------------------------- pops

/// Pops up to `count` from one end of the zset at `key`; None when missing.
fn pop_here(ctx: &mut Ctx, key: &[u8], max: bool, count: usize) -> Result<Option<Items>, Reply> {
    let items = match zset(ctx, key, true)? {
        None => return Ok(None),
        Some(z) => {
            let len = z.len();
            let n = count.min(len);
            let items = if max {
                collect(z, len - n, len, true)
            } else {
                collect(z, 0, n, false)
            };
            for (m, _) in &items {
                z.remove(m);
            }
            items
        }
    };
    removed(
        ctx,
        key,
        if max { "zpopmax" } else { "zpopmin" },
        items.len(),
    );
    ctx.dirty(items.len() as u64);
    Ok(Some(items))
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    if args.len() > 3 {
        return err(errors::SYNTAX);
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match crate::protocol::parse_i64(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return err(errors::MUST_BE_POSITIVE),
        },
    };
    match pop_here(ctx, &args[1], max, count.unwrap_or(1)) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(items)) if count.is_none() => Reply::Array(
            items
                .into_iter()
                .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                .collect(),
        ),
        Ok(Some(items)) => items_reply(items, true),
    }
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, true)
}

/// ZMPOP's reply: the key and its popped pairs, always nested.
fn mpop_reply(key: Bytes, items: Items) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key),
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        ),
    ])
}

struct Mpop {
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
}

/// ZMPOP / BZMPOP arguments; `args[at]` is numkeys.
fn parse_mpop(args: &[Bytes], at: usize) -> Result<Mpop, Reply> {
    let numkeys = match crate::protocol::parse_i64(&args[at]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(err(errors::NUMKEYS_POSITIVE)),
    };
    let where_idx = numkeys.saturating_add(at + 1);
    if where_idx >= args.len() {
        return Err(err(errors::SYNTAX));
    }
    let max = if is(&args[where_idx], "MIN") {
        false
    } else if is(&args[where_idx], "MAX") {
        true
    } else {
        return Err(err(errors::SYNTAX));
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "COUNT") && j + 1 < args.len() {
            match crate::protocol::parse_i64(&args[j + 1]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(err(errors::COUNT_POSITIVE)),
            }
            j += 2;
        } else {
            return Err(err(errors::SYNTAX));
        }
    }
    Ok(Mpop {
        keys: args[at + 1..where_idx].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

fn mpop_here(ctx: &mut Ctx, p: &Mpop) -> Reply {
    for k in &p.keys {
        match pop_here(ctx, k, p.max, p.count) {
            Err(e) => return e,
            Ok(None) => {}
            Ok(Some(items)) => return mpop_reply(k.clone(), items),
        }
    }
    Reply::NilArray
}

async fn zmpop_run(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let p = match parse_mpop(&args, 1) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let db = c.borrow().db;
    let cores = cores_of(p.keys.iter());
    if cores.len() == 1 {
        return one_job(cores[0], move || with_ctx(db, |ctx| mpop_here(ctx, &p))).await;
    }
    let txn = Txn::begin(cores).await;
    let mut out = Reply::NilArray;
    for k in p.keys {
        let key = k.clone();
        let (max, count) = (p.max, p.count);
        let got = txn
            .call(core_of(&k), move || {
                with_ctx(db, |ctx| pop_here(ctx, &key, max, count))
            })
            .await;
        match got {
            Err(e) | Ok(Err(e)) => {
                out = e;
                break;
            }
            Ok(Ok(None)) => {}
            Ok(Ok(Some(items))) => {
                out = mpop_reply(k, items);
                break;
            }
        }
    }
    txn.end().await;
    out
}

fn zmpop(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(zmpop_run(c, args))
}

// ------------------------------------------------------------ random, scan

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(count) = args.get(2) else {
        return match zset(ctx, &args[1], false) {
            Err(e) => e,
            Ok(None) => Reply::Nil,
            Ok(Some(z)) => {
                let r = rand::thread_rng().gen_range(0..z.len());
                z.at(r).map_or(Reply::Nil, |(m, _)| Reply::bulk(m))
            }
        };
    };
    // Redis checks the range, then the syntax, then the pair limit.
    if let Err(e) = random_count(count, false) {
        return e;
    }
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHSCORES") => true,
        _ => return err(errors::SYNTAX),
    };
    let count = match random_count(count, withscores) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let z = match zset(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(z)) => z,
    };
    let len = z.len();
    let mut rng = rand::thread_rng();
    let items: Items = if count < 0 {
        // Repeats allowed: independent picks.
        let n = match repeat_count(count.unsigned_abs()) {
            Ok(n) => n,
            Err(e) => return e,
        };
        (0..n)
            .map(|_| {
                let (m, s) = z.at(rng.gen_range(0..len)).expect("in range");
                (Bytes::from(m), s)
            })
            .collect()
    } else if count as usize >= len {
        // The whole set, highest first, as Redis answers.
        collect(z, 0, len, true)
    } else {
        let picks = rand::seq::index::sample(&mut rng, len, count as usize);
        picks
            .into_iter()
            .map(|r| {
                let (m, s) = z.at(r).expect("in range");
                (Bytes::from(m), s)
            })
            .collect()
    };
    items_reply(items, withscores)
}

/// ZSCAN: a listpack answers whole (cursor 0, as Redis); a skiplist is
/// walked COUNT elements per call (see `ZSet::scan`).
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[2]) else {
        return err(errors::INVALID_CURSOR);
    };
    let reply = |next: u64, items: Vec<Reply>| {
        Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(items)])
    };
    let z = match zset(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return reply(0, Vec::new()),
        Ok(Some(z)) => z,
    };
    let (mut count, mut pattern) = (10usize, None);
    let mut j = 3;
    while j < args.len() {
        if is(&args[j], "COUNT") && j + 1 < args.len() {
            match arg_i64(&args[j + 1]) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return err(errors::SYNTAX),
                Err(e) => return e,
            }
        } else if is(&args[j], "MATCH") && j + 1 < args.len() {
            pattern = Some(args[j + 1].clone()).filter(|p| &p[..] != b"*");
        } else {
            return err(errors::SYNTAX);
        }
        j += 2;
    }
    let mut out = Vec::new();
    let packed = z.encoding() == "listpack";
    let next = z.scan(cursor, count, |m, s| {
        if pattern
            .as_ref()
            .is_none_or(|p| crate::glob::matches(p, m, false))
        {
            out.push(Reply::bulk(m));
            out.push(Reply::bulk(scan_score(s, packed)));
        }
    });
    reply(next, out)
}

/// A score as ZSCAN shows it: Redis 7.0 returns a listpack's stored text,
/// and its listpacks keep a whole score within ±(2^63-1)/2 as an integer
/// (double2ll), so 1e17 is `100000000000000000` there but `1e+17` in a
/// skiplist (found by the differential fuzzer, seed 20233).
fn scan_score(s: f64, packed: bool) -> String {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if packed && (-HALF..=HALF).contains(&s) && s == (s as i64) as f64 {
        return (s as i64).to_string();
    }
    format_double(s)
}

// ------------------------------------------------------ across the cores

fn cores_of<'a>(keys: impl Iterator<Item = &'a Bytes>) -> Vec<usize> {
    let mut v: Vec<usize> = keys.map(|k| core_of(k)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Runs one job on `core` (inline when it is this core).
async fn one_job(core: usize, f: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    runtime::run_on(core, vec![Box::new(f) as Job])
        .await
        .pop()
        .unwrap_or(Reply::Nil)
}

/// A source of ZUNION and friends: a zset, or a set whose members score 1.
fn read_src(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Items>, Reply> {
    match ctx.lookup_read(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(collect(z, 0, z.len(), false))),
        Some(Value::Set(s)) => Ok(Some(s.iter().map(|e| (e.to_bytes(), 1.0)).collect())),
        Some(_) => Err(err(errors::WRONGTYPE)),
    }
}

/// Reads `keys` on their cores within `txn`, one job per core; in key order.
async fn read_all(txn: &Txn, db: usize, keys: &[Bytes]) -> Vec<Result<Option<Items>, Reply>> {
    let futs = txn.cores().iter().map(|&core| {
        let mine: Vec<(usize, Bytes)> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| core_of(k) == core)
            .map(|(i, k)| (i, k.clone()))
            .collect();
        txn.call(core, move || {
            with_ctx(db, |ctx| {
                mine.into_iter()
                    .map(|(i, k)| (i, read_src(ctx, &k)))
                    .collect::<Vec<_>>()
            })
        })
    });
    let mut out: Vec<Result<Option<Items>, Reply>> = keys.iter().map(|_| Ok(None)).collect();
    for got in futures_util::future::join_all(futs).await {
        match got {
            Ok(v) => v.into_iter().for_each(|(i, r)| out[i] = r),
            Err(e) => out.iter_mut().for_each(|o| *o = Err(e.clone())),
        }
    }
    out
}

/// Writes `items` as the zset at `key` (deleting it when empty), with the
/// encoding Redis gives a freshly built result; `event` announces it.
pub(super) fn store(ctx: &mut Ctx, key: &[u8], items: Items, event: &str) -> Reply {
    let n = items.len();
    ctx.lookup_write(key);
    if n == 0 {
        if ctx.delete(key) {
            ctx.dirty(1);
        }
        return Reply::Int(0);
    }
    let lim = limits();
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(n, longest, lim);
    for (m, s) in &items {
        z.insert(m, *s, lim);
    }
    let lru = crate::storage::evict::new_lru();
    ctx.insert(key, Value::ZSet(z), 0, lru);
    ctx.dirty(1);
    ctx.notify(events::ZSET, event, key);
    blocking::signal(ctx, key);
    Reply::Int(n as i64)
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// A parsed ZUNION / ZINTER / ZDIFF / ZINTERCARD (STORE) command.
struct Combine {
    op: SetOp,
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    agg: Agg,
    withscores: bool,
    dst: Option<Bytes>,
    /// ZINTERCARD: Some(limit), 0 meaning none.
    card: Option<usize>,
    /// An option error, reported after the sources' types are checked (Redis's order).
    late: Option<Reply>,
}

fn parse_combine(
    args: &[Bytes],
    name: &str,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<Combine, Reply> {
    let ni = if store { 2 } else { 1 };
    let n = arg_i64(&args[ni])?;
    if n < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - ni - 1) as u64 {
        return Err(err(errors::SYNTAX));
    }
    let n = n as usize;
    let mut c = Combine {
        op,
        keys: args[ni + 1..ni + 1 + n].to_vec(),
        weights: vec![1.0; n],
        agg: Agg::Sum,
        withscores: false,
        dst: store.then(|| args[1].clone()),
        card: card.then_some(0),
        late: None,
    };
    let mut j = ni + 1 + n;
    let options = (|| {
        while j < args.len() {
            let left = args.len() - j;
            let a = &args[j];
            if op != SetOp::Diff && !card && left > n && is(a, "WEIGHTS") {
                for i in 0..n {
                    c.weights[i] =
                        score_arg(&args[j + 1 + i]).map_err(|_| err(errors::ZSET_WEIGHT_FLOAT))?;
                }
                j += n + 1;
            } else if op != SetOp::Diff && !card && left >= 2 && is(a, "AGGREGATE") {
                let v = &args[j + 1];
                c.agg = if is(v, "SUM") {
                    Agg::Sum
                } else if is(v, "MIN") {
                    Agg::Min
                } else if is(v, "MAX") {
                    Agg::Max
                } else {
                    return Err(err(errors::SYNTAX));
                };
                j += 2;
            } else if card && left >= 2 && is(a, "LIMIT") {
                match arg_i64(&args[j + 1]) {
                    Ok(l) if l >= 0 => c.card = Some(l as usize),
                    _ => return Err(err(errors::LIMIT_NEGATIVE)),
                }
                j += 2;
            } else if !store && !card && is(a, "WITHSCORES") {
                c.withscores = true;
                j += 1;
            } else {
                return Err(err(errors::SYNTAX));
            }
        }
        Ok(())
    })();
    c.late = options.err();
    Ok(c)
}

fn aggregate(agg: Agg, target: &mut f64, v: f64) {
    match agg {
        Agg::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if v < *target {
                *target = v
            }
        }
        Agg::Max => {
            if v > *target {
                *target = v
            }
        }
    }
}

/// The result of a ZUNION / ZINTER / ZDIFF over the sources read, ordered.
fn combine(c: &Combine, srcs: Vec<Option<Items>>) -> Items {
    let mut srcs: Vec<(Items, f64)> = srcs
        .into_iter()
        .map(Option::unwrap_or_default)
        .zip(c.weights.iter().copied())
        .collect();
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut out: Items = match c.op {
        SetOp::Diff => {
            let mut rest = srcs.split_off(1);
            let others: hashbrown::HashSet<Bytes> = rest
                .iter_mut()
                .flat_map(|(items, _)| std::mem::take(items).into_iter().map(|(m, _)| m))
                .collect();
            let first = srcs.pop().map(|s| s.0).unwrap_or_default();
            first
                .into_iter()
                .filter(|(m, _)| !others.contains(m))
                .collect()
        }
        SetOp::Inter => {
            if srcs.iter().any(|s| s.0.is_empty()) {
                return Vec::new();
            }
            srcs.sort_by_key(|s| s.0.len());
            let (first, w0) = srcs.remove(0);
            let maps: Vec<(hashbrown::HashMap<Bytes, f64>, f64)> = srcs
                .into_iter()
                .map(|(items, w)| (items.into_iter().collect(), w))
                .collect();
            let mut out = Vec::new();
            'member: for (m, s) in first {
                let mut score = weighted(s, w0);
                for (map, w) in &maps {
                    let Some(&t) = map.get(&m) else {
                        continue 'member;
                    };
                    aggregate(c.agg, &mut score, t * w);
                }
                out.push((m, score));
            }
            out
        }
        SetOp::Union => {
            srcs.sort_by_key(|s| s.0.len());
            let mut acc: hashbrown::HashMap<Bytes, f64> = hashbrown::HashMap::new();
            for (items, w) in srcs {
                for (m, s) in items {
                    match acc.entry(m) {
                        hashbrown::hash_map::Entry::Occupied(mut e) => {
                            aggregate(c.agg, e.get_mut(), weighted(s, w))
                        }
                        hashbrown::hash_map::Entry::Vacant(e) => {
                            e.insert(weighted(s, w));
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
    };
    // Scores are never NaN here; -0 and 0 compare equal, as in Redis.
    out.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

/// The combined elements once the sources are read, or the first error.
fn combine_finish(c: &Combine, srcs: Vec<Result<Option<Items>, Reply>>) -> Result<Items, Reply> {
    let mut read = Vec::with_capacity(srcs.len());
    for s in srcs {
        read.push(s?);
    }
    if let Some(e) = &c.late {
        return Err(e.clone());
    }
    Ok(combine(c, read))
}

fn combine_reply(c: &Combine, items: Items) -> Reply {
    match c.card {
        Some(0) => Reply::Int(items.len() as i64),
        Some(l) => Reply::Int(items.len().min(l) as i64),
        None => items_reply(items, c.withscores),
    }
}

async fn combine_run(
    cl: ClientRef,
    args: Vec<Bytes>,
    name: &'static str,
    op: SetOp,
    store_: bool,
    card: bool,
) -> Reply {
    let c = match parse_combine(&args, name, op, store_, card) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let db = cl.borrow().db;
    let cores = cores_of(c.keys.iter().chain(c.dst.iter()));
    if cores.len() == 1 {
        return one_job(cores[0], move || {
            with_ctx(db, |ctx| {
                // As Redis, the first key of another type ends the lookups.
                let mut srcs = Vec::with_capacity(c.keys.len());
                for k in &c.keys {
                    srcs.push(read_src(ctx, k));
                    if srcs.last().is_some_and(Result::is_err) {
                        break;
                    }
                }
                match combine_finish(&c, srcs) {
                    Err(e) => e,
                    Ok(items) => match &c.dst {
                        Some(d) => store(ctx, d, items, name),
                        None => combine_reply(&c, items),
                    },
                }
            })
        })
        .await;
    }
    let txn = Txn::begin(cores).await;
    let srcs = read_all(&txn, db, &c.keys).await;
    let reply = match combine_finish(&c, srcs) {
        Err(e) => e,
        Ok(items) => match c.dst.clone() {
            Some(d) => txn
                .call(core_of(&d), move || {
                    with_ctx(db, |ctx| store(ctx, &d, items, name))
                })
                .await
                .unwrap_or_else(|e| e),
            None => combine_reply(&c, items),
        },
    };
    txn.end().await;
    reply
}

fn zunion(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zunion", SetOp::Union, false, false))
}

fn zinter(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zinter", SetOp::Inter, false, false))
}

fn zdiff(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zdiff", SetOp::Diff, false, false))
}

fn zunionstore(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zunionstore", SetOp::Union, true, false))
}

fn zinterstore(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zinterstore", SetOp::Inter, true, false))
}

fn zdiffstore(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zdiffstore", SetOp::Diff, true, false))
}

fn zintercard(c: ClientRef, a: Vec<Bytes>) -> Fut {
    Box::pin(combine_run(c, a, "zintercard", SetOp::Inter, false, true))
}

/// ZRANGESTORE's source half: the selected elements (or WRONGTYPE).
fn rangestore_src(ctx: &mut Ctx, src: &[u8], cmd: &RangeCmd) -> Result<Items, Reply> {
    Ok(match zset(ctx, src, false)? {
        None => Vec::new(),
        Some(z) => select(z, &cmd.range, cmd.rev, cmd.offset, cmd.limit),
    })
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cmd = match parse_range(args, 3, None, None, true) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match rangestore_src(ctx, &args[2], &cmd) {
        Err(e) => e,
        Ok(items) => store(ctx, &args[1], items, "zrangestore"),
    }
}

async fn zrangestore_run(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let cmd = match parse_range(&args, 3, None, None, true) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let db = c.borrow().db;
    let (dst, src) = (args[1].clone(), args[2].clone());
    let txn = Txn::begin([core_of(&dst), core_of(&src)]).await;
    let reply = async {
        let items = txn
            .call(core_of(&src), move || {
                with_ctx(db, |ctx| rangestore_src(ctx, &src, &cmd))
            })
            .await??;
        txn.call(core_of(&dst), move || {
            with_ctx(db, |ctx| store(ctx, &dst, items, "zrangestore"))
        })
        .await
    }
    .await;
    txn.end().await;
    reply.unwrap_or_else(|e| e)
}

fn zrangestore_cross(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(zrangestore_run(c, args))
}

// --------------------------------------------------------------- blocking

/// Whether a blocked client can be served from `key` (on its core).
fn zset_ready(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    Ok(zset(ctx, key, true)?.is_some_and(|z| !z.is_empty()))
}

async fn block_pop(c: &ClientRef, keys: &[Bytes], timeout: u64, take: blocking::TakeFn) -> Reply {
    match blocking::block(c, keys, timeout, zset_ready, take).await {
        Blocked::Served(r) => r,
        // Pops finish on the key's core, so Woken is never the outcome.
        Blocked::TimedOut | Blocked::Gone | Blocked::Woken(_) => Reply::NilArray,
    }
}

/// BZPOPMIN / BZPOPMAX: keys, then the timeout; replies key, member, score.
/// The journal name of a pop of the lowest or highest scores.
fn zpop_name(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
    }
}

async fn bzpop(c: ClientRef, args: Vec<Bytes>, max: bool) -> Reply {
    let timeout = match blocking::parse_timeout(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let (m, s) = pop_here(ctx, key, max, 1).ok()??.pop()?;
        journal::record_effect(ctx.db, &[zpop_name(max), key]);
        Some(Reply::Array(vec![
            Reply::bulk(key),
            Reply::Bulk(m),
            Reply::Double(s),
        ]))
    });
    block_pop(&c, &args[1..args.len() - 1], timeout, take).await
}

fn bzpopmin(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(bzpop(c, args, false))
}

fn bzpopmax(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(bzpop(c, args, true))
}

/// BZMPOP timeout numkeys key ... MIN|MAX [COUNT n]: ZMPOP's reply.
async fn bzmpop_run(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let timeout = match blocking::parse_timeout(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let p = match parse_mpop(&args, 2) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (max, count) = (p.max, p.count);
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let items = pop_here(ctx, key, max, count).ok()??;
        let n = items.len().to_string();
        journal::record_effect(ctx.db, &[zpop_name(max), key, n.as_bytes()]);
        Some(mpop_reply(Bytes::copy_from_slice(key), items))
    });
    block_pop(&c, &p.keys, timeout, take).await
}

fn bzmpop(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(bzmpop_run(c, args))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const N: (i32, i32, i32) = (0, 0, 0);
    const K1: (i32, i32, i32) = (1, 1, 1);
    const K2: (i32, i32, i32) = (1, 2, 1);
    const BK: (i32, i32, i32) = (1, -2, 1);
    let g = "sorted-set";
    let never = Cross::Never;
    t.extend([
        spec("zadd", -4, WRITE | DENYOOM | FAST, K1, Key(zadd), never, g, "Add one or more members to a sorted set, or update its score if it already exists", "1.2.0"),
        spec("zincrby", 4, WRITE | DENYOOM | FAST, K1, Key(zincrby), never, g, "Increment the score of a member in a sorted set", "1.2.0"),
        spec("zrem", -3, WRITE | FAST, K1, Key(zrem), never, g, "Remove one or more members from a sorted set", "1.2.0"),
        spec("zcard", 2, READONLY | FAST, K1, Key(zcard), never, g, "Get the number of members in a sorted set", "1.2.0"),
        spec("zscore", 3, READONLY | FAST, K1, Key(zscore), never, g, "Get the score associated with the given member in a sorted set", "1.2.0"),
        spec("zmscore", -3, READONLY | FAST, K1, Key(zmscore), never, g, "Get the score associated with the given members in a sorted set", "6.2.0"),
        spec("zrank", -3, READONLY | FAST, K1, Key(zrank), never, g, "Determine the index of a member in a sorted set", "2.0.0"),
        spec("zrevrank", -3, READONLY | FAST, K1, Key(zrevrank), never, g, "Determine the index of a member in a sorted set, with scores ordered from high to low", "2.0.0"),
        spec("zcount", 4, READONLY | FAST, K1, Key(zcount), never, g, "Count the members in a sorted set with scores within the given values", "2.0.0"),
        spec("zlexcount", 4, READONLY | FAST, K1, Key(zlexcount), never, g, "Count the number of members in a sorted set between a given lexicographical range", "2.8.9"),
        spec("zrange", -4, READONLY, K1, Key(zrange), never, g, "Return a range of members in a sorted set", "1.2.0"),
        spec("zrangestore", -5, WRITE | DENYOOM, K2, Key(zrangestore), Cross::Coord(zrangestore_cross), g, "Store a range of members from sorted set into another key", "6.2.0"),
        spec("zrevrange", -4, READONLY, K1, Key(zrevrange), never, g, "Return a range of members in a sorted set, by index, with scores ordered from high to low", "1.2.0"),
        spec("zrangebyscore", -4, READONLY, K1, Key(zrangebyscore), never, g, "Return a range of members in a sorted set, by score", "1.0.5"),
        spec("zrevrangebyscore", -4, READONLY, K1, Key(zrevrangebyscore), never, g, "Return a range of members in a sorted set, by score, with scores ordered from high to low", "2.2.0"),
        spec("zrangebylex", -4, READONLY, K1, Key(zrangebylex), never, g, "Return a range of members in a sorted set, by lexicographical range", "2.8.9"),
        spec("zrevrangebylex", -4, READONLY, K1, Key(zrevrangebylex), never, g, "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "2.8.9"),
        spec("zremrangebyrank", 4, WRITE, K1, Key(zremrangebyrank), never, g, "Remove all members in a sorted set within the given indexes", "2.0.0"),
        spec("zremrangebyscore", 4, WRITE, K1, Key(zremrangebyscore), never, g, "Remove all members in a sorted set within the given scores", "1.2.0"),
        spec("zremrangebylex", 4, WRITE, K1, Key(zremrangebylex), never, g, "Remove all members in a sorted set between the given lexicographical range", "2.8.9"),
        spec("zpopmin", -2, WRITE | FAST, K1, Key(zpopmin), never, g, "Remove and return members with the lowest scores in a sorted set", "5.0.0"),
        spec("zpopmax", -2, WRITE | FAST, K1, Key(zpopmax), never, g, "Remove and return members with the highest scores in a sorted set", "5.0.0"),
        spec("zmpop", -4, WRITE | MOVABLE_KEYS, N, Coord(zmpop), never, g, "Remove and return members with scores in a sorted set", "7.0.0"),
        spec("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, BK, Coord(bzpopmin), never, g, "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", "5.0.0"),
        spec("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, BK, Coord(bzpopmax), never, g, "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", "5.0.0"),
        spec("bzmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, N, Coord(bzmpop), never, g, "Remove and return members with scores in a sorted set or block until one is available", "7.0.0"),
        spec("zrandmember", -2, READONLY, K1, Key(zrandmember), never, g, "Get one or multiple random elements from a sorted set", "6.2.0"),
        spec("zscan", -3, READONLY, K1, Key(zscan), never, g, "Incrementally iterate sorted sets elements and associated scores", "2.8.0"),
        spec("zunion", -3, READONLY | MOVABLE_KEYS, N, Coord(zunion), never, g, "Add multiple sorted sets", "6.2.0"),
        spec("zinter", -3, READONLY | MOVABLE_KEYS, N, Coord(zinter), never, g, "Intersect multiple sorted sets", "6.2.0"),
        spec("zdiff", -3, READONLY | MOVABLE_KEYS, N, Coord(zdiff), never, g, "Subtract multiple sorted sets", "6.2.0"),
        spec("zintercard", -3, READONLY | MOVABLE_KEYS, N, Coord(zintercard), never, g, "Intersect multiple sorted sets and return the cardinality of the result", "7.0.0"),
        spec("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, K1, Coord(zunionstore), never, g, "Add multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
        spec("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, K1, Coord(zinterstore), never, g, "Intersect multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
        spec("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, K1, Coord(zdiffstore), never, g, "Subtract multiple sorted sets and store the resulting sorted set in a new key", "6.2.0"),
    ]);
}
