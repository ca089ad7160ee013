//! ACL against redis-server 7.0: users and their rules, the -NOPERM
//! replies for commands, keys (multi-key commands with keys on both
//! cores), channels, MULTI and scripts, the ACL LOG, the ACL file and
//! config `user` lines, AUTH with a username, and connections of deleted
//! users.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use common::*;

/// A reply as text: a status or bulk string, or the error's text.
fn text(c: &mut redis::Connection, args: &[&str]) -> String {
    cmd(args)
        .query::<String>(c)
        .unwrap_or_else(|e| e.to_string())
}

/// Rules whose GETUSER/LIST text is the same on both servers (Redis 7.0
/// orders a user's command rules by its hash table when there are
/// several; those are compared as sets of words in `rule_order_differs`).
const USER_SCRIPT: &[&[&str]] = &[
    &[
        "ACL", "SETUSER", "alice", "on", ">pw", "~k*", "%R~r*", "%W~w*", "&ch*", "+get",
    ],
    &["ACL", "GETUSER", "alice"],
    &["ACL", "SETUSER", "bob"],
    &["ACL", "GETUSER", "bob"],
    &[
        "ACL",
        "SETUSER",
        "carol",
        "on",
        "nopass",
        "allkeys",
        "allchannels",
        "+@all",
        "-@dangerous",
    ],
    &["ACL", "GETUSER", "carol"],
    &[
        "ACL",
        "SETUSER",
        "dave",
        "on",
        "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "(~sel*",
        "+set)",
        "(+get ~x)",
    ],
    &["ACL", "GETUSER", "dave"],
    &[
        "ACL",
        "SETUSER",
        "dave",
        "clearselectors",
        "resetpass",
        "nopass",
        "sanitize-payload",
    ],
    &[
        "ACL",
        "SETUSER",
        "erin",
        "on",
        "nopass",
        "%RW~x",
        "%R~y",
        "~z",
        "&a*",
        "&b",
        "resetchannels",
        "&c",
    ],
    &["ACL", "SETUSER", "frank", "reset", "+select|0"],
    &["ACL", "SETUSER", "grace", "+@read"],
    &["ACL", "SETUSER", "heidi", "+config|get"],
    &["ACL", "SETUSER", "ivan", "allcommands", "-get"],
    &["ACL", "LIST"],
    &["ACL", "USERS"],
    &["ACL", "WHOAMI"],
    &["ACL", "SETUSER", "x", "+nocmd"],
    &["ACL", "SETUSER", "x", "~a", "nonsense"],
    &["ACL", "SETUSER", "x", "(+get"],
    &["ACL", "SETUSER", "x", "-get|x"],
    &["ACL", "SETUSER", "x", "+@foo"],
    &["ACL", "SETUSER", "x", "+config|get|x"],
    &["ACL", "SETUSER", "x", "~*", "~a"],
    &["ACL", "SETUSER", "x", "&*", "&a"],
    &["ACL", "SETUSER", "x", "<nope"],
    &["ACL", "SETUSER", "x", "#abc"],
    &["ACL", "SETUSER", "x", "%X~a"],
    &["ACL", "SETUSER", "a b"],
    &["ACL", "GETUSER", "x"],
    &["ACL", "GETUSER", "nosuch"],
    &["ACL", "DELUSER", "default"],
    &["ACL", "DELUSER", "bob", "nosuch"],
    &["ACL", "USERS"],
    &["ACL", "DRYRUN", "alice", "get", "k1"],
    &["ACL", "DRYRUN", "alice", "get", "x"],
    &["ACL", "DRYRUN", "alice", "set", "k1", "v"],
    &["ACL", "DRYRUN", "alice", "publish", "ch1", "m"],
    &["ACL", "DRYRUN", "dave", "set", "sel1", "v"],
    &["ACL", "DRYRUN", "heidi", "config", "set", "a", "b"],
    &["ACL", "DRYRUN", "heidi", "config", "get", "a"],
    &["ACL", "DRYRUN", "frank", "select", "0"],
    &["ACL", "DRYRUN", "frank", "select", "1"],
    &["ACL", "DRYRUN", "nobody", "get", "a"],
    &["ACL", "DRYRUN", "alice", "nocmd"],
    &["ACL", "GENPASS", "0"],
    &["ACL", "GENPASS", "5000"],
    &["ACL", "LOG", "x"],
    &["ACL", "WHOAMI", "extra"],
    &["ACL", "CAT", "nosuch"],
    &["ACL", "FOO"],
    &["ACL", "HELP"],
    &["ACL", "LOAD"],
    &["ACL", "SAVE"],
    &["AUTH", "pw"],
];

#[test]
fn users_rules_and_errors_like_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_resp(&ours, &redis, 2, USER_SCRIPT);
    // RESP3 shapes of GETUSER and LIST on the users now defined.
    let again: Vec<&[&str]> = vec![
        &["ACL", "GETUSER", "alice"],
        &["ACL", "GETUSER", "dave"],
        &["ACL", "LIST"],
        &["ACL", "LOG", "RESET"],
        &["ACL", "LOG"],
    ];
    same_as_redis_resp(&ours, &redis, 3, &again);
    // GENPASS: hex of the asked bits.
    let mut c = ours.conn();
    assert_eq!(text(&mut c, &["ACL", "GENPASS"]).len(), 64);
    assert_eq!(text(&mut c, &["ACL", "GENPASS", "5"]).len(), 2);
}

/// Several command rules: Redis 7.0 prints them in its hash table's
/// order, Redwing in the order given; the same words either way.
#[test]
fn rule_order_differs_only_in_order() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let words = |s: &Server| -> BTreeSet<String> {
        let mut c = s.conn();
        let rules = ["on", "+get", "+@hash", "-hset", "+config|get", "+mget"];
        let mut args = vec!["ACL", "SETUSER", "u"];
        args.extend(rules);
        assert_eq!(text(&mut c, &args), "OK");
        let line: Vec<String> = redis::cmd("ACL").arg("LIST").query(&mut c).unwrap();
        line[1].split(' ').map(String::from).collect()
    };
    assert_eq!(words(&ours), words(&redis));
}

/// ACL CAT <category> lists what redis-server's lists, for the commands
/// (and subcommands) Redwing has.
#[test]
fn categories_like_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let (mut a, mut b) = (ours.conn(), redis.conn());
    let cats: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut b).unwrap();
    let ours_cats: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut a).unwrap();
    assert_eq!(ours_cats, cats);
    let list = |c: &mut redis::Connection, cat: &str| -> BTreeSet<String> {
        let v: Vec<String> = redis::cmd("ACL").arg("CAT").arg(cat).query(c).unwrap();
        v.into_iter().collect()
    };
    let ours_all: BTreeSet<String> = cats.iter().flat_map(|c| list(&mut a, c)).collect();
    assert!(ours_all.contains("config|get") && ours_all.contains("get"));
    for cat in &cats {
        let theirs: BTreeSet<String> = list(&mut b, cat)
            .into_iter()
            .filter(|n| ours_all.contains(n))
            .collect();
        assert_eq!(list(&mut a, cat), theirs, "ACL CAT {cat}");
    }
}

/// A user that may GET/SET/MGET/MSET/DEL only key `allowed`, publish and
/// subscribe to `ch*`, and use MULTI/EXEC/EVAL.
fn limited_user(s: &Server, allowed: &str) {
    let pattern = format!("~{allowed}");
    let mut c = s.conn();
    let args = [
        "ACL",
        "SETUSER",
        "lim",
        "on",
        ">pw",
        "resetkeys",
        &pattern,
        "&ch*",
        "+get",
        "+set",
        "+mget",
        "+mset",
        "+del",
        "+multi",
        "+exec",
        "+eval",
        "+publish",
        "+subscribe",
        "+psubscribe",
        "+ping",
    ];
    assert_eq!(text(&mut c, &args), "OK");
}

/// -NOPERM for commands, keys (both keys of a multi-key command on each
/// core), channels, inside MULTI and from scripts: the same bytes as
/// Redis, from a connection on each core; a refused multi-key write
/// changes nothing on either core.
#[test]
fn noperm_replies_like_redis_on_both_cores() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let (a, b) = keys_on_two_cores("acl");
    for (allowed, other) in [(&a, &b), (&b, &a)] {
        limited_user(&ours, allowed);
        limited_user(&redis, allowed);
        let script: Vec<Vec<&str>> = substitute(
            &[
                &["AUTH", "lim", "pw"],
                &["SET", "$A", "1"],
                &["GET", "$A"],
                &["GET", "$B"],
                &["MGET", "$A", "$B"],
                &["MSET", "$A", "2", "$B", "2"],
                &["MSET", "$B", "2", "$A", "2"],
                &["DEL", "$A", "$B"],
                &["GET", "$A"],
                &["HSET", "$A", "f", "v"],
                &["CONFIG", "GET", "maxmemory"],
                &["PUBLISH", "other", "m"],
                &["PUBLISH", "ch1", "m"],
                &["MULTI"],
                &["SET", "$A", "3"],
                &["GET", "$B"],
                &["HSET", "$A", "f", "v"],
                &["EXEC"],
                &["GET", "$A"],
                &["EVAL", "return redis.call('get', KEYS[1])", "1", "$A"],
                &["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "$B"],
                &[
                    "EVAL",
                    "return redis.pcall('hset', KEYS[1], 'f', 'v')",
                    "1",
                    "$A",
                ],
                &["EVAL", "return redis.call('publish', 'zz', 'x')", "0"],
                &["EVAL", "return redis.pcall('get', 'nope')", "0"],
                &["SUBSCRIBE", "nope"],
                &["PSUBSCRIBE", "c*"],
            ],
            &[("$A", allowed.as_str()), ("$B", other.as_str())],
        );
        let cmds = slices(&script);
        for core in [0, 1] {
            for s in [&ours, &redis] {
                assert_eq!(RawClient::new(s).call(&["FLUSHALL"]), "+OK\r\n");
            }
            let mut theirs = RawClient::new(&redis);
            let mut mine = ours.raw_on_core(core);
            same_as_redis_on(&mut mine, &mut theirs, 2, &cmds);
            // The refused MSET wrote neither key, on either core.
            let mut admin = ours.conn();
            assert_eq!(text(&mut admin, &["EXISTS", other]), "0");
        }
    }
}

/// The ACL LOG entries Redis writes: reason, context, object, username,
/// count (grouped), and CLIENT INFO of the client with its command.
#[test]
fn acl_log_like_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let (a, b) = keys_on_two_cores("log");
    let entries = |s: &Server| -> Vec<Vec<(String, String)>> {
        limited_user(s, &a);
        let mut c = RawClient::new(s);
        for cmd in [
            &["AUTH", "lim", "wrong"][..],
            &["AUTH", "lim", "pw"],
            &["GET", &b],
            &["MGET", &a, &b],
            &["HSET", &a, "f", "v"],
            &["PUBLISH", "zz", "m"],
            &["MULTI"],
            &["GET", &b],
            &["DISCARD"],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", &b],
        ] {
            c.call(cmd);
        }
        let mut admin = s.conn();
        let log: Vec<redis::Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
        log.into_iter()
            .map(|e| {
                let redis::Value::Array(kv) = e else {
                    panic!("{e:?}")
                };
                kv.chunks(2)
                    .map(|p| {
                        let k: String = redis::from_redis_value(&p[0]).unwrap();
                        let v: String = redis::from_redis_value(&p[1]).unwrap();
                        let v = match k.as_str() {
                            "age-seconds" => {
                                assert!(v.parse::<f64>().unwrap() < 10.0);
                                String::new()
                            }
                            // Ids, addresses and buffer sizes differ: the
                            // command and user are what the entry is about.
                            "client-info" => v
                                .split(' ')
                                .filter(|f| f.starts_with("cmd=") || f.starts_with("user="))
                                .collect::<Vec<_>>()
                                .join(" "),
                            _ => v,
                        };
                        (k, v)
                    })
                    .collect()
            })
            .collect()
    };
    let (mine, theirs) = (entries(&ours), entries(&redis));
    assert_eq!(mine, theirs);
    assert!(mine
        .iter()
        .any(|e| e.contains(&("count".into(), "2".into()))));
    let mut c = ours.conn();
    assert_eq!(text(&mut c, &["ACL", "LOG", "RESET"]), "OK");
    let left: Vec<redis::Value> = redis::cmd("ACL").arg("LOG").query(&mut c).unwrap();
    assert!(left.is_empty());
}

/// A config file with `user` lines and `requirepass`; AUTH with a
/// username through redis-cli, the redis crate and HELLO.
#[test]
fn config_users_and_auth_with_username() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("acl.conf");
    std::fs::write(
        &conf,
        "requirepass secret\nuser alice on >pw ~* &* +@all -flushall\nuser bob off\n",
    )
    .unwrap();
    let ours = Server::with_config(redwing_bin(), &conf, &["--threads", "2"]);
    let redis = Server::with_config("redis-server", &conf, &["--save", ""]);
    for s in [&ours, &redis] {
        assert!(s.cli(&["PING"]).starts_with("NOAUTH"));
        assert_eq!(
            s.cli(&[
                "--no-auth-warning",
                "--user",
                "alice",
                "--pass",
                "pw",
                "PING"
            ]),
            "PONG\n"
        );
        assert_eq!(
            s.cli(&["--no-auth-warning", "-a", "secret", "ACL", "WHOAMI"]),
            "default\n"
        );
        let url = format!("redis://alice:pw@{}:{}/", s.host, s.port);
        let mut c = redis::Client::open(url)
            .unwrap()
            .get_connection_with_timeout(TIMEOUT)
            .unwrap();
        assert_eq!(text(&mut c, &["ACL", "WHOAMI"]), "alice");
        let mut c3 = RawClient::new(s);
        assert!(c3
            .call(&["HELLO", "3", "AUTH", "alice", "pw"])
            .starts_with('%'));
        assert!(c3.call(&["ACL", "WHOAMI"]).contains("alice"));
    }
    let auth: &[&[&str]] = &[
        &["PING"],
        &["AUTH", "bob", "x"],
        &["AUTH", "alice", "nope"],
        &["HELLO", "2", "AUTH", "alice", "nope"],
        &["AUTH", "alice", "pw"],
        &["ACL", "WHOAMI"],
        &["FLUSHALL"],
        &["AUTH", "secret"],
        &["ACL", "WHOAMI"],
        &["ACL", "LIST"],
        &["CONFIG", "SET", "requirepass", "other"],
        &["ACL", "LIST"],
        &["AUTH", "default", "other"],
        &["CONFIG", "SET", "requirepass", ""],
        &["ACL", "LIST"],
    ];
    same_as_redis_resp(&ours, &redis, 2, auth);
}

/// A bad `user` line stops the server with Redis's reason.
#[test]
fn bad_user_line_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "user alice on +nosuchcommand\n").unwrap();
    let out = std::process::Command::new(redwing_bin())
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("Error in user declaration 'alice': Unknown command or category name in ACL"),
        "{msg}"
    );
}

/// ACL SAVE writes the users; a server started on that file has them;
/// ACL LOAD reads an edited file and refuses a bad one as Redis does.
#[test]
fn aclfile_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ours_file = dir.path().join("ours.acl");
    let redis_file = dir.path().join("redis.acl");
    let first = "user alice on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~k* &ch* +get\n";
    std::fs::write(&ours_file, first).unwrap();
    std::fs::write(&redis_file, first).unwrap();
    let of = ours_file.display().to_string();
    let rf = redis_file.display().to_string();
    let ours = Server::start(&["--aclfile", &of]);
    let redis = Server::redis(&["--aclfile", &rf]);
    let steps: &[&[&str]] = &[
        &["ACL", "LIST"],
        &[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">pw",
            "%R~r*",
            "+@read",
            "(~s* +set)",
        ],
        &["ACL", "SAVE"],
        &["ACL", "DELUSER", "alice"],
        &["ACL", "LOAD"],
        &["ACL", "LIST"],
    ];
    same_as_redis_resp(&ours, &redis, 2, steps);
    let saved = std::fs::read_to_string(&ours_file).unwrap();
    assert_eq!(saved, std::fs::read_to_string(&redis_file).unwrap());
    // A restart on the saved file has the same users.
    let again = Server::start(&["--aclfile", &of]);
    let list = |s: &Server| s.cli(&["ACL", "LIST"]);
    assert_eq!(list(&again), list(&ours));
    // A bad line: nothing changes, and the error names file and line.
    for f in [&ours_file, &redis_file] {
        std::fs::write(f, "user carol on +nosuch\nuser dave on\n").unwrap();
    }
    let mut c = ours.conn();
    let err = redis::cmd("ACL")
        .arg("LOAD")
        .query::<String>(&mut c)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{of}:1: Unknown command or category name in ACL")),
        "{msg}"
    );
    assert_eq!(list(&ours), list(&redis).replace(&rf, &of));
}

/// Connections of a deleted user are closed (on both cores); CLIENT KILL
/// USER closes a user's connections; a user whose channels shrink loses
/// its subscribers that no longer fit.
#[test]
fn deleted_users_connections_close() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    assert_eq!(
        text(
            &mut admin,
            &["ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*", "&*"]
        ),
        "OK"
    );
    let mut bobs: Vec<RawClient> = (0..2).map(|core| s.raw_on_core(core)).collect();
    for b in &mut bobs {
        assert_eq!(b.call(&["AUTH", "bob", "pw"]), "+OK\r\n");
    }
    assert_eq!(text(&mut admin, &["ACL", "DELUSER", "bob"]), "1");
    for b in bobs {
        let mut st = b.into_stream();
        st.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        assert!(
            matches!(st.read(&mut buf), Ok(0) | Err(_)),
            "bob's connection stays open"
        );
    }
    assert_eq!(
        text(
            &mut admin,
            &["ACL", "SETUSER", "carl", "on", ">pw", "+@all", "~*", "&*"]
        ),
        "OK"
    );
    let mut carls: Vec<RawClient> = (0..2).map(|core| s.raw_on_core(core)).collect();
    for c in &mut carls {
        assert_eq!(c.call(&["AUTH", "carl", "pw"]), "+OK\r\n");
    }
    assert_eq!(int(&mut admin, &["CLIENT", "KILL", "USER", "carl"]), 2);
    assert!(text(&mut admin, &["CLIENT", "KILL", "USER", "nobody"]).contains("No such user"));
    // Subscribers: one on a channel still allowed, one not.
    let mut keep = s.raw_on_core(0);
    let mut lose = s.raw_on_core(1);
    assert_eq!(
        text(
            &mut admin,
            &["ACL", "SETUSER", "dan", "on", ">pw", "+@all", "~*", "&*"]
        ),
        "OK"
    );
    for (c, ch) in [(&mut keep, "news"), (&mut lose, "sport")] {
        c.call(&["AUTH", "dan", "pw"]);
        c.send(&["SUBSCRIBE", ch]);
        c.read();
    }
    assert_eq!(
        text(
            &mut admin,
            &["ACL", "SETUSER", "dan", "resetchannels", "&news"]
        ),
        "OK"
    );
    let mut st = lose.into_stream();
    st.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(st.read(&mut buf), Ok(0) | Err(_)));
    assert_eq!(int(&mut admin, &["PUBLISH", "news", "x"]), 1);
}
