//! Taking a snapshot: the pull loop, SAVE/BGSAVE, the `save` rules, and
//! the state INFO persistence shows.
//!
//! The coordinator runs on the control executor. It starts every core's
//! part at one logical instant (`write_atomically`), then pulls chunks from
//! all cores round by round and writes them, in order, to any `Write`
//! (the file here; a replica's socket later). Cores serialize concurrently
//! and keep serving in between (`snapshot.rs`).
//!
//! Multi-core commands that coordinate (`Cross::Coord`: RENAME, SMOVE ...)
//! run copy-before-write on the owning cores first (`before_coord`, a hop).
//! The start waits until none is between that check and its end
//! (`INFLIGHT`), so none can straddle the start unhooked.
//! FLUSHALL, FLUSHDB and SWAPDB abort a snapshot in progress (Redis kills
//! its child on FLUSHALL); the file is not written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rdb::{Aux, RdbWriter, ReplInfo, WriteOptions};
use super::snapshot;
use crate::config::{self, Opt};
use crate::protocol::Reply;
use crate::runtime::{self, Job};
use crate::storage::now_ms;

/// Snapshot phases, for the start handshake with coordinated commands.
const IDLE: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;

static PHASE: AtomicU8 = AtomicU8::new(IDLE);
/// Coordinated writes between their phase check and their end.
static INFLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Set by FLUSHALL/FLUSHDB/SWAPDB: the running snapshot is discarded.
static ABORT: AtomicBool = AtomicBool::new(false);

/// Time a core may spend on one chunk before answering.
const CHUNK_BUDGET: Duration = runtime::background::CHUNK_BUDGET;
/// Redis's CONFIG_BGSAVE_RETRY_DELAY: a failed BGSAVE is retried by the
/// save rules after this many seconds.
const RETRY_DELAY_SECS: i64 = 5;

/// What INFO persistence and LASTSAVE show.
#[derive(Debug, Clone)]
pub struct Status {
    pub in_progress: bool,
    pub scheduled: bool,
    /// Unix seconds of the last successful save (start-up time before).
    pub last_save: i64,
    pub last_ok: bool,
    pub last_bgsave_secs: i64,
    pub current_start: Option<Instant>,
    pub saves: u64,
    /// Sum of the cores' `dirty` counters at the last successful save's start.
    pub dirty_saved: u64,
    pub keys_processed: u64,
    pub keys_total: u64,
    /// Unix seconds of the last attempt (for the retry delay).
    pub last_try: i64,
    /// Completed saves, successful or not (SAVE waits on it).
    pub finished: u64,
}

static STATUS: Mutex<Status> = Mutex::new(Status {
    in_progress: false,
    scheduled: false,
    last_save: 0,
    last_ok: true,
    last_bgsave_secs: -1,
    current_start: None,
    saves: 0,
    dirty_saved: 0,
    keys_processed: 0,
    keys_total: 0,
    last_try: 0,
    finished: 0,
});

pub fn status() -> Status {
    STATUS.lock().unwrap().clone()
}

fn with_status<R>(f: impl FnOnce(&mut Status) -> R) -> R {
    f(&mut STATUS.lock().unwrap())
}

/// Sets the last-save time to the process start (as Redis does).
pub fn init(start_unix: i64) {
    with_status(|s| {
        s.last_save = start_unix;
        s.last_try = start_unix;
    });
}

/// Lowers this thread's scheduling priority while it lives, if the old one
/// can be given back afterwards (root, CAP_SYS_NICE or RLIMIT_NICE):
/// otherwise it is left alone, so the control thread never stays slowed.
struct Niced(Option<i32>);

impl Niced {
    fn new(nice: i32) -> Niced {
        let tid = this_thread();
        // SAFETY: get/setpriority on this thread's own id.
        unsafe {
            let old = libc::getpriority(libc::PRIO_PROCESS, tid);
            // Try raising it back first: whether a later restore can work.
            let restorable = libc::setpriority(libc::PRIO_PROCESS, tid, old - 1) == 0
                && libc::setpriority(libc::PRIO_PROCESS, tid, old) == 0;
            if restorable && libc::setpriority(libc::PRIO_PROCESS, tid, nice) == 0 {
                return Niced(Some(old));
            }
        }
        Niced(None)
    }
}

impl Drop for Niced {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            // SAFETY: as above.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, this_thread(), old) };
        }
    }
}

fn this_thread() -> libc::id_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as libc::id_t }
}

/// Why a snapshot did not complete.
#[derive(Debug)]
pub enum SaveError {
    Io(std::io::Error),
    Aborted,
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::Io(e) => write!(f, "{e}"),
            SaveError::Aborted => write!(f, "aborted by a flush of the dataset"),
        }
    }
}

impl From<std::io::Error> for SaveError {
    fn from(e: std::io::Error) -> Self {
        SaveError::Io(e)
    }
}

/// Where a snapshot goes: a file, or replicas' sockets.
pub trait Sink: Write {
    /// Called once the snapshot's instant is fixed, before its first byte:
    /// the replication fields of the header, for a snapshot that replicas
    /// continue from.
    fn started(&mut self) -> Option<ReplInfo> {
        None
    }

    /// Called after each round of chunks: an asynchronous sink (sockets)
    /// sends what it holds here, so the control executor never blocks.
    fn drained(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> {
        async { Ok(()) }
    }
}

impl<W: Write> Sink for BufWriter<W> {}

/// Replication's part in every snapshot (`replication` registers it;
/// persistence cannot see it): `hold` waits until a replica's link is
/// between two applied batches and keeps it there, so the snapshot's
/// instant falls at a known offset; `at_instant` runs at the instant, ends
/// the hold and gives the header's replication fields (repl-id ...).
pub struct ReplHooks {
    pub hold: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    pub at_instant: fn() -> Option<ReplInfo>,
}

static REPL_HOOKS: std::sync::OnceLock<ReplHooks> = std::sync::OnceLock::new();

pub fn set_repl_hooks(hooks: ReplHooks) {
    let _ = REPL_HOOKS.set(hooks);
}

/// Writes one point-in-time snapshot of every core to `sink`; returns the
/// number of keys and the cores' summed `dirty` at the start.
pub async fn snapshot_to<W: Sink>(sink: &mut W) -> Result<(u64, u64), SaveError> {
    snapshot_at(sink, false, Box::new(|| {})).await
}

/// [`snapshot_to`], marked as an AOF base when `aof_base`; `at_instant`
/// runs at the snapshot's instant, while every core is held (the AOF
/// switches files there).
pub async fn snapshot_at<W: Sink>(
    sink: &mut W,
    aof_base: bool,
    at_instant: Box<dyn FnOnce() + Send>,
) -> Result<(u64, u64), SaveError> {
    let opts = WriteOptions {
        compression: config::num(Opt::Rdbcompression) == 1,
        checksum: config::num(Opt::Rdbchecksum) == 1,
    };
    let n = runtime::shards();
    let hooks = REPL_HOOKS.get();
    if let Some(h) = hooks {
        (h.hold)().await;
    }
    let repl = std::sync::Arc::new(Mutex::new(None));
    // No coordinated write may be between its check and its end.
    PHASE.store(STARTING, SeqCst);
    while INFLIGHT.load(SeqCst) > 0 {
        runtime::sleep(Duration::from_micros(200)).await;
    }
    let counts = std::sync::Arc::new(Mutex::new(vec![(0u64, 0u64); n]));
    // `write_atomically` runs the highest core's part first, with every
    // other core held: that is the instant.
    let mut at_instant = Some(at_instant);
    let parts = (0..n)
        .map(|core| {
            let counts = counts.clone();
            let hook = if core == n - 1 {
                at_instant.take()
            } else {
                None
            };
            let repl = repl.clone();
            let job: Job = Box::new(move || {
                counts.lock().unwrap()[core] = snapshot::begin(opts);
                if let Some(hook) = hook {
                    if let Some(h) = hooks {
                        *repl.lock().unwrap() = (h.at_instant)();
                    }
                    hook();
                }
                Reply::Ok
            });
            (core, job)
        })
        .collect();
    runtime::write_atomically(parts).await;
    PHASE.store(RUNNING, SeqCst);
    let (total, dirty) = counts
        .lock()
        .unwrap()
        .iter()
        .fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
    with_status(|s| {
        s.keys_total = total;
        s.keys_processed = 0;
    });
    // The control thread's part (checksums, file writes) yields to the
    // shards when they compete for a CPU: clients first.
    let _nice = Niced::new(10);
    let repl = repl.lock().unwrap().take();
    let result = pull(sink, opts, n, total, aof_base, repl).await;
    if result.is_err() {
        runtime::run_on_each(0..n, |_| {
            Box::new(|| {
                snapshot::cancel();
                Reply::Ok
            })
        })
        .await;
    }
    PHASE.store(IDLE, SeqCst);
    result.map(|keys| (keys, dirty))
}

/// The pull loop: a round asks every unfinished core for a chunk, then
/// writes the chunks in core order.
async fn pull<W: Sink>(
    sink: &mut W,
    opts: WriteOptions,
    n: usize,
    total: u64,
    aof_base: bool,
    repl: Option<ReplInfo>,
) -> Result<u64, SaveError> {
    let mut w = RdbWriter::new(opts);
    let aux = Aux {
        used_mem: crate::memory::used() as u64,
        aof_base,
        repl: sink.started().or(repl),
        ..Aux::default()
    };
    w.aux_fields(&aux);
    for code in super::function_hooks().map_or_else(Vec::new, |h| (h.codes)()) {
        w.function(&code);
    }
    sink.write_all(&w.take_chunk())?;
    let mut pending: Vec<usize> = (0..n).collect();
    let mut keys = vec![0u64; n];
    let mut last_log = Instant::now();
    while !pending.is_empty() {
        let chunks = runtime::gather(pending.clone(), || snapshot::next_chunk(CHUNK_BUDGET)).await;
        if ABORT.load(SeqCst) {
            return Err(SaveError::Aborted);
        }
        let mut still = Vec::new();
        for (core, c) in pending.iter().zip(chunks) {
            w.raw(&c.bytes);
            sink.write_all(&w.take_chunk())?;
            keys[*core] = c.keys;
            sink.drained().await?;
            if !c.done {
                still.push(*core);
            }
        }
        pending = still;
        let done: u64 = keys.iter().sum();
        with_status(|s| s.keys_processed = done);
        if last_log.elapsed() >= Duration::from_secs(1) {
            last_log = Instant::now();
            tracing::info!(
                "Saving: {done} of {total} keys ({:.1}%), {:.2} MB written",
                done as f64 * 100.0 / total.max(1) as f64,
                w.offset() as f64 / 1e6
            );
        }
    }
    w.finish();
    sink.write_all(&w.take_chunk())?;
    sink.drained().await?;
    if ABORT.load(SeqCst) {
        return Err(SaveError::Aborted);
    }
    Ok(keys.iter().sum())
}

/// Runs before a coordinated multi-core write (`Cross::Coord`); `keys` are
/// the keys it may write, `dbs` the databases they may be written in.
/// The returned guard must live until the command is done.
pub async fn before_coord(keys: &[bytes::Bytes], dbs: std::ops::Range<usize>) -> CoordGuard {
    loop {
        if PHASE.load(SeqCst) == STARTING {
            runtime::sleep(Duration::from_micros(200)).await;
            continue;
        }
        INFLIGHT.fetch_add(1, SeqCst);
        if PHASE.load(SeqCst) == STARTING {
            INFLIGHT.fetch_sub(1, SeqCst);
            continue;
        }
        break;
    }
    if PHASE.load(SeqCst) == RUNNING {
        let mut per_core: Vec<(usize, Vec<bytes::Bytes>)> = Vec::new();
        for k in keys {
            let core = crate::cluster::route::core(k);
            match per_core.iter_mut().find(|p| p.0 == core) {
                Some(p) => p.1.push(k.clone()),
                None => per_core.push((core, vec![k.clone()])),
            }
        }
        let futs = per_core.into_iter().map(|(core, keys)| {
            let dbs = dbs.clone();
            let job: Job = Box::new(move || {
                for k in &keys {
                    dbs.clone().for_each(|db| snapshot::before_write(db, k));
                }
                Reply::Ok
            });
            runtime::run_on(core, vec![job])
        });
        futures_util::future::join_all(futs.collect::<Vec<_>>()).await;
    }
    CoordGuard
}

/// Holds a coordinated write in flight (see `before_coord`).
pub struct CoordGuard;

impl Drop for CoordGuard {
    fn drop(&mut self) {
        INFLIGHT.fetch_sub(1, SeqCst);
    }
}

/// FLUSHALL, FLUSHDB and SWAPDB call this before they change anything.
pub fn abort_running(by: &str) {
    if status().in_progress {
        ABORT.store(true, SeqCst);
        tracing::warn!("Background saving aborted by {by}");
    }
}

/// `dir`/`dbfilename`.
pub fn rdb_path() -> PathBuf {
    PathBuf::from(config::text(Opt::Dir)).join(config::text(Opt::Dbfilename))
}

/// Writes the snapshot to `temp-<pid>.rdb`, fsyncs, renames it over the
/// dump file (as Redis does).
async fn save_file() -> Result<u64, SaveError> {
    let dir = PathBuf::from(config::text(Opt::Dir));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = async {
        let f = File::create(&tmp).map_err(|e| {
            tracing::warn!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                tmp.display(),
                dir.display()
            );
            e
        })?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let (keys, dirty) = snapshot_to(&mut out).await?;
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, rdb_path())?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        with_status(|s| s.dirty_saved = dirty);
        Ok(keys)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// One snapshot at a time: a save or an AOF rewrite.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Takes the snapshot machinery for an AOF rewrite; false if it is busy.
pub fn try_begin_quiet() -> bool {
    !BUSY.swap(true, SeqCst)
}

pub fn end_quiet() {
    BUSY.store(false, SeqCst);
}

/// Marks a save started; false if one (or an AOF rewrite) is running.
pub fn try_begin() -> bool {
    with_status(|s| {
        if s.in_progress || BUSY.swap(true, SeqCst) {
            return false;
        }
        s.in_progress = true;
        ABORT.store(false, SeqCst);
        s.scheduled = false;
        s.current_start = Some(Instant::now());
        s.last_try = now_ms() / 1000;
        true
    })
}

/// Runs a save that `try_begin` started, on the control executor; logs as
/// Redis does and records the outcome.
pub async fn run(background: bool) -> bool {
    if background {
        tracing::info!("Background saving started");
    }
    let started = Instant::now();
    let result = save_file().await;
    let secs = started.elapsed().as_secs() as i64;
    let ok = result.is_ok();
    match &result {
        Ok(_) => {
            tracing::info!("DB saved on disk");
            if background {
                tracing::info!("Background saving terminated with success");
            }
        }
        Err(SaveError::Aborted) => {
            tracing::warn!("Background saving terminated: the dataset was flushed")
        }
        Err(e) => {
            tracing::warn!("Write error saving DB on disk: {e}");
            if background {
                tracing::warn!("Background saving error");
            }
        }
    }
    BUSY.store(false, SeqCst);
    with_status(|s| {
        s.in_progress = false;
        s.current_start = None;
        s.finished += 1;
        if background {
            s.last_bgsave_secs = secs;
        }
        match result {
            Ok(_) => {
                LAST_FAILED.store(false, Relaxed);
                s.last_ok = true;
                s.last_save = now_ms() / 1000;
                s.saves += 1;
            }
            // A save the user's flush stopped is not a failure (Redis
            // kills its child with a signal it does not count).
            Err(SaveError::Aborted) => {}
            Err(_) => {
                s.last_ok = false;
                LAST_FAILED.store(background, Relaxed);
            }
        }
    });
    ok
}

/// Runs a save that `try_begin` started on the control executor, from any
/// core. `background` returns at once; otherwise this waits for the outcome.
pub async fn start_and_wait(background: bool) -> bool {
    let gen = status().finished;
    runtime::run_on(
        runtime::control(),
        vec![Box::new(move || {
            runtime::spawn(async move {
                run(background).await;
            });
            Reply::Ok
        })],
    )
    .await;
    if background {
        return true;
    }
    loop {
        let s = status();
        if s.finished > gen && !s.in_progress {
            return s.last_ok;
        }
        runtime::sleep(Duration::from_millis(1)).await;
    }
}

/// The `save` rules in force.
pub fn save_rules() -> Vec<(u64, u64)> {
    config::save_params(&config::text(Opt::Save)).unwrap_or_default()
}

/// Writes are refused (MISCONF) after a failed background save while
/// `stop-writes-on-bgsave-error` is on and save rules exist.
pub fn writes_refused() -> bool {
    LAST_FAILED.load(Relaxed)
        && config::num(Opt::StopWritesOnBgsaveError) == 1
        && !save_rules().is_empty()
}

/// The last background save failed (read on every write: an atomic).
static LAST_FAILED: AtomicBool = AtomicBool::new(false);

/// The control executor's timer: scheduled BGSAVEs and the save rules,
/// every 100 ms (Redis checks them in serverCron).
pub async fn cron() {
    loop {
        runtime::sleep(Duration::from_millis(100)).await;
        if super::shutdown_requested() {
            super::shutdown_from_signal().await;
        }
        super::aof::cron();
        let st = status();
        if st.in_progress || super::aof::status().rewrite_in_progress {
            continue;
        }
        let now = now_ms() / 1000;
        let mut go = st.scheduled;
        if !go {
            let dirty: u64 = runtime::gather(0..runtime::shards(), || {
                crate::storage::shard::with(|s| s.dirty)
            })
            .await
            .iter()
            .sum();
            let changes = dirty.saturating_sub(st.dirty_saved);
            let retry_ok = st.last_ok || now - st.last_try > RETRY_DELAY_SECS;
            if let Some((secs, n)) = save_rules()
                .into_iter()
                .find(|&(secs, n)| changes >= n && now - st.last_save > secs as i64)
            {
                if retry_ok {
                    tracing::info!("{n} changes in {secs} seconds. Saving...");
                    go = true;
                }
            }
        }
        if go && try_begin() {
            runtime::spawn(async {
                run(true).await;
            });
        }
    }
}

/// BGSAVE SCHEDULE while a save runs.
pub fn schedule() {
    with_status(|s| s.scheduled = true);
}
