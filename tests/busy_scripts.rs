//! Busy scripts and functions on `--threads 2`, with the other clients put
//! deliberately on the script's core and on the other core: past
//! busy-reply-threshold every client gets Redis's -BUSY, SCRIPT KILL /
//! FUNCTION KILL / SHUTDOWN NOSAVE act from any core, and the reply bytes
//! match redis-server's.

mod common;

use std::time::{Duration, Instant};

use common::*;

const THRESHOLD: &str = "100";
const BUSY_EVAL: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const BUSY_FUNCTION: &str =
    "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const LIB: &str =
    "#!lua name=busylib\nredis.register_function('spin', function() while true do end end)";

fn ours() -> Server {
    Server::start(&["--busy-reply-threshold", THRESHOLD])
}

fn redis() -> Server {
    let r = Server::redis(&[]);
    RawClient::new(&r).call(&["CONFIG", "SET", "busy-reply-threshold", THRESHOLD]);
    r
}

/// Sends `cmd` until it gets -BUSY (the script passed the threshold);
/// bounded.
fn wait_busy(c: &mut RawClient, cmd: &[&str]) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = c.call(cmd);
        if r.starts_with("-BUSY") {
            return r;
        }
        assert!(Instant::now() < deadline, "no -BUSY, last reply {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The script's client, `other` (same or other core), and a third on the
/// other placement, all opened before the script starts (CLIENT INFO, which
/// places them, is refused while busy). For redis-server, plain clients.
fn clients(s: &Server, placement: Option<Placement>) -> (RawClient, RawClient, RawClient) {
    match placement {
        Some(p) => (
            s.raw_on_core(0),
            s.raw_on_core(p.core_for(0)),
            s.raw_on_core(1 - p.core_for(0)),
        ),
        None => (RawClient::new(s), RawClient::new(s), RawClient::new(s)),
    }
}

/// Who sends a step of a transcript: the script's client, `other`, `third`.
const SCRIPT: usize = 0;
const OTHER: usize = 1;
const THIRD: usize = 2;
/// A step that reads the script's own reply.
const READ: &[&str] = &[];

/// Starts `run` on the script's client, waits until `other` gets -BUSY,
/// then runs `steps`. Returns every reply, for comparison with Redis.
fn transcript(
    s: &Server,
    placement: Option<Placement>,
    run: &[&str],
    steps: &[(usize, &[&str])],
) -> Vec<String> {
    let (script, other, third) = clients(s, placement);
    let mut c = [script, other, third];
    c[SCRIPT].send(run);
    let mut got = vec![wait_busy(&mut c[OTHER], &["PING"])];
    for &(who, cmd) in steps {
        got.push(if cmd.is_empty() {
            c[who].read()
        } else {
            c[who].call(cmd)
        });
    }
    got
}

/// EVAL busy loop: PING on both placements gets -BUSY, SCRIPT KILL from
/// `other` kills it.
fn eval_kill_transcript(s: &Server, placement: Option<Placement>) -> Vec<String> {
    let steps: &[(usize, &[&str])] = &[
        (THIRD, &["PING"]),
        (OTHER, &["FUNCTION", "KILL"]),
        (OTHER, &["SCRIPT", "LOAD", "return 1"]),
        (OTHER, &["SHUTDOWN"]),
        (OTHER, &["SCRIPT", "KILL"]),
        (SCRIPT, READ),
        (OTHER, &["PING"]),
        (SCRIPT, &["PING"]),
    ];
    transcript(s, placement, &["EVAL", "while true do end", "0"], steps)
}

/// Runs `transcript` on redis-server, then on ours once per placement,
/// and compares the bytes; returns our server.
fn same_as_redis(transcript: fn(&Server, Option<Placement>) -> Vec<String>, busy: &str) -> Server {
    let expected = transcript(&redis(), None);
    assert_eq!(expected[0], busy);
    let s = ours();
    for p in PLACEMENTS {
        assert_eq!(transcript(&s, Some(p)), expected, "placement {p:?}");
    }
    s
}

#[test]
fn eval_busy_loop_gets_busy_and_script_kill_from_both_placements() {
    let s = same_as_redis(eval_kill_transcript, BUSY_EVAL);
    assert!(s.log_text().contains("Slow script detected"));
}

fn fcall_kill_transcript(s: &Server, placement: Option<Placement>) -> Vec<String> {
    RawClient::new(s).call(&["FUNCTION", "LOAD", "REPLACE", LIB]);
    let steps: &[(usize, &[&str])] = &[
        (THIRD, &["GET", "x"]),
        (OTHER, &["SCRIPT", "KILL"]),
        (OTHER, &["FUNCTION", "KILL"]),
        (SCRIPT, READ),
    ];
    transcript(s, placement, &["FCALL", "spin", "0"], steps)
}

#[test]
fn fcall_busy_function_and_function_kill_from_both_placements() {
    same_as_redis(fcall_kill_transcript, BUSY_FUNCTION);
}

/// A script that wrote cannot be killed; SHUTDOWN NOSAVE from the
/// script's own core stops the server.
fn unkillable_transcript(s: &Server, placement: Option<Placement>) -> Vec<String> {
    let (mut script, mut other, _) = clients(s, placement);
    script.send(&[
        "EVAL",
        "redis.call('set', KEYS[1], 1) while true do end",
        "1",
        "w",
    ]);
    let mut got = vec![wait_busy(&mut other, &["PING"])];
    got.push(other.call(&["SCRIPT", "KILL"]));
    got.push(other.call(&["SHUTDOWN"]));
    other.send(&["SHUTDOWN", "NOSAVE"]);
    got.push(
        other
            .read_within(TIMEOUT)
            .unwrap_or_else(|| "closed".into()),
    );
    got
}

fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.split_whitespace().nth(2) == Some("Z"),
    }
}

#[test]
fn script_that_wrote_is_unkillable_and_shutdown_nosave_stops_the_server() {
    let r = redis();
    let expected = unkillable_transcript(&r, None);
    assert!(expected[1].starts_with("-UNKILLABLE"), "{expected:?}");
    wait_for("redis-server exit", TIMEOUT, || exited(r.pid()));
    let s = ours();
    let got = unkillable_transcript(&s, Some(Placement::SameCore));
    assert_eq!(got, expected);
    wait_for("redwing exit", TIMEOUT, || exited(s.pid()));
}

/// A wide script (keys on both cores) past the threshold: clients on both
/// cores get -BUSY, also for keys of the parked core; a kill from either
/// core stops it and both cores serve again.
#[test]
fn wide_busy_script_gets_busy_on_both_cores() {
    let s = ours();
    let (k0, k1) = keys_on_two_cores("wide:");
    for p in PLACEMENTS {
        let (mut script, mut other, mut third) = clients(&s, Some(p));
        script.send(&[
            "EVAL",
            "redis.call('get', KEYS[1]) redis.call('get', KEYS[2]) while true do end",
            "2",
            &k0,
            &k1,
        ]);
        assert_eq!(wait_busy(&mut other, &["PING"]), BUSY_EVAL);
        assert_eq!(third.call(&["PING"]), BUSY_EVAL);
        assert_eq!(third.call(&["GET", &k1]), BUSY_EVAL);
        assert_eq!(other.call(&["GET", &k0]), BUSY_EVAL);
        assert_eq!(third.call(&["SCRIPT", "KILL"]), "+OK\r\n");
        let err = script.read();
        assert!(err.starts_with("-ERR Script killed by user"), "{err}");
        assert_eq!(other.call(&["SET", &k1, "v"]), "+OK\r\n");
        assert_eq!(third.call(&["GET", &k1]), "$1\r\nv\r\n");
    }
}

/// A busy single-core script keeps its core's keys to itself: a write from
/// the other core that reached the core just before -BUSY waits, so the
/// script never sees its key change under it.
#[test]
fn busy_script_keeps_its_keys_atomic() {
    let s = ours();
    let (k0, _) = keys_on_two_cores("atom:");
    let (mut script, mut other, _) = clients(&s, Some(Placement::OtherCore));
    script.call(&["SET", &k0, "start"]);
    // Loops 300 ms past the threshold, then returns what it saw.
    script.send(&[
        "EVAL",
        "local a = redis.call('get', KEYS[1]) local t = redis.call('time') \
         local stop = t[1] * 1000000 + t[2] + 400000 \
         while true do local n = redis.call('time') \
         if n[1] * 1000000 + n[2] > stop then break end end \
         return {a, redis.call('get', KEYS[1])}",
        "1",
        &k0,
    ]);
    wait_busy(&mut other, &["PING"]);
    let reply = script.read();
    assert_eq!(reply, "*2\r\n$5\r\nstart\r\n$5\r\nstart\r\n");
    assert_eq!(other.call(&["GET", &k0]), "$5\r\nstart\r\n");
}
