//! LATENCY: Redis's latency monitor for the events Redwing measures —
//! `command` and `fast-command` (a command that ran at least
//! `latency-monitor-threshold` ms; 0 turns it off) — with LATEST, HISTORY,
//! RESET, GRAPH (Redis's ASCII sparkline) and DOCTOR (Redis's report and
//! advice), and HISTOGRAM over the per-command histograms (histogram.rs).
//!
//! Each core keeps, per event, the last 160 one-second samples of the
//! commands it ran (the highest latency of each second, as Redis keeps
//! them); the subcommands merge the cores' samples.

use std::cell::RefCell;
use std::collections::BTreeMap;

use bytes::Bytes;

use super::server::{help, sub_arity};
use super::{flags, ClientRef, Spec};
use crate::config::{self, Opt};
use crate::protocol::errors;
use crate::protocol::Reply;
use crate::runtime;

type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>>;

/// Redis's LATENCY_TS_LEN: samples kept per event.
const SAMPLES: usize = 160;

/// One event's samples on one core: (unix seconds, ms), oldest first, and
/// the highest latency seen.
#[derive(Clone, Default)]
struct Series {
    samples: Vec<(i64, u64)>,
    max: u64,
}

thread_local! {
    static EVENTS: RefCell<BTreeMap<&'static str, Series>> = const { RefCell::new(BTreeMap::new()) };
}

/// Records a command that ran `micros` if the monitor is on and it reached
/// the threshold: one relaxed load when the monitor is off.
#[inline]
pub fn check(micros: u64, spec: &Spec) {
    let threshold = config::num(Opt::LatencyMonitorThreshold);
    if threshold > 0 && (micros / 1000) as i64 >= threshold {
        let event = if spec.flags & flags::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        add(event, micros / 1000);
    }
}

#[cold]
fn add(event: &'static str, ms: u64) {
    let now = crate::storage::now_ms() / 1000;
    EVENTS.with(|e| {
        let mut e = e.borrow_mut();
        let s = e.entry(event).or_default();
        s.max = s.max.max(ms);
        match s.samples.last_mut() {
            Some(last) if last.0 == now => last.1 = last.1.max(ms),
            _ => {
                s.samples.push((now, ms));
                if s.samples.len() > SAMPLES {
                    s.samples.remove(0);
                }
            }
        }
    });
}

/// Every core's series, merged per event.
async fn merged() -> BTreeMap<&'static str, Series> {
    let per_core =
        runtime::gather(0..runtime::shards(), || EVENTS.with(|e| e.borrow().clone())).await;
    let mut all: BTreeMap<&'static str, Series> = BTreeMap::new();
    for events in per_core {
        for (name, s) in events {
            let m = all.entry(name).or_default();
            m.max = m.max.max(s.max);
            m.samples.extend(s.samples);
        }
    }
    for s in all.values_mut() {
        s.samples.sort_unstable();
        // One sample per second: the highest.
        let mut one: Vec<(i64, u64)> = Vec::with_capacity(s.samples.len());
        for (t, ms) in s.samples.drain(..) {
            match one.last_mut() {
                Some(last) if last.0 == t => last.1 = last.1.max(ms),
                _ => one.push((t, ms)),
            }
        }
        let skip = one.len().saturating_sub(SAMPLES);
        s.samples = one.split_off(skip);
    }
    all
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

pub fn latency(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let n = args.len();
        let sub = args[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"latest" => match sub_arity("latency", "latest", n) {
                Some(e) => e,
                None => latest().await,
            },
            b"history" => match sub_arity("latency", "history", n) {
                Some(e) => e,
                None => history(&args[2]).await,
            },
            b"reset" => reset(args[2..].to_vec()).await,
            b"graph" => match sub_arity("latency", "graph", n) {
                Some(e) => e,
                None => graph(&args[2]).await,
            },
            b"doctor" => match sub_arity("latency", "doctor", n) {
                Some(e) => e,
                None => Reply::Verbatim(Bytes::from(doctor().await)),
            },
            b"histogram" => {
                let merged = super::histogram::merged().await;
                super::histogram::histogram_reply(&merged, &args[2..])
            }
            b"help" => sub_arity("latency", "help", n).unwrap_or_else(|| help(LATENCY_HELP)),
            _ => errors::unknown_subcommand("latency", &args[1]),
        }
    })
}

/// Per event: name, time of the latest sample, its latency, the highest.
async fn latest() -> Reply {
    let all = merged().await;
    Reply::Array(
        all.into_iter()
            .filter_map(|(name, s)| {
                let (t, ms) = *s.samples.last()?;
                Some(Reply::Array(vec![
                    Reply::bulk(name),
                    Reply::Int(t),
                    Reply::Int(ms as i64),
                    Reply::Int(s.max as i64),
                ]))
            })
            .collect(),
    )
}

async fn history(event: &[u8]) -> Reply {
    let all = merged().await;
    let samples = all
        .iter()
        .find(|(name, _)| name.as_bytes() == event)
        .map(|(_, s)| s.samples.clone())
        .unwrap_or_default();
    Reply::Array(
        samples
            .into_iter()
            .map(|(t, ms)| Reply::Array(vec![Reply::Int(t), Reply::Int(ms as i64)]))
            .collect(),
    )
}

/// Redis's LATENCY_GRAPH_COLS.
const GRAPH_COLS: usize = 80;

/// GRAPH <event>: the title line, a rule, and the samples as a sparkline
/// four rows high with each sample's age below it.
async fn graph(event: &[u8]) -> Reply {
    let all = merged().await;
    let Some((name, s)) = all.iter().find(|(name, _)| name.as_bytes() == event) else {
        return Reply::error(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(event)
        ));
    };
    let now = crate::storage::now_ms() / 1000;
    let points: Vec<(f64, String)> = s
        .samples
        .iter()
        .map(|&(t, ms)| (ms as f64, age(now - t)))
        .collect();
    let high = s.samples.iter().map(|x| x.1).max().unwrap_or(0);
    let low = s.samples.iter().map(|x| x.1).min().unwrap_or(0);
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        s.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    sparkline(&mut out, &points, GRAPH_COLS, 4);
    Reply::Verbatim(Bytes::from(out))
}

/// `12s`, `3m`, `5h`, `2d`: how long ago a sample was taken.
fn age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Redis's sparkline with SPARKLINE_FILL: `rows` rows of `_o#` steps (and
/// `|` below the top), then a blank line and each label written down its
/// column; `cols` samples per block, blocks separated by a blank line.
fn sparkline(out: &mut String, points: &[(f64, String)], cols: usize, rows: usize) {
    let min = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    for (i, block) in points.chunks(cols).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        sparkline_block(out, block, min, max, rows);
    }
}

fn sparkline_block(out: &mut String, block: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: &[u8] = b"_o#";
    let steps = (FILL.len() * rows) as i64;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let mut row = 0;
    loop {
        let mut line = vec![b' '; block.len()];
        let mut more = false;
        for (j, (value, label)) in block.iter().enumerate() {
            if row < rows {
                // As Redis: the product truncated, then divided.
                let step = ((((value - min) * steps as f64) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                let idx = step - ((rows - row - 1) * FILL.len()) as i64;
                more = true;
                if (0..FILL.len() as i64).contains(&idx) {
                    line[j] = FILL[idx as usize];
                } else if idx >= FILL.len() as i64 {
                    line[j] = b'|';
                }
            } else if row == rows {
                // One empty line between the graph and the labels.
                more = true;
                break;
            } else if let Some(&c) = label.as_bytes().get(row - rows - 1) {
                more = true;
                line[j] = c;
            }
        }
        if !more {
            return;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&line));
        out.push('\n');
    }
}

/// One event's figures as Redis's analyzeLatencyForEvent computes them:
/// samples, average and mean deviation (ms), seconds per sample.
fn analyze(s: &Series, now: i64) -> (usize, u64, u64, f64) {
    let n = s.samples.len();
    if n == 0 {
        return (0, 0, 0, 0.0);
    }
    let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / n as u64;
    let oldest = s.samples.iter().map(|x| x.0).min().unwrap_or(now);
    let period = (now - oldest).max(1);
    let mad = s.samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n as u64;
    (n, avg, mad, period as f64 / n as f64)
}

/// Redis's transparent huge pages check: AnonHugePages in this process.
fn uses_huge_pages() -> bool {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .any(|kb| kb > 0)
}

/// DOCTOR: Redis's report — one line per event, then the advice that the
/// events Redwing records (command, fast-command) and the process call for.
async fn doctor() -> String {
    let all = merged().await;
    let threshold = config::num(Opt::LatencyMonitorThreshold);
    if all.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let now = crate::storage::now_ms() / 1000;
    let slower_than = config::num(Opt::SlowlogLogSlowerThan);
    let mut out = String::new();
    let (mut slowlog_enable, mut slowlog_tune, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut large_objects) = (false, false);
    let mut advices = 0;
    for (i, (name, s)) in all.iter().enumerate() {
        if i == 0 {
            out.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let (n, avg, mad, period) = analyze(s, now);
        out.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            s.max
        ));
        match *name {
            "command" => {
                if slower_than < 0 {
                    slowlog_enable = true;
                    advices += 1;
                } else if slower_than / 1000 > threshold {
                    slowlog_tune = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                scheduler = true;
                advices += 1;
            }
            _ => {}
        }
    }
    let thp = uses_huge_pages();
    if thp {
        advices += 1;
    }
    if all.is_empty() && advices == 0 {
        out.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return out;
    }
    if advices == 0 {
        out.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return out;
    }
    out.push_str("\nI have a few advices for you:\n\n");
    if slowlog_enable {
        out.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold * 1000));
    }
    if slowlog_tune {
        out.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000));
    }
    if slowlog_inspect {
        out.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if scheduler {
        out.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if large_objects {
        out.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if thp {
        out.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
    out
}

/// RESET [event ...]: how many of the named events (all when none is
/// named) had samples.
async fn reset(events: Vec<Bytes>) -> Reply {
    let found = runtime::gather(0..runtime::shards(), move || {
        EVENTS.with(|e| {
            let mut e = e.borrow_mut();
            let names: Vec<&'static str> = e
                .keys()
                .copied()
                .filter(|n| events.is_empty() || events.iter().any(|a| a == n.as_bytes()))
                .collect();
            for n in &names {
                e.remove(n);
            }
            names
        })
    })
    .await;
    let mut names: Vec<&'static str> = found.into_iter().flatten().collect();
    names.sort_unstable();
    names.dedup();
    Reply::Int(names.len() as i64)
}

pub fn register(t: &mut Vec<Spec>) {
    use flags::*;
    t.push(super::spec(
        "latency",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        super::Handler::Coord(latency),
        super::Cross::Never,
        "server",
        "A container for latency diagnostics commands.",
        "2.8.13",
    ));
}
