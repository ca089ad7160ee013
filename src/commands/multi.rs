//! Transactions: the client's MULTI state, WATCH, and the command rows of
//! MULTI/EXEC/DISCARD (which the dispatcher runs: see server/transaction.rs).
//!
//! A watched key lives on its shard core, so the watch does too: each core
//! keeps, per (db, key), the clients watching it and whether the key has
//! changed since. `key_changed` marks them; EXEC checks the marks on those
//! cores while it holds them, so no write can slip between check and run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::{flags::*, spec, with_ctx, ClientRef, Cross, Handler, Spec};
use crate::protocol::Reply;
use crate::runtime;

/// Commands queued after MULTI.
#[derive(Debug, Default)]
pub struct Multi {
    pub queued: Vec<Vec<Bytes>>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub aborted: bool,
    /// Cluster mode: what EXEC's routing check saw, confirmed where the
    /// queue runs.
    pub seen: Option<crate::cluster::route::Seen>,
}

/// A key a client watches, and the core that keeps the watch.
#[derive(Debug, Clone)]
pub struct Watched {
    pub db: usize,
    pub key: Bytes,
    pub core: usize,
}

struct Watcher {
    client: u64,
    changed: bool,
    /// Already logically expired when watched (its expiry is no change).
    expired: bool,
}

thread_local! {
    static WATCHES: RefCell<HashMap<(usize, Bytes), Vec<Watcher>>> = RefCell::new(HashMap::new());
}

/// A key changed on this core: every client watching it will fail EXEC.
pub fn key_changed(db: usize, key: &[u8]) {
    touch(db, key, false);
}

/// The server deleted an expired key on this core. As Redis's
/// touchWatchedKey: a watcher that found the key already expired sees no
/// change in its deletion (the key was logically gone all along).
pub fn key_expired(db: usize, key: &[u8]) {
    touch(db, key, true);
}

fn touch(db: usize, key: &[u8], expired_gone: bool) {
    WATCHES.with(|w| {
        let mut w = w.borrow_mut();
        if w.is_empty() {
            return;
        }
        if let Some(ws) = w.get_mut(&(db, Bytes::copy_from_slice(key))) {
            for x in ws.iter_mut() {
                if expired_gone && x.expired {
                    x.expired = false;
                } else {
                    x.changed = true;
                }
            }
        }
    });
}

/// FLUSHDB/FLUSHALL/SWAPDB of `db` (None: all) on this core: watched keys
/// that exist there count as changed, as Redis's touchAllWatchedKeysInDb.
pub fn db_replaced(db: Option<usize>) {
    WATCHES.with(|w| {
        let mut w = w.borrow_mut();
        for ((d, key), ws) in w.iter_mut() {
            if db.is_some_and(|x| x != *d) {
                continue;
            }
            let exists = with_ctx(*d, |ctx| ctx.db().peek(key).is_some());
            if exists {
                ws.iter_mut().for_each(|x| x.changed = true);
            }
        }
    });
}

/// Registers `client`'s watch of `key` on this core (the key's core).
fn watch_here(client: u64, db: usize, key: Bytes) {
    let expired = with_ctx(db, |ctx| {
        let now = ctx.now;
        ctx.db()
            .peek(&key)
            .and_then(|e| e.expire_at())
            .is_some_and(|at| at <= now)
    });
    WATCHES.with(|w| {
        let mut w = w.borrow_mut();
        let ws = w.entry((db, key)).or_default();
        if !ws.iter().any(|x| x.client == client) {
            ws.push(Watcher {
                client,
                changed: false,
                expired,
            });
        }
    });
}

/// Whether any of `client`'s watched keys on this core changed, or
/// expired since it was watched.
pub fn changed_here(client: u64, keys: &[(usize, Bytes)]) -> bool {
    WATCHES.with(|w| {
        let w = w.borrow();
        keys.iter().any(|(db, key)| {
            let Some(x) = w
                .get(&(*db, key.clone()))
                .and_then(|ws| ws.iter().find(|x| x.client == client))
            else {
                return false;
            };
            x.changed
                || (!x.expired
                    && with_ctx(*db, |ctx| {
                        let now = ctx.now;
                        ctx.db()
                            .peek(key)
                            .and_then(|e| e.expire_at())
                            .is_some_and(|at| at <= now)
                    }))
        })
    })
}

pub fn unwatch_here(client: u64, keys: &[(usize, Bytes)]) {
    WATCHES.with(|w| {
        let mut w = w.borrow_mut();
        for k in keys {
            if let Some(ws) = w.get_mut(k) {
                ws.retain(|x| x.client != client);
                if ws.is_empty() {
                    w.remove(k);
                }
            }
        }
    });
}

/// The client's watched keys grouped by the core that keeps them.
pub fn by_core(watched: &[Watched]) -> Vec<(usize, Vec<(usize, Bytes)>)> {
    let mut out: Vec<(usize, Vec<(usize, Bytes)>)> = Vec::new();
    for w in watched {
        match out.iter_mut().find(|(c, _)| *c == w.core) {
            Some((_, v)) => v.push((w.db, w.key.clone())),
            None => out.push((w.core, vec![(w.db, w.key.clone())])),
        }
    }
    out
}

/// Drops all of a client's watches (UNWATCH, EXEC, DISCARD, RESET, close).
pub async fn unwatch_all(c: &ClientRef) {
    let watched = std::mem::take(&mut c.borrow_mut().watched);
    if watched.is_empty() {
        return;
    }
    let id = c.borrow().id;
    let jobs = by_core(&watched).into_iter().map(|(core, keys)| {
        runtime::run_on(
            core,
            vec![Box::new(move || {
                unwatch_here(id, &keys);
                Reply::Ok
            })],
        )
    });
    futures_util::future::join_all(jobs.collect::<Vec<_>>()).await;
}

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

fn watch(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if c.borrow().multi.is_some() {
            return Reply::error("ERR WATCH inside MULTI is not allowed");
        }
        let (id, db) = {
            let st = c.borrow();
            (st.id, st.db)
        };
        let mut new = Vec::new();
        for key in &args[1..] {
            let core = crate::cluster::route::core(key);
            let known = c
                .borrow()
                .watched
                .iter()
                .any(|w| w.db == db && w.key == *key);
            if !known {
                new.push(Watched {
                    db,
                    key: key.clone(),
                    core,
                });
            }
        }
        let jobs = by_core(&new).into_iter().map(|(core, keys)| {
            runtime::run_on(
                core,
                vec![Box::new(move || {
                    for (db, key) in keys {
                        watch_here(id, db, key);
                    }
                    Reply::Ok
                })],
            )
        });
        futures_util::future::join_all(jobs.collect::<Vec<_>>()).await;
        c.borrow_mut().watched.extend(new);
        Reply::Ok
    })
}

fn unwatch(c: ClientRef, _: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        unwatch_all(&c).await;
        Reply::Ok
    })
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Dispatch};
    const N: (i32, i32, i32) = (0, 0, 0);
    let g = "transactions";
    let f = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;
    t.extend([
        spec(
            "multi",
            1,
            f,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Starts a transaction.",
            "1.2.0",
        ),
        spec(
            "exec",
            1,
            NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Executes all commands in a transaction.",
            "1.2.0",
        ),
        spec(
            "discard",
            1,
            f,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Discards a transaction.",
            "2.0.0",
        ),
        spec(
            "watch",
            -2,
            f,
            (1, -1, 1),
            Coord(watch),
            Cross::Never,
            g,
            "Monitors changes to keys to determine the execution of a transaction.",
            "2.2.0",
        ),
        spec(
            "unwatch",
            1,
            f,
            N,
            Coord(unwatch),
            Cross::Never,
            g,
            "Forgets about watched keys of a transaction.",
            "2.2.0",
        ),
    ]);
}
