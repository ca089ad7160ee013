//! Streams (XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XINFO
//! STREAM, XREAD), with Redis 7.0's replies and error texts
//! (t_stream.c). The data structure is `storage::stream`.
//!
//! Single-key commands run on the key's core. XREAD reads each key on its
//! core; with BLOCK and nothing to read it waits in `blocking::block`, the
//! same line the blocking list commands use, and every XADD signals it.
//! A write whose effect depends on the moment (an automatic ID, a `~`
//! trim) is journaled in its exact form, as Redis rewrites it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use super::blocking::{self, Outcome};
use super::{flags::*, is, propagate, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::{parse_i64, Reply};
use crate::runtime;
use crate::storage::evict::new_lru;
use crate::storage::stream::{AppendError, Fields, NodeLimits, Stream, StreamId, Trim};
use crate::storage::Value;

mod groups;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn as_stream(v: &mut Value) -> Option<&mut Stream> {
    match v {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

/// The stream at `key` for writing: None when missing, WRONGTYPE for another type.
fn stream_w<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => as_stream(&mut e.value)
            .map(Some)
            .ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// The stream at `key` for reading (counts a hit or miss).
fn stream_r<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_stream(&mut e.value)
            .map(Some)
            .ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// The stream at `key` for reading, "ERR no such key" when missing (XINFO).
fn existing_stream<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Stream, Reply> {
    stream_r(ctx, key)?.ok_or_else(|| err(errors::NO_SUCH_KEY))
}

fn done(r: Result<Reply, Reply>) -> Reply {
    r.unwrap_or_else(|e| e)
}

fn limits() -> NodeLimits {
    NodeLimits {
        max_bytes: config::num(Opt::StreamNodeMaxBytes).max(0) as usize,
        max_entries: config::num(Opt::StreamNodeMaxEntries),
    }
}

/// Redis's string2ull: a canonical integer (not negative), or what
/// strtoull accepts in full (leading spaces, a sign, leading zeros).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64(s) {
        return u64::try_from(n).ok();
    }
    let t = match s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        Some(i) => &s[i..],
        None => return None,
    };
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// An ID as given: `ms-seq`, `ms` (seq = `missing_seq`), `-`/`+` unless
/// `strict`, and `ms-*` when `auto_seq` (then the bool is false: no
/// sequence given).
fn parse_id(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    auto_seq: bool,
) -> Result<(StreamId, bool), Reply> {
    let invalid = || err(INVALID_ID);
    if b.len() > 127 {
        return Err(invalid());
    }
    match b {
        b"-" | b"+" if strict => return Err(invalid()),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    // Redis copies into a C string: a NUL ends it.
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    let (ms, seq) = match b.iter().position(|&c| c == b'-') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let ms = string2ull(ms).ok_or_else(invalid)?;
    match seq {
        Some(b"*") if auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((StreamId::new(ms, string2ull(s).ok_or_else(invalid)?), true)),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

fn strict_id(b: &[u8]) -> Result<StreamId, Reply> {
    parse_id(b, 0, true, false).map(|r| r.0)
}

/// A range bound: `(` makes it exclusive (then `-`/`+` are invalid).
fn interval_id(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if b.len() > 1 && b[0] == b'(' {
        Ok((parse_id(&b[1..], missing_seq, true, false)?.0, true))
    } else {
        Ok((parse_id(b, missing_seq, false, false)?.0, false))
    }
}

fn entry_reply(id: StreamId, fields: Fields) -> Reply {
    let mut kv = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        kv.push(Reply::Bulk(f));
        kv.push(Reply::Bulk(v));
    }
    Reply::Array(vec![Reply::Bulk(id.to_bytes()), Reply::Array(kv)])
}

/// Up to `count` (0: all) entries from `start` to `end` as a reply array.
fn entries(s: &Stream, start: StreamId, end: StreamId, rev: bool, count: u64) -> Reply {
    let mut out = Vec::new();
    s.range(start, end, rev, |id, f| {
        out.push(entry_reply(id, f));
        count == 0 || (out.len() as u64) < count
    });
    Reply::Array(out)
}

/// XADD/XTRIM trimming options.
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Index of the threshold argument (for the journal form).
    arg_idx: usize,
    limit_idx: Option<usize>,
}

/// XADD's own options.
struct AddArgs {
    trim: TrimArgs,
    nomkstream: bool,
    /// Given ID and whether its sequence was given; None for `*`.
    id: Option<(StreamId, bool)>,
    id_idx: usize,
}

/// streamParseAddOrTrimArgsOrReply.
fn parse_add_or_trim(args: &[Bytes], xadd: bool) -> Result<AddArgs, Reply> {
    let mut t = TrimArgs {
        how: None,
        approx: false,
        limit: 0,
        arg_idx: 0,
        limit_idx: None,
    };
    let (mut nomkstream, mut id) = (false, None);
    let mut limit_given = false;
    let mut i = 2;
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && &opt[..] == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if t.how.is_some() {
                return Err(err(both));
            }
            t.approx = false;
            let next = &args[i + 1];
            if more >= 2 && (&next[..] == b"~" || &next[..] == b"=") {
                t.approx = &next[..] == b"~";
                i += 1;
            }
            let v = &args[i + 1];
            t.how = Some(if is(opt, "maxlen") {
                let n = super::arg_i64(v)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(strict_id(v)?)
            });
            i += 1;
            t.arg_idx = i;
        } else if is(opt, "limit") && more > 0 {
            let n = super::arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            t.limit_idx = Some(i);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            id = Some(parse_id(opt, 0, true, true)?);
            break;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    if t.limit > 0 && t.how.is_none() {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.how.is_none() {
        return Err(err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !t.approx {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        // At most 100 nodes' worth of work per call.
        t.limit = (100 * config::num(Opt::StreamNodeMaxEntries)).max(0) as u64;
    } else {
        t.limit = 0;
    }
    Ok(AddArgs {
        trim: t,
        nomkstream,
        id,
        id_idx: i,
    })
}

/// Trims `s` as asked; after an approximate trim (XADD's always, XTRIM's
/// when it removed something, as Redis rewrites them) the exact form for
/// the journal: `=` and the resulting threshold, no LIMIT.
fn trim(s: &mut Stream, t: &TrimArgs, form: &mut Option<Vec<Bytes>>, args: &[Bytes]) -> u64 {
    let Some(how) = t.how else { return 0 };
    let n = s.trim(how, t.approx, t.limit);
    let xadd = is(&args[0], "xadd");
    if t.approx && (n > 0 || xadd) {
        let mut f = form.take().unwrap_or_else(|| args.to_vec());
        f[t.arg_idx - 1] = Bytes::from_static(b"=");
        f[t.arg_idx] = match how {
            Trim::MaxLen(_) => Bytes::from(s.len().to_string()),
            Trim::MinId(_) => s.first_id_with_tombstones().to_bytes(),
        };
        if let Some(li) = t.limit_idx {
            f.drain(li..li + 2);
        }
        *form = Some(f);
    }
    n
}

fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let a = match parse_add_or_trim(args, true) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let fields = a.id_idx + 1;
    if args.len() < fields + 2 || !(args.len() - fields).is_multiple_of(2) {
        return errors::wrong_args("xadd");
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &args[1];
    match stream_w(ctx, key) {
        Err(e) => return e,
        Ok(None) if a.nomkstream => return Reply::Nil,
        Ok(None) => {
            ctx.insert(key, Value::Stream(Box::default()), 0, new_lru());
        }
        Ok(Some(_)) => {}
    }
    let now = ctx.now.max(0) as u64;
    let s = stream_w(ctx, key)
        .ok()
        .flatten()
        .expect("stream just checked");
    if s.last_id == StreamId::MAX {
        return err("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match a.id {
        None => s.next_id(now),
        Some((id, true)) => Some(id),
        Some((id, false)) if id.ms == s.last_id.ms => {
            // `ms-*` on the last ID's millisecond: its successor, if any.
            match s.last_id.seq.checked_add(1) {
                Some(seq) => Some(StreamId::new(id.ms, seq)),
                None => return err("ERR Elements are too large to be stored"),
            }
        }
        Some((id, false)) => Some(id),
    };
    let Some(id) = id else {
        return err(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
    };
    match s.append(id, &args[fields..], limits()) {
        Ok(()) => {}
        Err(AppendError::IdTooSmall) => {
            return err(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            )
        }
        Err(AppendError::TooLarge) => return err("ERR Elements are too large to be stored"),
    }
    let mut form = None;
    if !matches!(a.id, Some((_, true))) {
        let mut f = args.to_vec();
        f[a.id_idx] = id.to_bytes();
        form = Some(f);
    }
    let trimmed = trim(s, &a.trim, &mut form, args);
    ctx.notify(events::STREAM, "xadd", key);
    ctx.dirty(1);
    if trimmed > 0 {
        ctx.notify(events::STREAM, "xtrim", key);
    }
    if let Some(f) = form {
        propagate::set_form(f);
    }
    blocking::signal(ctx, key);
    Reply::Bulk(id.to_bytes())
}

fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let a = match parse_add_or_trim(args, false) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let key = &args[1];
    let s = match stream_w(ctx, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(s)) => s,
    };
    let mut form = None;
    let n = trim(s, &a.trim, &mut form, args);
    if n > 0 {
        ctx.notify(events::STREAM, "xtrim", key);
        ctx.dirty(n);
        if let Some(f) = form {
            propagate::set_form(f);
        }
    }
    Reply::Int(n as i64)
}

/// XRANGE / XREVRANGE.
fn range_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let (sa, ea) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let r = (|| {
        let (mut start, sx) = interval_id(sa, 0)?;
        if sx {
            start = start
                .incr()
                .ok_or_else(|| err("ERR invalid start ID for the interval"))?;
        }
        let (mut end, ex) = interval_id(ea, u64::MAX)?;
        if ex {
            end = end
                .decr()
                .ok_or_else(|| err("ERR invalid end ID for the interval"))?;
        }
        let mut count: i64 = -1;
        let mut j = 4;
        while j < args.len() {
            if is(&args[j], "COUNT") && j + 1 < args.len() {
                count = super::arg_i64(&args[j + 1])?.max(0);
                j += 2;
            } else {
                return Err(err(errors::SYNTAX));
            }
        }
        let Some(s) = stream_r(ctx, &args[1])? else {
            return Ok(Reply::Array(vec![]));
        };
        if count == 0 {
            return Ok(Reply::NilArray);
        }
        Ok(entries(s, start, end, rev, count.max(0) as u64))
    })();
    done(r)
}

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, true)
}

fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match stream_r(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Int(s.map_or(0, |s| s.len() as i64)),
    }
}

fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    match stream_w(ctx, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(_)) => {}
    }
    let ids: Result<Vec<StreamId>, Reply> = args[2..].iter().map(|a| strict_id(a)).collect();
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let s = stream_w(ctx, key)
        .ok()
        .flatten()
        .expect("stream just checked");
    let n = s.delete_ids(&ids);
    if n > 0 {
        ctx.notify(events::STREAM, "xdel", key);
        ctx.dirty(n);
    }
    Reply::Int(n as i64)
}

fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = (|| {
        let id = strict_id(&args[2])?;
        let (mut added, mut max_del) = (None, StreamId::MIN);
        let mut i = 3;
        while i < args.len() {
            let more = args.len() - 1 - i;
            if is(&args[i], "ENTRIESADDED") && more > 0 {
                let n = super::arg_i64(&args[i + 1])?;
                if n < 0 {
                    return Err(err("ERR entries_added must be positive"));
                }
                added = Some(n as u64);
            } else if is(&args[i], "MAXDELETEDID") && more > 0 {
                max_del = strict_id(&args[i + 1])?;
                if id < max_del {
                    return Err(err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
                }
            } else {
                return Err(err(errors::SYNTAX));
            }
            i += 2;
        }
        let s = stream_w(ctx, &args[1])?.ok_or_else(|| err(errors::NO_SUCH_KEY))?;
        if !s.is_empty() {
            let top = s.edge(true).map_or(StreamId::MIN, |e| e.0);
            if id < top {
                return Err(err(
                    "ERR The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if added.is_some_and(|a| s.len() > a) {
                return Err(err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
            }
        }
        if id < s.max_deleted {
            return Err(err(
                "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
            ));
        }
        s.last_id = id;
        if let Some(a) = added {
            s.entries_added = a;
        }
        if !max_del.is_zero() {
            s.max_deleted = max_del;
        }
        ctx.dirty(1);
        ctx.notify(events::STREAM, "xsetid", &args[1]);
        Ok(Reply::Ok)
    })();
    done(r)
}

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn entry_or_nil(e: Option<(StreamId, Fields)>) -> Reply {
    e.map_or(Reply::Nil, |(id, f)| entry_reply(id, f))
}

/// XINFO STREAM key [FULL [COUNT n]] on the key's core.
fn xinfo_stream(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = (|| {
        let mut full = None;
        match args.len() {
            3 => {}
            4 if is(&args[3], "FULL") => full = Some(10),
            6 if is(&args[3], "FULL") && is(&args[4], "COUNT") => {
                full = Some(super::arg_i64(&args[5])?.max(0) as u64);
            }
            _ => {
                return Err(Reply::error(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
                    String::from_utf8_lossy(&args[1])
                )))
            }
        }
        let s = existing_stream(ctx, &args[2])?;
        let st = |k: &'static str| Reply::bulk(k);
        let id = |i: StreamId| Reply::Bulk(i.to_bytes());
        let mut m = vec![
            (st("length"), Reply::Int(s.len() as i64)),
            (st("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
            (st("radix-tree-nodes"), Reply::Int(s.rax_nodes() as i64)),
            (st("last-generated-id"), id(s.last_id)),
            (st("max-deleted-entry-id"), id(s.max_deleted)),
            (st("entries-added"), Reply::Int(s.entries_added as i64)),
            (st("recorded-first-entry-id"), id(s.first_id)),
        ];
        match full {
            None => {
                m.push((st("groups"), Reply::Int(s.groups.len() as i64)));
                m.push((st("first-entry"), entry_or_nil(s.edge(false))));
                m.push((st("last-entry"), entry_or_nil(s.edge(true))));
            }
            Some(count) => {
                let all = entries(s, StreamId::MIN, StreamId::MAX, false, count);
                m.push((st("entries"), all));
                m.push((st("groups"), groups::full_groups(s, count)));
            }
        }
        Ok(Reply::Map(m))
    })();
    done(r)
}

/// XINFO is a container: subcommand arity is checked here, then the
/// subcommand runs on the core owning the key.
async fn xinfo(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let name = String::from_utf8_lossy(&args[1]).to_lowercase();
    match name.as_str() {
        "help" if args.len() == 2 => {
            return Reply::Array(XINFO_HELP.iter().map(|l| Reply::status(*l)).collect())
        }
        "help" => return errors::wrong_args("xinfo|help"),
        "stream" if args.len() < 3 => return errors::wrong_args("xinfo|stream"),
        "groups" if args.len() != 3 => return errors::wrong_args("xinfo|groups"),
        "consumers" if args.len() != 4 => return errors::wrong_args("xinfo|consumers"),
        "stream" | "groups" | "consumers" => {}
        _ => return errors::unknown_subcommand("xinfo", &args[1]),
    }
    let run: fn(&mut Ctx, &[Bytes]) -> Reply = match name.as_str() {
        "groups" => groups::xinfo_groups,
        "consumers" => groups::xinfo_consumers,
        _ => xinfo_stream,
    };
    let db = c.borrow().db;
    let core = crate::cluster::route::core(&args[2]);
    let job: runtime::Job = Box::new(move || with_ctx(db, |ctx| run(ctx, &args)));
    runtime::run_on(core, vec![job])
        .await
        .pop()
        .unwrap_or(Reply::Nil)
}

fn xinfo_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(xinfo(c, args))
}

/// XREAD's and XREADGROUP's options.
struct ReadArgs {
    block: Option<u64>,
    count: u64,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
    /// XREADGROUP's GROUP group consumer.
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

/// Parses XREAD (`xreadgroup` false) or XREADGROUP.
fn parse_xread(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, Reply> {
    let (mut block, mut count) = (None, 0);
    let (mut group, mut noack) = (None, false);
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let o = &args[i];
        if is(o, "BLOCK") && more > 0 {
            let ms = parse_i64(&args[i + 1])
                .ok_or_else(|| err("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(err(errors::TIMEOUT_NEGATIVE));
            }
            block = Some(ms as u64);
            i += 2;
        } else if is(o, "COUNT") && more > 0 {
            count = super::arg_i64(&args[i + 1])?.max(0) as u64;
            i += 2;
        } else if is(o, "STREAMS") && more > 0 {
            let rest = &args[i + 1..];
            if !rest.len().is_multiple_of(2) {
                return Err(err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            if xreadgroup && group.is_none() {
                return Err(err("ERR Missing GROUP option for XREADGROUP"));
            }
            let n = rest.len() / 2;
            return Ok(ReadArgs {
                block,
                count,
                keys: rest[..n].to_vec(),
                ids: rest[n..].to_vec(),
                group,
                noack,
            });
        } else if (is(o, "GROUP") && more >= 2) || is(o, "NOACK") {
            let what = if is(o, "GROUP") { "GROUP" } else { "NOACK" };
            if !xreadgroup {
                return Err(Reply::error(format!(
                    "ERR The {what} option is only supported by XREADGROUP. You called XREAD instead."
                )));
            }
            if what == "NOACK" {
                noack = true;
                i += 1;
            } else {
                group = Some((args[i + 1].clone(), args[i + 2].clone()));
                i += 3;
            }
        } else {
            return Err(err(errors::SYNTAX));
        }
    }
    Err(err(errors::SYNTAX))
}

/// What XREAD found at one key on its core: the ID to read after, and the
/// entries after it (none, or an error for the key).
fn read_key(
    ctx: &mut Ctx,
    key: &[u8],
    id_arg: &[u8],
    count: u64,
) -> Result<(StreamId, Option<Reply>), Reply> {
    let s = stream_r(ctx, key)?;
    let after = match id_arg {
        b"$" => s.as_ref().map_or(StreamId::MIN, |s| s.last_id),
        b">" => {
            return Err(err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."))
        }
        _ => strict_id(id_arg)?,
    };
    let found = s.and_then(|s| {
        let top = s.edge(true)?.0;
        let start = after.incr().filter(|_| top > after)?;
        Some(entries(s, start, StreamId::MAX, false, count))
    });
    Ok((after, found))
}

/// How many entries a blocked reader gets at most: its COUNT, or 1000
/// (XREAD_BLOCKED_DEFAULT_COUNT) without one.
fn blocked_count(count: u64) -> u64 {
    if count == 0 {
        1000
    } else {
        count
    }
}

/// XREAD's reply: a map of key to entries in RESP3, an array of
/// [key, entries] pairs in RESP2.
fn xread_reply(pairs: Vec<(Reply, Reply)>, resp3: bool) -> Reply {
    if resp3 {
        Reply::Map(pairs)
    } else {
        Reply::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect(),
        )
    }
}

async fn xread(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let a = match parse_xread(&args, false) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let (db, resp3) = {
        let c = c.borrow();
        (c.db, c.resp3)
    };
    let count = a.count;
    let mut after = Vec::with_capacity(a.keys.len());
    let mut found = Vec::new();
    for (k, id) in a.keys.iter().zip(&a.ids) {
        let (k2, id2) = (k.clone(), id.clone());
        let job: runtime::Job = Box::new(move || {
            with_ctx(db, |ctx| match read_key(ctx, &k2, &id2, count) {
                Err(e) => e,
                Ok((id, r)) => {
                    Reply::Array(vec![Reply::Bulk(id.to_bytes()), r.unwrap_or(Reply::Nil)])
                }
            })
        });
        let r = runtime::run_on(crate::cluster::route::core(k), vec![job])
            .await
            .pop()
            .unwrap_or(Reply::Nil);
        let Reply::Array(mut v) = r else { return r };
        let data = v.pop().unwrap_or(Reply::Nil);
        let id = match v.pop() {
            Some(Reply::Bulk(b)) => strict_id(&b).unwrap_or(StreamId::MIN),
            _ => StreamId::MIN,
        };
        after.push(id);
        if !matches!(data, Reply::Nil) {
            found.push((Reply::Bulk(k.clone()), data));
        }
    }
    if !found.is_empty() {
        return xread_reply(found, resp3);
    }
    let Some(timeout) = a.block else {
        return Reply::NilArray;
    };
    // Block: ready once a key's last ID passes the one read after.
    let mut wanted: HashMap<Bytes, StreamId> = HashMap::new();
    for (k, id) in a.keys.iter().zip(after) {
        wanted.entry(k.clone()).or_insert(id);
    }
    let wanted = Arc::new(wanted);
    let w2 = wanted.clone();
    let ready = move |ctx: &mut Ctx, key: &[u8]| -> Result<bool, Reply> {
        let after = w2.get(key).copied().unwrap_or(StreamId::MAX);
        Ok(match ctx.lookup_read_nonotify(key).map(|e| &mut e.value) {
            Some(Value::Stream(s)) => s.last_id > after,
            _ => false,
        })
    };
    let count = blocked_count(count);
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let after = wanted.get(key).copied()?;
        let s = stream_r(ctx, key).ok().flatten()?;
        let data = match after.incr() {
            Some(start) => entries(s, start, StreamId::MAX, false, count),
            None => Reply::Array(vec![]),
        };
        Some(xread_reply(vec![(Reply::bulk(key), data)], resp3))
    });
    let keys: Vec<Bytes> = a.keys.clone();
    match blocking::block(&c, &keys, timeout, ready, take).await {
        Outcome::Served(r) => r,
        Outcome::TimedOut | Outcome::Gone | Outcome::Woken(_) => Reply::NilArray,
    }
}

fn xread_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(xread(c, args))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const N: (i32, i32, i32) = (0, 0, 0);
    const K1: (i32, i32, i32) = (1, 1, 1);
    let g = "stream";
    t.extend([
        spec("xadd", -5, WRITE | DENYOOM | FAST, K1, Key(xadd), Cross::Never, g, "Appends a new entry to a stream", "5.0.0"),
        spec("xrange", -4, READONLY, K1, Key(xrange), Cross::Never, g, "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0"),
        spec("xrevrange", -4, READONLY, K1, Key(xrevrange), Cross::Never, g, "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0"),
        spec("xlen", 2, READONLY | FAST, K1, Key(xlen), Cross::Never, g, "Return the number of entries in a stream", "5.0.0"),
        spec("xdel", -3, WRITE | FAST, K1, Key(xdel), Cross::Never, g, "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0"),
        spec("xtrim", -4, WRITE, K1, Key(xtrim), Cross::Never, g, "Trims the stream to (approximately if '~' is passed) a certain size", "5.0.0"),
        spec("xsetid", -3, WRITE | DENYOOM | FAST, K1, Key(xsetid), Cross::Never, g, "An internal command for replicating stream values", "5.0.0"),
        spec("xinfo", -2, 0, N, Coord(xinfo_coord), Cross::Never, g, "A container for stream introspection commands", "5.0.0"),
        spec("xgroup", -2, WRITE | DENYOOM, (2, 2, 1), Key(groups::xgroup), Cross::Never, g, "A container for consumer groups commands", "5.0.0"),
        spec("xreadgroup", -7, WRITE | BLOCKING | MOVABLE_KEYS, N, Coord(groups::xreadgroup_coord), Cross::Never, g, "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "5.0.0"),
        spec("xack", -4, WRITE | FAST, K1, Key(groups::xack), Cross::Never, g, "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "5.0.0"),
        spec("xpending", -3, READONLY, K1, Key(groups::xpending), Cross::Never, g, "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "5.0.0"),
        spec("xclaim", -6, WRITE | FAST, K1, Key(groups::xclaim), Cross::Never, g, "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "5.0.0"),
        spec("xautoclaim", -6, WRITE | FAST, K1, Key(groups::xautoclaim), Cross::Never, g, "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "6.2.0"),
        spec("xread", -4, READONLY | BLOCKING | MOVABLE_KEYS, N, Coord(xread_coord), Cross::Never, g, "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "5.0.0"),
    ]);
}
