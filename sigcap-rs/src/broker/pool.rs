//! The broker's bounded pool of worker threads: every request runs on
//! one, never on the loop that receives them (serve.rs).
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Most threads serving requests at once.
const MAX_WORKERS: usize = 64;
/// Most requests waiting for a thread; beyond, a request is answered
/// EAGAIN at once.
const MAX_QUEUED: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Threads for the requests, every one of which may block (connect,
/// sendto, and every path operation: opening a FIFO waits for its other
/// end, FreeBSD's O_EXLOCK for the lock, a lookup on a slow file system
/// for the disk or the network), kept and reused so that a request does
/// not pay for a thread start. Grows to MAX_WORKERS only when every
/// thread is busy. A call that never returns holds its thread for good:
/// MAX_WORKERS of them leave the queue, then EAGAIN, to the program's
/// other requests, and the broker's main loop is never among them.
#[derive(Default)]
pub(super) struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
    idle: AtomicUsize,
    threads: AtomicUsize,
}

impl Pool {
    pub(super) fn submit(self: &Arc<Self>, job: Job) -> std::result::Result<(), Job> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_QUEUED {
            return Err(job);
        }
        q.push_back(job);
        let waiting = q.len();
        drop(q);
        if self.idle.load(Ordering::Acquire) < waiting && self.threads.load(Ordering::Acquire) < MAX_WORKERS {
            self.threads.fetch_add(1, Ordering::AcqRel);
            let pool = Arc::clone(self);
            if std::thread::Builder::new().spawn(move || pool.work()).is_err() {
                self.threads.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.ready.notify_one();
        Ok(())
    }

    fn work(&self) {
        loop {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let job = loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                self.idle.fetch_add(1, Ordering::AcqRel);
                q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                self.idle.fetch_sub(1, Ordering::AcqRel);
            };
            drop(q);
            job();
        }
    }
}
