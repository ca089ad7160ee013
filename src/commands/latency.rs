//! LATENCY LATEST / HISTORY / RESET / HELP: Redis's latency monitor for
//! the events Redwing measures — `command` and `fast-command` (a command
//! that ran at least `latency-monitor-threshold` ms; 0 turns it off).
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
            b"latest" => match sub_arity("latency", "latest", 2, n) {
                Some(e) => e,
                None => latest().await,
            },
            b"history" => match sub_arity("latency", "history", 3, n) {
                Some(e) => e,
                None => history(&args[2]).await,
            },
            b"reset" => reset(args[2..].to_vec()).await,
            b"help" => sub_arity("latency", "help", 2, n).unwrap_or_else(|| help(LATENCY_HELP)),
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
