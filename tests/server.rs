//! The server family with real clients: INFO, CONFIG, COMMAND, DBSIZE,
//! FLUSH*, SWAPDB, TIME, LASTSAVE, DEBUG, MEMORY, SHUTDOWN. Error texts
//! are compared byte for byte with redis-server 7.0.
mod common;
use common::*;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;

/// Starts redwing; `Server::start` waits for "Ready to accept
/// connections" (every core has its store) and panics with the log if the
/// server never gets there.
fn start(args: &[&str]) -> Server {
    Server::start(args)
}

fn wait_log(path: &std::path::Path, needle: &str) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Sends one command on a new connection and returns its whole reply.
fn line(s: &Server, args: &[&str]) -> String {
    RawClient::new(s).call(args)
}

fn cmd(c: &mut redis::Connection, args: &[&str]) -> Value {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).unwrap()
}

fn info(c: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(m: &HashMap<String, String>, k: &str) -> i64 {
    m.get(k)
        .unwrap_or_else(|| panic!("INFO has no {k}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} is not a number: {}", m[k]))
}

fn headers(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("# "))
        .map(String::from)
        .collect()
}

#[test]
fn info_fields_have_redis_names_and_move() {
    let s = start(&[]);
    let mut c = s.conn();
    let m = info(&mut c, "server");
    assert_eq!(m["redis_version"], "7.0.15");
    assert!(m.contains_key("redwing_version"));
    assert_eq!(m["redis_mode"], "standalone");
    assert_eq!(m["multiplexing_api"], "io_uring");
    assert_eq!(m["arch_bits"], "64");
    assert_eq!(num(&m, "process_id"), s.pid() as i64);
    assert_eq!(num(&m, "tcp_port"), s.port as i64);
    assert_eq!(num(&m, "shard_threads"), 2);
    assert_eq!(m["io_threads_active"], "0");
    assert_eq!(m["run_id"].len(), 40);
    assert!(m["run_id"].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(num(&m, "uptime_in_seconds") < 60);
    assert_eq!(num(&m, "hz"), 10);
    let again = info(&mut c, "server");
    assert_eq!(again["run_id"], m["run_id"], "run_id is fixed per process");

    let before = info(&mut c, "everything");
    assert!(num(&before, "connected_clients") >= 1);
    assert_eq!(num(&before, "maxclients"), 10000);
    assert!(num(&before, "used_memory") > 0);
    assert!(num(&before, "used_memory_rss") > 0);
    assert_eq!(before["maxmemory_policy"], "noeviction");
    // jemalloc, named as Redis names it (Debian's redis-server: jemalloc-5.3.0).
    assert!(
        before["mem_allocator"].starts_with("jemalloc-5."),
        "{}",
        before["mem_allocator"]
    );
    assert_eq!(before["loading"], "0");
    assert_eq!(before["aof_enabled"], "0");
    assert_eq!(before["rdb_last_bgsave_status"], "ok");
    assert_eq!(before["role"], "master");
    assert_eq!(before["master_replid"].len(), 40);
    assert_eq!(before["master_replid2"], "0".repeat(40));
    assert_eq!(before["second_repl_offset"], "-1");
    assert_eq!(before["repl_backlog_size"], "1048576");
    // Starting up took some CPU time: the counters are read, not zero.
    let cpu = |m: &HashMap<String, String>, k: &str| m[k].parse::<f64>().unwrap();
    assert!(
        cpu(&before, "used_cpu_user") + cpu(&before, "used_cpu_sys") > 0.0,
        "used_cpu_user/sys are zero"
    );
    assert!(before.contains_key("used_cpu_sys_main_thread"));
    assert_eq!(before["cluster_enabled"], "0");
    let lastsave = num(&before, "rdb_last_save_time");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 60..=now).contains(&lastsave));

    // Keys on both cores, one with a TTL.
    let (a, b) = keys_on_two_cores("info:");
    cmd(&mut c, &["SET", &a, "1"]);
    cmd(&mut c, &["SET", &b, "2", "EX", "100"]);
    cmd(&mut c, &["GET", &a]);
    cmd(&mut c, &["GET", "info:missing"]);
    let after = info(&mut c, "all");
    // Redis estimates avg_ttl in its expiry cycle (0 until the first one);
    // Redwing keeps no estimate and always shows 0 (README, differences).
    // The rest of the line is Redis's.
    assert_eq!(after["db0"], "keys=2,expires=1,avg_ttl=0");
    let r = Server::redis(&[]);
    let mut rc = r.conn();
    cmd(&mut rc, &["SET", &a, "1"]);
    cmd(&mut rc, &["SET", &b, "2", "EX", "100"]);
    wait_for("redis-server's avg_ttl estimate", TIMEOUT, || {
        let db0 = info(&mut rc, "keyspace")["db0"].clone();
        let ttl: i64 = db0.rsplit_once("avg_ttl=").unwrap().1.parse().unwrap();
        db0.starts_with("keys=2,expires=1,avg_ttl=") && ttl > 90_000 && ttl <= 100_000
    });
    assert!(
        num(&after, "total_commands_processed") >= num(&before, "total_commands_processed") + 4
    );
    assert!(num(&after, "rdb_changes_since_last_save") >= 2);
    assert!(num(&after, "keyspace_hits") > num(&before, "keyspace_hits"));
    assert!(num(&after, "keyspace_misses") > num(&before, "keyspace_misses"));
    assert!(num(&after, "total_net_input_bytes") > num(&before, "total_net_input_bytes"));
    assert!(num(&after, "total_net_output_bytes") > num(&before, "total_net_output_bytes"));
    assert!(num(&after, "total_reads_processed") > num(&before, "total_reads_processed"));
    // Sampled every 100 ms over the last 1.6 s, as Redis: commands
    // running now show up within a few samples.
    wait_for("instantaneous_ops_per_sec > 0", TIMEOUT, || {
        for _ in 0..200 {
            cmd(&mut c, &["PING"]);
        }
        num(&info(&mut c, "stats"), "instantaneous_ops_per_sec") > 0
    });
    assert!(num(&after, "total_connections_received") >= 1);
}

#[test]
fn info_sections_as_redis() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    let (mut c, mut rc) = (s.conn(), r.conn());
    for args in [
        vec![],
        vec!["default"],
        vec!["all"],
        vec!["keyspace", "cpu"],
        vec!["CPU", "cpu"],
        vec!["server", "nosuch"],
    ] {
        let ours: String = redis::cmd("INFO").arg(&args).query(&mut c).unwrap();
        let theirs: String = redis::cmd("INFO").arg(&args).query(&mut rc).unwrap();
        assert_eq!(headers(&ours), headers(&theirs), "INFO {args:?}");
    }
    assert_eq!(line(&s, &["INFO", "nosuch"]), line(&r, &["INFO", "nosuch"]));
    // Sections are separated by one empty line and end with CRLF.
    let text: String = redis::cmd("INFO")
        .arg("keyspace")
        .arg("cluster")
        .query(&mut c)
        .unwrap();
    assert_eq!(text, "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n");
}

/// Every INFO section has Redis 7.0's fields in Redis's order (plus
/// Redwing's own `redwing_version` and `shard_threads`), and the memory
/// fields that count scripts, functions and the data move as Redis's do.
#[test]
fn info_fields_as_redis() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    let names = |c: &mut redis::Connection, section: &str| -> Vec<String> {
        let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
        text.lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .filter(|k| k != "redwing_version" && k != "shard_threads")
            .collect()
    };
    let (mut c, mut rc) = (s.conn(), r.conn());
    let default: String = redis::cmd("INFO").query(&mut rc).unwrap();
    for header in headers(&default) {
        let section = header.trim_start_matches("# ").to_lowercase();
        // Lines per command, error code or database: compared elsewhere.
        if section.ends_with("stats") && section != "stats" || section == "keyspace" {
            continue;
        }
        assert_eq!(
            names(&mut c, &section),
            names(&mut rc, &section),
            "{section}"
        );
    }
    let server = info(&mut c, "server");
    assert_eq!(server["atomicvar_api"], "c11-builtin");
    assert!(server["redis_build_id"]
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));

    cmd(&mut c, &["SCRIPT", "LOAD", "return 1"]);
    cmd(&mut c, &["EVAL", "return 2", "0"]);
    let lib = "#!lua name=memlib\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f2', function() return 2 end)";
    cmd(&mut c, &["FUNCTION", "LOAD", lib]);
    let m = info(&mut c, "memory");
    assert_eq!(num(&m, "number_of_cached_scripts"), 2);
    assert_eq!(num(&m, "number_of_libraries"), 1);
    assert_eq!(num(&m, "number_of_functions"), 2);
    assert!(num(&m, "used_memory_lua") > 0, "{m:?}");
    assert!(num(&m, "used_memory_scripts_eval") >= ("return 1".len() + "return 2".len()) as i64);
    assert!(num(&m, "used_memory_functions") >= lib.len() as i64);
    assert_eq!(
        num(&m, "used_memory_scripts"),
        num(&m, "used_memory_scripts_eval") + num(&m, "used_memory_functions")
    );
    // Redis's split of used memory: overhead + dataset.
    for i in 0..2000 {
        cmd(&mut c, &["SET", &format!("m:{i}"), &"v".repeat(100)]);
    }
    let m = info(&mut c, "memory");
    assert_eq!(
        num(&m, "used_memory_overhead") + num(&m, "used_memory_dataset"),
        num(&m, "used_memory")
    );
    assert!(num(&m, "used_memory_dataset") > 200_000, "{m:?}");
}

/// INFO's recent buffer peaks and reply buffer resizes follow a big
/// request and a big reply (Redis 7.0's client_recent_max_*_buffer and
/// reply_buffer_expands/shrinks).
#[test]
fn info_buffer_peaks_and_reply_buffer_resizes() {
    let s = start(&[]);
    let mut c = s.conn();
    let before = info(&mut c, "everything");
    assert!(num(&before, "client_recent_max_input_buffer") < 1000);
    let big = "x".repeat(300_000);
    cmd(&mut c, &["SET", "big", &big]);
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c).unwrap();
    assert_eq!(got.len(), big.len());
    let after = info(&mut c, "everything");
    assert!(num(&after, "client_recent_max_input_buffer") >= 300_000);
    assert!(num(&after, "client_recent_max_output_buffer") >= 300_000);
    assert!(num(&after, "reply_buffer_expands") > num(&before, "reply_buffer_expands"));
    assert!(num(&after, "reply_buffer_shrinks") > num(&before, "reply_buffer_shrinks"));
}

#[test]
fn commandstats_count_calls_and_errorstats_count_errors() {
    let s = start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("cs:");
    cmd(&mut c, &["SET", &a, "1"]);
    cmd(&mut c, &["SET", &b, "1"]);
    assert_eq!(cmd(&mut c, &["CONFIG", "RESETSTAT"]), Value::Okay);
    for k in [&a, &b, &a] {
        cmd(&mut c, &["GET", k]);
    }
    cmd(&mut c, &["SET", &b, "2"]);
    let _ = redis::cmd("NOSUCHCOMMAND").query::<Value>(&mut c);
    let _ = redis::cmd("GET").query::<Value>(&mut c);
    let _ = redis::cmd("INCR").arg(&a).arg("x").query::<Value>(&mut c);
    let m = info(&mut c, "commandstats");
    let stat = |name: &str| -> HashMap<String, String> {
        m[&format!("cmdstat_{name}")]
            .split(',')
            .map(|kv| kv.split_once('=').unwrap())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(stat("get")["calls"], "3");
    assert_eq!(stat("get")["rejected_calls"], "1");
    assert_eq!(stat("set")["calls"], "1");
    assert_eq!(stat("config")["calls"].parse::<i64>().unwrap(), 1);
    assert!(stat("get")["usec_per_call"].contains('.'));
    assert!(!m.contains_key("cmdstat_ping"));
    let e = info(&mut c, "errorstats");
    assert_eq!(e["errorstat_ERR"], "count=3");
    let st = info(&mut c, "stats");
    assert_eq!(num(&st, "total_error_replies"), 3);
}

#[test]
fn config_get_set_round_trip_and_errors_as_redis() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    same_as_redis_both(
        &s,
        &r,
        &[
            &["CONFIG", "SET", "foo", "bar"],
            &["CONFIG", "SET", "maxclients", "abc"],
            &["CONFIG", "SET", "maxclients", "10", "maxclients", "20"],
            &["CONFIG", "SET", "hz", "5", "HZ", "6"],
            &["CONFIG", "SET", "hz", "5", "foo", "3"],
            &["CONFIG", "SET", "hz", "5", "maxclients"],
            &["CONFIG", "SET", "hz"],
            &["CONFIG", "SET", "protected-mode", "maybe"],
            &["CONFIG", "SET", "databases", "4"],
            &["CONFIG", "GET"],
            &["CONFIG", "foo"],
            &["CONFIG", "REWRITE"],
            &["CONFIG", "REWRITE", "x"],
            &["CONFIG", "RESETSTAT"],
            &["CONFIG", "SET", "maxclients", "50", "hz", "20"],
            &["CONFIG", "SET", "timeout", "0"],
        ],
    );
    // Redis's range for maxclients is that of an unsigned int; a failed
    // multi-set changes nothing.
    same_as_redis_both(
        &s,
        &r,
        &[
            &["CONFIG", "SET", "maxclients", "0"],
            &["CONFIG", "GET", "maxclients"],
            &["CONFIG", "GET", "HZ", "hz"],
            &["CONFIG", "GET", "maxclients", "maxclients"],
            &["CONFIG", "GET", "nosuch"],
            &["CONFIG", "GET", "maxc*"],
            &["CONFIG", "HELP"],
            &["CONFIG", "SET", "hz", "30", "maxclients", "0"],
            &["CONFIG", "GET", "hz"],
        ],
    );
    let mut c = s.conn();
    let m = info(&mut c, "server");
    assert_eq!(m["hz"], "20");
}

fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) {
            if let Ok(mut c) = c.get_connection_with_timeout(Duration::from_secs(1)) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn config_rewrite_then_restart_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redwing.conf");
    std::fs::write(&conf, "# my settings\nmaxclients 100\nhz 10\n").unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let spawn = |extra: &[String]| {
        let f = std::fs::File::create(&log).unwrap();
        let p = Proc(
            Command::new(redwing_bin())
                .arg(&conf)
                .args(extra)
                .current_dir(dir.path())
                .stdout(Stdio::from(f.try_clone().unwrap()))
                .stderr(Stdio::from(f))
                .spawn()
                .unwrap(),
        );
        assert!(
            wait_log(&log, "Ready to accept connections"),
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        p
    };
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--threads",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let url = format!("redis://127.0.0.1:{port}/");
    {
        let _p = spawn(&args);
        assert!(wait_ready(port));
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let m = info(&mut c, "server");
        assert_eq!(
            m["config_file"],
            std::fs::canonicalize(&conf).unwrap().display().to_string()
        );
        cmd(
            &mut c,
            &["CONFIG", "SET", "maxclients", "321", "timeout", "7"],
        );
        assert_eq!(cmd(&mut c, &["CONFIG", "REWRITE"]), Value::Okay);
    }
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with("# my settings\nmaxclients 321\nhz 10\n"),
        "{text}"
    );
    assert!(text.contains("\ntimeout 7\n"), "{text}");
    assert!(text.contains(&format!("\nport {port}\n")), "{text}");
    // Restart from the file alone: the port and the settings come back.
    let _p = spawn(&[]);
    assert!(wait_ready(port), "restart with the rewritten file");
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .arg("timeout")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["maxclients", "321", "timeout", "7"]);
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS as Redis 7.0 finds keys: key specs
/// (index, keyword, numkeys), and the commands' own rules where flags or
/// keys depend on the arguments (SET ... GET, BITFIELD, SORT ... STORE,
/// MIGRATE ... KEYS).
#[test]
fn command_getkeys_and_flags_as_redis() {
    let (s, r) = (start(&[]), Server::redis(&[]));
    let calls: &[&[&str]] = &[
        &["SET", "a", "b"],
        &["SET", "a", "b", "GET"],
        &["SET", "a", "b", "EX", "10", "get"],
        &["GET", "a"],
        &["MSET", "a", "1", "b", "2"],
        &["LMOVE", "a", "b", "LEFT", "RIGHT"],
        &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
        &["EVAL", "return 1", "2", "a", "b", "c"],
        &["EVAL", "return 1", "0"],
        &["EVAL", "return 1", "3", "a"],
        &["FCALL", "f", "1", "a", "b"],
        &["SORT", "a"],
        &["SORT", "a", "BY", "w_*", "STORE", "d"],
        &[
            "SORT", "a", "LIMIT", "0", "1", "GET", "#", "STORE", "d1", "STORE", "d2",
        ],
        &["SORT_RO", "a", "BY", "x"],
        &["MIGRATE", "h", "1", "k", "0", "5"],
        &["MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"],
        &[
            "MIGRATE", "h", "1", "", "0", "5", "COPY", "AUTH", "keys", "KEYS", "a",
        ],
        &["MIGRATE", "h", "1", "k", "0", "5", "KEYS", "a"],
        &["ZUNIONSTORE", "d", "2", "a", "b"],
        &["ZUNIONSTORE", "d", "x", "a", "b"],
        &["ZUNIONSTORE", "d", "5", "a", "b"],
        &["ZINTER", "2", "a", "b", "WEIGHTS", "1", "2"],
        &["LMPOP", "2", "a", "b", "LEFT"],
        &["BZMPOP", "0", "2", "a", "b", "MIN"],
        &["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "STREAMS",
            "s1",
            "s2",
            ">",
            ">",
        ],
        &["XREAD", "STREAMS", "s1", "s2", "0"],
        &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d"],
        &[
            "GEOSEARCHSTORE",
            "d",
            "g",
            "FROMMEMBER",
            "m",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["BITFIELD", "a", "GET", "u8", "0"],
        &["BITFIELD", "a", "GET", "u8", "0", "SET", "u8", "0", "1"],
        &["BITFIELD", "a", "OVERFLOW", "SAT", "GET", "u8", "0"],
        &["BITOP", "AND", "d", "a", "b"],
        &["RENAME", "a", "b"],
        &["COPY", "a", "b"],
        &["DEL", "a", "b", "c"],
        &["LCS", "a", "b"],
        &["OBJECT", "ENCODING", "a"],
        &["MEMORY", "USAGE", "a"],
        &["XINFO", "STREAM", "s"],
        &["XGROUP", "CREATE", "s", "g", "$"],
        &["PFCOUNT", "a", "b"],
        &["WATCH", "a", "b"],
        &["SPUBLISH", "ch", "m"],
        &["OBJECT", "nosuch", "a"],
        &["CONFIG", "GET", "x"],
        &["PING"],
        &["nosuch", "a"],
        &["GET"],
        &["GET", "a", "b"],
    ];
    let mut cmds: Vec<Vec<&str>> = Vec::new();
    for c in calls {
        for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
            let mut v = vec!["COMMAND", sub];
            v.extend_from_slice(c);
            cmds.push(v);
        }
    }
    cmds.push(vec!["COMMAND", "GETKEYSANDFLAGS", "set"]);
    cmds.push(vec!["COMMAND", "HELP"]);
    let cmds: Vec<&[&str]> = cmds.iter().map(|v| v.as_slice()).collect();
    same_as_redis_both(&s, &r, &cmds);
}

#[test]
fn command_info_key_specs_as_redis() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    // Commands whose Redis key specs carry no free-text notes (Redwing
    // leaves those out: SET, GETEX, XADD, EVAL, FCALL, SORT, PFCOUNT ...).
    let names = [
        "get",
        "mget",
        "mset",
        "del",
        "exists",
        "rename",
        "lmove",
        "blmove",
        "rpoplpush",
        "zunionstore",
        "zinterstore",
        "zadd",
        "xread",
        "xreadgroup",
        "evalsha",
        "migrate",
        "georadius",
        "georadiusbymember",
        "geosearchstore",
        "lmpop",
        "zmpop",
        "blmpop",
        "bitop",
        "pfmerge",
        "smove",
        "sinterstore",
        "sintercard",
        "copy",
        "incr",
        "hset",
        "lpush",
        "expire",
        "getdel",
        "setrange",
        "ping",
    ];
    command_fields_match(&s, &r, &names, 8..9);
}

#[test]
fn command_count_info_docs_getkeys() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    let mut c = s.conn();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    let all: Vec<Value> = redis::cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(all.len() as i64, count);
    // COMMAND LIST names subcommands too (COMMAND COUNT does not), as
    // Redis: what Redwing lists is what redis-server lists, less what
    // README gives a reason for.
    let list: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
    assert!(list.len() as i64 > count);
    for name in [
        "get",
        "set",
        "info",
        "config",
        "config|get",
        "command",
        "dbsize",
        "flushall",
        "memory",
        "memory|usage",
    ] {
        assert!(list.iter().any(|n| n == name), "{name}");
    }
    let theirs: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .query(&mut r.conn())
        .unwrap();
    let extra: Vec<&String> = list.iter().filter(|n| !theirs.contains(n)).collect();
    assert!(extra.is_empty(), "Redis has no {extra:?}");
    // What Redis has and Redwing lacks: only what README's "Differences
    // from Redis" gives a reason for (no modules, no Lua debugger).
    let mut missing: Vec<&str> = theirs
        .iter()
        .filter(|n| !list.contains(n))
        .map(|n| n.as_str())
        .collect();
    missing.sort_unstable();
    assert_eq!(
        missing,
        [
            "module",
            "module|help",
            "module|list",
            "module|load",
            "module|loadex",
            "module|unload",
            "script|debug"
        ]
    );

    let (mut c2, mut rc) = (s.conn(), r.conn());
    // Rows for commands whose table entry matches Redis's exactly.
    for name in [
        "get", "mget", "mset", "dbsize", "flushall", "swapdb", "shutdown", "info",
    ] {
        let ours: Vec<Value> = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(name)
            .query(&mut c2)
            .unwrap();
        let theirs: Vec<Value> = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(name)
            .query(&mut rc)
            .unwrap();
        let (Value::Array(o), Value::Array(t)) = (&ours[0], &theirs[0]) else {
            panic!("{name}: {ours:?}");
        };
        assert_eq!(o.len(), 10, "{name}");
        // name, arity, flags, first, last, step, categories.
        assert_eq!(o[..7], t[..7], "{name}");
    }
    let v: Vec<Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("nosuch")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(v[0], Value::Nil);
    assert!(matches!(&v[1], Value::Array(row) if row[0] == Value::BulkString(b"get".to_vec())));

    let docs: HashMap<String, HashMap<String, String>> = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("get")
        .arg("nosuch")
        .arg("dbsize")
        .query(&mut c)
        .unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs["get"]["group"], "string");
    assert_eq!(docs["get"]["since"], "1.0.0");
    assert!(!docs["dbsize"]["summary"].is_empty());

    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("memory")
        .arg("usage")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["k"]);

    same_as_redis_both(
        &s,
        &r,
        &[
            &["COMMAND", "GETKEYS", "nosuch", "a"],
            &["COMMAND", "GETKEYS", "echo", "x"],
            &["COMMAND", "GETKEYS", "get", "a", "b"],
            &["COMMAND", "GETKEYS", "get"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "foo"],
            &["COMMAND", "LIST", "foo"],
            &["COMMAND", "LIST", "FILTERBY", "foo", "bar"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "ech*"],
            &["COMMAND", "LIST", "FILTERBY", "MODULE", "m"],
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"],
        ],
    );
    let conn_cat: Vec<String> = redis::cmd("COMMAND")
        .arg(&["LIST", "FILTERBY", "ACLCAT", "CONNECTION"])
        .query(&mut c)
        .unwrap();
    assert!(conn_cat.contains(&"ping".to_string()));
    assert!(!conn_cat.contains(&"get".to_string()));
}

#[test]
fn dbsize_flush_swapdb_across_cores() {
    let s = start(&[]);
    let r = Server::redis(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("db:");
    cmd(&mut c, &["SET", &a, "1"]);
    cmd(&mut c, &["SET", &b, "1"]);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(2));
    cmd(&mut c, &["SELECT", "1"]);
    cmd(&mut c, &["SET", &b, "x"]);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(1));

    // Both cores swap: db1 now holds the two keys.
    assert_eq!(cmd(&mut c, &["SWAPDB", "0", "1"]), Value::Okay);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(2));
    assert_eq!(cmd(&mut c, &["GET", &a]), Value::BulkString(b"1".to_vec()));
    cmd(&mut c, &["SELECT", "0"]);
    assert_eq!(cmd(&mut c, &["GET", &b]), Value::BulkString(b"x".to_vec()));

    let dirty =
        |c: &mut redis::Connection| num(&info(c, "persistence"), "rdb_changes_since_last_save");
    let before = dirty(&mut c);
    assert_eq!(cmd(&mut c, &["FLUSHDB", "SYNC"]), Value::Okay);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(0));
    assert_eq!(dirty(&mut c), before + 1);
    cmd(&mut c, &["SELECT", "1"]);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(2));
    assert_eq!(cmd(&mut c, &["FLUSHALL", "ASYNC"]), Value::Okay);
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Value::Int(0));
    assert_eq!(dirty(&mut c), before + 3);
    assert_eq!(info(&mut c, "keyspace").len(), 0);

    same_as_redis_both(
        &s,
        &r,
        &[
            &["SWAPDB", "a", "1"],
            &["SWAPDB", "1", "a"],
            &["SWAPDB", "0", "100"],
            &["SWAPDB", "-1", "0"],
            &["SWAPDB", "0", "0"],
            &["FLUSHALL", "foo"],
            &["FLUSHDB", "sync", "async"],
            &["FLUSHALL", "SYNC"],
            &["DBSIZE", "x"],
        ],
    );
}

#[test]
fn time_and_lastsave() {
    let s = start(&[]);
    let mut c = s.conn();
    let t: Vec<String> = redis::cmd("TIME").query(&mut c).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let secs: i64 = t[0].parse().unwrap();
    let micros: i64 = t[1].parse().unwrap();
    assert!((secs - now).abs() <= 1);
    assert!((0..1_000_000).contains(&micros));
    let last: i64 = redis::cmd("LASTSAVE").query(&mut c).unwrap();
    assert!(last <= now && last > now - 60);
}

#[test]
fn debug_and_memory() {
    let s = start(&[]);
    let r = Server::redis(&["--enable-debug-command", "yes"]);
    let (a, b) = keys_on_two_cores("dbg:");
    for srv in [&s, &r] {
        let mut c = srv.conn();
        cmd(&mut c, &["SET", &a, "bar"]);
        cmd(&mut c, &["SET", &b, "12345"]);
    }
    let obj = line(&s, &["DEBUG", "OBJECT", &a]);
    assert!(obj.starts_with("+Value at:0x"), "{obj}");
    assert!(
        obj.contains(" refcount:1 encoding:embstr serializedlength:4 lru:"),
        "{obj}"
    );
    assert!(obj.contains(" lru_seconds_idle:"), "{obj}");
    let obj = line(&s, &["DEBUG", "OBJECT", &b]);
    assert!(obj.contains("encoding:int serializedlength:3 "), "{obj}");

    let mut c = s.conn();
    let used: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&a)
        .query(&mut c)
        .unwrap();
    assert!(used >= 3 + a.len() as i64, "{used}");
    let big = "x".repeat(10000);
    cmd(&mut c, &["SET", &b, &big]);
    let used_big: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&b)
        .arg("SAMPLES")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert!(used_big >= 10000, "{used_big}");

    same_as_redis_both(
        &s,
        &r,
        &[
            &["DEBUG", "OBJECT", "nokey"],
            &["DEBUG", "OBJECT"],
            &["DEBUG", "foo"],
            &["DEBUG", "SLEEP", "0"],
            &["DEBUG", "SLEEP", "abc"],
            &["MEMORY", "USAGE", "nokey"],
            &["MEMORY", "USAGE", &a, "SAMPLES"],
            &["MEMORY", "USAGE", &a, "SAMPLES", "-1"],
            &["MEMORY", "USAGE", &a, "SAMPLES", "x"],
            &["MEMORY", "USAGE", &a, "BLAH", "1"],
            &["MEMORY", "USAGE"],
            &["MEMORY", "foo"],
            &["MEMORY"],
        ],
    );
    // DEBUG SLEEP stops the whole server, as Redis's does: tests/debug.rs.
}

#[test]
fn shutdown_exits_with_status_zero() {
    let r = Server::redis(&[]);
    let gone = tempfile::tempdir().unwrap();
    let mut s = start(&["--dir", gone.path().to_str().unwrap()]);
    same_as_redis_both(
        &s,
        &r,
        &[
            &["SHUTDOWN", "ABORT"],
            &["SHUTDOWN", "foo"],
            &["SHUTDOWN", "NOSAVE", "SAVE"],
            &["SHUTDOWN", "ABORT", "NOW"],
        ],
    );
    // A save that cannot be written (its dir is gone): SHUTDOWN SAVE refuses.
    std::fs::remove_dir_all(gone.path()).unwrap();
    assert_eq!(
        line(&s, &["SHUTDOWN", "SAVE"]),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    // FORCE ignores the failed save (NOW: no replicas to wait for anyway).
    let mut c = s.raw();
    let got = raw_roundtrip(
        &mut c,
        b"*4\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n$3\r\nNOW\r\n$5\r\nFORCE\r\n",
        b"\r\n",
    );
    assert!(got.is_empty(), "SHUTDOWN does not reply: {got:?}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "still running after SHUTDOWN");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SHUTDOWN NOW saves (save rules exist) without waiting, and exits 0.
#[test]
fn shutdown_now_saves_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(&["--dir", dir.path().to_str().unwrap(), "--save", "3600 1"]);
    let mut c = s.conn();
    cmd(&mut c, &["SET", "k", "v"]);
    let mut raw = s.raw();
    let got = raw_roundtrip(&mut raw, b"SHUTDOWN NOW\r\n", b"\r\n");
    assert!(got.is_empty(), "SHUTDOWN does not reply: {got:?}");
    wait_for("the exit", TIMEOUT, || {
        s.child.try_wait().unwrap().is_some()
    });
    assert_eq!(s.child.try_wait().unwrap().unwrap().code(), Some(0));
    let dump = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    assert!(dump.starts_with(b"REDIS0010"));
    assert!(dump.windows(2).any(|w| w == b"\x01k"), "k is in the dump");
}

/// Redis 6's ziplist option names still work, in files, on the command
/// line and with CONFIG, and read back as Redis shows them.
#[test]
fn old_ziplist_option_names() {
    let rw = Server::start(&["--hash-max-ziplist-entries", "64"]);
    let rd = Server::redis(&["--hash-max-ziplist-entries", "64"]);
    for s in [&rw, &rd] {
        let mut c = s.conn();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("zset-max-ziplist-value")
            .arg("32")
            .query(&mut c)
            .unwrap();
        let a: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("hash-max-ziplist-entries")
            .query(&mut c)
            .unwrap();
        let b: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("zset-max-listpack-value")
            .query(&mut c)
            .unwrap();
        assert_eq!(a, ["hash-max-ziplist-entries", "64"], "port {}", s.port);
        assert_eq!(b, ["zset-max-listpack-value", "32"], "port {}", s.port);
    }
}

/// CLIENT INFO names the serving core, and the harness can place a
/// connection on each core of a 2-core server on purpose.
#[test]
fn client_info_names_the_core_and_connections_can_be_placed() {
    let s = Server::start(&[]);
    let mut a = s.conn_on_core(0);
    let mut b = s.conn_on_core(1);
    assert_eq!(common::core_of(&mut a), 0);
    assert_eq!(common::core_of(&mut b), 1);
    let mut c = s.conn_same_core_as(&mut b);
    assert_eq!(common::core_of(&mut c), 1);
    let mut d = s.conn_other_core_than(&mut b);
    assert_eq!(common::core_of(&mut d), 0);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut a).unwrap();
    let cores: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("core=")))
        .collect();
    assert!(cores.contains(&"0") && cores.contains(&"1"), "{list}");
}
