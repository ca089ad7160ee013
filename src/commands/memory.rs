//! MEMORY: USAGE of one key (on the core that owns it), and the server-wide
//! reports STATS and DOCTOR built from the same figures as INFO memory.

use bytes::Bytes;

use super::server::{help, sub_arity};
use super::{is, with_ctx, ClientRef};
use crate::memory::{peak, rss, startup, used};
use crate::protocol::errors::{self, err};
use crate::protocol::parse_i64;
use crate::protocol::Reply;
use crate::runtime;
use crate::storage::shard;

type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>>;

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

pub fn memory(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let n = args.len();
        let sub = args[1].to_ascii_lowercase();
        let fixed = |name: &str| sub_arity("memory", name, n);
        match sub.as_slice() {
            b"usage" => usage(&c, &args).await,
            b"stats" => match fixed("stats") {
                Some(e) => e,
                None => stats(&Figures::now().await),
            },
            b"doctor" => match fixed("doctor") {
                Some(e) => e,
                None => Reply::Verbatim(doctor(&Figures::now().await).into()),
            },
            b"malloc-stats" => fixed("malloc-stats")
                .unwrap_or_else(|| Reply::Verbatim(crate::memory::malloc_stats().into())),
            b"purge" => fixed("purge").unwrap_or_else(|| {
                crate::memory::purge();
                Reply::Ok
            }),
            b"help" => fixed("help").unwrap_or_else(|| help(MEMORY_HELP)),
            _ => errors::unknown_subcommand("memory", &args[1]),
        }
    })
}

/// MEMORY USAGE key [SAMPLES count]: the key's cost, measured on its core
/// (every element is counted, so SAMPLES only has to be valid).
async fn usage(c: &ClientRef, args: &[Bytes]) -> Reply {
    if let Some(e) = sub_arity("memory", "usage", args.len()) {
        return e;
    }
    let mut opts = args[3..].chunks(2);
    for o in opts.by_ref() {
        match o {
            [name, count] if is(name, "samples") => match parse_i64(count) {
                Some(v) if v >= 0 => {}
                Some(_) => return err(errors::SYNTAX),
                None => return err(errors::NOT_INTEGER),
            },
            _ => return err(errors::SYNTAX),
        }
    }
    let db = c.borrow().db;
    let key = args[2].clone();
    let core = crate::cluster::route::core(&key);
    let bytes = runtime::call_on(core, move || {
        with_ctx(db, |ctx| {
            ctx.no_touch = true;
            ctx.lookup_read_nonotify(&key).map(|e| e.mem_usage(&key))
        })
    })
    .await
    .flatten();
    bytes.map_or(Reply::Nil, |b| Reply::Int(b as i64))
}

/// One reading of everything INFO memory, STATS and DOCTOR report.
pub(crate) struct Figures {
    pub used: usize,
    pub peak: usize,
    pub startup: usize,
    pub rss: usize,
    pub alloc: crate::memory::AllocatorStats,
    /// The replication stream held for the backlog and replicas.
    pub backlog: usize,
    /// Clients' query and output buffers.
    pub clients: usize,
    /// (db, keys, volatile keys, table bytes) of each non-empty database.
    dbs: Vec<(usize, usize, usize, usize)>,
}

/// What a key costs the table itself: its pointer and control byte.
const TABLE_BYTES_PER_KEY: usize = 9;
/// What a volatile key adds to the expiry bookkeeping (its deadline).
const EXPIRE_BYTES_PER_KEY: usize = 8;

impl Figures {
    async fn now() -> Figures {
        let parts = runtime::gather(0..runtime::shards(), || {
            shard::with(|s| {
                s.dbs
                    .iter()
                    .map(|d| (d.len(), d.volatile()))
                    .collect::<Vec<_>>()
            })
        })
        .await;
        let ndbs = parts.first().map_or(0, Vec::len);
        let dbs: Vec<(usize, usize)> = (0..ndbs)
            .map(|db| {
                let keys = parts.iter().map(|p| p[db].0).sum();
                let volatile = parts.iter().map(|p| p[db].1).sum();
                (keys, volatile)
            })
            .collect();
        Figures::of(&dbs)
    }

    /// The figures now, given (keys, volatile keys) per database, summed
    /// over the cores.
    pub(crate) fn of(dbs: &[(usize, usize)]) -> Figures {
        let dbs: Vec<_> = dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.0 > 0)
            .map(|(db, &(keys, volatile))| (db, keys, volatile, keys * TABLE_BYTES_PER_KEY))
            .collect();
        let used = used();
        let keys = dbs.iter().map(|d| d.1).sum();
        Figures {
            used,
            peak: peak().max(used),
            startup: startup(used, keys),
            rss: rss(),
            alloc: crate::memory::allocator_stats(),
            backlog: crate::replication::with(|s| s.backlog_extent().1.max(0) as usize),
            clients: super::client_evict::total() as usize,
            dbs,
        }
    }

    fn keys(&self) -> usize {
        self.dbs.iter().map(|d| d.1).sum()
    }

    /// Everything but the data: Redis's used_memory_overhead.
    pub(crate) fn overhead(&self) -> usize {
        let tables: usize = self
            .dbs
            .iter()
            .map(|d| d.3 + d.2 * EXPIRE_BYTES_PER_KEY)
            .sum();
        self.startup + self.backlog + self.clients + tables
    }

    /// The keys and values: Redis's used_memory_dataset.
    pub(crate) fn dataset(&self) -> usize {
        self.used.saturating_sub(self.overhead())
    }
}

/// MEMORY STATS, with Redis 7.0's field names and order.
fn stats(f: &Figures) -> Reply {
    let int = |v: usize| Reply::Int(v as i64);
    let ratio = |a: usize, b: usize| Reply::Double(a as f64 / b.max(1) as f64);
    let net = f.used.saturating_sub(f.startup).max(1);
    let dataset = f.dataset();
    let mut m = vec![
        ("peak.allocated", int(f.peak)),
        ("total.allocated", int(f.used)),
        ("startup.allocated", int(f.startup)),
        ("replication.backlog", int(f.backlog)),
        ("clients.slaves", int(0)),
        ("clients.normal", int(f.clients)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(0)),
        ("lua.caches", int(0)),
        ("functions.caches", int(0)),
    ];
    let mut out: Vec<(Reply, Reply)> = m.drain(..).map(|(k, v)| (Reply::bulk(k), v)).collect();
    for &(db, _, volatile, table) in &f.dbs {
        out.push((
            Reply::bulk(format!("db.{db}")),
            Reply::Map(vec![
                (Reply::bulk("overhead.hashtable.main"), int(table)),
                (
                    Reply::bulk("overhead.hashtable.expires"),
                    int(volatile * EXPIRE_BYTES_PER_KEY),
                ),
                (Reply::bulk("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    let keys = f.keys();
    let rest = [
        ("overhead.total", int(f.overhead())),
        ("keys.count", int(keys)),
        (
            "keys.bytes-per-key",
            int(net.checked_div(keys).unwrap_or(0)),
        ),
        ("dataset.bytes", int(dataset)),
        (
            "dataset.percentage",
            Reply::Double(dataset as f64 * 100.0 / net as f64),
        ),
        (
            "peak.percentage",
            Reply::Double(f.used as f64 * 100.0 / f.peak.max(1) as f64),
        ),
        ("allocator.allocated", int(f.alloc.allocated)),
        ("allocator.active", int(f.alloc.active)),
        ("allocator.resident", int(f.alloc.resident)),
        (
            "allocator-fragmentation.ratio",
            Reply::Double(f.alloc.frag().0),
        ),
        (
            "allocator-fragmentation.bytes",
            Reply::Int(f.alloc.frag().1),
        ),
        ("allocator-rss.ratio", Reply::Double(f.alloc.rss().0)),
        ("allocator-rss.bytes", Reply::Int(f.alloc.rss().1)),
        (
            "rss-overhead.ratio",
            Reply::Double(f.alloc.process(f.rss).0),
        ),
        ("rss-overhead.bytes", Reply::Int(f.alloc.process(f.rss).1)),
        ("fragmentation", ratio(f.rss, f.used)),
        ("fragmentation.bytes", int(f.rss.saturating_sub(f.used))),
    ];
    out.extend(rest.into_iter().map(|(k, v)| (Reply::bulk(k), v)));
    Reply::Map(out)
}

/// MEMORY DOCTOR: Redis's report and wording, from the checks that apply to
/// Redwing (peak, fragmentation, jemalloc's overheads, client buffers).
fn doctor(f: &Figures) -> String {
    const EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
    const FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
    // Redis's threshold is 5 MB allocated, of which its empty instance
    // takes under 1 MB; Redwing's empty instance takes about 4.6 MB (the
    // cores' tables), so the threshold applies to what came after start.
    if f.used.saturating_sub(f.startup) < 5 << 20 {
        return EMPTY.into();
    }
    let mut found = Vec::new();
    if f.peak as f64 / f.used as f64 > 1.5 {
        found.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    if f.rss as f64 / f.used as f64 > 1.4 && f.rss.saturating_sub(f.used) > 10 << 20 {
        found.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n", crate::memory::allocator()));
    }
    // jemalloc's own overheads, each over 1.1 and 10 MB.
    let high = |(ratio, bytes): (f64, i64)| ratio > 1.1 && bytes > 10 << 20;
    if high(f.alloc.frag()) {
        found.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".to_string());
    }
    if high(f.alloc.rss()) {
        found.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if high(f.alloc.process(f.rss)) {
        found.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n".to_string());
    }
    let clients = super::client::CONNECTED
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(1);
    if f.clients / clients > 200 << 10 {
        found.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n".to_string());
    }
    if found.is_empty() {
        return FINE.into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    s.extend(found);
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}
