/// How many rows the leader may claim: pure arithmetic over what the executor holds and how fast
/// its threads get through work, so that it claims ahead what it can start on time and leaves the
/// rest to other executors.
///
/// An executor claims its free threads plus the queue allowance, and as many more as its free
/// threads can start within `startBudget`, judging by the mean time a run occupies a thread:
/// thousands for fast tasks (so that a thousand tasks due on the same second can all be claimed
/// during the look-ahead and start on time), none for slow ones, and none while every thread is
/// busy (nothing held could start before one frees up).
struct ClaimCapacity: Equatable {
    /// How late a held row may start because of the rows held before it.
    static let startBudget = 0.1
    /// Never more than this many rows in hand beyond threads and allowance.
    static let maximumBurst = 10_000
    /// Weight of the newest run in the mean.
    static let smoothing = 0.02

    /// Mean seconds a run occupies a pool thread (handler and bookkeeping). It starts fast (a
    /// fifth of a millisecond), so that a fresh executor claims a whole second's fires ahead before
    /// it knows better: once its threads are busy it holds nothing more anyway.
    private(set) var meanRunSeconds = 0.0002
    /// Mean seconds a claim takes, once measured.
    private(set) var meanClaimSeconds: Double?

    mutating func observeRun(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        meanRunSeconds += (seconds - meanRunSeconds) * Self.smoothing
    }

    mutating func observeClaim(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        meanClaimSeconds = meanClaimSeconds.map { $0 + (seconds - $0) * 0.1 } ?? seconds
    }

    /// Whether a claim may start now, `untilDue` seconds before held work falls due (nil: none
    /// held). The leader cannot hand out work while it waits for the database, so it does not
    /// start a claim that would likely still be running when held work is due: that work was
    /// claimed ahead so that it would start on time.
    func mayClaim(untilDue: Double?) -> Bool {
        guard let untilDue else { return true }
        return untilDue > 2 * (meanClaimSeconds ?? 0.005) + 0.002
    }

    /// Extra rows the free threads can start within the budget.
    func burst(idleThreads: Int) -> Int {
        let startable = Double(max(0, idleThreads)) * Self.startBudget / max(meanRunSeconds, 1e-6)
        return Int(min(startable, Double(Self.maximumBurst)))
    }

    /// Rows to ask for now: at most `batch`, and no more than free threads, allowance and burst
    /// minus what is already held (`pending`: claimed, not started).
    func limit(batch: Int, idleThreads: Int, allowance: Int, pending: Int) -> Int {
        max(0, min(batch, idleThreads + allowance + burst(idleThreads: idleThreads) - pending))
    }
}
