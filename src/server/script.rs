//! EVAL / EVALSHA / FCALL (and their _RO forms), SCRIPT and FUNCTION: the
//! scripting engine (src/scripting) wired to the keyspace.
//!
//! A script runs synchronously on one core with every core it touches
//! held, so it is atomic like any command:
//! - Declared keys on one core (or none): the script runs there as one
//!   job, no gate taken (the fast path). If it reaches for an undeclared
//!   key on another core before it has written anything, the run is
//!   dropped and redone the wide way; after a write that is an error.
//! - Keys on several cores: the wide way. The client's core takes every
//!   core's gate (`Txn`), parks the other cores in a job that serves the
//!   script's calls over a channel, runs the script here, then releases.
//!   At most one wide script holds any core, so parked cores never wait on
//!   each other.
//!
//! A script runs on a stack of its own (a `corosensei` coroutine on the
//! same thread). Until `busy-reply-threshold` that changes nothing. Past
//! it, the Lua count hook pauses the script about every 100 000
//! instructions and its task lets the executor run the core's other tasks,
//! so every client, on every core, gets -BUSY (or SCRIPT KILL / FUNCTION
//! KILL / SHUTDOWN NOSAVE act) until the script ends. Meanwhile the gates
//! of the cores the script holds stay taken, so no other work touches
//! their keys: a single-core script takes its core's gate when it first
//! pauses; a wide script holds them all already, and its parked cores
//! leave their blocking wait for a task that serves the script's calls
//! between other tasks.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use crossbeam::utils::Backoff;

use super::dispatch::{merge_parts, run_key_here, split_parts};
use crate::commands::{self, flags, ClientRef, ClientState, Cross, Handler};
use crate::config::{self, Opt};
use crate::protocol::errors::{self, wrong_args};
use crate::protocol::Reply;
use crate::runtime::gate::{self, Opener};
use crate::runtime::{self, Txn};
use crate::scripting::{
    self, parse_shebang, split_keys, Engine, Host, RestorePolicy, ScriptFlags, Store,
};
use crate::storage::journal;
use crate::storage::key_slot;

fn store() -> &'static Arc<Store> {
    static STORE: OnceLock<Arc<Store>> = OnceLock::new();
    STORE.get_or_init(Store::new)
}

thread_local! {
    static LUA: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` with this core's engine (made on first use); -BUSY while a
/// paused script has it.
fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Result<R, Reply> {
    LUA.with(|e| {
        let mut e = e.try_borrow_mut().map_err(|_| Reply::error(busy_error()))?;
        Ok(f(e.get_or_insert_with(|| Engine::new(store().clone()))))
    })
}

/// Bytes of this core's Lua state (0 before its first script, or while
/// a script holds it), for INFO used_memory_lua.
pub fn lua_memory() -> usize {
    LUA.with(|e| e.try_borrow().ok()?.as_ref().map(Engine::memory))
        .unwrap_or(0)
}

/// The shared caches INFO memory reports: cached scripts and their bytes,
/// libraries, functions and the libraries' bytes.
pub fn cache_sizes() -> (usize, usize, usize, usize, usize) {
    let (scripts, script_bytes) = store().scripts_size();
    let (libraries, functions) = store().function_counts();
    (
        scripts,
        script_bytes,
        libraries,
        functions,
        store().libraries_size(),
    )
}

/// How persistence saves and loads function libraries.
pub fn function_hooks() -> crate::persistence::FunctionHooks {
    crate::persistence::FunctionHooks {
        codes: || store().library_codes(),
        load: |code| {
            with_engine(|e| e.function_load(code, false))
                .and_then(|r| r)
                .map(|_| ())
                .map_err(|r| match r {
                    Reply::Error(e) => e.into_owned(),
                    _ => "invalid library".into(),
                })
        },
    }
}

/// A script is running past busy-reply-threshold: others get -BUSY.
/// At most one script is (no script starts while another is busy).
pub static BUSY: AtomicBool = AtomicBool::new(false);
/// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
static KILL: AtomicBool = AtomicBool::new(false);
/// The running script has written (it can no longer be killed).
static WROTE: AtomicBool = AtomicBool::new(false);
/// The running script is an EVAL (not a function): which KILL stops it
/// and which -BUSY text the others get.
static EVAL_MODE: AtomicBool = AtomicBool::new(true);
/// Scripts running, on any core (SCRIPT KILL's NOTBUSY).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Redis's -BUSY text for the script that runs (EVAL or function).
fn busy_error() -> &'static str {
    if EVAL_MODE.load(Ordering::Relaxed) {
        BUSY_EVAL
    } else {
        BUSY_FUNCTION
    }
}

/// While a script is busy (`BUSY`): the -BUSY error for a command that
/// may not run now, or None for one that may (Redis's `allow_busy` rows,
/// by subcommand: SCRIPT KILL, FUNCTION KILL, FUNCTION STATS during a
/// function, SHUTDOWN only with NOSAVE).
pub fn refuse_while_busy(spec: &commands::Spec, args: &[Bytes]) -> Option<Reply> {
    let sub = |s: &str| args.get(1).is_some_and(|a| commands::is(a, s));
    let allowed = match spec.name {
        "script" => sub("kill"),
        "function" => sub("kill") || (sub("stats") && !EVAL_MODE.load(Ordering::Relaxed)),
        "shutdown" => args[1..].iter().any(|a| commands::is(a, "nosave")),
        _ => spec.flags & flags::ALLOW_BUSY != 0,
    };
    (!allowed).then(|| Reply::error(busy_error()))
}

/// The script on this thread's stack: how it gets back to its task.
type Co<R> = Coroutine<(), (), R, DefaultStack>;

/// Room for Lua's C calls (at most 200 deep) and the commands they run.
const STACK_SIZE: usize = 8 << 20;

thread_local! {
    /// A stack kept for the next script (making one is an mmap).
    static SPARE: RefCell<Option<DefaultStack>> = const { RefCell::new(None) };
    /// The running script's way back to its task (null: not on a stack).
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };
}

/// A script started on its own stack that paused (past the threshold).
/// Lua errors are longjmps within that stack; a panic comes out of
/// `resume` (corosensei carries it across) and ends the coroutine.
struct OnStack<R>(Option<Co<R>>);

enum Step<R> {
    Done(R),
    Paused(OnStack<R>),
}

/// Clears `YIELDER` when the script's body leaves its stack (also by panic).
struct Leave;

impl Drop for Leave {
    fn drop(&mut self) {
        YIELDER.with(|c| c.set(std::ptr::null()));
    }
}

/// Runs `f` on a script stack until it ends or pauses.
fn start<R: 'static>(f: impl FnOnce() -> R + 'static) -> Step<R> {
    let stack = SPARE
        .with(|s| s.borrow_mut().take())
        .unwrap_or_else(|| DefaultStack::new(STACK_SIZE).expect("script stack"));
    let co = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
        YIELDER.with(|c| c.set(y));
        let _leave = Leave;
        f()
    });
    OnStack(Some(co)).resume()
}

impl<R> OnStack<R> {
    fn resume(mut self) -> Step<R> {
        let co = self.0.as_mut().expect("not finished");
        match co.resume(()) {
            CoroutineResult::Yield(()) => Step::Paused(self),
            CoroutineResult::Return(r) => Step::Done(r),
        }
    }
}

impl<R> Drop for OnStack<R> {
    fn drop(&mut self) {
        let Some(co) = self.0.take() else { return };
        if co.done() {
            SPARE.with(|s| *s.borrow_mut() = Some(co.into_stack()));
        } else {
            // Unwinding a paused script would cross Lua's C frames: leak it
            // (only when its task is dropped at exit).
            std::mem::forget(co);
        }
    }
}

/// Called by the count hook past the threshold: hands the thread back to
/// the script's task (which lets the executor run), with the script's
/// journal state set aside meanwhile. A no-op off a script stack.
fn pause() {
    let y = YIELDER.with(|c| c.replace(std::ptr::null()));
    if y.is_null() {
        return;
    }
    let aside = journal::set_aside();
    // SAFETY: set by the running coroutine, whose yielder outlives its body.
    unsafe { &*y }.suspend(());
    journal::put_back(aside);
    YIELDER.with(|c| c.set(y));
}

/// How long a paused script lets the core's other tasks run: a real
/// sleep, since glommio polls sockets only on reactor visits.
const BREATHE: Duration = Duration::from_micros(100);

/// Runs a paused script to its end, letting this core's other tasks run at
/// every pause.
async fn finish<R>(mut run: OnStack<R>) -> R {
    loop {
        runtime::sleep(BREATHE).await;
        match run.resume() {
            Step::Done(r) => return r,
            Step::Paused(p) => run = p,
        }
    }
}

/// A result that comes later (work spawned on its core, a script run in
/// another client's session), awaitable from any core.
struct Later<T>(Arc<Mutex<(Option<T>, Option<Waker>)>>);

impl<T> Later<T> {
    /// An empty result and the handle that fills it.
    fn pair() -> (Later<T>, Later<T>) {
        let slot = Arc::new(Mutex::new((None, None)));
        (Later(slot.clone()), Later(slot))
    }

    /// Hands `v` to whoever awaits the other handle.
    fn set(&self, v: T) {
        let w = {
            let mut s = self.0.lock().unwrap();
            s.0 = Some(v);
            s.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> Future for Later<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap();
        match s.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Spawns `fut` on this core as a task of its own (it runs to the end
/// whoever waits for it); the result comes back through `Later`.
fn spawn_later<T: Send + 'static>(fut: impl Future<Output = T> + 'static) -> Later<T> {
    let (later, out) = Later::pair();
    runtime::spawn(async move { out.set(fut.await) });
    later
}

/// A script's result: now, or when its paused run ends.
enum Outcome<T> {
    Now(T),
    Later(Later<T>),
}

impl<T> Outcome<T> {
    async fn get(self) -> T {
        match self {
            Outcome::Now(v) => v,
            Outcome::Later(l) => l.await,
        }
    }
}

/// Runs a script body on its stack here. If it pauses (busy), this core's
/// gate is taken (when open) so nothing else touches this core's keys, and
/// a task runs it to the end, publishes its writes and opens the gate.
fn run_on_stack<T: Send + 'static>(f: impl FnOnce() -> T + 'static) -> Outcome<T> {
    match start(f) {
        Step::Done(v) => Outcome::Now(v),
        Step::Paused(p) => {
            let held = gate::hold();
            Outcome::Later(spawn_later(async move {
                let v = finish(p).await;
                journal::publish();
                if let Some(id) = held {
                    gate::release(id);
                }
                v
            }))
        }
    }
}

/// A call sent to a parked core.
type Call = Box<dyn FnOnce() -> Reply + Send>;

/// Channels to the cores a wide script has parked.
struct Parked {
    to: Vec<Option<Sender<Option<Call>>>>,
    back: Vec<Option<Receiver<Reply>>>,
}

/// How long a parked core (or the script waiting for a parked core's
/// reply) spins before it blocks: calls come microseconds apart, and a
/// thread that blocked must be woken (tens of microseconds each way).
const SPIN: Duration = Duration::from_micros(200);

/// Receives from a script channel, spinning (with backoff) for up to
/// `SPIN` before blocking. Both ends are threads that do nothing else
/// meanwhile: the script's core runs the script, a parked core serves it.
/// With `slow`, gives up (None) once that says the script is past
/// busy-reply-threshold, checking every `SLOW_CHECK` while blocked.
fn recv_soon<T>(rx: &Receiver<T>, slow: Option<&AtomicBool>) -> Option<Result<T, ()>> {
    let backoff = Backoff::new();
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(Ok(v)),
            Err(TryRecvError::Disconnected) => return Some(Err(())),
            Err(TryRecvError::Empty) if start.elapsed() > SPIN => break,
            Err(TryRecvError::Empty) => backoff.snooze(),
        }
    }
    let Some(slow) = slow else {
        return Some(rx.recv().map_err(|_| ()));
    };
    loop {
        if slow.load(Ordering::Relaxed) {
            return None;
        }
        match rx.recv_timeout(SLOW_CHECK) {
            Ok(v) => return Some(Ok(v)),
            Err(RecvTimeoutError::Disconnected) => return Some(Err(())),
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// How often a parked core, blocked waiting for the script, looks whether
/// the script has passed busy-reply-threshold.
const SLOW_CHECK: Duration = Duration::from_millis(5);

/// A parked core's end of a wide script's channels.
struct Park {
    calls: Receiver<Option<Call>>,
    replies: Sender<Reply>,
    /// The script is past busy-reply-threshold.
    slow: Arc<AtomicBool>,
}

impl Park {
    /// Serves one call; false when the script let the core go.
    fn serve(&self, call: Result<Option<Call>, ()>) -> bool {
        match call {
            Ok(Some(call)) => self.replies.send(call()).is_ok(),
            _ => false,
        }
    }

    /// The park's job: serves the script's calls, blocking this core,
    /// until the script ends; once the script is slow, goes on as a task
    /// (`serve_as_task`) so this core's clients are answered meanwhile.
    fn run(self, opener: Opener) -> Reply {
        loop {
            match recv_soon(&self.calls, Some(&self.slow)) {
                Some(call) => {
                    if !self.serve(call) {
                        break;
                    }
                }
                None => {
                    runtime::spawn(self.serve_as_task(journal::current(), opener));
                    return Reply::Ok;
                }
            }
        }
        opener.open();
        Reply::Ok
    }

    /// Serves calls between this core's other tasks: after a call it spins
    /// briefly for the next (calls come in bursts), else it sleeps.
    async fn serve_as_task(self, txn: u64, opener: Opener) {
        let mut last = None::<Instant>;
        loop {
            match self.calls.try_recv() {
                Ok(call) => {
                    if !journal::within(txn, || self.serve(Ok(call))) {
                        break;
                    }
                    last = Some(Instant::now());
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if last.is_some_and(|t| t.elapsed() < SPIN) => {
                    std::hint::spin_loop()
                }
                Err(TryRecvError::Empty) => {
                    last = None;
                    runtime::sleep(BREATHE).await;
                }
            }
        }
        journal::publish();
        opener.open();
    }
}

/// What the script runs as: its database, protocol, limits, and where
/// its calls may go.
struct Run {
    /// The client the script's connection commands run as (SELECT in a
    /// script changes its database, as in Redis).
    client: ClientState,
    resp3: bool,
    read_only: bool,
    me: usize,
    parked: Option<Parked>,
    wrote: bool,
    /// Over maxmemory when the script started (and not `allow-oom`): a
    /// `denyoom` call before any write gets -OOM, as Redis's scriptVerifyOOM.
    oom: bool,
    /// It touched a key on a core it does not hold.
    wants_wide: bool,
    /// Past busy-reply-threshold (shared with a wide script's parks).
    slow: Arc<AtomicBool>,
    /// What the watchdog says this core runs, from the first hook on.
    doing: Option<runtime::mesh::Doing>,
    /// What to call it: `EVAL <body start>` or `FCALL <name>`.
    what: (Kind, Bytes),
    /// A restricted ACL user's calls are checked: the user and the calling
    /// client's CLIENT INFO line (for ACL LOG). None when unrestricted.
    acl: ScriptAcl,
    /// Cluster mode: the slot the script's keys hash to so far (its
    /// declared keys', then its first call's), and whether the script may
    /// use other slots (`allow-cross-slot-keys`).
    slot: Option<usize>,
    cross_slot_ok: bool,
}

type ScriptAcl = Option<(crate::acl::UserRef, String)>;

impl Run {
    /// Runs `job` on `core`: here, or on a parked core.
    fn on(&mut self, core: usize, job: Call) -> Option<Reply> {
        if core == self.me {
            return Some(job());
        }
        let p = self.parked.as_ref()?;
        p.to[core].as_ref()?.send(Some(job)).ok()?;
        recv_soon(p.back[core].as_ref()?, None)?.ok()
    }
}

/// Shows a script's call to MONITOR clients as `[db lua]`.
fn monitor_call(db: usize, spec: &commands::Spec, args: &[Bytes]) {
    if commands::monitor::active() && commands::monitor::shown(spec, args) {
        commands::monitor::feed(db, "lua", args);
    }
}

impl Host for Run {
    fn call(&mut self, args: &[Bytes], _resp3: bool) -> Reply {
        let table = commands::table();
        let Some((ci, spec)) = table.lookup(&args[0]) else {
            return Reply::error(scripting::UNKNOWN_COMMAND);
        };
        if !spec.arity_ok(args.len()) {
            return Reply::error(scripting::WRONG_ARITY);
        }
        if spec.flags & flags::NOSCRIPT != 0 {
            return Reply::error(scripting::NOT_ALLOWED);
        }
        if let Some((user, info)) = &self.acl {
            if let Err(e) = crate::acl::permit_script(user, ci, args, info) {
                return e;
            }
        }
        let write = spec.flags & flags::WRITE != 0;
        if write && self.read_only {
            return Reply::error(scripting::WRITE_IN_READONLY);
        }
        if self.oom && !self.wrote && spec.flags & flags::DENYOOM != 0 {
            return Reply::error(errors::OOM);
        }
        if crate::cluster::enabled() {
            if let Some(e) = self.cluster_refuses(spec, args) {
                return e;
            }
        }
        let f = match spec.handler {
            Handler::Key(f) => f,
            Handler::Conn(f) => {
                monitor_call(self.client.db, spec, args);
                return f(&mut self.client, args);
            }
            _ => {
                return Reply::error("ERR This command does not run inside scripts on this server")
            }
        };
        let db = self.client.db;
        let mut cores: Vec<usize> = spec
            .key_indices(args.len())
            .map(|i| crate::cluster::route::core(&args[i]))
            .collect();
        cores.sort_unstable();
        cores.dedup();
        let reachable = |c: &usize| *c == self.me || self.parked.is_some();
        if !cores.iter().all(reachable) {
            self.wants_wide = true;
            return Reply::error(if self.wrote {
                "ERR Script touched a key on another core after writing; declare every key it uses in KEYS"
            } else {
                "ERR Script touched an undeclared key on another core"
            });
        }
        // Shown once it runs (not for a try that is redone wide).
        monitor_call(db, spec, args);
        if write && !self.wrote {
            self.wrote = true;
            WROTE.store(true, Ordering::Relaxed);
        }
        let reply = if cores.len() <= 1 {
            let core = cores.first().copied().unwrap_or(self.me);
            let args = args.to_vec();
            self.on(core, Box::new(move || run_key_here(f, ci, db, &args)))
        } else {
            let Cross::Split(merge) = spec.cross else {
                return Reply::error("ERR CROSSSLOT Keys in request don't hash to the same slot");
            };
            let parts = match split_parts(spec, args) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let mut replies = Vec::new();
            let mut positions = Vec::new();
            for (core, sub, pos) in parts {
                positions.push(pos);
                replies.push(
                    self.on(core, Box::new(move || run_key_here(f, ci, db, &sub)))
                        .unwrap_or(Reply::Nil),
                );
            }
            Some(merge_parts(merge, replies, positions))
        };
        reply.unwrap_or_else(|| Reply::error("ERR server is shutting down"))
    }

    fn resp3(&self) -> bool {
        self.resp3
    }

    fn should_abort(&mut self, elapsed: Duration) -> Option<&'static str> {
        if self.doing.is_none() {
            // A script long enough to reach the hook: name it for stall reports.
            let (kind, name) = &self.what;
            let what = match kind {
                Kind::Fcall => format!("FCALL {}", String::from_utf8_lossy(name)),
                Kind::EvalSha => format!("EVALSHA {}", String::from_utf8_lossy(name)),
                Kind::Eval => {
                    let body = String::from_utf8_lossy(&name[..name.len().min(40)]);
                    format!("EVAL {body:?}")
                }
            };
            self.doing = Some(runtime::mesh::Doing::new(what, Instant::now() - elapsed));
        }
        let limit = config::num(Opt::BusyReplyThreshold).max(0) as u128;
        if limit > 0 && elapsed.as_millis() >= limit {
            if !self.slow.swap(true, Ordering::Relaxed) {
                // This run is the busy one: its state is what KILL sees.
                WROTE.store(self.wrote, Ordering::Relaxed);
                EVAL_MODE.store(self.what.0 != Kind::Fcall, Ordering::Relaxed);
                BUSY.store(true, Ordering::Relaxed);
                tracing::warn!(
                    "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command.",
                    elapsed.as_millis()
                );
            }
            // Let this core's other clients in: they get -BUSY, or kill it.
            pause();
        }
        (KILL.load(Ordering::Relaxed) && !self.wrote).then_some(scripting::SCRIPT_KILLED)
    }

    fn log(&mut self, level: i32, msg: &str) {
        match level {
            0 => tracing::debug!("{msg}"),
            1 => tracing::debug!("{msg}"),
            2 => tracing::info!("{msg}"),
            _ => tracing::warn!("{msg}"),
        }
    }

    fn set_repl(&mut self, _flags: u8) {}
}

/// The client a script's connection commands run as.
fn script_client(db: usize, resp3: bool) -> ClientState {
    let mut c = ClientState::detached("lua".into(), String::new(), -1);
    c.db = db;
    c.resp3 = resp3;
    c.authenticated = true;
    c
}

/// Which kind of script a command runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eval,
    EvalSha,
    Fcall,
}

impl Run {
    fn new(db: usize, resp3: bool, read_only: bool, me: usize, what: (Kind, Bytes)) -> Run {
        Run {
            client: script_client(db, resp3),
            resp3,
            read_only,
            me,
            parked: None,
            wrote: false,
            oom: false,
            wants_wide: false,
            slow: Arc::new(AtomicBool::new(false)),
            doing: None,
            what,
            acl: None,
            slot: None,
            cross_slot_ok: false,
        }
    }

    /// Cluster mode: the keys of a call must be served here and, unless
    /// the script allows it, hash to the script's slot (Redis's
    /// scriptVerifyClusterState).
    fn cluster_refuses(&mut self, spec: &commands::Spec, args: &[Bytes]) -> Option<Reply> {
        use crate::cluster::route;
        let keys = route::command_keys(spec, args);
        let asked = route::Asked {
            write: spec.flags & flags::WRITE != 0,
            ..Default::default()
        };
        let exists = |i: usize| {
            let key = Bytes::copy_from_slice(keys[i]);
            let job: Call = Box::new(move || Reply::Int(route::exists_here(&key) as i64));
            self.on(route::core(keys[i]), job) == Some(Reply::Int(1))
        };
        match route::decide(&keys, asked, exists) {
            Err(r) => Some(Reply::error(route::script_error(&r))),
            Ok(Some(slot)) if !self.cross_slot_ok => match self.slot {
                None => {
                    self.slot = Some(slot);
                    None
                }
                Some(s) if s != slot => Some(Reply::error(route::SCRIPT_CROSSSLOT)),
                Some(_) => None,
            },
            Ok(_) => None,
        }
    }
}

/// Runs the script on this core with `run` as its host.
fn run_here(kind: Kind, name: &Bytes, keys: &[Bytes], argv: &[Bytes], run: &mut Run) -> Reply {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    if !BUSY.load(Ordering::Relaxed) {
        WROTE.store(false, Ordering::Relaxed);
        EVAL_MODE.store(kind != Kind::Fcall, Ordering::Relaxed);
    }
    let reply = with_engine(|e| match kind {
        Kind::Eval => e.eval(run, name, keys, argv),
        Kind::EvalSha => e.evalsha(run, name, keys, argv),
        Kind::Fcall => e.fcall(run, name, keys, argv),
    })
    .unwrap_or_else(|busy| busy);
    RUNNING.fetch_sub(1, Ordering::Relaxed);
    run.doing = None;
    // Only the busy run (or the last one) resets what others see.
    if run.slow.load(Ordering::Relaxed) || !BUSY.load(Ordering::Relaxed) {
        BUSY.store(false, Ordering::Relaxed);
        KILL.store(false, Ordering::Relaxed);
    }
    reply
}

/// Whether EVAL, EVALSHA or FCALL may write, as Redis's getCommandFlags
/// judges it for a pause: a script without a shebang may, one with flags
/// unless `no-writes`, an unknown one may (it fails after the pause).
pub fn may_write(name: &str, args: &[Bytes]) -> bool {
    let kind = match name {
        "eval" => Kind::Eval,
        "evalsha" => Kind::EvalSha,
        "fcall" => Kind::Fcall,
        _ => return false,
    };
    args.get(1)
        .is_none_or(|n| !matches!(flags_of(kind, n), Ok(f) if f.no_writes))
}

/// EVAL-family flags for the script or function, or the error to answer.
fn flags_of(kind: Kind, name: &[u8]) -> Result<ScriptFlags, Reply> {
    let flags = match kind {
        Kind::Eval => parse_shebang(name).map_err(Reply::error)?.0,
        Kind::EvalSha => store()
            .script_flags(name)
            .ok_or_else(|| Reply::error(scripting::NOSCRIPT))?,
        Kind::Fcall => store()
            .function(name)
            .map(|(_, f)| f.flags)
            .ok_or_else(|| Reply::error(scripting::FUNCTION_NOT_FOUND))?,
    };
    Ok(flags)
}

async fn run_script(c: ClientRef, args: Vec<Bytes>, kind: Kind, ro: bool) -> Reply {
    let flags = flags_of(kind, &args[1]);
    // As Redis's processCommand: over maxmemory with nothing to evict, a
    // script that declares flags and may write is refused before anything
    // else; the others run, but their first write before any other write
    // gets -OOM (see `Host::call`).
    let oom = commands::evict::out_of_memory().await;
    let may_grow = |f: &ScriptFlags| !f.eval_compat && !f.no_writes && !f.allow_oom;
    if oom && flags.as_ref().is_ok_and(may_grow) {
        return Reply::error(errors::OOM);
    }
    let (keys, argv) = match split_keys(&args[2..]) {
        Ok((k, a)) => (k.to_vec(), a.to_vec()),
        Err(e) => return e,
    };
    let flags = match flags {
        Ok(f) if ro && !f.eval_compat && !f.no_writes => {
            return Reply::error(scripting::RO_WITH_WRITE_FLAG)
        }
        Ok(f) => f,
        Err(e) => return e,
    };
    let oom = oom && !flags.allow_oom;
    // Scripts without a shebang may use any slot, as in Redis 7.0.
    let cross_slot_ok = flags.allow_cross_slot_keys || flags.eval_compat;
    let (db, resp3, acl) = {
        let st = c.borrow();
        let acl = (!st.user.unrestricted()).then(|| (st.user.clone(), st.info_line()));
        (st.db, st.resp3, acl)
    };
    let read_only = ro || flags.no_writes;
    let cores: BTreeSet<usize> = keys
        .iter()
        .map(|k| crate::cluster::route::core(k))
        .collect();
    let script = Script {
        kind,
        name: args[1].clone(),
        keys,
        argv,
        db,
        resp3,
        read_only,
        oom,
        cross_slot_ok,
        acl,
    };
    if cores.len() <= 1 {
        let core = cores.first().copied().unwrap_or(runtime::me());
        let one = script.clone();
        let job = move || {
            run_on_stack(move || {
                let mut run = one.host(core);
                // Its writes are one MULTI/EXEC in the journal, as in Redis;
                // clients blocked on keys it made ready are served after it.
                let hold = commands::blocking::Hold::new();
                let reply = journal::atomic_local(|| one.run(&mut run));
                drop(hold);
                (reply, run.wants_wide && !run.wrote)
            })
        };
        let outcome = if core == runtime::me() {
            gate::pass(gate::current()).await;
            job()
        } else {
            match runtime::call_on(core, job).await {
                Some(o) => o,
                None => return Reply::error("ERR server is shutting down"),
            }
        };
        let (reply, redo) = outcome.get().await;
        if !redo {
            return reply;
        }
    }
    run_wide(script).await
}

/// A script call (EVAL, EVALSHA, FCALL ...) and what it runs as.
#[derive(Clone)]
struct Script {
    kind: Kind,
    name: Bytes,
    keys: Vec<Bytes>,
    argv: Vec<Bytes>,
    db: usize,
    resp3: bool,
    read_only: bool,
    oom: bool,
    cross_slot_ok: bool,
    acl: ScriptAcl,
}

impl Script {
    /// The host it runs with on `core`.
    fn host(&self, core: usize) -> Run {
        let mut run = Run::new(
            self.db,
            self.resp3,
            self.read_only,
            core,
            (self.kind, self.name.clone()),
        );
        run.oom = self.oom;
        run.acl = self.acl.clone();
        run.slot = self.keys.first().map(|k| key_slot(k));
        run.cross_slot_ok = self.cross_slot_ok;
        run
    }

    /// Runs it on this core with `run` as its host.
    fn run(&self, run: &mut Run) -> Reply {
        run_here(self.kind, &self.name, &self.keys, &self.argv, run)
    }
}

/// Wide scripts waiting for a session, each with where its reply goes.
type Queue = std::collections::VecDeque<(Script, Later<Reply>)>;

thread_local! {
    /// While a wide script session runs on this core: the wide scripts of
    /// this core's other clients that wait to run in it.
    static SESSION: RefCell<Option<Queue>> = const { RefCell::new(None) };
}

/// Ends this core's session however its leader leaves (a dropped task
/// included): scripts still queued get an error rather than no answer.
struct SessionEnd;

impl Drop for SessionEnd {
    fn drop(&mut self) {
        let left = SESSION.with(|s| s.borrow_mut().take()).unwrap_or_default();
        for (_, reply) in left {
            reply.set(Reply::error(
                "ERR script session ended before the script ran",
            ));
        }
    }
}

/// Runs a wide script here with every core held and the others parked.
///
/// Taking the gates and parking the other cores costs thread wake-ups,
/// far more than a short script. So a wide script that arrives while
/// this core runs a session joins it: the leader runs the scripts queued
/// meanwhile one after the other before it lets the cores go. Each is
/// still atomic (nothing else runs between them, as in Redis); only the
/// cores' hand-offs are shared.
async fn run_wide(script: Script) -> Reply {
    // Inside a transaction that holds the gates (a script in EXEC), a
    // session would be the transaction's: run alone.
    let leading = gate::current() == 0;
    let mut script = Some(script);
    if leading {
        let joined = SESSION.with(|s| {
            let mut s = s.borrow_mut();
            let queue = s.as_mut()?;
            let (reply, set) = Later::pair();
            queue.push_back((script.take()?, set));
            Some(reply)
        });
        if let Some(reply) = joined {
            return reply.await;
        }
        SESSION.with(|s| *s.borrow_mut() = Some(Default::default()));
    }
    let _end = leading.then_some(SessionEnd);
    let script = script.expect("not queued");
    let me = runtime::me();
    let n = runtime::shards();
    let slow = Arc::new(AtomicBool::new(false));
    let mut to = Vec::new();
    let mut back = Vec::new();
    let mut parks = Vec::new();
    for core in 0..n {
        if core == me {
            to.push(None);
            back.push(None);
            parks.push(None);
            continue;
        }
        let (call_tx, calls) = bounded::<Option<Call>>(1);
        let (replies, reply_rx) = bounded::<Reply>(1);
        to.push(Some(call_tx));
        back.push(Some(reply_rx));
        parks.push(Some(Park {
            calls,
            replies,
            slow: slow.clone(),
        }));
    }
    // Each other core serves the scripts' calls until it gets None.
    let (txn, parked) = Txn::begin_parking(0..n, |core, opener| {
        let park = parks[core].take().expect("one park per core");
        Box::new(move || park.run(opener))
    })
    .await;
    let mut channels = Some(Parked { to, back });
    // Every gate is held from here until the parks are let go below.
    let id = txn.id();
    let reply = run_parked(script, &mut channels, id, &slow).await;
    // The scripts that joined (a nested run leaves any queue to its leader).
    if leading {
        while let Some((next, reply)) = SESSION.with(|s| s.borrow_mut().as_mut()?.pop_front()) {
            reply.set(run_parked(next, &mut channels, id, &slow).await);
        }
    }
    // Scripts that come from now on lead a session of their own.
    drop(_end);
    if let Some(p) = channels {
        for tx in p.to.into_iter().flatten() {
            let _ = tx.send(None);
        }
    }
    // Not waiting for the parked cores to open: whatever this core sends
    // them next queues behind their park, and their gates keep everyone
    // else out until the park has ended.
    drop(parked);
    txn.end().await;
    reply
}

/// Runs one wide script of a session, its calls to other cores going
/// over the session's channels to their parks.
async fn run_parked(
    script: Script,
    channels: &mut Option<Parked>,
    id: u64,
    slow: &Arc<AtomicBool>,
) -> Reply {
    // A script before it in the session may have been slow; its parks then
    // serve as tasks from here on, and this script starts its own clock.
    slow.store(false, Ordering::Relaxed);
    let mut run = script.host(runtime::me());
    run.slow = slow.clone();
    run.parked = channels.take();
    let (reply, mut run) = run_on_stack(move || {
        let reply = journal::within(id, || script.run(&mut run));
        (reply, run)
    })
    .get()
    .await;
    *channels = run.parked.take();
    reply
}

/// The journal entry of a scripting command, if it changes what a replay
/// must know: FUNCTION LOAD/DELETE/FLUSH/RESTORE (as Redis propagates
/// them). Scripts themselves are journaled by the writes they make.
pub fn journal_form(args: &[Bytes]) -> Option<Vec<Bytes>> {
    let changes = commands::is(&args[0], "function")
        && args.len() >= 2
        && ["load", "delete", "flush", "restore"]
            .iter()
            .any(|s| commands::is(&args[1], s));
    changes.then(|| args.to_vec())
}

/// SCRIPT KILL (`eval`) / FUNCTION KILL, with Redis's checks in its order.
fn kill(eval: bool) -> Reply {
    if RUNNING.load(Ordering::Relaxed) == 0 {
        return Reply::error("NOTBUSY No scripts in execution right now.");
    }
    if WROTE.load(Ordering::Relaxed) {
        return Reply::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    // Each KILL stops only its own kind; the other gets the -BUSY text.
    if eval != EVAL_MODE.load(Ordering::Relaxed) {
        return Reply::error(busy_error());
    }
    KILL.store(true, Ordering::Relaxed);
    Reply::Ok
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "FLUSH [ASYNC|SYNC]",
    "KILL",
    "LOAD <script>",
    "HELP",
];

fn script(args: Vec<Bytes>) -> Reply {
    {
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let n = args.len();
        match (sub.as_str(), n) {
            ("load", 3) => match with_engine(|e| e.script_load(&args[2])).and_then(|r| r) {
                Ok(sha) => Reply::bulk(sha),
                Err(e) => e,
            },
            ("exists", 3..) => Reply::Array(
                args[2..]
                    .iter()
                    .map(|s| Reply::Int(store().script_exists(s) as i64))
                    .collect(),
            ),
            ("flush", 2 | 3) => {
                if n == 3 && !commands::is(&args[2], "async") && !commands::is(&args[2], "sync") {
                    return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                }
                store().script_flush();
                Reply::Ok
            }
            ("kill", 2) => kill(true),
            ("help", 2) => Reply::Array(SCRIPT_HELP.iter().map(|l| Reply::status(*l)).collect()),
            ("load" | "exists" | "flush" | "kill" | "help", _) => {
                wrong_args(&format!("script|{sub}"))
            }
            _ => errors::unknown_subcommand("script", &args[1]),
        }
    }
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "DELETE <LIBRARY NAME>",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "FLUSH [ASYNC|SYNC]",
    "STATS",
    "DUMP",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "KILL",
    "HELP",
];

fn function(args: Vec<Bytes>) -> Reply {
    {
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let n = args.len();
        match sub.as_str() {
            "load" if n == 3 || (n == 4 && commands::is(&args[2], "replace")) => {
                match with_engine(|e| e.function_load(&args[n - 1], n == 4)).and_then(|r| r) {
                    Ok(lib) => Reply::bulk(lib),
                    Err(e) => e,
                }
            }
            "load" if n == 4 => Reply::error(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(&args[2])
            )),
            "delete" if n == 3 => match store().function_delete(&args[2]) {
                Ok(()) => Reply::Ok,
                Err(e) => e,
            },
            "flush" if n <= 3 => {
                store().function_flush();
                Reply::Ok
            }
            "list" => {
                let mut pattern = None;
                let mut withcode = false;
                let mut i = 2;
                while i < n {
                    if commands::is(&args[i], "withcode") {
                        withcode = true;
                        i += 1;
                    } else if commands::is(&args[i], "libraryname") && i + 1 < n {
                        pattern = Some(args[i + 1].clone());
                        i += 2;
                    } else {
                        return Reply::error(format!(
                            "ERR Unknown argument {}",
                            String::from_utf8_lossy(&args[i])
                        ));
                    }
                }
                store().function_list(pattern.as_deref(), withcode)
            }
            "stats" if n == 2 => {
                let (libs, funcs) = store().function_counts();
                Reply::Map(vec![
                    (Reply::bulk("running_script"), Reply::Nil),
                    (
                        Reply::bulk("engines"),
                        Reply::Map(vec![(
                            Reply::bulk("LUA"),
                            Reply::Map(vec![
                                (Reply::bulk("libraries_count"), Reply::Int(libs as i64)),
                                (Reply::bulk("functions_count"), Reply::Int(funcs as i64)),
                            ]),
                        )]),
                    ),
                ])
            }
            "dump" if n == 2 => function_dump(),
            "restore" if n == 3 || n == 4 => function_restore(&args[2..]),
            "kill" if n == 2 => kill(false),
            "help" if n == 2 => {
                Reply::Array(FUNCTION_HELP.iter().map(|l| Reply::status(*l)).collect())
            }
            "load" | "delete" | "flush" | "stats" | "kill" | "help" | "dump" | "restore" => {
                wrong_args(&format!("function|{sub}"))
            }
            _ => errors::unknown_subcommand("function", &args[1]),
        }
    }
}

/// The RDB version FUNCTION DUMP payloads carry (Redis 7.0's).
const DUMP_RDB_VERSION: u16 = 10;

/// FUNCTION DUMP, in Redis's format: each library as an RDB FUNCTION2
/// opcode and its code as an RDB string, then the RDB version (2 bytes)
/// and a CRC64 of everything before it (both little-endian).
fn function_dump() -> Reply {
    let mut out = Vec::new();
    for code in store().library_codes() {
        out.push(245);
        let n = code.len();
        if n < 1 << 6 {
            out.push(n as u8);
        } else if n < 1 << 14 {
            out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        } else {
            out.push(0x80);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        out.extend_from_slice(&code);
    }
    out.extend_from_slice(&DUMP_RDB_VERSION.to_le_bytes());
    let crc = crate::persistence::rdb::CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Reply::Bulk(out.into())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]. The payload's body is
/// read by the RDB reader (so LZF-compressed codes from Redis work too).
fn function_restore(args: &[Bytes]) -> Reply {
    let policy =
        match args.get(1) {
            None => RestorePolicy::Append,
            Some(p) if commands::is(p, "append") => RestorePolicy::Append,
            Some(p) if commands::is(p, "replace") => RestorePolicy::Replace,
            Some(p) if commands::is(p, "flush") => RestorePolicy::Flush,
            Some(_) => return Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let p = &args[0];
    let bad = || Reply::error("ERR payload version or checksum are wrong");
    if p.len() < 10 {
        return bad();
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > 11 || crate::persistence::rdb::CRC64.checksum(&p[..p.len() - 8]) != crc {
        return bad();
    }
    // A one-off RDB stream: header, the payload's items, EOF, no checksum.
    let mut rdb = b"REDIS0010".to_vec();
    rdb.extend_from_slice(body);
    rdb.push(0xFF);
    rdb.extend_from_slice(&[0; 8]);
    let mut codes = Vec::new();
    let reader = match crate::persistence::rdb::RdbReader::new(&rdb[..]) {
        Ok(r) => r,
        Err(_) => return bad(),
    };
    for item in reader {
        match item {
            Ok((_, crate::persistence::rdb::Item::Function(code))) => codes.push(Bytes::from(code)),
            Ok((_, crate::persistence::rdb::Item::Eof { .. })) => break,
            Ok(_) => return Reply::error("ERR given type is not a function"),
            Err(_) => return Reply::error("ERR payload version or checksum are wrong"),
        }
    }
    match with_engine(|e| e.function_restore(&codes, policy)).and_then(|r| r) {
        Ok(()) => Reply::Ok,
        // RESTORE names a clashing library without quotes (LOAD quotes it).
        Err(Reply::Error(e)) if e.ends_with("' already exists") => {
            Reply::error(e.replacen('\'', "", 2))
        }
        Err(e) => e,
    }
}

/// Runs a scripting command (the rows are in commands/scripting.rs).
pub async fn run(name: &str, c: ClientRef, args: Vec<Bytes>) -> Reply {
    match name {
        "eval" => run_script(c, args, Kind::Eval, false).await,
        "eval_ro" => run_script(c, args, Kind::Eval, true).await,
        "evalsha" => run_script(c, args, Kind::EvalSha, false).await,
        "evalsha_ro" => run_script(c, args, Kind::EvalSha, true).await,
        "fcall" => run_script(c, args, Kind::Fcall, false).await,
        "fcall_ro" => run_script(c, args, Kind::Fcall, true).await,
        "script" => script(args),
        _ => function(args),
    }
}
