//! Users from outside: the `aclfile` (ACL LOAD / ACL SAVE, read at
//! start-up) and `user` lines of the config file.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use bytes::Bytes;

use super::command::{apply_rules, reason};
use super::{default_user, users, Rules, User, UserRef};
use crate::config::{self, Opt};
use crate::protocol::inline::split_args;

/// Users named by `user` lines of the config file, so far.
static CONFIG_USERS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// A `user <name> <rules...>` line of the config file: applied at once,
/// or the reason it is refused.
pub fn config_line(args: &[String]) -> Result<(), String> {
    let Some(name) = args.first() else {
        return Err("Bad directive or wrong number of arguments".into());
    };
    let mut seen = CONFIG_USERS.lock().unwrap();
    if !seen.get_or_insert_with(HashSet::new).insert(name.clone()) {
        return Err(format!("Error in user declaration '{name}': Duplicate user found. A user can only be defined once in config files"));
    }
    let rules: Vec<Bytes> = args[1..].iter().map(|a| Bytes::from(a.clone())).collect();
    let base = if name == "default" {
        default_user().rules()
    } else {
        Rules::new()
    };
    let r = apply_rules(base, &rules)
        .map_err(|e| format!("Error in user declaration '{name}': {}", reason(&e)))?;
    install(name, r);
    Ok(())
}

fn install(name: &str, r: Rules) {
    if name == "default" {
        default_user().set_rules(r);
    } else {
        users()
            .write()
            .unwrap()
            .insert(name.to_string(), User::new(name, r));
    }
}

/// At start-up: reads `aclfile` when set. Users in both places are refused,
/// as Redis does.
pub fn init() -> Result<(), String> {
    let path = config::text(Opt::Aclfile);
    if path.is_empty() {
        return Ok(());
    }
    if CONFIG_USERS
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    load().map(|_| ())
}

/// Parses the ACL file into users, or Redis's errors (all of them).
fn read(path: &str) -> Result<BTreeMap<String, Rules>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
    let mut out = BTreeMap::new();
    let mut errs = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fail = |m: &str| errs.push_str(&format!("{path}:{}: {m}. ", i + 1));
        let Some(words) = split_args(line.as_bytes()) else {
            fail("unbalanced quotes in acl line");
            continue;
        };
        if words.first().map(|w| w.as_slice()) != Some(b"user") || words.len() < 2 {
            fail("should start with user keyword followed by the username");
            continue;
        }
        let name = String::from_utf8_lossy(&words[1]).into_owned();
        if out.contains_key(&name) {
            fail(&format!("Duplicate user '{name}' found"));
            continue;
        }
        let rules: Vec<Bytes> = words[2..].iter().map(|w| Bytes::from(w.clone())).collect();
        match apply_rules(Rules::new(), &rules) {
            Ok(r) => {
                out.insert(name, r);
            }
            Err(e) => fail(reason(&e)),
        }
    }
    if !errs.is_empty() {
        errs.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errs);
    }
    Ok(out)
}

const NO_FILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// ACL LOAD: replaces every user with the file's (nothing changes on an
/// error). The default user stays the same object with the file's rules
/// (full access when the file has none). Returns the users replaced, whose
/// connections Redis closes.
pub fn load() -> Result<Vec<UserRef>, String> {
    let path = config::text(Opt::Aclfile);
    if path.is_empty() {
        return Err(NO_FILE.into());
    }
    let mut new = read(&path)?;
    let default_rules = new.remove("default").unwrap_or_else(Rules::default_user);
    default_user().set_rules(default_rules);
    let mut all = users().write().unwrap();
    let gone: Vec<UserRef> = all
        .iter()
        .filter(|(n, _)| *n != "default")
        .map(|(_, u)| u.clone())
        .collect();
    all.retain(|n, _| n == "default");
    for (name, r) in new {
        all.insert(name.clone(), User::new(&name, r));
    }
    Ok(gone)
}

/// ACL SAVE: every user as a `user` line, written to a temporary file
/// renamed over the ACL file.
pub fn save() -> Result<(), String> {
    let path = config::text(Opt::Aclfile);
    if path.is_empty() {
        return Err(NO_FILE.into());
    }
    let mut text = String::new();
    for u in users().read().unwrap().values() {
        text.push_str(&format!("user {} {}\n", u.name, u.rules().describe()));
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let written = std::fs::write(&tmp, text.as_bytes()).and_then(|_| std::fs::rename(&tmp, &path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!("Writing the ACL file for ACL SAVE: {e}");
        "There was an error trying to save the ACLs. Please check the server logs for more information".to_string()
    })
}
