//! The `sentinel ...` lines of sentinel.conf: read at start
//! (sentinelHandleConfiguration) and written back on every state change
//! (rewriteConfigSentinelOption), so a restarted sentinel remembers its
//! id, epochs, replicas and peers.

use std::io::Write;

use super::timing::{get, T};
use super::{flag, Inst, Master, Sentinel};

fn num(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("'{s}' is not a number"))
}

fn port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p > 0)
}

/// Applies one `sentinel <args...>` config line (args without "sentinel").
pub fn line(args: &[String]) -> Result<(), String> {
    super::with_parsed(|s| apply(s, args))
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
            let quorum = num(&a[4])?;
            if quorum <= 0 {
                return Err("Quorum must be 1 or greater.".into());
            }
            if s.masters.contains_key(&a[1]) {
                return Err("Duplicated master name.".into());
            }
            let p = port(&a[3]).ok_or("Invalid port number")?;
            let m = Master::new(a[1].clone(), a[2].clone(), p, quorum as u32);
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
            let p = port(&a[3]).ok_or("Wrong hostname or port for replica.")?;
            let m = master(s, &a[1])?;
            m.add_replica(&a[2], p);
        }
        ("known-sentinel", 4 | 5) => {
            let p = port(&a[3]).ok_or("Wrong hostname or port for sentinel.")?;
            let m = master(s, &a[1])?;
            let runid = a.get(4).cloned().unwrap_or_default();
            let mut i = Inst::new(
                flag::SENTINEL,
                runid.clone(),
                a[2].clone(),
                p,
                m.inst.down_after,
            );
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
        ("resolve-hostnames", 2) => s.resolve_hostnames = yes_no(&a[1])?,
        ("announce-hostnames", 2) => s.announce_hostnames = yes_no(&a[1])?,
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
    if s.resolve_hostnames {
        out.push("sentinel resolve-hostnames yes".into());
    }
    if s.announce_hostnames {
        out.push("sentinel announce-hostnames yes".into());
    }
    for m in s.masters.values() {
        let name = m.name();
        let (ip, port) = m.current_addr();
        out.push(format!("sentinel monitor {name} {ip} {port} {}", m.quorum));
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
            // The promoted replica is the master address now.
            if (r.ip.as_str(), r.port) == (ip.as_str(), port) {
                continue;
            }
            out.push(format!("sentinel known-replica {name} {} {}", r.ip, r.port));
        }
        if m.failover_state >= super::Failover::ReconfSlaves
            && (m.inst.ip.as_str(), m.inst.port) != (ip.as_str(), port)
        {
            out.push(format!(
                "sentinel known-replica {name} {} {}",
                m.inst.ip, m.inst.port
            ));
        }
        for p in m.sentinels.values().filter(|p| !p.runid.is_empty()) {
            out.push(format!(
                "sentinel known-sentinel {name} {} {} {}",
                p.ip, p.port, p.runid
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
            "Duplicated master name."
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
