//! Dispatch: one pipelined read's commands → replies, in order.
//!
//! For each command: look it up, check arity and auth, then route it.
//! A key command whose keys live on this core runs inline; one whose keys
//! live on another core joins that core's batch, and each batch crosses the
//! mesh as one message. Commands that need several cores (a split MGET, a
//! coordinated RENAME, INFO ...) first wait for the batches sent so far.
//! A multi-key command split over cores (MSET, MGET, DEL ...) is atomic: it
//! joins the read's `transaction::Group` with the EXECs and split commands
//! next to it, which runs before any other command of the read.
//! Replies keep the order of the requests; effects of commands on
//! different cores within one read may land in either order (as with
//! pipelining against a Redis Cluster). Consecutive EXECs of single-core
//! commands gather in a `transaction::Group` that runs (atomically, one
//! visit per core) before any other command of the read.

use bytes::Bytes;

use super::{script, transaction};
use crate::cluster::route::{command_keys, confirm, Seen};
use crate::commands::client::ReplyMode;
use crate::commands::tracking::{self, Tracker};
use crate::commands::{
    self, flags, propagate, slowlog, stats, ClientRef, Cross, Ctx, Handler, Merge, Spec,
};
use crate::config::{self, Opt};
use crate::persistence::{self, snapshot};
use crate::protocol::errors;
use crate::protocol::Reply;
use crate::runtime::{self, Job};
use crate::storage::{journal, now_ms, shard};

/// One command's reply, whether the client wants to see it, and the
/// protocol it is encoded in (HELLO can switch it mid-pipeline).
pub struct Out {
    pub reply: Reply,
    pub send: bool,
    pub resp3: bool,
}

struct Batch {
    core: usize,
    jobs: Vec<Job>,
    /// Index into the replies for each job.
    slots: Vec<usize>,
    /// The jobs' keys, prefetched on `core` before the first job runs
    /// (in the database of the first: another one only makes it miss).
    keys: Vec<Bytes>,
    db: usize,
}

/// Whether FAILOVER's write pause holds this command, as CLIENT PAUSE
/// WRITE does in Redis 7.0: a command that may write or replicate, or an
/// EXEC whose queue holds one. The loader and a running EXEC's commands
/// go on (the EXEC itself was held).
fn held_by_pause(client: &ClientRef, args: &[Bytes]) -> bool {
    let c = client.borrow();
    if c.loader || c.in_exec {
        return false;
    }
    if args[0].eq_ignore_ascii_case(b"exec") {
        return c
            .multi
            .as_ref()
            .is_some_and(|m| m.queued.iter().any(|q| may_replicate(q)));
    }
    may_replicate(args)
}

/// Waits while CLIENT PAUSE (ALL: every command; WRITE: as FAILOVER) or
/// FAILOVER holds this command. Replication links are never paused.
async fn wait_while_paused(client: &ClientRef, args: &[Bytes]) {
    if client.borrow().repl_link.is_some() {
        return;
    }
    loop {
        let held = match commands::pause::mode_now() {
            Some(commands::pause::Mode::All) => {
                let c = client.borrow();
                !c.loader && !c.in_exec
            }
            Some(commands::pause::Mode::Write) => held_by_pause(client, args),
            None => false,
        } || (crate::replication::failover::writes_paused()
            && held_by_pause(client, args));
        if !held {
            return;
        }
        runtime::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Redis's CMD_WRITE | CMD_MAY_REPLICATE, with scripts judged by their
/// flags (`script::may_write`).
fn may_replicate(args: &[Bytes]) -> bool {
    commands::table().lookup(&args[0]).is_some_and(|(_, s)| {
        s.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
            || s.name == "pfcount"
            || super::script::may_write(s.name, args)
    })
}

/// Runs a read's worth of commands for `client`; returns replies in order.
pub async fn run_batch(client: &ClientRef, cmds: Vec<Vec<Bytes>>) -> Vec<Out> {
    let mut outs: Vec<Out> = Vec::with_capacity(cmds.len());
    let mut batches: Vec<Batch> = Vec::new();
    // EXECs run together (transaction::Group); while it holds any, no
    // batch does, and any other command runs it first.
    let mut group = transaction::Group::default();
    let me = runtime::me();
    // One clock read per read batch for inline commands (re-read after any
    // wait below, so a command never runs with a stale clock).
    let mut now = now_ms();
    // A read of one command has nothing to overlap its misses with. The
    // prefetch looks the commands up; the loop uses what it found.
    let table = commands::table();
    let prefetching = cmds.len() > 1;
    let mut found = Vec::new();
    if prefetching {
        found = cmds.iter().map(|a| table.lookup(&a[0])).collect();
        prefetch_keys(client, &cmds, &found);
    }
    for (i, args) in cmds.into_iter().enumerate() {
        let found = found
            .get(i)
            .copied()
            .unwrap_or_else(|| table.lookup(&args[0]));
        let idx = outs.len();
        let mode = client.borrow().reply;
        let send = reply_wanted(client);
        let resp3 = client.borrow().resp3;
        outs.push(Out {
            reply: Reply::Nil,
            send,
            resp3,
        });
        // CLIENT PAUSE and FAILOVER hold commands until they end.
        if crate::replication::failover::writes_paused() || commands::pause::active() {
            wait_while_paused(client, &args).await;
        }
        let (ci, spec) = match check(client, &args, found) {
            Ok(found) => found,
            Err(e) => {
                let exec = args[0].eq_ignore_ascii_case(b"exec");
                outs[idx].reply = transaction::refused(client, exec, e).await;
                continue;
            }
        };
        // Cluster mode: keys of a slot served elsewhere get a redirection.
        let mut seen = None;
        if crate::cluster::enabled() {
            match crate::cluster::route::check(client, spec, &args).await {
                Ok(s) => seen = s,
                Err(e) => {
                    stats::with(|s| s.command(ci).rejected += 1);
                    outs[idx].reply = transaction::redirected(client, spec.name == "exec", e).await;
                    continue;
                }
            }
            if spec.name == "exec" {
                if let Some(m) = client.borrow_mut().multi.as_mut() {
                    m.seen = seen;
                }
            }
            now = now_ms();
        }
        // maxmemory: evict before a write; -OOM when nothing can be evicted.
        if config::num(Opt::Maxmemory) != 0 {
            let queueing = transaction::queueing(client);
            if let Some(e) = commands::evict::before_command(spec, queueing).await {
                stats::with(|s| s.command(ci).rejected += 1);
                outs[idx].reply = transaction::refused(client, spec.name == "exec", e).await;
                continue;
            }
        }
        if transaction::queueing(client)
            && !matches!(
                spec.name,
                "multi" | "exec" | "discard" | "watch" | "quit" | "reset"
            )
        {
            outs[idx].reply = transaction::queue(client, args, spec.flags & flags::NO_MULTI != 0);
            continue;
        }
        stats::with(|s| s.total_commands += 1);
        // Connection commands are shown once they ran (RESET ends
        // monitoring before its line), the rest as they start.
        let conn_cmd = matches!(spec.handler, Handler::Conn(_));
        if commands::monitor::active() && !conn_cmd {
            feed_monitors(client, spec, &args);
        }
        if spec.name == "exec" && transaction::join_group(client, &mut group, idx) {
            // Commands before it run first.
            flush(&mut batches, &mut outs).await;
            // Its queue runs with the group, timed there: the call itself
            // took no time worth a clock read.
            count(ci, 0, &Reply::Ok, &args);
            continue;
        }
        // A split command may join the group (below).
        if spec.name != "multi" && !matches!(spec.cross, Cross::Split(_)) && !group.is_empty() {
            group.flush(&mut outs).await;
            now = now_ms();
        }
        match spec.handler {
            Handler::Dispatch => {
                flush(&mut batches, &mut outs).await;
                let t = clock();
                let reply = match spec.name {
                    "multi" | "exec" | "discard" => transaction::run(spec.name, client).await,
                    _ => {
                        let db = client.borrow().db;
                        let form = script::journal_form(&args);
                        let run = script::run(spec.name, client.clone(), args.clone());
                        let reply = Box::pin(run).await;
                        if let Some(form) = form.filter(|_| !reply.is_error()) {
                            journal::record(db, &form);
                        }
                        reply
                    }
                };
                now = now_ms();
                let us = account(ci, t, &reply, &args);
                slowlog::check_client(us, spec, &args, client);
                commands::latency::check(us, spec);
                outs[idx].reply = reply;
            }
            Handler::Conn(f) => {
                let t = clock();
                let reply = f(&mut client.borrow_mut(), &args);
                let us = account(ci, t, &reply, &args);
                slowlog::check_client(us, spec, &args, client);
                commands::latency::check(us, spec);
                if commands::monitor::active() {
                    feed_monitors(client, spec, &args);
                }
                if client_changed(client, &mut outs[idx], reply, mode) {
                    break;
                }
            }
            Handler::Coord(f) => {
                flush(&mut batches, &mut outs).await;
                let t = clock();
                let db = client.borrow().db;
                let snap = snapshot_hook_coord(spec, db, &args).await;
                let all = 0..runtime::shards();
                let reply = coordinated(spec, db, all, client.clone(), args.clone(), f).await;
                drop(snap);
                now = now_ms();
                let us = account(ci, t, &reply, &args);
                slowlog::check_client(us, spec, &args, client);
                commands::latency::check(us, spec);
                if client_changed(client, &mut outs[idx], reply, mode) {
                    break;
                }
            }
            Handler::Key(f) => {
                let caller = Caller {
                    seen,
                    ..Caller::of(client, ci, spec)
                };
                let route = route(spec, &args);
                if !matches!(route, Route::Many) && !group.is_empty() {
                    group.flush(&mut outs).await;
                    now = now_ms();
                }
                match route {
                    Route::One(core)
                        if core == me && runtime::gate::admits(runtime::gate::current()) =>
                    {
                        outs[idx].reply = exec_key(f, caller, now, &args);
                    }
                    Route::One(core) => {
                        let i = match batches.iter().position(|b| b.core == core) {
                            Some(i) => i,
                            None => {
                                batches.push(Batch {
                                    core,
                                    jobs: Vec::new(),
                                    slots: Vec::new(),
                                    keys: Vec::new(),
                                    db: caller.db,
                                });
                                batches.len() - 1
                            }
                        };
                        let b = &mut batches[i];
                        if prefetching {
                            b.keys
                                .extend(spec.key_indices(args.len()).map(|k| args[k].clone()));
                        }
                        b.jobs
                            .push(Box::new(move || exec_key(f, caller, now_ms(), &args)));
                        b.slots.push(idx);
                    }
                    Route::Many => {
                        flush(&mut batches, &mut outs).await;
                        let t = clock();
                        let reply = match spec.cross {
                            // Atomic across cores: with the read's other
                            // split commands and EXECs, in one visit per core.
                            Cross::Split(merge) => match split_jobs(spec, f, caller, &args) {
                                Ok(parts) => {
                                    group.add_split(idx, merge, parts);
                                    continue;
                                }
                                Err(e) => e,
                            },
                            Cross::Coord(g) => {
                                let _snap = snapshot_hook_coord(spec, caller.db, &args).await;
                                let cores = spec
                                    .key_indices(args.len())
                                    .map(|i| crate::cluster::route::core(&args[i]));
                                let (c, a) = (client.clone(), args.clone());
                                let reply = coordinated(spec, caller.db, cores, c, a, g).await;
                                if !reply.is_error() {
                                    after_coord(spec, caller, &args).await;
                                }
                                reply
                            }
                            Cross::Never => Reply::error(
                                "CROSSSLOT Keys in request don't hash to the same slot",
                            ),
                        };
                        now = now_ms();
                        let us = if matches!(spec.cross, Cross::Split(_)) {
                            clock().saturating_sub(t)
                        } else {
                            account(ci, t, &reply, &args)
                        };
                        slowlog::check_client(us, spec, &args, client);
                        commands::latency::check(us, spec);
                        outs[idx].reply = reply;
                    }
                }
            }
        }
    }
    flush(&mut batches, &mut outs).await;
    group.flush(&mut outs).await;
    outs
}

/// Starts loading the entries of a pipelined read's keys before any of
/// its commands runs: their cache misses overlap instead of coming one
/// per command. `Db::prefetch` skips keys of slots this core does not
/// store. Not on the control core (the AOF loader's and a replica link's
/// commands), which stores no keys.
fn prefetch_keys(client: &ClientRef, cmds: &[Vec<Bytes>], found: &[Option<(usize, &Spec)>]) {
    if runtime::me() == runtime::control() {
        return;
    }
    let keys = cmds
        .iter()
        .zip(found)
        .filter_map(|(args, found)| Some((args, found.as_ref()?.1)))
        .flat_map(|(args, spec)| spec.key_indices(args.len()).map(|i| &args[i][..]));
    let db = client.borrow().db;
    shard::with(|sh| sh.dbs[db].prefetch(keys));
}

/// Files the reply of a command that may have changed the client itself
/// (HELLO, CLIENT REPLY, QUIT, CLIENT KILL of itself). Returns true when the
/// connection must close after this reply, so the rest of the read is dropped.
fn client_changed(client: &ClientRef, out: &mut Out, reply: Reply, before: ReplyMode) -> bool {
    let c = client.borrow();
    out.reply = reply;
    // HELLO answers in the protocol it switches to.
    out.resp3 = c.resp3;
    match (before, c.reply) {
        // CLIENT REPLY ON is answered even though replies were off.
        (ReplyMode::Off, ReplyMode::On) => out.send = true,
        // CLIENT REPLY OFF and SKIP are not answered themselves.
        (_, ReplyMode::Off | ReplyMode::SkipNext) => out.send = false,
        _ => {}
    }
    c.close_after_reply
}

/// Shows a command to MONITOR clients as it starts. EXEC shows the
/// commands it runs, then itself (the order Redis 7.0 shows them in); the
/// commands EXEC then runs here are not shown again.
#[cold]
fn feed_monitors(client: &ClientRef, spec: &Spec, args: &[Bytes]) {
    if !commands::monitor::shown(spec, args) {
        return;
    }
    let (db, who, queued) = {
        let c = client.borrow();
        if c.in_exec || c.loader {
            return;
        }
        let queued = match &c.multi {
            Some(m) if spec.name == "exec" && !m.aborted => m.queued.clone(),
            _ => Vec::new(),
        };
        (c.db, c.addr.clone(), queued)
    };
    let table = commands::table();
    for q in &queued {
        if table
            .lookup(&q[0])
            .is_some_and(|(_, s)| commands::monitor::shown(s, q))
        {
            commands::monitor::feed(db, &who, q);
        }
    }
    commands::monitor::feed(db, &who, args);
}

/// Checks auth, arity and the server's state for a command `found` in
/// the table (None: unknown).
fn check<'t>(
    client: &ClientRef,
    args: &[Bytes],
    found: Option<(usize, &'t Spec)>,
) -> Result<(usize, &'t Spec), Reply> {
    // Redis 7.0 reports an unknown command even before authentication.
    let Some((ci, spec)) = found else {
        return Err(errors::unknown_command(&args[0], &args[1..]));
    };
    let reject = |e: Reply| {
        stats::with(|s| s.command(ci).rejected += 1);
        Err(e)
    };
    // Redis 7.0 checks arity before authentication.
    if !spec.arity_ok(args.len()) {
        return reject(errors::wrong_args(spec.name));
    }
    if spec.flags & flags::NO_AUTH == 0 && !client.borrow().authenticated {
        return reject(Reply::error(errors::NOAUTH));
    }
    if let Err(e) = crate::acl::permit(&client.borrow(), ci, args) {
        return reject(e);
    }
    if script::BUSY.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(e) = script::refuse_while_busy(spec, args) {
            return reject(e);
        }
    }
    if let Some(e) = persistence_refuses(spec).filter(|_| !client.borrow().loader) {
        return reject(e);
    }
    // A master short of good replicas (min-replicas-to-write).
    if crate::replication::too_few_replicas()
        && spec.flags & flags::WRITE != 0
        && !client.borrow().loader
    {
        return reject(Reply::error(crate::replication::NOREPLICAS));
    }
    // A replica: READONLY, MASTERDOWN (not for the master's own stream).
    if crate::replication::replica::is_replica() && !client.borrow().loader {
        let stale_ok = spec.flags & flags::STALE != 0;
        if let Some(e) =
            crate::replication::replica::refuses(spec.flags & flags::WRITE != 0, stale_ok)
        {
            return reject(e);
        }
    }
    let mut c = client.borrow_mut();
    if c.subs.is_some() && !c.resp3 && !commands::pubsub::allowed_while_subscribed(spec.name) {
        return reject(commands::pubsub::subscribed_mode_error(spec.name));
    }
    if c.last_cmd != spec.name {
        // Reuses the string's buffer: no allocation per command.
        c.last_cmd.clear();
        c.last_cmd.push_str(spec.name);
    }
    Ok((ci, spec))
}

/// Whether a command may change the dataset (a write, a transaction or a
/// script): its reply waits for the fsync under `appendfsync always`.
pub fn may_write(args: &[Bytes]) -> bool {
    commands::table()
        .lookup(&args[0])
        .is_some_and(|(_, s)| s.flags & flags::WRITE != 0 || matches!(s.handler, Handler::Dispatch))
}

/// CLIENT REPLY OFF/SKIP: whether this command's reply is sent, decided
/// before it runs (the command after SKIP is the skipped one).
fn reply_wanted(client: &ClientRef) -> bool {
    let mut c = client.borrow_mut();
    match c.reply {
        ReplyMode::Off => false,
        ReplyMode::SkipNext => {
            c.reply = ReplyMode::On;
            false
        }
        ReplyMode::On => true,
    }
}

enum Route {
    One(usize),
    Many,
}

/// Which core(s) own the command's keys.
fn route(spec: &Spec, args: &[Bytes]) -> Route {
    let mut keys = spec.key_indices(args.len());
    let Some(first) = keys.next() else {
        return Route::One(runtime::me());
    };
    // One shard core stores every key: no slot to compute.
    if runtime::shards() == 1 {
        return Route::One(0);
    }
    let core = crate::cluster::route::core(&args[first]);
    if runtime::shards() > 1 && keys.any(|i| crate::cluster::route::core(&args[i]) != core) {
        return Route::Many;
    }
    Route::One(core)
}

/// Who runs a key command, carried to the core that owns its keys.
#[derive(Clone, Copy)]
struct Caller {
    ci: usize,
    db: usize,
    no_touch: bool,
    /// The client's id (NOLOOP tracking compares it with the writer).
    id: u64,
    /// Set when the client tracks the keys this read-only command reads.
    track: Option<Tracker>,
    /// Whether this run is the whole command (not one core's part of a
    /// split one, not a script's call): the one SLOWLOG looks at.
    whole: bool,
    /// Cluster mode: what the routing check saw, confirmed on this core
    /// before the command runs.
    seen: Option<Seen>,
}

impl Caller {
    fn of(client: &ClientRef, ci: usize, spec: &Spec) -> Caller {
        let mut c = client.borrow_mut();
        let track = if c.tracking.is_some() {
            tracking::reader(&mut c, spec.flags & flags::READONLY != 0)
        } else {
            None
        };
        Caller {
            ci,
            db: c.db,
            no_touch: c.no_touch,
            id: c.id,
            track,
            whole: true,
            seen: None,
        }
    }
}

/// Runs a key command on this core's shard, with its statistics; then
/// remembers the keys a tracking client read, or reports the keys a write
/// changed (invalidations, WATCH).
fn exec_key(f: commands::KeyFn, caller: Caller, now: i64, args: &[Bytes]) -> Reply {
    if let Some(seen) = &caller.seen {
        let spec = &commands::table().specs[caller.ci];
        if let Err(r) = confirm(seen, || command_keys(spec, args)) {
            stats::with(|s| s.command(caller.ci).rejected += 1);
            return r.reply();
        }
    }
    let t = clock();
    if snapshot::running() {
        let spec = &commands::table().specs[caller.ci];
        for i in snapshot_keys(spec, args.len()) {
            snapshot_dbs(spec, caller.db).for_each(|db| snapshot::before_write(db, &args[i]));
        }
    }
    journal::command_start();
    let (reply, changed) = shard::with(|sh| {
        let dirty = sh.dirty;
        let mut ctx = Ctx {
            shard: sh,
            db: caller.db,
            now,
            no_touch: caller.no_touch,
        };
        let reply = f(&mut ctx, args);
        (reply, sh.dirty != dirty)
    });
    let spec = &commands::table().specs[caller.ci];
    if changed && spec.flags & flags::WRITE != 0 {
        propagate::record(spec, caller.db, args, &reply, now);
    }
    journal::command_done();
    // Clients blocked on keys this command made ready are served now that
    // it is done (not inside EXEC or a script: when that ends).
    commands::blocking::after_command();
    if let Some(tr) = caller.track {
        for i in spec.key_indices(args.len()) {
            tracking::remember(tr, &args[i]);
        }
    }
    if changed {
        for i in commands::written_keys(spec, args.len()) {
            commands::key_changed(caller.db, &args[i], caller.id);
        }
    }
    let us = account(caller.ci, t, &reply, args);
    if caller.whole {
        commands::latency::check(us, spec);
        slowlog::check(us, spec, args, || {
            commands::client::peer_of(caller.id).unwrap_or_default()
        });
    }
    reply
}

/// The keys a snapshot must copy before this command runs: every key of a
/// write command (copying one it does not change is harmless).
fn snapshot_keys(spec: &Spec, argc: usize) -> impl Iterator<Item = usize> {
    let write = spec.flags & flags::WRITE != 0;
    spec.key_indices(argc).filter(move |_| write)
}

/// The databases a write may touch: MOVE and COPY ... DB reach another one.
fn snapshot_dbs(spec: &Spec, db: usize) -> std::ops::Range<usize> {
    if spec.name == "move" || spec.name == "copy" {
        0..config::num(Opt::Databases) as usize
    } else {
        db..db + 1
    }
}

/// Copy-before-write on the owning cores before a coordinated write. The
/// guard keeps a snapshot from starting until the command is done; a
/// blocking command does not hold it while it waits.
async fn snapshot_hook_coord(
    spec: &Spec,
    db: usize,
    args: &[Bytes],
) -> Option<persistence::save::CoordGuard> {
    if spec.flags & flags::WRITE == 0 {
        return None;
    }
    // Movable keys (LMPOP, ZUNIONSTORE ...): every argument may be one;
    // copying a key that is not written is harmless.
    let keys: Vec<Bytes> = if spec.flags & flags::MOVABLE_KEYS != 0 {
        args[1..].to_vec()
    } else {
        snapshot_keys(spec, args.len())
            .map(|i| args[i].clone())
            .collect()
    };
    let guard = persistence::before_coord(&keys, snapshot_dbs(spec, db)).await;
    (spec.flags & flags::BLOCKING == 0).then_some(guard)
}

/// -LOADING while the dump file loads; -MISCONF for writes after a failed
/// background save (stop-writes-on-bgsave-error).
fn persistence_refuses(spec: &Spec) -> Option<Reply> {
    if persistence::loading() && spec.flags & flags::LOADING == 0 {
        return Some(Reply::error(errors::LOADING));
    }
    if spec.flags & flags::WRITE != 0 || spec.name == "ping" {
        if persistence::writes_refused() {
            return Some(Reply::error(errors::MISCONF));
        }
        if persistence::aof::writes_refused() {
            return Some(Reply::error(persistence::aof::misconf_error()));
        }
    }
    None
}

/// The clock commands are timed with, in µs. While `latency-tracking` is
/// on (Redis's default) it is the precise vDSO clock (~20 ns a read), as
/// the per-command histograms need single microseconds; otherwise the
/// coarse one (1-4 ms steps), which is enough for commandstats' sums.
/// (Reading the time-stamp counter directly was tried: on this project's
/// VM the `rdtsc` itself is most of the vDSO call's cost.)
#[inline]
fn clock() -> u64 {
    if commands::histogram::tracking() {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
    } else {
        shard::coarse_micros()
    }
}

/// Counts a command that started at `t` in INFO commandstats; returns
/// how long it ran (µs).
fn account(ci: usize, t: u64, reply: &Reply, args: &[Bytes]) -> u64 {
    let us = clock().saturating_sub(t);
    count(ci, us, reply, args);
    us
}

/// Counts a command that ran for `us` µs in INFO commandstats and the
/// latency histograms.
fn count(ci: usize, us: u64, reply: &Reply, args: &[Bytes]) {
    stats::with(|s| {
        let c = s.command(ci);
        c.calls += 1;
        c.usec += us;
        if reply.is_error() {
            c.failed += 1;
        }
        if commands::histogram::tracking() {
            if let Some(id) = commands::histogram::id_of(ci, args) {
                s.latency(id, us);
            }
        }
    });
}

/// What `exec_key` does after a command, for a coordinated multi-core
/// one: tracked reads are remembered and changed keys reported on the
/// cores that own them, before the client gets its reply.
async fn after_coord(spec: &Spec, caller: Caller, args: &[Bytes]) {
    let mut per_core: Vec<(usize, Vec<Bytes>, Vec<Bytes>)> = Vec::new();
    let mut add = |key: &Bytes, read: bool| {
        let core = crate::cluster::route::core(key);
        let i = match per_core.iter().position(|p| p.0 == core) {
            Some(i) => i,
            None => {
                per_core.push((core, Vec::new(), Vec::new()));
                per_core.len() - 1
            }
        };
        if read {
            per_core[i].1.push(key.clone());
        } else {
            per_core[i].2.push(key.clone());
        }
    };
    if caller.track.is_some() {
        spec.key_indices(args.len())
            .for_each(|i| add(&args[i], true));
    }
    commands::written_keys(spec, args.len()).for_each(|i| add(&args[i], false));
    let jobs = per_core.into_iter().map(|(core, read, written)| {
        let job: Job = Box::new(move || {
            if let Some(tr) = caller.track {
                read.iter().for_each(|k| tracking::remember(tr, k));
            }
            written
                .iter()
                .for_each(|k| commands::key_changed(caller.db, k, caller.id));
            Reply::Ok
        });
        runtime::run_on(core, vec![job])
    });
    futures_util::future::join_all(jobs.collect::<Vec<_>>()).await;
}

/// Runs a coordinated command; a write is journaled as itself while the
/// cores it may touch are held (`commands::journaled`). A blocking command
/// journals the pop that serves it instead, and must hold no gate while it
/// waits.
async fn coordinated(
    spec: &Spec,
    db: usize,
    cores: impl IntoIterator<Item = usize>,
    client: ClientRef,
    args: Vec<Bytes>,
    f: commands::CoordFn,
) -> Reply {
    if !journal::enabled() || !commands::may_write(spec, &args) || spec.flags & flags::BLOCKING != 0
    {
        return f(client, args).await;
    }
    let form = args.clone();
    commands::journaled(db, cores, form, f(client, args)).await
}

/// Sends every pending batch, waits for all, and files the replies.
async fn flush(batches: &mut Vec<Batch>, outs: &mut [Out]) {
    if batches.is_empty() {
        return;
    }
    let pending = std::mem::take(batches);
    let mut slots = Vec::with_capacity(pending.len());
    let futs = pending.into_iter().map(|mut b| {
        slots.push(b.slots);
        // The jobs' cache misses overlap there, as `prefetch_keys` makes
        // a read's own ones overlap here.
        if !b.keys.is_empty() && b.jobs.len() > 1 {
            let (db, keys, first) = (b.db, b.keys, b.jobs.remove(0));
            b.jobs.insert(
                0,
                Box::new(move || {
                    shard::with(|sh| sh.dbs[db].prefetch(keys.iter().map(|k| &k[..])));
                    first()
                }),
            );
        }
        runtime::run_on(b.core, b.jobs)
    });
    let results = futures_util::future::join_all(futs.collect::<Vec<_>>()).await;
    for (replies, slots) in results.into_iter().zip(slots) {
        for (r, i) in replies.into_iter().zip(slots) {
            outs[i].reply = r;
        }
    }
}

/// A multi-key command split per core: the same command over each core's
/// keys, as the job that runs it there, with those keys' positions.
fn split_jobs(
    spec: &Spec,
    f: commands::KeyFn,
    caller: Caller,
    args: &[Bytes],
) -> Result<Vec<(usize, Job, Vec<usize>)>, Reply> {
    // Each part is not the whole command (SLOWLOG/LATENCY see the whole).
    let caller = Caller {
        whole: false,
        ..caller
    };
    let parts = split_parts(spec, args)?;
    let jobs = parts.into_iter().map(|(core, sub, pos)| {
        let job: Job = Box::new(move || exec_key(f, caller, now_ms(), &sub));
        (core, job, pos)
    });
    Ok(jobs.collect())
}

/// One core's part of a split command: the core, the command over its
/// keys, and those keys' positions in the whole command.
pub type Part = (usize, Vec<Bytes>, Vec<usize>);

/// Splits a multi-key command into the same command per core.
pub fn split_parts(spec: &Spec, args: &[Bytes]) -> Result<Vec<Part>, Reply> {
    let step = spec.keys.2.max(1) as usize;
    // Key/value commands (MSET) need whole pairs before they can be split.
    if !(args.len() - 1).is_multiple_of(step) {
        return Err(errors::wrong_args(spec.name));
    }
    let mut parts: Vec<Part> = Vec::new();
    for (n, i) in spec.key_indices(args.len()).enumerate() {
        let core = crate::cluster::route::core(&args[i]);
        let part = match parts.iter_mut().position(|p| p.0 == core) {
            Some(p) => &mut parts[p],
            None => {
                parts.push((core, vec![args[0].clone()], Vec::new()));
                parts.last_mut().unwrap()
            }
        };
        part.1.extend_from_slice(&args[i..i + step]);
        part.2.push(n);
    }
    Ok(parts)
}

/// Merges the parts' replies (in part order) into the command's reply.
pub fn merge_parts(merge: Merge, replies: Vec<Reply>, positions: Vec<Vec<usize>>) -> Reply {
    if let Some(e) = replies.iter().find(|r| r.is_error()) {
        return e.clone();
    }
    match merge {
        Merge::Sum => Reply::Int(
            replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        Merge::Ok => Reply::Ok,
        Merge::Array => {
            let nkeys = positions.iter().map(Vec::len).sum();
            let mut out = vec![Reply::Nil; nkeys];
            for (r, pos) in replies.into_iter().zip(positions) {
                if let Reply::Array(items) = r {
                    for (item, p) in items.into_iter().zip(pos) {
                        out[p] = item;
                    }
                }
            }
            Reply::Array(out)
        }
    }
}

/// The core a command would run on in one piece, with its table row: a
/// key command whose keys all live on one core (None for anything else).
/// EXEC sends a queue of such commands as one part per core.
pub fn single_core(args: &[Bytes]) -> Option<(usize, usize)> {
    let (ci, spec) = commands::table().lookup(&args[0])?;
    match (spec.handler, route(spec, args)) {
        (Handler::Key(_), Route::One(core)) => Some((core, ci)),
        _ => None,
    }
}

/// A `single_core` command (table row `ci`) made into the job `run_batch`
/// would run for it (checked and counted as there), or the reply it gets
/// without running (-BUSY, -LOADING ...).
pub fn key_job(client: &ClientRef, args: Vec<Bytes>, ci: usize) -> Result<Job, Reply> {
    let found = Some((ci, &commands::table().specs[ci]));
    let (ci, spec) = check(client, &args, found)?;
    stats::with(|s| s.total_commands += 1);
    let Handler::Key(f) = spec.handler else {
        unreachable!("single_core commands are key commands")
    };
    let caller = Caller::of(client, ci, spec);
    Ok(Box::new(move || exec_key(f, caller, now_ms(), &args)))
}

/// Runs a key command on this core for a script (no client: no tracking,
/// writes reported as the server's).
pub fn run_key_here(f: commands::KeyFn, ci: usize, db: usize, args: &[Bytes]) -> Reply {
    let caller = Caller {
        ci,
        db,
        no_touch: false,
        id: 0,
        track: None,
        whole: false,
        seen: None,
    };
    exec_key(f, caller, now_ms(), args)
}

/// The limits the parser enforces for this client now.
pub fn limits(client: &ClientRef) -> crate::protocol::Limits {
    crate::protocol::Limits {
        max_bulk: config::num(Opt::ProtoMaxBulkLen),
        authenticated: client.borrow().authenticated,
    }
}
