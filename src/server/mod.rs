//! The data node's shard side: listeners, connections, dispatch.
//!
//! Every shard core binds the same addresses with SO_REUSEPORT (the kernel
//! spreads connections by 4-tuple hash) and serves the connections it
//! accepted; a connection never moves between cores.

pub mod connection;
pub mod dispatch;
pub mod replay;
pub mod script;
pub mod transaction;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};
use socket2::{Domain, Socket, Type};

use crate::commands::client::{ClientState, CONNECTED};
use crate::commands::stats;
use crate::config::{self, Opt};
use crate::runtime;
use crate::storage::journal;
use crate::storage::shard;

/// A `bind` entry: `*` is every IPv4 address, `::*` every IPv6 one, and a
/// leading `-` makes the address optional (skipped if it cannot be bound).
#[derive(Debug, Clone, PartialEq)]
pub struct BindAddr {
    pub addr: SocketAddr,
    pub optional: bool,
}

/// The addresses from the `bind` and `port` options.
pub fn bind_addrs() -> Result<Vec<BindAddr>, String> {
    let port = config::num(Opt::Port) as u16;
    config::text(Opt::Bind)
        .split_whitespace()
        .map(|a| {
            let (optional, a) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let ip: IpAddr = match a {
                "*" => "0.0.0.0".parse().unwrap(),
                "::*" => "::".parse().unwrap(),
                _ => a
                    .parse()
                    .map_err(|_| format!("Invalid bind address '{a}'"))?,
            };
            Ok(BindAddr {
                addr: SocketAddr::new(ip, port),
                optional,
            })
        })
        .collect()
}

/// Creates a listening socket that shard cores share through SO_REUSEPORT.
pub fn listen_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(config::num(Opt::TcpBacklog) as i32)?;
    Ok(sock)
}

/// Sets up shard `i`'s store; runs before the core joins the mesh.
pub fn shard_init(i: usize) {
    let n = runtime::shards();
    shard::install(
        i,
        runtime::storage_range(i, n),
        config::num(Opt::Databases) as usize,
    );
    // A transaction's ready keys are served as it opens the core's gate.
    runtime::gate::on_open(crate::commands::blocking::serve_ready);
}

/// What shard `i` runs: active expiry and the accept loops.
pub async fn shard_main(_shard: usize) {
    let n = runtime::shards();
    runtime::spawn(active_expire());
    let addrs = match bind_addrs() {
        Ok(a) => a,
        Err(e) => return tracing::error!("{e}"),
    };
    let mut loops = Vec::new();
    for b in addrs {
        match listen_socket(b.addr) {
            // SAFETY: the fd is a bound, listening socket we own.
            Ok(s) => {
                crate::lifecycle::track_listener(s.as_raw_fd());
                loops.push(glommio::spawn_local(accept_loop(unsafe {
                    TcpListener::from_raw_fd(s.into_raw_fd())
                })))
            }
            Err(e) if b.optional => tracing::debug!("skipping optional bind {}: {e}", b.addr),
            Err(e) => {
                tracing::warn!(
                    "Could not create server TCP listening socket {}: {e}",
                    b.addr
                );
                crate::lifecycle::exit(1);
            }
        }
    }
    // The last shard to listen announces readiness (log and systemd),
    // once the dump file is loaded.
    while crate::persistence::loading() {
        runtime::sleep(Duration::from_millis(5)).await;
    }
    if BOUND.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1 == n {
        if crate::persistence::load::info().keys_loaded == 0 {
            // Redis's used_memory_startup: what the empty server holds.
            crate::memory::startup(crate::memory::used(), 0);
        }
        tracing::info!("Ready to accept connections tcp");
        crate::lifecycle::notify_ready();
    }
    for l in loops {
        l.await;
    }
}

/// Shards that have bound their listeners.
static BOUND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What the control executor runs: loading the dump file, then the
/// persistence timer (save rules, shutdown on a signal). Replication,
/// sentinel and the cluster bus will run here too.
pub async fn control_main() {
    use crate::persistence::{load, save};
    save::init(crate::storage::now_ms() / 1000);
    if crate::sentinel::enabled() {
        // A sentinel has no dataset: its role task, and the timer that
        // serves signals (save rules are off).
        crate::lifecycle::defer_signals();
        runtime::spawn(crate::sentinel::run());
        return save::cron().await;
    }
    crate::persistence::set_function_hooks(script::function_hooks());
    // A signal while loading exits at once, without saving half a dataset.
    if config::num(Opt::Appendonly) == 1 {
        crate::persistence::aof::at_start(&mut replay::Replayer::new()).await;
        load::done();
    } else {
        load::at_start().await;
    }
    crate::lifecycle::defer_signals();
    if crate::cluster::enabled() {
        // The bus listens on the `bind` addresses at the cluster port.
        let port = match config::num(Opt::ClusterPort) as u16 {
            0 => (config::num(Opt::Port) as u16).wrapping_add(10000),
            p => p,
        };
        let addrs = bind_addrs()
            .unwrap_or_default()
            .into_iter()
            .map(|b| SocketAddr::new(b.addr.ip(), port))
            .collect();
        runtime::spawn(crate::cluster::bus::run(addrs));
    }
    // The role tasks: replication's timer (pings, timeouts, backlog TTL),
    // and the link to our master with `replicaof` in the config.
    runtime::spawn(crate::replication::master::cron());
    crate::replication::replica::set_applier(|| Box::new(replay::Replayer::new()));
    crate::replication::replica::start_from_config();
    save::cron().await
}

async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                stats::with(|s| s.total_connections += 1);
                runtime::spawn(start_connection(stream));
            }
            Err(_) if crate::lifecycle::exiting() => return,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                runtime::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

async fn start_connection(mut stream: TcpStream) {
    use futures_lite::AsyncWriteExt;
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    set_keepalive(fd);
    let peer = stream.peer_addr().ok();
    let local = stream.local_addr().ok();
    // As Redis: the client limit first (counted over every core), then
    // protected mode.
    if !take_client_place() {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        stats::with(|s| s.rejected_connections += 1);
        return;
    }
    // Protected mode: without a password only loopback clients (127.x,
    // ::1) are served, whatever `bind` says (Redis 7.0 dropped the bind
    // condition of 6.x).
    if config::num(Opt::ProtectedMode) == 1
        && !crate::acl::default_has_password()
        && peer.is_some_and(|p| !p.ip().is_loopback())
    {
        CONNECTED.fetch_sub(1, Ordering::Relaxed);
        let _ = stream.write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
        stats::with(|s| s.rejected_connections += 1);
        return;
    }
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "?:0".to_string(), |a| a.to_string());
    let client = ClientState::register(show(peer), show(local), fd);
    connection::serve(stream, client).await;
}

/// Takes one of the `maxclients` places, counted over every core in one
/// atomic step, so two cores accepting at once cannot both take the last
/// place. `ClientState::unregister` gives it back.
fn take_client_place() -> bool {
    let max = config::num(Opt::Maxclients).max(0) as usize;
    CONNECTED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

fn set_keepalive(fd: i32) {
    let secs = config::num(Opt::TcpKeepalive);
    if secs <= 0 {
        return;
    }
    // SAFETY: fd is the live socket of the connection being set up.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&bfd);
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(secs as u64))
        .with_interval(Duration::from_secs((secs as u64 / 3).max(1)));
    let _ = sock.set_tcp_keepalive(&ka);
}

/// Active expiry on this shard: every 1/hz seconds, in budgeted chunks.
async fn active_expire() {
    runtime::background::every(
        || Duration::from_millis(1000 / config::num(Opt::Hz).max(1) as u64),
        |budget| {
            shard::refresh_lru_clock();
            crate::commands::evict::cron();
            // Not while a transaction holds this core: its journal block
            // must not miss a deletion that happened before its writes.
            // Not on a replica: its master's DELs expire its keys.
            if !runtime::gate::admits(0)
                || crate::replication::replica::is_replica()
                || !shard::active_expire_enabled()
            {
                return false;
            }
            let more = shard::with(|s| s.active_expire(budget, crate::commands::key_expired));
            journal::publish();
            more
        },
    )
    .await
}
