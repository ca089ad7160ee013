//! The `sentinel ...` lines of sentinel.conf: read at start
//! (sentinelHandleConfiguration) and written back on every state change
//! (rewriteConfigSentinelOption), so a restarted sentinel remembers its
//! id, epochs, replicas and peers.

use std::io::Write;

use super::addr::{self, Addr, Bad};
use super::timing::{get, T};
use super::{flag, Inst, Master, Sentinel};

fn num(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("'{s}' is not a number"))
}

/// C's atoi, as Redis reads ports and quorums here: leading digits, 0
/// when there are none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    sign * digits[..end].parse::<i64>().unwrap_or(0)
}

/// What kind of instance could not be created.
#[derive(Clone, Copy)]
pub enum Kind {
    Master,
    Replica,
    Sentinel,
}

/// sentinelCheckCreateInstanceErrors: `dup` for a name already taken.
pub fn create_error(kind: Kind, why: Option<Bad>) -> &'static str {
    match (why, kind) {
        (None, Kind::Master) => "Duplicate master name.",
        (None, Kind::Replica) => "Duplicate hostname and port for replica.",
        (None, Kind::Sentinel) => "Duplicate runid for sentinel.",
        (Some(Bad::Unresolved), _) => "Can't resolve instance hostname.",
        (Some(Bad::Port), _) => "Invalid port number.",
    }
}

/// An instance address from a config line: hostnames that do not
/// resolve yet are kept with resolve-hostnames.
fn config_addr(kind: Kind, host: &str, port: &str) -> Result<Addr, String> {
    Addr::new(host, atoi(port), true).map_err(|b| create_error(kind, Some(b)).to_string())
}

/// Applies one `sentinel <args...>` config line (args without "sentinel").
pub fn line(args: &[String]) -> Result<(), String> {
    static FLAGS_READ: std::sync::Once = std::sync::Once::new();
    FLAGS_READ.call_once(read_hostname_flags);
    super::with_parsed(|s| apply(s, args))
}

/// resolve-hostnames and announce-hostnames hold for the whole file, as
/// Redis applies them before any monitor line (its "pre-monitor" config):
/// addresses and replica names read earlier in the file depend on them.
/// Their lines are still applied (and checked) in place.
fn read_hostname_flags() {
    let Some(body) = crate::config::file().and_then(|f| std::fs::read_to_string(f).ok()) else {
        return;
    };
    for l in body.lines() {
        let Some(a) = crate::protocol::inline::split_args(l.trim().as_bytes()) else {
            continue;
        };
        let a: Vec<String> = a
            .iter()
            .map(|x| String::from_utf8_lossy(x).to_ascii_lowercase())
            .collect();
        if a.len() != 3 || a[0] != "sentinel" {
            continue;
        }
        match (a[1].as_str(), yes_no(&a[2])) {
            ("resolve-hostnames", Ok(v)) => addr::set_resolve_hostnames(v),
            ("announce-hostnames", Ok(v)) => addr::set_announce_hostnames(v),
            _ => {}
        }
    }
}

fn master<'a>(s: &'a mut Sentinel, name: &str) -> Result<&'a mut Master, String> {
    s.masters
        .get_mut(name)
        .ok_or_else(|| "No such master with specified name.".to_string())
}

fn positive(v: &str) -> Result<i64, String> {
    let n = num(v)?;
    if n <= 0 {
        return Err("negative or zero time parameter.".into());
    }
    Ok(n)
}

fn apply(s: &mut Sentinel, a: &[String]) -> Result<(), String> {
    let sub = a
        .first()
        .map(|x| x.to_ascii_lowercase())
        .unwrap_or_default();
    let n = a.len();
    match (sub.as_str(), n) {
        ("monitor", 5) => {
            let quorum = atoi(&a[4]);
            if quorum <= 0 {
                return Err("Quorum must be 1 or greater.".into());
            }
            let addr = config_addr(Kind::Master, &a[2], &a[3])?;
            if s.masters.contains_key(&a[1]) {
                return Err(create_error(Kind::Master, None).into());
            }
            let m = Master::new(a[1].clone(), addr, quorum as u32);
            s.masters.insert(a[1].clone(), m);
        }
        ("down-after-milliseconds", 3) => {
            let v = positive(&a[2])?;
            let m = master(s, &a[1])?;
            m.inst.down_after = v;
            for i in m.replicas.values_mut().chain(m.sentinels.values_mut()) {
                i.down_after = v;
            }
        }
        ("failover-timeout", 3) => {
            let v = positive(&a[2])?;
            master(s, &a[1])?.failover_timeout = v;
        }
        ("parallel-syncs", 3) => {
            let v = num(&a[2])?;
            master(s, &a[1])?.parallel_syncs = v.max(0) as u32;
        }
        ("notification-script", 3) | ("client-reconfig-script", 3) => {
            if !executable(&a[2]) {
                return Err(if sub == "notification-script" {
                    "Notification script seems non existing or non executable.".into()
                } else {
                    "Client reconfiguration script seems non existing or non executable.".into()
                });
            }
            let m = master(s, &a[1])?;
            if sub == "notification-script" {
                m.notification_script = a[2].clone();
            } else {
                m.client_reconfig_script = a[2].clone();
            }
        }
        ("auth-pass", 3) => master(s, &a[1])?.auth_pass = a[2].clone(),
        ("auth-user", 3) => master(s, &a[1])?.auth_user = a[2].clone(),
        ("master-reboot-down-after-period", 3) => {
            let v = num(&a[2])?;
            if v < 0 {
                return Err("negative time parameter.".into());
            }
            master(s, &a[1])?.reboot_down_after = v;
        }
        ("rename-command", 4) => {
            if !master(s, &a[1])?.renamed.add(&a[2], &a[3]) {
                return Err("Same command renamed multiple times with rename-command.".into());
            }
        }
        ("current-epoch", 2) => s.current_epoch = num(&a[1])?.max(0) as u64,
        ("myid", 2) => {
            if a[1].len() != 40 {
                return Err("Malformed Sentinel id in myid option.".into());
            }
            s.myid = a[1].clone();
        }
        ("config-epoch", 3) => {
            let v = num(&a[2])?.max(0) as u64;
            let m = master(s, &a[1])?;
            m.config_epoch = v;
            s.current_epoch = s.current_epoch.max(v);
        }
        ("leader-epoch", 3) => {
            let v = num(&a[2])?.max(0) as u64;
            master(s, &a[1])?.leader_epoch = v;
        }
        ("known-slave" | "known-replica", 4) => {
            let m = master(s, &a[1])?;
            let addr = config_addr(Kind::Replica, &a[2], &a[3])?;
            if m.add_replica(addr).is_none() {
                return Err(create_error(Kind::Replica, None).into());
            }
        }
        // The old form without a run id is ignored, as in Redis.
        ("known-sentinel", 4) => {}
        ("known-sentinel", 5) => {
            let m = master(s, &a[1])?;
            let addr = config_addr(Kind::Sentinel, &a[2], &a[3])?;
            let runid = a[4].clone();
            if m.sentinels.contains_key(&runid) {
                return Err(create_error(Kind::Sentinel, None).into());
            }
            let mut i = Inst::new(flag::SENTINEL, runid.clone(), addr, m.inst.down_after);
            i.runid = runid.clone();
            m.sentinels.insert(runid, i);
        }
        ("announce-ip", 2) => s.announce_ip = a[1].clone(),
        ("sentinel-user", 2) => s.sentinel_user = a[1].clone(),
        ("sentinel-pass", 2) => s.sentinel_pass = a[1].clone(),
        ("announce-port", 2) => {
            s.announce_port = a[1]
                .parse::<u16>()
                .map_err(|_| "Please specify a valid port number".to_string())?
        }
        ("deny-scripts-reconfig", 2) => s.deny_scripts_reconfig = yes_no(&a[1])?,
        ("resolve-hostnames", 2) => addr::set_resolve_hostnames(yes_no(&a[1])?),
        ("announce-hostnames", 2) => addr::set_announce_hostnames(yes_no(&a[1])?),
        _ => return Err("Unrecognized sentinel configuration statement.".into()),
    }
    Ok(())
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("Please specify either yes or no.".into()),
    }
}

pub fn executable(path: &str) -> bool {
    let c = std::ffi::CString::new(path).unwrap_or_default();
    // SAFETY: c is a valid NUL-terminated string.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// The `sentinel` lines that describe `s` now, in Redis's order.
pub fn lines(s: &Sentinel) -> Vec<String> {
    let q = crate::config::quote;
    let mut out = vec![format!("sentinel myid {}", s.myid)];
    if !s.deny_scripts_reconfig {
        out.push("sentinel deny-scripts-reconfig no".into());
    }
    // Before the monitor lines: they need it to read hostnames.
    if addr::resolve_hostnames() {
        out.push("sentinel resolve-hostnames yes".into());
    }
    if addr::announce_hostnames() {
        out.push("sentinel announce-hostnames yes".into());
    }
    for m in s.masters.values() {
        let name = m.name();
        let cur = m.current_addr();
        out.push(format!(
            "sentinel monitor {name} {} {} {}",
            cur.announced(),
            cur.port,
            m.quorum
        ));
        if m.inst.down_after != get(T::DefaultDownAfter) {
            out.push(format!(
                "sentinel down-after-milliseconds {name} {}",
                m.inst.down_after
            ));
        }
        if m.failover_timeout != get(T::DefaultFailoverTimeout) {
            out.push(format!(
                "sentinel failover-timeout {name} {}",
                m.failover_timeout
            ));
        }
        if m.parallel_syncs != 1 {
            out.push(format!(
                "sentinel parallel-syncs {name} {}",
                m.parallel_syncs
            ));
        }
        if !m.notification_script.is_empty() {
            out.push(format!(
                "sentinel notification-script {name} {}",
                q(&m.notification_script)
            ));
        }
        if !m.client_reconfig_script.is_empty() {
            out.push(format!(
                "sentinel client-reconfig-script {name} {}",
                q(&m.client_reconfig_script)
            ));
        }
        if !m.auth_pass.is_empty() {
            out.push(format!("sentinel auth-pass {name} {}", q(&m.auth_pass)));
        }
        if !m.auth_user.is_empty() {
            out.push(format!("sentinel auth-user {name} {}", q(&m.auth_user)));
        }
        if m.reboot_down_after != 0 {
            out.push(format!(
                "sentinel master-reboot-down-after-period {name} {}",
                m.reboot_down_after
            ));
        }
        out.push(format!("sentinel config-epoch {name} {}", m.config_epoch));
        out.push(format!("sentinel leader-epoch {name} {}", m.leader_epoch));
        for r in m.replicas.values() {
            // The promoted replica is the master address now: the old
            // master takes its place among the replicas.
            let a = if r.addr.same(cur) {
                &m.inst.addr
            } else {
                &r.addr
            };
            out.push(format!(
                "sentinel known-replica {name} {} {}",
                a.announced(),
                a.port
            ));
        }
        for p in m.sentinels.values().filter(|p| !p.runid.is_empty()) {
            out.push(format!(
                "sentinel known-sentinel {name} {} {} {}",
                p.addr.announced(),
                p.addr.port,
                p.runid
            ));
        }
        for (old, new) in m.renamed.pairs() {
            out.push(format!("sentinel rename-command {name} {old} {new}"));
        }
    }
    if !s.announce_ip.is_empty() {
        out.push(format!("sentinel announce-ip {}", q(&s.announce_ip)));
    }
    if s.announce_port != 0 {
        out.push(format!("sentinel announce-port {}", s.announce_port));
    }
    if !s.sentinel_user.is_empty() {
        out.push(format!("sentinel sentinel-user {}", q(&s.sentinel_user)));
    }
    if !s.sentinel_pass.is_empty() {
        out.push(format!("sentinel sentinel-pass {}", q(&s.sentinel_pass)));
    }
    out.push(format!("sentinel current-epoch {}", s.current_epoch));
    out
}

/// Rewrites the config file with the current state (Redis's
/// sentinelFlushConfig): the options as CONFIG REWRITE writes them, every
/// old `sentinel` line replaced by the current ones, then fsync.
pub fn flush(s: &mut Sentinel) -> Result<(), String> {
    s.dirty = false;
    crate::config::rewrite()?;
    let path = crate::config::file().ok_or("no config file")?;
    let body = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for raw in body.lines() {
        let first = raw.split_whitespace().next().unwrap_or("");
        if !first.eq_ignore_ascii_case("sentinel") {
            out.push_str(raw);
            out.push('\n');
        }
    }
    for l in lines(s) {
        out.push_str(&l);
        out.push('\n');
    }
    let tmp = path.with_extension("sentinel.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| e.to_string())
}

/// Checks at start what Redis checks: a sentinel needs a writable config
/// file to keep its state.
pub fn check_file(file: Option<&std::path::Path>) -> Result<(), String> {
    let Some(f) = file else {
        return Err("Sentinel needs config file on disk to save state.  Exiting...".into());
    };
    let c = std::ffi::CString::new(f.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!(
            "Sentinel config file {} is not writable: {}. Exiting...",
            f.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_and_writes_back() {
        let mut st = Sentinel::default();
        apply(&mut st, &s(&["monitor", "m", "127.0.0.1", "6379", "2"])).unwrap();
        apply(&mut st, &s(&["down-after-milliseconds", "m", "1000"])).unwrap();
        apply(&mut st, &s(&["known-replica", "m", "127.0.0.1", "6380"])).unwrap();
        apply(&mut st, &s(&["current-epoch", "3"])).unwrap();
        assert_eq!(
            apply(&mut st, &s(&["monitor", "m", "127.0.0.1", "6379", "2"])).unwrap_err(),
            "Duplicate master name."
        );
        assert_eq!(
            apply(&mut st, &s(&["parallel-syncs", "x", "1"])).unwrap_err(),
            "No such master with specified name."
        );
        st.myid = "a".repeat(40);
        let l = lines(&st);
        assert!(l.contains(&"sentinel monitor m 127.0.0.1 6379 2".to_string()));
        assert!(l.contains(&"sentinel down-after-milliseconds m 1000".to_string()));
        assert!(l.contains(&"sentinel known-replica m 127.0.0.1 6380".to_string()));
        assert_eq!(l.last().unwrap(), "sentinel current-epoch 3");
    }
}
