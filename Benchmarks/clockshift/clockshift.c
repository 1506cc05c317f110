// Shifts the realtime clock of one process, for the clock-step drill (LD_PRELOAD). The shift, in
// seconds, is read from the file that SUNDIAL_CLOCKSHIFT_FILE names (looked at again at most every
// 50 ms of monotonic time), so a drill can step a running process's wall clock forward and back.
//
// Shifted: clock_gettime of the realtime clocks, gettimeofday, time. Realtime waits take absolute
// deadlines on the shifted clock and are unshifted before they reach the kernel:
// pthread_cond_timedwait on a condition using the realtime clock, pthread_cond_clockwait,
// clock_nanosleep with TIMER_ABSTIME. Monotonic and boot-time clocks are untouched. (Debian's
// libfaketime empties Swift's CommandLine.arguments, so it cannot be used for this.)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic long long shift_ns;
static _Atomic long long next_look_ns;

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);

static void resolve(void) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
}

static long long monotonic_ns(void) {
    struct timespec t;
    resolve();
    real_clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/// The current shift, read from the file again once 50 ms have passed.
static long long shift(void) {
    long long now = monotonic_ns();
    if (now >= atomic_load(&next_look_ns)) {
        atomic_store(&next_look_ns, now + 50000000LL);
        const char *path = getenv("SUNDIAL_CLOCKSHIFT_FILE");
        int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            char text[64] = {0};
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            if (n > 0) atomic_store(&shift_ns, (long long)(strtod(text, NULL) * 1e9));
        }
    }
    return atomic_load(&shift_ns);
}

static int is_realtime(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

static struct timespec add(struct timespec t, long long ns) {
    long long total = (long long)t.tv_sec * 1000000000LL + t.tv_nsec + ns;
    struct timespec r = {.tv_sec = total / 1000000000LL, .tv_nsec = total % 1000000000LL};
    if (r.tv_nsec < 0) {
        r.tv_nsec += 1000000000LL;
        r.tv_sec -= 1;
    }
    return r;
}

int clock_gettime(clockid_t clock, struct timespec *t) {
    resolve();
    int result = real_clock_gettime(clock, t);
    if (result == 0 && is_realtime(clock)) *t = add(*t, shift());
    return result;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    struct timespec t;
    int result = clock_gettime(CLOCK_REALTIME, &t);
    if (result == 0) {
        tv->tv_sec = t.tv_sec;
        tv->tv_usec = t.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (out) *out = t.tv_sec;
    return t.tv_sec;
}

int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex, const struct timespec *deadline) {
    if (!real_cond_timedwait) real_cond_timedwait = dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
    if (!real_cond_timedwait) real_cond_timedwait = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
    // glibc keeps the condition's clock in bit 1 of __wrefs (set: CLOCK_MONOTONIC).
    if (!(cond->__data.__wrefs & 2)) {
        struct timespec real = add(*deadline, -shift());
        return real_cond_timedwait(cond, mutex, &real);
    }
    return real_cond_timedwait(cond, mutex, deadline);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock, const struct timespec *deadline) {
    if (!real_cond_clockwait) real_cond_clockwait = dlsym(RTLD_NEXT, "pthread_cond_clockwait");
    if (is_realtime(clock)) {
        struct timespec real = add(*deadline, -shift());
        return real_cond_clockwait(cond, mutex, clock, &real);
    }
    return real_cond_clockwait(cond, mutex, clock, deadline);
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain) {
    if (!real_clock_nanosleep) real_clock_nanosleep = dlsym(RTLD_NEXT, "clock_nanosleep");
    if ((flags & TIMER_ABSTIME) && is_realtime(clock)) {
        struct timespec real = add(*request, -shift());
        return real_clock_nanosleep(clock, flags, &real, remain);
    }
    return real_clock_nanosleep(clock, flags, request, remain);
}
