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
//! A script past `busy-reply-threshold` makes other clients get -BUSY
//! until it ends or SCRIPT KILL / FUNCTION KILL stops it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam::channel::{bounded, Receiver, RecvError, Sender, TryRecvError};
use crossbeam::utils::Backoff;

use super::dispatch::{merge_parts, run_key_here, split_parts};
use crate::commands::{self, flags, ClientRef, ClientState, Cross, Handler};
use crate::config::{self, Opt};
use crate::protocol::errors::{self, wrong_args};
use crate::protocol::Reply;
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

/// Runs `f` with this core's engine (made on first use).
fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    LUA.with(|e| {
        let mut e = e.borrow_mut();
        f(e.get_or_insert_with(|| Engine::new(store().clone())))
    })
}

/// How persistence saves and loads function libraries.
pub fn function_hooks() -> crate::persistence::FunctionHooks {
    crate::persistence::FunctionHooks {
        codes: || store().library_codes(),
        load: |code| {
            with_engine(|e| e.function_load(code, false))
                .map(|_| ())
                .map_err(|r| match r {
                    Reply::Error(e) => e.into_owned(),
                    _ => "invalid library".into(),
                })
        },
    }
}

/// A script is running past busy-reply-threshold: others get -BUSY.
pub static BUSY: AtomicBool = AtomicBool::new(false);
/// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
static KILL: AtomicBool = AtomicBool::new(false);
/// The running script has written (it can no longer be killed).
static WROTE: AtomicBool = AtomicBool::new(false);
/// A script is running (FUNCTION STATS, SCRIPT KILL's NOTBUSY).
static RUNNING: AtomicBool = AtomicBool::new(false);

pub const BUSY_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

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
fn recv_soon<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    let backoff = Backoff::new();
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) if start.elapsed() > SPIN => return rx.recv(),
            Err(TryRecvError::Empty) => backoff.snooze(),
        }
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
    /// It touched a key on a core it does not hold.
    wants_wide: bool,
}

impl Run {
    /// Runs `job` on `core`: here, or on a parked core.
    fn on(&mut self, core: usize, job: Call) -> Option<Reply> {
        if core == self.me {
            return Some(job());
        }
        let p = self.parked.as_ref()?;
        p.to[core].as_ref()?.send(Some(job)).ok()?;
        recv_soon(p.back[core].as_ref()?).ok()
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
        let write = spec.flags & flags::WRITE != 0;
        if write && self.read_only {
            return Reply::error(scripting::WRITE_IN_READONLY);
        }
        let f = match spec.handler {
            Handler::Key(f) => f,
            Handler::Conn(f) => return f(&mut self.client, args),
            _ => {
                return Reply::error("ERR This command does not run inside scripts on this server")
            }
        };
        let db = self.client.db;
        let mut cores: Vec<usize> = spec
            .key_indices(args.len())
            .map(|i| runtime::owner(key_slot(&args[i])))
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
        if write {
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
        let limit = config::num(Opt::BusyReplyThreshold).max(0) as u128;
        if limit > 0 && elapsed.as_millis() >= limit && !BUSY.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command.",
                elapsed.as_millis()
            );
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

/// Runs the script on this core with `run` as its host.
fn run_here(kind: Kind, name: &Bytes, keys: &[Bytes], argv: &[Bytes], run: &mut Run) -> Reply {
    RUNNING.store(true, Ordering::Relaxed);
    WROTE.store(false, Ordering::Relaxed);
    let reply = with_engine(|e| match kind {
        Kind::Eval => e.eval(run, name, keys, argv),
        Kind::EvalSha => e.evalsha(run, name, keys, argv),
        Kind::Fcall => e.fcall(run, name, keys, argv),
    });
    RUNNING.store(false, Ordering::Relaxed);
    BUSY.store(false, Ordering::Relaxed);
    KILL.store(false, Ordering::Relaxed);
    reply
}

/// EVAL-family flags for the script or function, or the error to answer.
fn flags_of(kind: Kind, name: &[u8], ro: bool) -> Result<ScriptFlags, Reply> {
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
    if ro && !flags.eval_compat && !flags.no_writes {
        return Err(Reply::error(scripting::RO_WITH_WRITE_FLAG));
    }
    Ok(flags)
}

async fn run_script(c: ClientRef, args: Vec<Bytes>, kind: Kind, ro: bool) -> Reply {
    let (keys, argv) = match split_keys(&args[2..]) {
        Ok((k, a)) => (k.to_vec(), a.to_vec()),
        Err(e) => return e,
    };
    let flags = match flags_of(kind, &args[1], ro) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let (db, resp3) = {
        let st = c.borrow();
        (st.db, st.resp3)
    };
    let read_only = ro || flags.no_writes;
    let cores: BTreeSet<usize> = keys.iter().map(|k| runtime::owner(key_slot(k))).collect();
    let name = args[1].clone();
    if cores.len() <= 1 {
        let core = cores.first().copied().unwrap_or(runtime::me());
        let (name, keys, argv) = (name.clone(), keys.clone(), argv.clone());
        let job = move || {
            let mut run = Run {
                client: script_client(db, resp3),
                resp3,
                read_only,
                me: core,
                parked: None,
                wrote: false,
                wants_wide: false,
            };
            // Its writes are one MULTI/EXEC in the journal, as in Redis;
            // clients blocked on keys it made ready are served after it.
            let hold = commands::blocking::Hold::new();
            let reply = journal::atomic_local(|| run_here(kind, &name, &keys, &argv, &mut run));
            drop(hold);
            (reply, run.wants_wide && !run.wrote)
        };
        let (reply, redo) = if core == runtime::me() {
            runtime::gate::pass(runtime::gate::current()).await;
            job()
        } else {
            match runtime::call_on(core, job).await {
                Some(r) => r,
                None => return Reply::error("ERR server is shutting down"),
            }
        };
        if !redo {
            return reply;
        }
    }
    run_wide(kind, name, keys, argv, db, resp3, read_only).await
}

/// Runs a script here with every core held and the others parked.
async fn run_wide(
    kind: Kind,
    name: Bytes,
    keys: Vec<Bytes>,
    argv: Vec<Bytes>,
    db: usize,
    resp3: bool,
    read_only: bool,
) -> Reply {
    let me = runtime::me();
    let n = runtime::shards();
    let mut to = Vec::new();
    let mut back = Vec::new();
    let mut channels = Vec::new();
    for core in 0..n {
        if core == me {
            to.push(None);
            back.push(None);
            channels.push(None);
            continue;
        }
        let (call_tx, call_rx) = bounded::<Option<Call>>(1);
        let (reply_tx, reply_rx) = bounded::<Reply>(1);
        to.push(Some(call_tx));
        back.push(Some(reply_rx));
        channels.push(Some((call_rx, reply_tx)));
    }
    // Each other core serves the script's calls until it gets None.
    let (txn, parks) = Txn::begin_parking(0..n, |core| {
        let (call_rx, reply_tx) = channels[core].take().expect("one park per core");
        Box::new(move || {
            while let Ok(Some(call)) = recv_soon(&call_rx) {
                if reply_tx.send(call()).is_err() {
                    break;
                }
            }
            Reply::Ok
        })
    })
    .await;
    let mut run = Run {
        client: script_client(db, resp3),
        resp3,
        read_only,
        me,
        parked: Some(Parked { to, back }),
        wrote: false,
        wants_wide: false,
    };
    // Every gate is held from here until the parks are let go below.
    let reply = journal::within(txn.id(), || run_here(kind, &name, &keys, &argv, &mut run));
    if let Some(p) = run.parked.take() {
        for tx in p.to.into_iter().flatten() {
            let _ = tx.send(None);
        }
    }
    // Not waiting for the parked cores to open: whatever this core sends
    // them next queues behind their park, and their gates keep everyone
    // else out until the park has ended.
    drop(parks);
    txn.end().await;
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

/// SCRIPT KILL / FUNCTION KILL.
fn kill() -> Reply {
    if !RUNNING.load(Ordering::Relaxed) {
        return Reply::error("NOTBUSY No scripts in execution right now.");
    }
    if WROTE.load(Ordering::Relaxed) {
        return Reply::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
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
            ("load", 3) => match with_engine(|e| e.script_load(&args[2])) {
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
            ("kill", 2) => kill(),
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
                match with_engine(|e| e.function_load(&args[n - 1], n == 4)) {
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
            "kill" if n == 2 => kill(),
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
    match with_engine(|e| e.function_restore(&codes, policy)) {
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
