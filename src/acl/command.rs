//! The ACL command and its table row.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Future;
use rand::RngCore;

use super::category::{self, ids};
use super::selector::Denied;
use super::{file, log, lookup, users, Rules, User, UserRef};
use crate::commands::{spec, ClientRef, Cross, Handler, Spec};
use crate::protocol::errors::{self, wrong_args};
use crate::protocol::{parse_i64, Reply};

pub fn register(specs: &mut Vec<Spec>) {
    specs.push(spec(
        "acl",
        -2,
        0,
        (0, 0, 0),
        Handler::Coord(acl),
        Cross::Never,
        "server",
        "A container for Access List Control commands",
        "6.0.0",
    ));
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

fn acl(c: ClientRef, args: Vec<Bytes>) -> Pin<Box<dyn Future<Output = Reply>>> {
    Box::pin(async move {
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let full = format!("acl|{sub}");
        let Some(arity) = category::sub_arity(&full) else {
            return errors::unknown_subcommand("acl", &args[1]);
        };
        let n = args.len() as i32;
        if (arity >= 0 && n != arity) || n < -arity {
            return wrong_args(&full);
        }
        let me = c.borrow().id;
        let a = &args[2..];
        match sub.as_str() {
            "cat" => cat(a.first()),
            "deluser" => deluser(a, me).await,
            "dryrun" => dryrun(a),
            "genpass" => genpass(a.first()),
            "getuser" => {
                lookup(&String::from_utf8_lossy(&a[0])).map_or(Reply::Nil, |u| getuser(&u.rules()))
            }
            "list" => Reply::Array(
                users()
                    .read()
                    .unwrap()
                    .values()
                    .map(|u| Reply::bulk(format!("user {} {}", u.name, u.rules().describe())))
                    .collect(),
            ),
            "users" => Reply::Array(users().read().unwrap().keys().map(Reply::bulk).collect()),
            "whoami" => Reply::bulk(c.borrow().user.name.clone()),
            "load" => match file::load() {
                Ok(gone) => {
                    super::kill_clients(gone, None, me).await;
                    Reply::Ok
                }
                Err(e) => Reply::error(format!("ERR {e}")),
            },
            "save" => match file::save() {
                Ok(()) => Reply::Ok,
                Err(e) => Reply::error(format!("ERR {e}")),
            },
            "log" => acl_log(a.first()),
            "setuser" => setuser(a, me).await,
            _ => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        }
    })
}

fn cat(name: Option<&Bytes>) -> Reply {
    let Some(name) = name else {
        return Reply::Array(category::CATEGORIES.iter().map(Reply::bulk).collect());
    };
    let text = String::from_utf8_lossy(name);
    let Some(bit) = category::by_name(&text) else {
        return Reply::error(format!("ERR Unknown category '{text}'"));
    };
    let ids = ids();
    Reply::Array(
        (0..ids.names.len())
            .filter(|&id| ids.masks[id] & bit != 0)
            .map(|id| Reply::bulk(ids.names[id].clone()))
            .collect(),
    )
}

fn valid_name(n: &[u8]) -> bool {
    !n.iter().any(|&b| b == 0 || b.is_ascii_whitespace())
}

/// Joins a selector given over several arguments (`(~a` `+get)`) into one.
fn join_selectors(args: &[Bytes]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut open: Option<String> = None;
    for a in args {
        let a = String::from_utf8_lossy(a).into_owned();
        match open.as_mut() {
            Some(s) => {
                s.push(' ');
                s.push_str(&a);
                if a.ends_with(')') {
                    out.push(open.take().unwrap());
                }
            }
            None if a.starts_with('(') && !a.ends_with(')') => open = Some(a),
            None => out.push(a),
        }
    }
    if let Some(s) = open {
        let first = s.split(' ').next().unwrap_or("");
        return Err(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{first}'."
        ));
    }
    Ok(out)
}

/// Applies SETUSER rules to `base`, or Redis's error text for the first
/// bad one.
pub fn apply_rules(base: Rules, rules: &[Bytes]) -> Result<Rules, String> {
    let mut r = base;
    for op in join_selectors(rules)? {
        if let Err(why) = r.apply(&op) {
            return Err(format!("ERR Error in ACL SETUSER modifier '{op}': {why}"));
        }
    }
    Ok(r)
}

/// The reason in an [`apply_rules`] error, for the config and ACL file.
pub fn reason(e: &str) -> &str {
    e.rsplit(": ").next().unwrap_or(e)
}

async fn setuser(a: &[Bytes], me: u64) -> Reply {
    if !valid_name(&a[0]) {
        return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    let name = String::from_utf8_lossy(&a[0]).into_owned();
    let existing = lookup(&name);
    let base = existing.as_ref().map_or_else(Rules::new, |u| u.rules());
    let rules = match apply_rules(base, &a[1..]) {
        Ok(r) => r,
        Err(e) => return Reply::error(e),
    };
    let user: UserRef = match existing {
        Some(u) => {
            u.set_rules(rules);
            u
        }
        None => {
            let u = User::new(&name, rules);
            users().write().unwrap().insert(name, u.clone());
            u
        }
    };
    // Subscribers to channels the user may no longer use are disconnected.
    super::kill_clients(Vec::new(), Some(user), me).await;
    Reply::Ok
}

async fn deluser(a: &[Bytes], me: u64) -> Reply {
    if a.iter().any(|n| n.as_ref() == b"default") {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let gone: Vec<UserRef> = {
        let mut all = users().write().unwrap();
        a.iter()
            .filter_map(|n| all.remove(String::from_utf8_lossy(n).as_ref()))
            .collect()
    };
    let n = gone.len() as i64;
    super::kill_clients(gone, None, me).await;
    Reply::Int(n)
}

fn dryrun(a: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&a[0]);
    let Some(user) = lookup(&name) else {
        return Reply::error(format!("ERR User '{name}' not found"));
    };
    let cmd = &a[1..];
    let Some((row, spec)) = crate::commands::table().lookup(&cmd[0]) else {
        return Reply::error(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(&cmd[0])
        ));
    };
    if !spec.arity_ok(cmd.len()) {
        return wrong_args(spec.name);
    }
    match user.check(row, cmd) {
        Ok(()) => Reply::Ok,
        Err((why, id, at)) => {
            let arg = String::from_utf8_lossy(&cmd[at]);
            Reply::bulk(match why {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    ids().names[id]
                ),
                Denied::Key => format!("This user has no permissions to access the '{arg}' key"),
                Denied::Channel => {
                    format!("This user has no permissions to access the '{arg}' channel")
                }
            })
        }
    }
}

fn genpass(bits: Option<&Bytes>) -> Reply {
    let bits = match bits.map(|b| parse_i64(b)) {
        None => 256,
        Some(Some(n)) if (1..=4096).contains(&n) => n as usize,
        Some(_) => return Reply::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"),
    };
    let chars = bits.div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Reply::bulk(&hex[..chars])
}

fn selector_map(s: &super::Selector) -> Vec<(Reply, Reply)> {
    vec![
        (Reply::bulk("commands"), Reply::bulk(s.command_text())),
        (Reply::bulk("keys"), Reply::bulk(s.key_text())),
        (Reply::bulk("channels"), Reply::bulk(s.channel_text())),
    ]
}

fn getuser(r: &Rules) -> Reply {
    let mut m = vec![
        (
            Reply::bulk("flags"),
            Reply::Set(r.flag_names().into_iter().map(Reply::bulk).collect()),
        ),
        (
            Reply::bulk("passwords"),
            Reply::Array(r.passwords.iter().map(Reply::bulk).collect()),
        ),
    ];
    m.extend(selector_map(&r.root));
    m.push((
        Reply::bulk("selectors"),
        Reply::Array(
            r.selectors
                .iter()
                .map(|s| Reply::Map(selector_map(s)))
                .collect(),
        ),
    ));
    Reply::Map(m)
}

fn acl_log(arg: Option<&Bytes>) -> Reply {
    let count = match arg {
        None => 10,
        Some(a) if a.eq_ignore_ascii_case(b"reset") => {
            log::reset();
            return Reply::Ok;
        }
        Some(a) => match parse_i64(a) {
            Some(n) => n.max(0) as usize,
            None => return Reply::error(errors::NOT_INTEGER),
        },
    };
    log::entries(count)
}
