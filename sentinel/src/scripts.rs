//! User scripts, as Redis's sentinel runs them (`sentinelScheduleScriptExecution`,
//! `sentinelRunPendingScripts`, `sentinelCollectTerminatedScripts`,
//! `sentinelKillTimedoutScripts`):
//!
//! - `notification-script <path>` gets `<event type> <event description>` for every
//!   warning-level event of its master;
//! - `client-reconfig-script <path>` gets `<master name> <leader|observer> <state> <from ip>
//!   <from port> <to ip> <to port>` when the master's address changes.
//!
//! At most 16 run at once and 256 wait; a script running longer than 60 s is killed
//! (`-script-timeout`); exit code 1 or a signal retries up to 10 times, 30 s apart and doubling;
//! other non-zero exits are reported once (`-script-error`).

use crate::log::{mstime, Level};
use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};

/// `SENTINEL_SCRIPT_MAX_QUEUE`
pub const MAX_QUEUE: usize = 256;
/// `SENTINEL_SCRIPT_MAX_RUNNING`
pub const MAX_RUNNING: usize = 16;
/// `SENTINEL_SCRIPT_MAX_RUNTIME`, ms.
pub const MAX_RUNTIME: i64 = 60_000;
/// `SENTINEL_SCRIPT_MAX_RETRY`
pub const MAX_RETRY: u32 = 10;
/// `SENTINEL_SCRIPT_RETRY_DELAY`, ms (doubled at each retry).
pub const RETRY_DELAY: i64 = 30_000;

/// One queued or running script execution.
pub struct Job {
    /// Path then arguments.
    pub argv: Vec<String>,
    /// Executions started so far.
    pub retry_num: u32,
    /// Running: start time. Waiting: not before this time (0: at once).
    pub start_time: i64,
    /// The process while it runs.
    pub child: Option<Child>,
}

/// The script queue.
#[derive(Default)]
pub struct Scripts {
    pub queue: VecDeque<Job>,
}

/// What happened to scripts during one step, for the caller to publish as events.
pub type ScriptEvents = Vec<(Level, &'static str, String)>;

impl Scripts {
    /// Scripts running now.
    pub fn running(&self) -> usize {
        self.queue.iter().filter(|j| j.child.is_some()).count()
    }

    /// Queues `argv`; when full, drops the oldest job that is not running.
    pub fn schedule(&mut self, argv: Vec<String>) {
        if self.queue.len() >= MAX_QUEUE {
            if let Some(i) = self.queue.iter().position(|j| j.child.is_none()) {
                self.queue.remove(i);
            }
        }
        self.queue.push_back(Job {
            argv,
            retry_num: 0,
            start_time: 0,
            child: None,
        });
    }

    /// Starts due jobs, reaps finished ones (retrying or reporting), kills timed-out ones.
    pub fn step(&mut self) -> ScriptEvents {
        let now = mstime();
        let mut events = ScriptEvents::new();
        let mut running = self.running();
        for job in self.queue.iter_mut() {
            if running >= MAX_RUNNING {
                break;
            }
            if job.child.is_some() || job.start_time > now {
                continue;
            }
            job.start_time = now;
            job.retry_num += 1;
            match Command::new(&job.argv[0])
                .args(&job.argv[1..])
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(c) => {
                    events.push((Level::Debug, "+script-child", c.id().to_string()));
                    job.child = Some(c);
                    running += 1;
                }
                Err(e) => {
                    // Redis's child exits with 2 when execve fails: an error, no retry.
                    crate::log!(Warning, "Can't execute {}: {e}", job.argv[0]);
                    job.retry_num = MAX_RETRY;
                    job.start_time = -1;
                }
            }
        }
        let mut keep = VecDeque::with_capacity(self.queue.len());
        while let Some(mut job) = self.queue.pop_front() {
            if job.start_time == -1 {
                events.push((
                    Level::Warning,
                    "-script-error",
                    format!("{} 0 2", job.argv[0]),
                ));
                continue;
            }
            let Some(child) = job.child.as_mut() else {
                keep.push_back(job);
                continue;
            };
            match child.try_wait() {
                Ok(None) => {
                    if now - job.start_time > MAX_RUNTIME {
                        let pid = child.id();
                        let _ = child.kill();
                        events.push((
                            Level::Warning,
                            "-script-timeout",
                            format!("{} {pid}", job.argv[0]),
                        ));
                    }
                    keep.push_back(job);
                }
                Ok(Some(st)) => {
                    use std::os::unix::process::ExitStatusExt;
                    let bysignal = st.signal().is_some() as i32;
                    let code = st.code().unwrap_or(0);
                    events.push((
                        Level::Debug,
                        "-script-child",
                        format!("{} {code} {bysignal}", child.id()),
                    ));
                    if (bysignal == 1 || code == 1) && job.retry_num != MAX_RETRY {
                        job.child = None;
                        let mut delay = RETRY_DELAY;
                        for _ in 1..job.retry_num {
                            delay *= 2;
                        }
                        job.start_time = now + delay;
                        keep.push_back(job);
                    } else if bysignal == 1 || code != 0 {
                        events.push((
                            Level::Warning,
                            "-script-error",
                            format!("{} {bysignal} {code}", job.argv[0]),
                        ));
                    }
                }
                Err(_) => {}
            }
        }
        self.queue = keep;
        events
    }
}
