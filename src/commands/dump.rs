//! DUMP, RESTORE and RESTORE-ASKING: a key's value in Redis's DUMP payload
//! (`persistence::rdb::payload`), so values move between Redwing and Redis
//! servers byte for byte. MIGRATE, which carries these payloads to another
//! server, is in `migrate.rs`.

use bytes::Bytes;

use super::{arg_i64, blocking, flags::*, is, propagate, spec, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::persistence::rdb::payload::{self, PayloadError};
use crate::persistence::rdb::WriteOptions;
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::storage::{evict, shard, Value};

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const BAD_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const BAD_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
const BAD_DATA: &str = "ERR Bad data format";

/// DUMP's payload for `value`, compressed as `rdbcompression` says (as
/// Redis's rdbSaveRawString does for DUMP too).
pub fn payload_of(value: &Value) -> Vec<u8> {
    payload::dump(
        value,
        WriteOptions {
            compression: config::num(Opt::Rdbcompression) == 1,
            checksum: true,
        },
    )
}

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.lookup_read(&args[1]) {
        Some(e) => Reply::Bulk(payload_of(&e.value).into()),
        None => Reply::Nil,
    }
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// Parses the options as restoreCommand does: IDLETIME and FREQ exclude
/// each other (the second one is a syntax error), values are checked as
/// they come.
fn parse_opts(args: &[Bytes]) -> Result<RestoreOpts, Reply> {
    let mut o = RestoreOpts::default();
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        let a = &args[i];
        if is(a, "replace") {
            o.replace = true;
        } else if is(a, "absttl") {
            o.absttl = true;
        } else if is(a, "idletime") && more && o.freq.is_none() {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(err(BAD_IDLETIME));
            }
            o.idle = Some(n as u64);
            i += 1;
        } else if is(a, "freq") && more && o.idle.is_none() {
            let n = arg_i64(&args[i + 1])?;
            if !(0..=255).contains(&n) {
                return Err(err(BAD_FREQ));
            }
            o.freq = Some(n as u8);
            i += 1;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// The LRU/LFU field of a restored key (objectSetLRUOrLFU): FREQ counts
/// under an LFU policy, IDLETIME (seconds) under any other.
fn restored_lru(o: &RestoreOpts) -> u32 {
    let fresh = evict::new_lru();
    if evict::policy().lfu() {
        o.freq.map_or(fresh, |f| (fresh & !0xFF) | f as u32)
    } else {
        let idle = o.idle.map_or(0, |s| s.min(u32::MAX as u64) as u32);
        shard::lru_clock().saturating_sub(idle)
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ n].
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = match parse_opts(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let key = &args[1];
    if !o.replace && ctx.lookup_write(key).is_some() {
        return err(BUSYKEY);
    }
    let ttl = match arg_i64(&args[2]) {
        Ok(n) if n < 0 => return err(BAD_TTL),
        Ok(n) => n,
        Err(e) => return e,
    };
    let value = match payload::load(&args[3]) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => return err(BAD_PAYLOAD),
        Err(PayloadError::BadData) => return err(BAD_DATA),
    };
    // Redis deletes the old value without a "del" event: the restore
    // replaces it.
    let deleted = o.replace && ctx.lookup_write(key).is_some() && {
        ctx.db().remove(key);
        true
    };
    let at = match ttl {
        0 => 0,
        t if o.absttl => t,
        t => ctx.now.saturating_add(t),
    };
    // A deadline already past stores nothing (a replica or a loading
    // server keeps it, as Redis's checkAlreadyExpired).
    let keeps = crate::storage::db::keeps_expired() || crate::persistence::loading();
    if at != 0 && at <= ctx.now && !keeps {
        if deleted {
            ctx.notify(events::GENERIC, "del", key);
            propagate::set_form(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.dirty(1);
        }
        return Reply::Ok;
    }
    ctx.insert(key, value, at, restored_lru(&o));
    blocking::signal(ctx, key);
    ctx.notify(events::GENERIC, "restore", key);
    ctx.dirty(1);
    Reply::Ok
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const K1: (i32, i32, i32) = (1, 1, 1);
    let g = "generic";
    let never = Cross::Never;
    t.extend([
        spec(
            "dump",
            2,
            READONLY,
            K1,
            Key(dump),
            never,
            g,
            "Return a serialized version of the value stored at the specified key.",
            "2.6.0",
        ),
        spec(
            "restore",
            -4,
            WRITE | DENYOOM,
            K1,
            Key(restore),
            never,
            g,
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            "2.6.0",
        ),
        spec(
            "migrate",
            -6,
            WRITE | MOVABLE_KEYS,
            (3, 3, 1),
            Coord(super::migrate::migrate_coord),
            never,
            g,
            "Atomically transfer a key from a Redis instance to another one.",
            "2.6.0",
        ),
        // What MIGRATE sends in cluster mode: RESTORE that a node importing
        // the key's slot accepts as if the client had sent ASKING.
        spec(
            "restore-asking",
            -4,
            WRITE | DENYOOM | ASKING,
            K1,
            Key(restore),
            never,
            "server",
            "An internal command for migrating keys in a cluster",
            "3.0.0",
        ),
    ]);
}
