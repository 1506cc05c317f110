#ifndef CSUNDIAL_SYSTEM_H
#define CSUNDIAL_SYSTEM_H

#include <spawn.h>

/// glibc's GNU-only calls, which Swift's Glibc module does not show.

/// pipe2(fds, O_CLOEXEC).
int sundial_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addchdir_np.
int sundial_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path);

/// posix_spawn_file_actions_addclosefrom_np: close every descriptor from `from` up in the child.
int sundial_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);

/// pidfd_open(pid, 0): a descriptor that becomes readable when the process exits (Linux 5.3).
int sundial_pidfd_open(int pid);

#endif
