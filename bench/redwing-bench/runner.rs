//! Worker threads: one glommio executor each, running its share of the
//! clients and sending what they measured to the main thread once a second.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};

use crate::cli::Args;
use crate::client::{Client, Settings, Thread};
use crate::cluster::SlotMap;
use crate::stats::Interval;
use crate::workload::{Keys, Mix};

pub enum Msg {
    /// What a thread measured since its previous message.
    Tick(Interval),
    /// The thread is done: its run time, and what went wrong if anything.
    Done {
        elapsed: Duration,
        error: Option<String>,
        first_reply_error: Option<String>,
    },
}

/// Everything a worker thread needs, cloned into it.
#[derive(Clone)]
pub struct Plan {
    pub args: Args,
    pub mix: Mix,
    pub slots: SlotMap,
    pub handshake: Vec<Vec<u8>>,
    pub threads: usize,
}

/// io_uring memory per executor; small, as it counts against RLIMIT_MEMLOCK.
const IO_MEMORY: usize = 1 << 20;

/// Starts the worker threads; each waits on `barrier` once connected.
pub fn spawn(plan: Plan, tx: Sender<Msg>, barrier: Arc<Barrier>) -> Result<(), String> {
    let abort = Arc::new(AtomicBool::new(false));
    for i in 0..plan.threads {
        let placement = match plan.args.cpus.get(i % plan.args.cpus.len().max(1)) {
            Some(&cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let (plan, tx, barrier, abort) = (plan.clone(), tx.clone(), barrier.clone(), abort.clone());
        LocalExecutorBuilder::new(placement)
            .name(&format!("bench{i}"))
            .io_memory(IO_MEMORY)
            .spawn(move || async move { worker(i, plan, tx, barrier, abort).await })
            .map_err(|e| format!("cannot start worker thread {i}: {e}"))?;
    }
    Ok(())
}

async fn worker(
    i: usize,
    plan: Plan,
    tx: Sender<Msg>,
    barrier: Arc<Barrier>,
    abort: Arc<AtomicBool>,
) {
    let args = &plan.args;
    let conns = args.connections.max(1);
    let total_clients = (plan.threads * conns) as u64;
    let budget = match args.total_requests() {
        Some(n) => n / plan.threads as u64 + u64::from((i as u64) < n % plan.threads as u64),
        None => u64::MAX,
    };
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(total_clients as f64 / r));
    let thread = Rc::new(Thread {
        settings: Settings {
            mix: plan.mix.clone(),
            pipeline: args.pipeline.max(1),
            interval,
            deadline: args.duration,
            handshake: plan.handshake.clone(),
            cluster: args.cluster,
            host: args.host.clone(),
            timeout: (!args.timeout.is_zero()).then_some(args.timeout),
        },
        budget: Cell::new(budget),
        stats: RefCell::new(Interval::new(plan.mix.templates.len())),
        slots: RefCell::new(plan.slots.clone()),
        first_error: RefCell::new(None),
        start: Cell::new(Instant::now()),
        turn: Cell::new(i as u64),
        in_flight: Cell::new(0),
    });

    let mut clients = Vec::new();
    let mut error = None;
    for c in 0..conns {
        let g = (i * conns + c) as u64;
        match Client::connect(thread.clone(), Keys::new(args, g, total_clients)).await {
            Ok(cl) => clients.push((g, cl)),
            Err(e) => {
                error = Some(e);
                abort.store(true, Ordering::SeqCst);
                break;
            }
        }
    }
    barrier.wait();
    if abort.load(Ordering::SeqCst) {
        let _ = tx.send(Msg::Done {
            elapsed: Duration::ZERO,
            error,
            first_reply_error: None,
        });
        return;
    }

    let start = Instant::now();
    thread.start.set(start);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(g, cl)| match interval {
            // Spread the clients' schedules evenly over one interval.
            Some(iv) => glommio::spawn_local(
                cl.run_open(start + iv.mul_f64(g as f64 / total_clients as f64)),
            ),
            None => glommio::spawn_local(cl.run_closed()),
        })
        .collect();
    let mut all = Box::pin(async move {
        let mut first = None;
        for t in tasks {
            if let Err(e) = t.await {
                first.get_or_insert(e);
            }
        }
        first
    });
    let mut tick = 1u32;
    let mut last_reply = start;
    loop {
        let next = start + Duration::from_secs(tick as u64);
        let done = futures_lite::future::or(async { Some(all.as_mut().await) }, async {
            glommio::timer::sleep(next.saturating_duration_since(Instant::now())).await;
            None
        })
        .await;
        let iv = thread.stats.borrow_mut().take();
        let now = Instant::now();
        if iv.ops() > 0 || thread.in_flight.get() == 0 {
            last_reply = now;
        }
        let _ = tx.send(Msg::Tick(iv));
        // Watchdog: a server that stopped answering ends the run with a
        // clear error rather than a hang (the clients are dropped).
        let stalled = !args.timeout.is_zero() && now - last_reply >= args.timeout;
        let done = match done {
            None if stalled => Some(Some(format!(
                "no reply for {:?} with {} requests in flight",
                args.timeout,
                thread.in_flight.get()
            ))),
            d => d,
        };
        if let Some(error) = done {
            let _ = tx.send(Msg::Done {
                elapsed: start.elapsed(),
                error,
                first_reply_error: thread.first_error.borrow_mut().take(),
            });
            return;
        }
        tick += 1;
    }
}
