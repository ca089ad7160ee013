//! Test harness: real `redwing-server` (and `redis-server`) processes on
//! free loopback ports, killed by PID when the test ends, and clients with
//! timeouts so that no test can hang.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod cluster;
pub mod dataset;
pub mod netns;
pub mod repl;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server process owned by a test.
pub struct Server {
    pub port: u16,
    pub host: String,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

/// A port nobody listens on right now, and one no other test (in this
/// process or another test process) has been given.
///
/// Ports come from outside the kernel's ephemeral range
/// (`ip_local_port_range`), which every outgoing connection of the suite
/// takes its local port from: a port the kernel handed out could be taken
/// by some client's connect() between this check and the server's bind.
/// And the kernel's choice alone is not enough: once the probe socket
/// closes it may hand the same port to a concurrent test, whose server
/// then answers this test's requests. So each port given out is claimed
/// by an abstract Unix socket named after it, held until the process ends.
pub fn free_port() -> u16 {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::sync::Mutex;
    static CLAIMS: Mutex<Vec<UnixDatagram>> = Mutex::new(Vec::new());
    let (low, high) = outside_ephemeral();
    let span = u32::from(high - low) + 1;
    // Spread test processes over the range (the claims settle clashes).
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    for i in 0..span {
        let port = low + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let name = format!("redwing-test-port-{port}");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        // Fails if this process or another already claimed the port.
        if let Ok(claim) = UnixDatagram::bind_addr(&addr) {
            CLAIMS.lock().unwrap().push(claim);
            return port;
        }
    }
    panic!("no free port in {low}..={high}");
}

/// The ports below the kernel's ephemeral range from 10000 (or above it,
/// if it starts too low to leave room).
fn outside_ephemeral() -> (u16, u16) {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = range
        .split_whitespace()
        .filter_map(|v| v.parse::<u16>().ok());
    let (first, last) = (it.next().unwrap_or(32768), it.next().unwrap_or(60999));
    if first > 15000 {
        (10000, first - 1)
    } else {
        assert!(
            last < 60000,
            "no room outside the ephemeral ports {first}-{last}"
        );
        (last + 1, 65535)
    }
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

    /// Starts `bin` with the config file `conf` first on its command line
    /// (as `redis-sentinel sentinel.conf` needs), then the usual options
    /// and `args`.
    pub fn with_config(bin: &str, conf: &std::path::Path, args: &[&str]) -> Server {
        let mut all = vec![conf.display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        Self::spawn(bin, all)
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

    /// Starts `bin` on a free port and waits until it is ready: PING
    /// answers and, for redwing, the log says "Ready to accept connections"
    /// (every shard core listens and the data is loaded; a cross-core request
    /// before that cannot be served). A server that fails to start is a bug:
    /// this panics with its log. The only retry is for a port someone else
    /// took between `free_port` and the bind, which the log names.
    fn spawn(bin: &str, args: Vec<String>) -> Server {
        let mut dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        for attempt in 1.. {
            let port = free_port();
            let mut cmd = Command::new(bin);
            // A config file goes first (with_config).
            let conf = args.first().filter(|a| !a.starts_with("--"));
            cmd.args(conf);
            cmd.arg("--port").arg(port.to_string());
            cmd.arg("--bind").arg("127.0.0.1");
            cmd.arg("--dir").arg(dir.path());
            cmd.args(&args[conf.is_some() as usize..]);
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
            let why = match s.wait_ready(bin) {
                Ok(()) => return s,
                Err(why) => why,
            };
            let text = s.log_text();
            if text.contains("Address already in use") && attempt < 5 {
                // Another process (not a test: their ports are claimed)
                // took the port after free_port() saw it free: not this
                // server's fault, try another port.
                dir = s.take_dir();
                continue;
            }
            let stacks = thread_stacks(s.child.id());
            let _ = s.child.kill();
            panic!("{bin} did not start ({why}); its log:\n{text}{stacks}");
        }
        unreachable!()
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Waits until PING answers and, for redwing, until the log says
    /// "Ready to accept connections" (PING can answer from the first core
    /// up, before the others listen). Err says why not.
    fn wait_ready(&mut self, bin: &str) -> Result<(), String> {
        // Generous: a server may load a dump file first.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut pong = false;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited: {status}"));
            }
            if !pong {
                // Redwing answers -LOADING before "Ready"; redis-server's
                // PING answers once its data is loaded.
                pong = self.answers_ping(bin == redwing_bin());
            }
            if pong
                && (bin != redwing_bin() || self.log_text().contains("Ready to accept connections"))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after 60 s (PING answered: {pong})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self, loading_ok: bool) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(1))).ok();
        let mut buf = [0u8; 64];
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG")
            || buf[..n].starts_with(b"-NOAUTH")
            || (loading_ok && buf[..n].starts_with(b"-LOADING")))
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

/// A process started by hand, killed when the test ends.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends raw bytes and reads until `until` is seen, the peer closes, or
/// the timeout passes. Returns everything read.
pub fn raw_roundtrip(s: &mut TcpStream, send: &[u8], until: &[u8]) -> Vec<u8> {
    s.write_all(send).unwrap();
    read_until(s, until)
}

/// Reads until `until` is seen, the peer closes, or the timeout passes.
/// Returns everything read.
pub fn read_until(s: &mut TcpStream, until: &[u8]) -> Vec<u8> {
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

    /// The TCP stream (for reading raw bytes); unread buffered replies
    /// are dropped.
    pub fn into_stream(self) -> TcpStream {
        self.writer
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
        String::from_utf8_lossy(&self.call_bytes(args)).into_owned()
    }

    /// Sends one command and returns its whole reply, as its exact bytes.
    pub fn call_bytes(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(args);
        self.next_reply()
            .unwrap_or_else(|e| panic!("no reply to {:?}: {e}", shorten(args)))
    }

    /// Reads the next whole reply (a second reply to one command, a push).
    pub fn next_reply(&mut self) -> std::io::Result<Vec<u8>> {
        let mut reply = Vec::new();
        read_reply(&mut self.reader, &mut reply)?;
        Ok(reply)
    }
}

fn shorten<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().map(|a| &a[..a.len().min(40)]).collect()
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
        // An attribute map comes before the reply it describes.
        b'|' => {
            for _ in 0..2 * n.max(0) + 1 {
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

/// One field of INFO's default sections (persistence, memory, stats ...).
pub fn info_field(c: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").query(c).unwrap();
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
        if Instant::now() >= end {
            panic!("never loaded{}", thread_stacks(s.child.id()));
        }
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

/// Waits until `n` clients are blocked in `cmd` right now: CLIENT LIST
/// lines with the `b` flag (set once the client waits on all its keys, as
/// Redis's) and `cmd=<cmd>`. Connections that ran `cmd` before and are no
/// longer blocked do not count.
pub fn wait_blocked(c: &mut redis::Connection, cmd: &str, n: usize) {
    let what = format!("{n} clients blocked in {cmd}");
    wait_for(&what, TIMEOUT, || blocked_in(c, cmd) >= n);
}

/// How many clients CLIENT LIST shows blocked (flag `b`) in `cmd`.
pub fn blocked_in(c: &mut redis::Connection, cmd: &str) -> usize {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
    list.lines()
        .filter(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("")
                    .to_string()
            };
            field("flags=").contains('b') && field("cmd=").eq_ignore_ascii_case(cmd)
        })
        .count()
}

/// Accounts for the transfer tests: `n` keys spread over both cores of a
/// 2-core server, each set to 1000. Returns them and their total.
pub fn accounts(s: &Server, n: usize) -> (Vec<String>, i64) {
    let accounts: Vec<String> = (0..n).map(|i| format!("account:{i}")).collect();
    let mut c = s.conn();
    for a in &accounts {
        q(&mut c, &["SET", a, "1000"]);
    }
    let cores: std::collections::BTreeSet<bool> = accounts
        .iter()
        .map(|a| redwing::storage::key_slot(a.as_bytes()) < 8192)
        .collect();
    assert_eq!(cores.len(), 2, "accounts must live on both cores");
    (accounts, 1000 * n as i64)
}

/// The sum of the accounts' balances.
pub fn balance(c: &mut redis::Connection, accounts: &[String]) -> i64 {
    accounts.iter().map(|a| int(c, &["GET", a])).sum()
}

/// Stops the transfer threads; how many transfers succeeded (their reply
/// came back and said so).
pub fn stop_transfers(
    stop: &std::sync::atomic::AtomicBool,
    threads: Vec<std::thread::JoinHandle<u64>>,
) -> u64 {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

/// `writers` threads moving amounts between accounts with `transfer(conn,
/// from, to)` until `stop` is set. `transfer` answers whether the transfer
/// was made (an error or an aborted EXEC is not); each thread returns how
/// many were. Writer `w` runs on core `w % 2`, so both placements relative
/// to the accounts (spread over both cores) are exercised on purpose.
pub fn transfer_threads(
    s: &Server,
    accounts: &[String],
    writers: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    transfer: fn(&mut redis::Connection, &str, &str) -> bool,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..writers)
        .map(|w| {
            let mut c = s.conn_on_core(w % 2);
            let (accounts, stop) = (accounts.to_vec(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut i = w;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = &accounts[i % accounts.len()];
                    let to = &accounts[(i * 7 + 3) % accounts.len()];
                    i += 1;
                    if from != to && transfer(&mut c, from, to) {
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

/// A difference between Redwing and redis-server 7.0.15 (the oracle) that
/// [`same_as_redis`] accepts. Each one is documented in README ("Differences
/// a user may notice") or is an order Redis itself leaves unspecified.
pub struct Allowed {
    /// The command (and subcommand) it applies to, upper case.
    pub command: &'static [&'static str],
    /// Applies only when one of the arguments is this (upper case), if set.
    pub with_arg: Option<&'static str>,
    pub rule: Rule,
    pub why: &'static str,
}

/// How an allowed difference is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The top-level elements are compared as a sorted list.
    Unordered,
    /// The top-level elements are compared as a sorted list of pairs.
    UnorderedPairs,
    /// A SCAN-family reply (cursor, elements): the elements compared as a
    /// sorted list.
    UnorderedScan,
    /// Not compared at all: the test asserts both replies explicitly.
    Differs,
}

/// The allow-list. Anything not listed here must be byte-for-byte equal.
pub const ALLOWED: &[Allowed] = &[
    Allowed {
        command: &["ZRANK"],
        with_arg: Some("WITHSCORE"),
        rule: Rule::Differs,
        why: "Redwing accepts ZRANK ... WITHSCORE (Redis 7.2); 7.0 answers a syntax error (README)",
    },
    Allowed {
        command: &["ZREVRANK"],
        with_arg: Some("WITHSCORE"),
        rule: Rule::Differs,
        why: "Redwing accepts ZREVRANK ... WITHSCORE (Redis 7.2); 7.0 answers a syntax error (README)",
    },
    Allowed {
        command: &["CLIENT", "INFO"],
        with_arg: None,
        rule: Rule::Differs,
        why: "ids, addresses and ages differ, and Redwing adds core=N (README)",
    },
    Allowed {
        command: &["CLIENT", "LIST"],
        with_arg: None,
        rule: Rule::Differs,
        why: "ids, addresses and ages differ, and Redwing adds core=N (README)",
    },
    Allowed {
        command: &["CLIENT", "SETINFO"],
        with_arg: None,
        rule: Rule::Differs,
        why: "a Redis 7.2 subcommand Redwing has; 7.0 answers unknown subcommand (README)",
    },
    Allowed {
        command: &["CLIENT", "NO-TOUCH"],
        with_arg: None,
        rule: Rule::Differs,
        why: "a Redis 7.2 subcommand Redwing has; 7.0 answers unknown subcommand (README)",
    },
];

/// Replies in an order Redis leaves to its hash table: compared sorted.
const UNORDERED: &[(&[&str], Rule)] = &[
    (&["SMEMBERS"], Rule::Unordered),
    (&["SINTER"], Rule::Unordered),
    (&["SUNION"], Rule::Unordered),
    (&["SDIFF"], Rule::Unordered),
    (&["HKEYS"], Rule::Unordered),
    (&["HVALS"], Rule::Unordered),
    (&["KEYS"], Rule::Unordered),
    (&["HGETALL"], Rule::UnorderedPairs),
    (&["PUBSUB", "CHANNELS"], Rule::Unordered),
    (&["PUBSUB", "SHARDCHANNELS"], Rule::Unordered),
    (&["SSCAN"], Rule::UnorderedScan),
    (&["ACL", "CAT"], Rule::Unordered),
];

/// The rule for `args`, if any (None: bytes must be equal).
pub fn allowed_rule(args: &[&str]) -> Option<Rule> {
    let up: Vec<String> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
    let starts = |c: &[&str]| c.len() <= up.len() && c.iter().zip(&up).all(|(a, b)| a == b);
    for a in ALLOWED {
        if starts(a.command) && a.with_arg.is_none_or(|w| up[1..].iter().any(|u| u == w)) {
            return Some(a.rule);
        }
    }
    UNORDERED.iter().find(|(c, _)| starts(c)).map(|(_, r)| *r)
}

/// The top-level elements of one aggregate reply, as byte strings.
fn elements(reply: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let nl = reply.windows(2).position(|w| w == b"\r\n")?;
    if !matches!(reply[0], b'*' | b'~' | b'%') {
        return None;
    }
    let n: i64 = std::str::from_utf8(&reply[1..nl]).ok()?.parse().ok()?;
    let n = if reply[0] == b'%' { 2 * n } else { n };
    let mut r = std::io::BufReader::new(&reply[nl + 2..]);
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        let mut e = Vec::new();
        read_reply(&mut r, &mut e).ok()?;
        out.push(e);
    }
    Some((reply[..nl + 2].to_vec(), out))
}

/// `reply` as compared under `rule`.
fn normalize(rule: Option<Rule>, reply: &[u8]) -> Vec<u8> {
    let Some((head, mut items)) = elements(reply) else {
        return reply.to_vec();
    };
    match rule {
        Some(Rule::Unordered) => items.sort(),
        Some(Rule::UnorderedPairs) => {
            let mut pairs: Vec<Vec<u8>> = items.chunks(2).map(|p| p.concat()).collect();
            pairs.sort();
            items = pairs;
        }
        Some(Rule::UnorderedScan) if items.len() == 2 => {
            items[1] = normalize(Some(Rule::Unordered), &items[1]);
        }
        _ => return reply.to_vec(),
    }
    [head, items.concat()].concat()
}

/// Shows RESP bytes on one line (CR LF as `\r\n`).
pub fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "\\r\\n")
}

/// The one comparison with the oracle: runs `cmds` in order on one
/// connection to each of `redwing` and `redis`, speaking RESP `resp` (2 or
/// 3, by HELLO), and asserts each reply's raw bytes are equal, apart from
/// the [`ALLOWED`] differences (and hash-table orders, compared sorted).
/// Returns both servers' replies (redwing, redis), so a test can assert the
/// allowed differences explicitly.
pub fn same_as_redis_resp(
    redwing: &Server,
    redis: &Server,
    resp: u8,
    cmds: &[&[&str]],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (mut ours, mut theirs) = (RawClient::new(redwing), RawClient::new(redis));
    same_as_redis_on(&mut ours, &mut theirs, resp, cmds)
}

/// [`same_as_redis_resp`] on connections the test opened (a redwing one
/// placed on a chosen core, for example): `ours` to redwing, `theirs` to
/// redis-server.
pub fn same_as_redis_on(
    ours: &mut RawClient,
    theirs: &mut RawClient,
    resp: u8,
    cmds: &[&[&str]],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    if resp == 3 {
        assert!(ours.call_bytes(&["HELLO", "3"]).starts_with(b"%"));
        assert!(theirs.call_bytes(&["HELLO", "3"]).starts_with(b"%"));
    }
    let mut out = Vec::new();
    for args in cmds {
        let (a, b) = (ours.call_bytes(args), theirs.call_bytes(args));
        assert_same_reply(resp, args, &a, &b);
        out.push((a, b));
    }
    out
}

/// Asserts that redwing's reply `ours` to `args` equals redis-server's
/// `theirs` byte for byte, apart from the [`ALLOWED`] differences (and
/// hash-table orders, compared sorted). For tests that interleave the
/// comparison with other work (randomized runs).
pub fn assert_same_reply(resp: u8, args: &[&str], ours: &[u8], theirs: &[u8]) {
    let rule = allowed_rule(args);
    if rule != Some(Rule::Differs) {
        assert!(
            normalize(rule, ours) == normalize(rule, theirs),
            "RESP{resp} {args:?}\n redwing: {}\n   redis: {}",
            shown(ours),
            shown(theirs)
        );
    }
}

/// COMMAND INFO rows of `names` on both servers, in RESP2 and RESP3: the
/// first `fields` fields of each row (name, arity, flags, first key, last
/// key, step, ACL categories, ...) must be equal byte for byte.
pub fn command_rows_match(redwing: &Server, redis: &Server, names: &[&str], fields: usize) {
    command_fields_match(redwing, redis, names, 0..fields);
}

/// COMMAND INFO rows' `fields` (by index) byte for byte, RESP2 and RESP3.
pub fn command_fields_match(
    redwing: &Server,
    redis: &Server,
    names: &[&str],
    fields: std::ops::Range<usize>,
) {
    for resp in [2, 3] {
        let (mut ours, mut theirs) = (RawClient::new(redwing), RawClient::new(redis));
        if resp == 3 {
            ours.call_bytes(&["HELLO", "3"]);
            theirs.call_bytes(&["HELLO", "3"]);
        }
        for n in names {
            let head = |c: &mut RawClient| -> String {
                let reply = c.call_bytes(&["COMMAND", "INFO", n]);
                let (_, rows) = elements(&reply).unwrap_or_else(|| panic!("{}", shown(&reply)));
                let (_, row) = elements(&rows[0]).unwrap_or_else(|| panic!("{}", shown(&reply)));
                shown(&row[fields.start.min(row.len())..fields.end.min(row.len())].concat())
            };
            let (a, b) = (head(&mut ours), head(&mut theirs));
            assert_eq!(a, b, "RESP{resp} COMMAND INFO {n}");
        }
    }
}

/// [`same_as_redis_resp`] in RESP2 and then in RESP3 on the data the
/// servers hold now (no flush: the commands should leave it as it was, or
/// give the same replies twice).
pub fn same_as_redis_both(redwing: &Server, redis: &Server, cmds: &[&[&str]]) {
    for resp in [2, 3] {
        same_as_redis_resp(redwing, redis, resp, cmds);
    }
}

/// [`same_as_redis_resp`] in RESP2 and then in RESP3, each time from an
/// empty keyspace (FLUSHALL first). Returns the replies of both runs.
pub fn same_as_redis(
    redwing: &Server,
    redis: &Server,
    cmds: &[&[&str]],
) -> [Vec<(Vec<u8>, Vec<u8>)>; 2] {
    [2, 3].map(|resp| {
        for s in [redwing, redis] {
            assert_eq!(RawClient::new(s).call_bytes(&["FLUSHALL"]), b"+OK\r\n");
        }
        same_as_redis_resp(redwing, redis, resp, cmds)
    })
}

/// Starts redwing (2 cores) and redis-server with the same `args` and runs
/// [`same_as_redis`] on them.
pub fn compare_with_redis(args: &[&str], cmds: &[&[&str]]) -> [Vec<(Vec<u8>, Vec<u8>)>; 2] {
    let (redwing, redis) = (Server::start(args), Server::redis(args));
    same_as_redis(&redwing, &redis, cmds)
}

/// `script` with each argument equal to a name in `subs` replaced by its
/// value (`$A`, `$B`: keys on different redwing cores, for example).
pub fn substitute<'a>(script: &[&[&'a str]], subs: &[(&str, &'a str)]) -> Vec<Vec<&'a str>> {
    script
        .iter()
        .map(|line| {
            line.iter()
                .map(|a| subs.iter().find(|(k, _)| k == a).map_or(*a, |(_, v)| *v))
                .collect()
        })
        .collect()
}

/// Splits space-separated command lines (`''` stands for an empty
/// argument) into argument lists for the comparison helpers.
pub fn split_lines<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    lines
        .iter()
        .map(|l| {
            l.split(' ')
                .map(|a| if a == "''" { "" } else { a })
                .collect()
        })
        .collect()
}

/// Argument lists as the slices the comparison helpers take.
pub fn slices<'a, 'b>(v: &'b [Vec<&'a str>]) -> Vec<&'b [&'a str]> {
    v.iter().map(Vec::as_slice).collect()
}

/// Every thread's stack of process `pid`, from gdb when it is installed:
/// what a hung server was doing is the one clue a CI log can keep.
pub fn thread_stacks(pid: u32) -> String {
    match Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .output()
    {
        Ok(out) => format!("\nits threads:\n{}", String::from_utf8_lossy(&out.stdout)),
        Err(_) => String::new(),
    }
}
