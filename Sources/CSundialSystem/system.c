#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CSundialSystem.h"

int sundial_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sundial_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int sundial_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int sundial_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
