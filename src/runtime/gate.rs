//! Atomic work across cores: each core has a gate that one transaction at a
//! time may hold. While a transaction holds a core's gate, every other
//! command for that core (local or from the mesh) waits in line, so no
//! client sees a transaction half done.
//!
//! A transaction takes the gates of the cores it needs in ascending core
//! order, which rules out deadlock: two transactions that both need cores 0
//! and 1 meet at core 0 first and one waits there holding nothing.
//! Work that stays on one core never takes a gate; it only checks that the
//! gate is open (one comparison).
//!
//! This is core-granular intent locking. The transaction and scripting
//! issue may narrow it to key-granular locks (Dragonfly's VLL) behind the
//! same `Txn` API.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::mesh::{self, GateOp, Job};
use crate::protocol::Reply;
use crate::storage::journal;

/// A core's gate: who holds it, and the line of work waiting for it.
///
/// The line is strictly first come, first served: while anyone waits, newcomers
/// queue behind them instead of slipping through when the gate opens, so a
/// client running back-to-back transactions cannot starve a transaction
/// waiting from another core.
#[derive(Default)]
struct Gate {
    /// The transaction holding the gate; 0 when open.
    holder: u64,
    next_ticket: u64,
    /// Tickets in arrival order, with each waiter's transaction and waker.
    line: VecDeque<(u64, u64, Option<Waker>)>,
    /// When the first in line started waiting (for the stall watchdog).
    front_since: Option<(u64, std::time::Instant)>,
}

thread_local! {
    static GATE: RefCell<Gate> = RefCell::new(Gate::default());
}

/// The transaction the running task works inside, 0 outside any. Work it
/// sends (`mesh::run_on`, nested `Txn::begin`) runs as that transaction's,
/// so commands inside EXEC pass the gates EXEC holds.
/// The journal keeps it: the transaction is also the block its writes go to.
#[inline]
pub fn current() -> u64 {
    journal::current()
}

/// Runs `fut` as part of transaction `txn`: `current()` is `txn` while it
/// is polled (a task-local, since glommio has none).
pub async fn within<F: Future>(txn: u64, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| journal::within(txn, || fut.as_mut().poll(cx))).await
}

impl Gate {
    /// Wakes whoever is first in line (it re-checks the gate itself).
    fn front_waker(&mut self) -> Option<Waker> {
        self.line.front_mut().and_then(|(_, _, w)| w.take())
    }
}

/// Does the gate let work of transaction `txn` (0: none) through now,
/// without waiting in line? The holder's own work always passes.
#[inline]
pub fn admits(txn: u64) -> bool {
    GATE.with(|g| {
        let g = g.borrow();
        (g.holder == 0 && g.line.is_empty()) || (txn != 0 && g.holder == txn)
    })
}

/// Waiting at the gate: to pass (run work) or to take it.
struct Wait {
    txn: u64,
    take: bool,
    ticket: Option<u64>,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let next = GATE.with(|g| {
            let mut g = g.borrow_mut();
            // The holder's own work never queues (its release may be behind it).
            let holder = self.txn != 0 && g.holder == self.txn;
            let first = match self.ticket {
                Some(t) => g.line.front().map(|f| f.0) == Some(t),
                None => g.line.is_empty(),
            };
            if !(holder || (first && g.holder == 0)) {
                match self.ticket {
                    Some(t) => {
                        if let Some(e) = g.line.iter_mut().find(|e| e.0 == t) {
                            e.2 = Some(cx.waker().clone());
                        }
                    }
                    None => {
                        let t = g.next_ticket;
                        g.next_ticket += 1;
                        g.line.push_back((t, self.txn, Some(cx.waker().clone())));
                        self.ticket = Some(t);
                    }
                }
                return Err(());
            }
            if let Some(t) = self.ticket.take() {
                g.line.retain(|e| e.0 != t);
            }
            let mut wake: Vec<Waker> = Vec::new();
            if self.take {
                g.holder = self.txn;
                // This core's earlier writes go before the transaction's.
                journal::publish();
                // Its own work already in line (sent right behind the
                // taking message) passes now.
                let txn = self.txn;
                wake.extend(
                    g.line
                        .iter_mut()
                        .filter(|e| e.1 == txn)
                        .filter_map(|e| e.2.take()),
                );
            }
            // Work that passes leaves the gate open: let the next one check.
            wake.extend(g.front_waker());
            Ok(wake)
        });
        match next {
            Ok(wake) => {
                wake.into_iter().for_each(Waker::wake);
                Poll::Ready(())
            }
            Err(()) => Poll::Pending,
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        // A waiter that gives up must not block the line.
        if let Some(t) = self.ticket {
            let w = GATE.with(|g| {
                let mut g = g.borrow_mut();
                g.line.retain(|e| e.0 != t);
                g.front_waker()
            });
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

/// Logs (once per waiter) when the first in this core's line has waited
/// longer than `limit`: a gate held that long means a stuck transaction.
pub fn report_stalls(core: usize, limit: std::time::Duration) {
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        let Some(&(front, _, _)) = g.line.front() else {
            g.front_since = None;
            return;
        };
        match g.front_since {
            Some((t, since)) if t == front => {
                if since.elapsed() > limit && since.elapsed() <= limit + std::time::Duration::from_secs(1) {
                    tracing::warn!(
                        "core {core}: the gate is held by transaction {} and {} waiter(s) have queued for {:.1} s{}",
                        g.holder,
                        g.line.len(),
                        since.elapsed().as_secs_f64(),
                        mesh::holding(core)
                    );
                }
            }
            _ => g.front_since = Some((front, std::time::Instant::now())),
        }
    });
}

/// Waits until work of `txn` (0: none) may run on this core.
pub async fn pass(txn: u64) {
    if !admits(txn) {
        Wait {
            txn,
            take: false,
            ticket: None,
        }
        .await;
    }
}

/// Waits for the gate and takes it for `txn`.
pub async fn acquire(txn: u64) {
    Wait {
        txn,
        take: true,
        ticket: None,
    }
    .await
}

/// Work to do on a core as a transaction's gate opens there (serving the
/// clients blocked on keys it made ready); set once by the server, since
/// the runtime knows nothing of commands.
static ON_OPEN: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets the work done on a core just before a transaction opens its gate.
pub fn on_open(f: fn()) {
    let _ = ON_OPEN.set(f);
}

/// Opens the gate and wakes the first in line.
pub fn release(txn: u64) {
    if let Some(f) = ON_OPEN
        .get()
        .filter(|_| GATE.with(|g| g.borrow().holder == txn))
    {
        // Still held: nothing gets between the transaction and this.
        f();
    }
    let w = GATE.with(|g| {
        let mut g = g.borrow_mut();
        if g.holder == txn {
            g.holder = 0;
        }
        g.front_waker()
    });
    if let Some(w) = w {
        w.wake();
    }
}

static NEXT_TXN: AtomicU64 = AtomicU64::new(1);

/// Takes this core's gate for a new transaction, now, if it is open: work
/// that runs here and is about to let other tasks run (a single-core script
/// past busy-reply-threshold) keeps everyone else's work for this core out
/// meanwhile. None when a transaction holds it already (the work runs
/// inside that one, which keeps others out). Open it with `release`.
pub fn hold() -> Option<u64> {
    GATE.with(|g| {
        let mut g = g.borrow_mut();
        (g.holder == 0).then(|| {
            g.holder = NEXT_TXN.fetch_add(1, Ordering::Relaxed);
            g.holder
        })
    })
}

/// Opens a parked core's gate when its park ends, which may be after the
/// park's job returned (a park that goes on as a task). Open it on the
/// parked core.
pub struct Opener(u64);

impl Opener {
    pub fn open(self) {
        // 0: the park runs inside an outer transaction, which opens.
        if self.0 != 0 {
            release(self.0);
        }
    }
}

/// Write-only work on several cores (one job per core, distinct cores),
/// atomic with one visit per core: `atomically` without checks.
pub async fn write_atomically(parts: Vec<(usize, Job)>) -> Vec<Reply> {
    if current() != 0 {
        return run_inside(parts).await;
    }
    let parts = parts.into_iter().map(|(core, job)| Part {
        core,
        check: None,
        job,
    });
    atomically(parts.collect())
        .await
        .expect("no check can fail")
}

/// Runs one job per core inside the current transaction, which already
/// holds those cores.
async fn run_inside(parts: Vec<(usize, Job)>) -> Vec<Reply> {
    let futs = parts.into_iter().map(|(c, j)| mesh::run_on(c, vec![j]));
    futures_util::future::join_all(futs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Check-free atomic work of many tasks on this core, sent together.
///
/// `atomically` holds the lower cores' gates for a hop, so atomic work
/// from one core runs one unit after another. `together` lets the units
/// that arrive while one is in flight share the next visit: they are
/// queued, and one task per core runs the queue as a single `atomically`
/// (each core's part runs the units' jobs in arrival order), so N units
/// cost one visit per core instead of N. Running several atomic units back
/// to back as one indivisible step keeps each atomic and in order.
///
/// `parts` are one job per distinct core; returns their replies in order.
/// Inside a transaction, which already holds its cores, the jobs simply run.
pub async fn together(parts: Vec<(usize, Job)>) -> Vec<Reply> {
    if current() != 0 {
        return run_inside(parts).await;
    }
    let done = Rc::new(RefCell::new(Done::default()));
    let start = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        q.units.push((parts, done.clone()));
        !std::mem::replace(&mut q.running, true)
    });
    if start {
        // A task of its own: a unit's caller may go away (its connection
        // closes), the queue must still drain.
        glommio::spawn_local(run_queue()).detach();
    }
    std::future::poll_fn(|cx| {
        let mut d = done.borrow_mut();
        match d.replies.take() {
            Some(r) => Poll::Ready(r),
            None => {
                d.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// A queued unit's replies, when its visit is done.
#[derive(Default)]
struct Done {
    replies: Option<Vec<Reply>>,
    waker: Option<Waker>,
}

/// One caller's parts (one job per core) and where its replies go.
type Unit = (Vec<(usize, Job)>, Rc<RefCell<Done>>);

/// One core's share of a round: the units' jobs there in arrival order,
/// and each job's unit and part.
struct Share {
    core: usize,
    jobs: Vec<Job>,
    owners: Vec<(usize, usize)>,
}

/// Units waiting for `together`'s next visit on this core.
#[derive(Default)]
struct Queue {
    units: Vec<Unit>,
    /// A `run_queue` task is running.
    running: bool,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
}

/// Runs the queued units, all that are waiting as one `atomically` each
/// round, until none is left.
async fn run_queue() {
    loop {
        let units = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            let units = std::mem::take(&mut q.units);
            q.running = !units.is_empty();
            units
        });
        if units.is_empty() {
            return;
        }
        let mut shares: Vec<Share> = Vec::new();
        let mut dones = Vec::with_capacity(units.len());
        for (u, (parts, done)) in units.into_iter().enumerate() {
            dones.push((done, vec![Reply::Nil; parts.len()]));
            for (p, (core, job)) in parts.into_iter().enumerate() {
                let i = match shares.iter().position(|s| s.core == core) {
                    Some(i) => i,
                    None => {
                        shares.push(Share {
                            core,
                            jobs: Vec::new(),
                            owners: Vec::new(),
                        });
                        shares.len() - 1
                    }
                };
                shares[i].jobs.push(job);
                shares[i].owners.push((u, p));
            }
        }
        let mut owners = Vec::with_capacity(shares.len());
        let work = shares
            .into_iter()
            .map(|s| {
                owners.push(s.owners);
                let jobs = s.jobs;
                let job: Job =
                    Box::new(move || Reply::Array(jobs.into_iter().map(|j| j()).collect()));
                Part {
                    core: s.core,
                    check: None,
                    job,
                }
            })
            .collect();
        let replies = atomically(work).await.expect("no check can fail");
        for (r, owner) in replies.into_iter().zip(owners) {
            let rs = match r {
                Reply::Array(rs) => rs,
                // The core could not be reached (shutdown).
                e => vec![e; owner.len()],
            };
            for (r, (u, p)) in rs.into_iter().zip(owner) {
                dones[u].1[p] = r;
            }
        }
        for (done, replies) in dones {
            let mut d = done.borrow_mut();
            d.replies = Some(replies);
            if let Some(w) = d.waker.take() {
                w.wake();
            }
        }
    }
}

/// A condition tested on a core with its gate taken, before the work runs
/// there (EXEC's WATCH check); false stops the whole work.
pub type Check = Box<dyn FnOnce() -> bool + Send>;

/// One core's share of work done by `atomically`.
pub struct Part {
    pub core: usize,
    pub check: Option<Check>,
    /// Runs on `core`, touching only that core's data.
    pub job: Job,
}

/// Work split into parts on distinct cores, each touching only its own
/// core, done atomically with one visit per core (one hop across two
/// cores when the client's core is the lower one). Returns the parts'
/// replies in the order given, or None when a check failed — then no part
/// has run anywhere.
///
/// Gates are taken in ascending core order (no deadlock). Every core but
/// the highest is held: taken (locally, or with one message that also
/// runs the core's check), and kept. The highest core gets one message
/// that takes its gate, checks, runs its part and opens it again. Then
/// the held cores run what they have not run yet and open.
///
/// Why no one sees the work half done: a held core opens only after the
/// highest core's part has run, so a reader that saw new data on the
/// highest core and then reads a held core waits at that core's gate
/// until the part there has run; and a reader that saw a held core's new
/// data did so after its gate opened, when every part had run. A part
/// runs early, in its core's taking visit, only once no check is left on
/// a later core (every check that could stop the work has passed); it is
/// still hidden behind its held gate until the end.
///
/// Where all gates are held: while the highest core's visit runs its job
/// (marked "all gates held" below), between taking that gate and opening
/// it; the held gates open afterwards, in `open_held`.
pub async fn atomically(parts: Vec<Part>) -> Option<Vec<Reply>> {
    let id = NEXT_TXN.fetch_add(1, Ordering::Relaxed);
    let me = mesh::me();
    let ok = Arc::new(AtomicBool::new(true));
    let mut replies = vec![Reply::Nil; parts.len()];
    let mut parts: Vec<(usize, Part)> = parts.into_iter().enumerate().collect();
    parts.sort_by_key(|p| p.1.core);
    debug_assert!(parts.windows(2).all(|w| w[0].1.core < w[1].1.core));
    // From this position on, no later core has a check: parts may run as
    // their gate is taken.
    let checked = parts.iter().rposition(|p| p.1.check.is_some()).unwrap_or(0);
    let (last_i, last) = parts.pop().expect("at least one part");
    // (core, position, the part's job if it has not run yet)
    let mut held: Vec<(usize, usize, Option<Job>)> = Vec::new();
    for (k, (i, p)) in parts.into_iter().enumerate() {
        let (now, later) = if k >= checked {
            (Some(p.job), None)
        } else {
            (None, Some(p.job))
        };
        let ran = now.is_some();
        let r = visit(id, me, p.core, GateOp::Acquire, guarded(p.check, now, &ok)).await;
        held.push((p.core, i, later));
        if !ok.load(Ordering::Relaxed) {
            open_unrun(id, me, held).await;
            return None;
        }
        if ran {
            replies[i] = r;
        }
    }
    // All gates held: while this visit's job runs on the highest core. That
    // is the work's place in the write stream (parts that ran early are in
    // its block already).
    let job = guarded(last.check, Some(last.job), &ok);
    let job: Job = Box::new(move || {
        journal::open_block(id);
        job()
    });
    let r = visit(id, me, last.core, GateOp::AcquireRelease, job).await;
    if !ok.load(Ordering::Relaxed) {
        // A check on the last core means no part ran early.
        journal::close_block(id);
        open_unrun(id, me, held).await;
        return None;
    }
    replies[last_i] = r;
    open_held(id, me, held, &mut replies).await;
    // Every part has run: the block is complete (its place was fixed
    // above, so sealing after the gates opened orders nothing wrongly).
    journal::close_block(id);
    Some(replies)
}

/// A visit's job: the check, then (if it passed) the part, if given.
fn guarded(check: Option<Check>, job: Option<Job>, ok: &Arc<AtomicBool>) -> Job {
    let ok = ok.clone();
    Box::new(move || {
        if let Some(check) = check {
            if !check() {
                ok.store(false, Ordering::Relaxed);
                return Reply::Nil;
            }
        }
        job.map_or(Reply::Nil, |j| j())
    })
}

/// Runs the held cores' remaining jobs (when the work goes on) and opens
/// their gates. A remote core with nothing left to run is only told to
/// open, without waiting for its answer: later messages from this core
/// queue behind that one, and the gate keeps everyone else out until then.
async fn open_held(
    id: u64,
    me: usize,
    held: Vec<(usize, usize, Option<Job>)>,
    replies: &mut [Reply],
) {
    let mut runs = Vec::new();
    for (core, i, job) in held {
        match job {
            None if core != me => drop(mesh::post(core, id, GateOp::Release, Vec::new()).await),
            None => release(id),
            Some(job) => {
                runs.push(async move { (i, visit(id, me, core, GateOp::Release, job).await) })
            }
        }
    }
    for (i, r) in futures_util::future::join_all(runs).await {
        replies[i] = r;
    }
}

/// A check failed: the held cores open without running their parts.
async fn open_unrun(id: u64, me: usize, held: Vec<(usize, usize, Option<Job>)>) {
    let held = held.into_iter().map(|(c, i, _)| (c, i, None)).collect();
    open_held(id, me, held, &mut []).await;
}

/// Runs `job` under transaction `id` on `core`, taking and/or opening
/// that core's gate as `op` says.
async fn visit(id: u64, me: usize, core: usize, op: GateOp, job: Job) -> Reply {
    if core != me {
        return mesh::request(core, id, op, vec![job])
            .await
            .pop()
            .unwrap_or(Reply::Nil);
    }
    if matches!(op, GateOp::Acquire | GateOp::AcquireRelease) {
        acquire(id).await;
    }
    let r = journal::within(id, job);
    if matches!(op, GateOp::Release | GateOp::AcquireRelease) {
        release(id);
    }
    r
}

/// A transaction holding the gates of a set of cores.
pub struct Txn {
    id: u64,
    cores: Vec<usize>,
    /// Begun inside another transaction (EXEC), which holds the gates.
    nested: bool,
}

impl Txn {
    /// Takes the gates of `cores` (any order, repeats allowed), lowest first.
    /// Inside a transaction (`current()`), the outer one already holds
    /// every core its commands need, so this takes nothing.
    pub async fn begin(cores: impl IntoIterator<Item = usize>) -> Txn {
        let mut cores: Vec<usize> = cores.into_iter().collect();
        cores.sort_unstable();
        cores.dedup();
        if current() != 0 {
            return Txn {
                id: current(),
                cores,
                nested: true,
            };
        }
        let id = NEXT_TXN.fetch_add(1, Ordering::Relaxed);
        let me = mesh::me();
        for &c in &cores {
            if c == me {
                acquire(id).await;
            } else {
                mesh::request(c, id, GateOp::Acquire, Vec::new()).await;
            }
        }
        // Every gate is held: the transaction's place in the write stream.
        journal::open_block(id);
        Txn {
            id,
            cores,
            nested: false,
        }
    }

    /// Journals a coordinated command that ran in this transaction (after
    /// the effects it had on each core, e.g. expired keys it deleted).
    pub fn record<A: AsRef<[u8]>>(&self, db: usize, args: &[A]) {
        journal::record_coordinated(self.id, db, args);
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn cores(&self) -> &[usize] {
        &self.cores
    }

    /// Runs jobs on one of the transaction's cores.
    pub async fn run(&self, core: usize, jobs: Vec<Job>) -> Vec<Reply> {
        debug_assert!(self.cores.contains(&core));
        if core == mesh::me() {
            mesh::run_here(self.id, jobs)
        } else {
            mesh::request(core, self.id, GateOp::None, jobs).await
        }
    }

    /// `begin`, and then every other core of the transaction runs
    /// `park(core, opener)` — a job that may block that core until this
    /// thread lets it go (a wide script), or hand the rest of its work to a
    /// task there — and opens that core's gate with `opener` when it ends
    /// (the transaction stops holding it). Returns once every gate is held and
    /// every park is in its core's channel, so this thread may block on the
    /// parks; the futures give their replies.
    ///
    /// A core may park only once every gate is held (parked, it cannot
    /// serve another transaction that this one waits for), so parks go out
    /// after the last gate is taken — except the highest core's, which
    /// travels right behind its taking message when it is the last gate
    /// to take: one message pair and one wake-up of that core.
    pub async fn begin_parking(
        cores: impl IntoIterator<Item = usize>,
        mut park: impl FnMut(usize, Opener) -> Job,
    ) -> (Txn, Vec<impl Future<Output = Vec<Reply>>>) {
        let mut cores: Vec<usize> = cores.into_iter().collect();
        cores.sort_unstable();
        cores.dedup();
        let me = mesh::me();
        let mut parks = Vec::new();
        if current() != 0 {
            // The outer transaction holds every gate and opens them.
            for &c in cores.iter().filter(|&&c| c != me) {
                let job = park(c, Opener(0));
                parks.push(mesh::post(c, current(), GateOp::None, vec![job]).await);
            }
            let txn = Txn {
                id: current(),
                cores,
                nested: true,
            };
            return (txn, parks);
        }
        let id = NEXT_TXN.fetch_add(1, Ordering::Relaxed);
        let highest = cores.last().copied().filter(|&c| c != me);
        for &c in &cores {
            if c == me {
                acquire(id).await;
            } else if Some(c) == highest {
                let taken = mesh::post(c, id, GateOp::Acquire, Vec::new()).await;
                parks.push(mesh::post(c, id, GateOp::Park, vec![park(c, Opener(id))]).await);
                taken.await;
            } else {
                mesh::request(c, id, GateOp::Acquire, Vec::new()).await;
            }
        }
        // Every gate is held: the transaction's place in the write stream
        // (nothing is written before the caller runs; the parks only serve
        // its calls).
        journal::open_block(id);
        for &c in cores.iter().filter(|&&c| c != me && Some(c) != highest) {
            parks.push(mesh::post(c, id, GateOp::Park, vec![park(c, Opener(id))]).await);
        }
        cores.retain(|&c| c == me);
        let txn = Txn {
            id,
            cores,
            nested: false,
        };
        (txn, parks)
    }

    /// Runs `f` on `core` inside the transaction and returns what it
    /// computed (for typed results rather than replies). Fails only when
    /// the core could not be reached (shutdown).
    pub async fn call<T: Send + 'static>(
        &self,
        core: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Reply> {
        let out = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = out.clone();
        let job: Job = Box::new(move || {
            *slot.lock().unwrap() = Some(f());
            Reply::Ok
        });
        let replies = self.run(core, vec![job]).await;
        let got = out.lock().unwrap().take();
        got.ok_or_else(|| {
            replies
                .into_iter()
                .find(Reply::is_error)
                .unwrap_or_else(|| Reply::error("ERR server is shutting down"))
        })
    }

    /// Runs one job on each listed core concurrently; replies in that order.
    pub async fn run_each(&self, cores: &[usize], make: impl Fn(usize) -> Job) -> Vec<Reply> {
        let futs = cores.iter().map(|&c| self.run(c, vec![make(c)]));
        futures_util::future::join_all(futs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Releases every gate.
    pub async fn end(self) {
        if self.nested {
            return;
        }
        journal::close_block(self.id);
        let me = mesh::me();
        let futs = self
            .cores
            .iter()
            .filter(|&&c| c != me)
            .map(|&c| mesh::request(c, self.id, GateOp::Release, Vec::new()));
        futures_util::future::join_all(futs).await;
        if self.cores.contains(&me) {
            release(self.id);
        }
    }
}
