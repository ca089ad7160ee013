//! SORT and SORT_RO, as Redis 7.0's sort.c: sort a list, set or sorted set
//! by its elements or by keys a pattern names (`BY weight_*`,
//! `BY obj_*->field`), return them or other keys' values (`GET`), or
//! store the result as a list (`STORE`).
//!
//! Keys named by patterns may live on any core, so SORT routes itself. With
//! nothing to look up and the destination (if any) on the key's core, the
//! whole command is one job there. Otherwise it holds the gates of the
//! cores involved (every core when patterns name keys) and runs in steps:
//! read the elements on the key's core, look the BY values up where they
//! live, sort here, look the GET values up, store on the destination's
//! core. Holding the gates makes it atomic, as in Redis.

use crate::cluster::route::core as core_of;
use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::{arg_i64, flags::*, is, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::{self, Txn};
use crate::storage::evict::new_lru;
use crate::storage::list::{End, List};
use crate::storage::Value;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// The parsed options, in Redis's names.
#[derive(Clone)]
struct Opts {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Bytes>,
    /// BY pattern; None also when it has no `*` (then nothing is sorted).
    by: Option<Bytes>,
    dontsort: bool,
    gets: Vec<Bytes>,
}

fn parse(args: &[Bytes], readonly: bool) -> Result<Opts, Reply> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit = Some((arg_i64(&args[j + 1])?, arg_i64(&args[j + 2])?));
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let p = &args[j + 1];
            o.dontsort = !p.contains(&b'*');
            o.by = (!o.dontsort).then(|| p.clone());
            j += 1;
        } else if is(a, "get") && left >= 1 {
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// What a pattern names for one element: the element itself (`#`), a
/// string key, a hash field, or nothing (no `*` in the pattern).
#[derive(Clone)]
enum Ref {
    Itself(Bytes),
    Key(Bytes, Option<Bytes>),
    Nothing,
}

/// Redis's lookupKeyByPattern naming step: the first `*` becomes the
/// element; `->field` after it (with a field) reads a hash field.
fn pattern_ref(pattern: &[u8], elem: &Bytes) -> Ref {
    if pattern == b"#" {
        return Ref::Itself(elem.clone());
    }
    let Some(star) = memchr::memchr(b'*', pattern) else {
        return Ref::Nothing;
    };
    let after = &pattern[star + 1..];
    let (post, field) = match memchr::memmem::find(after, b"->") {
        Some(a) if a + 2 < after.len() => {
            (&after[..a], Some(Bytes::copy_from_slice(&after[a + 2..])))
        }
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    Ref::Key(key.into(), field)
}

/// Reads what `r` names on this core: a string's value or a hash's field
/// (another type, or a missing key or field, reads as nothing).
fn read_ref(ctx: &mut Ctx, r: &Ref) -> Option<Bytes> {
    match r {
        Ref::Itself(e) => Some(e.clone()),
        Ref::Nothing => None,
        Ref::Key(key, field) => match (&ctx.lookup_read(key)?.value, field) {
            (Value::Str(s), None) => Some(s.to_bytes()),
            (Value::Hash(h), Some(f)) => h.get(f).map(Bytes::copy_from_slice),
            _ => None,
        },
    }
}

/// Reads every ref where its key lives, under `txn`; in order.
async fn read_refs_across(txn: &Txn, db: usize, refs: Vec<Ref>) -> Vec<Option<Bytes>> {
    let core_of_ref = |r: &Ref| match r {
        Ref::Key(k, _) => Some(core_of(k)),
        _ => None,
    };
    let mut out: Vec<Option<Bytes>> = refs
        .iter()
        .map(|r| match r {
            Ref::Itself(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let jobs = txn.cores().iter().map(|&core| {
        let (idx, mine): (Vec<usize>, Vec<Ref>) = refs
            .iter()
            .enumerate()
            .filter(|(_, r)| core_of_ref(r) == Some(core))
            .map(|(i, r)| (i, r.clone()))
            .unzip();
        async move {
            if mine.is_empty() {
                return (idx, Vec::new());
            }
            let got = txn
                .call(core, move || {
                    with_ctx(db, |ctx| {
                        mine.iter().map(|r| read_ref(ctx, r)).collect::<Vec<_>>()
                    })
                })
                .await
                .unwrap_or_default();
            (idx, got)
        }
    });
    for (idx, got) in futures_util::future::join_all(jobs).await {
        for (i, v) in idx.into_iter().zip(got) {
            out[i] = v;
        }
    }
    out
}

/// Redis's LIMIT arithmetic: the first and last positions to output
/// (`end < start` when none).
fn bounds(len: i64, limit: Option<(i64, i64)>) -> (i64, i64) {
    let (from, count) = limit.unwrap_or((0, -1));
    let mut start = from.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// The elements to sort, as read on the key's core.
struct Source {
    elems: Vec<Bytes>,
    /// The LIMIT is already applied (unsorted lists and sorted sets are
    /// read in their own order, only the range asked for).
    ranged: bool,
    /// Sort by the elements, ALPHA (an unsorted set being stored).
    force_alpha: bool,
}

fn source(ctx: &mut Ctx, key: &[u8], o: &Opts) -> Result<Source, Reply> {
    let mut src = Source {
        elems: Vec::new(),
        ranged: false,
        force_alpha: false,
    };
    let Some(e) = ctx.lookup_read(key) else {
        return Ok(src);
    };
    match &e.value {
        Value::List(l) if o.dontsort => {
            let (start, end) = bounds(l.len() as i64, o.limit);
            let n = (end - start + 1).max(0) as usize;
            let mut take = |x: &[u8]| {
                src.elems.push(Bytes::copy_from_slice(x));
                src.elems.len() < n
            };
            if n > 0 && o.desc {
                let mut skip = start as usize;
                l.each_rev(|x| {
                    if skip > 0 {
                        skip -= 1;
                        return true;
                    }
                    take(x)
                });
            } else if n > 0 {
                l.each_from(start as usize, take);
            }
            src.ranged = true;
        }
        Value::List(l) => src.elems = l.to_vec(),
        Value::ZSet(z) if o.dontsort => {
            let len = z.len() as i64;
            let (start, end) = bounds(len, o.limit);
            if end >= start {
                let (lo, hi) = if o.desc {
                    (len - 1 - end, len - start)
                } else {
                    (start, end + 1)
                };
                z.range(lo as usize, hi as usize, o.desc, |m, _| {
                    src.elems.push(Bytes::copy_from_slice(m))
                });
            }
            src.ranged = true;
        }
        Value::ZSet(z) => {
            z.range(0, z.len(), false, |m, _| {
                src.elems.push(Bytes::copy_from_slice(m))
            });
        }
        Value::Set(s) => {
            src.elems = s.iter().map(|m| m.with(Bytes::copy_from_slice)).collect();
            // An unsorted set is sorted anyway when stored, so the stored
            // list does not depend on the set's internal order.
            src.force_alpha = o.dontsort && o.store.is_some();
        }
        _ => return Err(err(errors::WRONGTYPE)),
    }
    Ok(src)
}

/// The BY refs of every element (None: the elements sort by themselves,
/// or are not sorted).
fn by_refs(src: &Source, o: &Opts) -> Option<Vec<Ref>> {
    let by = o.by.as_ref().filter(|_| !src.force_alpha)?;
    Some(src.elems.iter().map(|e| pattern_ref(by, e)).collect())
}

/// Sorts the elements (by `by`, their BY values, when given) and keeps the
/// LIMIT range: the elements to output, or the scores error.
fn sorted(src: Source, o: &Opts, by: Option<Vec<Option<Bytes>>>) -> Result<Vec<Bytes>, Reply> {
    let Source {
        mut elems,
        ranged,
        force_alpha,
    } = src;
    let (alpha, dontsort) = (o.alpha || force_alpha, o.dontsort && !force_alpha);
    if !dontsort {
        let by = by.unwrap_or_default();
        let mut items: Vec<(Bytes, Option<Bytes>, f64)> = Vec::with_capacity(elems.len());
        let mut bad_score = false;
        for (i, e) in elems.into_iter().enumerate() {
            let key = if by.is_empty() {
                Some(e.clone())
            } else {
                by.get(i).cloned().flatten()
            };
            let score = match (&key, alpha) {
                (Some(k), false) => crate::strtod::whole(k).unwrap_or_else(|| {
                    bad_score = true;
                    0.0
                }),
                _ => 0.0,
            };
            items.push((e, key.filter(|_| alpha), score));
        }
        if bad_score {
            return Err(err(NOT_DOUBLE));
        }
        let by_pattern = o.by.is_some() && !force_alpha;
        let compare = |a: &(Bytes, Option<Bytes>, f64), b: &(Bytes, Option<Bytes>, f64)| {
            let c = if !alpha {
                a.2.partial_cmp(&b.2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            } else if by_pattern {
                // A missing BY value sorts first.
                a.1.cmp(&b.1)
            } else {
                a.0.cmp(&b.0)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        };
        items.sort_by(compare);
        elems = items.into_iter().map(|i| i.0).collect();
    }
    if !ranged {
        let (start, end) = bounds(elems.len() as i64, o.limit);
        let keep = (end - start + 1).max(0) as usize;
        elems = elems
            .into_iter()
            .skip(start.max(0) as usize)
            .take(keep)
            .collect();
    }
    Ok(elems)
}

/// The GET refs of the output: for each element, one per GET pattern.
fn get_refs(elems: &[Bytes], o: &Opts) -> Vec<Ref> {
    elems
        .iter()
        .flat_map(|e| o.gets.iter().map(move |g| pattern_ref(g, e)))
        .collect()
}

/// The output rows: the elements, or their GET values.
fn rows(elems: Vec<Bytes>, o: &Opts, gets: Vec<Option<Bytes>>) -> Vec<Option<Bytes>> {
    if o.gets.is_empty() {
        elems.into_iter().map(Some).collect()
    } else {
        gets
    }
}

fn reply(rows: Vec<Option<Bytes>>) -> Reply {
    Reply::Array(
        rows.into_iter()
            .map(|r| r.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

/// STORE: the rows as a list at `dst` (a missing GET value stored as an
/// empty string), or `dst` deleted when there are none. Replies the count.
fn store(ctx: &mut Ctx, dst: &[u8], rows: Vec<Option<Bytes>>, by: u64) -> Reply {
    let n = rows.len();
    if n == 0 {
        if ctx.lookup_write(dst).is_some() {
            ctx.delete(dst);
            ctx.dirty(1);
            super::key_changed(ctx.db, dst, by);
        }
        return Reply::Int(0);
    }
    let fill = config::num(Opt::ListMaxListpackSize);
    let mut list = List::new();
    for r in &rows {
        list.push(End::Tail, r.as_deref().unwrap_or_default(), fill);
    }
    ctx.lookup_write(dst);
    ctx.insert(dst, Value::List(Box::new(list)), 0, new_lru());
    ctx.notify(events::LIST, "sortstore", dst);
    ctx.dirty(n as u64);
    super::blocking::signal(ctx, dst);
    super::key_changed(ctx.db, dst, by);
    Reply::Int(n as i64)
}

/// The whole command on the key's core: nothing to look up elsewhere.
fn sort_here(ctx: &mut Ctx, key: &[u8], o: &Opts, by_client: u64) -> Reply {
    let run = |ctx: &mut Ctx| -> Result<Reply, Reply> {
        let src = source(ctx, key, o)?;
        let by = by_refs(&src, o).map(|refs| refs.iter().map(|r| read_ref(ctx, r)).collect());
        let elems = sorted(src, o, by)?;
        let gets = get_refs(&elems, o)
            .iter()
            .map(|r| read_ref(ctx, r))
            .collect();
        let rows = rows(elems, o, gets);
        Ok(match &o.store {
            Some(dst) => store(ctx, dst, rows, by_client),
            None => reply(rows),
        })
    };
    run(ctx).unwrap_or_else(|e| e)
}

/// The command in steps under a transaction over the cores involved.
async fn sort_across(txn: &Txn, db: usize, key: Bytes, o: &Opts, by_client: u64) -> Reply {
    let opts = o.clone();
    let src = txn
        .call(core_of(&key), move || {
            with_ctx(db, |ctx| source(ctx, &key, &opts))
        })
        .await;
    let src = match src {
        Ok(Ok(src)) => src,
        Ok(Err(e)) | Err(e) => return e,
    };
    let by = match by_refs(&src, o) {
        Some(refs) => Some(read_refs_across(txn, db, refs).await),
        None => None,
    };
    let elems = match sorted(src, o, by) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let gets = read_refs_across(txn, db, get_refs(&elems, o)).await;
    let rows = rows(elems, o, gets);
    match o.store.clone() {
        Some(dst) => txn
            .call(core_of(&dst), move || {
                with_ctx(db, |ctx| store(ctx, &dst, rows, by_client))
            })
            .await
            .unwrap_or_else(|e| e),
        None => reply(rows),
    }
}

async fn sort(c: ClientRef, args: Vec<Bytes>, readonly: bool) -> Reply {
    let o = match parse(&args, readonly) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (db, id) = {
        let c = c.borrow();
        (c.db, c.id)
    };
    let key = args[1].clone();
    let home = core_of(&key);
    let names_keys = o.by.is_some() || o.gets.iter().any(|g| &g[..] != b"#");
    let dst_core = o.store.as_deref().map(core_of);
    if runtime::shards() == 1 || (!names_keys && dst_core.is_none_or(|d| d == home)) {
        let job: runtime::Job = Box::new(move || with_ctx(db, |ctx| sort_here(ctx, &key, &o, id)));
        return runtime::run_on(home, vec![job])
            .await
            .pop()
            .unwrap_or(Reply::Nil);
    }
    let cores: Vec<usize> = if names_keys {
        (0..runtime::shards()).collect()
    } else {
        [home].into_iter().chain(dst_core).collect()
    };
    let txn = Txn::begin(cores).await;
    let reply = sort_across(&txn, db, key, &o, id).await;
    txn.end().await;
    reply
}

fn sort_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(sort(c, args, false))
}

fn sort_ro_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(sort(c, args, true))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Coord;
    let g = "generic";
    t.extend([
        spec(
            "sort",
            -2,
            WRITE | DENYOOM | MOVABLE_KEYS,
            (1, 1, 1),
            Coord(sort_coord),
            Cross::Never,
            g,
            "Sort the elements in a list, set or sorted set, optionally storing the result",
            "1.0.0",
        ),
        spec(
            "sort_ro",
            -2,
            READONLY | MOVABLE_KEYS,
            (1, 1, 1),
            Coord(sort_ro_coord),
            Cross::Never,
            g,
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
            "7.0.0",
        ),
    ]);
}
