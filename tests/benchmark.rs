//! redis-benchmark runs to completion against Redwing, with one and two
//! shard cores, with and without pipelining, on one key and on keys spread
//! over both cores, and no INCR is lost on the way; and its whole default
//! suite (every data type) completes without errors.
mod common;
use common::*;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The runs share two cores: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Longest a run of the six tests may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);
const REQUESTS: u64 = 100_000;
const TESTS: [&str; 6] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "MSET (10 keys)",
];

/// The tests of redis-benchmark 7.0's default suite (no `-t`), as it names them.
const DEFAULT_SUITE: [&str; 20] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// Runs redis-benchmark with `-n requests` and `extra` flags; returns
/// (command line, exit code, output).
fn redis_benchmark(s: &Server, requests: u64, extra: &[&str]) -> (String, Option<i32>, String) {
    let n = requests.to_string();
    let port = s.port.to_string();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-q", "-n", &n];
    args.extend_from_slice(extra);
    let line = format!("redis-benchmark {}", args.join(" "));
    let mut child = Command::new("redis-benchmark")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-benchmark (apt-get install redis-tools)");
    // Drain both pipes in threads so a chatty run cannot block on them.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
            panic!(
                "`{line}` against redwing did not finish in {RUN_LIMIT:?}; so far:\n{}",
                summary(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
    out.push_str(&String::from_utf8_lossy(&err_t.join().unwrap()));
    (line, status.code(), out)
}

/// The final "X: N requests per second" lines (progress lines end in \r).
fn results(out: &str) -> Vec<(String, f64)> {
    out.split(['\r', '\n'])
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(": ")?;
            let (num, _) = rest.split_once(" requests per second")?;
            Some((name.to_string(), num.trim().parse().ok()?))
        })
        .collect()
}

fn summary(out: &str) -> String {
    out.split(['\r', '\n'])
        .filter(|l| !l.contains("rps=") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the benchmark and checks each of `tests` completed without errors.
fn run_and_check(s: &Server, requests: u64, extra: &[&str], tests: &[&str]) {
    let (line, code, out) = redis_benchmark(s, requests, extra);
    let shown = summary(&out);
    assert_eq!(code, Some(0), "`{line}` failed:\n{shown}");
    assert!(
        !out.contains("Error") && !out.contains("ERR"),
        "`{line}` reported errors:\n{shown}"
    );
    let got = results(&out);
    for &t in tests {
        let rps = got
            .iter()
            .find(|(n, _)| n == t)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("`{line}`: no result for {t}:\n{shown}"));
        assert!(rps > 0.0, "`{line}`: {t} at {rps} rps");
    }
    assert_eq!(got.len(), tests.len(), "`{line}`:\n{shown}");
    eprintln!("{line}\n{shown}");
}

/// After the INCR test, the counters add up to the number of requests.
fn counters_sum(s: &Server) -> i64 {
    let mut c = s.conn();
    let keys: Vec<String> = redis::cmd("KEYS").arg("counter:*").query(&mut c).unwrap();
    let mut sum = 0;
    for chunk in keys.chunks(1000) {
        let vals: Vec<i64> = redis::cmd("MGET").arg(chunk).query(&mut c).unwrap();
        sum += vals.iter().sum::<i64>();
    }
    sum
}

fn bench(threads: &str, pipeline: &str, spread: bool) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = Server::start(&["--threads", threads]);
    let mut extra = vec!["-t", "ping,set,get,incr,mset", "-P", pipeline];
    if spread {
        extra.extend(["-r", "100000"]);
    }
    run_and_check(&s, REQUESTS, &extra, &TESTS);
    assert_eq!(counters_sum(&s), REQUESTS as i64, "INCRs lost");
    if !spread {
        assert_eq!(
            s.cli(&["get", "counter:__rand_int__"]).trim(),
            REQUESTS.to_string()
        );
    }
    assert_eq!(s.cli(&["ping"]).trim(), "PONG");
}

#[test]
fn one_core_no_pipeline() {
    bench("1", "1", false);
}

#[test]
fn one_core_pipeline_16() {
    bench("1", "16", false);
}

#[test]
fn one_core_spread_keys() {
    bench("1", "1", true);
}

#[test]
fn one_core_spread_keys_pipeline_16() {
    bench("1", "16", true);
}

#[test]
fn two_cores_no_pipeline() {
    bench("2", "1", false);
}

#[test]
fn two_cores_pipeline_16() {
    bench("2", "16", false);
}

#[test]
fn two_cores_spread_keys() {
    bench("2", "1", true);
}

#[test]
fn two_cores_spread_keys_pipeline_16() {
    bench("2", "16", true);
}

/// The whole default suite (strings, lists, sets, hashes, sorted sets),
/// keys spread over the cores.
fn default_suite(threads: &str, pipeline: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = Server::start(&["--threads", threads]);
    run_and_check(&s, 20_000, &["-P", pipeline, "-r", "10000"], &DEFAULT_SUITE);
    assert_eq!(s.cli(&["ping"]).trim(), "PONG");
}

#[test]
fn default_suite_one_core() {
    default_suite("1", "1");
}

#[test]
fn default_suite_one_core_pipeline_16() {
    default_suite("1", "16");
}

#[test]
fn default_suite_two_cores() {
    default_suite("2", "1");
}

#[test]
fn default_suite_two_cores_pipeline_16() {
    default_suite("2", "16");
}

#[test]
fn parses_redis_benchmark_output() {
    let out = "WARNING: x\nPING_INLINE: rps=0.0 (overall: nan) avg_msec=nan (overall: nan)\r\
PING_INLINE: 400000.00 requests per second, p50=0.655 msec\n\
MSET (10 keys): 1327.05 requests per second, p50=284.671 msec\n";
    assert_eq!(
        results(out),
        [
            ("PING_INLINE".to_string(), 400000.0),
            ("MSET (10 keys)".to_string(), 1327.05)
        ]
    );
}
