//! Messages that synchronous code on one core sends to other cores in
//! order, without waiting (keyspace events, MONITOR lines). Items queue in
//! a per-core outbox; one delivery task per outbox sends what queued as
//! one mesh job per peer, waits for it to land, then sends what queued
//! meanwhile: a burst costs a job per batch, and batches never overtake.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::thread::LocalKey;

use super::{run_on_each, spawn, Job};
use crate::protocol::Reply;

pub struct Outbox<T> {
    items: RefCell<Vec<T>>,
    delivering: Cell<bool>,
}

impl<T> Outbox<T> {
    pub const fn new() -> Outbox<T> {
        Outbox {
            items: RefCell::new(Vec::new()),
            delivering: Cell::new(false),
        }
    }
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Queues `item` in this core's `outbox`; the cores `peers()` names when
/// the batch leaves each run `deliver` on it, in queue order.
pub fn send<T: Send + Sync + 'static>(
    outbox: &'static LocalKey<Outbox<T>>,
    item: T,
    peers: fn() -> Vec<usize>,
    deliver: fn(&T),
) {
    outbox.with(|o| o.items.borrow_mut().push(item));
    if outbox.with(|o| o.delivering.replace(true)) {
        return;
    }
    spawn(async move {
        loop {
            let batch = outbox.with(|o| std::mem::take(&mut *o.items.borrow_mut()));
            if batch.is_empty() {
                outbox.with(|o| o.delivering.set(false));
                return;
            }
            let batch = Arc::new(batch);
            let job = |_| {
                let batch = batch.clone();
                Box::new(move || {
                    batch.iter().for_each(deliver);
                    Reply::Ok
                }) as Job
            };
            run_on_each(peers(), job).await;
        }
    });
}
