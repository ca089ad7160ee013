//! Access control (Redis 7.0's ACL): users, their passwords and
//! permissions, the check every command passes, AUTH, the ACL LOG, the ACL
//! command and the ACL file.
//!
//! A connection holds its user (`ClientState::user`, shared). The check on
//! the hot path is one load of the user's `unrestricted` flag (on for the
//! default user: all commands, all keys, all channels); only a restricted
//! user walks its selectors' command bitsets, key and channel patterns.
//! Users change in place, so a SETUSER takes effect on the next command of
//! every connection authenticated as that user, as in Redis.

pub mod category;
pub mod command;
pub mod file;
pub mod keys;
pub mod log;
pub mod selector;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::commands::ClientState;
use crate::config::{self, Opt};
use crate::protocol::{errors, Reply};
use selector::{Denied, Selector};

/// A user's rules: flags, passwords and selectors.
#[derive(Clone, Debug)]
pub struct Rules {
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` / `skip-sanitize-payload` (Some(true) / Some(false)).
    pub sanitize: Option<bool>,
    /// SHA-256 hashes, lower-case hex.
    pub passwords: Vec<String>,
    pub root: Selector,
    pub selectors: Vec<Selector>,
}

#[derive(Debug)]
pub struct User {
    pub name: String,
    /// The root selector allows everything: the check is this one load.
    unrestricted: AtomicBool,
    rules: RwLock<Rules>,
}

pub type UserRef = Arc<User>;

fn pubsub_default_all() -> bool {
    config::text(Opt::AclPubsubDefault) == "allchannels"
}

impl Rules {
    /// A new user: off, no password, nothing allowed; channels as
    /// `acl-pubsub-default`.
    pub fn new() -> Rules {
        Rules {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(pubsub_default_all()),
            selectors: Vec::new(),
        }
    }

    /// The default user at start: `on nopass ~* &* +@all`.
    fn default_user() -> Rules {
        Rules {
            enabled: true,
            nopass: true,
            root: Selector::everything(),
            ..Rules::new()
        }
    }

    /// Applies one SETUSER argument (a selector `(...)` already joined into
    /// one), or gives Redis's reason for refusing it.
    pub fn apply(&mut self, op: &str) -> Result<(), &'static str> {
        match op.to_ascii_lowercase().as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "sanitize-payload" => self.sanitize = Some(true),
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "off",
                    "clearselectors",
                    "-@all",
                ] {
                    self.apply(r)?;
                }
                if pubsub_default_all() {
                    self.apply("allchannels")?;
                }
                self.sanitize = Some(true);
            }
            _ => return self.apply_other(op),
        }
        Ok(())
    }

    fn apply_other(&mut self, op: &str) -> Result<(), &'static str> {
        if let Some(pw) = op.strip_prefix('>') {
            let h = hash_password(pw.as_bytes());
            if !self.passwords.contains(&h) {
                self.passwords.push(h);
            }
            self.nopass = false;
        } else if let Some(pw) = op.strip_prefix('<') {
            let h = hash_password(pw.as_bytes());
            let before = self.passwords.len();
            self.passwords.retain(|p| *p != h);
            if self.passwords.len() == before {
                return Err("The password you are trying to remove from the user does not exist");
            }
        } else if let Some(h) = op.strip_prefix('#') {
            let valid = h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid {
                return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
            }
            if !self.passwords.iter().any(|p| p == h) {
                self.passwords.push(h.to_string());
            }
            self.nopass = false;
        } else if let Some(h) = op.strip_prefix('!') {
            let before = self.passwords.len();
            self.passwords.retain(|p| p != h);
            if self.passwords.len() == before {
                return Err("The password you are trying to remove from the user does not exist");
            }
        } else if op.starts_with('(') && op.ends_with(')') {
            let mut s = Selector::new(pubsub_default_all());
            for word in op[1..op.len() - 1].split_whitespace() {
                s.apply(word)?;
            }
            self.selectors.push(s);
        } else {
            self.root.apply(op)?;
        }
        Ok(())
    }

    /// The rules as ACL LIST and the ACL file write them (after the name).
    pub fn describe(&self) -> String {
        let mut out: Vec<String> = self.flag_names().iter().map(|f| f.to_string()).collect();
        out.extend(self.passwords.iter().map(|p| format!("#{p}")));
        out.push(self.root.describe());
        out.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        out.join(" ")
    }

    /// `on nopass sanitize-payload`, in Redis's order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// Whether a command may run: OK, or why not and the argument at fault
    /// (the most relevant refusal over all selectors, as Redis ranks them).
    fn check(&self, id: usize, row: usize, args: &[Bytes]) -> Result<(), (Denied, usize)> {
        let mut worst = (Denied::Command, 0);
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(id, row, args) {
                Ok(()) => return Ok(()),
                Err(e) if e > worst => worst = e,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether the user may stay subscribed to `channel`.
    fn channel_allowed(&self, channel: &[u8], pattern: bool) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.channel_allowed(channel, pattern))
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new()
    }
}

pub fn hash_password(pw: &[u8]) -> String {
    let digest = Sha256::digest(pw);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    pub fn new(name: &str, rules: Rules) -> UserRef {
        let u = Arc::new(User {
            name: name.to_string(),
            unrestricted: AtomicBool::new(false),
            rules: RwLock::new(Rules::new()),
        });
        u.set_rules(rules);
        u
    }

    /// True when the user may run anything on any key and channel.
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    pub fn rules(&self) -> Rules {
        self.rules.read().unwrap().clone()
    }

    pub fn set_rules(&self, r: Rules) {
        self.unrestricted
            .store(r.root.unrestricted(), Ordering::Relaxed);
        *self.rules.write().unwrap() = r;
    }

    /// Whether a new connection is authenticated as this user at once.
    pub fn no_auth_needed(&self) -> bool {
        let r = self.rules.read().unwrap();
        r.enabled && r.nopass
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        let r = self.rules.read().unwrap();
        r.enabled && (r.nopass || r.passwords.contains(&hash_password(pass)))
    }

    /// Whether `args` (table row `row`) may run, and if not why: the
    /// reason, the id of the command and the argument at fault.
    pub fn check(&self, row: usize, args: &[Bytes]) -> Result<(), (Denied, usize, usize)> {
        // AUTH and HELLO are for everyone, as in Redis.
        if crate::commands::table().specs[row].flags & crate::commands::flags::NO_AUTH != 0 {
            return Ok(());
        }
        let ids = category::ids();
        let Some(id) = ids.of_call(row, args) else {
            return Ok(()); // an unknown subcommand: the command refuses it
        };
        self.rules
            .read()
            .unwrap()
            .check(id, row, args)
            .map_err(|(d, i)| (d, id, i))
    }
}

/// Every user by name (the order ACL LIST and USERS give).
fn users() -> &'static RwLock<BTreeMap<String, UserRef>> {
    static USERS: OnceLock<RwLock<BTreeMap<String, UserRef>>> = OnceLock::new();
    USERS.get_or_init(|| {
        let mut m = BTreeMap::new();
        m.insert(
            "default".to_string(),
            User::new("default", Rules::default_user()),
        );
        RwLock::new(m)
    })
}

pub fn default_user() -> UserRef {
    users().read().unwrap()["default"].clone()
}

pub fn lookup(name: &str) -> Option<UserRef> {
    users().read().unwrap().get(name).cloned()
}

/// `requirepass` is the default user's password, as Redis 7.0: setting it
/// replaces the password; empty means `nopass`.
pub fn set_requirepass(pw: &str) {
    let u = default_user();
    let mut r = u.rules();
    r.apply("resetpass").expect("valid rule");
    if pw.is_empty() {
        r.apply("nopass").expect("valid rule");
    } else {
        r.apply(&format!(">{pw}")).expect("valid rule");
    }
    u.set_rules(r);
}

/// The permission check of a command a client sends: one branch for an
/// unrestricted user; otherwise the check, an ACL LOG entry and -NOPERM.
#[inline]
pub fn permit(c: &ClientState, row: usize, args: &[Bytes]) -> Result<(), Reply> {
    if c.user.unrestricted() {
        return Ok(());
    }
    refused(c, row, args)
}

#[cold]
fn refused(c: &ClientState, row: usize, args: &[Bytes]) -> Result<(), Reply> {
    let Err((why, id, at)) = c.user.check(row, args) else {
        return Ok(());
    };
    let context = if c.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    // The entry shows this command as the client's, as Redis's does.
    let info = c.info_line().replacen(
        &format!(" cmd={} ", c.last_cmd),
        &format!(" cmd={} ", category::ids().names[id]),
        1,
    );
    log::denied(&c.user.name, why, id, &args[at], context, info);
    Err(Reply::error(match why {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            category::ids().names[id]
        ),
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }))
}

/// The check of a command a script calls (`redis.call`): Redis's script
/// texts, logged with context "lua" and the calling client's info.
pub fn permit_script(user: &User, row: usize, args: &[Bytes], info: &str) -> Result<(), Reply> {
    if user.unrestricted() {
        return Ok(());
    }
    let Err((why, id, at)) = user.check(row, args) else {
        return Ok(());
    };
    log::denied(&user.name, why, id, &args[at], "lua", info.to_string());
    Err(Reply::error(match why {
        Denied::Command => "ERR The user executing the script can't run this command or subcommand",
        Denied::Key => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => {
            "ERR The user executing the script can't publish to the channel mentioned in the command"
        }
    }))
}

/// AUTH / HELLO AUTH: makes `c` that user, or -WRONGPASS (logged).
pub fn authenticate(c: &mut ClientState, name: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let name = String::from_utf8_lossy(name);
    match lookup(&name) {
        Some(u) if u.password_ok(pass) => {
            c.user = u;
            c.authenticated = true;
            Ok(())
        }
        _ => {
            let context = if c.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            log::auth_failed(&name, context, c.info_line());
            Err(crate::protocol::errors::err(errors::WRONGPASS))
        }
    }
}

/// Whether AUTH with only a password makes sense (the default user has one).
pub fn default_has_password() -> bool {
    !default_user().rules.read().unwrap().nopass
}

/// A client's state when it connects or RESETs: the default user.
pub fn initial() -> (UserRef, bool) {
    let u = default_user();
    let ok = u.no_auth_needed();
    (u, ok)
}

/// Ends the connections of `gone` users (deleted, or replaced by ACL LOAD),
/// and of `user`'s subscribers whose channels it no longer allows, on every
/// core. The calling client `me` is closed after its reply.
pub async fn kill_clients(gone: Vec<UserRef>, changed: Option<UserRef>, me: u64) {
    if gone.is_empty() && changed.is_none() {
        return;
    }
    let (gone, changed) = (Arc::new(gone), Arc::new(changed));
    crate::runtime::run_on_each(0..crate::runtime::shards(), move |_| {
        let (gone, changed) = (gone.clone(), changed.clone());
        Box::new(move || {
            crate::commands::client::for_each_local(|c| {
                let dead = gone.iter().any(|u| Arc::ptr_eq(u, &c.user))
                    || changed.as_ref().as_ref().is_some_and(|u| {
                        Arc::ptr_eq(u, &c.user) && !subscriptions_allowed(c, &u.rules())
                    });
                if dead {
                    if c.id == me {
                        c.close_after_reply = true;
                    } else {
                        c.close_now();
                    }
                }
            });
            Reply::Ok
        })
    })
    .await;
}

fn subscriptions_allowed(c: &ClientState, r: &Rules) -> bool {
    let Some(subs) = c.subs.as_ref() else {
        return true;
    };
    let (channels, patterns) = subs.names();
    channels.iter().all(|ch| r.channel_allowed(ch, false))
        && patterns.iter().all(|p| r.channel_allowed(p, true))
}
