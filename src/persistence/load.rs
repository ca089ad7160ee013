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
use crate::storage::{key_slot, now_ms, shard};

static LOADING: AtomicBool = AtomicBool::new(false);

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
    let dbs = config::num(Opt::Databases) as u64;
    let n = runtime::shards();
    let mut batches: Vec<Vec<Entry>> = (0..n).map(|_| Vec::new()).collect();
    let mut queued = 0;
    let (mut loaded, mut expired) = (0u64, 0u64);
    let started = Instant::now();
    let mut last_log = Instant::now();
    let now = now_ms();
    // A replica keeps keys already expired: its master's DELs remove them.
    let drop_expired = config::text(Opt::Replicaof).is_empty();
    let (mut repl_id, mut repl_off, mut repl_db) = (None, None, None);
    while let Some((_, item)) = reader.next_item().map_err(|e| e.to_string())? {
        match item {
            Item::Aux { key, value } => match key.as_slice() {
                b"repl-id" => repl_id = Some(String::from_utf8_lossy(&value).into_owned()),
                b"repl-offset" => repl_off = String::from_utf8_lossy(&value).parse::<i64>().ok(),
                b"repl-stream-db" => repl_db = String::from_utf8_lossy(&value).parse::<i64>().ok(),
                b"redis-ver" => tracing::info!(
                    "Loading RDB produced by version {}",
                    String::from_utf8_lossy(&value)
                ),
                b"ctime" => {
                    if let Ok(t) = String::from_utf8_lossy(&value).parse::<i64>() {
                        tracing::info!("RDB age {} seconds", (now / 1000 - t).max(0));
                    }
                }
                b"used-mem" => {
                    let m = String::from_utf8_lossy(&value).parse::<u64>().unwrap_or(0);
                    INFO.lock().unwrap().rdb_used_mem = m;
                    tracing::info!(
                        "RDB memory usage when created {:.2} Mb",
                        m as f64 / 1048576.0
                    );
                }
                _ => {}
            },
            Item::SelectDb(db) if db >= dbs => {
                return Err(format!(
                    "FATAL: Data file was created with a Redis server configured to handle more than {dbs} databases"
                ));
            }
            Item::Entry(e) => {
                if drop_expired && e.expire_ms.is_some_and(|t| t <= now) {
                    expired += 1;
                    continue;
                }
                loaded += 1;
                batches[runtime::owner(key_slot(&e.key))].push(e);
                queued += 1;
                if queued >= BATCH {
                    send(&mut batches).await;
                    queued = 0;
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
        if last_log.elapsed() >= Duration::from_secs(1) {
            last_log = Instant::now();
            let done = reader.offset();
            tracing::info!(
                "Loading RDB: {loaded} keys, {:.1} MB of {:.1} MB ({:.1}%), {:.0} keys/s",
                done as f64 / 1e6,
                total as f64 / 1e6,
                done as f64 * 100.0 / total.max(1) as f64,
                loaded as f64 / started.elapsed().as_secs_f64().max(1e-3)
            );
        }
        let mut i = INFO.lock().unwrap();
        i.loaded_bytes = before + reader.offset();
        i.keys_loaded = loaded;
        i.keys_expired = expired;
    }
    send(&mut batches).await;
    *LOADED_REPL.lock().unwrap() = match (repl_id, repl_off, repl_db) {
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

/// Inserts every core's batch on that core, concurrently.
async fn send(batches: &mut [Vec<Entry>]) {
    let futs = batches
        .iter_mut()
        .enumerate()
        .filter(|(_, b)| !b.is_empty())
        .map(|(core, b)| {
            let entries = std::mem::take(b);
            let job: Job = Box::new(move || {
                let lru = crate::storage::evict::new_lru();
                shard::with(|sh| {
                    for e in entries {
                        let exp = e.expire_ms.unwrap_or(0);
                        sh.dbs[e.db as usize].insert(&e.key, e.value, exp, lru);
                    }
                });
                Reply::Ok
            });
            runtime::run_on(core, vec![job])
        });
    futures_util::future::join_all(futs.collect::<Vec<_>>()).await;
}
