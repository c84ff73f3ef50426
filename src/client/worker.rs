//! The worker threads of a client and the queue of operations they run.
//!
//! Each worker has its own conversation (its own reply stream); the link's
//! shared seq counter and session-id claims keep the workers' requests and
//! sessions apart. A client starts with one worker and adds more, up to its
//! `parallel` setting, only while operations wait and every worker is busy:
//! with the default of 1 the operations run one at a time in submission
//! order, as they always did.
//!
//! Queue entries are operations. Most are one job; a directory operation is
//! a [`Units`] entry that hands out one job per file as workers ask. Order:
//! the first entry that can start goes first, except that an operation with
//! several units that already has one running lets later operations go
//! before its next unit (a listing is not stuck behind a folder of logs).
//!
//! Every operation has an [`OpTicket`]: its id (for per-operation cancel),
//! the cancel generation it was queued in (for `Client::cancel`) and its own
//! cancel flag. Callbacks into the application are serialised by the
//! client's callback lock ([`Pool::callback`]), so that two workers never
//! call back at the same time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{JoinHandle, ThreadId};

use parking_lot::{Condvar, Mutex};

use super::conversation::Conversation;
use super::shared::Control;
use crate::link::Link;
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// One queued job: runs on a worker with its conversation, or is told it
/// was cancelled before it started.
pub(crate) type Job = Box<dyn FnOnce(JobRun<'_>) + Send>;

/// How a job is started: with a conversation to run, or cancelled.
pub(crate) enum JobRun<'a> {
    /// Run the operation.
    Run(&'a mut Conversation),
    /// The operation was cancelled before it ran: report Cancelled.
    Cancelled,
}

/// Identity and cancellation of one operation.
#[derive(Clone)]
pub(crate) struct OpTicket {
    /// Unique per client, from 1.
    pub id: u64,
    /// The client's cancel generation when it was queued.
    pub generation: u64,
    /// Set by a per-operation cancel.
    pub cancel: Arc<AtomicBool>,
    /// Set just before its completion runs: it can no longer be cancelled.
    pub ended: Arc<AtomicBool>,
}

impl OpTicket {
    /// Whether the operation was cancelled (by itself, by the client's
    /// cancel, or because the client stops).
    pub fn cancelled(&self, control: &Control) -> bool {
        self.cancel.load(Ordering::SeqCst) || control.cancelled_since(self.generation)
    }
}

/// An operation made of several jobs (one per file of a directory).
pub(crate) trait Units: Send + Sync {
    /// The next job that may start now, if any.
    fn take(&self) -> Option<Job>;
    /// Jobs of this operation running now.
    fn running(&self) -> usize;
    /// Whether no job will ever come again (the entry leaves the queue).
    fn exhausted(&self) -> bool;
    /// The operation was cancelled while queued: no further jobs are handed
    /// out; the returned job (run as cancelled) ends it once nothing runs.
    fn abandon(&self) -> Job;
}

enum Entry {
    One(OpTicket, Job),
    Many(OpTicket, Arc<dyn Units>),
}

impl Entry {
    fn ticket(&self) -> &OpTicket {
        match self {
            Entry::One(t, _) | Entry::Many(t, _) => t,
        }
    }
}

#[derive(Default)]
struct QueueState {
    entries: VecDeque<Entry>,
    /// Worker threads started.
    workers: usize,
    /// Workers waiting for work.
    idle: usize,
    /// Operations with a job running (one entry per job).
    running: Vec<OpTicket>,
}

/// The client's workers and their queue.
pub(crate) struct Pool {
    state: Mutex<QueueState>,
    wake: Condvar,
    control: Arc<Control>,
    link: Link,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Threads that run this client's callbacks (workers, finishers): a
    /// blocking call from one of them would wait for itself.
    callback_threads: Mutex<Vec<ThreadId>>,
    next_op: AtomicU64,
    me: Weak<Pool>,
}

impl Pool {
    /// A pool with its first worker started.
    pub fn start(link: &Link, control: Arc<Control>) -> FtpOutcome<Arc<Pool>> {
        let pool = Arc::new_cyclic(|me| Pool {
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            control,
            link: link.clone(),
            threads: Mutex::new(Vec::new()),
            callback_threads: Mutex::new(Vec::new()),
            next_op: AtomicU64::new(1),
            me: me.clone(),
        });
        {
            let mut q = pool.state.lock();
            pool.spawn_worker(&mut q)?;
        }
        Ok(pool)
    }

    /// A ticket for a new operation.
    pub fn ticket(&self) -> OpTicket {
        OpTicket {
            id: self.next_op.fetch_add(1, Ordering::SeqCst),
            generation: self.control.cancel_gen.load(Ordering::SeqCst),
            cancel: Arc::new(AtomicBool::new(false)),
            ended: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Queue a one-job operation.
    pub fn push(&self, ticket: OpTicket, job: Job) -> FtpOutcome<()> {
        self.push_entry(Entry::One(ticket, job))
    }

    /// Queue an operation made of units.
    pub fn push_units(&self, ticket: OpTicket, units: Arc<dyn Units>) -> FtpOutcome<()> {
        self.push_entry(Entry::Many(ticket, units))
    }

    fn push_entry(&self, entry: Entry) -> FtpOutcome<()> {
        let mut q = self.state.lock();
        if self.control.stopping.load(Ordering::SeqCst) {
            return Err(FtpError::new(
                FtpResult::Cancelled,
                "client is shutting down",
            ));
        }
        q.entries.push_back(entry);
        self.grow(&mut q);
        drop(q);
        self.wake.notify_all();
        Ok(())
    }

    /// A units entry has new jobs: wake (or start) a worker for them.
    pub fn units_ready(&self) {
        let mut q = self.state.lock();
        self.grow(&mut q);
        drop(q);
        self.wake.notify_all();
    }

    /// Wake the workers (a cancel, a stop).
    pub fn notify(&self) {
        let _q = self.state.lock();
        self.wake.notify_all();
    }

    /// Cancel one operation: queued, it ends at once (its callback runs on
    /// a library thread); running, it ends at its next step. False when no
    /// operation with that id is queued or running.
    pub fn cancel_op(&self, id: u64) -> bool {
        let removed = {
            let mut q = self.state.lock();
            if let Some(t) = q
                .running
                .iter()
                .find(|t| t.id == id && !t.ended.load(Ordering::SeqCst))
            {
                t.cancel.store(true, Ordering::SeqCst);
            }
            // A directory operation's entry stays queued until the pool
            // sees that its last unit finished; once its completion ran
            // (`ended`) it is not cancellable any more.
            let pos = q
                .entries
                .iter()
                .position(|e| e.ticket().id == id && !e.ticket().ended.load(Ordering::SeqCst));
            match pos.and_then(|p| q.entries.remove(p)) {
                Some(entry) => {
                    entry.ticket().cancel.store(true, Ordering::SeqCst);
                    Some(entry)
                }
                None => {
                    let running = q
                        .running
                        .iter()
                        .any(|t| t.id == id && !t.ended.load(Ordering::SeqCst));
                    drop(q);
                    // The running job sees its flag when its wait for a
                    // reply is interrupted.
                    self.wake.notify_all();
                    self.control.wake_reply_wait();
                    return running;
                }
            }
        };
        let Some(entry) = removed else {
            return false;
        };
        let job = match entry {
            Entry::One(_, job) => job,
            Entry::Many(_, units) => units.abandon(),
        };
        // Its completion runs on a library thread of its own, like every
        // other callback (the caller may be a GUI thread).
        let me = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name("mavftp-cancel".into())
            .spawn(move || {
                if let Some(pool) = me.upgrade() {
                    pool.callback_threads
                        .lock()
                        .push(std::thread::current().id());
                }
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job(JobRun::Cancelled)
                }));
            });
        if let Ok(handle) = spawned {
            let mut threads = self.threads.lock();
            // Finished finishers need no join.
            threads.retain(|h| !h.is_finished());
            threads.push(handle);
        }
        true
    }

    /// Whether the current thread runs this client's callbacks.
    pub fn on_callback_thread(&self) -> bool {
        let me = std::thread::current().id();
        self.callback_threads.lock().contains(&me)
    }

    /// Start another worker if work waits, none is idle and the client's
    /// `parallel` setting allows it.
    fn grow(&self, q: &mut QueueState) {
        let parallel = self.control.settings().parallel.max(1);
        if q.idle == 0 && q.workers < parallel && runnable(q) {
            // A worker that cannot start leaves the queue to the others.
            let _ = self.spawn_worker(q);
        }
    }

    fn spawn_worker(&self, q: &mut QueueState) -> FtpOutcome<()> {
        // Each worker has its own reply queue, registered under its target
        // only while it runs an operation: an idle worker queues nothing of
        // the other workers' transfers.
        let conv = Conversation::new(self.link.clone(), Arc::clone(&self.control));
        self.control.add_reply_wake(conv.interrupter());
        let me = self.me.clone();
        let handle = std::thread::Builder::new()
            .name("mavftp-client".into())
            .spawn(move || {
                if let Some(pool) = me.upgrade() {
                    worker_main(pool, conv);
                }
            })
            .map_err(|e| FtpError::io("spawn client worker", &e))?;
        self.callback_threads.lock().push(handle.thread().id());
        self.threads.lock().push(handle);
        q.workers += 1;
        // Counted idle until it takes a job, so that one push starts one worker.
        q.idle += 1;
        Ok(())
    }

    /// Stop: every queued operation ends Cancelled, the workers exit; waits
    /// for them unless called from one of them.
    pub fn stop(&self) {
        {
            // Set under the queue lock: a worker checks `stopping` and
            // starts waiting while it holds that lock, so the notify below
            // cannot fall between its check and its wait.
            let _q = self.state.lock();
            self.control.stopping.store(true, Ordering::SeqCst);
        }
        self.wake.notify_all();
        self.control.wake_reply_wait();
        if self.on_callback_thread() {
            // Inside our own callback: the workers finish the queue (every
            // remaining job ends Cancelled) and exit by themselves.
            return;
        }
        loop {
            let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }
}

/// Whether some entry could start a job now.
fn runnable(q: &QueueState) -> bool {
    q.entries.iter().any(|e| match e {
        Entry::One(..) => true,
        Entry::Many(_, u) => !u.exhausted(),
    })
}

/// What a worker took from the queue.
enum Taken {
    Run(OpTicket, Job),
    Cancelled(Job),
}

/// The next job for a worker (queue locked). Cancelled entries anywhere in
/// the queue are taken first (they end at once); others only while fewer
/// than `parallel` jobs run (the setting may have been lowered since more
/// workers were started).
fn take_next(q: &mut QueueState, control: &Control) -> Option<Taken> {
    if let Some(pos) = q.entries.iter().position(|e| e.ticket().cancelled(control)) {
        return q.entries.remove(pos).map(|e| match e {
            Entry::One(_, job) => Taken::Cancelled(job),
            Entry::Many(_, units) => Taken::Cancelled(units.abandon()),
        });
    }
    if q.running.len() >= control.settings().parallel.max(1) {
        return None;
    }
    q.entries
        .retain(|e| !matches!(e, Entry::Many(_, u) if u.exhausted()));
    // First pass: units operations with a job running yield to later entries.
    for deferring in [true, false] {
        for i in 0..q.entries.len() {
            match &q.entries[i] {
                Entry::One(..) => {
                    return q.entries.remove(i).map(|e| match e {
                        Entry::One(t, job) => Taken::Run(t, job),
                        Entry::Many(..) => unreachable!("matched One above"),
                    });
                }
                Entry::Many(t, units) => {
                    if deferring && units.running() > 0 {
                        continue;
                    }
                    if let Some(job) = units.take() {
                        return Some(Taken::Run(t.clone(), job));
                    }
                }
            }
        }
    }
    None
}

/// Worker loop: run jobs until the client stops and the queue is empty.
fn worker_main(pool: Arc<Pool>, mut conv: Conversation) {
    let control = Arc::clone(&pool.control);
    loop {
        let next = {
            let mut q = pool.state.lock();
            loop {
                if let Some(t) = take_next(&mut q, &control) {
                    q.idle -= 1;
                    if let Taken::Run(ticket, _) = &t {
                        q.running.push(ticket.clone());
                    }
                    // More waiting work may want another worker.
                    pool.grow(&mut q);
                    break Some(t);
                }
                if control.stopping.load(Ordering::SeqCst) && q.entries.is_empty() {
                    q.idle -= 1;
                    q.workers -= 1;
                    break None;
                }
                pool.wake.wait(&mut q);
            }
        };
        let Some(taken) = next else {
            pool.wake.notify_all();
            return;
        };
        match taken {
            Taken::Cancelled(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job(JobRun::Cancelled)
                }));
            }
            Taken::Run(ticket, job) => {
                if ticket.cancelled(&control) || conv.link.is_closed() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(JobRun::Cancelled)
                    }));
                } else {
                    conv.generation = ticket.generation;
                    conv.op_cancel = Some(Arc::clone(&ticket.cancel));
                    {
                        // While engaged, its waits read the link themselves.
                        let _engaged = conv.engage();
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            job(JobRun::Run(&mut conv))
                        }));
                        // What the operation left for after its result
                        // (a finished download's TerminateSession).
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            conv.run_deferred()
                        }));
                    }
                    conv.end_operation();
                    conv.op_cancel = None;
                }
                let mut q = pool.state.lock();
                if let Some(pos) = q.running.iter().position(|t| t.id == ticket.id) {
                    q.running.swap_remove(pos);
                }
            }
        }
        pool.state.lock().idle += 1;
        // A place among the running jobs came free.
        pool.wake.notify_all();
    }
}
