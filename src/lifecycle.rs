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
    locks: Vec<(PathBuf, File)>,
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

/// Takes an exclusive lock on `/tmp/redwing-<addr>-<port>.lock` for each
/// listening address. SO_REUSEPORT would otherwise let a second server
/// silently share the port and steal half the connections.
pub fn lock_addresses(addrs: &[std::net::SocketAddr]) -> Result<(), String> {
    for a in addrs {
        let path = PathBuf::from(format!("/tmp/redwing-{}-{}.lock", a.ip(), a.port()));
        let f = File::create(&path)
            .map_err(|e| format!("cannot create lock file {}: {e}", path.display()))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(format!(
                "Could not create server TCP listening socket {a}: another redwing-server holds {} (bind: Address already in use)",
                path.display()
            ));
        }
        HELD.lock().unwrap().locks.push((path, f));
    }
    Ok(())
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
        for (p, _) in &h.locks {
            let _ = std::fs::remove_file(p);
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

/// Starts a thread that turns SIGTERM and SIGINT into a shutdown.
pub fn handle_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
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

/// Tells systemd (Type=notify) that the server is ready, when started by it.
pub fn notify_ready() {
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
