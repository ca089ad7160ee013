//! ACL LOG: the latest refusals (commands, keys, channels, AUTH), newest
//! first, at most `acllog-max-len`. A refusal equal to one of the last ten
//! (reason, context, object, user) within 60 s counts into that entry and
//! moves it to the front, as Redis does.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use super::category::ids;
use super::selector::Denied;
use crate::config::{self, Opt};
use crate::protocol::Reply;

struct Entry {
    count: u64,
    reason: &'static str,
    context: &'static str,
    object: String,
    username: String,
    at: Instant,
    client_info: String,
}

static LOG: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

const GROUPING_MS: u128 = 60_000;

fn add(reason: &'static str, context: &'static str, object: String, username: &str, info: String) {
    let mut log = LOG.lock().unwrap();
    let now = Instant::now();
    let same = log.iter().take(10).position(|e| {
        e.reason == reason
            && e.context == context
            && e.object == object
            && e.username == username
            && now.duration_since(e.at).as_millis() < GROUPING_MS
    });
    if let Some(i) = same {
        let mut e = log.remove(i).expect("found");
        e.count += 1;
        e.at = now;
        e.client_info = info;
        log.push_front(e);
        return;
    }
    log.push_front(Entry {
        count: 1,
        reason,
        context,
        object,
        username: username.to_string(),
        at: now,
        client_info: info,
    });
    log.truncate(config::num(Opt::AcllogMaxLen).max(0) as usize);
}

/// A command refused: `object` is the command's name, or the key or
/// channel at fault.
pub fn denied(
    user: &str,
    why: Denied,
    id: usize,
    arg: &Bytes,
    context: &'static str,
    info: String,
) {
    let (reason, object) = match why {
        Denied::Command => ("command", ids().names[id].clone()),
        Denied::Key => ("key", String::from_utf8_lossy(arg).into_owned()),
        Denied::Channel => ("channel", String::from_utf8_lossy(arg).into_owned()),
    };
    add(reason, context, object, user, info);
}

pub fn auth_failed(user: &str, context: &'static str, info: String) {
    add("auth", context, "AUTH".into(), user, info);
}

pub fn reset() {
    LOG.lock().unwrap().clear();
}

/// The newest `count` entries as ACL LOG answers them.
pub fn entries(count: usize) -> Reply {
    let log = LOG.lock().unwrap();
    let now = Instant::now();
    Reply::Array(
        log.iter()
            .take(count)
            .map(|e| {
                let age = now.duration_since(e.at).as_millis() as f64 / 1000.0;
                let field = |k: &str, v: Reply| (Reply::bulk(k), v);
                Reply::Map(vec![
                    field("count", Reply::Int(e.count as i64)),
                    field("reason", Reply::bulk(e.reason)),
                    field("context", Reply::bulk(e.context)),
                    field("object", Reply::bulk(e.object.clone())),
                    field("username", Reply::bulk(e.username.clone())),
                    field("age-seconds", Reply::Double(age)),
                    field("client-info", Reply::bulk(e.client_info.clone())),
                ])
            })
            .collect(),
    )
}
