//! The string family.

use bytes::Bytes;

use super::{arg_i64, flags::*, is, spec, Cross, Ctx, Handler, Merge, Spec};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::storage::Value;

/// The stored string at `key`, or the WRONGTYPE reply.
pub(crate) fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(b) => Ok(Some(b.clone())),
            #[allow(unreachable_patterns)]
            _ => Err(err(errors::WRONGTYPE)),
        },
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_str(ctx, &args[1]) {
        Ok(v) => Reply::bulk_opt(v),
        Err(e) => e,
    }
}

/// How SET treats an existing TTL and the key's presence.
#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// Absolute expiry, unix ms.
    expire_at: Option<i64>,
}

fn parse_set_opts(ctx: &Ctx, args: &[Bytes]) -> Result<SetOpts, Reply> {
    let mut o = SetOpts::default();
    let mut i = 3;
    let mut has_expire = false;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "NX") && !o.xx {
            o.nx = true;
        } else if is(a, "XX") && !o.nx {
            o.xx = true;
        } else if is(a, "GET") {
            o.get = true;
        } else if is(a, "KEEPTTL") && !has_expire {
            o.keepttl = true;
        } else if (is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT"))
            && !o.keepttl
            && !has_expire
            && next.is_some()
        {
            let n = arg_i64(next.unwrap())?;
            let unit_ms = is(a, "EX") || is(a, "EXAT");
            let absolute = is(a, "EXAT") || is(a, "PXAT");
            if n <= 0 || (unit_ms && n > i64::MAX / 1000) {
                return Err(errors::invalid_expire("set"));
            }
            let ms = if unit_ms { n * 1000 } else { n };
            let at = if absolute {
                Some(ms)
            } else {
                ctx.now.checked_add(ms)
            };
            o.expire_at = Some(at.ok_or_else(|| errors::invalid_expire("set"))?);
            has_expire = true;
            i += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = match parse_set_opts(ctx, args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let key = &args[1];
    let (old, old_ttl) = match ctx.lookup_write(key) {
        None => (None, 0),
        Some(e) => {
            let ttl = e.expire_at().unwrap_or(0);
            match &e.value {
                Value::Str(b) => (Some(Some(b.clone())), ttl),
                #[allow(unreachable_patterns)]
                _ if o.get => return err(errors::WRONGTYPE),
                #[allow(unreachable_patterns)]
                _ => (Some(None), ttl),
            }
        }
    };
    let exists = old.is_some();
    let previous = || {
        if o.get {
            Reply::bulk_opt(old.clone().flatten())
        } else {
            Reply::Nil
        }
    };
    if (o.nx && exists) || (o.xx && !exists) {
        return previous();
    }
    let expire_at = match (o.expire_at, o.keepttl) {
        (Some(at), _) => at,
        (None, true) => old_ttl,
        (None, false) => 0,
    };
    let lru = crate::storage::shard::lru_clock();
    ctx.db()
        .insert(key, Value::string(&args[2]), expire_at, lru);
    ctx.dirty(1);
    if o.get {
        previous()
    } else {
        Reply::Ok
    }
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Array(
        args[1..]
            .iter()
            .map(|k| match read_str(ctx, k) {
                Ok(v) => Reply::bulk_opt(v),
                Err(_) => Reply::Nil,
            })
            .collect(),
    )
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() % 2 == 0 {
        return errors::wrong_args("mset");
    }
    let lru = crate::storage::shard::lru_clock();
    for kv in args[1..].chunks(2) {
        ctx.db().insert(&kv[0], Value::string(&kv[1]), 0, lru);
    }
    ctx.dirty(args.len() as u64 / 2);
    Reply::Ok
}

/// INCR family: adds `by` to the integer at `key`.
pub(crate) fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    let (cur, ttl) = match ctx.lookup_write(key) {
        None => (0, 0),
        Some(e) => {
            let ttl = e.expire_at().unwrap_or(0);
            match &e.value {
                Value::Str(b) => match crate::protocol::parse_i64(b) {
                    Some(n) => (n, ttl),
                    None => return err(errors::NOT_INTEGER),
                },
                #[allow(unreachable_patterns)]
                _ => return err(errors::WRONGTYPE),
            }
        }
    };
    let Some(n) = cur.checked_add(by) else {
        return err(errors::OVERFLOW);
    };
    let lru = crate::storage::shard::lru_clock();
    ctx.db().insert(
        key,
        Value::string(itoa::Buffer::new().format(n).as_bytes()),
        ttl,
        lru,
    );
    ctx.dirty(1);
    Reply::Int(n)
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "string";
    t.extend([
        spec("get", 2, READONLY | FAST, (1, 1, 1), Key(get), Cross::Never, g, "Returns the string value of a key.", "1.0.0"),
        spec("set", -3, WRITE | DENYOOM, (1, 1, 1), Key(set), Cross::Never, g, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0"),
        spec("mget", -2, READONLY | FAST, (1, -1, 1), Key(mget), Cross::Split(Merge::Array), g, "Atomically returns the string values of one or more keys.", "1.0.0"),
        spec("mset", -3, WRITE | DENYOOM, (1, -1, 2), Key(mset), Cross::Split(Merge::Ok), g, "Atomically creates or modifies the string values of one or more keys.", "1.0.1"),
        spec("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), Key(incr), Cross::Never, g, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    ]);
}
