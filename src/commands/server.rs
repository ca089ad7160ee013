//! The server family: INFO, CONFIG, COMMAND, DBSIZE, FLUSH*, and friends.
//!
//! Whole-server numbers live on every core (command stats, shard stats,
//! keys); these commands collect them with `runtime::gather` and sum.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::stats::{self, CoreStats};
use super::{
    flags::*, is, spec, table, with_ctx, ClientRef, ClientState, Cross, Ctx, Handler, Spec,
};
use crate::config::{self, Opt, OPTIONS};
use crate::memory;
use crate::protocol::errors::{self, err, wrong_args};
use crate::protocol::{parse_i64, Reply};
use crate::runtime;
use crate::storage::shard::{self, lru_clock, ShardStats};
use crate::storage::Value;

/// The Redis version Redwing answers as, so clients enable the features
/// it has (HELLO, INFO redis_version).
pub const REDIS_VERSION: &str = "7.0.15";

type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>>;

/// `ERR wrong number of arguments for 'config|get' command` when a
/// subcommand's own arity, from the one subcommand table (the ACL's, as
/// Redis declares it), is not met.
pub(super) fn sub_arity(cmd: &str, sub: &str, argc: usize) -> Option<Reply> {
    let name = format!("{cmd}|{sub}");
    // Every subcommand a command dispatches is in the table.
    let arity = crate::acl::category::sub_arity(&name)?;
    let ok = if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= (-arity) as usize
    };
    (!ok).then(|| wrong_args(&name))
}

pub(super) fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(*l)).collect())
}

// ---------------------------------------------------------------------------
// Process facts: start time, ids.

struct Start {
    at: Instant,
}

/// When the process started, from /proc (so it is right even though this is
/// first read long after start); falls back to the first call.
fn start() -> &'static Start {
    static START: OnceLock<Start> = OnceLock::new();
    START.get_or_init(|| {
        let up = process_age().unwrap_or_default();
        let now = Instant::now();
        Start {
            at: now.checked_sub(up).unwrap_or(now),
        }
    })
}

/// Time since this process started: system uptime minus the process's
/// start tick.
fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name; starttime is field 22 (index 19 here).
    let rest = &stat[stat.rfind(')')? + 2..];
    let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(Duration::from_secs_f64((uptime - ticks / hz).max(0.0)))
}

fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
        .collect()
}

fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(random_hex40)
}

/// INFO's `redis_build_id`: as Redis's, a hash of what identifies the
/// build (here the versions, the target and the profile), so two servers
/// built alike show the same id.
fn build_id() -> u64 {
    let parts = [
        crate::VERSION,
        REDIS_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    ];
    // FNV-1a, 64 bits.
    parts
        .iter()
        .flat_map(|p| p.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Redis's LRU clock: seconds, 24 bits.
fn lru_24(secs: u32) -> u32 {
    secs & 0xFF_FFFF
}

// ---------------------------------------------------------------------------
// INFO

/// One core's numbers for INFO.
struct CoreSnap {
    stats: CoreStats,
    shard: ShardStats,
    dirty: u64,
    /// (keys, volatile keys) per database.
    dbs: Vec<(usize, usize)>,
    /// Pub/Sub channel, pattern and shard channel names (unique over cores).
    pubsub: [std::collections::HashSet<Bytes>; 3],
    /// Tracked keys, tracked items, BCAST prefixes (the same on every core).
    tracking: (usize, usize, usize),
    /// Bytes of the cores' Lua states.
    lua: usize,
    /// Bytes queued on the cluster bus's links.
    cluster_links: usize,
    /// The biggest recent query and reply buffers (`client::recent_peaks`).
    peaks: (usize, usize),
}

/// `links`: also ask the control core for the cluster bus's queued bytes
/// (only INFO memory shows them).
async fn snapshot_all(links: bool) -> CoreSnap {
    let parts = runtime::gather(0..runtime::shards(), || {
        let stats = stats::with(|s| s.clone());
        let pubsub = super::pubsub::local_names();
        let tracking = super::tracking::local_counts();
        let lua = crate::server::script::lua_memory();
        let peaks = super::client::recent_peaks();
        shard::with(|sh| CoreSnap {
            stats,
            shard: sh.stats,
            dirty: sh.dirty,
            dbs: sh.dbs.iter().map(|d| (d.len(), d.volatile())).collect(),
            pubsub,
            tracking,
            lua,
            cluster_links: 0,
            peaks,
        })
    })
    .await;
    let mut total = CoreSnap {
        stats: CoreStats::default(),
        shard: ShardStats::default(),
        dirty: 0,
        dbs: Vec::new(),
        pubsub: Default::default(),
        tracking: (0, 0, 0),
        lua: 0,
        cluster_links: 0,
        peaks: (0, 0),
    };
    if links && crate::cluster::enabled() {
        total.cluster_links = runtime::call_on(runtime::control(), || {
            crate::cluster::bus::link_rows()
                .iter()
                .map(|r| r.queued)
                .sum::<usize>()
        })
        .await
        .unwrap_or(0);
    }
    for p in parts {
        for (t, names) in total.pubsub.iter_mut().zip(p.pubsub) {
            t.extend(names);
        }
        total.tracking.0 += p.tracking.0;
        total.tracking.1 += p.tracking.1;
        total.tracking.2 = p.tracking.2;
        total.stats.merge(&p.stats);
        total.shard.merge(&p.shard);
        total.dirty += p.dirty;
        total.lua += p.lua;
        total.peaks = (total.peaks.0.max(p.peaks.0), total.peaks.1.max(p.peaks.1));
        if total.dbs.len() < p.dbs.len() {
            total.dbs.resize(p.dbs.len(), (0, 0));
        }
        for (t, d) in total.dbs.iter_mut().zip(&p.dbs) {
            t.0 += d.0;
            t.1 += d.1;
        }
    }
    total
}

/// A point for the instantaneous rates.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    cmds: u64,
    input: u64,
    output: u64,
}

/// Recent samples, taken whenever INFO runs. Rates are measured against
/// the oldest sample of the last few seconds, so they cover at least the
/// time since the previous INFO (Redis samples every 100 ms in its cron).
static SAMPLES: Mutex<VecDeque<Sample>> = Mutex::new(VecDeque::new());
const SAMPLE_WINDOW: Duration = Duration::from_secs(5);
const MAX_SAMPLES: usize = 16;

/// (ops/sec, input kbps, output kbps).
fn instantaneous(cur: Sample) -> (u64, f64, f64) {
    let mut ring = SAMPLES.lock().unwrap();
    while ring.len() > 1 && cur.at.duration_since(ring[0].at) > SAMPLE_WINDOW {
        ring.pop_front();
    }
    let base = ring.front().copied().unwrap_or(Sample {
        at: start().at,
        cmds: 0,
        input: 0,
        output: 0,
    });
    ring.push_back(cur);
    if ring.len() > MAX_SAMPLES {
        ring.pop_front();
    }
    let secs = cur.at.duration_since(base.at).as_secs_f64();
    if secs <= 0.0 {
        return (0, 0.0, 0.0);
    }
    (
        (cur.cmds.saturating_sub(base.cmds) as f64 / secs) as u64,
        cur.input.saturating_sub(base.input) as f64 / secs / 1024.0,
        cur.output.saturating_sub(base.output) as f64 / secs / 1024.0,
    )
}

/// Every section, in the order Redis prints them.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

fn kv(out: &mut String, k: &str, v: impl std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

fn uname() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "Linux".into();
        }
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {} {}", s(&u.sysname), s(&u.release), s(&u.machine))
    }
}

fn total_system_memory() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe {
        libc::sysconf(libc::_SC_PHYS_PAGES) as usize * libc::sysconf(libc::_SC_PAGESIZE) as usize
    }
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: rusage is plain data; getrusage fills it.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut r) != 0 {
            return (0.0, 0.0);
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (secs(r.ru_stime), secs(r.ru_utime))
    }
}

fn info_section(name: &str, snap: &CoreSnap) -> Option<String> {
    let mut s = String::new();
    let o = &mut s;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let st = &snap.stats;
    match name {
        "server" => {
            let up = start().at.elapsed().as_secs();
            o.push_str("# Server\r\n");
            kv(o, "redis_version", REDIS_VERSION);
            kv(o, "redis_git_sha1", "00000000");
            kv(o, "redis_git_dirty", 0);
            kv(o, "redis_build_id", format!("{:x}", build_id()));
            kv(o, "redwing_version", crate::VERSION);
            kv(o, "redis_mode", "standalone");
            kv(o, "os", uname());
            kv(o, "arch_bits", usize::BITS);
            kv(o, "monotonic_clock", "POSIX clock_gettime");
            kv(o, "multiplexing_api", "io_uring");
            // Rust's atomics are the C11 memory model's; no C compiler built
            // the server (Redis's value without __GNUC__).
            kv(o, "atomicvar_api", "c11-builtin");
            kv(o, "gcc_version", "0.0.0");
            kv(o, "process_id", std::process::id());
            kv(o, "process_supervised", "no");
            kv(o, "run_id", run_id());
            kv(o, "tcp_port", config::num(Opt::Port));
            kv(o, "server_time_usec", now.as_micros());
            kv(o, "uptime_in_seconds", up);
            kv(o, "uptime_in_days", up / 86400);
            kv(o, "hz", config::num(Opt::Hz));
            kv(o, "configured_hz", config::num(Opt::Hz));
            kv(o, "lru_clock", lru_24(lru_clock()));
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            kv(o, "executable", exe);
            let file = config::file()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            kv(o, "config_file", file);
            kv(o, "io_threads_active", 0);
            kv(o, "shard_threads", runtime::shards());
        }
        "clients" => {
            o.push_str("# Clients\r\n");
            kv(
                o,
                "connected_clients",
                super::client::CONNECTED.load(std::sync::atomic::Ordering::Relaxed),
            );
            kv(o, "cluster_connections", 0);
            kv(o, "maxclients", config::num(Opt::Maxclients));
            kv(o, "client_recent_max_input_buffer", snap.peaks.0);
            kv(o, "client_recent_max_output_buffer", snap.peaks.1);
            kv(
                o,
                "blocked_clients",
                crate::commands::blocking::BLOCKED_CLIENTS
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
            kv(
                o,
                "tracking_clients",
                super::tracking::CLIENTS.load(std::sync::atomic::Ordering::Relaxed),
            );
            kv(o, "clients_in_timeout_table", 0);
        }
        "memory" => {
            let f = super::memory::Figures::of(&snap.dbs);
            let (used, rss, al) = (f.used, f.rss, &f.alloc);
            let net = used.saturating_sub(f.startup).max(1);
            let sys = total_system_memory();
            let (scripts, script_bytes, libraries, functions, library_bytes) =
                crate::server::script::cache_sizes();
            let lua = snap.lua;
            let perc = |a: usize, b: usize| format!("{:.2}%", a as f64 * 100.0 / b.max(1) as f64);
            o.push_str("# Memory\r\n");
            kv(o, "used_memory", used);
            kv(o, "used_memory_human", memory::human(used));
            kv(o, "used_memory_rss", rss);
            kv(o, "used_memory_rss_human", memory::human(rss));
            kv(o, "used_memory_peak", f.peak);
            kv(o, "used_memory_peak_human", memory::human(f.peak));
            kv(o, "used_memory_peak_perc", perc(used, f.peak));
            kv(o, "used_memory_overhead", f.overhead());
            kv(o, "used_memory_startup", f.startup);
            kv(o, "used_memory_dataset", f.dataset());
            kv(o, "used_memory_dataset_perc", perc(f.dataset(), net));
            kv(o, "allocator_allocated", al.allocated);
            kv(o, "allocator_active", al.active);
            kv(o, "allocator_resident", al.resident);
            kv(o, "total_system_memory", sys);
            kv(o, "total_system_memory_human", memory::human(sys));
            // One Lua state per core runs both EVAL scripts and functions:
            // its memory is reported as the eval VM's.
            kv(o, "used_memory_lua", lua);
            kv(o, "used_memory_vm_eval", lua);
            kv(o, "used_memory_lua_human", memory::human(lua));
            kv(o, "used_memory_scripts_eval", script_bytes);
            kv(o, "number_of_cached_scripts", scripts);
            kv(o, "number_of_functions", functions);
            kv(o, "number_of_libraries", libraries);
            kv(o, "used_memory_vm_functions", 0);
            kv(o, "used_memory_vm_total", lua);
            kv(o, "used_memory_vm_total_human", memory::human(lua));
            kv(o, "used_memory_functions", library_bytes);
            kv(o, "used_memory_scripts", script_bytes + library_bytes);
            kv(
                o,
                "used_memory_scripts_human",
                memory::human(script_bytes + library_bytes),
            );
            let max = crate::storage::evict::limit();
            kv(o, "maxmemory", max);
            kv(o, "maxmemory_human", memory::human(max));
            kv(o, "maxmemory_policy", config::text(Opt::MaxmemoryPolicy));
            for (name, (ratio, bytes)) in [
                ("allocator_frag", al.frag()),
                ("allocator_rss", al.rss()),
                ("rss_overhead", al.process(rss)),
            ] {
                kv(o, &format!("{name}_ratio"), format!("{ratio:.2}"));
                kv(o, &format!("{name}_bytes"), bytes);
            }
            kv(
                o,
                "mem_fragmentation_ratio",
                format!("{:.2}", rss as f64 / used.max(1) as f64),
            );
            kv(o, "mem_fragmentation_bytes", rss as i64 - used as i64);
            kv(
                o,
                "mem_not_counted_for_evict",
                memory::not_counted_for_evict(),
            );
            // The journal is Redis 7's shared replication buffer: the
            // backlog and what replicas have not read are one stream, and
            // replica links and the AOF keep no buffers of their own.
            kv(o, "mem_replication_backlog", f.backlog);
            kv(o, "mem_total_replication_buffers", f.backlog);
            kv(o, "mem_clients_slaves", 0);
            kv(o, "mem_clients_normal", f.clients);
            kv(o, "mem_cluster_links", snap.cluster_links);
            kv(o, "mem_aof_buffer", 0);
            kv(o, "mem_allocator", memory::allocator());
            kv(o, "active_defrag_running", 0);
            kv(o, "lazyfree_pending_objects", 0);
            kv(o, "lazyfreed_objects", 0);
        }
        "persistence" => {
            use crate::persistence::{load, save};
            let ps = save::status();
            let li = load::info();
            let loading = load::loading();
            o.push_str("# Persistence\r\n");
            kv(o, "loading", loading as i64);
            kv(o, "async_loading", load::async_loading() as i64);
            for k in [
                "current_cow_peak",
                "current_cow_size",
                "current_cow_size_age",
            ] {
                kv(o, k, 0);
            }
            kv(o, "current_fork_perc", "0.00");
            let (processed, total) = if ps.in_progress {
                (ps.keys_processed, ps.keys_total)
            } else {
                (0, 0)
            };
            kv(o, "current_save_keys_processed", processed);
            kv(o, "current_save_keys_total", total);
            kv(
                o,
                "rdb_changes_since_last_save",
                snap.dirty.saturating_sub(ps.dirty_saved),
            );
            kv(o, "rdb_bgsave_in_progress", ps.in_progress as i64);
            kv(o, "rdb_last_save_time", ps.last_save);
            kv(
                o,
                "rdb_last_bgsave_status",
                if ps.last_ok { "ok" } else { "err" },
            );
            kv(o, "rdb_last_bgsave_time_sec", ps.last_bgsave_secs);
            kv(
                o,
                "rdb_current_bgsave_time_sec",
                ps.current_start
                    .map_or(-1, |t| t.elapsed().as_secs() as i64),
            );
            kv(o, "rdb_saves", ps.saves);
            kv(o, "rdb_last_cow_size", 0);
            kv(o, "rdb_last_load_keys_expired", li.keys_expired);
            kv(o, "rdb_last_load_keys_loaded", li.keys_loaded);
            let aof = crate::persistence::aof::status();
            let ok = |b: bool| if b { "ok" } else { "err" };
            kv(o, "aof_enabled", aof.enabled as i64);
            kv(o, "aof_rewrite_in_progress", aof.rewrite_in_progress as i64);
            kv(o, "aof_rewrite_scheduled", aof.rewrite_scheduled as i64);
            kv(o, "aof_last_rewrite_time_sec", aof.last_rewrite_secs);
            kv(
                o,
                "aof_current_rewrite_time_sec",
                aof.current_rewrite_start
                    .map_or(-1, |t| t.elapsed().as_secs() as i64),
            );
            kv(o, "aof_last_bgrewrite_status", ok(aof.last_rewrite_ok));
            kv(o, "aof_rewrites", aof.rewrites);
            kv(
                o,
                "aof_rewrites_consecutive_failures",
                aof.consecutive_failures,
            );
            kv(o, "aof_last_write_status", ok(aof.last_write_ok));
            kv(o, "aof_last_cow_size", 0);
            kv(o, "module_fork_in_progress", 0);
            kv(o, "module_fork_last_cow_size", 0);
            if aof.enabled {
                kv(o, "aof_current_size", aof.current_size);
                kv(o, "aof_base_size", aof.base_size);
                kv(o, "aof_pending_rewrite", aof.rewrite_scheduled as i64);
                kv(o, "aof_buffer_length", 0);
                kv(o, "aof_pending_bio_fsync", 0);
                kv(o, "aof_delayed_fsync", 0);
            }
            if loading || load::async_loading() {
                let secs = li.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
                let perc = li.loaded_bytes as f64 * 100.0 / li.total_bytes.max(1) as f64;
                let eta = if li.loaded_bytes > 0 {
                    (secs * (li.total_bytes - li.loaded_bytes.min(li.total_bytes)) as f64
                        / li.loaded_bytes as f64) as i64
                } else {
                    1
                };
                kv(o, "loading_start_time", li.start_time);
                kv(o, "loading_total_bytes", li.total_bytes);
                kv(o, "loading_rdb_used_mem", li.rdb_used_mem);
                kv(o, "loading_loaded_bytes", li.loaded_bytes);
                kv(o, "loading_loaded_perc", format!("{perc:.2}"));
                kv(o, "loading_eta_seconds", eta);
            }
        }
        "stats" => {
            let (ops, kin, kout) = instantaneous(Sample {
                at: Instant::now(),
                cmds: st.total_commands,
                input: st.net_input_bytes,
                output: st.net_output_bytes,
            });
            let sh = &snap.shard;
            o.push_str("# Stats\r\n");
            kv(o, "total_connections_received", st.total_connections);
            kv(o, "total_commands_processed", st.total_commands);
            kv(o, "instantaneous_ops_per_sec", ops);
            kv(o, "total_net_input_bytes", st.net_input_bytes);
            kv(o, "total_net_output_bytes", st.net_output_bytes);
            kv(o, "total_net_repl_input_bytes", 0);
            kv(o, "total_net_repl_output_bytes", 0);
            kv(o, "instantaneous_input_kbps", format!("{kin:.2}"));
            kv(o, "instantaneous_output_kbps", format!("{kout:.2}"));
            kv(o, "instantaneous_input_repl_kbps", "0.00");
            kv(o, "instantaneous_output_repl_kbps", "0.00");
            kv(o, "rejected_connections", st.rejected_connections);
            let (full, partial_ok, partial_err) = crate::replication::sync_stats();
            kv(o, "sync_full", full);
            kv(o, "sync_partial_ok", partial_ok);
            kv(o, "sync_partial_err", partial_err);
            kv(o, "expired_keys", sh.expired_keys);
            kv(o, "expired_stale_perc", "0.00");
            kv(
                o,
                "expired_time_cap_reached_count",
                sh.expired_time_cap_reached,
            );
            kv(
                o,
                "expire_cycle_cpu_milliseconds",
                sh.expire_cycle_time_us / 1000,
            );
            kv(o, "evicted_keys", sh.evicted_keys);
            kv(
                o,
                "evicted_clients",
                super::client_evict::EVICTED.load(std::sync::atomic::Ordering::Relaxed),
            );
            for k in [
                "total_eviction_exceeded_time",
                "current_eviction_exceeded_time",
            ] {
                kv(o, k, 0);
            }
            kv(o, "keyspace_hits", sh.keyspace_hits);
            kv(o, "keyspace_misses", sh.keyspace_misses);
            kv(o, "pubsub_channels", snap.pubsub[0].len());
            kv(o, "pubsub_patterns", snap.pubsub[1].len());
            kv(o, "pubsubshard_channels", snap.pubsub[2].len());
            for k in [
                "latest_fork_usec",
                "total_forks",
                "migrate_cached_sockets",
                "slave_expires_tracked_keys",
                "active_defrag_hits",
                "active_defrag_misses",
                "active_defrag_key_hits",
                "active_defrag_key_misses",
                "total_active_defrag_time",
                "current_active_defrag_time",
            ] {
                kv(o, k, 0);
            }
            kv(o, "tracking_total_keys", snap.tracking.0);
            kv(o, "tracking_total_items", snap.tracking.1);
            kv(o, "tracking_total_prefixes", snap.tracking.2);
            kv(o, "unexpected_error_replies", 0);
            kv(o, "total_error_replies", st.total_error_replies);
            kv(o, "dump_payload_sanitizations", 0);
            kv(o, "total_reads_processed", st.reads_processed);
            kv(o, "total_writes_processed", st.writes_processed);
            kv(o, "io_threaded_reads_processed", 0);
            kv(o, "io_threaded_writes_processed", 0);
            kv(o, "reply_buffer_shrinks", st.reply_buffer_shrinks);
            kv(o, "reply_buffer_expands", st.reply_buffer_expands);
        }
        "replication" => {
            o.push_str("# Replication\r\n");
            crate::replication::info(o);
        }
        "cpu" => {
            let (sys, user) = rusage(libc::RUSAGE_SELF);
            let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
            // The "main thread" is the core thread answering this INFO.
            let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
            o.push_str("# CPU\r\n");
            kv(o, "used_cpu_sys", format!("{sys:.6}"));
            kv(o, "used_cpu_user", format!("{user:.6}"));
            kv(o, "used_cpu_sys_children", format!("{csys:.6}"));
            kv(o, "used_cpu_user_children", format!("{cuser:.6}"));
            kv(o, "used_cpu_sys_main_thread", format!("{tsys:.6}"));
            kv(o, "used_cpu_user_main_thread", format!("{tuser:.6}"));
        }
        "modules" => o.push_str("# Modules\r\n"),
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            for (spec, c) in table().specs.iter().zip(&st.commands) {
                if c.calls == 0 && c.failed == 0 && c.rejected == 0 {
                    continue;
                }
                let per = if c.calls == 0 {
                    0.0
                } else {
                    c.usec as f64 / c.calls as f64
                };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                    spec.name, c.calls, c.usec, c.rejected, c.failed
                );
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            for (code, n) in &st.errors {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "latencystats" => {
            o.push_str("# Latencystats\r\n");
            super::histogram::info_lines(&st.latency, o);
        }
        "cluster" => {
            o.push_str("# Cluster\r\n");
            kv(o, "cluster_enabled", crate::cluster::enabled() as u8);
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for (i, (keys, expires)) in snap.dbs.iter().enumerate() {
                if *keys > 0 {
                    let _ = write!(o, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => return None,
    }
    Some(s)
}

/// The INFO text for the requested sections (Redis's rules: none or
/// `default` → the default set; `all`/`everything` → every section;
/// unknown names add nothing).
pub async fn info_text(args: &[Bytes]) -> String {
    // The default set is every section but commandstats and latencystats.
    let defaults = ALL_SECTIONS
        .iter()
        .filter(|s| !matches!(**s, "commandstats" | "latencystats"));
    let mut wanted: Vec<&str> = Vec::new();
    if args.is_empty() {
        wanted.extend(defaults.clone());
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend(defaults.clone()),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            name => {
                if let Some(s) = ALL_SECTIONS.iter().find(|s| **s == name) {
                    wanted.push(s);
                }
            }
        }
    }
    if wanted.is_empty() {
        return String::new();
    }
    let snap = snapshot_all(wanted.contains(&"memory")).await;
    let sections: Vec<String> = ALL_SECTIONS
        .iter()
        .filter(|s| wanted.contains(s))
        .filter_map(|s| info_section(s, &snap))
        .collect();
    sections.join("\r\n")
}

fn info(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move { Reply::Verbatim(Bytes::from(info_text(&args[1..]).await)) })
}

// ---------------------------------------------------------------------------
// CONFIG

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn config_cmd(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let sub = args[1].to_ascii_lowercase();
        let n = args.len();
        match sub.as_slice() {
            b"get" => sub_arity("config", "get", n).unwrap_or_else(|| config_get(&args[2..])),
            b"set" => match sub_arity("config", "set", n) {
                Some(e) => e,
                None => {
                    let r = config_set(&args[2..]);
                    // appendonly and appendfsync act at once.
                    crate::persistence::aof::config_changed().await;
                    // A lower maxmemory evicts down to it now.
                    super::evict::config_changed().await;
                    // repl-backlog-size applies at once.
                    crate::replication::config_changed();
                    r
                }
            },
            b"resetstat" => match sub_arity("config", "resetstat", n) {
                Some(e) => e,
                None => {
                    reset_stats().await;
                    crate::replication::reset_stats();
                    Reply::Ok
                }
            },
            b"rewrite" => {
                sub_arity("config", "rewrite", n).unwrap_or_else(|| match config::rewrite() {
                    Ok(()) => Reply::Ok,
                    Err(e) => Reply::error(format!("ERR {e}")),
                })
            }
            b"help" => sub_arity("config", "help", n).unwrap_or_else(|| help(CONFIG_HELP)),
            _ => errors::unknown_subcommand("config", &args[1]),
        }
    })
}

/// CONFIG GET: a name without glob characters is looked up directly and
/// answered under the spelling given; patterns answer with table names.
/// Each option appears once.
fn config_get(patterns: &[Bytes]) -> Reply {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut add = |shown: String, value: String, out: &mut Vec<(Reply, Reply)>| {
        let key = shown.to_ascii_lowercase();
        if !seen.contains(&key) {
            seen.push(key);
            out.push((Reply::bulk(shown), Reply::bulk(value)));
        }
    };
    for p in patterns {
        if !p.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            let name = String::from_utf8_lossy(p).into_owned();
            if let Some(i) = Opt::by_name(&name) {
                let value = config::matching(OPTIONS[i].name.as_bytes())
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                add(name, value, &mut out);
            }
        } else {
            for (name, value) in config::matching(p) {
                add(name.to_string(), value, &mut out);
            }
        }
    }
    Reply::Map(out)
}

/// CONFIG SET: all pairs are checked first (unknown name, immutable,
/// duplicate, in Redis's order of precedence), then applied; if one value
/// is refused, those already applied are put back.
fn config_set(args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return err(errors::SYNTAX);
    }
    let mut unknown: Option<String> = None;
    let mut failed: Option<(String, &str)> = None;
    let mut pairs: Vec<(usize, String, Vec<String>)> = Vec::new();
    for pair in args.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let Some(idx) = Opt::by_name(&name) else {
            if unknown.is_none() && failed.is_none() {
                unknown = Some(name);
            }
            continue;
        };
        if unknown.is_some() || failed.is_some() {
            continue;
        }
        if !OPTIONS[idx].mutable {
            failed = Some((name, "can't set immutable config"));
            continue;
        }
        if pairs.iter().any(|p| p.0 == idx) {
            failed = Some((name, "duplicate parameter"));
            continue;
        }
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        pairs.push((idx, name, value_args(idx, &value)));
    }
    if let Some(name) = unknown {
        return Reply::error(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ));
    }
    if let Some((name, why)) = failed {
        return set_failed(&name, why);
    }
    let mut applied: Vec<(usize, String)> = Vec::new();
    for (idx, name, value) in &pairs {
        let old = current(*idx);
        if let Err(e) = config::set(*idx, value, true) {
            for (i, old) in applied.into_iter().rev() {
                let _ = config::set(i, &value_args(i, &old), false);
            }
            return set_failed(name, &e);
        }
        applied.push((*idx, old));
    }
    Reply::Ok
}

fn set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// The arguments a value stands for: list options take several words.
fn value_args(idx: usize, value: &str) -> Vec<String> {
    match OPTIONS[idx].kind {
        k if k.is_words() => value.split_whitespace().map(String::from).collect(),
        _ => vec![value.to_string()],
    }
}

fn current(idx: usize) -> String {
    config::matching(OPTIONS[idx].name.as_bytes())
        .into_iter()
        .find(|(n, _)| *n == OPTIONS[idx].name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// CONFIG RESETSTAT: every core's command, error, network and keyspace
/// counters, and the rate samples.
async fn reset_stats() {
    runtime::gather(0..runtime::shards(), || {
        stats::with(|s| *s = CoreStats::default());
        shard::with(|s| s.stats = ShardStats::default());
    })
    .await;
    super::client_evict::EVICTED.store(0, std::sync::atomic::Ordering::Relaxed);
    SAMPLES.lock().unwrap().clear();
}

// ---------------------------------------------------------------------------
// COMMAND

/// A row's ACL categories (src/acl/category.rs has Redis's rules).
pub fn categories(s: &Spec) -> Vec<&'static str> {
    crate::acl::category::of(s)
}

fn command_info(s: &Spec) -> Reply {
    let flags = NAMES
        .iter()
        .filter(|(f, _)| s.flags & f != 0)
        .map(|(_, n)| Reply::status(*n))
        .collect();
    let cats = categories(s)
        .into_iter()
        .map(|c| Reply::status(format!("@{c}")))
        .collect();
    Reply::Array(vec![
        Reply::bulk(s.name),
        Reply::Int(s.arity as i64),
        Reply::Set(flags),
        Reply::Int(s.keys.0 as i64),
        Reply::Int(s.keys.1 as i64),
        Reply::Int(s.keys.2 as i64),
        Reply::Set(cats),
        Reply::Set(vec![]),
        Reply::Set(super::keyspecs::info(s.name)),
        Reply::Set(vec![]),
    ])
}

fn command_docs(s: &Spec) -> Reply {
    Reply::Map(vec![
        (Reply::bulk("summary"), Reply::bulk(s.summary)),
        (Reply::bulk("since"), Reply::bulk(s.since)),
        (Reply::bulk("group"), Reply::bulk(s.group)),
    ])
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn command(_: &mut ClientState, args: &[Bytes]) -> Reply {
    let t = table();
    if args.len() == 1 {
        return Reply::Array(t.specs.iter().map(command_info).collect());
    }
    let n = args.len();
    let sub = args[1].to_ascii_lowercase();
    let names = &args[2..];
    match sub.as_slice() {
        b"count" => {
            sub_arity("command", "count", n).unwrap_or_else(|| Reply::Int(t.specs.len() as i64))
        }
        b"info" => {
            if names.is_empty() {
                return Reply::Array(t.specs.iter().map(command_info).collect());
            }
            Reply::Array(
                names
                    .iter()
                    .map(|name| t.lookup(name).map_or(Reply::Nil, |(_, s)| command_info(s)))
                    .collect(),
            )
        }
        b"docs" => {
            let specs: Vec<&Spec> = if names.is_empty() {
                t.specs.iter().collect()
            } else {
                names
                    .iter()
                    .filter_map(|n| t.lookup(n).map(|x| x.1))
                    .collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|s| (Reply::bulk(s.name), command_docs(s)))
                    .collect(),
            )
        }
        b"list" => command_list(names),
        b"getkeys" => sub_arity("command", "getkeys", n).unwrap_or_else(|| getkeys(names, false)),
        b"getkeysandflags" => {
            sub_arity("command", "getkeysandflags", n).unwrap_or_else(|| getkeys(names, true))
        }
        b"help" => sub_arity("command", "help", n).unwrap_or_else(|| help(COMMAND_HELP)),
        _ => errors::unknown_subcommand("command", &args[1]),
    }
}

/// COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]: as Redis,
/// every command followed by its subcommands (`config`, `config|get` ...).
fn command_list(args: &[Bytes]) -> Reply {
    let ids = crate::acl::category::ids();
    let keep: Box<dyn Fn(usize) -> bool> = match args {
        [] => Box::new(|_| true),
        [f, kind, v] if is(f, "filterby") => {
            let v = v.clone();
            if is(kind, "module") {
                Box::new(|_| false)
            } else if is(kind, "aclcat") {
                let cat = std::str::from_utf8(&v)
                    .ok()
                    .and_then(crate::acl::category::by_name)
                    .unwrap_or(0);
                Box::new(move |id| ids.masks[id] & cat != 0)
            } else if is(kind, "pattern") {
                Box::new(move |id| crate::glob::matches(&v, ids.names[id].as_bytes(), true))
            } else {
                return err(errors::SYNTAX);
            }
        }
        _ => return err(errors::SYNTAX),
    };
    let mut out = Vec::new();
    for row in 0..table().specs.len() {
        let subs = ids.subs.get(&row).map_or(&[][..], |v| v.as_slice());
        for id in std::iter::once(row).chain(subs.iter().copied()) {
            if keep(id) {
                out.push(Reply::bulk(ids.names[id].as_str()));
            }
        }
    }
    Reply::Array(out)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the keys of a full command (a
/// container's subcommand is named `container|sub`), from its key specs.
fn getkeys(cmd: &[Bytes], with_flags: bool) -> Reply {
    let Some((row, s)) = table().lookup(&cmd[0]) else {
        return Reply::error(errors::INVALID_COMMAND);
    };
    let ids = crate::acl::category::ids();
    let (name, arity) = if ids.subs.contains_key(&row) {
        let Some(id) = cmd.get(1).and_then(|_| ids.of_call(row, cmd)) else {
            return Reply::error(errors::INVALID_COMMAND);
        };
        let name = ids.names[id].as_str();
        (
            name,
            crate::acl::category::sub_arity(name).unwrap_or(s.arity),
        )
    } else {
        (s.name, s.arity)
    };
    if !super::keyspecs::has_keys(name) {
        return Reply::error(errors::NO_KEY_ARGS);
    }
    let n = cmd.len();
    if (arity > 0 && arity as usize != n) || n < arity.unsigned_abs() as usize {
        return Reply::error(errors::INVALID_GETKEYS_ARITY);
    }
    let keys = super::keyspecs::keys(name, cmd);
    if keys.is_empty()
        && !matches!(
            name,
            "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
        )
    {
        return Reply::error(errors::INVALID_GETKEYS_ARGS);
    }
    Reply::Array(
        keys.into_iter()
            .map(|(i, flags)| {
                let key = Reply::Bulk(cmd[i].clone());
                if !with_flags {
                    return key;
                }
                let names = super::keyspecs::flag_names(flags)
                    .map(Reply::status)
                    .collect();
                Reply::Array(vec![key, Reply::Set(names)])
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Keyspace-wide commands

fn dbsize(c: ClientRef, _: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let db = c.borrow().db;
        let n: usize = runtime::gather(0..runtime::shards(), move || {
            shard::with(|s| s.dbs[db].len())
        })
        .await
        .into_iter()
        .sum();
        Reply::Int(n as i64)
    })
}

/// FLUSHDB/FLUSHALL take nothing, ASYNC or SYNC. Freeing is synchronous
/// either way: each core drops its own part.
fn flush_args(args: &[Bytes]) -> Result<(), Reply> {
    match args {
        [_] => Ok(()),
        [_, mode] if is(mode, "async") || is(mode, "sync") => Ok(()),
        _ => Err(err(errors::SYNTAX)),
    }
}

/// Clears database `db` (all when None) on every core; each core counts
/// the keys it removed as changes.
async fn flush(db: Option<usize>) {
    crate::persistence::abort_running(if db.is_some() { "FLUSHDB" } else { "FLUSHALL" });
    runtime::gather(0..runtime::shards(), move || {
        super::multi::db_replaced(db);
        shard::with(|s| {
            let mut removed = 0;
            for (i, d) in s.dbs.iter_mut().enumerate() {
                if db.is_none_or(|db| db == i) {
                    removed += d.len() as u64;
                    d.clear();
                }
            }
            s.dirty += removed;
        });
        super::tracking::flushed();
        super::blocking::signal_dbs(db);
    })
    .await;
}

fn flushdb(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if let Err(e) = flush_args(&args) {
            return e;
        }
        let db = c.borrow().db;
        flush(Some(db)).await;
        Reply::Ok
    })
}

fn flushall(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if let Err(e) = flush_args(&args) {
            return e;
        }
        flush(None).await;
        Reply::Ok
    })
}

/// SWAPDB: every core swaps its parts of the two databases, atomically
/// across cores (`write_atomically`).
fn swapdb(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if crate::cluster::enabled() {
            return err("ERR SWAPDB is not allowed in cluster mode");
        }
        let int = |b: &[u8], msg| super::arg_range(b, i32::MIN as i64, i32::MAX as i64, Some(msg));
        let a = match int(&args[1], errors::INVALID_FIRST_DB) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let b = match int(&args[2], errors::INVALID_SECOND_DB) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let dbs = config::num(Opt::Databases);
        if a < 0 || a >= dbs || b < 0 || b >= dbs {
            return err(errors::DB_RANGE);
        }
        let (a, b) = (a as usize, b as usize);
        if a != b {
            crate::persistence::abort_running("SWAPDB");
        }
        // Atomic across cores: no client sees one core swapped and another
        // not. The change is counted once (on core 0), as Redis counts it.
        let parts = (0..runtime::shards())
            .map(|core| {
                let job: runtime::Job = Box::new(move || {
                    if a != b {
                        super::multi::db_replaced(Some(a));
                        super::multi::db_replaced(Some(b));
                    }
                    shard::with(|s| {
                        s.dbs.swap(a, b);
                        s.dirty += (core == 0) as u64;
                    });
                    if a != b {
                        super::blocking::signal_dbs(Some(a));
                        super::blocking::signal_dbs(Some(b));
                    }
                    Reply::Ok
                });
                (core, job)
            })
            .collect();
        runtime::write_atomically(parts).await;
        Reply::Ok
    })
}

fn time(_: &mut ClientState, _: &[Bytes]) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ])
}

/// The last successful save (the start-up time before any).
fn lastsave(_: &mut ClientState, _: &[Bytes]) -> Reply {
    Reply::Int(crate::persistence::save::status().last_save)
}

/// SAVE: a snapshot now; the client waits for it (other clients are
/// served meanwhile: the snapshot needs no pause).
fn save(_: ClientRef, _: Vec<Bytes>) -> Fut {
    use crate::persistence::save;
    Box::pin(async move {
        if !save::try_begin() {
            return err(errors::BGSAVE_IN_PROGRESS);
        }
        if save::start_and_wait(false).await {
            Reply::Ok
        } else {
            err("ERR")
        }
    })
}

/// BGREWRITEAOF: a new AOF base from a snapshot (scheduled behind a
/// running BGSAVE).
fn bgrewriteaof(_: ClientRef, _: Vec<Bytes>) -> Fut {
    Box::pin(crate::persistence::aof::bgrewriteaof())
}

/// BGSAVE [SCHEDULE].
fn bgsave(_: ClientRef, args: Vec<Bytes>) -> Fut {
    use crate::persistence::save;
    Box::pin(async move {
        let schedule = match &args[1..] {
            [] => false,
            [a] if is(a, "schedule") => true,
            _ => return err(errors::SYNTAX),
        };
        if !save::try_begin() {
            // As Redis: SCHEDULE waits only for an AOF rewrite; a running
            // BGSAVE is an error either way.
            if save::status().in_progress {
                return err(errors::BGSAVE_IN_PROGRESS);
            }
            if schedule {
                save::schedule();
                return Reply::status("Background saving scheduled");
            }
            if crate::persistence::aof::status().rewrite_in_progress {
                return err(errors::AOF_REWRITE_ACTIVE);
            }
            return err(errors::BGSAVE_IN_PROGRESS);
        }
        save::start_and_wait(true).await;
        Reply::status("Background saving started")
    })
}

// ---------------------------------------------------------------------------
// DEBUG

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

fn debug(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let sub = args[1].to_ascii_lowercase();
        match (sub.as_slice(), args.len()) {
            (b"help", 2) => help(DEBUG_HELP),
            (b"sleep", 3) => {
                // As Redis: the whole server stops (every shard core at
                // once), which failover tests use to make a master
                // unresponsive. The control executor keeps running.
                let secs = crate::strtod::prefix_or_zero(&args[2]).max(0.0);
                let pause = Duration::from_secs_f64(secs.min(1e9));
                let me = runtime::me();
                let cores = (0..runtime::shards()).filter(|&c| c != me).chain([me]);
                runtime::gather(cores, move || std::thread::sleep(pause)).await;
                Reply::Ok
            }
            (b"digest", 2) => dataset_digest().await,
            (b"digest-value", _) => {
                let db = c.borrow().db;
                let keys = args[2..].to_vec();
                let digests = runtime::gather(0..runtime::shards(), move || {
                    let me = runtime::me();
                    shard::with(|s| {
                        keys.iter()
                            .enumerate()
                            .filter(|(_, k)| crate::cluster::route::core(k) == me)
                            .map(|(i, k)| {
                                let mut d = [0u8; 20];
                                // Logically expired keys count, as in Redis.
                                if let Some(e) = s.dbs[db].peek(k) {
                                    super::digest::value(&mut d, e);
                                }
                                (i, d)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .await;
                let mut out = vec![Reply::Nil; args.len() - 2];
                for (i, d) in digests.into_iter().flatten() {
                    out[i] = Reply::status(super::digest::hex(&d));
                }
                Reply::Array(out)
            }
            (b"error", 3) => Reply::error(String::from_utf8_lossy(&args[2]).into_owned()),
            (b"log", 3) => {
                tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
                Reply::Ok
            }
            (b"protocol", 3) => debug_protocol(&args[2], c.borrow().resp3),
            (b"set-active-expire", 3) => {
                // C's atoi: an optional sign and leading digits; else 0.
                let a = args[2].strip_prefix(b"-").or(args[2].strip_prefix(b"+"));
                let mut digits = a
                    .unwrap_or(&args[2])
                    .iter()
                    .take_while(|b| b.is_ascii_digit());
                let on = digits.any(|&b| b != b'0');
                shard::set_active_expire(on);
                Reply::Ok
            }
            (b"change-repl-id", 2) => {
                crate::replication::change_replid();
                Reply::Ok
            }
            (b"reload", _) => debug_reload(&args[2..]).await,
            (b"object", 3) => {
                let db = c.borrow().db;
                let key = args[2].clone();
                let core = crate::cluster::route::core(&key);
                runtime::run_on(
                    core,
                    vec![Box::new(move || {
                        with_ctx(db, |ctx| debug_object(ctx, &key))
                    })],
                )
                .await
                .pop()
                .unwrap_or(Reply::Nil)
            }
            (b"populate", 3..=5) => populate(&c, &args).await,
            // Redwing's own: slots and db-0 keys per core (cluster balance).
            (b"cores", 2) => {
                Reply::Verbatim(crate::cluster::commands::per_core_text().await.into())
            }
            _ => Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1])
            )),
        }
    })
}

/// DEBUG DIGEST: Redis's fingerprint of the whole dataset; each core
/// digests its own keys per database and the parts are combined in order.
async fn dataset_digest() -> Reply {
    let parts = runtime::gather(0..runtime::shards(), || {
        shard::with(|s| {
            s.dbs
                .iter()
                .map(|d| {
                    let mut x = [0u8; 20];
                    for (k, e) in d.iter() {
                        super::digest::combine(&mut x, &super::digest::key(k, e));
                    }
                    (d.len(), x)
                })
                .collect::<Vec<_>>()
        })
    })
    .await;
    let dbs = (0..parts.first().map_or(0, Vec::len)).filter_map(|db| {
        let mut keys = [0u8; 20];
        let mut n = 0;
        for p in &parts {
            n += p[db].0;
            super::digest::combine(&mut keys, &p[db].1);
        }
        (n > 0).then_some((db, keys))
    });
    Reply::status(super::digest::hex(&super::digest::dataset(dbs)))
}

/// DEBUG PROTOCOL: a sample reply of each RESP type, as Redis sends them.
fn debug_protocol(name: &[u8], resp3: bool) -> Reply {
    let raw = |s: &'static str| Reply::Raw(Bytes::from_static(s.as_bytes()));
    let three = || (0..3).map(Reply::Int).collect::<Vec<_>>();
    match name.to_ascii_lowercase().as_slice() {
        b"string" => Reply::bulk("Hello World"),
        b"integer" => Reply::Int(12345),
        #[allow(clippy::approx_constant)] // Redis's sample value, not pi.
        b"double" => Reply::Double(3.141),
        b"bignum" if resp3 => raw("(1234567999999999999999999999999999999\r\n"),
        b"bignum" => Reply::bulk("1234567999999999999999999999999999999"),
        b"null" => Reply::Nil,
        b"array" => Reply::Array(three()),
        b"set" => Reply::Set(three()),
        b"map" => Reply::Map((0..3).map(|j| (Reply::Int(j), Reply::Bool(j == 1))).collect()),
        // An attribute (RESP3 only) goes before the reply it describes.
        b"attrib" if resp3 => Reply::Seq(vec![
            raw("|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"),
            Reply::bulk("Some real reply following the attribute"),
        ]),
        b"attrib" => Reply::bulk("Some real reply following the attribute"),
        b"push" if !resp3 => err("ERR RESP2 is not supported by this command"),
        b"push" => Reply::Seq(vec![
            Reply::Push(vec![Reply::bulk("server-cpu-usage"), Reply::Int(42)]),
            Reply::bulk("Some real reply following the push reply"),
        ]),
        b"true" => Reply::Bool(true),
        b"false" => Reply::Bool(false),
        b"verbatim" => Reply::Verbatim(Bytes::from_static(b"This is a verbatim\nstring")),
        _ => err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the dataset and load
/// the dump file back. Clients get -LOADING meanwhile (Redis makes them
/// wait instead). Keys loaded over existing ones replace them.
async fn debug_reload(opts: &[Bytes]) -> Reply {
    use crate::persistence::save;
    let (mut flush_first, mut save_first) = (true, true);
    for o in opts {
        if is(o, "noflush") {
            flush_first = false;
        } else if is(o, "nosave") {
            save_first = false;
        } else if !is(o, "merge") {
            return err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    if save_first {
        if !save::try_begin() {
            return err(errors::BGSAVE_IN_PROGRESS);
        }
        if !save::start_and_wait(false).await {
            return err("ERR");
        }
    }
    if flush_first {
        flush(None).await;
    }
    match crate::persistence::load::reload(&save::rdb_path()).await {
        Ok(()) => {
            tracing::warn!("DB reloaded by DEBUG RELOAD");
            Reply::Ok
        }
        Err(_) => err("ERR Error trying to load the RDB dump"),
    }
}

/// Bytes a populated key costs at least (table slot, entry, key, value
/// headers): what the count is checked against before anything is made.
const POPULATE_KEY_COST: u64 = 64;

/// DEBUG POPULATE count [prefix] [size]: string keys `prefix:N` holding
/// `value:N` (cut or zero-padded to `size` bytes), keys that exist left
/// alone; every core makes the keys it owns. Not propagated, as in Redis.
/// Redis sizes its table for `count` keys first and, when the memory is
/// not there, answers "OOM in dictTryExpand" (or is killed by the kernel
/// once it touches it); Redwing gives that error for any count whose keys
/// could not fit in the machine's memory, before making any.
async fn populate(c: &ClientRef, args: &[Bytes]) -> Reply {
    const POSITIVE: &str = "ERR value is out of range, must be positive";
    const OOM: &str = "ERR OOM in dictTryExpand";
    let fits = |count: u64, each: u64| {
        count
            .checked_mul(each)
            .is_some_and(|b| b <= total_system_memory() as u64)
    };
    let count = match super::arg_range(&args[2], 0, i64::MAX, Some(POSITIVE)) {
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    if !fits(count, POPULATE_KEY_COST) {
        return err(OOM);
    }
    let size = match args.get(4) {
        Some(b) => match super::arg_range(b, 0, i64::MAX, Some(POSITIVE)) {
            Ok(n) => n as u64,
            Err(e) => return e,
        },
        None => 0,
    };
    if !fits(count, POPULATE_KEY_COST.saturating_add(size)) {
        return err(OOM);
    }
    // The prefix is a C string there: it ends at a NUL.
    let prefix = args.get(3).map_or(&b"key"[..], |p| &p[..]);
    let prefix =
        Bytes::copy_from_slice(&prefix[..memchr::memchr(0, prefix).unwrap_or(prefix.len())]);
    let (db, id) = {
        let c = c.borrow();
        (c.db, c.id)
    };
    runtime::gather(0..runtime::shards(), move || {
        with_ctx(db, |ctx| {
            populate_here(ctx, count, &prefix, size as usize, id)
        })
    })
    .await;
    Reply::Ok
}

/// The keys of a DEBUG POPULATE that this core owns.
fn populate_here(ctx: &mut Ctx, count: u64, prefix: &[u8], size: usize, by: u64) {
    // Redis formats the key into a 128-byte buffer: at most 127 bytes.
    const KEY_MAX: usize = 127;
    let me = runtime::me();
    let mut key = Vec::with_capacity(KEY_MAX);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        key.truncate(KEY_MAX);
        if crate::cluster::route::core(&key) != me || ctx.lookup_write(&key).is_some() {
            continue;
        }
        let mut value = format!("value:{j}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        ctx.insert(
            &key,
            Value::Str(Bytes::from(value).into()),
            0,
            crate::storage::evict::new_lru(),
        );
        super::key_changed(ctx.db, &key, by);
    }
}

/// Bytes of an RDB length prefix.
fn rdb_len_size(n: usize) -> usize {
    match n {
        0..=63 => 1,
        64..=16383 => 2,
        _ if n <= u32::MAX as usize => 5,
        _ => 9,
    }
}

/// What a string takes in an RDB file: small canonical integers are
/// stored as 1, 2 or 4 bytes plus a type byte, the rest as length and
/// bytes. (Redis would LZF-compress strings over 20 bytes when that
/// helps; that is not modelled here.)
fn rdb_string_len(b: &[u8]) -> usize {
    if b.len() <= 11 {
        if let Some(v) = parse_i64(b) {
            if v.to_string().as_bytes() == b {
                if i8::try_from(v).is_ok() {
                    return 2;
                } else if i16::try_from(v).is_ok() {
                    return 3;
                } else if i32::try_from(v).is_ok() {
                    return 5;
                }
            }
        }
    }
    rdb_len_size(b.len()) + b.len()
}

fn debug_object(ctx: &mut Ctx, key: &[u8]) -> Reply {
    ctx.no_touch = true;
    let Some(e) = ctx.lookup_read_nonotify(key) else {
        return err(errors::NO_SUCH_KEY);
    };
    let encoding = e.value.encoding();
    #[allow(unreachable_patterns)]
    let (serialized, refcount) = match &e.value {
        Value::Str(b) => {
            // Redis shares the objects for 0..9999 (OBJ_SHARED_REFCOUNT).
            let shared = encoding == "int" && parse_i64(b).is_some_and(|v| (0..10000).contains(&v));
            (rdb_string_len(b), if shared { i32::MAX } else { 1 })
        }
        v => (v.mem_usage(), 1),
    };
    let idle = lru_clock().saturating_sub(e.lru);
    Reply::status(format!(
        "Value at:{:p} refcount:{refcount} encoding:{encoding} serializedlength:{serialized} lru:{} lru_seconds_idle:{idle}",
        &e.value as *const Value,
        lru_24(e.lru),
    ))
}

// ---------------------------------------------------------------------------
// SHUTDOWN

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Nothing is ever pending
/// (shutdown starts at once), so ABORT always finds no shutdown to stop.
/// Saves first when asked, or by default when save rules exist.
fn shutdown(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let (mut nosave, mut save, mut force, mut abort, mut other) =
            (false, false, false, false, false);
        for a in &args[1..] {
            if is(a, "nosave") {
                nosave = true;
            } else if is(a, "save") {
                save = true;
            } else if is(a, "now") {
                other = true;
            } else if is(a, "force") {
                force = true;
            } else if is(a, "abort") {
                abort = true;
            } else {
                return err(errors::SYNTAX);
            }
        }
        if (abort && (nosave || save || force || other)) || (nosave && save) {
            return err(errors::SYNTAX);
        }
        if abort {
            return err(errors::NO_SHUTDOWN_IN_PROGRESS);
        }
        let mode = if nosave {
            Some(false)
        } else if save {
            Some(true)
        } else {
            None
        };
        crate::persistence::shutdown(mode, force).await;
        err(errors::SHUTDOWN_FAILED)
    })
}

// ---- replication: the master's side of the handshake, ROLE, WAIT ----

/// REPLCONF: a replica's settings before PSYNC; ACK and GETACK from a
/// connection that is not a replica link get no reply, as in Redis.
fn replconf(c: &mut ClientState, args: &[Bytes]) -> Reply {
    crate::replication::replconf(&mut c.repl_handshake, args).unwrap_or(Reply::Raw(Bytes::new()))
}

/// PSYNC / SYNC: the connection becomes a replica link on the control
/// executor, which writes every reply from here on.
fn psync(c: &mut ClientState, args: &[Bytes]) -> Reply {
    let failover = args.len() > 3 && is(&args[0], "psync") && is(&args[3], "failover");
    if failover && args[1] != crate::replication::replid().as_bytes() {
        return Reply::error("ERR PSYNC FAILOVER replid must match my replid.");
    }
    if crate::replication::failover::running() {
        return Reply::error("NOMASTERLINK Can't SYNC while failing over");
    }
    // A replica serves its own replicas only while its link is up.
    if crate::replication::replica::is_replica()
        && !crate::replication::replica::link_up()
        && !failover
    {
        return Reply::error("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    let hs = c.repl_handshake.take().map(|b| *b).unwrap_or_default();
    let client = crate::replication::LinkClient {
        id: c.id,
        addr: c.addr.clone(),
        laddr: c.laddr.clone(),
        fd: c.fd,
        created: c.created,
        last_io: std::time::Instant::now(),
        master: false,
        db: 0,
        cmd: String::from_utf8_lossy(&args[0]).to_lowercase(),
    };
    let req = match crate::replication::psync_request(args, hs, client) {
        Ok(r) => r,
        Err(e) => return e,
    };
    c.take_over = Some(super::client::TakeOver(Box::new(move |fd, rest| {
        runtime::spawn(async move {
            let job: runtime::Job = Box::new(move || {
                runtime::spawn(crate::replication::master::serve(fd, rest, req));
                Reply::Ok
            });
            runtime::run_on(runtime::control(), vec![job]).await;
        });
    })));
    Reply::Raw(Bytes::new())
}

fn role(_: &mut ClientState, _: &[Bytes]) -> Reply {
    crate::replication::role()
}

/// REPLICAOF host port | NO ONE, and SLAVEOF (its older name).
fn replicaof(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        use crate::replication::replica;
        if config::num(Opt::ClusterEnabled) == 1 {
            return err("ERR REPLICAOF not allowed in cluster mode.");
        }
        let who = c.borrow().info_line();
        if is(&args[1], "no") && is(&args[2], "one") {
            replica::stop(&who).await;
            return Reply::Ok;
        }
        let Some(port) = parse_i64(&args[2]).filter(|p| (0..=65535).contains(p)) else {
            return err("ERR Invalid master port");
        };
        let host = String::from_utf8_lossy(&args[1]).into_owned();
        if replica::start(host, port as u16, &who, true) {
            Reply::Ok
        } else {
            tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            Reply::Status("OK Already connected to specified master".into())
        }
    })
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | ABORT.
fn failover(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move { crate::replication::failover::command(&args).await })
}

/// WAIT numreplicas timeout.
fn wait(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let Some(n) = parse_i64(&args[1]) else {
            return err(errors::NOT_INTEGER);
        };
        let timeout = match parse_i64(&args[2]) {
            Some(t) if t < 0 => return Reply::error("ERR timeout is negative"),
            Some(t) => t,
            None => return Reply::error("ERR timeout is not an integer or out of range"),
        };
        if crate::replication::replica::is_replica() {
            return err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        }
        // Inside MULTI it cannot block: it answers what is acknowledged.
        if c.borrow().in_exec {
            return Reply::Int(crate::replication::acked(
                crate::replication::master_offset(),
            ));
        }
        crate::replication::wait(n, timeout).await
    })
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Conn, Coord};
    const N: (i32, i32, i32) = (0, 0, 0);
    let g = "server";
    t.extend([
        spec(
            "sync",
            1,
            ADMIN | NOSCRIPT | NO_MULTI,
            N,
            Conn(psync),
            Cross::Never,
            g,
            "An internal command used in replication.",
            "1.0.0",
        ),
        spec(
            "psync",
            -3,
            ADMIN | NOSCRIPT | NO_MULTI,
            N,
            Conn(psync),
            Cross::Never,
            g,
            "An internal command used in replication.",
            "2.8.0",
        ),
        spec(
            "replconf",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
            N,
            Conn(replconf),
            Cross::Never,
            g,
            "An internal command for configuring the replication stream.",
            "3.0.0",
        ),
        spec(
            "replicaof",
            3,
            ADMIN | NOSCRIPT | STALE,
            N,
            Coord(replicaof),
            Cross::Never,
            g,
            "Configures a server as replica of another, or promotes it to a master.",
            "5.0.0",
        ),
        spec(
            "slaveof",
            3,
            ADMIN | NOSCRIPT | STALE,
            N,
            Coord(replicaof),
            Cross::Never,
            g,
            "Sets a Redis server as a replica of another, or promotes it to being a master.",
            "1.0.0",
        ),
        spec(
            "failover",
            -1,
            ADMIN | NOSCRIPT | STALE,
            N,
            Coord(failover),
            Cross::Never,
            g,
            "Starts a coordinated failover from a server to one of its replicas.",
            "6.2.0",
        ),
        spec(
            "role",
            1,
            NOSCRIPT | LOADING | STALE | FAST,
            N,
            Conn(role),
            Cross::Never,
            g,
            "Returns the replication role.",
            "2.8.12",
        ),
        spec(
            "wait",
            3,
            NOSCRIPT,
            N,
            Coord(wait),
            Cross::Never,
            "generic",
            "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
            "3.0.0",
        ),
        spec(
            "info",
            -1,
            LOADING | STALE,
            N,
            Coord(info),
            Cross::Never,
            g,
            "Returns information and statistics about the server.",
            "1.0.0",
        ),
        spec(
            "config",
            -2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            N,
            Coord(config_cmd),
            Cross::Never,
            g,
            "A container for server configuration commands.",
            "2.0.0",
        ),
        spec(
            "command",
            -1,
            LOADING | STALE,
            N,
            Conn(command),
            Cross::Never,
            g,
            "Returns detailed information about all commands.",
            "2.8.13",
        ),
        spec(
            "dbsize",
            1,
            READONLY | FAST,
            N,
            Coord(dbsize),
            Cross::Never,
            g,
            "Returns the number of keys in the database.",
            "1.0.0",
        ),
        spec(
            "flushdb",
            -1,
            WRITE,
            N,
            Coord(flushdb),
            Cross::Never,
            g,
            "Remove all keys from the current database.",
            "1.0.0",
        ),
        spec(
            "flushall",
            -1,
            WRITE,
            N,
            Coord(flushall),
            Cross::Never,
            g,
            "Removes all keys from all databases.",
            "1.0.0",
        ),
        spec(
            "swapdb",
            3,
            WRITE | FAST,
            N,
            Coord(swapdb),
            Cross::Never,
            g,
            "Swaps two Redis databases.",
            "4.0.0",
        ),
        spec(
            "time",
            1,
            LOADING | STALE | FAST,
            N,
            Conn(time),
            Cross::Never,
            g,
            "Returns the server time.",
            "2.6.0",
        ),
        spec(
            "lastsave",
            1,
            LOADING | STALE | FAST,
            N,
            Conn(lastsave),
            Cross::Never,
            g,
            "Returns the Unix timestamp of the last successful save to disk.",
            "1.0.0",
        ),
        spec(
            "save",
            1,
            ADMIN | NOSCRIPT | NO_MULTI,
            N,
            Coord(save),
            Cross::Never,
            g,
            "Synchronously saves the database(s) to disk.",
            "1.0.0",
        ),
        spec(
            "bgrewriteaof",
            1,
            ADMIN | NOSCRIPT,
            N,
            Coord(bgrewriteaof),
            Cross::Never,
            g,
            "Asynchronously rewrites the append-only file to disk.",
            "1.0.0",
        ),
        spec(
            "bgsave",
            -1,
            ADMIN | NOSCRIPT,
            N,
            Coord(bgsave),
            Cross::Never,
            g,
            "Asynchronously saves the database(s) to disk.",
            "1.0.0",
        ),
        spec(
            "debug",
            -2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            N,
            Coord(debug),
            Cross::Never,
            g,
            "A container for debugging commands.",
            "1.0.0",
        ),
        spec(
            "shutdown",
            -1,
            ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
            N,
            Coord(shutdown),
            Cross::Never,
            g,
            "Synchronously saves the database(s) to disk and shuts down the Redis server.",
            "1.0.0",
        ),
        spec(
            "memory",
            -2,
            READONLY,
            (2, 2, 1),
            Coord(super::memory::memory),
            Cross::Never,
            g,
            "A container for memory diagnostics commands.",
            "4.0.0",
        ),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_like_redis() {
        let t = table();
        let cats = |n: &str| categories(t.lookup(n.as_bytes()).unwrap().1).join(" ");
        assert_eq!(cats("get"), "read string fast");
        assert_eq!(cats("set"), "write string slow");
        assert_eq!(cats("dbsize"), "keyspace read fast");
        assert_eq!(cats("flushall"), "keyspace write slow dangerous");
        assert_eq!(cats("swapdb"), "keyspace write fast dangerous");
        assert_eq!(cats("info"), "slow dangerous");
        assert_eq!(cats("shutdown"), "admin slow dangerous");
        assert_eq!(cats("sort"), "write set sortedset list slow dangerous");
        assert_eq!(cats("sort_ro"), "read set sortedset list slow dangerous");
    }

    #[test]
    fn rdb_lengths_match_debug_object() {
        // serializedlength values from redis-server 7.0.
        assert_eq!(rdb_string_len(b"bar"), 4);
        assert_eq!(rdb_string_len(b"12345"), 3);
        assert_eq!(rdb_string_len(b"1"), 2);
        assert_eq!(rdb_string_len(b"012"), 4);
    }
}
