//! The journal form of a write: a command that reproduces its effect when
//! replayed anywhere, at any time (the AOF at start-up, a replica). Most
//! writes are their own form; those that depend on the clock or on chance
//! are rewritten as Redis does: relative expiry becomes absolute (PEXPIREAT,
//! SET ... PXAT), SPOP becomes SREM of what it popped, INCRBYFLOAT becomes
//! SET of its result.

use std::cell::RefCell;

use bytes::Bytes;

use super::{arg_i64, is, Spec};
use crate::protocol::Reply;
use crate::storage::journal;

thread_local! {
    /// The form the running command chose for itself (XADD's generated ID
    /// and exact trim, XCLAIM's effects), taken by the next [`record`].
    static FORM: RefCell<Option<Vec<Vec<Bytes>>>> = const { RefCell::new(None) };
}

/// Sets the journal form of the command running now, for the writes whose
/// form depends on what they did (Redis's rewriteClientCommandArgument).
pub fn set_form(form: Vec<Bytes>) {
    set_forms(vec![form]);
}

/// Journals the running command as these commands instead of itself
/// (Redis's alsoPropagate with the command's own propagation prevented);
/// several go out as one MULTI/EXEC, as Redis wraps them.
pub fn set_forms(forms: Vec<Vec<Bytes>>) {
    if journal::enabled() {
        FORM.with(|f| *f.borrow_mut() = Some(forms));
    }
}

/// Records `forms` for database `db` now, several wrapped in MULTI/EXEC
/// (for effects journaled outside a key command: XREADGROUP's).
pub fn record_forms(db: usize, forms: &[Vec<Bytes>]) {
    if forms.len() > 1 {
        journal::atomic_local(|| forms.iter().for_each(|f| journal::record(db, f)));
    } else if let Some(f) = forms.first() {
        journal::record(db, f);
    }
}

/// Journals a write command that changed the dataset, given its reply.
pub fn record(spec: &Spec, db: usize, args: &[Bytes], reply: &Reply, now: i64) {
    let own = FORM.with(|f| f.borrow_mut().take());
    if !journal::enabled() {
        return;
    }
    if let Some(forms) = own {
        return record_forms(db, &forms);
    }
    match rewrite(spec.name, args, reply, now) {
        Some(form) => journal::record(db, &form),
        None => journal::record(db, args),
    }
}

fn num(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

/// Absolute unix ms of a relative or absolute expiry argument.
fn deadline(unit: &[u8], arg: &[u8], now: i64) -> Option<i64> {
    let t = arg_i64(arg).ok()?;
    let unit = std::str::from_utf8(unit).ok()?.to_ascii_lowercase();
    Some(match unit.as_str() {
        "ex" | "expire" | "setex" => now.saturating_add(t.saturating_mul(1000)),
        "px" | "pexpire" | "psetex" => now.saturating_add(t),
        "exat" | "expireat" => t.saturating_mul(1000),
        "pxat" | "pexpireat" => t,
        _ => return None,
    })
}

fn rewrite(name: &str, args: &[Bytes], reply: &Reply, now: i64) -> Option<Vec<Bytes>> {
    let word = |s: &'static str| Bytes::from_static(s.as_bytes());
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            let at = deadline(name.as_bytes(), &args[2], now)?;
            Some(vec![word("PEXPIREAT"), args[1].clone(), num(at)])
        }
        "setex" | "psetex" => {
            let at = deadline(name.as_bytes(), &args[2], now)?;
            Some(vec![
                word("SET"),
                args[1].clone(),
                args[3].clone(),
                word("PXAT"),
                num(at),
            ])
        }
        "set" => {
            let mut form = args[..3].to_vec();
            let mut i = 3;
            while i < args.len() {
                let a = &args[i];
                if ["ex", "px", "exat", "pxat"].iter().any(|u| is(a, u)) && i + 1 < args.len() {
                    form.push(word("PXAT"));
                    form.push(num(deadline(a, &args[i + 1], now)?));
                    i += 2;
                } else {
                    form.push(a.clone());
                    i += 1;
                }
            }
            Some(form)
        }
        "getex" => {
            if args.len() >= 3 && is(&args[2], "persist") {
                return Some(vec![word("PERSIST"), args[1].clone()]);
            }
            let at = deadline(args.get(2)?, args.get(3)?, now)?;
            Some(vec![word("PEXPIREAT"), args[1].clone(), num(at)])
        }
        "spop" => {
            let mut form = vec![word("SREM"), args[1].clone()];
            match reply {
                Reply::Bulk(m) => form.push(m.clone()),
                Reply::Array(ms) | Reply::Set(ms) => {
                    form.extend(ms.iter().filter_map(|m| match m {
                        Reply::Bulk(b) => Some(b.clone()),
                        _ => None,
                    }))
                }
                _ => return None,
            }
            Some(form)
        }
        "incrbyfloat" => match reply {
            Reply::Bulk(v) => Some(vec![
                word("SET"),
                args[1].clone(),
                v.clone(),
                word("KEEPTTL"),
            ]),
            _ => None,
        },
        "hincrbyfloat" => match reply {
            Reply::Bulk(v) => Some(vec![
                word("HSET"),
                args[1].clone(),
                args[2].clone(),
                v.clone(),
            ]),
            _ => None,
        },
        // Redis runs (and propagates) GEOADD as the ZADD of its scores.
        "geoadd" => super::geo::zadd_args(args).ok(),
        "restore" | "restore-asking" => {
            let ttl = arg_i64(&args[2]).ok()?;
            if ttl <= 0 || args[4..].iter().any(|a| is(a, "absttl")) {
                return None;
            }
            let mut form = args.to_vec();
            form[2] = num(now.saturating_add(ttl));
            form.push(word("ABSTTL"));
            Some(form)
        }
        _ => None,
    }
}
