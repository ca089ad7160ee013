//! Consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO GROUPS / CONSUMERS and the groups of XINFO STREAM
//! FULL), with Redis 7.0's replies, errors, events and propagation
//! (t_stream.c). The groups live in `storage::stream::Stream::groups`.
//!
//! What is journaled is what Redis propagates: a delivery or a claim is
//! an `XCLAIM ... FORCE JUSTID LASTID` that recreates the pending entry
//! exactly (consumer, time, count), a NOACK read an `XGROUP SETID` with
//! ENTRIESREAD; XREADGROUP, XCLAIM and XAUTOCLAIM themselves never are.

use super::*;
use crate::storage::journal;
use crate::storage::stream::{Consumer, Group, ENTRIES_READ_UNKNOWN};

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn num(n: impl ToString) -> Bytes {
    Bytes::from(n.to_string())
}

/// "-NOGROUP No such key 'k' or consumer group 'g'" (+ `tail`).
fn no_key_or_group(key: &[u8], group: &[u8], tail: &str) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{tail}",
        text(key),
        text(group)
    ))
}

fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        text(group),
        text(key)
    ))
}

/// addReplySubcommandSyntaxError.
fn sub_syntax(args: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        text(&args[1]),
        text(&args[0]).to_uppercase()
    ))
}

/// The stream and group of a command that needs both, or its -NOGROUP
/// (looked up as Redis does, for reading: hits and misses count).
fn group_of<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    name: &[u8],
) -> Result<(&'a mut Stream, Bytes), Reply> {
    match stream_r(ctx, key)? {
        Some(s) if s.groups.contains_key(name) => Ok((s, Bytes::copy_from_slice(name))),
        _ => Err(no_key_or_group(key, name, "")),
    }
}

/// The XCLAIM Redis propagates for a delivery or claim of `id`
/// (streamPropagateXCLAIM).
fn xclaim_form(key: &Bytes, group: &Bytes, g: &Group, id: StreamId) -> Vec<Bytes> {
    let nack = &g.pel[&id];
    vec![
        word("XCLAIM"),
        key.clone(),
        group.clone(),
        nack.consumer.clone(),
        word("0"),
        id.to_bytes(),
        word("TIME"),
        num(nack.delivery_time),
        word("RETRYCOUNT"),
        num(nack.delivery_count),
        word("FORCE"),
        word("JUSTID"),
        word("LASTID"),
        g.last_id.to_bytes(),
    ]
}

/// The `XGROUP SETID` Redis propagates (streamPropagateGroupID).
fn setid_form(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    vec![
        word("XGROUP"),
        word("SETID"),
        key.clone(),
        group.clone(),
        g.last_id.to_bytes(),
        word("ENTRIESREAD"),
        num(g.entries_read),
    ]
}

/// XGROUP's subcommand arities (the command table's xgroup|... rows).
fn xgroup_arity(sub: &str) -> Option<i32> {
    Some(match sub {
        "create" | "setid" => -5,
        "destroy" => 4,
        "createconsumer" | "delconsumer" => 5,
        "help" => 2,
        _ => return None,
    })
}

pub(super) fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = text(&args[1]).to_lowercase();
    let Some(arity) = xgroup_arity(&sub) else {
        return errors::unknown_subcommand("xgroup", &args[1]);
    };
    let n = args.len();
    if (arity >= 0 && n != arity as usize) || (arity < 0 && n < (-arity) as usize) {
        return errors::wrong_args(&format!("xgroup|{sub}"));
    }
    if sub == "help" {
        return Reply::Array(XGROUP_HELP.iter().map(|l| Reply::status(*l)).collect());
    }
    done(xgroup_sub(ctx, args, &sub))
}

fn xgroup_sub(ctx: &mut Ctx, args: &[Bytes], sub: &str) -> Result<Reply, Reply> {
    let n = args.len();
    let (key, name) = (&args[2], &args[3]);
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_UNKNOWN);
    if sub == "create" || sub == "setid" {
        let mut i = 5;
        while i < n {
            if sub == "create" && is(&args[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "ENTRIESREAD") && i + 1 < n {
                entries_read = super::super::arg_i64(&args[i + 1])?;
                if entries_read < 0 && entries_read != ENTRIES_READ_UNKNOWN {
                    return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
                }
                i += 2;
            } else {
                return Err(sub_syntax(args));
            }
        }
    }
    let exists = stream_w(ctx, key)?.is_some();
    if !exists && !mkstream {
        return Err(err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    }
    let has_group = exists
        && stream_w(ctx, key)?
            .expect("stream just checked")
            .groups
            .contains_key(&name[..]);
    if !has_group && matches!(sub, "setid" | "createconsumer" | "delconsumer") {
        return Err(no_group(key, name));
    }
    let now = ctx.now;
    match sub {
        "create" if n <= 8 => {
            let id = if &args[4][..] == b"$" {
                match stream_w(ctx, key)? {
                    Some(s) => s.last_id,
                    None => StreamId::MIN,
                }
            } else {
                strict_id(&args[4])?
            };
            if !exists {
                ctx.insert(key, Value::Stream(Box::default()), 0, new_lru());
            }
            let s = stream_w(ctx, key)?.expect("stream exists");
            if s.groups.contains_key(&name[..]) {
                return Err(err("BUSYGROUP Consumer Group name already exists"));
            }
            s.groups.insert(name.clone(), Group::new(id, entries_read));
            ctx.dirty(1);
            ctx.notify(events::STREAM, "xgroup-create", key);
            Ok(Reply::Ok)
        }
        "setid" if n == 5 || n == 7 => {
            let s = stream_w(ctx, key)?.expect("stream exists");
            let id = if &args[4][..] == b"$" {
                s.last_id
            } else {
                parse_id(&args[4], 0, false, false)?.0
            };
            let g = s.groups.get_mut(&name[..]).expect("group exists");
            g.last_id = id;
            g.entries_read = entries_read;
            ctx.dirty(1);
            ctx.notify(events::STREAM, "xgroup-setid", key);
            Ok(Reply::Ok)
        }
        "destroy" => {
            let s = stream_w(ctx, key)?.expect("stream exists");
            if s.groups.remove(&name[..]).is_none() {
                return Ok(Reply::Int(0));
            }
            ctx.dirty(1);
            ctx.notify(events::STREAM, "xgroup-destroy", key);
            // Its blocked readers get -NOGROUP.
            blocking::signal(ctx, key);
            Ok(Reply::Int(1))
        }
        "createconsumer" => {
            let s = stream_w(ctx, key)?.expect("stream exists");
            let g = s.groups.get_mut(&name[..]).expect("group exists");
            if !g.create_consumer(&args[4], now) {
                return Ok(Reply::Int(0));
            }
            ctx.dirty(1);
            ctx.notify(events::STREAM, "xgroup-createconsumer", key);
            Ok(Reply::Int(1))
        }
        "delconsumer" => {
            let s = stream_w(ctx, key)?.expect("stream exists");
            let g = s.groups.get_mut(&name[..]).expect("group exists");
            let Some(pending) = g.delete_consumer(&args[4]) else {
                return Ok(Reply::Int(0));
            };
            ctx.dirty(1);
            ctx.notify(events::STREAM, "xgroup-delconsumer", key);
            Ok(Reply::Int(pending as i64))
        }
        _ => Err(sub_syntax(args)),
    }
}

pub(super) fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = (|| {
        let s = match stream_r(ctx, &args[1])? {
            Some(s) if s.groups.contains_key(&args[2][..]) => s,
            // No key or group: nothing to acknowledge.
            _ => return Ok(Reply::Int(0)),
        };
        let ids = args[3..]
            .iter()
            .map(|a| strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        let g = s.groups.get_mut(&args[2][..]).expect("group exists");
        let acked = ids.into_iter().filter(|&id| g.ack(id)).count();
        ctx.dirty(acked as u64);
        Ok(Reply::Int(acked as i64))
    })();
    done(r)
}

/// A range start: `(` excludes it.
fn range_start(b: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = interval_id(b, 0)?;
    if ex {
        return id
            .incr()
            .ok_or_else(|| err("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

pub(super) fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done(xpending_r(ctx, args))
}

fn xpending_r(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(err(errors::SYNTAX));
    }
    let mut range = None;
    if n >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&args[3], "IDLE") {
            min_idle = super::super::arg_i64(&args[4])?;
            if n < 8 {
                return Err(err(errors::SYNTAX));
            }
            at += 2;
        }
        let count = super::super::arg_i64(&args[at + 2])?.max(0) as usize;
        let start = range_start(&args[at])?;
        let (mut end, ex) = interval_id(&args[at + 1], u64::MAX)?;
        if ex {
            end = end
                .decr()
                .ok_or_else(|| err("ERR invalid end ID for the interval"))?;
        }
        range = Some((min_idle, start, end, count, args.get(at + 3)));
    }
    let now = ctx.now;
    let (s, name) = group_of(ctx, &args[1], &args[2])?;
    let g = &s.groups[&name];
    let Some((min_idle, start, end, count, consumer)) = range else {
        // The summary.
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let owners = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(num(c.pel.len())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            Reply::Bulk(first.to_bytes()),
            Reply::Bulk(last.to_bytes()),
            Reply::Array(owners),
        ]));
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(c) => match g.consumers.get(&c[..]) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return Ok(Reply::Array(vec![])),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    for id in ids.take_while(|&id| id <= end) {
        if out.len() >= count {
            break;
        }
        let nack = &g.pel[&id];
        let idle = now.saturating_sub(nack.delivery_time);
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        out.push(Reply::Array(vec![
            Reply::Bulk(id.to_bytes()),
            Reply::Bulk(nack.consumer.clone()),
            Reply::Int(idle.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

/// The reply element of a claimed entry: its ID (JUSTID) or the entry.
fn claimed(s: &Stream, id: StreamId, justid: bool) -> Reply {
    if justid {
        return Reply::Bulk(id.to_bytes());
    }
    let mut out = Reply::Nil;
    s.range(id, id, false, |id, f| {
        out = entry_reply(id, f);
        false
    });
    out
}

/// How a claim sets the delivery count.
#[derive(Clone, Copy)]
enum Count {
    Set(u64),
    Keep,
    Bump,
}

/// Claims pending `id` for `consumer` (created if needed, seen now) as
/// delivered at `time`: the claim of XCLAIM and XAUTOCLAIM. True if it
/// created the consumer.
fn claim(g: &mut Group, consumer: &Bytes, id: StreamId, time: i64, count: Count, now: i64) -> bool {
    let created = g.create_consumer(consumer, now);
    if let Some(c) = g.consumers.get_mut(consumer) {
        c.seen_time = now;
    }
    let nack = g.assign(id, consumer, time);
    nack.delivery_time = time;
    match count {
        Count::Set(n) => nack.delivery_count = n,
        Count::Keep => {}
        Count::Bump => nack.delivery_count += 1,
    }
    created
}

/// After XCLAIM or XAUTOCLAIM: the consumer's event if it was created,
/// the changes counted, and what is journaled instead of the command.
fn claims_done(ctx: &mut Ctx, key: &[u8], created: bool, dirty: u64, forms: Vec<Vec<Bytes>>) {
    if created {
        ctx.notify(events::STREAM, "xgroup-createconsumer", key);
    }
    if dirty > 0 {
        ctx.dirty(dirty);
        propagate::set_forms(forms);
    }
}

pub(super) fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done(xclaim_r(ctx, args))
}

/// XCLAIM's arguments after the consumer.
struct ClaimArgs {
    min_idle: i64,
    ids: Vec<StreamId>,
    force: bool,
    justid: bool,
    retry: Option<i64>,
    /// The delivery time to set (TIME, IDLE, or now).
    time: i64,
    last_id: StreamId,
}

fn parse_xclaim(args: &[Bytes], now: i64) -> Result<ClaimArgs, Reply> {
    let min_idle = super::super::arg_i64(&args[4])
        .map_err(|_| err("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while let Some(Ok(id)) = args.get(j).map(|a| strict_id(a)) {
        ids.push(id);
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let (mut retry, mut time, mut last_id) = (None, None, StreamId::MIN);
    let int = |b: &[u8], what: &str| {
        parse_i64(b)
            .ok_or_else(|| Reply::error(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let more = j + 1 < args.len();
        let o = &args[j];
        if is(o, "FORCE") {
            force = true;
        } else if is(o, "JUSTID") {
            justid = true;
        } else if is(o, "IDLE") && more {
            j += 1;
            time = Some(now.saturating_sub(int(&args[j], "IDLE")?));
        } else if is(o, "TIME") && more {
            j += 1;
            time = Some(int(&args[j], "TIME")?);
        } else if is(o, "RETRYCOUNT") && more {
            j += 1;
            retry = Some(int(&args[j], "RETRYCOUNT")?);
        } else if is(o, "LASTID") && more {
            j += 1;
            last_id = strict_id(&args[j])?;
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                text(o)
            )));
        }
        j += 1;
    }
    // A time in the future or before the epoch is taken as now.
    let time = time.filter(|t| (0..=now).contains(t)).unwrap_or(now);
    Ok(ClaimArgs {
        min_idle,
        ids,
        force,
        justid,
        retry,
        time,
        last_id,
    })
}

fn xclaim_r(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let (key, name, consumer) = (&args[1], &args[2], &args[3]);
    // A missing key or group is reported before a bad argument.
    let parsed = parse_xclaim(args, now);
    let (s, name) = group_of(ctx, key, name)?;
    let a = parsed?;
    let mut g = s.groups.remove(&name).expect("group exists");
    let mut set_last = false;
    if a.last_id > g.last_id {
        g.last_id = a.last_id;
        set_last = true;
    }
    let (mut dirty, mut created) = (0u64, false);
    let (mut out, mut forms) = (Vec::new(), Vec::new());
    for &id in &a.ids {
        let pending = g.pel.contains_key(&id);
        if !s.entry_exists(id) {
            if pending {
                forms.push(xclaim_form(key, &name, &g, id));
                set_last = false;
                dirty += 1;
                g.ack(id);
            }
            continue;
        }
        if !pending && !a.force {
            continue;
        }
        if let Some(nack) = g.pel.get(&id) {
            if a.min_idle > 0 && now.saturating_sub(nack.delivery_time) < a.min_idle {
                continue;
            }
        }
        // RETRYCOUNT sets the count; otherwise it grows unless JUSTID.
        let count = match a.retry {
            Some(n) if n >= 0 => Count::Set(n as u64),
            _ if a.justid => Count::Keep,
            _ => Count::Bump,
        };
        let consumer = Bytes::copy_from_slice(consumer);
        if claim(&mut g, &consumer, id, a.time, count, now) {
            created = true;
            dirty += 1;
        }
        out.push(claimed(s, id, a.justid));
        forms.push(xclaim_form(key, &name, &g, id));
        set_last = false;
        dirty += 1;
    }
    if set_last {
        forms.push(setid_form(key, &name, &g));
        dirty += 1;
    }
    s.groups.insert(name, g);
    claims_done(ctx, key, created, dirty, forms);
    Ok(Reply::Array(out))
}

pub(super) fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done(xautoclaim_r(ctx, args))
}

fn xautoclaim_r(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let (key, name, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = super::super::arg_i64(&args[4])
        .map_err(|_| err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = range_start(&args[5])?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < args.len() {
        if is(&args[j], "COUNT") && j + 1 < args.len() {
            let max = i64::MAX / 16;
            count = match parse_i64(&args[j + 1]) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Err(err("ERR COUNT must be > 0")),
            };
            j += 2;
        } else if is(&args[j], "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
    }
    let (s, name) = group_of(ctx, key, name)?;
    let mut g = s.groups.remove(&name).expect("group exists");
    let consumer = Bytes::copy_from_slice(consumer);
    let mut attempts = count * 10;
    let (mut out, mut deleted, mut forms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dirty, mut created) = (0u64, false);
    let mut cursor = StreamId::MIN;
    let pending: Vec<StreamId> = g.pel.range(start..).map(|(id, _)| *id).collect();
    let mut it = pending.into_iter();
    loop {
        if attempts == 0 || count == 0 {
            if let Some(next) = it.next() {
                cursor = next;
            }
            break;
        }
        attempts -= 1;
        let Some(id) = it.next() else { break };
        if !s.entry_exists(id) {
            forms.push(xclaim_form(key, &name, &g, id));
            g.ack(id);
            dirty += 1;
            deleted.push(Reply::Bulk(id.to_bytes()));
            count -= 1;
            continue;
        }
        if min_idle > 0 && now.saturating_sub(g.pel[&id].delivery_time) < min_idle {
            continue;
        }
        let n = if justid { Count::Keep } else { Count::Bump };
        if claim(&mut g, &consumer, id, now, n, now) {
            created = true;
            dirty += 1;
        }
        out.push(claimed(s, id, justid));
        forms.push(xclaim_form(key, &name, &g, id));
        dirty += 1;
        count -= 1;
    }
    s.groups.insert(name, g);
    claims_done(ctx, key, created, dirty, forms);
    Ok(Reply::Array(vec![
        Reply::Bulk(cursor.to_bytes()),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}

/// What one key of an XREADGROUP asks for.
#[derive(Clone)]
struct GroupRead {
    group: Bytes,
    consumer: Bytes,
    count: u64,
    noack: bool,
}

/// The ID argument of XREADGROUP: None for `>`, else the history start.
fn group_read_id(b: &[u8]) -> Result<Option<StreamId>, Reply> {
    match b {
        b"$" => Err(err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
        b">" => Ok(None),
        _ => strict_id(b).map(Some),
    }
}

/// The stream an XREADGROUP reads at `key`, which must have the group.
fn read_stream<'a>(ctx: &'a mut Ctx, key: &[u8], r: &GroupRead) -> Result<&'a mut Stream, Reply> {
    match stream_r(ctx, key)? {
        Some(s) if s.groups.contains_key(&r.group) => Ok(s),
        _ => Err(no_key_or_group(
            key,
            &r.group,
            " in XREADGROUP with GROUP option",
        )),
    }
}

/// Checks one key of an XREADGROUP: a stream with the group, a valid ID.
fn check_group_read(ctx: &mut Ctx, key: &[u8], id: &[u8], r: &GroupRead) -> Result<(), Reply> {
    read_stream(ctx, key, r)?;
    group_read_id(id).map(|_| ())
}

/// Serves one key of an XREADGROUP on its core (streamReplyWithRange with
/// a group): the key's entries, or None when there is nothing to serve
/// (`>` with no new entry). Journals what Redis propagates through
/// `record`.
fn serve_group_read(
    ctx: &mut Ctx,
    key: &Bytes,
    from: Option<StreamId>,
    r: &GroupRead,
    record: &mut dyn FnMut(usize, &[Vec<Bytes>]),
) -> Result<Option<Reply>, Reply> {
    let now = ctx.now;
    // A snapshot running now copies the key before it changes (the
    // command does not hold off snapshots: it may block).
    crate::persistence::snapshot::before_write(ctx.db, key);
    let s = read_stream(ctx, key, r)?;
    let mut g = s.groups.remove(&r.group).expect("group checked");
    let serve = from.is_some() || s.edge(true).is_some_and(|e| e.0 > g.last_id);
    if !serve {
        s.groups.insert(r.group.clone(), g);
        return Ok(None);
    }
    let mut forms = Vec::new();
    let created = g.create_consumer(&r.consumer, now);
    if created && r.noack {
        forms.push(vec![
            word("XGROUP"),
            word("CREATECONSUMER"),
            key.clone(),
            r.group.clone(),
            r.consumer.clone(),
        ]);
    }
    let c = g.consumers.get_mut(&r.consumer).expect("consumer exists");
    c.seen_time = now;
    let mut out = Vec::new();
    match from {
        Some(after) => {
            // The consumer's own history, after `after`.
            let ids: Vec<StreamId> = match after.incr() {
                Some(start) => c.pel.range(start..).copied().collect(),
                None => vec![],
            };
            for id in ids {
                if r.count > 0 && out.len() as u64 >= r.count {
                    break;
                }
                let e = claimed(s, id, false);
                if matches!(e, Reply::Nil) {
                    // Deleted since delivered: its ID and a null entry.
                    out.push(Reply::Array(vec![
                        Reply::Bulk(id.to_bytes()),
                        Reply::NilArray,
                    ]));
                    continue;
                }
                let nack = g.pel.get_mut(&id).expect("consumer PEL in group PEL");
                nack.delivery_time = now;
                nack.delivery_count += 1;
                out.push(e);
            }
        }
        None => {
            let mut got = Vec::new();
            if let Some(start) = g.last_id.incr() {
                s.range(start, StreamId::MAX, false, |id, f| {
                    got.push((id, f));
                    r.count == 0 || (got.len() as u64) < r.count
                });
            }
            for (id, f) in got {
                s.advance_group(&mut g, id);
                if !r.noack {
                    let nack = g.assign(id, &r.consumer, now);
                    nack.delivery_time = now;
                    nack.delivery_count = 1;
                    forms.push(xclaim_form(key, &r.group, &g, id));
                }
                out.push(entry_reply(id, f));
            }
            if r.noack && !out.is_empty() {
                forms.push(setid_form(key, &r.group, &g));
            }
        }
    }
    s.groups.insert(r.group.clone(), g);
    if created {
        ctx.notify(events::STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(1);
    record(ctx.db, &forms);
    Ok(Some(Reply::Array(out)))
}

async fn xreadgroup(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let a = match parse_xread(&args, true) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let (db, resp3) = {
        let c = c.borrow();
        (c.db, c.resp3)
    };
    let (group, consumer) = a.group.clone().expect("parse_xread checked GROUP");
    let read = GroupRead {
        group,
        consumer,
        count: a.count,
        noack: a.noack,
    };
    let on_core = |key: &Bytes, f: Box<dyn FnOnce(&mut Ctx) -> Reply + Send>| {
        let key = key.clone();
        async move {
            let job: runtime::Job = Box::new(move || with_ctx(db, f));
            runtime::run_on(crate::cluster::route::core(&key), vec![job])
                .await
                .pop()
                .unwrap_or(Reply::Nil)
        }
    };
    // Every key is checked before any is served, as Redis does.
    if a.keys.len() > 1 {
        for (k, id) in a.keys.iter().zip(&a.ids) {
            let (k2, id2, r) = (k.clone(), id.clone(), read.clone());
            let check = Box::new(
                move |ctx: &mut Ctx| match check_group_read(ctx, &k2, &id2, &r) {
                    Ok(()) => Reply::Ok,
                    Err(e) => e,
                },
            );
            let reply = on_core(k, check).await;
            if reply.is_error() {
                return reply;
            }
        }
    }
    let mut found = Vec::new();
    for (k, id) in a.keys.iter().zip(&a.ids) {
        let from = match group_read_id(id) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let (k2, r) = (k.clone(), read.clone());
        let serve = Box::new(move |ctx: &mut Ctx| {
            let mut record = |db: usize, forms: &[Vec<Bytes>]| propagate::record_forms(db, forms);
            match serve_group_read(ctx, &k2, from, &r, &mut record) {
                Ok(Some(entries)) => Reply::Array(vec![entries]),
                Ok(None) => Reply::Nil,
                Err(e) => e,
            }
        });
        match on_core(k, serve).await {
            Reply::Array(mut v) => {
                found.push((Reply::Bulk(k.clone()), v.pop().unwrap_or(Reply::Nil)))
            }
            Reply::Nil => {}
            e => return e,
        }
    }
    if !found.is_empty() {
        return xread_reply(found, resp3);
    }
    let Some(timeout) = a.block else {
        return Reply::NilArray;
    };
    // Block until a key has entries past the group's last ID; a key that
    // is gone, or a group destroyed meanwhile, answers with an error.
    let r = read.clone();
    let ready = move |ctx: &mut Ctx, key: &[u8]| -> Result<bool, Reply> {
        Ok(match ctx.lookup_read_nonotify(key).map(|e| &mut e.value) {
            Some(Value::Stream(s)) => s.groups.get(&r.group).is_none_or(|g| s.last_id > g.last_id),
            _ => true,
        })
    };
    let mut r = read;
    r.count = blocked_count(r.count);
    let take: blocking::TakeFn = Box::new(move |ctx, key| {
        let key = Bytes::copy_from_slice(key);
        match ctx.lookup_read_nonotify(&key).map(|e| &e.value) {
            Some(Value::Stream(s)) if s.groups.contains_key(&r.group) => {}
            Some(Value::Stream(_)) => {
                return Some(err(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
            _ => return Some(err("UNBLOCKED the stream key no longer exists")),
        }
        let mut record = |db: usize, forms: &[Vec<Bytes>]| {
            forms.iter().for_each(|f| journal::record_effect(db, f))
        };
        let entries = match serve_group_read(ctx, &key, None, &r, &mut record) {
            Ok(e) => e.unwrap_or(Reply::Array(vec![])),
            Err(e) => return Some(e),
        };
        Some(xread_reply(vec![(Reply::Bulk(key), entries)], resp3))
    });
    match blocking::block(&c, &a.keys, timeout, ready, take).await {
        Outcome::Served(r) => r,
        Outcome::TimedOut | Outcome::Gone | Outcome::Woken(_) => Reply::NilArray,
    }
}

pub(super) fn xreadgroup_coord(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(xreadgroup(c, args))
}

/// The "groups" of XINFO STREAM FULL: each group with its PEL and
/// consumers, lists cut at `count` (0: all).
pub(super) fn full_groups(s: &Stream, count: u64) -> Reply {
    let cut = |n: usize| count == 0 || (n as u64) < count;
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let mut pending = Vec::new();
            for (id, nack) in &g.pel {
                if !cut(pending.len()) {
                    break;
                }
                pending.push(Reply::Array(vec![
                    Reply::Bulk(id.to_bytes()),
                    Reply::Bulk(nack.consumer.clone()),
                    Reply::Int(nack.delivery_time),
                    Reply::Int(nack.delivery_count as i64),
                ]));
            }
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let mut own = Vec::new();
                    for id in &c.pel {
                        if !cut(own.len()) {
                            break;
                        }
                        let nack = &g.pel[id];
                        own.push(Reply::Array(vec![
                            Reply::Bulk(id.to_bytes()),
                            Reply::Int(nack.delivery_time),
                            Reply::Int(nack.delivery_count as i64),
                        ]));
                    }
                    fields(vec![
                        ("name", Reply::Bulk(cname.clone())),
                        ("seen-time", Reply::Int(c.seen_time)),
                        ("pel-count", Reply::Int(c.pel.len() as i64)),
                        ("pending", Reply::Array(own)),
                    ])
                })
                .collect();
            fields(vec![
                ("name", Reply::Bulk(name.clone())),
                ("last-delivered-id", Reply::Bulk(g.last_id.to_bytes())),
                ("entries-read", entries_read(g)),
                ("lag", s.lag(g).map_or(Reply::Nil, Reply::Int)),
                ("pel-count", Reply::Int(g.pel.len() as i64)),
                ("pending", Reply::Array(pending)),
                ("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    Reply::Array(groups)
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == ENTRIES_READ_UNKNOWN {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

/// A reply map with these field names.
fn fields(pairs: Vec<(&'static str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k), v))
            .collect(),
    )
}

/// XINFO GROUPS key.
pub(super) fn xinfo_groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    done(existing_stream(ctx, &args[2]).map(|s| {
        let info = |(name, g): (&Bytes, &Group)| {
            fields(vec![
                ("name", Reply::Bulk(name.clone())),
                ("consumers", Reply::Int(g.consumers.len() as i64)),
                ("pending", Reply::Int(g.pel.len() as i64)),
                ("last-delivered-id", Reply::Bulk(g.last_id.to_bytes())),
                ("entries-read", entries_read(g)),
                ("lag", s.lag(g).map_or(Reply::Nil, Reply::Int)),
            ])
        };
        Reply::Array(s.groups.iter().map(info).collect())
    }))
}

/// XINFO CONSUMERS key group.
pub(super) fn xinfo_consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    let (key, name) = (&args[2], &args[3]);
    let s = match existing_stream(ctx, key) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let Some(g) = s.groups.get(&name[..]) else {
        return no_group(key, name);
    };
    let info = |(cname, c): (&Bytes, &Consumer)| {
        fields(vec![
            ("name", Reply::Bulk(cname.clone())),
            ("pending", Reply::Int(c.pel.len() as i64)),
            ("idle", Reply::Int(now.saturating_sub(c.seen_time).max(0))),
        ])
    };
    Reply::Array(g.consumers.iter().map(info).collect())
}
