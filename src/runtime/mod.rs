//! Executors, the core mesh, the slot table and the control executor: the
//! only module that knows glommio.
//!
//! ```text
//!   clients ─► shard 0 (cpu a)   shard 1 (cpu b)  ...  shard N-1     control
//!              slots 0..s1       slots s1..s2          slots ..16384 (no slots)
//!                  ▲   ╲ mesh: a request and a reply   ╱   ▲
//!                  └────╲ channel per ordered pair ──-╱────┘
//! ```
//!
//! Every shard executor is pinned to one CPU of the process's affinity mask
//! and accepts clients on the shared port (SO_REUSEPORT). The control
//! executor (mesh index N, unpinned) runs work that is not per key:
//! replication, sentinel, cluster bus, snapshot orchestration.
//! This module imports neither `server` nor a role: `main` hands it the
//! futures each executor runs.

pub mod background;
pub mod gate;
pub mod mesh;
pub mod outbox;
pub mod slots;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

pub use gate::{write_atomically, Txn};
pub use mesh::{call_on, gather, me, run_on, run_on_each, Job};

pub use slots::{owner, storage_range};

static SHARDS: OnceLock<usize> = OnceLock::new();

/// Number of shard cores.
#[inline]
pub fn shards() -> usize {
    *SHARDS.get().unwrap_or(&1)
}

/// Mesh index of the control executor.
pub fn control() -> usize {
    shards()
}

/// CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// io_uring memory registered per ring; glommio registers it in three rings
/// per executor and it counts against RLIMIT_MEMLOCK.
const IO_MEMORY: usize = 1 << 20;

/// Checks that an executor can start here, and says what to change if not.
pub fn preflight() -> Result<(), String> {
    match LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(IO_MEMORY)
        .make()
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            let hint = if text.contains("MemLock") {
                "raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in the systemd unit; see tuning/)"
            } else {
                "io_uring is unavailable: needs Linux 5.8+, sysctl kernel.io_uring_disabled=0, and a container seccomp profile that allows io_uring_* syscalls"
            };
            Err(format!(
                "cannot start an io_uring executor ({text}): {hint}"
            ))
        }
    }
}

/// Starts `n` shard executors on `cpus` and the control executor, and
/// blocks until they all return; `slots::init` has filled the slot table.
/// On shard i, `shard_init(i)` runs first
/// (before any mesh job can arrive), then `shard_main(i)` once the mesh is
/// up; `control_main()` runs on the control executor.
pub fn start<I, S, SF, C, CF>(
    n: usize,
    cpus: &[usize],
    shard_init: I,
    shard_main: S,
    control_main: C,
) -> Result<(), String>
where
    I: Fn(usize) + Send + Clone + 'static,
    S: Fn(usize) -> SF + Send + Clone + 'static,
    SF: Future<Output = ()> + 'static,
    C: FnOnce() -> CF + Send + 'static,
    CF: Future<Output = ()> + 'static,
{
    let n = n.max(1);
    let _ = SHARDS.set(n);
    let mut ends = mesh::build(n + 1);
    let control_ends = ends.pop().expect("control ends");
    let mut handles = Vec::new();
    for (i, e) in ends.into_iter().enumerate() {
        let main = shard_main.clone();
        let init = shard_init.clone();
        let cpu = cpus[i % cpus.len()];
        let h = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard{i}"))
            .io_memory(IO_MEMORY)
            .preempt_timer(Duration::from_millis(2))
            .spawn(move || async move {
                // Peers may send jobs as soon as we join: be ready first.
                init(i);
                mesh::join(i, e).await;
                main(i).await
            })
            .map_err(|e| format!("cannot start shard {i} on cpu {cpu}: {e}"))?;
        handles.push(h);
    }
    let h = LocalExecutorBuilder::new(Placement::Unbound)
        .name("control")
        .io_memory(IO_MEMORY)
        .spawn(move || async move {
            mesh::join(n, control_ends).await;
            control_main().await
        })
        .map_err(|e| format!("cannot start the control executor: {e}"))?;
    handles.push(h);
    for h in handles {
        h.join().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Spawns a task on the current executor.
pub fn spawn<F: Future<Output = ()> + 'static>(f: F) {
    glommio::spawn_local(f).detach();
}

/// Sleeps on the current executor.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}
