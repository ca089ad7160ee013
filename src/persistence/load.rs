//! Loading the dump file at start-up.
//!
//! The control executor reads `dir/dbfilename` with the streaming reader
//! and sends the entries, in batches, to the cores that own their slots.
//! Shards already listen meanwhile and answer `-LOADING` to commands that
//! need the data (as Redis does); "Ready to accept connections" waits for
//! the end. Keys already expired are dropped (a master's rule). A file that
//! cannot be read stops the server, naming the file and the offset; it is
//! never overwritten.

use std::fs::File;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rdb::{Entry, Item, RdbReader};
use crate::config::{self, Opt};
use crate::protocol::Reply;
use crate::runtime::{self, Job};
use crate::storage::{now_ms, shard};

static LOADING: AtomicBool = AtomicBool::new(false);
/// A replica loads a master's snapshot beside the dataset, which serves
/// reads meanwhile (`repl-diskless-load swapdb`, INFO's async_loading).
static ASYNC_LOADING: AtomicBool = AtomicBool::new(false);

/// Entries in flight before the reader waits for the cores to insert them.
const BATCH: usize = 4096;

/// INFO persistence's loading fields and the last load's counts.
#[derive(Debug, Clone, Default)]
pub struct LoadInfo {
    pub start_time: i64,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    pub rdb_used_mem: u64,
    pub started: Option<Instant>,
    pub keys_loaded: u64,
    pub keys_expired: u64,
}

static INFO: Mutex<LoadInfo> = Mutex::new(LoadInfo {
    start_time: 0,
    total_bytes: 0,
    loaded_bytes: 0,
    rdb_used_mem: 0,
    started: None,
    keys_loaded: 0,
    keys_expired: 0,
});

/// The replication fields (repl-id, repl-offset, repl-stream-db) of the
/// last file loaded, when it had all three: a restarted replica continues
/// from them with a partial resync.
static LOADED_REPL: Mutex<Option<super::rdb::ReplInfo>> = Mutex::new(None);

pub fn loaded_repl() -> Option<super::rdb::ReplInfo> {
    LOADED_REPL.lock().unwrap().clone()
}

/// Whether the dataset is being loaded (commands answer -LOADING).
#[inline]
pub fn loading() -> bool {
    LOADING.load(Ordering::Relaxed)
}

/// A replica is loading its master's snapshot while serving the old data.
pub fn async_loading() -> bool {
    ASYNC_LOADING.load(Ordering::Relaxed)
}

pub fn info() -> LoadInfo {
    INFO.lock().unwrap().clone()
}

/// Called before the executors start: when there is a file to load, the
/// server is in the loading state from its first client on.
pub fn prepare() {
    // With appendonly yes the AOF is loaded (or created) at start instead.
    if config::num(Opt::Appendonly) == 1 || super::save::rdb_path().exists() {
        LOADING.store(true, Ordering::Relaxed);
    }
}

/// Loading is over: commands run.
pub fn done() {
    LOADING.store(false, Ordering::Relaxed);
}

/// Starts the loading counters INFO shows, for `total` bytes of files.
pub(super) fn begin_info(total: u64) {
    *INFO.lock().unwrap() = LoadInfo {
        start_time: now_ms() / 1000,
        total_bytes: total,
        started: Some(Instant::now()),
        ..LoadInfo::default()
    };
}

/// Bytes loaded so far (of every file).
pub(super) fn progress(bytes: u64) {
    INFO.lock().unwrap().loaded_bytes = bytes;
}

/// Loads the dump file if there is one; exits the process if it is
/// unreadable. Runs on the control executor.
pub async fn at_start() {
    if !loading() {
        return;
    }
    let path = super::save::rdb_path();
    let started = Instant::now();
    match load_whole(&path).await {
        Ok(()) => {
            tracing::info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            LOADING.store(false, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::warn!(
                "Fatal error loading the DB {}: {e}. Exiting.",
                path.display()
            );
            eprintln!("redwing-server: cannot load {}: {e}", path.display());
            crate::lifecycle::exit(1);
        }
    }
}

/// Loads the RDB a master sent to this replica (full sync): clients get
/// -LOADING meanwhile, as at start-up.
pub async fn replica_load(path: &std::path::Path) -> Result<(), String> {
    let started = Instant::now();
    let r = reload(path).await;
    if r.is_ok() {
        tracing::info!(
            "MASTER <-> REPLICA sync: Loaded the RDB in {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    r
}

/// Loads `path` into the running server (DEBUG RELOAD, a replica's full
/// sync); clients get -LOADING meanwhile.
pub async fn reload(path: &std::path::Path) -> Result<(), String> {
    LOADING.store(true, Ordering::Relaxed);
    let r = load_whole(path).await;
    LOADING.store(false, Ordering::Relaxed);
    r
}

/// Loads the RDB a master streams to this replica (diskless load) into
/// `target`: clients get -LOADING meanwhile, or with `in_background`
/// (swapdb of the same history) go on reading the current dataset.
/// Returns the source and the bytes read past the snapshot's end.
pub async fn replica_load_stream<R: std::io::Read + Send + 'static>(
    src: R,
    target: Target,
    total: u64,
    in_background: bool,
) -> Result<(R, Vec<u8>), String> {
    let flag = if in_background {
        &ASYNC_LOADING
    } else {
        &LOADING
    };
    flag.store(true, Ordering::Relaxed);
    begin_info(total);
    let started = Instant::now();
    let r = load_stream(src, target, total).await;
    flag.store(false, Ordering::Relaxed);
    if r.is_ok() {
        let i = info();
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            i.keys_loaded,
            i.keys_expired
        );
        tracing::info!(
            "MASTER <-> REPLICA sync: Loaded the RDB in {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    r
}

/// Parses a byte source that may block (a socket) on a thread of its
/// own, so the control executor goes on running, and inserts its items
/// as they come.
async fn load_stream<R: std::io::Read + Send + 'static>(
    src: R,
    target: Target,
    total: u64,
) -> Result<(R, Vec<u8>), String> {
    use crossbeam::channel::TryRecvError;
    type Parsed<R> = Result<(R, Vec<u8>), String>;
    enum Msg<R> {
        Items(Vec<Item>, u64),
        Done(Parsed<R>),
    }
    let (tx, rx) = crossbeam::channel::bounded::<Msg<R>>(16);
    let done = tx.clone();
    let parse = move || -> Parsed<R> {
        let mut reader = RdbReader::new(src).map_err(|e| e.to_string())?;
        let mut items = Vec::with_capacity(1024);
        while let Some((_, item)) = reader.next_item().map_err(|e| e.to_string())? {
            items.push(item);
            if items.len() >= 1024 {
                let batch = std::mem::take(&mut items);
                tx.send(Msg::Items(batch, reader.offset()))
                    .map_err(|_| "the load was abandoned".to_string())?;
            }
        }
        let _ = tx.send(Msg::Items(items, reader.offset()));
        Ok(reader.into_inner())
    };
    std::thread::Builder::new()
        .name("rdb-stream-load".into())
        .spawn(move || {
            let r = parse();
            let _ = done.send(Msg::Done(r));
        })
        .map_err(|e| e.to_string())?;
    let mut loader = Loader::new(target, total, 0);
    loop {
        match rx.try_recv() {
            Ok(Msg::Items(items, offset)) => {
                for item in items {
                    loader.item(item, offset).await?;
                }
            }
            Ok(Msg::Done(r)) => {
                let r = r?;
                loader.finish().await?;
                return Ok(r);
            }
            Err(TryRecvError::Empty) => runtime::sleep(Duration::from_millis(1)).await,
            Err(TryRecvError::Disconnected) => return Err("the loader thread ended".into()),
        }
    }
}

/// Loads `path` as the whole dataset, with INFO's progress and Redis's
/// closing log line.
async fn load_whole(path: &std::path::Path) -> Result<(), String> {
    begin_info(std::fs::metadata(path).map_or(0, |m| m.len()));
    load_file(path, 0).await?;
    let i = info();
    tracing::info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        i.keys_loaded,
        i.keys_expired
    );
    Ok(())
}

/// Loads one RDB file (the dump, or an AOF's base); `before` bytes of
/// other files were loaded already (INFO's progress covers them all).
pub(super) async fn load_file(path: &std::path::Path, before: u64) -> Result<(), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader =
        RdbReader::new(BufReader::with_capacity(1 << 20, f)).map_err(|e| e.to_string())?;
    let mut loader = Loader::new(Target::Live, total, before);
    while let Some((_, item)) = reader.next_item().map_err(|e| e.to_string())? {
        loader.item(item, reader.offset()).await?;
    }
    loader.finish().await
}

/// Where a load puts the keys: the dataset clients see, or a staged one
/// beside it that `swap_staged` makes the dataset (a replica's
/// `repl-diskless-load swapdb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Live,
    Staged,
}

thread_local! {
    /// This core's staged databases (Target::Staged), or after
    /// `swap_staged` the old ones until `drop_staged`.
    static STAGED: std::cell::RefCell<Option<Vec<crate::storage::db::Db>>> =
        const { std::cell::RefCell::new(None) };
}

/// Gives every core empty staged databases to load into.
pub async fn begin_staged() {
    runtime::gather(0..runtime::shards(), || {
        let dbs = shard::with(|sh| {
            let slots = sh.slots.clone();
            (0..sh.dbs.len())
                .map(|_| crate::storage::db::Db::new(slots.clone()))
                .collect()
        });
        STAGED.with(|s| *s.borrow_mut() = Some(dbs));
    })
    .await;
}

/// Makes the staged databases the dataset on every core at once (no
/// client sees one core swapped and another not); `on_swap` runs on each
/// core right after (what a flush tells watchers and tracking). The old
/// dataset is then freed core by core.
pub async fn swap_staged(on_swap: fn()) {
    let parts = (0..runtime::shards())
        .map(|core| {
            let job: Job = Box::new(move || {
                STAGED.with(|s| {
                    if let Some(dbs) = s.borrow_mut().as_mut() {
                        shard::with(|sh| std::mem::swap(&mut sh.dbs, dbs));
                    }
                });
                on_swap();
                Reply::Ok
            });
            (core, job)
        })
        .collect();
    runtime::write_atomically(parts).await;
    drop_staged().await;
}

/// Frees the staged databases (after a failed load: the dataset stays).
pub async fn drop_staged() {
    runtime::gather(0..runtime::shards(), || {
        STAGED.with(|s| s.borrow_mut().take());
    })
    .await;
}

/// Puts an RDB's items into the dataset, batched by owning core, with
/// INFO's progress and the counts; any byte source feeds it (a file, a
/// master's socket).
pub struct Loader {
    target: Target,
    batches: Vec<Vec<Entry>>,
    queued: usize,
    loaded: u64,
    expired: u64,
    dbs: u64,
    total: u64,
    before: u64,
    started: Instant,
    last_log: Instant,
    now: i64,
    drop_expired: bool,
    repl: (Option<String>, Option<i64>, Option<i64>),
}

impl Loader {
    /// `total` bytes in this source, `before` bytes of other sources
    /// loaded already.
    pub fn new(target: Target, total: u64, before: u64) -> Loader {
        Loader {
            target,
            batches: (0..runtime::shards()).map(|_| Vec::new()).collect(),
            queued: 0,
            loaded: 0,
            expired: 0,
            dbs: config::num(Opt::Databases) as u64,
            total,
            before,
            started: Instant::now(),
            last_log: Instant::now(),
            now: now_ms(),
            // A replica keeps keys already expired: its master's DELs remove them.
            drop_expired: config::text(Opt::Replicaof).is_empty(),
            repl: (None, None, None),
        }
    }

    /// One item; `offset` is the source's bytes read so far.
    pub async fn item(&mut self, item: Item, offset: u64) -> Result<(), String> {
        match item {
            Item::Aux { key, value } => {
                let text = || String::from_utf8_lossy(&value).into_owned();
                match key.as_slice() {
                    b"repl-id" => self.repl.0 = Some(text()),
                    b"repl-offset" => self.repl.1 = text().parse::<i64>().ok(),
                    b"repl-stream-db" => self.repl.2 = text().parse::<i64>().ok(),
                    b"redis-ver" => tracing::info!("Loading RDB produced by version {}", text()),
                    b"ctime" => {
                        if let Ok(t) = text().parse::<i64>() {
                            tracing::info!("RDB age {} seconds", (self.now / 1000 - t).max(0));
                        }
                    }
                    b"used-mem" => {
                        let m = text().parse::<u64>().unwrap_or(0);
                        INFO.lock().unwrap().rdb_used_mem = m;
                        tracing::info!(
                            "RDB memory usage when created {:.2} Mb",
                            m as f64 / 1048576.0
                        );
                    }
                    _ => {}
                }
            }
            Item::SelectDb(db) if db >= self.dbs => {
                return Err(format!(
                    "FATAL: Data file was created with a Redis server configured to handle more than {} databases",
                    self.dbs
                ));
            }
            Item::Entry(e) => {
                if self.drop_expired && e.expire_ms.is_some_and(|t| t <= self.now) {
                    self.expired += 1;
                } else {
                    self.loaded += 1;
                    self.batches[crate::cluster::route::core(&e.key)].push(e);
                    self.queued += 1;
                    if self.queued >= BATCH {
                        send(&mut self.batches, self.target).await;
                        self.queued = 0;
                    }
                }
            }
            Item::Function(code) => {
                if let Some(h) = super::function_hooks() {
                    (h.load)(&code)
                        .map_err(|e| format!("failed loading a function library: {e}"))?;
                }
            }
            Item::ModuleAux { module } => {
                return Err(format!(
                    "The RDB file contains AUX module data of module {module} that I can't load"
                ));
            }
            Item::SelectDb(_) | Item::ResizeDb { .. } | Item::Eof { .. } => {}
        }
        if self.last_log.elapsed() >= Duration::from_secs(1) {
            self.last_log = Instant::now();
            let of = if self.total > 0 {
                format!(
                    " of {:.1} MB ({:.1}%)",
                    self.total as f64 / 1e6,
                    offset as f64 * 100.0 / self.total as f64
                )
            } else {
                String::new()
            };
            tracing::info!(
                "Loading RDB: {} keys, {:.1} MB{of}, {:.0} keys/s",
                self.loaded,
                offset as f64 / 1e6,
                self.loaded as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
            );
        }
        let mut i = INFO.lock().unwrap();
        i.loaded_bytes = self.before + offset;
        i.keys_loaded = self.loaded;
        i.keys_expired = self.expired;
        Ok(())
    }

    /// Inserts what is still queued; records the replication fields.
    pub async fn finish(mut self) -> Result<(), String> {
        send(&mut self.batches, self.target).await;
        *LOADED_REPL.lock().unwrap() = match self.repl {
            (Some(id), Some(offset), Some(stream_db)) if id.len() == 40 && stream_db >= 0 => {
                Some(super::rdb::ReplInfo {
                    stream_db,
                    id,
                    offset,
                })
            }
            _ => None,
        };
        Ok(())
    }
}

/// Inserts every core's batch on that core, concurrently.
async fn send(batches: &mut [Vec<Entry>], target: Target) {
    let futs = batches
        .iter_mut()
        .enumerate()
        .filter(|(_, b)| !b.is_empty())
        .map(|(core, b)| {
            let entries = std::mem::take(b);
            let job: Job = Box::new(move || {
                let lru = crate::storage::evict::new_lru();
                let insert = |dbs: &mut Vec<crate::storage::db::Db>| {
                    for e in entries {
                        let exp = e.expire_ms.unwrap_or(0);
                        dbs[e.db as usize].insert(&e.key, e.value, exp, lru);
                    }
                };
                match target {
                    Target::Live => shard::with(|sh| insert(&mut sh.dbs)),
                    Target::Staged => STAGED.with(|s| {
                        if let Some(dbs) = s.borrow_mut().as_mut() {
                            insert(dbs)
                        }
                    }),
                }
                Reply::Ok
            });
            runtime::run_on(core, vec![job])
        });
    futures_util::future::join_all(futs.collect::<Vec<_>>()).await;
}
