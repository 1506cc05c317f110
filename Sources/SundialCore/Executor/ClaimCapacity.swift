/// How many rows the leader may claim: pure arithmetic over what the executor holds, so that it
/// claims ahead what it can start on time and leaves the rest to other executors.
///
/// An executor claims its free threads; plus, once its recent runs have been quick, the queue
/// allowance and as many as its free threads start within `startBudget` at that pace (so that a
/// flood of quick one-shots goes in full batches, while a handful of slow jobs due
/// together spreads over the executors instead of waiting behind one executor's busy threads);
/// plus as many more as its free threads can start within `startBudget`, judging by how long the
/// rows it holds ran last time (`cron.last_duration`): thousands of fast tasks (so that a thousand
/// tasks due on the same second are all claimed during the look-ahead and start on time), no more
/// slow ones, none while every thread is busy, and none on the strength of rows that never ran
/// (their cost is unknown, so each counts as a whole thread's budget).
public struct ClaimCapacity: Sendable, Equatable {
    /// How late a held row may start because of the rows held before it.
    public static let startBudget = 0.1
    /// Never more than this many rows in hand beyond threads and allowance.
    public static let maximumBurst = 10_000

    /// Mean seconds a claim takes, once measured.
    public private(set) var meanClaimSeconds: Double?
    /// Mean seconds this executor's recent runs took, once measured.
    public private(set) var recentRunSeconds: Double?

    public init() {}

    public mutating func observeRun(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        recentRunSeconds = recentRunSeconds.map { $0 + (seconds - $0) * 0.05 } ?? seconds
    }

    /// Whether the queue allowance applies: recent runs were quick.
    public var runsAreQuick: Bool { (recentRunSeconds ?? .infinity) < Self.startBudget }

    /// Mean absolute deviation of the claims' seconds from the mean, once measured.
    public private(set) var claimDeviation: Double = 0

    public mutating func observeClaim(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        if let mean = meanClaimSeconds {
            claimDeviation += (abs(seconds - mean) - claimDeviation) * 0.1
            meanClaimSeconds = mean + (seconds - mean) * 0.1
        } else {
            meanClaimSeconds = seconds
        }
    }

    /// Whether a claim may start now, `untilDue` seconds before held work falls due (nil: none
    /// held). The leader cannot hand out work while it waits for the database, so it does not
    /// start a claim that would likely still be running when held work is due: that work was
    /// claimed ahead so that it would start on time.
    public func mayClaim(untilDue: Double?) -> Bool {
        guard let untilDue else { return true }
        // Claims vary (a big one takes several times the mean): a slow one must still be back.
        return untilDue > 2 * (meanClaimSeconds ?? 0.005) + 4 * claimDeviation + 0.002
    }

    /// Rows beyond free threads and allowance that the free threads can start within the budget,
    /// if the next rows cost what the held ones with a known duration do.
    public static func burst(idleThreads: Int, held: HeldWork) -> Int {
        guard held.knownCount > 0 else { return 0 }
        let unknown = Double(held.count - held.knownCount) * startBudget
        let room = Double(max(0, idleThreads)) * startBudget - held.knownSeconds - unknown
        guard room > 0 else { return 0 }
        let each = max(held.knownSeconds / Double(held.knownCount), 0.000_01)
        return Int(min(room / each, Double(maximumBurst)))
    }

    /// Rows to ask for now: at most `batch`, and no more than free threads, allowance (when runs
    /// are quick) and burst minus what is already held (`pending`: claimed, not started; `held`:
    /// those not due yet).
    public func limit(batch: Int, idleThreads: Int, allowance: Int, pending: Int, held: HeldWork) -> Int {
        let extra =
            (runsAreQuick ? allowance + quickBurst(idleThreads: idleThreads, held: held) : 0)
            + Self.burst(idleThreads: idleThreads, held: held)
        return max(0, min(batch, idleThreads + extra - pending))
    }

    /// Rows the free threads can start within the budget when recent runs were quick: a flood
    /// of one-shots due now goes in full batches (each claim costs the database a fixed price
    /// whatever its size), while slow work is still claimed a thread at a time.
    /// Held rows use up the budget first (unknown ones a whole thread's each).
    public func quickBurst(idleThreads: Int, held: HeldWork) -> Int {
        guard let recent = recentRunSeconds, recent < Self.startBudget else { return 0 }
        let unknown = Double(held.count - held.knownCount) * Self.startBudget
        let room = Double(max(0, idleThreads)) * Self.startBudget - held.knownSeconds - unknown
        guard room > 0 else { return 0 }
        return Int(min(room / max(recent, 0.000_01), Double(Self.maximumBurst)))
    }
}

/// Claimed rows not due yet, and what they cost to run as far as is known.
public struct HeldWork: Sendable, Equatable {
    public var count = 0
    /// Rows with a `last_duration`, and its sum.
    public var knownCount = 0
    public var knownSeconds = 0.0

    public init(count: Int = 0, knownCount: Int = 0, knownSeconds: Double = 0) {
        (self.count, self.knownCount, self.knownSeconds) = (count, knownCount, knownSeconds)
    }

    public mutating func add(lastDuration: Double?) {
        count += 1
        if let lastDuration, lastDuration >= 0 {
            knownCount += 1
            knownSeconds += lastDuration
        }
    }

    public mutating func remove(lastDuration: Double?) {
        count -= 1
        if let lastDuration, lastDuration >= 0 {
            knownCount -= 1
            knownSeconds = knownCount == 0 ? 0 : max(0, knownSeconds - lastDuration)
        }
    }
}
