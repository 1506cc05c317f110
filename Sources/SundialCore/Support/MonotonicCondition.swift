#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A lock with a condition whose timed waits run on the monotonic clock.
///
/// Foundation's `NSCondition.wait(until:)` waits for a wall-clock `Date`: a host clock stepped
/// back by minutes stretches every such wait by minutes (a lease renewal that should come within
/// a second comes minutes later, and the lease is lost without the executor knowing), and a step
/// forward cuts it short. Timers that keep leases must wait on time that only moves forward.
public final class MonotonicCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits until signalled (the lock held).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits until signalled or until `deadline` (the lock held). False when the deadline passed.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        wait(for: deadline - .now)
    }

    /// Waits until signalled or for `timeout` at most (the lock held). False when it ran out.
    @discardableResult
    public func wait(for timeout: Duration) -> Bool {
        guard timeout > .zero else { return false }
        var now = timespec()
        #if canImport(Glibc)
            clock_gettime(CLOCK_MONOTONIC, &now)
        #else
            clock_gettime(CLOCK_REALTIME, &now)
        #endif
        // A year at most: far enough for any wait here, and no overflow of `tv_sec`.
        let (seconds, attoseconds) = min(timeout, .seconds(31_536_000)).components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000
        nanoseconds %= 1_000_000_000
        deadline.tv_nsec = nanoseconds
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }
}
