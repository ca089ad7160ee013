//! Host checks: the kernel and limit settings that decide whether Redwing
//! can start and how steady its latency is. `redwing-server --check-system`
//! prints them all; at start-up the failing ones are logged as warnings, as
//! Redis does for THP and somaxconn. The fixes live in tuning/.

use crate::config::{self, Opt};

/// One setting, judged.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub found: String,
    /// What to change when not ok.
    pub fix: String,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_num(path: &str) -> Option<i64> {
    read(path)?.parse().ok()
}

fn rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    // SAFETY: getrlimit fills the struct we pass.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(resource, &mut r);
        (r.rlim_cur, r.rlim_max)
    }
}

fn kernel_version() -> Option<(u32, u32)> {
    let rel = read("/proc/sys/kernel/osrelease")?;
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Runs every check for a server with `threads` shard cores.
pub fn run(threads: usize) -> Vec<Check> {
    let mut out = Vec::new();
    let kv = kernel_version();
    out.push(Check {
        name: "kernel",
        ok: kv.is_some_and(|v| v >= (5, 8)),
        found: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        fix: "io_uring needs Linux 5.8 or newer".into(),
    });
    let disabled = read_num("/proc/sys/kernel/io_uring_disabled").unwrap_or(0);
    out.push(Check {
        name: "io_uring",
        ok: disabled == 0,
        found: format!("kernel.io_uring_disabled={disabled}"),
        fix: "sysctl -w kernel.io_uring_disabled=0 (tuning/99-redwing.conf)".into(),
    });
    // glommio registers 1 MiB in each of 3 rings per executor (+ control).
    let need = ((threads + 1) * 3 + 1) as u64 * (1 << 20);
    let (memlock, _) = rlimit(libc::RLIMIT_MEMLOCK);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    out.push(Check {
        name: "memlock",
        ok: root || memlock >= need,
        found: if memlock == libc::RLIM_INFINITY { "unlimited".into() } else { format!("{} KiB{}", memlock / 1024, if root { " (root: exempt)" } else { "" }) },
        fix: format!("raise RLIMIT_MEMLOCK to at least {} KiB: LimitMEMLOCK= in the unit, or tuning/limits.conf", need / 1024),
    });
    let maxclients = config::num(Opt::Maxclients) as u64;
    let (nofile, _) = rlimit(libc::RLIMIT_NOFILE);
    out.push(Check {
        name: "nofile",
        ok: nofile >= maxclients + 32,
        found: format!("{nofile}"),
        fix: format!("raise RLIMIT_NOFILE to at least {} (maxclients + 32): LimitNOFILE= or tuning/limits.conf", maxclients + 32),
    });
    let backlog = config::num(Opt::TcpBacklog);
    for (name, path) in [
        ("somaxconn", "/proc/sys/net/core/somaxconn"),
        (
            "tcp_max_syn_backlog",
            "/proc/sys/net/ipv4/tcp_max_syn_backlog",
        ),
    ] {
        let v = read_num(path).unwrap_or(0);
        out.push(Check {
            name,
            ok: v >= backlog,
            found: format!("{v}"),
            fix: format!("the TCP backlog setting of {backlog} cannot be enforced; set {} >= {backlog} (tuning/99-redwing.conf)", path.trim_start_matches("/proc/sys/").replace('/', ".")),
        });
    }
    let thp = read("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    out.push(Check {
        name: "transparent_hugepage",
        ok: !thp.contains("[always]"),
        found: thp.clone(),
        fix: "THP 'always' adds latency spikes and memory use: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (tuning/redwing-thp.service)".into(),
    });
    let gov = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
    out.push(Check {
        name: "cpu_governor",
        ok: gov.as_deref().is_none_or(|g| g == "performance"),
        found: gov.unwrap_or_else(|| "n/a (no cpufreq)".into()),
        fix: "use the performance governor on shard cores: cpupower frequency-set -g performance"
            .into(),
    });
    let swappiness = read_num("/proc/sys/vm/swappiness").unwrap_or(0);
    let swap = read("/proc/meminfo")
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("SwapTotal:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .unwrap_or_default();
    out.push(Check {
        name: "swappiness",
        ok: swappiness <= 10 || swap == "0",
        found: format!("{swappiness} (swap {swap} kB)"),
        fix: "swapping an in-memory store ruins latency: sysctl -w vm.swappiness=1 (tuning/99-redwing.conf)".into(),
    });
    out
}

/// Prints the checks for `--check-system`; returns whether all passed.
pub fn print(checks: &[Check]) -> bool {
    for c in checks {
        if c.ok {
            println!("ok    {:<22} {}", c.name, c.found);
        } else {
            println!("warn  {:<22} {} -> {}", c.name, c.found, c.fix);
        }
    }
    checks.iter().all(|c| c.ok)
}

/// Logs the failing checks as start-up warnings.
pub fn log_warnings(checks: &[Check]) {
    for c in checks.iter().filter(|c| !c.ok) {
        tracing::warn!("WARNING {}: found {}; {}", c.name, c.found, c.fix);
    }
}
