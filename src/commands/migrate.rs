//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
//! [AUTH2 user pw] [KEYS key ...], as Redis 7.0's migrateCommand.
//!
//! The keys' cores are held (`runtime::Txn`) from the first read to the
//! last delete, so no client sees a key change between its DUMP and its
//! removal — Redis blocks the whole server for the same span. The values
//! go out in one pipelined write (AUTH, SELECT when the cached link's
//! database differs, then one RESTORE per key with its remaining TTL) and
//! the replies are read in order; only keys the target acknowledged are
//! deleted here (unless COPY), and that deletion is journaled as one DEL.
//! Links are cached per core and per `host:port` for 10 s, as Redis
//! caches its migrate sockets, and a request that failed on a cached link
//! before anything was acknowledged is retried once on a new one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::net::ToSocketAddrs;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::{arg_i64, is, with_ctx, ClientRef};
use crate::config::{self, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::Txn;
use crate::storage::journal;

/// Idle cached links are closed after this long (MIGRATE_SOCKET_CACHE_TTL).
const LINK_TTL: Duration = Duration::from_secs(10);
/// At most this many cached links per core (MIGRATE_SOCKET_CACHE_ITEMS).
const MAX_LINKS: usize = 64;

const KEYS_NEED_EMPTY_KEY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
const CONNECT_FAILED: &str = "IOERR error or timeout connecting to the client";

/// A parsed MIGRATE.
struct Request {
    host: String,
    /// As given (the cache is keyed by it); the port is its atoi value.
    port: String,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    /// (user, password) for AUTH / AUTH2.
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

/// Options first, then timeout and database, in migrateCommand's order.
fn parse(args: &[Bytes]) -> Result<Request, Reply> {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = vec![args[3].clone()];
    let mut i = 6;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") && more >= 1 {
            auth = Some((None, args[i + 1].clone()));
            i += 1;
        } else if is(a, "auth2") && more >= 2 {
            auth = Some((Some(args[i + 1].clone()), args[i + 2].clone()));
            i += 2;
        } else if is(a, "keys") {
            if !args[3].is_empty() {
                return Err(err(KEYS_NEED_EMPTY_KEY));
            }
            keys = args[i + 1..].to_vec();
            break;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    let timeout = arg_i64(&args[5])?;
    let db = arg_i64(&args[4])?;
    let timeout = if timeout <= 0 { 1000 } else { timeout };
    Ok(Request {
        host: String::from_utf8_lossy(&args[1]).into_owned(),
        port: String::from_utf8_lossy(&args[2]).into_owned(),
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
        keys,
    })
}

/// A key found here: its deadline (unix ms, 0 for none) and payload.
struct Found {
    pos: usize,
    key: Bytes,
    expire_at: i64,
    payload: Vec<u8>,
}

pub(super) fn migrate_coord(
    c: ClientRef,
    args: Vec<Bytes>,
) -> Pin<Box<dyn Future<Output = Reply>>> {
    Box::pin(migrate(c, args))
}

async fn migrate(c: ClientRef, args: Vec<Bytes>) -> Reply {
    let req = match parse(&args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (db, client) = {
        let c = c.borrow();
        (c.db, c.id)
    };
    let cores: Vec<usize> = req
        .keys
        .iter()
        .map(|k| crate::cluster::route::core(k))
        .collect();
    let txn = Txn::begin(cores.iter().copied()).await;
    let reply = match gather(&txn, db, &req.keys, &cores).await {
        Ok(found) if found.is_empty() => Reply::status("NOKEY"),
        Ok(found) => transfer(&txn, db, client, &req, found).await,
        Err(e) => e,
    };
    txn.end().await;
    reply
}

/// Each core dumps its keys that exist (a read lookup, as Redis's);
/// the result is in argument order.
async fn gather(
    txn: &Txn,
    db: usize,
    keys: &[Bytes],
    cores: &[usize],
) -> Result<Vec<Found>, Reply> {
    let mut found = Vec::new();
    for &core in txn.cores() {
        let here: Vec<(usize, Bytes)> = (0..keys.len())
            .filter(|&i| cores[i] == core)
            .map(|i| (i, keys[i].clone()))
            .collect();
        let got = txn
            .call(core, move || {
                with_ctx(db, |ctx| {
                    let mut out = Vec::new();
                    for (pos, key) in here {
                        if let Some(e) = ctx.lookup_read(&key) {
                            out.push(Found {
                                pos,
                                expire_at: e.expire_at().unwrap_or(0),
                                payload: super::dump::payload_of(&e.value),
                                key,
                            });
                        }
                    }
                    out
                })
            })
            .await?;
        found.extend(got);
    }
    found.sort_by_key(|f| f.pos);
    Ok(found)
}

/// Sends the keys, deletes what the target took (unless COPY), replies.
async fn transfer(txn: &Txn, db: usize, client: u64, req: &Request, found: Vec<Found>) -> Reply {
    let name = format!("{}:{}", req.host, req.port);
    let mut may_retry = true;
    loop {
        let (mut link, x) = match link_for(&name, req).await {
            Ok(mut link) => {
                let x = exchange(&mut link, req, &found).await;
                (Some(link), x)
            }
            Err(Refused::NoConnection) => return err(CONNECT_FAILED),
            // Redis's blocking connect only waits for the socket to be
            // writable, so a refused connection fails at the first write.
            Err(Refused::AtFirstWrite) => {
                let end = End::Socket {
                    timeout: false,
                    writing: true,
                    first: true,
                };
                (None, Exchange { acked: vec![], end })
            }
        };
        if !req.copy && !x.acked.is_empty() {
            let keys: Vec<Bytes> = x.acked.iter().map(|&i| found[i].key.clone()).collect();
            delete(txn, db, client, keys).await;
        }
        match x.end {
            End::Done => {
                if let Some(mut link) = link.take() {
                    link.last_db = Some(req.db);
                    keep(name, link);
                }
                return Reply::Ok;
            }
            End::Target { error, closed } => {
                if let Some(mut link) = link.take().filter(|_| !closed) {
                    link.last_db = None;
                    keep(name, link);
                }
                return Reply::error(format!("ERR Target instance replied with error: {error}"));
            }
            End::Socket {
                timeout,
                writing,
                first,
            } => {
                drop(link);
                if first && !timeout && may_retry {
                    may_retry = false;
                    continue;
                }
                let what = if writing { "writing" } else { "reading" };
                return Reply::error(format!("IOERR error or timeout {what} to target instance"));
            }
        }
    }
}

/// How an exchange with the target ended.
enum End {
    /// Every reply read, none an error.
    Done,
    /// The first error the target replied (its text without the `-`);
    /// `closed` when the link failed after it.
    Target { error: String, closed: bool },
    /// The link failed: on a timeout, while writing, and whether before
    /// any RESTORE reply was read (a retry is then safe).
    Socket {
        timeout: bool,
        writing: bool,
        first: bool,
    },
}

struct Exchange {
    /// Indices into `found` of the keys the target acknowledged.
    acked: Vec<usize>,
    end: End,
}

/// One pipelined request and its replies.
async fn exchange(link: &mut Link, req: &Request, found: &[Found]) -> Exchange {
    let mut cmds: Vec<Vec<Bytes>> = Vec::new();
    if let Some((user, pass)) = &req.auth {
        let mut c = vec![Bytes::from_static(b"AUTH")];
        c.extend(user.clone());
        c.push(pass.clone());
        cmds.push(c);
    }
    let select = link.last_db != Some(req.db);
    if select {
        cmds.push(vec![Bytes::from_static(b"SELECT"), num(req.db)]);
    }
    let restore: &'static [u8] = restore_command();
    let now = crate::storage::now_ms();
    let mut sent = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let ttl = match f.expire_at {
            0 => 0,
            // Expired since it was looked up: not sent, not deleted.
            at if at - now < 0 => continue,
            at => (at - now).max(1),
        };
        let mut c = vec![
            Bytes::from_static(restore),
            f.key.clone(),
            num(ttl),
            Bytes::copy_from_slice(&f.payload),
        ];
        if req.replace {
            c.push(Bytes::from_static(b"REPLACE"));
        }
        cmds.push(c);
        sent.push(i);
    }
    let mut out = Vec::new();
    for c in &cmds {
        journal::encode(&mut out, c);
    }
    let mut x = Exchange {
        acked: Vec::new(),
        end: End::Done,
    };
    let socket = |e: std::io::Error, writing: bool, first: bool| End::Socket {
        timeout: matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
        writing,
        first,
    };
    if let Err(e) = link.write(&out, req.timeout).await {
        x.end = socket(e, true, true);
        return x;
    }
    // An AUTH or SELECT error counts against every key (Redis checks it
    // with each RESTORE reply).
    let mut before = None;
    for _ in 0..(req.auth.is_some() as usize + select as usize) {
        match link.read_line(req.timeout).await {
            Ok(l) if l.starts_with(b"-") => {
                before.get_or_insert(l);
            }
            Ok(_) => {}
            Err(e) => {
                x.end = socket(e, false, true);
                return x;
            }
        }
    }
    let mut target_error: Option<Vec<u8>> = None;
    let mut failed = None;
    for (n, &i) in sent.iter().enumerate() {
        match link.read_line(req.timeout).await {
            Ok(l) => match before.as_ref().or(l.starts_with(b"-").then_some(&l)) {
                Some(e) => {
                    target_error.get_or_insert_with(|| e.clone());
                }
                None => x.acked.push(i),
            },
            Err(e) => {
                failed = Some((e, n == 0));
                break;
            }
        }
    }
    x.end = match (target_error, failed) {
        (Some(e), failed) => End::Target {
            error: String::from_utf8_lossy(&e[1..]).into_owned(),
            closed: failed.is_some(),
        },
        (None, Some((e, first))) => socket(e, false, first),
        (None, None) => End::Done,
    };
    x
}

fn num(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

/// RESTORE-ASKING in cluster mode (the target may be importing the slot),
/// plain RESTORE otherwise. Cluster mode is decided by `cluster-enabled`.
fn restore_command() -> &'static [u8] {
    if config::num(Opt::ClusterEnabled) == 1 {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    }
}

/// Deletes the keys the target took, on their cores, and journals them
/// as one DEL (Redis rewrites MIGRATE as that DEL).
async fn delete(txn: &Txn, db: usize, client: u64, keys: Vec<Bytes>) {
    for &core in txn.cores() {
        let here: Vec<Bytes> = keys
            .iter()
            .filter(|k| crate::cluster::route::core(k) == core)
            .cloned()
            .collect();
        if here.is_empty() {
            continue;
        }
        let done = txn.call(core, move || {
            with_ctx(db, |ctx| {
                for k in &here {
                    if ctx.lookup_write(k).is_some() {
                        ctx.delete(k);
                        ctx.dirty(1);
                        super::key_changed(db, k, client);
                    }
                }
            })
        });
        // Fails only at shutdown, when there is nothing left to delete from.
        let _ = done.await;
    }
    let mut form = vec![Bytes::from_static(b"DEL")];
    form.extend(keys);
    txn.record(db, &form);
}

// ---------------------------------------------------------------------------
// Cached links

/// A connection to a target, with what it has selected.
struct Link {
    stream: TcpStream,
    /// Bytes read past the last reply line.
    buf: Vec<u8>,
    last_db: Option<i64>,
    last_use: Instant,
}

thread_local! {
    static LINKS: RefCell<HashMap<String, Link>> = RefCell::new(HashMap::new());
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// Why no link could be had.
enum Refused {
    /// The address did not resolve or the connection timed out: "error or
    /// timeout connecting".
    NoConnection,
    /// The connection was refused; Redis finds out when it writes.
    AtFirstWrite,
}

/// The cached link to `name`, taken out of the cache while in use, or a
/// new connection.
async fn link_for(name: &str, req: &Request) -> Result<Link, Refused> {
    if let Some(mut l) = LINKS.with(|c| c.borrow_mut().remove(name)) {
        l.last_use = Instant::now();
        return Ok(l);
    }
    let port = atoi(&req.port);
    let addr = (req.host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Refused::NoConnection)?;
    let stream = match TcpStream::connect_timeout(addr, req.timeout).await {
        Ok(s) => s,
        Err(e) => match std::io::Error::from(e).kind() {
            ErrorKind::TimedOut => return Err(Refused::NoConnection),
            _ => return Err(Refused::AtFirstWrite),
        },
    };
    stream.set_nodelay(true).ok();
    Ok(Link {
        stream,
        buf: Vec::new(),
        last_db: None,
        last_use: Instant::now(),
    })
}

/// C's atoi: leading digits, 0 when there are none.
fn atoi(s: &str) -> u16 {
    let digits: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().map_or(0, |n| n as u16)
}

/// Puts a link back in the cache (dropping a random one when full) and
/// makes sure idle ones get closed.
fn keep(name: String, link: Link) {
    LINKS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_LINKS && !c.contains_key(&name) {
            let victim = c.keys().next().cloned();
            victim.map(|v| c.remove(&v));
        }
        c.insert(name, link);
    });
    if !SWEEPING.with(|s| s.replace(true)) {
        glommio::spawn_local(sweep()).detach();
    }
}

/// Closes links idle for more than LINK_TTL, once a second, until none
/// is left (Redis's migrateCloseTimedoutSockets in its cron).
async fn sweep() {
    loop {
        glommio::timer::sleep(Duration::from_secs(1)).await;
        let left = LINKS.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|_, l| l.last_use.elapsed() <= LINK_TTL);
            c.len()
        });
        if left == 0 {
            SWEEPING.with(|s| s.set(false));
            return;
        }
    }
}

impl Link {
    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
        self.stream.set_write_timeout(Some(timeout))?;
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// One reply line without its CR LF (Redis's connSyncReadLine).
    async fn read_line(&mut self, timeout: Duration) -> std::io::Result<Vec<u8>> {
        self.stream.set_read_timeout(Some(timeout))?;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            let mut chunk = [0u8; 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn parses_options_as_redis() {
        let r = parse(&args(&[
            "MIGRATE", "h", "1", "", "3", "0", "COPY", "AUTH2", "u", "p", "KEYS", "a", "b",
        ]))
        .unwrap();
        assert!(r.copy && !r.replace);
        assert_eq!(r.db, 3);
        assert_eq!(r.timeout, Duration::from_millis(1000));
        assert_eq!(r.keys, args(&["a", "b"]));
        assert_eq!(r.auth.unwrap().0.as_deref(), Some(&b"u"[..]));
        let e = parse(&args(&["MIGRATE", "h", "1", "k", "0", "5", "KEYS", "a"])).err();
        assert_eq!(e, Some(err(KEYS_NEED_EMPTY_KEY)));
        let e = parse(&args(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH"])).err();
        assert_eq!(e, Some(err(errors::SYNTAX)));
        assert_eq!(atoi("6379x"), 6379);
        assert_eq!(atoi("x"), 0);
    }
}
