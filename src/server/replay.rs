//! Replaying an AOF's commands at start-up: the ordinary dispatcher, with a
//! client of its own that may run while the server is loading. Its
//! MULTI/EXEC and SELECT state carry over from batch to batch.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;

use super::dispatch;
use crate::commands::{ClientRef, ClientState};
use crate::persistence::aof::Replay;
use crate::protocol::Reply;

pub struct Replayer {
    client: ClientRef,
}

impl Replayer {
    pub fn new() -> Replayer {
        let mut c = ClientState::detached("aof".into(), String::new(), -1);
        c.authenticated = true;
        c.loader = true;
        Replayer {
            client: Rc::new(RefCell::new(c)),
        }
    }
}

impl Default for Replayer {
    fn default() -> Self {
        Replayer::new()
    }
}

impl Replay for Replayer {
    fn run<'a>(
        &'a mut self,
        cmds: Vec<Vec<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Vec<Reply>> + 'a>> {
        Box::pin(async move {
            let outs = dispatch::run_batch(&self.client, cmds).await;
            outs.into_iter().map(|o| o.reply).collect()
        })
    }
}
