//! MSET, MSETNX, MGET, DEL, UNLINK, EXISTS and TOUCH are atomic across
//! cores, as Redis documents for MSET: no client sees some keys updated and
//! others not. Writers change N keys spread over both cores of a 2-core
//! server, readers read them all at once, for a bounded time, with the
//! writer and reader connections on the same core and on different cores;
//! a reader must never see a mix. The same races run against redis-server
//! (the oracle), and plain replies are compared with it byte for byte.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Keys per command: enough that both cores hold several.
const N: usize = 10;
/// How long each race runs.
const RACE: Duration = Duration::from_millis(1200);
/// The same race against redis-server, which needs no long run to pass.
const ORACLE_RACE: Duration = Duration::from_millis(300);

/// `N` keys named `<prefix><i>`, spread over both cores.
fn spread_keys(prefix: &str) -> Vec<String> {
    let keys: Vec<String> = (0..N).map(|i| format!("{prefix}{i}")).collect();
    let on0 = keys
        .iter()
        .filter(|k| redwing::storage::key_slot(k.as_bytes()) < 8192)
        .count();
    assert!(on0 > 0 && on0 < N, "keys must live on both cores");
    keys
}

/// What a writer does each round.
#[derive(Clone, Copy, Debug)]
enum Write {
    /// MSET every key to one value per round.
    Mset,
    /// The same, eight rounds per pipelined write.
    MsetPipelined,
    /// MSET every key, then DEL them all.
    MsetDel,
    /// MSET every key, then UNLINK them all.
    MsetUnlink,
    /// MSETNX every key (only succeeds when none exists), then DEL them.
    MsetnxDel,
}

/// What a reader checks.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// MGET: every value the same (all nil counts).
    Mget,
    /// MGET, eight per pipelined read: each one uniform.
    MgetPipelined,
    /// EXISTS: 0 or N.
    Exists,
    /// TOUCH: 0 or N.
    Touch,
}

fn args_with<'a>(cmd: &'a str, keys: &'a [String], value: Option<&'a str>) -> Vec<&'a str> {
    let mut a = vec![cmd];
    for k in keys {
        a.push(k);
        a.extend(value);
    }
    a
}

/// One writer round; `id` and `round` make the value.
fn write_round(c: &mut redis::Connection, keys: &[String], how: Write, id: usize, round: u64) {
    let v = format!("w{id}:{round}");
    let mset = args_with("MSET", keys, Some(&v));
    match how {
        Write::Mset => assert_eq!(q(c, &mset), "ok"),
        Write::MsetPipelined => {
            let mut p = redis::pipe();
            for r in 0..8 {
                let v = format!("w{id}:{round}.{r}");
                p.add_command(cmd(&args_with("MSET", keys, Some(&v))));
            }
            let _: Vec<String> = p.query(c).unwrap();
        }
        Write::MsetDel | Write::MsetUnlink => {
            assert_eq!(q(c, &mset), "ok");
            let del = if matches!(how, Write::MsetDel) {
                "DEL"
            } else {
                "UNLINK"
            };
            // The only writer: it deletes what it set, all of it.
            assert_eq!(int(c, &args_with(del, keys, None)), N as i64);
        }
        Write::MsetnxDel => {
            assert_eq!(int(c, &args_with("MSETNX", keys, Some(&v))), 1);
            assert_eq!(int(c, &args_with("DEL", keys, None)), N as i64);
        }
    }
}

/// One reader check; returns a description of what it saw when mixed.
fn read_check(c: &mut redis::Connection, keys: &[String], how: Read) -> Result<(), String> {
    let uniform = |vals: Vec<Option<String>>| {
        if vals.iter().all(|v| *v == vals[0]) {
            Ok(())
        } else {
            Err(format!("MGET saw a mix: {vals:?}"))
        }
    };
    match how {
        Read::Mget => uniform(cmd(&args_with("MGET", keys, None)).query(c).unwrap()),
        Read::MgetPipelined => {
            let mut p = redis::pipe();
            for _ in 0..8 {
                p.add_command(cmd(&args_with("MGET", keys, None)));
            }
            let all: Vec<Vec<Option<String>>> = p.query(c).unwrap();
            all.into_iter().try_for_each(uniform)
        }
        Read::Exists | Read::Touch => {
            let name = if matches!(how, Read::Exists) {
                "EXISTS"
            } else {
                "TOUCH"
            };
            match int(c, &args_with(name, keys, None)) {
                0 => Ok(()),
                n if n == N as i64 => Ok(()),
                n => Err(format!("{name} saw {n} of {N} keys")),
            }
        }
    }
}

/// Runs writers and readers on the given connections for `dur`; panics
/// if a reader saw a mix. Returns (writer rounds, reads).
fn race(
    writers: Vec<redis::Connection>,
    readers: Vec<(redis::Connection, Read)>,
    keys: &[String],
    how: Write,
    dur: Duration,
) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let w: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(id, mut c)| {
            let (keys, stop) = (keys.to_vec(), stop.clone());
            thread::spawn(move || {
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    write_round(&mut c, &keys, how, id, round);
                    round += 1;
                }
                round
            })
        })
        .collect();
    let r: Vec<_> = readers
        .into_iter()
        .map(|(mut c, read)| {
            let (keys, stop) = (keys.to_vec(), stop.clone());
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = read_check(&mut c, &keys, read) {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let end = Instant::now() + dur;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = w.into_iter().map(|t| t.join().unwrap()).sum();
    let mut reads = 0;
    for t in r {
        match t.join().unwrap() {
            Ok(n) => reads += n,
            Err(e) => panic!("{how:?}: {e}"),
        }
    }
    (rounds, reads)
}

/// The race with one writer on `wcore` and readers on the core `placement`
/// gives, one per kind in `reads`; then the same against redis-server.
fn race_placed(s: &Server, redis: &Server, prefix: &str, how: Write, reads: &[Read]) {
    let keys = spread_keys(prefix);
    for wcore in 0..2 {
        for placement in PLACEMENTS {
            let rcore = placement.core_for(wcore);
            let writer = s.conn_on_core(wcore);
            let readers = reads.iter().map(|&r| (s.conn_on_core(rcore), r)).collect();
            let (rounds, n) = race(vec![writer], readers, &keys, how, RACE);
            assert!(
                rounds > 10 && n > 10,
                "{how:?} writer on core {wcore}, readers {placement:?}: only {rounds} rounds, {n} reads"
            );
        }
    }
    let readers = reads.iter().map(|&r| (redis.conn(), r)).collect();
    race(vec![redis.conn()], readers, &keys, how, ORACLE_RACE);
}

#[test]
fn mset_mget_never_mixed() {
    let (s, redis) = (Server::start(&[]), Server::redis(&[]));
    race_placed(
        &s,
        &redis,
        "mm:",
        Write::Mset,
        &[Read::Mget, Read::MgetPipelined],
    );
    race_placed(&s, &redis, "mp:", Write::MsetPipelined, &[Read::Mget]);
}

#[test]
fn del_unlink_exists_touch_never_partial() {
    let (s, redis) = (Server::start(&[]), Server::redis(&[]));
    let reads = [Read::Exists, Read::Mget];
    race_placed(&s, &redis, "md:", Write::MsetDel, &reads);
    let reads = [Read::Touch, Read::Mget];
    race_placed(&s, &redis, "mu:", Write::MsetUnlink, &reads);
}

#[test]
fn msetnx_never_partial() {
    let (s, redis) = (Server::start(&[]), Server::redis(&[]));
    race_placed(
        &s,
        &redis,
        "mn:",
        Write::MsetnxDel,
        &[Read::Mget, Read::Exists],
    );
}

/// Writers on both cores at once, each with its own values, and readers on
/// both cores: every MGET must show one writer's round.
#[test]
fn concurrent_writers_on_both_cores() {
    let s = Server::start(&[]);
    let keys = spread_keys("mw:");
    for how in [Write::Mset, Write::MsetPipelined] {
        let writers = vec![s.conn_on_core(0), s.conn_on_core(1)];
        let readers = vec![
            (s.conn_on_core(0), Read::Mget),
            (s.conn_on_core(1), Read::Mget),
            (s.conn_on_core(0), Read::MgetPipelined),
            (s.conn_on_core(1), Read::MgetPipelined),
        ];
        let (rounds, n) = race(writers, readers, &keys, how, RACE);
        assert!(
            rounds > 10 && n > 10,
            "{how:?}: only {rounds} rounds, {n} reads"
        );
    }
}

/// Two clients race MSETNX over the same keys each round: exactly one
/// wins, and the keys then all hold the winner's value.
#[test]
fn msetnx_race_has_one_winner() {
    let s = Server::start(&[]);
    let keys = spread_keys("mx:");
    for placement in PLACEMENTS {
        let barrier = Arc::new(Barrier::new(2));
        let wins = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let other = s.conn_on_core(placement.core_for(0));
        let racers: Vec<_> = [s.conn_on_core(0), other]
            .into_iter()
            .enumerate()
            .map(|(id, mut c)| {
                let (keys, barrier, wins) = (keys.clone(), barrier.clone(), wins.clone());
                thread::spawn(move || {
                    for r in 0..150 {
                        barrier.wait();
                        let v = format!("c{id}:{r}");
                        let won = int(&mut c, &args_with("MSETNX", &keys, Some(&v)));
                        wins.fetch_add(won, Ordering::SeqCst);
                        barrier.wait();
                        if id == 0 {
                            // Both have answered: one value everywhere.
                            let vals: Vec<Option<String>> =
                                cmd(&args_with("MGET", &keys, None)).query(&mut c).unwrap();
                            let first = vals[0].clone().expect("a winner set the keys");
                            assert!(
                                vals.iter().all(|v| v.as_deref() == Some(&first)),
                                "{vals:?}"
                            );
                            assert_eq!(int(&mut c, &args_with("DEL", &keys, None)), N as i64);
                            assert_eq!(wins.swap(0, Ordering::SeqCst), 1, "round {r}: winners");
                            assert!(won == 0 || first == v, "won but {first} is set");
                        }
                        barrier.wait();
                    }
                })
            })
            .collect();
        for t in racers {
            t.join().unwrap();
        }
    }
}

/// Replies of the multi-key commands over keys on both cores, compared
/// with redis-server byte for byte, from a client on each core.
#[test]
fn replies_same_as_redis() {
    let (s, redis) = (Server::start(&[]), Server::redis(&[]));
    let k = spread_keys("mr:");
    let k: Vec<&str> = k.iter().map(String::as_str).collect();
    let cmds: Vec<Vec<&str>> = vec![
        vec!["MSET", k[0], "a", k[1], "b", k[2], "c", k[3], "d"],
        vec!["MGET", k[0], k[1], k[2], k[3], k[4], k[0]],
        vec!["EXISTS", k[0], k[1], k[4], k[0], k[3]],
        vec!["TOUCH", k[0], k[1], k[4], k[2]],
        vec!["MSETNX", k[4], "x", k[5], "y"],
        vec!["MSETNX", k[5], "z", k[6], "w"],
        vec!["MGET", k[4], k[5], k[6]],
        vec!["DEL", k[0], k[1], k[9], k[0]],
        vec!["UNLINK", k[2], k[3], k[8]],
        vec!["MGET", k[0], k[1], k[2], k[3], k[4], k[5]],
        vec!["MSET", k[0], "a", k[1]],
        vec!["MSETNX", k[0], "a", k[1]],
        vec!["LPUSH", k[7], "l"],
        vec!["MGET", k[7], k[4], k[5]],
        vec!["MSET", k[7], "s", k[6], "t"],
        vec!["MGET", k[7], k[6]],
        vec!["DEL", k[4], k[5], k[6], k[7]],
        vec!["EXISTS", k[4], k[5], k[6], k[7]],
    ];
    let cmds: Vec<&[&str]> = cmds.iter().map(Vec::as_slice).collect();
    for core in 0..2 {
        let mut ours = s.raw_on_core(core);
        let mut theirs = RawClient::new(&redis);
        for resp in [2, 3] {
            ours.call(&["FLUSHALL"]);
            theirs.call(&["FLUSHALL"]);
            same_as_redis_on(&mut ours, &mut theirs, resp, &cmds);
        }
    }
}
