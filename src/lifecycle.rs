//! Process start and stop: the pidfile, the port lock, and the one exit
//! path that SIGTERM, SIGINT and SHUTDOWN all take.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Files to remove on exit, and locks to hold until then.
struct Held {
    pidfile: Option<PathBuf>,
    /// Lock files, and whether this process holds them exclusively.
    locks: Vec<(PathBuf, File, bool)>,
    listeners: Vec<i32>,
}

static HELD: Mutex<Held> = Mutex::new(Held {
    pidfile: None,
    locks: Vec::new(),
    listeners: Vec::new(),
});

static EXITING: AtomicBool = AtomicBool::new(false);

/// The process is leaving (accept errors from its closed listeners are
/// expected).
pub fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

/// Remembers a listening socket, so that `exit` stops it at once: a
/// socket with an io_uring accept in flight outlives the process for a
/// moment otherwise, and would still take connections.
pub fn track_listener(fd: i32) {
    if let Ok(mut h) = HELD.lock() {
        h.listeners.push(fd);
    }
}

/// Locks the listening addresses against a second redwing-server:
/// SO_REUSEPORT would otherwise let it silently share the port and steal
/// half the connections. Each address takes `/tmp/redwing-<ip>-<port>.lock`
/// exclusively; a specific address also takes its family's wildcard file
/// (`0.0.0.0` or `::`) shared, so a server on `*` and one on `127.0.0.1`
/// exclude each other as their binds would without SO_REUSEPORT, while
/// servers on two specific addresses may share a port (as Redis's may).
pub fn lock_addresses(addrs: &[std::net::SocketAddr]) -> Result<(), String> {
    for a in addrs {
        let in_use = |path: &std::path::Path| {
            format!(
                "Could not create server TCP listening socket {a}: another redwing-server holds {} (bind: Address already in use)",
                path.display()
            )
        };
        let own = lock_path(a.ip(), a.port());
        let f = lock_file(&own, libc::LOCK_EX)?.ok_or_else(|| in_use(&own))?;
        HELD.lock().unwrap().locks.push((own, f, true));
        if !a.ip().is_unspecified() {
            let any = match a {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
            };
            let wild = lock_path(any, a.port());
            // Two specific addresses of one port share it once: two
            // shared locks of ours would keep exit from removing it.
            if HELD
                .lock()
                .unwrap()
                .locks
                .iter()
                .any(|(p, _, ex)| *p == wild && !ex)
            {
                continue;
            }
            let f = lock_file(&wild, libc::LOCK_SH)?.ok_or_else(|| in_use(&wild))?;
            HELD.lock().unwrap().locks.push((wild, f, false));
        }
    }
    Ok(())
}

fn lock_path(ip: std::net::IpAddr, port: u16) -> PathBuf {
    PathBuf::from(format!("/tmp/redwing-{ip}-{port}.lock"))
}

/// Takes `mode` (LOCK_EX or LOCK_SH) on the file at `path` without
/// waiting; `None` if another process holds a conflicting lock. The file
/// is checked to still be the one at `path` after locking: a stopping
/// server may have removed it meanwhile, and a lock on a removed file
/// guards nothing.
fn lock_file(path: &std::path::Path, mode: i32) -> Result<Option<File>, String> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot create lock file {}: {e}", path.display()))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), mode | libc::LOCK_NB) } != 0 {
            return Ok(None);
        }
        let same = match (f.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(now)) => held.ino() == now.ino() && held.dev() == now.dev(),
            _ => false,
        };
        if same {
            return Ok(Some(f));
        }
    }
}

/// Writes the pidfile, as redis-server does when `pidfile` is set.
pub fn write_pidfile(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    let mut f = File::create(path).map_err(|e| format!("Failed to write PID file {path}: {e}"))?;
    writeln!(f, "{}", std::process::id())
        .map_err(|e| format!("Failed to write PID file {path}: {e}"))?;
    HELD.lock().unwrap().pidfile = Some(PathBuf::from(path));
    Ok(())
}

/// Leaves the process: removes the pidfile and lock files, then exits.
pub fn exit(code: i32) -> ! {
    EXITING.store(true, Ordering::SeqCst);
    if let Ok(h) = HELD.lock() {
        for &fd in &h.listeners {
            // SAFETY: shutdown on a socket fd this process opened.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        if let Some(p) = &h.pidfile {
            let _ = std::fs::remove_file(p);
        }
        for (p, f, exclusive) in &h.locks {
            // A shared file goes only if no other server shares it now.
            // SAFETY: flock on an fd we own.
            if *exclusive
                || unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0
            {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    std::process::exit(code)
}

/// The orderly stop of SIGTERM/SIGINT before the server runs.
pub fn shutdown(reason: &str) -> ! {
    tracing::warn!("{reason}, scheduling shutdown...");
    tracing::info!("User requested shutdown...");
    exit_after_shutdown()
}

/// The last step of an orderly stop (after any final save).
pub fn exit_after_shutdown() -> ! {
    tracing::info!("Redwing is now ready to exit, bye bye...");
    exit(0)
}

/// Once the server runs, a signal only leaves a request that the control
/// executor serves (it may need to save first).
static DEFER_SIGNALS: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicBool = AtomicBool::new(false);

/// From now on SIGTERM/SIGINT wait for `take_signal` instead of exiting.
pub fn defer_signals() {
    DEFER_SIGNALS.store(true, Ordering::SeqCst);
}

pub fn signal_pending() -> bool {
    SIGNAL.load(Ordering::SeqCst)
}

pub fn take_signal() {
    SIGNAL.store(false, Ordering::SeqCst);
}

/// Starts a thread that turns SIGTERM and SIGINT into a shutdown. SIGHUP
/// is ignored, as Redis does (a closed terminal does not stop the server).
pub fn handle_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // SAFETY: setting a signal's disposition to "ignore".
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).expect("signal handlers");
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                if !DEFER_SIGNALS.load(Ordering::SeqCst) {
                    shutdown(&format!("Received {name}"));
                }
                tracing::warn!("Received {name} scheduling shutdown...");
                SIGNAL.store(true, Ordering::SeqCst);
            }
        })
        .expect("signal thread");
}

/// The write end of the pipe a daemonized server's parent waits on.
static READY_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// `daemonize yes`, as redis-server does it: fork, the child leaves the
/// terminal (setsid, stdio on /dev/null) and goes on starting; the parent
/// exits 0 once the child is ready to accept connections, or 1 if it
/// stops before that, so `Type=forking` units see a server that runs.
/// Must run before any thread starts (executors, signals).
pub fn daemonize() -> Result<(), String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "daemonize: pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the process has one thread here, so the child is whole.
    match unsafe { libc::fork() } {
        -1 => Err(format!(
            "daemonize: fork: {}",
            std::io::Error::last_os_error()
        )),
        0 => {
            // SAFETY: closing our fd copies, new session, stdio redirection.
            unsafe {
                libc::close(fds[0]);
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    for fd in 0..3 {
                        libc::dup2(null, fd);
                    }
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            READY_FD.store(fds[1], Ordering::SeqCst);
            Ok(())
        }
        _ => {
            // SAFETY: close and read on the pipe we created.
            unsafe { libc::close(fds[1]) };
            let mut b = 0u8;
            let n = unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
            std::process::exit(if n == 1 { 0 } else { 1 })
        }
    }
}

/// Tells a waiting parent (`daemonize`), and the supervisor as configured
/// by `supervised`, that the server is ready.
pub fn notify_ready() {
    let fd = READY_FD.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write and close on our pipe end.
        unsafe {
            libc::write(fd, b"1".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
    use crate::config::{self, Opt};
    let socket = std::env::var_os("NOTIFY_SOCKET");
    match config::text(Opt::Supervised).as_str() {
        "systemd" if socket.is_none() => {
            tracing::warn!(
                "systemd supervision requested or auto-detected, but NOTIFY_SOCKET not found!"
            );
        }
        "systemd" | "auto" => notify_systemd(),
        _ => {}
    }
}

/// `supervised upstart` (or `auto` under upstart): stop until upstart
/// sees the process is up, as Redis does, before serving.
pub fn supervise_upstart() {
    use crate::config::{self, Opt};
    let mode = config::text(Opt::Supervised);
    let job = std::env::var_os("UPSTART_JOB");
    if mode == "upstart" && job.is_none() {
        tracing::warn!("upstart supervision requested, but UPSTART_JOB not found!");
    }
    if (mode == "upstart" || mode == "auto") && job.is_some() {
        tracing::info!("supervised by upstart, will stop to signal readiness.");
        // SAFETY: raising a signal on ourselves; removing an env var
        // before any thread starts.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
        std::env::remove_var("UPSTART_JOB");
    }
}

/// `disable-thp yes`: turns transparent huge pages off for this process
/// (copy-on-write snapshots would copy 2 MB per touched page otherwise).
pub fn disable_thp() {
    if crate::config::num(crate::config::Opt::DisableThp) == 1 {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

/// The oom_score_adj the process started with (`relative` adds to it).
static OOM_BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// `oom-score-adj` / `oom-score-adj-values`: writes the master's value
/// (the first of the three) to /proc/self/oom_score_adj, as Redis does.
pub fn apply_oom_score_adj() -> Result<(), String> {
    use crate::config::{self, Opt};
    const PATH: &str = "/proc/self/oom_score_adj";
    let base = *OOM_BASE.get_or_init(|| {
        std::fs::read_to_string(PATH)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    });
    let values: Vec<i64> = config::text(Opt::OomScoreAdjValues)
        .split_whitespace()
        .map(|v| v.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "Invalid oom-score-adj-values".to_string())?;
    if values.len() != 3 || values.iter().any(|v| !(-2000..=2000).contains(v)) {
        return Err(
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
        );
    }
    let want = match config::text(Opt::OomScoreAdj).as_str() {
        "no" => base,
        "absolute" => values[0],
        _ => base + values[0],
    }
    .clamp(-1000, 1000);
    let now: Option<i64> = std::fs::read_to_string(PATH)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    if now == Some(want) {
        return Ok(());
    }
    std::fs::write(PATH, want.to_string())
        .map_err(|e| format!("Unable to write oom_score_adj: {e}"))
}

/// Tells systemd (Type=notify) that the server is ready.
fn notify_systemd() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    // An abstract socket name starts with '@'.
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(_) => return,
    };
    let msg = format!(
        "READY=1\nSTATUS=Ready to accept connections\nMAINPID={}",
        std::process::id()
    );
    let sent = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
        }
        None => sock.send_to(msg.as_bytes(), &path),
    };
    if let Err(e) = sent {
        tracing::warn!("systemd notification failed: {e}");
    }
}
