//! The script queue, as sentinel.c's (sentinelScheduleScriptExecution,
//! sentinelRunPendingScripts, sentinelCollectTerminatedScripts,
//! sentinelKillTimedoutScripts): notification and client-reconfig scripts
//! wait in a queue of at most 256 jobs and at most 16 run at once. Exit
//! code 1 or a signal means "retry" (10 runs at most, the delay doubling
//! from SCRIPT-RETRY-DELAY); 0 is done, 2 and up is a final error. A run
//! longer than SCRIPT-MAX-RUNTIME is killed (and so retried). The
//! sentinel timer drives it on the control executor.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;

use super::timing::{get, T};
use super::{event, now, Level};
use crate::protocol::Reply;

const MAX_QUEUE: usize = 256;
const MAX_RUNNING: usize = 16;
const MAX_RETRY: u32 = 10;

struct Job {
    /// The script's path, then its arguments.
    argv: Vec<String>,
    /// Set while it runs.
    child: Option<Child>,
    /// When the run started, or (waiting for a retry) when it may start.
    start_time: i64,
    retry_num: u32,
}

thread_local! {
    static QUEUE: RefCell<VecDeque<Job>> = const { RefCell::new(VecDeque::new()) };
}

/// Queues `path args...`; when the queue is full the oldest job that is
/// not running is dropped.
pub fn schedule(path: String, args: Vec<String>) {
    let mut argv = vec![path];
    argv.extend(args);
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        q.push_back(Job {
            argv,
            child: None,
            start_time: 0,
            retry_num: 0,
        });
        if q.len() > MAX_QUEUE {
            if let Some(i) = q.iter().position(|j| j.child.is_none()) {
                q.remove(i);
            }
        }
    });
}

/// Scripts running now (INFO's sentinel_running_scripts).
pub fn running() -> usize {
    QUEUE.with(|q| q.borrow().iter().filter(|j| j.child.is_some()).count())
}

/// Jobs in the queue, running or not (sentinel_scripts_queue_length).
pub fn queued() -> usize {
    QUEUE.with(|q| q.borrow().len())
}

/// One timer tick: start what may start, collect what ended, kill what
/// ran too long. Events are sent once the queue is released.
pub fn tick() {
    let mut events: Vec<(Level, &str, String)> = Vec::new();
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        run_pending(&mut q, &mut events);
        collect(&mut q, &mut events);
        kill_timed_out(&mut q, &mut events);
    });
    for (level, kind, msg) in events {
        event(level, kind, None, &msg, "");
    }
}

type Events = Vec<(Level, &'static str, String)>;

fn run_pending(q: &mut VecDeque<Job>, events: &mut Events) {
    let t = now();
    let mut running = q.iter().filter(|j| j.child.is_some()).count();
    let mut failed = Vec::new();
    for (i, j) in q.iter_mut().enumerate() {
        if running >= MAX_RUNNING {
            break;
        }
        if j.child.is_some() || (j.start_time != 0 && j.start_time > t) {
            continue;
        }
        j.start_time = t;
        j.retry_num += 1;
        match std::process::Command::new(&j.argv[0])
            .args(&j.argv[1..])
            .spawn()
        {
            Ok(c) => {
                events.push((Level::Debug, "+script-child", c.id().to_string()));
                j.child = Some(c);
                running += 1;
            }
            // Redis's child exits with 2 when exec fails: no retry.
            Err(_) => {
                events.push((
                    Level::Warning,
                    "-script-error",
                    format!("{} 0 2", j.argv[0]),
                ));
                failed.push(i);
            }
        }
    }
    for i in failed.into_iter().rev() {
        q.remove(i);
    }
}

/// Redis's sentinelScriptRetryDelay: the delay doubles with each retry.
fn retry_delay(retry_num: u32) -> i64 {
    get(T::ScriptRetryDelay) << retry_num.saturating_sub(1).min(20)
}

fn collect(q: &mut VecDeque<Job>, events: &mut Events) {
    let mut done = Vec::new();
    for (i, j) in q.iter_mut().enumerate() {
        let Some(c) = j.child.as_mut() else {
            continue;
        };
        let Ok(Some(status)) = c.try_wait() else {
            continue;
        };
        let code = status.code().unwrap_or(0);
        let signal = status.signal().unwrap_or(0);
        events.push((
            Level::Debug,
            "-script-child",
            format!("{} {code} {signal}", c.id()),
        ));
        j.child = None;
        if (signal != 0 || code == 1) && j.retry_num != MAX_RETRY {
            j.start_time = now() + retry_delay(j.retry_num);
            continue;
        }
        if signal != 0 || code != 0 {
            events.push((
                Level::Warning,
                "-script-error",
                format!("{} {signal} {code}", j.argv[0]),
            ));
        }
        done.push(i);
    }
    for i in done.into_iter().rev() {
        q.remove(i);
    }
}

fn kill_timed_out(q: &mut VecDeque<Job>, events: &mut Events) {
    let t = now();
    for j in q.iter_mut() {
        if let Some(c) = j.child.as_mut() {
            if t - j.start_time > get(T::ScriptMaxRuntime) {
                events.push((
                    Level::Warning,
                    "-script-timeout",
                    format!("{} {}", j.argv[0], c.id()),
                ));
                let _ = c.kill();
            }
        }
    }
}

/// SENTINEL PENDING-SCRIPTS: each job's argv, state, pid, run time (or
/// delay before its next run) and runs so far, every number a bulk string.
pub fn pending() -> Reply {
    let t = now();
    QUEUE.with(|q| {
        Reply::Array(
            q.borrow()
                .iter()
                .map(|j| {
                    let bulk = |n: i64| Reply::bulk(n.to_string());
                    let (state, pid, timing) = match &j.child {
                        Some(c) => ("running", c.id() as i64, ("run-time", t - j.start_time)),
                        None => {
                            let delay = if j.start_time != 0 {
                                (j.start_time - t).max(0)
                            } else {
                                0
                            };
                            ("scheduled", 0, ("run-delay", delay))
                        }
                    };
                    Reply::Map(vec![
                        (
                            Reply::bulk("argv"),
                            Reply::Array(j.argv.iter().map(Reply::bulk).collect()),
                        ),
                        (Reply::bulk("flags"), Reply::bulk(state)),
                        (Reply::bulk("pid"), bulk(pid)),
                        (Reply::bulk(timing.0), bulk(timing.1)),
                        (Reply::bulk("retry-num"), bulk(j.retry_num as i64)),
                    ])
                })
                .collect(),
        )
    })
}
