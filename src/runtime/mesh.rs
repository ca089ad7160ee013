//! The core mesh: the one way work crosses cores.
//!
//! Every ordered pair of cores has two bounded channels, one for requests
//! and one for replies, so a core waiting to send a reply can never block a
//! core waiting to send a request. A request carries a batch of jobs
//! (closures that run synchronously on the target core and return a
//! `Reply`); the batch travels as one message because one park/unpark of
//! the target costs ~40 µs while a batched job costs under 1 µs.
//!
//! On each core, one task per peer drains requests, runs them (or parks them
//! behind the core's gate while a transaction holds it), and sends the
//! replies back; one task per peer completes the waiting requesters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use super::gate;
use crate::protocol::Reply;
use crate::storage::journal;

/// Work for another core. Runs synchronously there; must not block.
pub type Job = Box<dyn FnOnce() -> Reply + Send>;

/// What a request asks of the target core's gate besides running jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOp {
    None,
    Acquire,
    Release,
    /// Take the gate, run the jobs, and open it again, in one visit.
    AcquireRelease,
    /// Run the jobs as the holder's work, never inline (behind a taking
    /// message on the same channel); the jobs open the gate themselves
    /// (a wide script's park, which may outlive its job).
    Park,
}

pub struct Request {
    id: u64,
    from: usize,
    txn: u64,
    op: GateOp,
    jobs: Vec<Job>,
}

pub struct Response {
    id: u64,
    replies: Vec<Reply>,
}

/// Messages in flight per channel before a sender waits.
const CHANNEL_CAPACITY: usize = 1024;

/// The unconnected channel ends for one core, made before executors start.
pub struct Ends {
    req_tx: Vec<Option<SharedSender<Request>>>,
    req_rx: Vec<Option<SharedReceiver<Request>>>,
    resp_tx: Vec<Option<SharedSender<Response>>>,
    resp_rx: Vec<Option<SharedReceiver<Response>>>,
}

/// Makes the channels of a full mesh of `n` cores; element i goes to core i.
pub fn build(n: usize) -> Vec<Ends> {
    let mut ends: Vec<Ends> = (0..n)
        .map(|_| Ends {
            req_tx: (0..n).map(|_| None).collect(),
            req_rx: (0..n).map(|_| None).collect(),
            resp_tx: (0..n).map(|_| None).collect(),
            resp_rx: (0..n).map(|_| None).collect(),
        })
        .collect();
    for from in 0..n {
        for to in 0..n {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(CHANNEL_CAPACITY);
                ends[from].req_tx[to] = Some(tx);
                ends[to].req_rx[from] = Some(rx);
                let (tx, rx) = shared_channel::new_bounded(CHANNEL_CAPACITY);
                ends[to].resp_tx[from] = Some(tx);
                ends[from].resp_rx[to] = Some(rx);
            }
        }
    }
    ends
}

/// A requester waiting for its replies.
struct Slot {
    replies: Option<Vec<Reply>>,
    waker: Option<Waker>,
    /// Where it went and when, for the stall watchdog.
    core: usize,
    since: std::time::Instant,
    reported: bool,
}

struct Local {
    me: usize,
    req_tx: Vec<Option<Rc<ConnectedSender<Request>>>>,
    resp_tx: Vec<Option<Rc<ConnectedSender<Response>>>>,
    pending: RefCell<HashMap<u64, Rc<RefCell<Slot>>>>,
    next_id: std::cell::Cell<u64>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

fn local() -> Rc<Local> {
    LOCAL.with(|l| l.borrow().clone().expect("mesh used before it was joined"))
}

/// This core's index in the mesh.
pub fn me() -> usize {
    local().me
}

/// Connects this core's ends and starts its request and reply tasks.
pub async fn join(me: usize, ends: Ends) {
    // Connecting waits for the other end, so every end must be connecting
    // at once: spawn them all first, then wait.
    fn spawn_all<T: 'static, C: 'static>(
        v: Vec<Option<T>>,
        f: impl Fn(T) -> Pin<Box<dyn Future<Output = C>>>,
    ) -> Vec<Option<glommio::task::JoinHandle<C>>> {
        v.into_iter()
            .map(|e| e.map(|e| glommio::spawn_local(f(e)).detach()))
            .collect()
    }
    async fn wait_all<C>(v: Vec<Option<glommio::task::JoinHandle<C>>>) -> Vec<Option<C>> {
        let mut out = Vec::new();
        for t in v {
            out.push(match t {
                Some(t) => Some(t.await.expect("mesh connect")),
                None => None,
            });
        }
        out
    }
    // glommio notices a peer's side connecting only when this executor's
    // reactor runs; nothing wakes a parked executor for it. Keep a short
    // timer ticking until every end is connected (dropping it cancels it).
    let ticker = glommio::spawn_local(async {
        loop {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    let req_tx = spawn_all(ends.req_tx, |s| Box::pin(s.connect()));
    let req_rx = spawn_all(ends.req_rx, |s| Box::pin(s.connect()));
    let resp_tx = spawn_all(ends.resp_tx, |s| Box::pin(s.connect()));
    let resp_rx = spawn_all(ends.resp_rx, |s| Box::pin(s.connect()));
    let req_tx = wait_all(req_tx).await;
    let req_rx = wait_all(req_rx).await;
    let resp_tx = wait_all(resp_tx).await;
    let resp_rx = wait_all(resp_rx).await;
    drop(ticker);
    let l = Rc::new(Local {
        me,
        req_tx: req_tx.into_iter().map(|s| s.map(Rc::new)).collect(),
        resp_tx: resp_tx.into_iter().map(|s| s.map(Rc::new)).collect(),
        pending: RefCell::new(HashMap::new()),
        next_id: std::cell::Cell::new(1),
    });
    LOCAL.with(|x| *x.borrow_mut() = Some(l.clone()));
    for rx in req_rx.into_iter().flatten() {
        glommio::spawn_local(serve_requests(rx)).detach();
    }
    for rx in resp_rx.into_iter().flatten() {
        glommio::spawn_local(complete_requests(rx, l.clone())).detach();
    }
    glommio::spawn_local(watchdog(l.clone())).detach();
}

/// A hop answers in microseconds; one that has waited for seconds means a
/// stuck core or a lost wakeup. Say so once per request, with enough to
/// find it (this is diagnosis only: the request keeps waiting).
const STALL: std::time::Duration = std::time::Duration::from_secs(2);

async fn watchdog(l: Rc<Local>) {
    loop {
        glommio::timer::sleep(std::time::Duration::from_secs(1)).await;
        for (id, slot) in l.pending.borrow().iter() {
            let mut s = slot.borrow_mut();
            if !s.reported && s.since.elapsed() > STALL {
                s.reported = true;
                tracing::warn!(
                    "core {}: request {id} to core {} has waited {:.1} s for a reply{}",
                    l.me,
                    s.core,
                    s.since.elapsed().as_secs_f64(),
                    holding(s.core)
                );
            }
        }
        super::gate::report_stalls(l.me, STALL);
    }
}

/// What each core has been running for long, if it said (`Doing`).
static DOING: std::sync::Mutex<Vec<Option<(String, std::time::Instant)>>> =
    std::sync::Mutex::new(Vec::new());

/// Marks this core as running `what` since `since` until dropped, so a
/// stall report can name what holds the core. For long work only (a
/// script past its first hook): it takes a lock.
pub struct Doing(usize);

impl Doing {
    pub fn new(what: String, since: std::time::Instant) -> Doing {
        let me = me();
        let mut d = DOING.lock().unwrap();
        if d.len() <= me {
            d.resize(me + 1, None);
        }
        d[me] = Some((what, since));
        Doing(me)
    }
}

impl Drop for Doing {
    fn drop(&mut self) {
        DOING.lock().unwrap()[self.0] = None;
    }
}

/// "; core N is running X for T s", or nothing when `core` said nothing.
pub(super) fn holding(core: usize) -> String {
    match DOING.lock().unwrap().get(core) {
        Some(Some((what, since))) => format!(
            "; core {core} is running {what} for {:.1} s",
            since.elapsed().as_secs_f64()
        ),
        _ => String::new(),
    }
}

async fn serve_requests(rx: ConnectedReceiver<Request>) {
    while let Some(req) = rx.recv().await {
        if req.op == GateOp::None && gate::admits(req.txn) {
            // The common case runs right here, in channel order.
            let replies = run_jobs(req.txn, req.jobs);
            send_response(req.from, req.id, replies).await;
        } else {
            // Behind a transaction (or taking/leaving the gate): wait in
            // the gate's line without holding up this channel.
            glommio::spawn_local(async move {
                match req.op {
                    GateOp::Acquire | GateOp::AcquireRelease => gate::acquire(req.txn).await,
                    _ => gate::pass(req.txn).await,
                }
                let replies = run_jobs(req.txn, req.jobs);
                if matches!(req.op, GateOp::Release | GateOp::AcquireRelease) {
                    gate::release(req.txn);
                }
                send_response(req.from, req.id, replies).await;
            })
            .detach();
        }
    }
}

/// Runs jobs as work of transaction `txn` (0: none), then publishes what
/// they wrote before the requester hears back.
fn run_jobs(txn: u64, jobs: Vec<Job>) -> Vec<Reply> {
    let replies = journal::within(txn, || jobs.into_iter().map(|j| j()).collect());
    journal::publish();
    replies
}

async fn send_response(to: usize, id: u64, replies: Vec<Reply>) {
    let tx = local().resp_tx[to].clone().expect("reply channel");
    // A closed channel means the peer is shutting down; nobody waits.
    let _ = tx.send(Response { id, replies }).await;
}

async fn complete_requests(rx: ConnectedReceiver<Response>, l: Rc<Local>) {
    while let Some(resp) = rx.recv().await {
        if let Some(slot) = l.pending.borrow_mut().remove(&resp.id) {
            let mut s = slot.borrow_mut();
            s.replies = Some(resp.replies);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

struct Wait(Rc<RefCell<Slot>>);

impl Future for Wait {
    type Output = Vec<Reply>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Reply>> {
        let mut s = self.0.borrow_mut();
        match s.replies.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Sends `jobs` to `core` and waits for their replies, in order.
pub(super) async fn request(core: usize, txn: u64, op: GateOp, jobs: Vec<Job>) -> Vec<Reply> {
    post(core, txn, op, jobs).await.await
}

/// Puts the request in `core`'s channel (waiting only for room) and
/// returns the wait for its replies: once this resolves the target will
/// run the jobs even if this thread then blocks (a parked script host).
pub(super) async fn post(
    core: usize,
    txn: u64,
    op: GateOp,
    jobs: Vec<Job>,
) -> impl Future<Output = Vec<Reply>> {
    let l = local();
    let id = l.next_id.get();
    l.next_id.set(id + 1);
    let slot = Rc::new(RefCell::new(Slot {
        replies: None,
        waker: None,
        core,
        since: std::time::Instant::now(),
        reported: false,
    }));
    l.pending.borrow_mut().insert(id, slot.clone());
    let tx = l.req_tx[core].clone().expect("no channel to that core");
    let from = l.me;
    let sent = tx
        .send(Request {
            id,
            from,
            txn,
            op,
            jobs,
        })
        .await;
    if sent.is_err() {
        l.pending.borrow_mut().remove(&id);
        slot.borrow_mut().replies = Some(vec![Reply::error("ERR server is shutting down")]);
    }
    Wait(slot)
}

/// Runs `jobs` on `core` (here, if it is this core) and returns their replies.
pub async fn run_on(core: usize, jobs: Vec<Job>) -> Vec<Reply> {
    let txn = gate::current();
    if core == me() {
        gate::pass(txn).await;
        return run_jobs(txn, jobs);
    }
    request(core, txn, GateOp::None, jobs).await
}

/// Runs `f` on `core` and returns what it computed (None if the core
/// could not be reached: shutdown).
pub async fn call_on<T: Send + 'static>(
    core: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = out.clone();
    let job: Job = Box::new(move || {
        *slot.lock().unwrap() = Some(f());
        Reply::Ok
    });
    run_on(core, vec![job]).await;
    let got = out.lock().unwrap().take();
    got
}

/// Runs one job on each core in `cores` concurrently; replies in that order.
pub async fn run_on_each(
    cores: impl IntoIterator<Item = usize>,
    make: impl Fn(usize) -> Job,
) -> Vec<Reply> {
    let futs = cores.into_iter().map(|c| run_on(c, vec![make(c)]));
    futures_util::future::join_all(futs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

pub(super) fn run_here(txn: u64, jobs: Vec<Job>) -> Vec<Reply> {
    run_jobs(txn, jobs)
}

/// Runs `f` on each of `cores` and collects what it returns, in core order:
/// for typed results (statistics, key lists) rather than replies.
pub async fn gather<T, F>(cores: impl IntoIterator<Item = usize>, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn() -> T + Send + Sync + Clone + 'static,
{
    use std::sync::{Arc, Mutex};
    let cores: Vec<usize> = cores.into_iter().collect();
    let out: Arc<Mutex<Vec<Option<T>>>> =
        Arc::new(Mutex::new((0..cores.len()).map(|_| None).collect()));
    let futs = cores.iter().enumerate().map(|(i, &c)| {
        let (f, out) = (f.clone(), out.clone());
        run_on(
            c,
            vec![Box::new(move || {
                out.lock().unwrap()[i] = Some(f());
                Reply::Ok
            })],
        )
    });
    futures_util::future::join_all(futs.collect::<Vec<_>>()).await;
    let mut v = out.lock().unwrap();
    v.iter_mut()
        .map(|x| x.take().expect("every core answered"))
        .collect()
}
