//! Client-side caching: CLIENT TRACKING and the invalidation messages.
//!
//! Keys live on their shard core, so the tracking table does too: when a
//! tracking client reads a key, the core that owns the key remembers who
//! read it (in the same job as the read, so no write can slip between).
//! When that core changes the key it sends `invalidate` to each reader's
//! core (or its REDIRECT client's core) and forgets the key. BCAST
//! prefixes are registered on every core, since any core may change a
//! matching key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::client::{self as clients, ClientState};
use super::{is, ClientRef};
use crate::config::{self, Opt};
use crate::protocol::errors::{err, SYNTAX};
use crate::protocol::{parse_i64, Reply};
use crate::runtime;

/// Where a tracking client's invalidations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracker {
    /// The tracking client (NOLOOP compares with the writer).
    pub client: u64,
    pub client_core: usize,
    /// The client that receives the messages: itself or its REDIRECT.
    pub target: u64,
    pub target_core: usize,
    pub noloop: bool,
}

/// A client's CLIENT TRACKING settings.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING yes/no, for the next command only.
    pub caching: Option<bool>,
    pub broken_redirect: bool,
}

#[derive(Default)]
struct Table {
    /// Key → who read it since it last changed.
    keys: HashMap<Bytes, Vec<Tracker>>,
    /// BCAST prefixes → who listens.
    prefixes: Vec<(Bytes, Vec<Tracker>)>,
    /// Readers over all keys (INFO tracking_total_items).
    items: usize,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// Clients with tracking on, on all cores (INFO tracking_clients).
pub static CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// (tracked keys, tracked items, prefixes) on this core.
pub fn local_counts() -> (usize, usize, usize) {
    TABLE.with(|t| {
        let t = t.borrow();
        (t.keys.len(), t.items, t.prefixes.len())
    })
}

/// Whether anything on this core needs to hear about changed keys.
#[inline]
fn anyone_tracking() -> bool {
    CLIENTS.load(Ordering::Relaxed) > 0
}

/// Remembers that `t` read `key` (runs on the key's core).
pub fn remember(t: Tracker, key: &[u8]) {
    let evicted = TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        let readers = tab.keys.entry(Bytes::copy_from_slice(key)).or_default();
        if !readers.contains(&t) {
            readers.push(t);
            tab.items += 1;
        }
        // tracking-table-max-keys bounds the table; the oldest are not
        // known, so an arbitrary key is dropped (and invalidated), as Redis
        // drops random ones.
        let max = config::num(Opt::TrackingTableMaxKeys) as usize / runtime::shards().max(1);
        if max > 0 && tab.keys.len() > max {
            let k = tab.keys.keys().find(|k| k.as_ref() != key).cloned();
            let gone = k.and_then(|k| tab.keys.remove(&k).map(|r| (k, r)));
            if let Some((_, r)) = &gone {
                tab.items -= r.len();
            }
            gone
        } else {
            None
        }
    });
    if let Some((k, readers)) = evicted {
        send(&readers, Some(k));
    }
}

/// A key changed on this core (by client `by`, 0 for the server itself):
/// invalidate it for its readers and for matching BCAST prefixes.
pub fn key_changed(key: &[u8], by: u64) {
    if !anyone_tracking() {
        return;
    }
    let (readers, listeners) = TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        let readers = tab.keys.remove(key).unwrap_or_default();
        tab.items -= readers.len();
        let listeners: Vec<Tracker> = tab
            .prefixes
            .iter()
            .filter(|(p, _)| key.starts_with(p))
            .flat_map(|(_, ts)| ts.iter().copied())
            .collect();
        (readers, listeners)
    });
    let mut to: Vec<Tracker> = readers;
    for l in listeners {
        if !to
            .iter()
            .any(|t| t.target == l.target && t.client == l.client)
        {
            to.push(l);
        }
    }
    to.retain(|t| !(t.noloop && t.client == by));
    if !to.is_empty() {
        send(&to, Some(Bytes::copy_from_slice(key)));
    }
}

/// FLUSHDB/FLUSHALL: every tracking client on this core gets a null
/// invalidation (everything is stale), and this core's table is emptied.
pub fn flushed() {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.keys.clear();
        t.items = 0;
    });
    let mut all = Vec::new();
    clients::for_each_local(|c| all.extend(tracker_of(c)));
    send(&all, None);
}

/// Sends invalidations to each tracker's target core.
fn send(to: &[Tracker], key: Option<Bytes>) {
    let me = runtime::me();
    let mut remote: Vec<(usize, Vec<Tracker>)> = Vec::new();
    for t in to {
        if t.target_core == me {
            deliver_here(*t, key.clone());
        } else {
            match remote.iter_mut().find(|(c, _)| *c == t.target_core) {
                Some((_, v)) => v.push(*t),
                None => remote.push((t.target_core, vec![*t])),
            }
        }
    }
    for (core, ts) in remote {
        let key = key.clone();
        runtime::spawn(async move {
            runtime::run_on(
                core,
                vec![Box::new(move || {
                    for t in ts {
                        deliver_here(t, key.clone());
                    }
                    Reply::Ok
                })],
            )
            .await;
        });
    }
}

/// Writes one invalidation to a client on this core. RESP3 clients get a
/// push; RESP2 redirect targets get it as a `__redis__:invalidate`
/// message if they are subscribed, as Redis does.
fn deliver_here(t: Tracker, key: Option<Bytes>) {
    let keys = key.map_or(Reply::NilArray, |k| Reply::Array(vec![Reply::Bulk(k)]));
    // A reader that has since turned tracking off (or to BCAST) is skipped.
    if t.client_core == runtime::me() {
        let still = clients::with_local(t.client, |c| c.tracking.is_some());
        if still != Some(true) {
            return;
        }
    }
    let found = clients::with_local(t.target, |c| {
        if c.resp3 {
            c.push(&Reply::Push(vec![Reply::bulk("invalidate"), keys.clone()]));
        } else if t.target != t.client && c.subs.is_some() {
            c.push(&Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk("__redis__:invalidate"),
                keys.clone(),
            ]));
        }
    });
    if found.is_none() && t.target != t.client {
        // The redirect client is gone: tell the tracking client (RESP3).
        let note = Reply::Push(vec![
            Reply::bulk("tracking-redir-broken"),
            Reply::Int(t.target as i64),
        ]);
        let job = move || {
            clients::with_local(t.client, |c| {
                if let Some(tr) = c.tracking.as_mut() {
                    tr.broken_redirect = true;
                }
                if c.resp3 {
                    c.push(&note);
                }
            });
            Reply::Ok
        };
        if t.client_core == runtime::me() {
            job();
        } else {
            runtime::spawn(async move {
                runtime::run_on(t.client_core, vec![Box::new(job)]).await;
            });
        }
    }
}

/// The tracker for a client with tracking on.
pub fn tracker_of(c: &ClientState) -> Option<Tracker> {
    let tr = c.tracking.as_ref()?;
    let me = runtime::me();
    let (target, target_core) = match tr.redirect {
        Some(id) => (id, clients::core_of(id).unwrap_or(me)),
        None => (c.id, me),
    };
    Some(Tracker {
        client: c.id,
        client_core: me,
        target,
        target_core,
        noloop: tr.noloop,
    })
}

/// Whether the next read-only command's keys are to be remembered, given
/// OPTIN/OPTOUT and CLIENT CACHING; consumes the CACHING flag.
pub fn reader(c: &mut ClientState, read_only: bool) -> Option<Tracker> {
    let t = c.tracking.as_mut()?;
    let caching = t.caching.take();
    if !read_only || t.bcast {
        return None;
    }
    let wanted = if t.optin {
        caching == Some(true)
    } else if t.optout {
        caching != Some(false)
    } else {
        true
    };
    if wanted {
        tracker_of(c)
    } else {
        None
    }
}

/// Puts back a CLIENT CACHING flag that `reader` consumed (CLIENT CACHING
/// itself must not use up its own flag).
pub fn keep_caching(c: &mut ClientState, v: Option<bool>) {
    if let Some(t) = c.tracking.as_mut() {
        t.caching = v;
    }
}

/// Registers or removes a BCAST client's prefixes on every core.
async fn set_prefixes(t: Tracker, prefixes: Vec<Bytes>, on: bool) {
    runtime::run_on_each(0..runtime::shards(), move |_| {
        let prefixes = prefixes.clone();
        Box::new(move || {
            TABLE.with(|tab| {
                let mut tab = tab.borrow_mut();
                for p in prefixes {
                    match tab.prefixes.iter_mut().position(|(q, _)| *q == p) {
                        Some(i) => {
                            let ts = &mut tab.prefixes[i].1;
                            ts.retain(|x| x.client != t.client);
                            if on {
                                ts.push(t);
                            } else if ts.is_empty() {
                                tab.prefixes.remove(i);
                            }
                        }
                        None if on => tab.prefixes.push((p, vec![t])),
                        None => {}
                    }
                }
            });
            Reply::Ok
        })
    })
    .await;
}

/// Turns tracking off for a client; returns the BCAST registrations the
/// caller must remove from every core (`unregister_prefixes`).
pub fn stop(st: &mut ClientState) -> Option<(Tracker, Vec<Bytes>)> {
    let t = tracker_of(st)?;
    let tr = st.tracking.take()?;
    CLIENTS.fetch_sub(1, Ordering::Relaxed);
    if !tr.bcast {
        return None;
    }
    let prefixes = if tr.prefixes.is_empty() {
        vec![Bytes::new()]
    } else {
        tr.prefixes
    };
    Some((t, prefixes))
}

/// Removes a stopped BCAST client's prefixes from every core.
pub async fn unregister_prefixes(stopped: Option<(Tracker, Vec<Bytes>)>) {
    if let Some((t, prefixes)) = stopped {
        set_prefixes(t, prefixes, false).await;
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis's checks and error texts.
pub async fn client_tracking(c: &ClientRef, args: &[Bytes]) -> Reply {
    let on = if is(&args[2], "on") {
        true
    } else if is(&args[2], "off") {
        false
    } else {
        return err(SYNTAX);
    };
    let mut new = Tracking::default();
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        if is(a, "redirect") && has_next {
            if new.redirect.is_some() {
                return Reply::error("ERR A client can only redirect to a single other client");
            }
            match parse_i64(&args[i + 1]) {
                Some(id) if id > 0 => new.redirect = Some(id as u64),
                _ => return Reply::error("ERR The client ID you want redirect to does not exist"),
            }
            i += 2;
        } else if is(a, "bcast") {
            new.bcast = true;
            i += 1;
        } else if is(a, "optin") {
            new.optin = true;
            i += 1;
        } else if is(a, "optout") {
            new.optout = true;
            i += 1;
        } else if is(a, "noloop") {
            new.noloop = true;
            i += 1;
        } else if is(a, "prefix") && has_next {
            new.prefixes.push(args[i + 1].clone());
            i += 2;
        } else {
            return err(SYNTAX);
        }
    }
    if !on {
        let stopped = stop(&mut c.borrow_mut());
        unregister_prefixes(stopped).await;
        return Reply::Ok;
    }
    if let Some(e) = check_new(&c.borrow(), &new) {
        return e;
    }
    if let Some(id) = new.redirect {
        if id != c.borrow().id && clients::core_of(id).is_none() {
            return Reply::error("ERR The client ID you want redirect to does not exist");
        }
    }
    // Turning it on again keeps the mode (checked above); BCAST prefixes
    // add up, as in Redis.
    let stopped = stop(&mut c.borrow_mut());
    if let Some((_, old)) = &stopped {
        for p in old {
            if !p.is_empty() && !new.prefixes.contains(p) {
                new.prefixes.push(p.clone());
            }
        }
    }
    unregister_prefixes(stopped).await;
    let bcast_prefixes = if new.bcast {
        if new.prefixes.is_empty() {
            vec![Bytes::new()]
        } else {
            new.prefixes.clone()
        }
    } else {
        Vec::new()
    };
    let t = {
        let mut st = c.borrow_mut();
        st.tracking = Some(new);
        CLIENTS.fetch_add(1, Ordering::Relaxed);
        tracker_of(&st)
    };
    if let (Some(t), false) = (t, bcast_prefixes.is_empty()) {
        set_prefixes(t, bcast_prefixes, true).await;
    }
    Reply::Ok
}

/// Mode checks for CLIENT TRACKING ON (texts as Redis 7.0).
fn check_new(c: &ClientState, new: &Tracking) -> Option<Reply> {
    if let Some(old) = &c.tracking {
        if old.bcast != new.bcast {
            return Some(Reply::error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if (old.optin || old.optout) && (old.optin != new.optin || old.optout != new.optout) {
            return Some(Reply::error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if !new.bcast && !new.prefixes.is_empty() {
        return Some(Reply::error(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if new.optin && new.optout {
        return Some(Reply::error(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if new.bcast && (new.optin || new.optout) {
        return Some(Reply::error(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    for (i, p) in new.prefixes.iter().enumerate() {
        for q in &new.prefixes[i + 1..] {
            if p.starts_with(q) || q.starts_with(p) {
                let (a, b) = if p.len() <= q.len() { (p, q) } else { (q, p) };
                return Some(Reply::error(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                )));
            }
        }
    }
    None
}

/// CLIENT CACHING YES|NO.
pub fn client_caching(c: &mut ClientState, args: &[Bytes]) -> Reply {
    let Some(t) = c.tracking.as_mut() else {
        return Reply::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if is(&args[2], "yes") {
        if !t.optin {
            return Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
        t.caching = Some(true);
    } else if is(&args[2], "no") {
        if !t.optout {
            return Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
        t.caching = Some(false);
    } else {
        return err(SYNTAX);
    }
    Reply::Ok
}

/// CLIENT GETREDIR: -1 off, 0 on without redirect, else the target id.
pub fn getredir(c: &ClientState) -> i64 {
    match &c.tracking {
        None => -1,
        Some(t) => t.redirect.map_or(0, |id| id as i64),
    }
}

/// CLIENT TRACKINGINFO.
pub fn trackinginfo(c: &ClientState) -> Reply {
    let mut flags = Vec::new();
    let redirect = getredir(c);
    match &c.tracking {
        None => flags.push("off"),
        Some(t) => {
            flags.push("on");
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if t.caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if t.caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken_redirect {
                flags.push("broken_redirect");
            }
        }
    }
    let prefixes = c
        .tracking
        .as_ref()
        .map(|t| t.prefixes.iter().cloned().map(Reply::Bulk).collect())
        .unwrap_or_default();
    Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
        ),
        (Reply::bulk("redirect"), Reply::Int(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ])
}
