// Child processes that must not outlive their parent: the `smlab train` runs that `smlab sweep
// --jobs N` starts. SIGINT and SIGTERM reach them through the parent, but a SIGKILLed parent (an OOM
// kill, `kill -9`, a batch system's hard limit) would leave them training on, holding their run
// folders' locks, so that the sweep's rerun meets "locked by another process".
//
// The parent calls exit_with_me() before it spawns (from the thread that will outlive the
// children: the kernel ties the signal to the spawning thread); each child's main calls
// exit_with_parent_if_asked(), which asks Linux for SIGTERM when that parent dies
// (prctl PR_SET_PDEATHSIG). SIGTERM makes `smlab train` checkpoint and exit 143, so the rerun resumes.
#pragma once

namespace smlab {

/// Marks this process as the parent whose death ends the children it spawns from now on
/// (environment SMLAB_EXIT_WITH_PARENT=<pid>).
void exit_with_me();

/// In a child: when SMLAB_EXIT_WITH_PARENT names this process's parent, SIGTERM on the parent's
/// death (and at once when it died already). The variable is removed so grandchildren do not inherit it.
void exit_with_parent_if_asked();

}  // namespace smlab
