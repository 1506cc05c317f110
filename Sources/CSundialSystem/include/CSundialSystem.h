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

/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): the executor's line to its job supervisor.
int sundial_socketpair_cloexec(int fds[2]);

/// sendmsg of `length` bytes with `count` descriptors (8 at most) attached (SCM_RIGHTS), without
/// SIGPIPE. Returns the bytes sent, or -1.
long sundial_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count);

/// recvmsg into `bytes`; descriptors that came with them (close-on-exec) go to `fds`, their
/// number to `count` (any beyond `capacity` are closed). Returns the bytes read, 0 at EOF, or -1.
long sundial_receive_with_fds(int socket, void *bytes, unsigned long length, int *fds, int capacity, int *count);

#endif
