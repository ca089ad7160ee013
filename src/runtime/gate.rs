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
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Tickets in arrival order, with the waker of each waiter.
    line: VecDeque<(u64, Option<Waker>)>,
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
        self.line.front_mut().and_then(|(_, w)| w.take())
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
                            e.1 = Some(cx.waker().clone());
                        }
                    }
                    None => {
                        let t = g.next_ticket;
                        g.next_ticket += 1;
                        g.line.push_back((t, Some(cx.waker().clone())));
                        self.ticket = Some(t);
                    }
                }
                return Err(());
            }
            if let Some(t) = self.ticket.take() {
                g.line.retain(|e| e.0 != t);
            }
            if self.take {
                g.holder = self.txn;
                // This core's earlier writes go before the transaction's.
                journal::publish();
            }
            // Work that passes leaves the gate open: let the next one check.
            Ok(g.front_waker())
        });
        match next {
            Ok(w) => {
                if let Some(w) = w {
                    w.wake();
                }
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
        let Some(&(front, _)) = g.line.front() else {
            g.front_since = None;
            return;
        };
        match g.front_since {
            Some((t, since)) if t == front => {
                if since.elapsed() > limit && since.elapsed() <= limit + std::time::Duration::from_secs(1) {
                    tracing::warn!(
                        "core {core}: the gate is held by transaction {} and {} waiter(s) have queued for {:?}",
                        g.holder,
                        g.line.len(),
                        since.elapsed()
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

/// Opens the gate and wakes the first in line.
pub fn release(txn: u64) {
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

/// Write-only work on several cores (one job per core), atomic with the
/// fewest hops: hold every core but the highest, in ascending order; on the
/// highest, take the gate, run and open it in one visit; then run and open
/// the held ones. A reader who sees the highest core's new data and then
/// reads a held core waits for that core's write, so nobody can observe the
/// work half done; the ascending order keeps it deadlock-free. MSET across
/// two cores costs one hop instead of a transaction's three.
pub async fn write_atomically(parts: Vec<(usize, Job)>) -> Vec<Reply> {
    if current() != 0 {
        // Inside a transaction that already holds these cores.
        let futs = parts.into_iter().map(|(c, j)| mesh::run_on(c, vec![j]));
        return futures_util::future::join_all(futs)
            .await
            .into_iter()
            .flatten()
            .collect();
    }
    let id = NEXT_TXN.fetch_add(1, Ordering::Relaxed);
    let me = mesh::me();
    let mut replies = vec![Reply::Nil; parts.len()];
    // (core, position in the reply, job), lowest core first.
    let mut held: Vec<(usize, usize, Job)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, (c, j))| (c, i, j))
        .collect();
    held.sort_by_key(|p| p.0);
    let (last_core, last_i, last_job) = held.pop().expect("at least one part");
    for &(core, _, _) in &held {
        if core == me {
            acquire(id).await;
        } else {
            mesh::request(core, id, GateOp::Acquire, Vec::new()).await;
        }
    }
    // Every gate is held once the highest core has taken its own: the
    // work's place in the write stream.
    let last_job: Job = Box::new(move || {
        journal::open_block(id);
        last_job()
    });
    replies[last_i] = run_and_release(id, me, last_core, last_job, GateOp::AcquireRelease).await;
    let futs = held.into_iter().map(|(core, i, job)| async move {
        (i, run_and_release(id, me, core, job, GateOp::Release).await)
    });
    for (i, r) in futures_util::future::join_all(futs).await {
        replies[i] = r;
    }
    journal::close_block(id);
    replies
}

/// Runs `job` under transaction `id` on `core` and opens that core's gate;
/// `op` says whether the gate must be taken first.
async fn run_and_release(id: u64, me: usize, core: usize, job: Job, op: GateOp) -> Reply {
    if core != me {
        return mesh::request(core, id, op, vec![job])
            .await
            .pop()
            .unwrap_or(Reply::Nil);
    }
    if op == GateOp::AcquireRelease {
        acquire(id).await;
    }
    let r = journal::within(id, job);
    release(id);
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

    /// Sends jobs to `core` inside the transaction at once, without
    /// waiting for them: the returned future gives their replies (the
    /// sending happens whether or not it is polled).
    pub fn run_spawned(&self, core: usize, jobs: Vec<Job>) -> impl Future<Output = Vec<Reply>> {
        let id = self.id;
        let task =
            glommio::spawn_local(async move { mesh::request(core, id, GateOp::None, jobs).await })
                .detach();
        async move { task.await.unwrap_or_default() }
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
