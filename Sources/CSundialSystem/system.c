#define _GNU_SOURCE
#include <errno.h>
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

#include <string.h>
#include <sys/socket.h>

int sundial_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

long sundial_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count) {
    struct msghdr message;
    memset(&message, 0, sizeof message);
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = length};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 8)];
    if (count > 0) {
        if (count > 8) return -1;
        memset(control, 0, sizeof control);
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
    }
    return (long)sendmsg(socket, &message, MSG_NOSIGNAL);
}

long sundial_receive_with_fds(int socket, void *bytes, unsigned long length, int *fds, int capacity, int *count) {
    struct msghdr message;
    memset(&message, 0, sizeof message);
    struct iovec vector = {.iov_base = bytes, .iov_len = length};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 64)];
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    *count = 0;
    long received = (long)recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) return received;
    int dropped = (message.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *passed = (int *)CMSG_DATA(header);
        for (int i = 0; i < n; i++) {
            if (*count < capacity && !dropped) {
                fds[(*count)++] = passed[i];
            } else {
                close(passed[i]);
                dropped = 1;
            }
        }
    }
    if (dropped) {
        /* Descriptors were dropped (out of descriptors, or too many at once): which message
           they belonged to can no longer be told, so the connection is given up. */
        for (int i = 0; i < *count; i++) close(fds[i]);
        *count = 0;
        errno = EMSGSIZE;
        return -1;
    }
    return received;
}
