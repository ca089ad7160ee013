//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN ...): clients waiting for a
//! key to get data, served in the order they blocked.
//!
//! Each core keeps, per (db, key) it owns, a FIFO of waiters. A blocked
//! client registers one shared [`Waiter`] on the owning core of each of its
//! keys. A write that may make a key ready calls [`signal`] on that core,
//! which only marks the key ready. When the unit of work that made it
//! ready is over — the command (`after_command`), the EXEC or script on one
//! core ([`Hold`]), or the transaction holding the core's gate (served as
//! the gate opens) — [`serve_ready`] serves the key's waiters in order:
//! check the key, claim the waiter (an atomic flag, so a waiter registered
//! on several cores is served exactly once), take the data, complete the
//! waiter. So, as in Redis 7.0, a waiter never sees half a transaction,
//! and its pop is journaled after the work that made the key ready. The
//! client's task, parked in [`block`], then replies. A timeout, a
//! disconnect, CLIENT KILL or CLIENT UNBLOCK claims the waiter instead and
//! deregisters it, so nothing is ever taken for a client that is gone.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{with_ctx, ClientRef, Ctx};
use crate::protocol::errors;
use crate::protocol::Reply;
use crate::runtime;
use crate::storage::journal;

/// Clients blocked right now, on all cores (INFO clients `blocked_clients`).
pub static BLOCKED_CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// How often a blocked client's socket is checked for a hang-up.
const PEER_CHECK: Duration = Duration::from_millis(100);

/// Whether `key` can serve a waiter now (runs on the key's core). An
/// error (WRONGTYPE) is the reply when blocking starts; later it just
/// means "not ready".
pub type ReadyFn = Box<dyn Fn(&mut Ctx, &[u8]) -> Result<bool, Reply> + Send + Sync>;

/// Serves a claimed waiter from a ready `key` on its core: `Some(reply)`
/// when done there, `None` when the client must finish the work itself
/// (e.g. a move to a key on another core, which needs both cores' gates).
pub type TakeFn = Box<dyn Fn(&mut Ctx, &[u8]) -> Option<Reply> + Send + Sync>;

/// How a blocked client was released.
pub enum Outcome {
    /// Served on the key's core; this is the reply.
    Served(Reply),
    /// The key is ready and reserved for this client, which does the rest
    /// and then calls [`signal_on`] so later waiters are served.
    Woken(Bytes),
    /// The timeout passed.
    TimedOut,
    /// The client hung up or was killed.
    Gone,
}

/// One blocked client, shared by the cores of its keys.
pub struct Waiter {
    db: usize,
    claimed: AtomicBool,
    ready: ReadyFn,
    take: TakeFn,
    done: Mutex<(Option<Outcome>, Option<Waker>)>,
}

impl Waiter {
    /// Takes the right to finish this waiter; only one caller ever gets it.
    fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }

    fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Hands the outcome to the client's task, maybe on another core.
    fn complete(&self, o: Outcome) {
        let waker = {
            let mut d = self.done.lock().unwrap();
            d.0 = Some(o);
            d.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

type Queue = VecDeque<Arc<Waiter>>;
type Table = HashMap<usize, HashMap<Box<[u8]>, Queue>>;

thread_local! {
    /// This core's waiters: db → key → FIFO.
    static TABLE: RefCell<Table> = RefCell::new(HashMap::new());
    /// Registered waiters on this core, for a cheap check on every push.
    static WAITING: Cell<usize> = const { Cell::new(0) };
    /// Keys made ready on this core and not served yet, in order.
    static READY: RefCell<Vec<(usize, Box<[u8]>)>> = const { RefCell::new(Vec::new()) };
    /// Open [`Hold`]s: ready keys wait until the last one ends.
    static HOLD: Cell<u32> = const { Cell::new(0) };
    /// A [`serve_ready`] pass is running (a serve may mark keys ready).
    static SERVING: Cell<bool> = const { Cell::new(false) };
    /// The fallback pass of [`signal`] is scheduled.
    static SWEEP: Cell<bool> = const { Cell::new(false) };
}

/// Blocked clients by id, for CLIENT UNBLOCK from any core (touched only
/// when a client blocks, wakes or is unblocked).
static BY_CLIENT: LazyLock<Mutex<HashMap<u64, Arc<Waiter>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Puts `w` at the back of `key`'s line on this core.
fn enqueue(w: Arc<Waiter>, key: &[u8]) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.entry(w.db)
            .or_default()
            .entry(key.into())
            .or_default()
            .push_back(w);
    });
    WAITING.with(|n| n.set(n.get() + 1));
}

/// Removes `w` from `key`'s queue on this core.
fn deregister(w: &Arc<Waiter>, key: &[u8]) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let Some(keys) = t.get_mut(&w.db) else { return };
        let Some(q) = keys.get_mut(key) else { return };
        let before = q.len();
        q.retain(|x| !Arc::ptr_eq(x, w));
        WAITING.with(|n| n.set(n.get() - (before - q.len())));
        if q.is_empty() {
            keys.remove(key);
        }
    });
}

/// After a write that may have made `key` ready (a push, a move into it):
/// marks it ready on this core. Its waiters are served once the command,
/// EXEC or script that made it ready has finished (Redis's
/// handleClientsBlockedOnKeys after call()), so a waiter never sees part of
/// a transaction and `LPUSH k x; DEL k` inside one wakes nobody. Costs one
/// thread-local read when nobody waits on this core.
pub fn signal(ctx: &mut Ctx, key: &[u8]) {
    signal_db(ctx.db, key);
}

/// [`signal`] for `key` of database `db` on this core (where no command
/// context is at hand: expiry).
pub fn signal_db(db: usize, key: &[u8]) {
    if WAITING.with(Cell::get) == 0 {
        return;
    }
    READY.with(|r| {
        let mut r = r.borrow_mut();
        if !r.iter().any(|(d, k)| *d == db && **k == *key) {
            r.push((db, key.into()));
        }
    });
    // Every path that makes keys ready serves them when its unit of work
    // ends (`after_command`, `Hold`, the gate's release); this is the net
    // for any other, run once the current work has finished.
    if !SWEEP.with(|s| s.replace(true)) {
        runtime::spawn(async {
            // The executor may poll a new task at once: let this work end.
            let mut first = true;
            std::future::poll_fn(|cx| {
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            runtime::gate::pass(0).await;
            SWEEP.with(|s| s.set(false));
            after_command();
        });
    }
}

/// Marks every key of `db` (every database when None) that has waiters on
/// this core as ready, after FLUSHALL, FLUSHDB or SWAPDB replaced the data
/// under them (Redis 7.0 rescans the databases then): a blocked
/// XREADGROUP whose stream is gone ends with -UNBLOCKED, a waiter whose
/// key now holds data is served, the others keep waiting.
pub fn signal_dbs(db: Option<usize>) {
    let keys: Vec<(usize, Box<[u8]>)> = TABLE.with(|t| {
        t.borrow()
            .iter()
            .filter(|(d, _)| db.is_none_or(|x| x == **d))
            .flat_map(|(d, keys)| keys.keys().map(move |k| (*d, k.clone())))
            .collect()
    });
    for (d, k) in keys {
        signal_db(d, &k);
    }
}

/// Serves the ready keys' waiters unless this core is inside a unit of
/// work (a [`Hold`], or a transaction's job): call it after a command.
pub fn after_command() {
    if journal::current() == 0 {
        serve_ready();
    }
}

/// Serves the waiters of the keys made ready on this core, in the order
/// the keys became ready, each key's waiters first blocked first. A serve
/// that itself makes a key ready (BLMOVE into a watched list) is handled in
/// the same pass, as Redis does. Does nothing inside a [`Hold`]. Called
/// when the gate of a transaction opens: its pops are journaled after the
/// transaction's block, as separate commands.
pub fn serve_ready() {
    if HOLD.with(Cell::get) > 0 || READY.with(|r| r.borrow().is_empty()) {
        return;
    }
    if SERVING.with(|s| s.replace(true)) {
        return; // The outer pass picks up what is added now.
    }
    let mut served = false;
    journal::within(0, || loop {
        let batch = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
        if batch.is_empty() {
            break;
        }
        for (db, key) in batch {
            served |= with_ctx(db, |ctx| serve_key(ctx, &key));
        }
    });
    SERVING.with(|s| s.set(false));
    if served {
        // The served clients' replies are on their way: their pops first.
        journal::publish();
    }
}

/// Keeps this core from serving ready keys while a unit of work that does
/// not hold the gate runs (an EXEC or a script on one core); when the
/// last hold ends, the keys it made ready are served.
pub struct Hold(());

impl Hold {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Hold {
        HOLD.with(|h| h.set(h.get() + 1));
        Hold(())
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        HOLD.with(|h| h.set(h.get() - 1));
        after_command();
    }
}

/// Serves `key`'s waiters on this core in the order they blocked, while it
/// holds what they wait for. A waiter it cannot serve now (another type,
/// e.g. a list waiter on a key that became a string: it keeps waiting, as
/// in Redis 7.0) keeps its place; one whose serve fails (BLMOVE into a key
/// of another type: WRONGTYPE) is answered and the data goes on to the
/// next in line. True if any waiter was answered.
fn serve_key(ctx: &mut Ctx, key: &[u8]) -> bool {
    let line: Vec<Arc<Waiter>> = TABLE.with(|t| {
        t.borrow()
            .get(&ctx.db)
            .and_then(|keys| keys.get(key))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    });
    let mut served = false;
    for w in line {
        if w.is_claimed() {
            deregister(&w, key); // Served elsewhere or cancelled.
            continue;
        }
        if !(w.ready)(ctx, key).unwrap_or(false) || !w.claim() {
            continue;
        }
        deregister(&w, key);
        served = true;
        match (w.take)(ctx, key) {
            Some(r) => w.complete(Outcome::Served(r)),
            None => {
                // The data stays reserved for this client, which finishes
                // the work and then signals the key again: stop here.
                w.complete(Outcome::Woken(Bytes::copy_from_slice(key)));
                break;
            }
        }
    }
    served
}

/// [`signal`] for `key` of `db` from any core, served at once: a job on
/// the key's core.
pub async fn signal_on(db: usize, key: Bytes) {
    let core = crate::cluster::route::core(&key);
    let job: runtime::Job = Box::new(move || {
        with_ctx(db, |ctx| signal(ctx, &key));
        after_command();
        Reply::Ok
    });
    runtime::run_on(core, vec![job]).await;
}

/// CLIENT UNBLOCK `id` [TIMEOUT|ERROR], from any core: whether the client
/// was blocked (and is now released, with its timeout reply or -UNBLOCKED).
pub fn unblock(id: u64, error: bool) -> bool {
    let w = BY_CLIENT.lock().unwrap().get(&id).cloned();
    let Some(w) = w else { return false };
    if !w.claim() {
        return false;
    }
    w.complete(if error {
        Outcome::Served(Reply::error(
            "UNBLOCKED client unblocked via CLIENT UNBLOCK",
        ))
    } else {
        Outcome::TimedOut
    });
    true
}

/// Parses a blocking timeout in seconds as Redis 7.0 does; returns the
/// timeout in ms, 0 meaning forever.
pub fn parse_timeout(b: &[u8]) -> Result<u64, Reply> {
    let secs = super::arg_f64(b).map_err(|_| Reply::error(errors::TIMEOUT_NOT_FLOAT))?;
    let ms = (secs * 1000.0).ceil();
    // Redis casts to long long: anything out of its range comes out negative.
    if !(0.0..i64::MAX as f64).contains(&ms) {
        return Err(Reply::error(errors::TIMEOUT_NEGATIVE));
    }
    Ok(ms as u64)
}

/// Polls the waiter's outcome.
struct Done<'a>(&'a Waiter);

impl Future for Done<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut d = self.0.done.lock().unwrap();
        if d.0.is_some() {
            Poll::Ready(())
        } else {
            d.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Waits for the outcome, at most `d`.
async fn wait_done(w: &Waiter, d: Duration) {
    let done = Done(w);
    futures_util::pin_mut!(done);
    let tick = runtime::sleep(d);
    futures_util::pin_mut!(tick);
    futures_util::future::select(done, tick).await;
}

/// Whether the peer of `fd` hung up (or the socket was shut down by
/// CLIENT KILL). Pipelined data waiting to be read means it is alive.
fn peer_gone(fd: i32) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: fd is this client's live socket; MSG_PEEK reads nothing out.
    let n = unsafe {
        libc::recv(
            fd,
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n == 0 {
        return true;
    }
    n < 0 && {
        let e = std::io::Error::last_os_error().raw_os_error();
        e != Some(libc::EAGAIN) && e != Some(libc::EWOULDBLOCK) && e != Some(libc::EINTR)
    }
}

/// Cluster mode: the redirection that releases a client blocked on `key`
/// once its slot is served elsewhere or the cluster is down (Redis checks
/// in its clients cron; here at each wake-up, every 100 ms).
fn cluster_redirect(client: &ClientRef, key: &[u8]) -> Option<Reply> {
    if !crate::cluster::enabled() {
        return None;
    }
    let (readonly, write) = {
        let c = client.borrow();
        let spec = crate::commands::table()
            .lookup(c.last_cmd.as_bytes())
            .map(|(_, s)| s);
        let write = spec.is_none_or(|s| s.flags & crate::commands::flags::WRITE != 0);
        (c.readonly, write)
    };
    crate::cluster::route::blocked_redirect(key, readonly, write)
}

/// Serves the client from the first ready key in `keys` now, or blocks it
/// on all of them until one is ready, `timeout_ms` passes (0: never) or it
/// goes away. `ready` and `take` run on the keys' cores.
pub async fn block(
    client: &ClientRef,
    keys: &[Bytes],
    timeout_ms: u64,
    ready: impl Fn(&mut Ctx, &[u8]) -> Result<bool, Reply> + Send + Sync + 'static,
    take: TakeFn,
) -> Outcome {
    let (db, fd, id) = {
        let c = client.borrow();
        (c.db, c.fd, c.id)
    };
    // Inside EXEC a blocking command does not block: it answers as if its
    // timeout had passed, as in Redis.
    let in_exec = client.borrow().in_exec;
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    let w = Arc::new(Waiter {
        db,
        claimed: AtomicBool::new(false),
        ready: Box::new(ready),
        take,
        done: Mutex::new((None, None)),
    });
    // Key by key, in order: serve now if ready, else register. A waiter
    // registered on an earlier key may be served while we go on.
    let mut registered: Vec<Bytes> = Vec::new();
    for k in keys {
        if w.is_claimed() {
            break;
        }
        let (w2, k2) = (w.clone(), k.clone());
        let job: runtime::Job = Box::new(move || {
            with_ctx(db, |ctx| {
                if w2.is_claimed() {
                    return;
                }
                match (w2.ready)(ctx, &k2) {
                    Ok(true) if w2.claim() => match (w2.take)(ctx, &k2) {
                        Some(r) => w2.complete(Outcome::Served(r)),
                        None => w2.complete(Outcome::Woken(k2.clone())),
                    },
                    Err(e) if w2.claim() => w2.complete(Outcome::Served(e)),
                    Ok(false) if !in_exec => enqueue(w2.clone(), &k2),
                    _ => {}
                }
            });
            Reply::Ok
        });
        runtime::run_on(crate::cluster::route::core(k), vec![job]).await;
        registered.push(k.clone());
    }
    if in_exec && w.claim() {
        w.complete(Outcome::TimedOut);
    }
    let blocked = !w.is_claimed();
    if blocked {
        BLOCKED_CLIENTS.fetch_add(1, Ordering::Relaxed);
        BY_CLIENT.lock().unwrap().insert(id, w.clone());
        client.borrow_mut().blocked = true;
    }
    while !w.is_claimed() {
        let mut wait = PEER_CHECK;
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        wait_done(&w, wait).await;
        let why = if deadline.is_some_and(|d| Instant::now() >= d) {
            Outcome::TimedOut
        } else if peer_gone(fd) {
            Outcome::Gone
        } else if let Some(e) = keys.first().and_then(|k| cluster_redirect(client, k)) {
            Outcome::Served(e)
        } else {
            continue;
        };
        if w.claim() {
            w.complete(why);
        }
    }
    // Claimed: the outcome is set now or very soon (by the claiming core).
    // Poll too, so a wake from another core can never be the only way on.
    while w.done.lock().unwrap().0.is_none() {
        wait_done(&w, Duration::from_millis(1)).await;
    }
    if blocked {
        BLOCKED_CLIENTS.fetch_sub(1, Ordering::Relaxed);
        BY_CLIENT.lock().unwrap().remove(&id);
        client.borrow_mut().blocked = false;
    }
    // Leave no stale entry in the other keys' queues; the reply need not wait.
    for k in registered {
        let w2 = w.clone();
        runtime::spawn(async move {
            let key = k.clone();
            let job: runtime::Job = Box::new(move || {
                deregister(&w2, &key);
                Reply::Ok
            });
            runtime::run_on(crate::cluster::route::core(&k), vec![job]).await;
        });
    }
    let outcome = w.done.lock().unwrap().0.take();
    outcome.expect("claimed waiter has an outcome")
}
