//! The hash family, with Redis 7.0's replies and error texts. Every command
//! names one key, so each runs whole on the core that owns it.

use bytes::Bytes;

use super::parse_cursor;
use super::strings::long_double;
use super::{arg_i64, flags::*, is, random_count, repeat_count, spec, Cross, Ctx, Handler, Spec};
use crate::config::events;
use crate::protocol::errors::{self, err};
use crate::protocol::{parse_i64, Reply};
use crate::storage::evict::new_lru;
use crate::storage::value::Hash;
use crate::storage::Value;

/// The hash at `key` for reading: None when missing, WRONGTYPE for another type.
fn read_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Hash>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(err(errors::WRONGTYPE)),
        },
    }
}

/// Runs `f` on the hash at `key`, created empty when missing (Redis's
/// hashTypeLookupWriteOrCreate); a new hash is stored only if `f` leaves
/// it non-empty.
fn write_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut Hash) -> Result<R, Reply>,
) -> Result<R, Reply> {
    if let Some(e) = ctx.lookup_write(key) {
        return match &mut e.value {
            Value::Hash(h) => f(h),
            _ => Err(err(errors::WRONGTYPE)),
        };
    }
    let mut h = Box::new(Hash::new());
    let r = f(&mut h)?;
    if !h.is_empty() {
        ctx.insert(key, Value::Hash(h), 0, new_lru());
    }
    Ok(r)
}

fn reply<R>(r: Result<R, Reply>, ok: impl FnOnce(R) -> Reply) -> Reply {
    r.map_or_else(|e| e, ok)
}

/// HSET and HMSET: every field/value pair, converting first for any
/// argument too long for a listpack. Returns the number of new fields.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes], name: &str) -> Result<i64, Reply> {
    if args.len() % 2 == 1 {
        return Err(errors::wrong_args(name));
    }
    let added = write_hash(ctx, &args[1], |h| {
        h.try_convert(args[2..].iter().map(|a| &a[..]));
        Ok(args[2..]
            .chunks(2)
            .filter(|fv| h.set(&fv[0], &fv[1]))
            .count() as i64)
    })?;
    ctx.dirty((args.len() as u64 - 2) / 2);
    ctx.notify(events::HASH, "hset", &args[1]);
    Ok(added)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply(set_pairs(ctx, args, "hset"), Reply::Int)
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply(set_pairs(ctx, args, "hmset"), |_| Reply::Ok)
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (field, value) = (&args[2], &args[3]);
    let r = write_hash(ctx, &args[1], |h| {
        if h.contains(field) {
            return Ok(false);
        }
        h.try_convert([&field[..], &value[..]]);
        h.set(field, value);
        Ok(true)
    });
    if let Ok(true) = r {
        ctx.dirty(1);
        ctx.notify(events::HASH, "hset", &args[1]);
    }
    reply(r, |set| Reply::Int(set as i64))
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(h) => match h.and_then(|h| h.get(&args[2])) {
            Some(v) => Reply::bulk(v),
            None => Reply::Nil,
        },
        Err(e) => e,
    }
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(h) => Reply::Array(
            args[2..]
                .iter()
                .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Nil, Reply::bulk))
                .collect(),
        ),
        Err(e) => e,
    }
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let (deleted, empty) = match ctx.lookup_write(key) {
        None => return Reply::Int(0),
        Some(e) => match &mut e.value {
            Value::Hash(h) => {
                let n = args[2..].iter().filter(|f| h.remove(f)).count();
                (n, h.is_empty())
            }
            _ => return err(errors::WRONGTYPE),
        },
    };
    if deleted > 0 {
        ctx.notify(events::HASH, "hdel", key);
    }
    if empty {
        ctx.delete(key);
    }
    ctx.dirty(deleted as u64);
    Reply::Int(deleted as i64)
}

/// Runs `f` on the hash at args[1], or answers `missing` / WRONGTYPE.
fn read_with(
    ctx: &mut Ctx,
    args: &[Bytes],
    missing: Reply,
    f: impl FnOnce(&Hash) -> Reply,
) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(Some(h)) => f(h),
        Ok(None) => missing,
        Err(e) => e,
    }
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Int(0), |h| Reply::Int(h.len() as i64))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Int(0), |h| {
        Reply::Int(h.get(&args[2]).map_or(0, |v| v.len() as i64))
    })
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Int(0), |h| {
        Reply::Int(h.contains(&args[2]) as i64)
    })
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.iter().map(|(k, _)| Reply::bulk(k)).collect())
    })
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.iter().map(|(_, v)| Reply::bulk(v)).collect())
    })
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_with(ctx, args, Reply::Map(Vec::new()), |h| {
        Reply::Map(
            h.iter()
                .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
                .collect(),
        )
    })
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let by = match arg_i64(&args[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let field = &args[2];
    let r = write_hash(ctx, &args[1], |h| {
        let cur = match h.get(field) {
            Some(v) => parse_i64(v).ok_or_else(|| err(errors::HASH_NOT_INTEGER))?,
            None => 0,
        };
        let new = cur.checked_add(by).ok_or_else(|| err(errors::OVERFLOW))?;
        h.set(field, itoa::Buffer::new().format(new).as_bytes());
        Ok(new)
    });
    if r.is_ok() {
        ctx.dirty(1);
        ctx.notify(events::HASH, "hincrby", &args[1]);
    }
    reply(r, Reply::Int)
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (field, by) = (&args[2], &args[3]);
    // The increment alone must be a finite number.
    match long_double::add(b"0", by) {
        Ok(_) => {}
        Err(errors::INCR_NAN) => return err(errors::HASH_INCR_NAN_OR_INF),
        Err(e) => return err(e),
    }
    let r = write_hash(ctx, &args[1], |h| {
        let cur = h.get(field).unwrap_or(b"0");
        let sum = long_double::add(cur, by).map_err(|e| match e {
            errors::NOT_FLOAT => err(errors::HASH_NOT_FLOAT),
            e => err(e),
        })?;
        h.set(field, sum.as_bytes());
        Ok(sum)
    });
    if r.is_ok() {
        ctx.dirty(1);
        ctx.notify(events::HASH, "hincrbyfloat", &args[1]);
    }
    reply(r, Reply::bulk)
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return read_with(ctx, args, Reply::Nil, |h| {
            let mut rng = rand::thread_rng();
            match h.random_with_repeats(1, &mut rng).first() {
                Some((k, _)) => Reply::bulk(k),
                None => Reply::Nil,
            }
        });
    }
    // Redis checks the range, then the syntax, then the pair limit.
    if let Err(e) = random_count(&args[2], false) {
        return e;
    }
    let with_values = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHVALUES") => true,
        _ => return err(errors::SYNTAX),
    };
    let l = match random_count(&args[2], with_values) {
        Ok(n) => n,
        Err(e) => return e,
    };
    read_with(ctx, args, Reply::Array(Vec::new()), |h| {
        let mut rng = rand::thread_rng();
        let picked = if l < 0 || l == 1 {
            match repeat_count(l.unsigned_abs()) {
                Ok(count) => h.random_with_repeats(count, &mut rng),
                Err(e) => return e,
            }
        } else {
            h.random_distinct(l as usize, &mut rng)
        };
        if with_values {
            Reply::Pairs(
                picked
                    .into_iter()
                    .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
                    .collect(),
            )
        } else {
            Reply::Array(picked.into_iter().map(|(k, _)| Reply::bulk(k)).collect())
        }
    })
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[2]) else {
        return err(errors::INVALID_CURSOR);
    };
    let scan_reply = |next: u64, items: Vec<Reply>| {
        Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(items)])
    };
    let h = match read_hash(ctx, &args[1]) {
        Ok(Some(h)) => h,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(e) => return e,
    };
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            match arg_i64(&args[i + 1]) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return err(errors::SYNTAX),
                Err(e) => return e,
            }
        } else if is(&args[i], "MATCH") && i + 1 < args.len() {
            pattern = Some(&args[i + 1]).filter(|p| &p[..] != b"*");
        } else {
            return err(errors::SYNTAX);
        }
        i += 2;
    }
    let mut items = Vec::new();
    let next = h.scan(cursor, count, |k, v| {
        if pattern.is_none_or(|p| crate::glob::matches(p, k, false)) {
            items.push(Reply::bulk(k));
            items.push(Reply::bulk(v));
        }
    });
    scan_reply(next, items)
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "hash";
    let row = |name, arity, flags, f, summary, since| {
        spec(
            name,
            arity,
            flags,
            (1, 1, 1),
            Key(f),
            Cross::Never,
            g,
            summary,
            since,
        )
    };
    t.extend([
        row(
            "hset",
            -4,
            WRITE | DENYOOM | FAST,
            hset,
            "Set the string value of a hash field",
            "2.0.0",
        ),
        row(
            "hsetnx",
            4,
            WRITE | DENYOOM | FAST,
            hsetnx,
            "Set the value of a hash field, only if the field does not exist",
            "2.0.0",
        ),
        row(
            "hget",
            3,
            READONLY | FAST,
            hget,
            "Get the value of a hash field",
            "2.0.0",
        ),
        row(
            "hmget",
            -3,
            READONLY | FAST,
            hmget,
            "Get the values of all the given hash fields",
            "2.0.0",
        ),
        row(
            "hmset",
            -4,
            WRITE | DENYOOM | FAST,
            hmset,
            "Set multiple hash fields to multiple values",
            "2.0.0",
        ),
        row(
            "hdel",
            -3,
            WRITE | FAST,
            hdel,
            "Delete one or more hash fields",
            "2.0.0",
        ),
        row(
            "hlen",
            2,
            READONLY | FAST,
            hlen,
            "Get the number of fields in a hash",
            "2.0.0",
        ),
        row(
            "hstrlen",
            3,
            READONLY | FAST,
            hstrlen,
            "Get the length of the value of a hash field",
            "3.2.0",
        ),
        row(
            "hexists",
            3,
            READONLY | FAST,
            hexists,
            "Determine if a hash field exists",
            "2.0.0",
        ),
        row(
            "hkeys",
            2,
            READONLY,
            hkeys,
            "Get all the fields in a hash",
            "2.0.0",
        ),
        row(
            "hvals",
            2,
            READONLY,
            hvals,
            "Get all the values in a hash",
            "2.0.0",
        ),
        row(
            "hgetall",
            2,
            READONLY,
            hgetall,
            "Get all the fields and values in a hash",
            "2.0.0",
        ),
        row(
            "hincrby",
            4,
            WRITE | DENYOOM | FAST,
            hincrby,
            "Increment the integer value of a hash field by the given number",
            "2.0.0",
        ),
        row(
            "hincrbyfloat",
            4,
            WRITE | DENYOOM | FAST,
            hincrbyfloat,
            "Increment the float value of a hash field by the given amount",
            "2.6.0",
        ),
        row(
            "hrandfield",
            -2,
            READONLY,
            hrandfield,
            "Get one or multiple random fields from a hash",
            "6.2.0",
        ),
        row(
            "hscan",
            -3,
            READONLY,
            hscan,
            "Incrementally iterate hash fields and associated values",
            "2.8.0",
        ),
    ]);
}
