//! Sentinel's time parameters in ms: Redis's defaults, listed and changed
//! at run time by SENTINEL DEBUG (addReplySentinelDebugInfo and
//! sentinelSetDebugConfigParameters in sentinel.c). They are not saved in
//! the config file, as in Redis.

use std::sync::atomic::{AtomicI64, Ordering};

/// One parameter; the discriminant indexes `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    InfoPeriod,
    PingPeriod,
    AskPeriod,
    PublishPeriod,
    DefaultDownAfter,
    DefaultFailoverTimeout,
    TiltTrigger,
    TiltPeriod,
    SlaveReconfTimeout,
    MinLinkReconnectPeriod,
    ElectionTimeout,
    ScriptMaxRuntime,
    ScriptRetryDelay,
}

/// Name as SENTINEL DEBUG lists it, and Redis's default, in `T`'s order.
pub const ALL: [(&str, i64); 13] = [
    ("INFO-PERIOD", 10_000),
    ("PING-PERIOD", 1_000),
    ("ASK-PERIOD", 1_000),
    ("PUBLISH-PERIOD", 2_000),
    ("DEFAULT-DOWN-AFTER", 30_000),
    ("DEFAULT-FAILOVER-TIMEOUT", 180_000),
    ("TILT-TRIGGER", 2_000),
    ("TILT-PERIOD", 30_000),
    ("SLAVE-RECONF-TIMEOUT", 10_000),
    ("MIN-LINK-RECONNECT-PERIOD", 15_000),
    ("ELECTION-TIMEOUT", 10_000),
    ("SCRIPT-MAX-RUNTIME", 60_000),
    ("SCRIPT-RETRY-DELAY", 30_000),
];

/// Values set by SENTINEL DEBUG; 0 = the default.
static SET: [AtomicI64; 13] = [const { AtomicI64::new(0) }; 13];

fn value(i: usize) -> i64 {
    match SET[i].load(Ordering::Relaxed) {
        0 => ALL[i].1,
        v => v,
    }
}

pub fn get(t: T) -> i64 {
    value(t as usize)
}

/// Every parameter's name and current value, in Redis's order.
pub fn list() -> impl Iterator<Item = (&'static str, i64)> {
    ALL.iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, value(i)))
}

/// Whether `name` (any case) is a parameter.
pub fn known(name: &str) -> bool {
    ALL.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Sets `name` (a known parameter) to `v` (> 0).
pub fn set(name: &str, v: i64) {
    if let Some(i) = ALL.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
        SET[i].store(v, Ordering::Relaxed);
    }
}
