//! Test harness: real `redwing-server` (and `redis-server`) processes on
//! free loopback ports, killed by PID when the test ends, and clients with
//! timeouts so that no test can hang.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod dataset;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server process owned by a test.
pub struct Server {
    pub port: u16,
    pub host: String,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn redwing_bin() -> &'static str {
    env!("CARGO_BIN_EXE_redwing-server")
}

impl Server {
    /// Starts redwing-server with `--threads 2` (unless given) and `args`.
    pub fn start(args: &[&str]) -> Server {
        let mut all: Vec<String> = Vec::new();
        if !args.contains(&"--threads") {
            all.extend(["--threads".into(), "2".into()]);
        }
        all.extend(args.iter().map(|s| s.to_string()));
        Self::spawn(redwing_bin(), all)
    }

    /// Starts Debian's redis-server, the oracle, with `args`.
    pub fn redis(args: &[&str]) -> Server {
        let mut all: Vec<String> = vec![
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        Self::spawn("redis-server", all)
    }

    fn spawn(bin: &str, args: Vec<String>) -> Server {
        let mut dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(bin);
            cmd.arg("--port").arg(port.to_string());
            cmd.arg("--bind").arg("127.0.0.1");
            cmd.arg("--dir").arg(dir.path());
            cmd.args(&args);
            cmd.stdout(Stdio::from(std::fs::File::create(&log).unwrap()));
            cmd.stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ));
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
            let mut s = Server {
                port,
                host: "127.0.0.1".into(),
                child,
                dir,
                log: log.clone(),
            };
            if s.wait_ready() {
                return s;
            }
            last_log = s.log_text();
            dir = s.take_dir();
        }
        panic!("{bin} did not start; its log:\n{last_log}");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Waits until PING answers; false if the process died first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok() {
                    if let Ok(n) = s.read(&mut buf) {
                        if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH") {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Redwing logs "Ready to accept connections" once every shard core
    /// listens; PING can answer before that (from the first core up).
    fn wait_log_ready(&self, bin: &str) {
        if bin != redwing_bin() {
            return;
        }
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline && !self.log_text().contains("Ready to accept connections")
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host, self.port)
    }

    /// A `redis` crate connection with timeouts.
    pub fn conn(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        let conn = c.get_connection_with_timeout(TIMEOUT).unwrap();
        conn.set_read_timeout(Some(TIMEOUT)).unwrap();
        conn.set_write_timeout(Some(TIMEOUT)).unwrap();
        conn
    }

    /// A raw TCP connection for byte-level tests.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect((self.host.as_str(), self.port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// Runs redis-cli against the server; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A `redis` crate connection served by shard core `core`. The kernel
    /// places each connection (SO_REUSEPORT), so this opens connections
    /// until one lands there; CLIENT INFO's `core=` field says where.
    pub fn conn_on_core(&self, core: usize) -> redis::Connection {
        for _ in 0..200 {
            let mut c = self.conn();
            if core_of(&mut c) == core {
                return c;
            }
        }
        panic!("no connection landed on core {core} in 200 tries");
    }

    /// A connection on the same core as `other`.
    pub fn conn_same_core_as(&self, other: &mut redis::Connection) -> redis::Connection {
        let core = core_of(other);
        self.conn_on_core(core)
    }

    /// A connection on a different core than `other` (2-core servers).
    pub fn conn_other_core_than(&self, other: &mut redis::Connection) -> redis::Connection {
        let core = core_of(other);
        self.conn_on_core(1 - core)
    }

    /// A raw RESP connection served by shard core `core`.
    pub fn raw_on_core(&self, core: usize) -> RawClient {
        for _ in 0..200 {
            let mut c = RawClient::new(self);
            let info = c.call(&["CLIENT", "INFO"]);
            if parse_core(&info) == core {
                return c;
            }
        }
        panic!("no raw connection landed on core {core} in 200 tries");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test shows what the server said.
        if std::thread::panicking() {
            eprintln!(
                "--- server log (port {}) ---\n{}",
                self.port,
                self.log_text()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes and reads until `until` is seen, the peer closes, or
/// the timeout passes. Returns everything read.
pub fn raw_roundtrip(s: &mut TcpStream, send: &[u8], until: &[u8]) -> Vec<u8> {
    s.write_all(send).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        if !until.is_empty() && got.windows(until.len()).any(|w| w == until) {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    got
}

/// Keys named `prefix<n>` that land on different cores of a 2-core server
/// (slots 0..8191 on core 0, 8192.. on core 1): returns (on core 0, on core 1).
pub fn keys_on_two_cores(prefix: &str) -> (String, String) {
    let mut a = None;
    let mut b = None;
    for i in 0.. {
        let k = format!("{prefix}{i}");
        if redwing::storage::key_slot(k.as_bytes()) < 8192 {
            a.get_or_insert(k);
        } else {
            b.get_or_insert(k);
        }
        if a.is_some() && b.is_some() {
            break;
        }
    }
    (a.unwrap(), b.unwrap())
}

/// A raw RESP connection whose replies come back as their exact bytes, for
/// byte-for-byte comparison with redis-server.
pub struct RawClient {
    reader: std::io::BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    pub fn new(s: &Server) -> RawClient {
        let w = s.raw();
        RawClient {
            reader: std::io::BufReader::new(w.try_clone().unwrap()),
            writer: w,
        }
    }

    /// Sends one command without reading its reply.
    pub fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.writer.write_all(&out).unwrap();
    }

    /// Sends commands in one write (so the server reads them together).
    pub fn send_many(&mut self, cmds: &[&[&str]]) {
        let mut out = Vec::new();
        for args in cmds {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in *args {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        self.writer.write_all(&out).unwrap();
    }

    /// Reads the next reply or push within `wait`; None if none came.
    pub fn read_within(&mut self, wait: Duration) -> Option<String> {
        use std::io::BufRead;
        self.reader.get_ref().set_read_timeout(Some(wait)).unwrap();
        let ready = matches!(self.reader.fill_buf(), Ok(b) if !b.is_empty());
        self.reader
            .get_ref()
            .set_read_timeout(Some(TIMEOUT))
            .unwrap();
        if !ready {
            return None;
        }
        let mut reply = Vec::new();
        read_reply(&mut self.reader, &mut reply).ok()?;
        Some(String::from_utf8_lossy(&reply).into_owned())
    }

    /// Reads the next reply or push (waiting up to the test timeout).
    pub fn read(&mut self) -> String {
        self.read_within(TIMEOUT).expect("a reply or push")
    }

    /// Sends one command and returns its whole reply, as text.
    pub fn call(&mut self, args: &[&str]) -> String {
        self.send(args);
        let mut reply = Vec::new();
        if let Err(e) = read_reply(&mut self.reader, &mut reply) {
            let shown: Vec<&str> = args.iter().map(|a| &a[..a.len().min(40)]).collect();
            panic!("no reply to {shown:?}: {e}");
        }
        String::from_utf8_lossy(&reply).into_owned()
    }
}

/// Reads one RESP2/RESP3 reply (with nested elements) into `out`.
pub fn read_reply(r: &mut impl std::io::BufRead, out: &mut Vec<u8>) -> std::io::Result<()> {
    let start = out.len();
    if r.read_until(b'\n', out)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = String::from_utf8_lossy(&out[start..])
        .trim_end()
        .to_string();
    let n: i64 = line[1..].parse().unwrap_or(0);
    match line.as_bytes()[0] {
        b'$' | b'=' | b'!' if n >= 0 => {
            let mut body = vec![0; n as usize + 2];
            r.read_exact(&mut body)?;
            out.extend_from_slice(&body);
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..n.max(0) {
                read_reply(r, out)?;
            }
        }
        b'%' => {
            for _ in 0..2 * n.max(0) {
                read_reply(r, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `redis::Cmd` from string arguments.
pub fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

/// Runs a command; the reply as text, errors as `-<code> <detail>`, so the
/// replies of two servers compare with `==`.
pub fn q(c: &mut redis::Connection, args: &[&str]) -> String {
    match cmd(args).query::<redis::Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("-{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

/// Runs a command that must answer an integer.
pub fn int(c: &mut redis::Connection, args: &[&str]) -> i64 {
    cmd(args)
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// One field of INFO persistence.
pub fn info_field(c: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .to_string()
}

/// Polls `ok` every 20 ms; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `SET <prefix>:<i> <i>` for i in 0..n, pipelined.
pub fn preload(c: &mut redis::Connection, prefix: &str, n: u64) {
    for base in (0..n).step_by(1000) {
        let mut p = redis::pipe();
        for i in base..(base + 1000).min(n) {
            p.cmd("SET").arg(format!("{prefix}:{i}")).arg(i);
        }
        p.query::<()>(c).unwrap();
    }
}

/// Polls `GET key` on a server that is starting (bounded: 60 s) until it
/// answers a value. Returns the connection, the value, and INFO persistence
/// as it was after each -LOADING reply.
pub fn wait_loaded(s: &Server, key: &str) -> (redis::Connection, String, Vec<String>) {
    let mut infos = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < end, "never loaded");
        let Ok(mut c) = redis::Client::open(s.url()).and_then(|cl| cl.get_connection()) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        match cmd(&["GET", key]).query::<String>(&mut c) {
            Ok(v) => return (c, v, infos),
            Err(e) => {
                assert_eq!(e.code(), Some("LOADING"), "{e}");
                infos.push(cmd(&["INFO", "persistence"]).query(&mut c).unwrap());
            }
        }
    }
}

/// Waits until `n` clients are blocked (by CLIENT LIST's cmd= field, since
/// INFO's blocked_clients belongs to the server family).
pub fn wait_blocked(c: &mut redis::Connection, cmd: &str, n: usize) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
        let k = list
            .lines()
            .filter(|l| l.contains(&format!("cmd={cmd} ")))
            .count();
        if k >= n {
            // The command name is set before it registers its waiters.
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        assert!(Instant::now() < deadline, "clients never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Accounts for the transfer tests: `n` keys spread over both cores of a
/// 2-core server, each set to 1000. Returns them and their total.
pub fn accounts(s: &Server, n: usize) -> (Vec<String>, i64) {
    let accounts: Vec<String> = (0..n).map(|i| format!("account:{i}")).collect();
    let mut c = s.conn();
    for a in &accounts {
        q(&mut c, &["SET", a, "1000"]);
    }
    (accounts, 1000 * n as i64)
}

/// The sum of the accounts' balances.
pub fn balance(c: &mut redis::Connection, accounts: &[String]) -> i64 {
    accounts.iter().map(|a| int(c, &["GET", a])).sum()
}

/// Stops the transfer threads; how many transfers they made.
pub fn stop_transfers(
    stop: &std::sync::atomic::AtomicBool,
    threads: Vec<std::thread::JoinHandle<u64>>,
) -> u64 {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

/// `writers` threads moving amounts between accounts with `transfer(conn,
/// from, to)` until `stop` is set; each thread returns how many it made.
pub fn transfer_threads(
    s: &Server,
    accounts: &[String],
    writers: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    transfer: fn(&mut redis::Connection, &str, &str),
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..writers)
        .map(|w| {
            let (url, accounts, stop) = (s.url(), accounts.to_vec(), stop.clone());
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut n = 0u64;
                let mut i = w;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = &accounts[i % accounts.len()];
                    let to = &accounts[(i * 7 + 3) % accounts.len()];
                    i += 1;
                    if from != to {
                        transfer(&mut c, from, to);
                        n += 1;
                    }
                }
                n
            })
        })
        .collect()
}

/// The shard core serving connection `c` (Redwing's CLIENT INFO `core=`).
pub fn core_of(c: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("CLIENT").arg("INFO").query(c).unwrap();
    parse_core(&info)
}

fn parse_core(info: &str) -> usize {
    info.split_whitespace()
        .find_map(|f| f.strip_prefix("core="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("CLIENT INFO has no core= field: {info}"))
}

/// Both placements of a second client relative to a first: the same core
/// and the other core of a 2-core server. Tests whose behaviour could depend
/// on where the kernel put each connection run once per placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    SameCore,
    OtherCore,
}

pub const PLACEMENTS: [Placement; 2] = [Placement::SameCore, Placement::OtherCore];

impl Placement {
    /// The core a second client should use, given the first client's core.
    pub fn core_for(self, first: usize) -> usize {
        match self {
            Placement::SameCore => first,
            Placement::OtherCore => 1 - first,
        }
    }
}
