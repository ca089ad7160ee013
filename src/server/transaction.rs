//! MULTI / EXEC / DISCARD.
//!
//! MULTI makes the dispatcher queue the client's commands. EXEC runs the
//! queue one of three ways:
//! - every key (and WATCHed key) on the client's core: inline, no gate;
//! - every queued command a key command on one core: one part per core
//!   (its commands, after its WATCH check) run by `gate::atomically`, one
//!   visit per core; consecutive such EXECs without WATCH in one read run
//!   together as one atomic unit (`Group`, filled by the dispatcher);
//! - otherwise: take the gates of every core the queue and the watches need
//!   (all cores if one command is a whole-keyspace command or a script),
//!   check the watches there, and run the queue through the ordinary
//!   dispatcher *inside* the transaction (`gate::within`), so each command
//!   takes its usual path but passes the gates EXEC holds while every other
//!   client waits behind them.
//!
//! No client sees part of a transaction.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::dispatch;
use crate::cluster::route::{self, Seen};
use crate::commands::client::ReplyMode;
use crate::commands::multi::{self, Multi};
use crate::commands::{self, blocking, ClientRef, Handler, Merge};
use crate::protocol::Reply;
use crate::runtime::{self, gate, Txn};
use crate::storage::journal;

/// Runs a Dispatch-handled command (MULTI, EXEC, DISCARD).
pub async fn run(name: &str, client: &ClientRef) -> Reply {
    match name {
        "multi" => {
            let mut c = client.borrow_mut();
            if c.multi.is_some() {
                return Reply::error("ERR MULTI calls can not be nested");
            }
            c.multi = Some(Multi::default());
            Reply::Ok
        }
        "discard" => {
            if client.borrow_mut().multi.take().is_none() {
                return Reply::error("ERR DISCARD without MULTI");
            }
            multi::unwatch_all(client).await;
            Reply::Ok
        }
        _ => exec(client).await,
    }
}

/// Whether this client's commands are being queued now.
pub fn queueing(client: &ClientRef) -> bool {
    let c = client.borrow();
    c.multi.is_some() && !c.in_exec
}

/// Queues a command after MULTI; a command that cannot run in a
/// transaction fails the whole EXEC, as in Redis.
pub fn queue(client: &ClientRef, args: Vec<Bytes>, no_multi: bool) -> Reply {
    let mut c = client.borrow_mut();
    let m = c.multi.as_mut().expect("queueing");
    if no_multi {
        m.aborted = true;
        return Reply::error("ERR Command not allowed inside a transaction");
    }
    m.queued.push(args);
    Reply::status("QUEUED")
}

/// A command was refused before it ran (unknown, wrong arity, -OOM ...).
/// Inside MULTI that makes EXEC abort. A refused EXEC discards the
/// transaction (and the watches) at once, with the reason, as Redis 7.0's
/// execCommandAbort does, in or out of MULTI.
pub async fn refused(client: &ClientRef, exec: bool, e: Reply) -> Reply {
    if !exec {
        if let Some(m) = client.borrow_mut().multi.as_mut() {
            m.aborted = true;
        }
        return e;
    }
    client.borrow_mut().multi = None;
    multi::unwatch_all(client).await;
    let Reply::Error(text) = &e else { return e };
    // Redis formats its own texts without the ERR code; shared errors
    // (NOAUTH, OOM, BUSY ...) keep theirs.
    let why = text.strip_prefix("ERR ").unwrap_or(text);
    Reply::error(format!("EXECABORT Transaction discarded because of: {why}"))
}

/// A cluster redirection: a queued command makes EXEC abort; a redirected
/// EXEC discards the transaction and answers the redirection itself
/// (Redis's processCommand).
pub async fn redirected(client: &ClientRef, exec: bool, e: Reply) -> Reply {
    if !exec {
        return refused(client, false, e).await;
    }
    client.borrow_mut().multi = None;
    multi::unwatch_all(client).await;
    e
}

async fn exec(client: &ClientRef) -> Reply {
    let Some(m) = client.borrow_mut().multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    if m.aborted {
        multi::unwatch_all(client).await;
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let (id, watched) = {
        let c = client.borrow();
        (c.id, multi::by_core(&c.watched))
    };
    let me = runtime::me();
    let reply_mode = client.borrow().reply;
    if let Some(at) = one_hop_cores(reply_mode, &m.queued, &watched) {
        let reply = exec_parts(client, id, m, at, watched).await;
        multi::unwatch_all(client).await;
        return reply;
    }
    let cores = cores_needed(&m.queued, watched.iter().map(|w| w.0));
    let txn = if cores.iter().all(|&c| c == me) && cores.len() <= 1 {
        // Everything is on this core: the queue runs in this one task,
        // which no other work can interleave with between awaits because
        // every command of it runs inline (no hop, no wait).
        None
    } else {
        Some(Txn::begin(cores.iter().copied()).await)
    };
    let txn_id = txn.as_ref().map_or(0, Txn::id);
    // Cluster mode: the queue's slot may have moved since EXEC's routing
    // check; its core confirms it before anything runs.
    if let Some(seen) = m.seen {
        let queued = m.queued.clone();
        let confirm = move || route::confirm_queue(&seen, &queued);
        let confirmed = match &txn {
            Some(t) => t.call(seen.core(), confirm).await.and_then(|r| r),
            None => confirm(),
        };
        if let Err(e) = confirmed {
            if let Some(t) = txn {
                t.end().await;
            }
            multi::unwatch_all(client).await;
            return e;
        }
    }
    let mut changed = false;
    for (core, keys) in watched {
        let job = move || multi::changed_here(id, &keys);
        changed |= match &txn {
            Some(t) => t.call(core, job).await.unwrap_or(true),
            None => job(),
        };
    }
    let reply = if changed {
        Reply::NilArray
    } else {
        client.borrow_mut().in_exec = true;
        // Boxed: EXEC is itself run by run_batch.
        let queued: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            Box::pin(dispatch::run_batch(client, m.queued));
        // On one core the queue runs with nothing in between: its writes
        // become one MULTI/EXEC here (a transaction's block does that).
        let mark = txn.is_none().then(journal::begin_atomic).flatten();
        // Blocked clients are served after the whole EXEC, outside its
        // MULTI/EXEC (a transaction does that as its gates open).
        let hold = txn.is_none().then(blocking::Hold::new);
        let outs = gate::within(txn_id, queued).await;
        journal::end_atomic(mark);
        drop(hold);
        client.borrow_mut().in_exec = false;
        Reply::Array(outs.into_iter().map(|o| o.reply).collect())
    };
    if let Some(t) = txn {
        t.end().await;
    }
    multi::unwatch_all(client).await;
    reply
}

/// Where each queued command runs, and its table row, when the queue can
/// go as one part per core (`gate::atomically`): every command is a key
/// command on one core, the client's replies are on (CLIENT REPLY is per
/// command), and some command or watch is on another core (else the queue
/// runs inline).
fn one_hop_cores(
    reply: ReplyMode,
    queued: &[Vec<Bytes>],
    watched: &[(usize, Vec<(usize, Bytes)>)],
) -> Option<Vec<(usize, usize)>> {
    if reply != ReplyMode::On {
        return None;
    }
    let at: Vec<(usize, usize)> = queued
        .iter()
        .map(|a| dispatch::single_core(a))
        .collect::<Option<_>>()?;
    let me = runtime::me();
    let remote = at
        .iter()
        .map(|a| a.0)
        .chain(watched.iter().map(|w| w.0))
        .any(|c| c != me);
    remote.then_some(at)
}

/// EXEC of a queue whose commands each run on one core: one part per core
/// (that core's commands in queue order, after its WATCH check), run by
/// `gate::atomically` in one visit per core. A part's check also drops
/// the watches on its core, so a successful EXEC has none left to drop.
async fn exec_parts(
    client: &ClientRef,
    id: u64,
    m: Multi,
    at: Vec<(usize, usize)>,
    watched: Vec<(usize, Vec<(usize, Bytes)>)>,
) -> Reply {
    let mut group = Group::default();
    group.add(client, 0, m, at);
    for (core, keys) in watched {
        QueuePart::of(&mut group.parts, core).watched = keys;
    }
    let Some(mut done) = group.run(id).await else {
        return Reply::NilArray;
    };
    client.borrow_mut().watched.clear();
    done.pop().map_or(Reply::Nil, |r| r.1)
}

/// Consecutive EXECs of one pipelined read, without WATCH, whose commands
/// each run on one core, and multi-key commands split over cores (MSET,
/// MGET, DEL ...): run together as one atomic unit (one visit per core for
/// all of them). Running several transactions back to back as one
/// indivisible step keeps each atomic and in order; what they give up is
/// only the chance for other clients to run between them. Without WATCH
/// the unit goes through `gate::together`, which also joins the units of
/// other connections on this core that arrive meanwhile.
#[derive(Default)]
pub struct Group {
    parts: Vec<QueuePart>,
    members: Vec<Member>,
}

/// An EXEC or a split command in a group.
struct Member {
    /// Its reply slot in the read.
    slot: usize,
    /// Its queue's replies (EXEC) or its parts' replies (split) so far.
    replies: Vec<Reply>,
    /// A split command: how the parts' replies merge, and each part's
    /// keys' positions in the command.
    split: Option<(Merge, Vec<Vec<usize>>)>,
    /// Cluster mode: the redirection an EXEC got on its core instead.
    refused: Option<Arc<OnceLock<Reply>>>,
}

impl Member {
    fn reply(self) -> (usize, Reply) {
        if let Some(r) = self.refused.as_ref().and_then(|r| r.get()) {
            return (self.slot, r.clone());
        }
        let reply = match self.split {
            None => Reply::Array(self.replies),
            Some((merge, positions)) => dispatch::merge_parts(merge, self.replies, positions),
        };
        (self.slot, reply)
    }
}

impl Group {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Adds the EXEC in reply slot `slot`, with its queue's commands and
    /// the core and table row of each.
    fn add(&mut self, client: &ClientRef, slot: usize, m: Multi, at: Vec<(usize, usize)>) {
        let n = self.members.len();
        let mut replies = vec![Reply::Nil; m.queued.len()];
        let refused = m.seen.map(|_| Arc::new(OnceLock::new()));
        let mut first = m.seen.map(|seen| (seen, m.queued.clone()));
        for (i, (args, (core, ci))) in m.queued.into_iter().zip(at).enumerate() {
            match dispatch::key_job(client, args, ci) {
                Ok(job) => {
                    let job = match &refused {
                        Some(r) => confirmed(job, first.take(), r.clone()),
                        None => job,
                    };
                    let p = QueuePart::of(&mut self.parts, core);
                    p.jobs.push(job);
                    p.positions.push((n, i));
                }
                Err(e) => replies[i] = e,
            }
        }
        self.members.push(Member {
            slot,
            replies,
            split: None,
            refused,
        });
    }

    /// Adds a multi-key command split over cores (reply slot `slot`): per
    /// core, the job running the command over that core's keys and those
    /// keys' positions in the command.
    pub fn add_split(
        &mut self,
        slot: usize,
        merge: Merge,
        parts: Vec<(usize, runtime::Job, Vec<usize>)>,
    ) {
        let n = self.members.len();
        let mut positions = Vec::with_capacity(parts.len());
        for (i, (core, job, pos)) in parts.into_iter().enumerate() {
            let p = QueuePart::of(&mut self.parts, core);
            p.jobs.push(job);
            p.positions.push((n, i));
            positions.push(pos);
        }
        self.members.push(Member {
            slot,
            replies: vec![Reply::Nil; positions.len()],
            split: Some((merge, positions)),
            refused: None,
        });
    }

    /// Runs the group (watch checks by `client` id, if any part has
    /// watched keys); each member's slot and reply, or None if a check failed.
    async fn run(self, id: u64) -> Option<Vec<(usize, Reply)>> {
        let Group { parts, mut members } = self;
        let watched = parts.iter().any(|p| !p.watched.is_empty());
        let mut positions = Vec::new();
        let work: Vec<gate::Part> = parts
            .into_iter()
            .map(|p| {
                positions.push(p.positions);
                let keys = p.watched;
                let jobs = p.jobs;
                gate::Part {
                    core: p.core,
                    check: (!keys.is_empty()).then(|| {
                        Box::new(move || {
                            let changed = multi::changed_here(id, &keys);
                            multi::unwatch_here(id, &keys);
                            !changed
                        }) as gate::Check
                    }),
                    job: Box::new(move || Reply::Array(jobs.into_iter().map(|j| j()).collect())),
                }
            })
            .collect();
        if !work.is_empty() {
            let done = if watched {
                gate::atomically(work).await?
            } else {
                gate::together(work.into_iter().map(|p| (p.core, p.job)).collect()).await
            };
            for (r, pos) in done.into_iter().zip(positions) {
                let rs = match r {
                    Reply::Array(rs) => rs,
                    // The core could not be reached (shutdown).
                    e => vec![e; pos.len()],
                };
                for (r, (n, i)) in rs.into_iter().zip(pos) {
                    members[n].replies[i] = r;
                }
            }
        }
        Some(members.into_iter().map(Member::reply).collect())
    }

    /// Runs the group and files each member's reply in `outs`.
    pub async fn flush(&mut self, outs: &mut [dispatch::Out]) {
        if self.is_empty() {
            return;
        }
        let group = std::mem::take(self);
        for (slot, reply) in group.run(0).await.expect("no watches in a group") {
            outs[slot].reply = reply;
        }
    }
}

/// Cluster mode: one job of an EXEC's queue, which does not run if the
/// queue was refused on its core. The first job (`first`: what EXEC's
/// routing check saw, and the queue) confirms it there first; if the slot
/// moved meanwhile, the EXEC answers the redirection instead.
fn confirmed(
    job: runtime::Job,
    first: Option<(Seen, Vec<Vec<Bytes>>)>,
    refused: Arc<OnceLock<Reply>>,
) -> runtime::Job {
    Box::new(move || {
        if let Some((seen, queued)) = first {
            if let Err(e) = route::confirm_queue(&seen, &queued) {
                let _ = refused.set(e);
            }
        }
        if refused.get().is_some() {
            return Reply::Nil;
        }
        job()
    })
}

/// Joins this EXEC (reply slot `slot`) to the read's group when it can
/// go there: queued commands each on one core, some on another core, no
/// WATCH, not aborted. False: the caller runs EXEC the ordinary way.
pub fn join_group(client: &ClientRef, group: &mut Group, slot: usize) -> bool {
    let at = {
        let c = client.borrow();
        match c.multi.as_ref() {
            Some(m) if !m.aborted && c.watched.is_empty() => one_hop_cores(c.reply, &m.queued, &[]),
            _ => None,
        }
    };
    let Some(at) = at else {
        return false;
    };
    let m = client.borrow_mut().multi.take().expect("in MULTI");
    group.add(client, slot, m, at);
    true
}

/// One core's share of an EXEC queue (or of a group of them).
struct QueuePart {
    core: usize,
    jobs: Vec<runtime::Job>,
    /// Each job's EXEC in the group and position in its queue.
    positions: Vec<(usize, usize)>,
    /// The client's watched keys on this core.
    watched: Vec<(usize, Bytes)>,
}

impl QueuePart {
    fn of(parts: &mut Vec<QueuePart>, core: usize) -> &mut QueuePart {
        let i = match parts.iter().position(|p| p.core == core) {
            Some(i) => i,
            None => {
                parts.push(QueuePart {
                    core,
                    jobs: Vec::new(),
                    positions: Vec::new(),
                    watched: Vec::new(),
                });
                parts.len() - 1
            }
        };
        &mut parts[i]
    }
}

/// The cores a queue of commands touches: its keys' owners and the
/// watched keys' cores; every core if a command works on the whole
/// keyspace or on keys it does not name (Coord commands).
fn cores_needed(queued: &[Vec<Bytes>], watch_cores: impl Iterator<Item = usize>) -> Vec<usize> {
    let table = commands::table();
    let mut cores: BTreeSet<usize> = watch_cores.collect();
    for args in queued {
        let Some((_, spec)) = table.lookup(&args[0]) else {
            continue;
        };
        match spec.handler {
            Handler::Key(_) => {
                for i in spec.key_indices(args.len()) {
                    cores.insert(crate::cluster::route::core(&args[i]));
                }
            }
            Handler::Conn(_) => {}
            // Whole-keyspace commands, and scripts (which may touch keys
            // they do not declare), need every core.
            Handler::Coord(_) | Handler::Dispatch => return (0..runtime::shards()).collect(),
        }
    }
    cores.into_iter().collect()
}
