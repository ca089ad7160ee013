//! The server as a process: config file and command line, errors that stop
//! it at start, signals, the pidfile, the port lock, CPU pinning, the
//! startup log and `--version`.
mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts redwing-server with exactly `args` (no harness defaults), output
/// to a log file in a fresh directory, and waits until it answers on
/// `port`. The returned `Server` kills the process when dropped.
fn start_raw(dir: tempfile::TempDir, port: u16, args: &[&str], password: Option<&str>) -> Server {
    start_cmd(Command::new(redwing_bin()), dir, port, args, password)
}

fn start_cmd(
    mut cmd: Command,
    dir: tempfile::TempDir,
    port: u16,
    args: &[&str],
    password: Option<&str>,
) -> Server {
    let log = dir.path().join("stdout.log");
    cmd.args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ));
    let child = cmd.spawn().expect("start redwing-server");
    let mut s = Server {
        port,
        host: "127.0.0.1".into(),
        child,
        dir,
        log,
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("server exited with {st}: {}", s.log_text());
        }
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
            c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let req = match password {
                Some(p) => format!("AUTH \"{p}\"\r\nPING\r\n"),
                None => "PING\r\n".into(),
            };
            // A connection reset or a PONG while our process has exited
            // (it could not take the port) is not our server being ready.
            if c.write_all(req.as_bytes()).is_ok()
                && read_until(&mut c, b"PONG").ends_with(b"+PONG\r\n")
                && matches!(s.child.try_wait(), Ok(None))
            {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "no answer: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs redwing-server with `args` in `dir` and expects it to exit by
/// itself within the timeout; returns (exit code, stdout + stderr).
fn run_to_exit(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(redwing_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redwing-server {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.code(), out)
}

/// Waits for the process to exit (up to the timeout); its exit code.
fn wait_exit(s: &mut Server) -> Option<i32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st.code();
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(s: &Server, sig: i32) {
    // SAFETY: sends a signal to a child process this test started.
    assert_eq!(unsafe { libc::kill(s.pid() as i32, sig) }, 0);
}

/// One request over a fresh connection; reads until the reply ends with
/// `until` (or, with `until` empty, until the server closes).
fn ask(port: u16, req: &str, until: &str) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let got = raw_roundtrip(&mut c, req.as_bytes(), until.as_bytes());
    String::from_utf8_lossy(&got).into_owned()
}

fn config_get(s: &Server, auth: &[&str], name: &str) -> String {
    let mut args: Vec<&str> = Vec::new();
    if !auth.is_empty() {
        args.extend(["--user", auth[0], "--pass", auth[1], "--no-auth-warning"]);
    }
    args.extend(["config", "get", name]);
    let out = s.cli(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "CONFIG GET {name}: {out:?}");
    assert_eq!(lines[0], name);
    lines[1].to_string()
}

#[test]
fn config_file_with_every_option_and_include() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data dir");
    std::fs::create_dir(&data).unwrap();
    let port = free_port();
    let logfile = dir.path().join("redwing.log");
    let pidfile = dir.path().join("redwing.pid");
    let inc = dir.path().join("extra.conf");
    std::fs::write(
        &inc,
        "# included\ntcp-keepalive 60\ntcp-backlog 128\nclient-query-buffer-limit 4mb\n",
    )
    .unwrap();
    let conf = format!(
        "# every option\n\
         bind 127.0.0.1\n\
         port {port}\n\
         threads 2\n\
         dir \"{data}\"\n\
         databases 4\n\
         \n\
         requirepass \"pass word\"\n\
         maxclients 50\n\
         timeout 30\n\
         include {inc}\n\
         loglevel verbose\n\
         logfile '{logfile}'\n\
         pidfile {pidfile}\n\
         protected-mode no\n\
         proto-max-bulk-len 2mb\n",
        data = data.display(),
        inc = inc.display(),
        logfile = logfile.display(),
        pidfile = pidfile.display(),
    );
    let conf_path = dir.path().join("redwing.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let s = start_raw(dir, port, &[conf_path.to_str().unwrap()], Some("pass word"));

    let auth = ["default", "pass word"];
    let want = [
        ("bind", "127.0.0.1".to_string()),
        ("port", port.to_string()),
        ("threads", "2".into()),
        ("dir", data.display().to_string()),
        ("databases", "4".into()),
        ("requirepass", "pass word".into()),
        ("maxclients", "50".into()),
        ("timeout", "30".into()),
        ("tcp-keepalive", "60".into()),
        ("tcp-backlog", "128".into()),
        ("loglevel", "verbose".into()),
        ("logfile", logfile.display().to_string()),
        ("pidfile", pidfile.display().to_string()),
        ("protected-mode", "no".into()),
        ("proto-max-bulk-len", (2 << 20).to_string()),
        ("client-query-buffer-limit", (4 << 20).to_string()),
    ];
    for (name, value) in &want {
        assert_eq!(&config_get(&s, &auth, name), value, "{name}");
    }
    // The options act: the password is required, 4 databases exist, the
    // pidfile names the process, the log goes to the logfile.
    assert_eq!(
        ask(port, "PING\r\n", "\r\n"),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        ask(
            port,
            "AUTH \"pass word\"\r\nSELECT 3\r\nSELECT 4\r\n",
            "range\r\n"
        ),
        "+OK\r\n+OK\r\n-ERR DB index is out of range\r\n"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(pid.trim(), s.pid().to_string());
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert!(
        !s.log_text().contains("Ready to accept"),
        "with logfile set, stdout stays quiet: {}",
        s.log_text()
    );
}

#[test]
fn command_line_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file_port = free_port();
    let port = free_port();
    let conf = dir.path().join("r.conf");
    std::fs::write(
        &conf,
        format!("port {file_port}\nbind 127.0.0.1\ndatabases 4\nmaxclients 7\nthreads 1\n"),
    )
    .unwrap();
    let s = start_raw(
        dir,
        port,
        &[
            conf.to_str().unwrap(),
            "--port",
            &port.to_string(),
            "--databases",
            "8",
            "--requirepass",
            "a \"quoted\" pw",
        ],
        Some("a \\\"quoted\\\" pw"),
    );
    let auth = ["default", "a \"quoted\" pw"];
    assert_eq!(config_get(&s, &auth, "port"), port.to_string());
    assert_eq!(config_get(&s, &auth, "databases"), "8");
    assert_eq!(config_get(&s, &auth, "maxclients"), "7");
    assert_eq!(config_get(&s, &auth, "requirepass"), "a \"quoted\" pw");
    assert!(TcpStream::connect(("127.0.0.1", file_port)).is_err());
}

#[test]
fn config_errors_stop_the_server_naming_file_line_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &str, usize, &str)] = &[
        // (file body, bad line, line number, words the message must have)
        (
            "port 1234\n# comment\nfoo bar\n",
            "foo bar",
            3,
            "Bad directive",
        ),
        ("\nport abc\n", "port abc", 2, "integer"),
        ("port 70000\n", "port 70000", 1, "between"),
        ("maxclients 0\n", "maxclients 0", 1, "between"),
        ("loglevel loud\n", "loglevel loud", 1, "debug, verbose"),
        (
            "protected-mode maybe\n",
            "protected-mode maybe",
            1,
            "'yes' or 'no'",
        ),
        (
            "proto-max-bulk-len 12x\n",
            "proto-max-bulk-len 12x",
            1,
            "memory",
        ),
        (
            "requirepass \"abc\n",
            "requirepass \"abc",
            1,
            "Unbalanced quotes",
        ),
        ("timeout\n", "timeout", 1, "wrong number of arguments"),
    ];
    for (i, (body, line, n, words)) in cases.iter().enumerate() {
        let conf = d.join(format!("bad{i}.conf"));
        std::fs::write(&conf, body).unwrap();
        let (code, out) = run_to_exit(d, &[conf.to_str().unwrap()]);
        assert!(matches!(code, Some(c) if c != 0), "{body:?}: {code:?}");
        assert!(out.contains(&conf.display().to_string()), "{out}");
        assert!(out.contains(&format!("line {n}")), "{out}");
        assert!(out.contains(&format!(">>> '{line}'")), "{out}");
        assert!(out.contains(words), "{body:?}: {out}");
    }
    // A problem in an included file names that file and its line.
    let inc = d.join("inc.conf");
    std::fs::write(&inc, "\n\ndatabases none\n").unwrap();
    let conf = d.join("main.conf");
    std::fs::write(&conf, format!("port 1\ninclude {}\n", inc.display())).unwrap();
    let (code, out) = run_to_exit(d, &[conf.to_str().unwrap()]);
    assert!(matches!(code, Some(c) if c != 0));
    assert!(out.contains(&inc.display().to_string()), "{out}");
    assert!(
        out.contains("line 3") && out.contains("databases none"),
        "{out}"
    );
    // A missing config file, and a bad value on the command line.
    let (code, out) = run_to_exit(d, &["/nonexistent/redwing.conf"]);
    assert!(matches!(code, Some(c) if c != 0));
    assert!(out.contains("/nonexistent/redwing.conf"), "{out}");
    let (code, out) = run_to_exit(d, &["--port", "abc"]);
    assert!(matches!(code, Some(c) if c != 0));
    assert!(out.contains("port abc") && out.contains("integer"), "{out}");
    let (code, out) = run_to_exit(d, &["--no-such-option", "1"]);
    assert!(matches!(code, Some(c) if c != 0));
    assert!(out.contains("no-such-option"), "{out}");
}

fn stop_with(sig: i32) {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("r.pid");
    let port = free_port();
    let mut s = start_raw(
        dir,
        port,
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--threads",
            "2",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        s.pid().to_string()
    );
    signal(&s, sig);
    assert_eq!(wait_exit(&mut s), Some(0), "{}", s.log_text());
    assert!(!pidfile.exists(), "pidfile left behind");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(s.log_text().contains("ready to exit"), "{}", s.log_text());
}

#[test]
fn sigterm_stops_cleanly() {
    stop_with(libc::SIGTERM);
}

#[test]
fn sigint_stops_cleanly() {
    stop_with(libc::SIGINT);
}

#[test]
fn second_server_on_the_same_port_is_refused() {
    let first = Server::start(&[]);
    let port = first.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_to_exit(
        dir.path(),
        &["--port", &port, "--bind", "127.0.0.1", "--threads", "1"],
    );
    assert!(matches!(code, Some(c) if c != 0), "{code:?}: {out}");
    assert!(out.contains("Address already in use"), "{out}");
    // The first keeps serving, on every connection (none goes to a ghost).
    for i in 0..20 {
        let got = ask(
            first.port,
            &format!("SET k{i} v\r\nGET k{i}\r\n"),
            "$1\r\nv\r\n",
        );
        assert_eq!(got, "+OK\r\n$1\r\nv\r\n");
    }
    assert_eq!(first.cli(&["ping"]).trim(), "PONG");
}

/// Without SO_REUSEPORT (Redis) a listener on `*` and one on `127.0.0.1`
/// cannot share a port; two servers on two specific addresses can.
/// Redwing's listeners share ports by design, so its lock files must say
/// the same, in either start order.
#[test]
fn wildcard_and_specific_binds_of_one_port_exclude_each_other() {
    let port = free_port();
    let p = port.to_string();
    let start = |bind: &str| {
        start_raw(
            tempfile::tempdir().unwrap(),
            port,
            &["--port", &p, "--bind", bind, "--threads", "1"],
            None,
        )
    };
    let refused = |bind: &str| {
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = run_to_exit(
            dir.path(),
            &["--port", &p, "--bind", bind, "--threads", "1"],
        );
        assert!(matches!(code, Some(c) if c != 0), "{bind}: {code:?}: {out}");
        assert!(out.contains("Address already in use"), "{bind}: {out}");
    };
    {
        let specific = start("127.0.0.1");
        refused("*");
        // A second specific address on the same port is another listener.
        let other = start("127.0.0.2");
        assert_eq!(ask(port, "PING\r\n", "\r\n"), "+PONG\r\n");
        drop(other);
        drop(specific);
    }
    let wildcard = start("*");
    refused("127.0.0.1");
    refused("127.0.0.2");
    assert_eq!(ask(port, "PING\r\n", "\r\n"), "+PONG\r\n");
    drop(wildcard);
    // Once both are gone the port is free again, also for one server on
    // two specific addresses, which leaves no lock file behind.
    let mut both = start("127.0.0.1 127.0.0.2");
    refused("*");
    signal(&both, libc::SIGTERM);
    assert_eq!(wait_exit(&mut both), Some(0), "{}", both.log_text());
    let wild = format!("/tmp/redwing-0.0.0.0-{port}.lock");
    assert!(!Path::new(&wild).exists(), "{wild} left behind");
}

#[test]
fn a_redis_server_on_the_port_is_detected() {
    let redis = Server::redis(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_to_exit(
        dir.path(),
        &[
            "--port",
            &redis.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--threads",
            "1",
        ],
    );
    assert!(matches!(code, Some(c) if c != 0), "{code:?}: {out}");
    assert!(out.contains("Address already in use"), "{out}");
    assert!(
        !out.contains("Ready to accept"),
        "claimed to be ready before binding: {out}"
    );
    assert_eq!(redis.cli(&["ping"]).trim(), "PONG");
}

#[test]
fn runs_pinned_to_one_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", redwing_bin()]);
    let s = start_cmd(
        cmd,
        dir,
        port,
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--threads",
            "1",
        ],
        None,
    );
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    let v: i64 = redis::cmd("INCR").arg("a").query(&mut c).unwrap();
    assert_eq!(v, 2);
    assert!(s.log_text().contains("threads=1"), "{}", s.log_text());
    // Every thread of the process stays on CPU 1.
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(allowed.split_whitespace().nth(1), Some("1"), "{status}");
}

#[test]
fn startup_log_names_version_port_threads_pid() {
    let s = Server::start(&["--threads", "2"]);
    let log = s.log_text();
    let pid = s.pid().to_string();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("port={}", s.port)))
        .unwrap_or_else(|| panic!("no port line: {log}"));
    assert!(line.contains("threads=2"), "{line}");
    assert!(line.contains(&format!("pid={pid}")), "{line}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("version={version}")) && l.contains(&pid)),
        "{log}"
    );
    assert!(log.contains("Ready to accept connections"), "{log}");
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-v"] {
        let (code, out) = run_to_exit(dir.path(), &[flag]);
        assert_eq!(code, Some(0));
        assert!(
            out.starts_with(&format!(
                "Redwing server v={} redis-compat=7.0.15",
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
    }
    let (code, out) = run_to_exit(dir.path(), &["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Usage:"), "{out}");
}

#[test]
fn shutdown_command_stops_and_removes_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("s.pid");
    let port = free_port();
    let mut s = start_raw(
        dir,
        port,
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        None,
    );
    assert!(pidfile.exists());
    let got = ask(port, "SHUTDOWN\r\n", "");
    assert_eq!(got, "", "SHUTDOWN closes without a reply");
    assert_eq!(wait_exit(&mut s), Some(0));
    assert!(!pidfile.exists());
}
