//! SLOWLOG, MONITOR and CLIENT PAUSE as Redis 7.0 answers them, side by
//! side with redis-server where replies compare, and across the cores of
//! a 2-core Redwing (clients placed on purpose with conn_on_core).

mod common;

use std::time::{Duration, Instant};

use common::{keys_on_two_cores, same_as_redis_both, RawClient, Server, PLACEMENTS};

/// How long a client that must stay held is watched.
const QUIET: Duration = Duration::from_millis(300);

#[test]
fn slowlog_errors_and_help_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &ours,
        &redis,
        &[
            &["SLOWLOG", "RESET"],
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "GET"],
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "FOO"],
            &["SLOWLOG", "LEN", "3"],
            &["SLOWLOG", "RESET", "1"],
            &["SLOWLOG"],
            &["CONFIG", "GET", "slowlog-log-slower-than"],
            &["CONFIG", "GET", "slowlog-max-len"],
        ],
    );
}

/// Each entry's arguments, client name, and whether its address is the
/// loopback one: what compares between servers (ids, times and durations
/// do not).
fn entries(c: &mut redis::Connection, count: &str) -> Vec<(Vec<String>, String, bool)> {
    let got: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(count)
        .query(c)
        .unwrap();
    got.into_iter()
        .map(|e| {
            let fields: Vec<redis::Value> = redis::from_redis_value(&e).unwrap();
            let args: Vec<String> = redis::from_redis_value(&fields[3]).unwrap();
            let addr: String = redis::from_redis_value(&fields[4]).unwrap();
            let name: String = redis::from_redis_value(&fields[5]).unwrap();
            (args, name, addr.starts_with("127.0.0.1:"))
        })
        .collect()
}

#[test]
fn slowlog_entries_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let long = "v".repeat(200);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut logs = Vec::new();
    for s in [&ours, &redis] {
        let mut c = s.conn();
        let run = |c: &mut redis::Connection, args: &[&str]| {
            let _: redis::Value = common::cmd(args).query(c).unwrap_or(redis::Value::Nil);
        };
        run(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        run(&mut c, &["SLOWLOG", "RESET"]);
        run(&mut c, &["CLIENT", "SETNAME", "tester"]);
        run(&mut c, &["SET", "k", &long]);
        let mut rpush = vec!["RPUSH", "list"];
        rpush.extend(many.iter().map(String::as_str));
        run(&mut c, &rpush);
        run(&mut c, &["AUTH", "nobody", "secret"]);
        run(&mut c, &["CONFIG", "SET", "requirepass", ""]);
        run(&mut c, &["MULTI"]);
        run(&mut c, &["INCR", "n"]);
        run(&mut c, &["EXEC"]);
        run(&mut c, &["NOSUCHCOMMAND"]);
        run(&mut c, &["GET"]);
        let got = entries(&mut c, "7");
        assert_eq!(got.len(), 7);
        logs.push(got);
        let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
        assert!(len >= 8, "{len}");
    }
    assert_eq!(logs[0], logs[1]);
    // The truncation rules, spelled out.
    let rpush = &logs[0].iter().find(|e| e.0[0] == "RPUSH").unwrap().0;
    assert_eq!(rpush.len(), 32);
    assert_eq!(rpush[31], "... (11 more arguments)");
    let set = &logs[0].iter().find(|e| e.0[0] == "SET").unwrap().0;
    assert_eq!(set[2], format!("{}... (72 more bytes)", "v".repeat(128)));
}

#[test]
fn slowlog_merges_every_core_newest_first() {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("slow");
    let mut admin = s.conn();
    common::q(
        &mut admin,
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    );
    let mut on = [s.conn_on_core(0), s.conn_on_core(1)];
    common::q(&mut on[1], &["CLIENT", "SETNAME", "second"]);
    common::q(&mut admin, &["SLOWLOG", "RESET"]);
    // Each client writes a key on each core: entries are made where the
    // command runs, with the client's address and name.
    for i in 0..4 {
        let key = if i % 2 == 0 { &k0 } else { &k1 };
        common::q(&mut on[i / 2], &["SET", key, &i.to_string()]);
    }
    let got: Vec<Vec<redis::Value>> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg("-1")
        .query(&mut admin)
        .unwrap();
    let sets: Vec<(i64, Vec<String>, String)> = got
        .iter()
        .map(|e| {
            let id: i64 = redis::from_redis_value(&e[0]).unwrap();
            let args: Vec<String> = redis::from_redis_value(&e[3]).unwrap();
            let name: String = redis::from_redis_value(&e[5]).unwrap();
            (id, args, name)
        })
        .filter(|(_, args, _)| args[0] == "SET")
        .collect();
    let values: Vec<&str> = sets.iter().map(|(_, a, _)| a[2].as_str()).collect();
    assert_eq!(values, ["3", "2", "1", "0"], "newest first");
    assert!(sets.windows(2).all(|w| w[0].0 == w[1].0 + 1), "{sets:?}");
    let names: Vec<&str> = sets.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(names, ["second", "second", "", ""]);
    // slowlog-max-len bounds the merged log.
    common::q(&mut admin, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    for i in 0..6 {
        common::q(&mut on[i % 2], &["PING"]);
    }
    assert_eq!(common::int(&mut admin, &["SLOWLOG", "LEN"]), 3);
    assert_eq!(entries(&mut admin, "-1").len(), 3);
    // A threshold that is not met logs nothing; -1 disables.
    common::q(
        &mut admin,
        &["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
    );
    common::q(&mut admin, &["SLOWLOG", "RESET"]);
    common::q(&mut on[0], &["PING"]);
    assert_eq!(common::int(&mut admin, &["SLOWLOG", "LEN"]), 0);
    common::q(
        &mut admin,
        &["CONFIG", "SET", "slowlog-log-slower-than", "50000"],
    );
    common::q(&mut on[1], &["DEBUG", "SLEEP", "0.1"]);
    common::q(&mut on[1], &["PING"]);
    let got: Vec<Vec<redis::Value>> = redis::cmd("SLOWLOG").arg("GET").query(&mut admin).unwrap();
    assert_eq!(got.len(), 1);
    let micros: i64 = redis::from_redis_value(&got[0][2]).unwrap();
    assert!((100_000..1_000_000).contains(&micros), "{micros}");
}

/// A MONITOR line without its time and client port:
/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` → `[0 127.0.0.1] "keys" "*"`.
fn monitor_line(line: &str) -> String {
    let line = line.trim_end();
    let (time, rest) = line.split_once(' ').unwrap();
    let t = time.strip_prefix('+').expect("a status line");
    let (secs, micros) = t.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    let (who, args) = rest.split_once("] ").unwrap();
    let who = who.rsplit_once(':').map_or(who, |(a, _)| a);
    format!("{who}] {args}")
}

/// The commands every MONITOR test sends, and what Redis 7.0 shows for
/// them (admin commands and the rejected ones are not shown).
const SENT: &[&[&str]] = &[
    &["SET", "a b\"\n", "x\u{1}\ty"],
    &["AUTH", "nobody", "secret"],
    &["CONFIG", "GET", "maxmemory"],
    &["CLIENT", "SETNAME", "n"],
    &["SLOWLOG", "HELP"],
    &["NOSUCH"],
    &["GET"],
    &["EVAL", "redis.call('set','k','v') return 1", "0"],
    &["MULTI"],
    &["INCR", "n"],
    &["EXEC"],
    &["PUBLISH", "ch", "m"],
];

fn send_all(c: &mut RawClient) {
    for args in SENT {
        c.call(args);
    }
}

fn read_lines(m: &mut RawClient, n: usize) -> Vec<String> {
    (0..n).map(|_| monitor_line(&m.read())).collect()
}

#[test]
fn monitor_lines_as_redis() {
    let redis = Server::redis(&[]);
    let mut m = RawClient::new(&redis);
    assert_eq!(m.call(&["MONITOR"]), "+OK\r\n");
    send_all(&mut RawClient::new(&redis));
    let want = read_lines(&mut m, 10);
    assert!(m.read_within(QUIET).is_none());
    assert_eq!(want[0], r#"[0 127.0.0.1] "SET" "a b\"\n" "x\x01\ty""#);

    let ours = Server::start(&[]);
    // The monitor and the client on each core, in every combination.
    for monitor_core in 0..2 {
        for p in PLACEMENTS {
            let mut sender = ours.raw_on_core(p.core_for(monitor_core));
            let mut m = ours.raw_on_core(monitor_core);
            assert_eq!(m.call(&["MONITOR"]), "+OK\r\n");
            send_all(&mut sender);
            assert_eq!(
                read_lines(&mut m, 10),
                want,
                "monitor on {monitor_core}, {p:?}"
            );
            assert!(m.read_within(QUIET).is_none());
            let list = sender.call(&["CLIENT", "LIST"]);
            assert_eq!(list.matches("flags=O").count(), 1, "{list}");
            // RESET ends monitor mode.
            m.send(&["RESET"]);
            while m.read() != "+RESET\r\n" {}
            sender.call(&["PING"]);
            assert!(m.read_within(QUIET).is_none());
        }
    }
}

#[test]
fn monitor_sees_commands_from_both_cores() {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("mon");
    let mut other = s.raw_on_core(1);
    let mut here = s.raw_on_core(0);
    let mut m = s.raw_on_core(0);
    m.call(&["MONITOR"]);
    // Keys on either core, written from clients on either core.
    other.call(&["SET", &k0, "1"]);
    here.call(&["SET", &k1, "1"]);
    other.call(&["SET", &k1, "1"]);
    let got = read_lines(&mut m, 3);
    for (line, key) in got.iter().zip([&k0, &k1, &k1]) {
        assert_eq!(line, &format!(r#"[0 127.0.0.1] "SET" "{key}" "1""#));
    }
}

/// Sends `args` from `c` and says whether the reply came within QUIET.
fn answered_soon(c: &mut RawClient, args: &[&str]) -> bool {
    c.send(args);
    c.read_within(QUIET).is_some()
}

#[test]
fn client_pause_errors_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &ours,
        &redis,
        &[
            &["CLIENT", "PAUSE", "100", "foo"],
            &["CLIENT", "PAUSE", "-1"],
            &["CLIENT", "PAUSE", "x"],
            &["CLIENT", "PAUSE", "10", "WRITE", "extra"],
            &["CLIENT", "UNPAUSE", "x"],
            &["CLIENT", "PAUSE"],
            &["CLIENT", "UNPAUSE"],
        ],
    );
}

#[test]
fn client_pause_holds_clients_on_every_core() {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("pause");
    for pauser_core in 0..2 {
        for p in PLACEMENTS {
            let at = p.core_for(pauser_core);
            let mut pauser = s.raw_on_core(pauser_core);
            let mut paused = s.raw_on_core(at);
            let mut reader = s.raw_on_core(at);

            // WRITE: writes (keys on either core) wait, reads go on.
            assert_eq!(
                pauser.call(&["CLIENT", "PAUSE", "5000", "WRITE"]),
                "+OK\r\n"
            );
            assert!(!answered_soon(&mut paused, &["SET", &k0, "1"]));
            assert_eq!(reader.call(&["GET", "never-set"]), "$-1\r\n");
            assert!(!answered_soon(&mut reader, &["PUBLISH", "ch", "m"]));
            assert!(!answered_soon(
                &mut s.raw_on_core(at),
                &["EVAL", "return redis.call('set', KEYS[1], 2)", "1", &k1]
            ));
            let mut ro = s.raw_on_core(at);
            assert_eq!(
                ro.call(&["EVAL", "#!lua flags=no-writes\nreturn 7", "0"]),
                ":7\r\n"
            );
            assert_eq!(pauser.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
            assert_eq!(
                paused.read(),
                "+OK\r\n",
                "the held write runs after UNPAUSE"
            );
            assert_eq!(reader.read(), ":0\r\n");

            // ALL: every command waits, CLIENT UNPAUSE too, until the time ends.
            let start = Instant::now();
            assert_eq!(pauser.call(&["CLIENT", "PAUSE", "700", "ALL"]), "+OK\r\n");
            assert!(!answered_soon(&mut paused, &["GET", &k0]));
            assert_eq!(paused.read(), "$1\r\n1\r\n");
            assert!(start.elapsed() >= Duration::from_millis(650));
            assert!(start.elapsed() < Duration::from_secs(3));
        }
    }
}

#[test]
fn client_pause_stops_expiry() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    common::q(&mut c, &["SET", "e", "1", "PX", "100"]);
    common::q(&mut c, &["CLIENT", "PAUSE", "600", "WRITE"]);
    std::thread::sleep(Duration::from_millis(250));
    // Past its time the key reads as missing, but stays until the pause ends.
    assert_eq!(common::int(&mut c, &["EXISTS", "e"]), 0);
    assert_eq!(common::int(&mut c, &["DBSIZE"]), 1);
    common::wait_for("expiry after the pause", Duration::from_secs(5), || {
        common::int(&mut c, &["DBSIZE"]) == 0
    });
}

#[test]
fn latency_monitor_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &ours,
        &redis,
        &[
            &["LATENCY", "HELP"],
            &["LATENCY", "LATEST"],
            &["LATENCY", "HISTORY", "command"],
            &["LATENCY", "HISTORY"],
            &["LATENCY", "RESET"],
            &["LATENCY", "RESET", "a", "b"],
            &["LATENCY", "FOO"],
            &["LATENCY", "LATEST", "x"],
            &["CONFIG", "GET", "latency-monitor-threshold"],
        ],
    );
    // A slow script on either core is a `command` sample of about its time.
    let slow = "local i = 0 while i < 20000000 do i = i + 1 end return 1";
    let mut shapes = Vec::new();
    for (s, cores) in [(&redis, vec![None]), (&ours, vec![Some(0), Some(1)])] {
        for core in cores {
            let mut c = match core {
                Some(n) => s.conn_on_core(n),
                None => s.conn(),
            };
            common::q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
            common::int(&mut c, &["LATENCY", "RESET"]);
            let start = Instant::now();
            common::q(&mut c, &["EVAL", slow, "0"]);
            let took = start.elapsed().as_millis() as i64;
            let latest: Vec<(String, i64, i64, i64)> =
                redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
            let command = latest
                .iter()
                .find(|e| e.0 == "command")
                .expect("a command sample");
            assert!(
                command.2 >= 1 && command.2 <= took + 10,
                "{command:?} {took}"
            );
            assert_eq!(command.2, command.3);
            let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
                .arg("HISTORY")
                .arg("command")
                .query(&mut c)
                .unwrap();
            assert!(!history.is_empty() && history.iter().any(|h| h.1 == command.2));
            assert_eq!(common::int(&mut c, &["LATENCY", "RESET", "command"]), 1);
            // The script's sample is gone (the RESET itself may leave one
            // on a loaded machine: it is timed to the µs).
            let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
                .arg("HISTORY")
                .arg("command")
                .query(&mut c)
                .unwrap();
            shapes.push(history.iter().filter(|h| h.1 == command.2).count() as i64);
            common::q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
        }
    }
    assert_eq!(shapes, [0, 0, 0]);
}

/// One command's histogram: name, calls, [(µs, cumulative calls)].
type Histogram = (String, i64, Vec<(i64, i64)>);

/// LATENCY HISTOGRAM's RESP2 reply.
fn histograms(c: &mut redis::Connection, names: &[&str]) -> Vec<Histogram> {
    let flat: Vec<redis::Value> = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg(names)
        .query(c)
        .unwrap();
    flat.chunks(2)
        .map(|kv| {
            let name: String = redis::from_redis_value(&kv[0]).unwrap();
            let body: Vec<redis::Value> = redis::from_redis_value(&kv[1]).unwrap();
            let key = |i: usize| redis::from_redis_value::<String>(&body[i]).unwrap();
            assert_eq!((key(0), key(2)), ("calls".into(), "histogram_usec".into()));
            let calls: i64 = redis::from_redis_value(&body[1]).unwrap();
            let buckets: Vec<i64> = redis::from_redis_value(&body[3]).unwrap();
            let buckets = buckets.chunks(2).map(|b| (b[0], b[1])).collect();
            (name, calls, buckets)
        })
        .collect()
}

/// The µs keys Redis's log-2 HDR iterator can report (1024 ns × 2^k,
/// as the highest value of its sub-bucket, in µs).
const HISTOGRAM_KEYS: &[i64] = &[
    1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
    270532, 541065, 1073741,
];

#[test]
fn latency_histogram_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &ours,
        &redis,
        &[
            &["LATENCY", "HISTOGRAM", "nosuchcommand"],
            &["LATENCY", "GRAPH"],
            &["LATENCY", "GRAPH", "command"],
            &["LATENCY", "DOCTOR", "x"],
            // One name each: a pattern's order is Redis's dict order,
            // which its random hash seed changes from run to run.
            &["CONFIG", "GET", "latency-tracking"],
            &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        ],
    );
    // Calls from both cores add up in one histogram per command and
    // subcommand (`config|get`, never `config`).
    let mut seen = Vec::new();
    for (s, cores) in [(&redis, vec![None]), (&ours, vec![Some(0), Some(1)])] {
        let mut first = s.conn();
        common::q(&mut first, &["CONFIG", "RESETSTAT"]);
        for core in &cores {
            let mut c = match core {
                Some(n) => s.conn_on_core(*n),
                None => s.conn(),
            };
            for i in 0..100 / cores.len() {
                common::q(&mut c, &["SET", &format!("k{i}"), "v"]);
            }
            common::q(&mut c, &["CONFIG", "GET", "port"]);
        }
        let h = histograms(&mut first, &["set", "config", "get"]);
        let names: Vec<&str> = h.iter().map(|x| x.0.as_str()).collect();
        // RESETSTAT counts itself after the reset.
        assert_eq!(names[0], "set");
        let mut subs = names[1..].to_vec();
        subs.sort();
        assert_eq!(subs, ["config|get", "config|resetstat"]);
        assert_eq!(h[0].1, 100);
        assert_eq!(
            h.iter().find(|x| x.0 == "config|get").unwrap().1,
            cores.len() as i64
        );
        for (_, calls, buckets) in &h {
            assert!(
                buckets.iter().all(|b| HISTOGRAM_KEYS.contains(&b.0)),
                "{h:?}"
            );
            assert!(buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
            assert_eq!(buckets.last().unwrap().1, *calls);
        }
        // Every histogram when none is named; RESP3 nests maps.
        let all = histograms(&mut first, &[]);
        assert!(all.iter().any(|x| x.0 == "latency|histogram"), "{all:?}");
        let mut raw = RawClient::new(s);
        raw.call_bytes(&["HELLO", "3"]);
        let r3 = raw.call_bytes(&["LATENCY", "HISTOGRAM", "set"]);
        assert!(
            r3.starts_with(
                b"%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:100\r\n$14\r\nhistogram_usec\r\n%"
            ),
            "{}",
            common::shown(&r3)
        );
        // INFO latencystats: one line per command at the configured percentiles.
        let info = |c: &mut redis::Connection| -> Vec<String> {
            let text: String = redis::cmd("INFO").arg("latencystats").query(c).unwrap();
            text.lines().map(|l| l.to_string()).collect()
        };
        let lines = info(&mut first);
        assert_eq!(lines[0], "# Latencystats");
        let set = lines
            .iter()
            .find(|l| l.starts_with("latency_percentiles_usec_set:"))
            .unwrap();
        // Each number masked as `9` (values differ, the format must not).
        let shape = |l: &str| -> String {
            let mut out = String::new();
            for c in l.chars() {
                if !c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('9') {
                    out.push('9');
                }
            }
            out
        };
        seen.push(shape(set));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("latency_percentiles_usec_config|get:p50=")));
        common::q(
            &mut first,
            &[
                "CONFIG",
                "SET",
                "latency-tracking-info-percentiles",
                "0 99.99 100",
            ],
        );
        let lines = info(&mut first);
        let set = lines
            .iter()
            .find(|l| l.starts_with("latency_percentiles_usec_set:"))
            .unwrap();
        assert!(
            set.contains(":p0=") && set.contains(",p99.99=") && set.contains(",p100="),
            "{set}"
        );
        seen.push(shape(set));
        let default: String = redis::cmd("INFO").query(&mut first).unwrap();
        assert!(!default.contains("Latencystats"));
        let every: String = redis::cmd("INFO")
            .arg("everything")
            .query(&mut first)
            .unwrap();
        let at = |s: &str| every.find(s).unwrap();
        assert!(
            at("# Errorstats") < at("# Latencystats") && at("# Latencystats") < at("# Cluster")
        );
        // Tracking off: no lines, nothing recorded.
        common::q(&mut first, &["CONFIG", "SET", "latency-tracking", "no"]);
        assert_eq!(info(&mut first), ["# Latencystats"]);
        common::q(&mut first, &["SET", "k", "v"]);
        assert_eq!(histograms(&mut first, &["set"])[0].1, 100);
        common::q(&mut first, &["CONFIG", "SET", "latency-tracking", "yes"]);
        common::q(&mut first, &["CONFIG", "RESETSTAT"]);
        assert!(histograms(&mut first, &["set"]).is_empty());
    }
    assert_eq!(seen[0], seen[2]);
    assert_eq!(seen[1], seen[3]);
}

#[test]
fn latency_graph_and_doctor_as_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&["--enable-debug-command", "yes"]);
    let mut texts = Vec::new();
    for (s, core) in [(&redis, None), (&ours, Some(0)), (&ours, Some(1))] {
        let mut c = match core {
            Some(n) => s.conn_on_core(n),
            None => s.conn(),
        };
        common::q(&mut c, &["LATENCY", "RESET"]);
        common::q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
        let doctor = |c: &mut redis::Connection| -> String {
            redis::cmd("LATENCY").arg("DOCTOR").query(c).unwrap()
        };
        let off = doctor(&mut c);
        assert!(
            off.starts_with("I'm sorry, Dave, I can't do that."),
            "{off}"
        );
        common::q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
        let quiet = doctor(&mut c);
        // A short spike, then a long one in a later second: two samples.
        common::q(&mut c, &["DEBUG", "SLEEP", "0.05"]);
        common::q(&mut c, &["DEBUG", "SLEEP", "1.1"]);
        let graph: String = redis::cmd("LATENCY")
            .arg("GRAPH")
            .arg("command")
            .query(&mut c)
            .unwrap();
        let lines: Vec<&str> = graph.lines().collect();
        let title = lines[0].split(" - ").collect::<Vec<_>>();
        assert_eq!(title[0], "command");
        assert!(
            title[1].starts_with("high 1") && title[1].contains(" ms, low "),
            "{graph}"
        );
        // The rule, four rows (the short spike at the bottom, the long one
        // filled to the top), a blank line, then each age written down.
        assert_eq!(
            lines[1..7],
            ["-".repeat(80).as_str(), " #", " |", " |", "_|", "  "],
            "{graph}"
        );
        assert!(lines[7..].last().unwrap() == &"ss", "{graph}");
        let report = doctor(&mut c);
        let mask = |t: &str| -> String {
            t.chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect()
        };
        texts.push((off, mask(&quiet), mask(&report)));
        common::q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
    }
    // (Digits masked.)
    assert!(
        texts[0].2.contains("9. command: 9 latency spikes (average"),
        "{}",
        texts[0].2
    );
    for t in &texts[1..] {
        assert_eq!(t, &texts[0]);
    }
}

/// LOLWUT as Redis 7.0 draws it: the pictures are random on both servers,
/// so what is compared is each one's size, characters and caption; the
/// default (version 7) and the errors are compared byte for byte.
#[test]
fn lolwut_as_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &ours,
        &redis,
        &[
            &["LOLWUT"],
            &["LOLWUT", "VERSION", "7"],
            &["LOLWUT", "VERSION", "4"],
            &["LOLWUT", "VERSION", "x"],
            &["LOLWUT", "VERSION", "5", "x"],
            &["LOLWUT", "VERSION", "6", "10", "x"],
            &["LOLWUT", "VERSION"],
            &["LOLWUT", "1", "2"],
        ],
    );
    // Per line: its length in characters and the set of characters used
    // (Braille cells for 5, escape sequences for 6), and the caption.
    let shape = |text: &str| -> Vec<(usize, bool)> {
        text.lines()
            .map(|l| {
                let cells = l.chars().count();
                let art = l.chars().all(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
                    || l.starts_with('\x1b');
                (cells, art)
            })
            .collect()
    };
    for args in [
        vec!["VERSION", "5"],
        vec!["VERSION", "5", "30", "4", "3"],
        vec!["VERSION", "5", "1", "1", "1"],
        vec!["VERSION", "6"],
        vec!["VERSION", "6", "33", "7"],
        vec!["VERSION", "6", "2000", "0"],
    ] {
        let get = |s: &Server| -> String {
            redis::cmd("LOLWUT")
                .arg(&args)
                .query(&mut s.conn())
                .unwrap()
        };
        let (a, b) = (get(&ours), get(&redis));
        let (sa, sb) = (shape(&a), shape(&b));
        // Version 6 cells are escape sequences of two lengths (by gray):
        // their counts per line compare below, not the characters.
        if args[1] == "5" {
            assert_eq!(sa, sb, "LOLWUT {args:?}\n{a}\n{b}");
        } else {
            let arts = |s: &[(usize, bool)]| -> Vec<bool> { s.iter().map(|x| x.1).collect() };
            assert_eq!(arts(&sa), arts(&sb), "LOLWUT {args:?}");
        }
        assert_eq!(a.lines().last(), b.lines().last(), "{args:?}");
        if args[1] == "6" {
            let escapes = |t: &str| -> Vec<usize> {
                t.lines().map(|l| l.matches("\x1b[0m").count()).collect()
            };
            assert_eq!(escapes(&a), escapes(&b));
        }
    }
}
