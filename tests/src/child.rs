//! Child processes that cannot outlive the harness: killed when their handle drops,
//! and, should the harness itself die, killed by the kernel (PR_SET_PDEATHSIG).

use tokio::process::{Child, Command};

/// Spawns `command` so that the child dies with its handle or with this process.
///
/// The death signal is tied to the spawning *thread*; callers spawn from threads that
/// live at least as long as the child is needed (the main thread, or a test thread
/// that drops the child before it ends).
pub fn spawn_guarded(command: &mut Command) -> std::io::Result<Child> {
    command.kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and touches only the forked child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}
