//! Blocking commands as Redis 7.0 serves them: a key made ready is handled
//! after the whole command, EXEC or script that made it ready, never in the
//! middle; a serve that fails passes the data to the next waiter; CLIENT
//! UNBLOCK works from any core. Every scenario runs on a 2-core Redwing
//! with the waiter and the writer on the same core and on different cores,
//! and the key on each core, and is compared with redis-server.

mod common;

use std::time::Duration;

use common::{keys_on_two_cores, q, wait_blocked, RawClient, Server, PLACEMENTS};

/// How long a waiter that must not be woken is watched.
const QUIET: Duration = Duration::from_millis(300);

/// Where the clients and keys of one run are: None for redis-server.
#[derive(Clone, Copy, Debug)]
struct At {
    waiter: usize,
    writer: usize,
    /// The core of the key the waiter blocks on.
    key: usize,
}

/// Runs `scenario` on redis-server once and on Redwing for every
/// placement (waiter core, writer same/other core, key on each core), and
/// requires the same transcript each time.
fn compare(scenario: impl Fn(&Server, Option<At>, &[String; 2]) -> Vec<String>) {
    let oracle = Server::redis(&[]);
    let names = keys_on_two_cores("bk");
    let names = [names.0, names.1];
    let want = normalize(scenario(&oracle, None, &names), None, &names);
    let s = Server::start(&[]);
    for waiter in 0..2 {
        for p in PLACEMENTS {
            for key in 0..2 {
                let at = At {
                    waiter,
                    writer: p.core_for(waiter),
                    key,
                };
                let mut c = s.conn();
                q(&mut c, &["FLUSHALL"]);
                let got = normalize(scenario(&s, Some(at), &names), Some(at), &names);
                assert_eq!(got, want, "{at:?}");
            }
        }
    }
}

/// The transcript with the run's key names as <K> and <O>, so runs with
/// the key on either core compare.
fn normalize(out: Vec<String>, at: Option<At>, names: &[String; 2]) -> Vec<String> {
    let (k, o) = keys(at, names);
    out.into_iter()
        .map(|l| l.replace(&k, "<K>").replace(&o, "<O>"))
        .collect()
}

/// The waiter's raw connection, on its core.
fn waiter(s: &Server, at: Option<At>) -> RawClient {
    match at {
        Some(a) => s.raw_on_core(a.waiter),
        None => RawClient::new(s),
    }
}

/// The writer's connection, on its core.
fn writer(s: &Server, at: Option<At>) -> redis::Connection {
    match at {
        Some(a) => s.conn_on_core(a.writer),
        None => s.conn(),
    }
}

/// The key the waiter blocks on (on `at.key`'s core) and one on the other core.
fn keys(at: Option<At>, names: &[String; 2]) -> (String, String) {
    let k = at.map_or(0, |a| a.key);
    (names[k].clone(), names[1 - k].clone())
}

/// The waiter's next reply, or "none" if nothing comes within QUIET.
fn quiet(w: &mut RawClient) -> String {
    w.read_within(QUIET).unwrap_or_else(|| "none".into())
}

/// Runs `cmds` as one MULTI/EXEC; the EXEC reply.
fn exec(c: &mut redis::Connection, cmds: &[&[&str]]) -> String {
    q(c, &["MULTI"]);
    for a in cmds {
        q(c, a);
    }
    q(c, &["EXEC"])
}

/// A blocking command (with `{k}` for the key, `{o}` for a key on the
/// other core), the command that feeds it, and the blocked name.
struct Blocker {
    block: &'static [&'static str],
    push: &'static [&'static str],
    name: &'static str,
}

const BLOCKERS: &[Blocker] = &[
    Blocker {
        block: &["BLPOP", "{k}", "5"],
        push: &["LPUSH", "{k}", "{v}"],
        name: "blpop",
    },
    Blocker {
        block: &["BRPOP", "{k}", "5"],
        push: &["RPUSH", "{k}", "{v}"],
        name: "brpop",
    },
    Blocker {
        block: &["BLMOVE", "{k}", "{o}", "LEFT", "RIGHT", "5"],
        push: &["LPUSH", "{k}", "{v}"],
        name: "blmove",
    },
    Blocker {
        block: &["BLMOVE", "{k}", "{k}x", "RIGHT", "LEFT", "5"],
        push: &["LPUSH", "{k}", "{v}"],
        name: "blmove",
    },
    Blocker {
        block: &["BRPOPLPUSH", "{k}", "{o}", "5"],
        push: &["LPUSH", "{k}", "{v}"],
        name: "brpoplpush",
    },
    Blocker {
        block: &["BLMPOP", "5", "2", "{o}", "{k}", "LEFT", "COUNT", "2"],
        push: &["LPUSH", "{k}", "{v}"],
        name: "blmpop",
    },
    Blocker {
        block: &["BZPOPMIN", "{o}", "{k}", "5"],
        push: &["ZADD", "{k}", "1", "{v}"],
        name: "bzpopmin",
    },
    Blocker {
        block: &["BZPOPMAX", "{k}", "5"],
        push: &["ZADD", "{k}", "1", "{v}"],
        name: "bzpopmax",
    },
    Blocker {
        block: &["BZMPOP", "5", "1", "{k}", "MIN"],
        push: &["ZADD", "{k}", "1", "{v}"],
        name: "bzmpop",
    },
];

fn fill(args: &[&str], k: &str, o: &str, v: &str) -> Vec<String> {
    args.iter()
        .map(|a| {
            a.replace("{k}x", &format!("{{{k}}}x"))
                .replace("{k}", k)
                .replace("{o}", o)
                .replace("{v}", v)
        })
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// One step of a scripted scenario, with `{k}` for the key the waiter
/// blocks on and `{o}` for a key on the other core.
enum Step {
    /// The waiter sends this blocking command; the step ends once CLIENT
    /// LIST shows it blocked.
    Block(&'static [&'static str]),
    /// The writer runs a command: its reply goes to the transcript.
    Write(&'static [&'static str]),
    /// The writer runs these in one MULTI/EXEC: the EXEC reply goes to the
    /// transcript.
    Exec(&'static [&'static [&'static str]]),
    /// The waiter's next reply.
    Read,
    /// The waiter's next reply, or "none" if nothing comes within QUIET.
    Quiet,
    /// The waiter runs a command (once it was served).
    Call(&'static [&'static str]),
}
use Step::*;

/// Plays `steps` with one waiter and one writer placed as `at` says; the
/// transcript of what each step returned.
fn play(s: &Server, at: Option<At>, names: &[String; 2], steps: &[Step]) -> Vec<String> {
    let (k, o) = keys(at, names);
    let args = |a: &[&str]| fill(a, &k, &o, "");
    let mut c = writer(s, at);
    let mut w = waiter(s, at);
    let mut out = Vec::new();
    for step in steps {
        match step {
            Block(cmd) => {
                w.send(&strs(&args(cmd)));
                wait_blocked(&mut c, &cmd[0].to_lowercase(), 1);
            }
            Write(cmd) => out.push(q(&mut c, &strs(&args(cmd)))),
            Exec(cmds) => {
                let filled: Vec<Vec<String>> = cmds.iter().map(|a| args(a)).collect();
                let refs: Vec<Vec<&str>> = filled.iter().map(|a| strs(a)).collect();
                let refs: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
                out.push(exec(&mut c, &refs));
            }
            Read => out.push(w.read()),
            Quiet => out.push(quiet(&mut w)),
            Call(cmd) => out.push(w.call(&strs(&args(cmd)))),
        }
    }
    out
}

/// `MULTI; push; DEL; EXEC` wakes nobody, for every blocking command; the
/// next push reaches the waiter, with THAT element.
#[test]
fn exec_push_then_del_wakes_nobody() {
    compare(|s, at, names| {
        let (k, o) = keys(at, names);
        let mut out = Vec::new();
        for b in BLOCKERS {
            let mut c = writer(s, at);
            q(&mut c, &["DEL", &k, &o, &format!("{k}x")]);
            let mut w = waiter(s, at);
            w.send(&strs(&fill(b.block, &k, &o, "")));
            wait_blocked(&mut c, b.name, 1);
            let push = fill(b.push, &k, &o, "early");
            out.push(exec(&mut c, &[&strs(&push), &["DEL", &k]]));
            out.push(quiet(&mut w));
            q(&mut c, &strs(&fill(b.push, &k, &o, "late")));
            out.push(w.read());
            out.push(q(&mut c, &["EXISTS", &k]));
        }
        out
    });
}

/// `LPUSH k x; DEL k; SET k foo` in one transaction: the waiter is not
/// woken and, as in Redis 7.0, keeps waiting (no WRONGTYPE).
#[test]
fn exec_push_del_set_keeps_waiting() {
    compare(|s, at, names| {
        play(
            s,
            at,
            names,
            &[
                Block(&["BLPOP", "{k}", "5"]),
                Exec(&[
                    &["LPUSH", "{k}", "x"],
                    &["DEL", "{k}"],
                    &["SET", "{k}", "foo"],
                ]),
                Quiet,
                Write(&["DEL", "{k}"]),
                Write(&["LPUSH", "{k}", "y"]),
                Read,
            ],
        )
    });
}

/// The waiter is served after the whole EXEC: `RPUSH a; RPUSH b; LPOP`
/// leaves b for it, and the EXEC's LPOP got a; nothing of the transaction
/// is missing once the waiter is served.
#[test]
fn waiter_sees_whole_transaction() {
    compare(|s, at, names| {
        play(
            s,
            at,
            names,
            &[
                Block(&["BLPOP", "{k}", "5"]),
                Exec(&[
                    &["RPUSH", "{k}", "a"],
                    &["SET", "{o}", "v"],
                    &["RPUSH", "{k}", "b"],
                    &["LPOP", "{k}"],
                ]),
                Read,
                Call(&["GET", "{o}"]),
                Write(&["LLEN", "{k}"]),
            ],
        )
    });
}

/// A script that pushes and deletes wakes nobody; so does a function-less
/// EVAL that pushes twice and pops once (the waiter gets the rest after).
#[test]
fn script_serves_after_it_ends() {
    compare(|s, at, names| {
        play(
            s,
            at,
            names,
            &[
                Block(&["BLPOP", "{k}", "5"]),
                Write(&[
                    "EVAL",
                    "redis.call('lpush',KEYS[1],'a'); redis.call('del',KEYS[1])",
                    "1",
                    "{k}",
                ]),
                Quiet,
                Write(&[
                    "EVAL",
                    "redis.call('rpush',KEYS[1],'b','c'); return redis.call('lpop',KEYS[1])",
                    "1",
                    "{k}",
                ]),
                Read,
                Write(&["EXISTS", "{k}"]),
            ],
        )
    });
}

/// Two BRPOPLPUSH waiters, the first's destination a string: a push
/// answers the first with WRONGTYPE and hands the element to the second.
#[test]
fn failed_serve_passes_element_on() {
    compare(|s, at, names| {
        let (k, o) = keys(at, names);
        let mut out = Vec::new();
        // The bad destination on the source's core, then on the other one.
        for bad in [format!("{{{k}}}d"), o.clone()] {
            let good = format!("{bad}2");
            let mut c = writer(s, at);
            q(&mut c, &["SET", &bad, "str"]);
            let mut w1 = waiter(s, at);
            w1.send(&["BRPOPLPUSH", &k, &bad, "5"]);
            wait_blocked(&mut c, "brpoplpush", 1);
            let mut w2 = waiter(s, at);
            w2.send(&["BRPOPLPUSH", &k, &good, "5"]);
            wait_blocked(&mut c, "brpoplpush", 2);
            out.push(q(&mut c, &["LPUSH", &k, "foo"]));
            out.push(w1.read());
            out.push(w2.read());
            out.push(q(&mut c, &["LRANGE", &good, "0", "-1"]));
            out.push(q(&mut c, &["EXISTS", &k]));
            q(&mut c, &["DEL", &bad, &good]);
        }
        out
    });
}

/// A waiter on keys on both cores is served once, from the key that got
/// data; timeouts answer nil.
#[test]
fn keys_across_cores_and_timeouts() {
    compare(|s, at, names| {
        play(
            s,
            at,
            names,
            &[
                Block(&["BLPOP", "{o}", "{k}", "5"]),
                Write(&["RPUSH", "{k}", "a", "b"]),
                Read,
                Write(&["LRANGE", "{k}", "0", "-1"]),
                Write(&["DEL", "{k}"]),
                Call(&["BLPOP", "{o}", "{k}", "0.2"]),
                Call(&["BLMOVE", "{o}", "{k}", "LEFT", "LEFT", "0.2"]),
                Call(&["BZPOPMIN", "{o}", "0.2"]),
                Call(&["BZMPOP", "0.2", "2", "{o}", "zz", "MAX"]),
            ],
        )
    });
}

/// CLIENT UNBLOCK from either core, TIMEOUT and ERROR, for waiters on
/// list and zset keys.
#[test]
fn client_unblock_any_core() {
    compare(|s, at, names| {
        let (k, o) = keys(at, names);
        let mut c = writer(s, at);
        let mut out = Vec::new();
        for (block, name) in [
            (vec!["BLPOP", &k, &o, "0"], "blpop"),
            (vec!["BLMOVE", &k, &o, "LEFT", "LEFT", "0"], "blmove"),
            (vec!["BZPOPMAX", &k, "0"], "bzpopmax"),
        ] {
            for how in ["TIMEOUT", "ERROR"] {
                let mut w = waiter(s, at);
                let id = w.call(&["CLIENT", "ID"]);
                let id = id.trim().trim_start_matches(':').to_string();
                w.send(&block);
                wait_blocked(&mut c, name, 1);
                out.push(q(&mut c, &["CLIENT", "UNBLOCK", &id, how]));
                out.push(w.read());
                out.push(q(&mut c, &["CLIENT", "UNBLOCK", &id, how]));
                // Still a working connection, and nothing was popped for it.
                out.push(w.call(&["PING"]));
            }
        }
        out.push(q(&mut c, &["CLIENT", "UNBLOCK", "abc"]));
        out.push(q(&mut c, &["CLIENT", "UNBLOCK", "1", "nope"]));
        out
    });
}

/// The AOF holds the EXEC as one MULTI/EXEC block and the served pop
/// after it, whatever the placement.
#[test]
fn served_pop_is_journaled_after_the_transaction() {
    for p in PLACEMENTS {
        for key in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let s = Server::start(&[
                "--dir",
                dir.path().to_str().unwrap(),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]);
            let names = keys_on_two_cores("aj");
            let (k, o) = if key == 0 {
                names.clone()
            } else {
                (names.1.clone(), names.0.clone())
            };
            let mut w = s.raw_on_core(0);
            let mut c = s.conn_on_core(p.core_for(0));
            w.send(&["BLPOP", &k, "5"]);
            wait_blocked(&mut c, "blpop", 1);
            exec(
                &mut c,
                &[&["RPUSH", &k, "a", "b"], &["SET", &o, "1"], &["LPOP", &k]],
            );
            assert!(w.read().contains('b'));
            q(&mut c, &["SET", "end", "1"]);
            let file = dir
                .path()
                .join("appendonlydir")
                .join("appendonly.aof.1.incr.aof");
            let text = std::fs::read_to_string(file).unwrap();
            let words: Vec<&str> = text
                .split("\r\n")
                .filter(|l| !l.starts_with('*') && !l.starts_with('$'))
                .collect();
            let at = |w: &str| {
                words
                    .iter()
                    .position(|x| *x == w)
                    .unwrap_or_else(|| panic!("{w} in {words:?}"))
            };
            let (multi, exec, pop) = (at("MULTI"), at("EXEC"), at("LPOP"));
            let blpop = words.iter().rposition(|x| *x == "LPOP").unwrap();
            assert!(multi < exec && pop < exec, "{words:?}");
            assert!(
                blpop > exec,
                "served pop after the block: {p:?} {key} {words:?}"
            );
            assert_eq!(
                words.iter().filter(|x| **x == "MULTI").count(),
                1,
                "{words:?}"
            );
        }
    }
}
