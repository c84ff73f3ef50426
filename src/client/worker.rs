//! The worker thread of a client: runs queued operations one at a time, in
//! submission order, each with the client's conversation.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use super::conversation::Conversation;

/// One queued operation: runs on the worker with the conversation, or is
/// told it was cancelled before it started.
pub(crate) type Job = Box<dyn FnOnce(JobRun<'_>) + Send>;

/// How a job is started: with a conversation to run, or cancelled.
pub(crate) enum JobRun<'a> {
    /// Run the operation.
    Run(&'a mut Conversation),
    /// The operation was cancelled before it ran: report Cancelled.
    Cancelled,
}

/// The job queue and the worker's idle flag, with the condition variable
/// that wakes the worker (new job, cancel, stop).
#[derive(Default)]
pub(crate) struct Queue {
    pub state: Mutex<QueueState>,
    pub wake: Condvar,
}

/// Pending jobs, each with the cancel generation it was queued in.
#[derive(Default)]
pub(crate) struct QueueState {
    pub jobs: VecDeque<(u64, Job)>,
    pub running: bool,
}

/// Worker loop: run jobs in order until stopping and the queue is empty.
pub(crate) fn worker_main(mut conv: Conversation, queue: Arc<Queue>) {
    let control = conv.control.clone();
    loop {
        let next = {
            let Ok(mut q) = queue.state.lock() else {
                return;
            };
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    q.running = true;
                    break Some(j);
                }
                q.running = false;
                queue.wake.notify_all();
                if control.stopping.load(Ordering::SeqCst) {
                    break None;
                }
                q = match queue.wake.wait(q) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        };
        let Some((generation, job)) = next else {
            return;
        };
        if control.cancelled_since(generation) || conv.link.is_closed() {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(JobRun::Cancelled)));
        } else {
            conv.generation = generation;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job(JobRun::Run(&mut conv))
            }));
        }
    }
}
