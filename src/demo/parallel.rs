//! Runs the demo's independent jobs side by side, one worker thread per core.
//!
//! The tiny student's matrices are too small for candle to split one operation across
//! cores profitably (its threads spend the time waiting on each other), so the demo
//! gives each core a whole job instead: the two SFT students train at once, and each
//! evaluation starts as soon as its student is trained, beside the other work.

use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

pub type Job<'a, T> = Box<dyn FnOnce() -> Result<T, anyhow::Error> + Send + 'a>;

/// A job, its name (for progress lines and stage timings) and the jobs (by index in
/// the list) that must finish first.
pub struct Named<'a, T> {
    pub name: String,
    pub after: Vec<usize>,
    pub job: Job<'a, T>,
}

#[derive(Debug)]
pub struct Finished<T> {
    pub name: String,
    pub seconds: f64,
    pub output: T,
}

/// What the workers report while they run, in the order it happens.
pub enum Progress<'n> {
    Started(&'n str),
    Done(&'n str, f64),
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

struct Board<'a, T> {
    jobs: Vec<Option<Named<'a, T>>>,
    states: Vec<State>,
}

impl<'a, T> Board<'a, T> {
    /// The first waiting job whose prerequisites all succeeded, marked running; jobs
    /// behind a failed prerequisite are marked failed on the way.
    fn next_ready(&mut self) -> Option<(usize, Named<'a, T>)> {
        loop {
            let mut blocked_by_failure = None;
            for index in 0..self.jobs.len() {
                if self.states[index] != State::Waiting {
                    continue;
                }
                let after = self.jobs[index].as_ref().map_or(&[][..], |j| &j.after[..]);
                if after.iter().any(|&i| self.states[i] == State::Failed) {
                    blocked_by_failure = Some(index);
                    break;
                }
                if after.iter().all(|&i| self.states[i] == State::Succeeded) {
                    self.states[index] = State::Running;
                    return self.jobs[index].take().map(|job| (index, job));
                }
            }
            match blocked_by_failure {
                Some(index) => {
                    self.states[index] = State::Failed;
                    self.jobs[index] = None;
                }
                None => return None,
            }
        }
    }

    fn all_settled(&self) -> bool {
        self.states
            .iter()
            .all(|s| matches!(s, State::Succeeded | State::Failed))
    }
}

type Report<T> = (usize, Option<(f64, Result<T, anyhow::Error>)>);

/// Runs `jobs` on `workers` threads, each taking the first job whose prerequisites
/// have succeeded, and returns their outputs in the jobs' order. A failure does not
/// stop independent jobs; the first failure (in job order) is returned.
pub fn run_side_by_side<T: Send>(
    jobs: Vec<Named<'_, T>>,
    workers: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Vec<Finished<T>>, anyhow::Error> {
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    for (index, job) in jobs.iter().enumerate() {
        if let Some(&bad) = job.after.iter().find(|&&i| i >= index) {
            anyhow::bail!(
                "{}: may only wait for earlier jobs, not job {bad}",
                job.name
            );
        }
    }
    let board = Mutex::new(Board {
        states: vec![State::Waiting; jobs.len()],
        jobs: jobs.into_iter().map(Some).collect(),
    });
    let changed = Condvar::new();
    let (tx, rx) = mpsc::channel::<Report<T>>();
    let mut results: Vec<Option<(f64, Result<T, anyhow::Error>)>> =
        names.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, names.len().max(1)) {
            let tx = tx.clone();
            let (board, changed) = (&board, &changed);
            scope.spawn(move || {
                // A pool of one for this worker: the rayon-parallel parts of a job run on
                // its own thread instead of queueing behind the other workers' jobs.
                let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
                loop {
                    let next = {
                        let Ok(mut guard) = board.lock() else { return };
                        loop {
                            if let Some(next) = guard.next_ready() {
                                break Some(next);
                            }
                            if guard.all_settled() || !guard.states.contains(&State::Running) {
                                break None;
                            }
                            guard = match changed.wait(guard) {
                                Ok(guard) => guard,
                                Err(_) => return,
                            };
                        }
                    };
                    let Some((index, named)) = next else {
                        changed.notify_all();
                        return;
                    };
                    let _ = tx.send((index, None));
                    let started = Instant::now();
                    let output = match &pool {
                        Ok(pool) => pool.install(named.job),
                        Err(_) => (named.job)(),
                    };
                    let state = if output.is_ok() {
                        State::Succeeded
                    } else {
                        State::Failed
                    };
                    let _ = tx.send((index, Some((started.elapsed().as_secs_f64(), output))));
                    if let Ok(mut guard) = board.lock() {
                        guard.states[index] = state;
                    }
                    changed.notify_all();
                }
            });
        }
        drop(tx);
        for (index, message) in rx {
            match message {
                None => progress(Progress::Started(&names[index])),
                Some((seconds, output)) => {
                    progress(Progress::Done(&names[index], seconds));
                    results[index] = Some((seconds, output));
                }
            }
        }
    });
    let mut finished = Vec::with_capacity(names.len());
    let mut first_error = None;
    for (name, result) in names.into_iter().zip(results) {
        match result {
            Some((seconds, Ok(output))) => finished.push(Finished {
                name,
                seconds,
                output,
            }),
            Some((_, Err(e))) => {
                first_error.get_or_insert_with(|| e.context(name));
            }
            None => {
                first_error.get_or_insert_with(|| {
                    anyhow::anyhow!("{name}: not run, a job it waits for failed")
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(finished),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_job_starts_only_after_the_jobs_it_waits_for() {
        let log = Mutex::new(Vec::new());
        let step = |name: &'static str, after: Vec<usize>, ms: u64| {
            let log = &log;
            Named {
                name: name.to_owned(),
                after,
                job: Box::new(move || {
                    log.lock().unwrap().push(format!("start {name}"));
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    log.lock().unwrap().push(format!("end {name}"));
                    Ok(())
                }) as Job<'_, ()>,
            }
        };
        let jobs = vec![
            step("a", vec![], 60),
            step("b", vec![0], 1),
            step("c", vec![], 1),
        ];
        run_side_by_side(jobs, 2, |_| {}).unwrap();
        let log = log.into_inner().unwrap();
        let at = |event: &str| log.iter().position(|e| e == event).unwrap();
        assert!(at("end a") < at("start b"), "{log:?}");
        assert!(at("end c") < at("start b"), "{log:?}");
    }

    #[test]
    fn jobs_run_concurrently_and_return_in_order() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let jobs: Vec<Named<'_, usize>> = (0..6usize)
            .map(|i| {
                let (running, peak) = (&running, &peak);
                Named {
                    name: format!("job {i}"),
                    after: vec![],
                    job: Box::new(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(i * 10)
                    }) as Job<'_, usize>,
                }
            })
            .collect();
        let mut started = 0;
        let done = run_side_by_side(jobs, 2, |p| {
            if let Progress::Started(_) = p {
                started += 1;
            }
        })
        .unwrap();
        assert_eq!(
            done.iter().map(|d| d.output).collect::<Vec<_>>(),
            vec![0, 10, 20, 30, 40, 50]
        );
        assert_eq!(started, 6);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failure_is_reported_by_name_and_skips_the_jobs_waiting_for_it() {
        let ran = AtomicUsize::new(0);
        let jobs: Vec<Named<'_, ()>> = (0..3)
            .map(|i| {
                let ran = &ran;
                Named {
                    name: format!("job {i}"),
                    after: if i == 2 { vec![1] } else { vec![] },
                    job: Box::new(move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                        if i == 1 {
                            anyhow::bail!("broke");
                        }
                        Ok(())
                    }) as Job<'_, ()>,
                }
            })
            .collect();
        let err = run_side_by_side(jobs, 2, |_| {}).unwrap_err();
        assert_eq!(format!("{err:#}"), "job 1: broke");
        // Job 2 waits for the failed job 1, so only jobs 0 and 1 ran.
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }
}
