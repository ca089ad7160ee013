//! Config files as Redis users have them: Debian's stock redis.conf loads
//! unchanged (it daemonizes), every Redis 7.0 option name is known, errors
//! look like redis-server's, and options of absent features are refused.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A daemonized server: not our child, so it is stopped by its pid.
struct Daemon {
    pid: i32,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signals a process this test started (through its fork).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) == 0 };
    exists
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// Runs `bin args` and waits (bounded) for it to exit: (code, stderr+stdout).
fn run(bin: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code(), text)
}

/// Debian's /etc/redis/redis.conf with only the port, the directories and
/// the pidfile moved into `dir`.
fn debian_conf(dir: &Path, port: u16) -> PathBuf {
    let stock = std::fs::read_to_string("/etc/redis/redis.conf")
        .expect("Debian's redis-server package provides /etc/redis/redis.conf");
    let mut out = String::new();
    for line in stock.lines() {
        let l = match line.split_whitespace().next() {
            Some("port") => format!("port {port}"),
            Some("dir") => format!("dir {}", dir.display()),
            Some("logfile") => format!("logfile {}", dir.join("redis.log").display()),
            Some("pidfile") => format!("pidfile {}", dir.join("redis.pid").display()),
            _ => line.to_string(),
        };
        out.push_str(&l);
        out.push('\n');
    }
    let path = dir.join("redis.conf");
    std::fs::write(&path, out).unwrap();
    path
}

fn config_all(c: &mut redis::Connection) -> BTreeMap<String, String> {
    let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("*").query(c).unwrap();
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

#[test]
fn debian_stock_conf_daemonizes_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = debian_conf(dir.path(), port);
    let pidfile = dir.path().join("redis.pid");
    // `daemonize yes`: the parent exits 0 once the child serves.
    let (code, out) = run(
        redwing_bin(),
        dir.path(),
        &[conf.to_str().unwrap(), "--threads", "2"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("the daemon wrote its pidfile before the parent exited")
        .trim()
        .parse()
        .unwrap();
    let _guard = Daemon { pid };
    assert!(alive(pid));
    let s = common::Server {
        port,
        host: "127.0.0.1".into(),
        child: Command::new("true").spawn().unwrap(),
        dir: tempfile::tempdir().unwrap(),
        log: dir.path().join("redis.log"),
    };
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["SET", "k", "v"]), "ok");
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    assert_eq!(int(&mut c, &["DBSIZE"]), 1);
    let cfg = config_all(&mut c);
    for (name, value) in [
        ("daemonize", "yes"),
        ("bind", "127.0.0.1 -::1"),
        ("supervised", "no"),
        ("databases", "16"),
        ("oom-score-adj-values", "0 200 800"),
        ("jemalloc-bg-thread", "yes"),
        ("hll-sparse-max-bytes", "3000"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        ("pidfile", pidfile.to_str().unwrap()),
    ] {
        assert_eq!(cfg[name], value, "{name}");
    }
    let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap();
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .split_whitespace()
            .nth(5),
        Some(pid.to_string().as_str()),
        "the daemon leads its own session"
    );
    // SIGHUP does not stop it (as Redis); SIGTERM does, removing the pidfile.
    // SAFETY: signals the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for("the daemon to stop", TIMEOUT, || !alive(pid));
    assert!(!pidfile.exists(), "pidfile removed on exit");
}

#[test]
fn every_redis_option_name_is_known() {
    let redwing = Server::start(&[]);
    let redis = Server::redis(&[]);
    let ours = config_all(&mut redwing.conn());
    let theirs = config_all(&mut redis.conn());
    let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    println!(
        "CONFIG GET *: redwing {} names, redis-server 7.0 {}",
        ours.len(),
        theirs.len()
    );
    assert!(missing.is_empty(), "missing: {missing:?}");
    // Redwing's own `threads`, and set-max-listpack-* (Redis 7.2 names).
    assert_eq!(
        extra,
        [
            "set-max-listpack-entries",
            "set-max-listpack-value",
            "threads"
        ]
    );
    // Defaults agree, except where the harness or Redwing's nature differs.
    let differ = [
        "port",
        "dir",
        "save",
        "appendonly",
        "enable-debug-command",
        "enable-protected-configs",
    ];
    for (k, v) in &theirs {
        if !differ.contains(&k.as_str()) {
            assert_eq!(&ours[k], v, "default of {k}");
        }
    }
    assert_eq!(
        ours["dir"],
        redwing
            .dir
            .path()
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    );
}

#[test]
fn config_errors_look_like_redis_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The same bad files for both: header, offending line and message
    // match redis-server's; Redwing also names the file.
    for (i, bad) in [
        "foo bar",
        "hz abc",
        "daemonize maybe",
        "port 70000",
        "oom-score-adj sometimes",
        "repl-diskless-load never",
        "latency-monitor-threshold -1",
        "supervised init",
    ]
    .iter()
    .enumerate()
    {
        let conf = d.join(format!("bad{i}.conf"));
        std::fs::write(&conf, format!("# line 1\n{bad}\n")).unwrap();
        let path = conf.to_str().unwrap();
        let (rc, ours) = run(redwing_bin(), d, &[path]);
        let (redis_rc, theirs) = run("redis-server", d, &[path]);
        assert_eq!(rc, Some(1), "{ours}");
        assert_eq!(redis_rc, Some(1), "{theirs}");
        let ours: Vec<&str> = ours.lines().collect();
        let theirs: Vec<&str> = theirs.lines().collect();
        assert_eq!(ours[1], "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***");
        assert_eq!(ours[1], theirs[1]);
        assert_eq!(
            ours[2],
            format!("Reading the configuration file {path}, at line 2")
        );
        assert_eq!(ours[3..], theirs[3..], "{bad}");
    }
}

#[test]
fn absent_features_are_refused_not_pretended() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (bad, words) in [
        ("tls-port 6380", "does not support TLS"),
        ("unixsocket /tmp/r.sock", "unix sockets"),
        ("socket-mark-id 7", "socket marks"),
        ("loadmodule /usr/lib/redis/x.so", "modules"),
        ("rename-command CONFIG \"\"", "rename"),
        ("enable-debug-command local", "one of the following: yes"),
    ] {
        let conf = d.join("x.conf");
        std::fs::write(&conf, format!("port 0\n{bad}\n")).unwrap();
        let (rc, out) = run(redwing_bin(), d, &[conf.to_str().unwrap()]);
        assert_eq!(rc, Some(1), "{bad}: {out}");
        assert!(out.contains(&format!(">>> '{bad}'")), "{out}");
        assert!(out.contains(words), "{bad}: {out}");
    }
    // CONFIG SET refuses them too; accepted-only options keep working.
    let s = Server::start(&[]);
    let mut c = s.raw_on_core(0);
    assert_eq!(
        c.call(&["CONFIG", "SET", "activedefrag", "yes"]),
        "-ERR CONFIG SET failed (possibly related to argument 'activedefrag') - Redwing does not support active defragmentation; only 'no' is accepted\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]),
        "+OK\r\n"
    );
    // Older names answer with the current value, as Redis 7.0.
    assert_eq!(
        c.call(&["CONFIG", "SET", "slave-read-only", "no"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "replica-read-only"]),
        "*2\r\n$17\r\nreplica-read-only\r\n$2\r\nno\r\n"
    );
}

/// A multi-word option given as one quoted argument on the command line is
/// split into its words, as redis-server does.
#[test]
fn multi_word_options_in_one_argument_match_redis() {
    let args = [
        "--client-output-buffer-limit",
        "normal 4mb 2mb 30",
        "--save",
        "900 1 300 10",
    ];
    compare_with_redis(
        &args,
        &[
            &["CONFIG", "GET", "client-output-buffer-limit"],
            &["CONFIG", "GET", "save"],
        ],
    );
}

#[test]
fn include_with_wildcards_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frag = d.join("conf.d");
    std::fs::create_dir(&frag).unwrap();
    std::fs::write(frag.join("20-b.conf"), "databases 7\n").unwrap();
    std::fs::write(frag.join("10-a.conf"), "databases 5\nhz 20\n").unwrap();
    std::fs::write(frag.join("30-c.txt"), "databases 9\n").unwrap();
    let port = free_port();
    let conf = d.join("main.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ninclude {}/*.conf\ninclude {}/none-*.conf\n",
            frag.display(),
            frag.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(redwing_bin())
        .args([conf.to_str().unwrap(), "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = common::Server {
        port,
        host: "127.0.0.1".into(),
        child: Command::new("true").spawn().unwrap(),
        dir: tempfile::tempdir().unwrap(),
        log: d.join("none"),
    };
    let mut ok = false;
    wait_for("the server to answer", TIMEOUT, || {
        ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        ok || child.try_wait().unwrap().is_some()
    });
    let mut c = RawClient::new(&s);
    let got = c.call(&["CONFIG", "GET", "databases"]);
    let hz = c.call(&["CONFIG", "GET", "hz"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, "*2\r\n$9\r\ndatabases\r\n$1\r\n7\r\n");
    assert_eq!(hz, "*2\r\n$2\r\nhz\r\n$2\r\n20\r\n");
}

/// A daemon that cannot start (its port is taken) makes the parent exit
/// non-zero, so a `Type=forking` unit sees the failure.
#[test]
fn daemon_that_fails_to_start_fails_the_parent() {
    let busy = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let port = busy.port.to_string();
    let (code, _) = run(
        redwing_bin(),
        dir.path(),
        &[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            dir.path().join("r.pid").to_str().unwrap(),
            "--logfile",
            dir.path().join("r.log").to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1));
    let log = std::fs::read_to_string(dir.path().join("r.log")).unwrap_or_default();
    assert!(
        log.contains("Address already in use") || log.contains("another redwing-server"),
        "{log}"
    );
}
