use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn a_held_lock_means_alive_and_a_released_one_dead() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(liveness(dir.path()).unwrap(), Liveness::NeverStarted);
    let lock = RunLock::acquire(dir.path()).unwrap();
    let me = i64::from(std::process::id());
    assert_eq!(
        liveness(dir.path()).unwrap(),
        Liveness::Alive { pid: Some(me) }
    );
    assert!(matches!(
        RunLock::acquire(dir.path()),
        Err(JobError::AlreadyRunning { pid, .. }) if pid == me
    ));
    drop(lock);
    assert_eq!(
        liveness(dir.path()).unwrap(),
        Liveness::Dead { last_pid: Some(me) }
    );
}

#[test]
fn detached_children_get_their_own_session_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let pid = spawn_detached(
        Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
        dir.path(),
    )
    .unwrap();
    // SAFETY: getsid/kill are plain syscalls.
    let sid = unsafe { libc::getsid(pid as libc::pid_t) };
    assert_eq!(sid, pid as libc::pid_t, "the child leads its own session");
    assert_ne!(sid, unsafe { libc::getsid(0) });
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default() != "started\n"
    {
        assert!(
            Instant::now() < deadline,
            "the child's output never reached its log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

#[test]
fn heartbeats_are_written_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let beat = Heartbeat::start(dir.path(), Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(5);
    while heartbeat_age_ms(dir.path()).is_none() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(beat);
    let age = heartbeat_age_ms(dir.path()).unwrap();
    assert!((0..5_000).contains(&age), "{age}");
}

#[test]
fn stopping_a_run_that_is_not_running_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        request_stop(dir.path()),
        Err(JobError::NotRunning { .. })
    ));
}
