//! Issue 12 leftovers: a refused EXEC, scripts under maxmemory, and
//! `client-output-buffer-limit` for normal clients, each against
//! redis-server 7.0 as the oracle.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// EXEC refused before it runs (wrong arity, NOAUTH) discards the
/// transaction with EXECABORT and the reason, in or out of MULTI.
#[test]
fn refused_exec_aborts_as_redis() {
    compare_with_redis(
        &[],
        &[
            &["MULTI"],
            &["SET", "k", "v"],
            &["EXEC", "x"],
            &["PING"],
            &["EXEC"],
            &["EXEC", "x"],
            &["MULTI"],
            &["DISCARD", "x"],
            &["EXEC"],
            &["MULTI"],
            &["MULTI", "x"],
            &["EXEC"],
            &["GET", "k"],
        ],
    );
    // Before AUTH: arity is checked first (as Redis 7.0), then NOAUTH.
    let args = ["--requirepass", "pw"];
    let (rw, rd) = (Server::start(&args), Server::redis(&args));
    let cmds: [&[&str]; 4] = [&["EXEC"], &["EXEC", "x"], &["GET"], &["GET", "k"]];
    let (mut a, mut b) = (RawClient::new(&rw), RawClient::new(&rd));
    for c in cmds {
        let (x, y) = (a.call_bytes(c), b.call_bytes(c));
        assert_eq!(shown(&x), shown(&y), "{c:?}");
    }
}

/// A refused EXEC drops the client's WATCHes too (the writer on the same
/// core and on the other one).
#[test]
fn refused_exec_unwatches() {
    let s = Server::start(&[]);
    for p in PLACEMENTS {
        let mut a = s.raw_on_core(0);
        let mut b = s.raw_on_core(p.core_for(0));
        a.call(&["SET", "w", "1"]);
        a.call(&["WATCH", "w"]);
        a.call(&["MULTI"]);
        assert!(a.call(&["EXEC", "x"]).starts_with("-EXECABORT"));
        b.call(&["SET", "w", "2"]);
        a.call(&["MULTI"]);
        a.call(&["SET", "w", "3"]);
        // Not watched any more: the EXEC runs.
        assert_eq!(a.call(&["EXEC"]), "*1\r\n+OK\r\n");
        assert_eq!(b.call(&["GET", "w"]), "$1\r\n3\r\n");
    }
}

const LIB: &str = "#!lua name=lib
redis.register_function('w', function(k, a) return redis.call('set', k[1], 'y') end)
redis.register_function{function_name='r', callback=function(k, a) return redis.call('get', k[1]) end, flags={'no-writes'}}
redis.register_function{function_name='o', callback=function(k, a) return redis.call('set', k[1], 'z') end, flags={'allow-oom'}}";

/// Over maxmemory under noeviction: a script that declares flags and may
/// write is refused with -OOM before it runs; others run, and their first
/// `denyoom` write (before any other write) raises -OOM.
#[test]
fn scripts_over_maxmemory_as_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    for resp in [2, 3] {
        same_as_redis_resp(
            &rw,
            &rd,
            resp,
            &[
                &["FLUSHALL"],
                &["SET", "a", "b"],
                &["FUNCTION", "LOAD", "REPLACE", LIB],
                &["CONFIG", "SET", "maxmemory", "1"],
                &["SET", "a", "c"],
                &["EVAL", "return redis.call('set','a','b')", "0"],
                &["EVAL", "return redis.call('set',KEYS[1],'b')", "1", "a"],
                &["EVAL", "#!lua\nreturn redis.call('set','a','b')", "0"],
                &["EVAL", "#!lua\nreturn redis.call('get','a')", "0"],
                &["EVAL", "#!lua\nreturn 1", "x"],
                &["EVAL_RO", "#!lua\nreturn 1", "0"],
                &[
                    "EVAL",
                    "#!lua flags=no-writes\nreturn redis.call('get','a')",
                    "0",
                ],
                &[
                    "EVAL",
                    "#!lua flags=allow-oom\nreturn redis.call('set','a','c')",
                    "0",
                ],
                &["EVAL", "return redis.pcall('set','a','b')", "0"],
                &["EVAL", "return redis.call('get','a')", "0"],
                &[
                    "EVAL",
                    "redis.call('del','zz'); return redis.call('set','a','d')",
                    "0",
                ],
                &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
                &["FCALL", "w", "1", "x"],
                &["FCALL", "r", "1", "x"],
                &["FCALL", "o", "1", "x"],
                &["FCALL_RO", "r", "1", "x"],
                &["FCALL", "nosuch", "0"],
                &["CONFIG", "SET", "maxmemory", "0"],
                &["FCALL", "w", "1", "x"],
                &["GET", "a"],
            ],
        );
    }
}

#[test]
fn output_limit_config_as_redis() {
    compare_with_redis(
        &[],
        &[
            &["CONFIG", "GET", "client-output-buffer-limit"],
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1mb 512kb 10",
            ],
            &["CONFIG", "GET", "client-output-buffer-limit"],
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1x 0 0",
            ],
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1 2 3 pubsub 1",
            ],
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 0 0 0",
            ],
            &["CONFIG", "GET", "client-output-buffer-limit"],
        ],
    );
}

const MB: usize = 1024 * 1024;

/// Sends `n` GETs of `key` in one write and does not read; returns how
/// many bytes came back before the server closed the connection, or None
/// if it kept it open.
fn pipeline_gets(c: RawClient, key: &str, n: usize) -> Option<usize> {
    let mut s: TcpStream = c.into_stream();
    let one = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    std::io::Write::write_all(&mut s, one.repeat(n).as_bytes()).unwrap();
    // Not reading for a while lets the replies pile up on the server.
    std::thread::sleep(Duration::from_millis(300));
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    let mut buf = vec![0u8; MB];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) if got >= n * MB => return None,
            Err(_) => {}
        }
    }
    None
}

/// A client whose pending replies pass the normal class's hard limit is
/// closed and logged, as Redis does; a client under it, and other clients
/// on the same or the other core, keep being served.
#[test]
fn normal_client_past_hard_limit_is_closed() {
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 4mb 0 0",
    ];
    let value = "v".repeat(MB);
    // The oracle closes it too.
    let rd = Server::redis(&[]);
    RawClient::new(&rd).call(&limit);
    RawClient::new(&rd).call(&["SET", "big", &value]);
    assert!(pipeline_gets(RawClient::new(&rd), "big", 40).is_some());
    assert!(pipeline_gets(RawClient::new(&rd), "big", 3).is_none());

    let rw = Server::start(&[]);
    assert_eq!(RawClient::new(&rw).call(&limit), "+OK\r\n");
    assert_eq!(
        RawClient::new(&rw).call(&["CONFIG", "GET", "client-output-buffer-limit"]),
        RawClient::new(&rd).call(&["CONFIG", "GET", "client-output-buffer-limit"])
    );
    let mut setter = rw.raw_on_core(0);
    assert_eq!(setter.call(&["SET", "big", &value]), "+OK\r\n");
    for core in [0, 1] {
        for p in PLACEMENTS {
            let mut other = rw.raw_on_core(p.core_for(core));
            let greedy = rw.raw_on_core(core);
            let got = pipeline_gets(greedy, "big", 40);
            let got = got.expect("the client over the limit is closed");
            assert!(got < 8 * MB, "{got} bytes came out past a 4mb limit");
            assert_eq!(other.call(&["PING"]), "+PONG\r\n");
            assert_eq!(other.call(&["STRLEN", "big"]), format!(":{MB}\r\n"));
            // Under the limit: served in full.
            assert!(pipeline_gets(rw.raw_on_core(core), "big", 3).is_none());
        }
    }
    wait_for("the closing logged", Duration::from_secs(5), || {
        rw.log_text()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
    });
    // A big reply to one command is cut off the same way.
    let mut c = rw.raw_on_core(0);
    for i in 0..6 {
        c.call(&["RPUSH", "list", &value[..MB - i]]);
    }
    let lr = rw.raw_on_core(1);
    let mut s = lr.into_stream();
    std::io::Write::write_all(
        &mut s,
        b"*4\r\n$6\r\nLRANGE\r\n$4\r\nlist\r\n$1\r\n0\r\n$2\r\n-1\r\n",
    )
    .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{} bytes of a refused reply", rest.len());
    // Limit off again: the same reply comes.
    c.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 0 0 0",
    ]);
    let mut r = rw.raw_on_core(1);
    assert!(r
        .call_bytes(&["LRANGE", "list", "0", "-1"])
        .starts_with(b"*6\r\n"));
}
