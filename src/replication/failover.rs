//! FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | ABORT: a master hands
//! its role to one of its replicas, as Redis 6.2+ does.
//!
//! ```text
//!  FAILOVER ─► writes paused ─► wait-for-sync: a replica (the target, or
//!              any) acknowledged master_repl_offset ─► failover-in-progress:
//!              REPLICAOF target, PSYNC <id> <off> FAILOVER ─► the target
//!              promotes itself and answers +CONTINUE ─► writes resume (and
//!              get -READONLY: this server is its replica now)
//! ```
//!
//! While paused, client writes wait, no PING goes into the stream and keys
//! are not expired (they are hidden instead), so the offset stands still
//! and a replica can catch up with it exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{with, LinkState};
use crate::protocol::Reply;
use crate::runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitForSync,
    InProgress,
}

struct Failover {
    phase: Phase,
    target: Option<(String, u16)>,
    force: bool,
    end: Option<Instant>,
}

static STATE: Mutex<Option<Failover>> = Mutex::new(None);
/// Client writes wait while set (one load per write command).
static PAUSED: AtomicBool = AtomicBool::new(false);

#[inline]
pub fn writes_paused() -> bool {
    PAUSED.load(Ordering::Relaxed)
}

/// INFO's master_failover_state.
pub fn state_name() -> &'static str {
    match STATE.lock().unwrap().as_ref().map(|f| f.phase) {
        None => "no-failover",
        Some(Phase::WaitForSync) => "waiting-for-sync",
        Some(Phase::InProgress) => "failover-in-progress",
    }
}

/// A failover is running (PSYNC from replicas is refused meanwhile).
pub fn running() -> bool {
    STATE.lock().unwrap().is_some()
}

/// This server is connecting to its target: PSYNC carries FAILOVER.
pub fn in_progress() -> bool {
    STATE
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|f| f.phase == Phase::InProgress)
}

/// Pauses (or resumes) client writes; also for a cluster manual failover.
pub fn pause(on: bool) {
    PAUSED.store(on, Ordering::SeqCst);
    // Keys are not expired while paused (an expiry moves the offset).
    if !super::replica::is_replica() {
        crate::storage::db::set_keep_expired(on);
    }
}

/// Ends the failover and lets writes go (Redis's clearFailoverState).
fn clear() {
    *STATE.lock().unwrap() = None;
    pause(false);
}

/// Redis's abortFailover: a failover already handing over goes back to
/// being a master.
async fn abort(why: &str) {
    let Some(f) = STATE.lock().unwrap().take() else {
        return;
    };
    match &f.target {
        Some((h, p)) => tracing::info!("FAILOVER to {h}:{p} aborted: {why}"),
        None => tracing::info!("FAILOVER to any replica aborted: {why}"),
    }
    if f.phase == Phase::InProgress {
        super::replica::stop("failover").await;
    }
    pause(false);
}

/// The target's answer to PSYNC ... FAILOVER (the replica link calls it).
pub async fn psync_answered(accepted: bool) {
    if !in_progress() {
        return;
    }
    if accepted {
        clear();
    } else {
        abort("Failover target rejected psync request").await;
    }
}

fn parse_num(b: &Bytes) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The FAILOVER command.
pub async fn command(args: &[Bytes]) -> Reply {
    let is = |b: &Bytes, w: &str| b.eq_ignore_ascii_case(w.as_bytes());
    if crate::config::num(crate::config::Opt::ClusterEnabled) == 1 {
        return Reply::error(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        );
    }
    if args.len() == 2 && is(&args[1], "abort") {
        if !running() {
            return Reply::error("ERR No failover in progress.");
        }
        abort("Failover manually aborted").await;
        return Reply::Ok;
    }
    let (mut timeout, mut force, mut to) = (0i64, false, None);
    let mut j = 1;
    while j < args.len() {
        if is(&args[j], "timeout") && j + 1 < args.len() && timeout == 0 {
            let Some(t) = parse_num(&args[j + 1]) else {
                return Reply::error("ERR value is not an integer or out of range");
            };
            if t <= 0 {
                return Reply::error("ERR FAILOVER timeout must be greater than 0");
            }
            timeout = t;
            j += 2;
        } else if is(&args[j], "to") && j + 2 < args.len() && to.is_none() {
            let Some(p) = parse_num(&args[j + 2]) else {
                return Reply::error("ERR value is not an integer or out of range");
            };
            to = Some((String::from_utf8_lossy(&args[j + 1]).into_owned(), p));
            j += 3;
        } else if is(&args[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Reply::error("ERR syntax error");
        }
    }
    if running() {
        return Reply::error("ERR FAILOVER already in progress.");
    }
    if super::replica::is_replica() {
        return Reply::error("ERR FAILOVER is not valid when server is a replica.");
    }
    if with(|s| s.replicas.is_empty()) {
        return Reply::error("ERR FAILOVER requires connected replicas.");
    }
    if force && (timeout == 0 || to.is_none()) {
        return Reply::error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    let target = match to {
        Some((host, port)) => {
            let state = with(|s| {
                s.replicas
                    .iter()
                    .find(|r| r.ip.eq_ignore_ascii_case(&host) && r.port as i64 == port)
                    .map(|r| r.state)
            });
            match state {
                None => return Reply::error("ERR FAILOVER target HOST and PORT is not a replica."),
                Some(s) if s != LinkState::Online => {
                    return Reply::error("ERR FAILOVER target replica is not online.")
                }
                Some(_) => {}
            }
            tracing::info!("FAILOVER requested to {host}:{port}.");
            Some((host, port as u16))
        }
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
    };
    *STATE.lock().unwrap() = Some(Failover {
        phase: Phase::WaitForSync,
        target,
        force,
        end: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    pause(true);
    // The state machine runs on the control executor with the links.
    runtime::spawn(async {
        let job: runtime::Job = Box::new(|| {
            runtime::spawn(watch());
            Reply::Ok
        });
        runtime::run_on(runtime::control(), vec![job]).await;
    });
    Reply::Ok
}

/// Redis's updateFailoverStatus, every few milliseconds until the
/// handover starts or the failover ends.
async fn watch() {
    loop {
        runtime::sleep(Duration::from_millis(5)).await;
        let Some((target, force, end)) = STATE
            .lock()
            .unwrap()
            .as_ref()
            .filter(|f| f.phase == Phase::WaitForSync)
            .map(|f| (f.target.clone(), f.force, f.end))
        else {
            return;
        };
        if end.is_some_and(|e| Instant::now() >= e) {
            match target {
                Some((host, port)) if force => {
                    tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                    hand_over(host, port);
                }
                _ => abort("Replica never caught up before timeout").await,
            }
            return;
        }
        let offset = super::master_offset();
        let synced = with(|s| {
            s.replicas
                .iter()
                .filter(|r| match &target {
                    Some((h, p)) => r.ip.eq_ignore_ascii_case(h) && r.port == *p,
                    None => true,
                })
                .find(|r| r.ack_off == offset)
                .map(|r| (r.ip.clone(), r.port))
        });
        if let Some((host, port)) = synced {
            tracing::info!("Failover target {host}:{port} is synced, failing over.");
            hand_over(host, port);
            return;
        }
    }
}

/// Becomes a replica of the target; its PSYNC carries FAILOVER.
fn hand_over(host: String, port: u16) {
    if let Some(f) = STATE.lock().unwrap().as_mut() {
        f.phase = Phase::InProgress;
        f.target = Some((host.clone(), port));
    }
    super::replica::start(host, port, "failover", true);
}
