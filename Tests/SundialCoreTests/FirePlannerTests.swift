import Foundation
import SundialCore
import SundialSchedule
import Testing

@Suite struct FirePlannerTests {
    func at(_ text: String) -> Date { RFC3339.parse(text)! }

    func planner(_ schedule: String?, configure: (inout TaskRow) -> Void = { _ in }) throws -> FirePlanner {
        var row = TaskRow(id: 1, name: "t", action: "noop", schedule: schedule)
        configure(&row)
        return FirePlanner(row: row, schedule: try schedule.map { try Schedule($0) })
    }

    @Test func successMovesARecurringTaskToTheFireAfterTheScheduledTime() throws {
        let plan = try planner("0 * * * *").afterRun(
            fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .succeeded, now: at("2026-01-01T10:00:05Z"),
            jitter: 0.5)
        #expect(
            plan
                == .init(
                    status: .active, nextRun: at("2026-01-01T11:00:00Z"), fireAt: at("2026-01-01T11:00:00Z"),
                    attempt: 0, error: nil))
    }

    @Test func oneShotsEndDoneOrDead() throws {
        let p = try planner(nil)
        #expect(
            p.afterRun(fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .succeeded, now: .now, jitter: 0).status
                == .done)
        let failed = p.afterRun(
            fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .failed("boom"), now: .now, jitter: 0)
        #expect(failed.status == .dead)
        #expect(failed.error == "boom")
        #expect(
            try planner("@at 2026-01-01T10:00:00Z").afterRun(
                fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .succeeded, now: .now, jitter: 0
            ).status == .done)
    }

    @Test func backoffGrowsExponentiallyWithJitterAndACap() throws {
        let p = try planner(nil) { row in
            row.maxAttempts = 10
            row.backoffSeconds = 2
            row.backoffMaxSeconds = 20
        }
        #expect(p.backoff(retry: 1, jitter: 1) == 2)
        #expect(p.backoff(retry: 2, jitter: 1) == 4)
        #expect(p.backoff(retry: 3, jitter: 1) == 8)
        #expect(p.backoff(retry: 3, jitter: 0) == 4)
        #expect(p.backoff(retry: 9, jitter: 1) == 20)
        let now = at("2026-01-01T10:00:00Z")
        let retry = p.afterRun(fireAt: at("2026-01-01T09:59:00Z"), attempt: 2, outcome: .timedOut, now: now, jitter: 1)
        #expect(
            retry
                == .init(
                    status: .active, nextRun: now.addingTimeInterval(8), fireAt: at("2026-01-01T09:59:00Z"), attempt: 3,
                    error: "timed out after 3600 s"))
    }

    @Test func exhaustedRetriesMoveARecurringTaskOnAndKillsAreNeverRetried() throws {
        let p = try planner("0 * * * *") { $0.maxAttempts = 3 }
        let last = p.afterRun(
            fireAt: at("2026-01-01T10:00:00Z"), attempt: 2, outcome: .failed("x"), now: at("2026-01-01T10:01:00Z"),
            jitter: 0)
        #expect(last.nextRun == at("2026-01-01T11:00:00Z"))
        #expect(last.error == "x")
        let killed = p.afterRun(
            fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .killed, now: at("2026-01-01T10:01:00Z"), jitter: 0
        )
        #expect(killed.attempt == 0)
        #expect(killed.nextRun == at("2026-01-01T11:00:00Z"))
    }

    @Test func misfirePolicies() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let now = at("2026-01-01T15:30:00Z")
        // Five hourly fires were missed (11:00 … 15:00).
        let once = try planner("0 * * * *").afterRun(fireAt: fire, attempt: 0, outcome: .succeeded, now: now, jitter: 0)
        #expect(once.nextRun == at("2026-01-01T15:00:00Z"))
        let skip = try planner("0 * * * *") { $0.misfirePolicy = .skip }.afterRun(
            fireAt: fire, attempt: 0, outcome: .succeeded, now: now, jitter: 0)
        #expect(skip.nextRun == at("2026-01-01T16:00:00Z"))
        let all = try planner("0 * * * *") { $0.misfirePolicy = .runAll }.afterRun(
            fireAt: fire, attempt: 0, outcome: .succeeded, now: now, jitter: 0)
        #expect(all.nextRun == at("2026-01-01T11:00:00Z"))
        let capped = try planner("0 * * * *") {
            $0.misfirePolicy = .runAll
            $0.misfireLimit = 2
        }.afterRun(fireAt: fire, attempt: 0, outcome: .succeeded, now: now, jitter: 0)
        #expect(capped.nextRun == at("2026-01-01T14:00:00Z"))
        // A limit from a hostile row catches up on 1,000 fires at most: a year of missed
        // seconds is not walked through one by one when a run ends.
        let huge = try planner("@every 1s") {
            $0.misfirePolicy = .runAll
            $0.misfireLimit = Int(UInt32.max)
        }.afterRun(fireAt: fire, attempt: 0, outcome: .succeeded, now: fire.addingTimeInterval(365 * 86_400), jitter: 0)
        #expect(huge.nextRun == fire.addingTimeInterval(365 * 86_400 - Double(FirePlanner.mostMissedFires) + 1))
    }

    @Test func aPlanSaysWhenFiresWereAlreadyMissed() throws {
        for policy in TaskRow.MisfirePolicy.allCases {
            let p = try planner("* * * * *") { $0.misfirePolicy = policy }
            let late = p.afterRun(
                fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .succeeded, now: at("2026-01-01T10:03:30Z"),
                jitter: 0)
            #expect(late.misfired, "\(policy)")
            let timely = p.afterRun(
                fireAt: at("2026-01-01T10:00:00Z"), attempt: 0, outcome: .succeeded, now: at("2026-01-01T10:00:30Z"),
                jitter: 0)
            #expect(!timely.misfired, "\(policy)")
        }
    }

    @Test func anAttemptNumberStaysWithinWhatAStoreKeeps() throws {
        let p = try planner("@every 1m") { $0.maxAttempts = Int(UInt32.max) }
        let fire = at("2026-01-01T10:00:00Z")
        let retried = p.afterRun(
            fireAt: fire, attempt: FirePlanner.lastAttempt, outcome: .failed("boom"), now: fire, jitter: 0)
        #expect(retried.attempt <= FirePlanner.lastAttempt)
        let interrupted = p.afterInterruption(fireAt: fire, attempt: Int.max, now: fire, reason: "gone")
        #expect(interrupted.attempt == FirePlanner.lastAttempt)
    }

    @Test func intervalsKeepAFixedRateFromTheScheduledFire() throws {
        let fire = at("2026-01-01T10:00:00.250Z")
        let plan = try planner("@every 90s").afterRun(
            fireAt: fire, attempt: 0, outcome: .succeeded, now: fire.addingTimeInterval(3), jitter: 0)
        #expect(plan.nextRun == fire.addingTimeInterval(90))
    }

    @Test func firstFires() throws {
        let now = at("2026-01-01T10:00:00.5Z")
        #expect(try planner(nil).firstFire(now: now).nextRun == now)
        #expect(try planner("0 * * * *").firstFire(now: now).nextRun == at("2026-01-01T11:00:00Z"))
        #expect(try planner("@at 2025-01-01T00:00:00Z").firstFire(now: now).nextRun == at("2025-01-01T00:00:00Z"))
        #expect(try planner("0 0 0 1 1 ? 2020").firstFire(now: now).status == .done)
    }

    /// A fire that keeps taking its executor down (an OOM kill, a crashing handler) is run again at
    /// once the first time, after the backoff later, and given up after its attempts: a one-shot
    /// is dead, a recurring task moves on. Never a crash loop.
    @Test func aFireLostWithItsExecutorCountsAnAttemptAndIsGivenUpAfterItsAttempts() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let now = at("2026-01-01T10:00:15Z")
        let once = try planner(nil) { $0.maxAttempts = 3 }
        let first = try #require(
            once.afterExecutorLost(
                fireAt: fire, attempt: 0, now: now, startOnRecord: true, leaseEnd: now, lostBefore: 0, jitter: 1))
        #expect(first.status == .active && first.attempt == 1 && first.nextRun == now && first.fireAt == fire)
        let second = try #require(
            once.afterExecutorLost(
                fireAt: fire, attempt: 1, now: now, startOnRecord: false, leaseEnd: now, lostBefore: 1, jitter: 1))
        #expect(
            second.attempt == 2 && second.nextRun == now.addingTimeInterval(10), "the first backoff: 10 s, jitter 1")
        let last = try #require(
            once.afterExecutorLost(
                fireAt: fire, attempt: 2, now: now, startOnRecord: true, leaseEnd: now, lostBefore: 2, jitter: 1))
        #expect(last.status == .dead && last.attempt == 2)
        #expect(last.error?.contains("given up after 3 attempts") == true)
        // A recurring task moves on to its next fire.
        let hourly = try planner("0 * * * *") { $0.maxAttempts = 2 }
        let movedOn = try #require(
            hourly.afterExecutorLost(
                fireAt: fire, attempt: 1, now: now, startOnRecord: true, leaseEnd: now, lostBefore: 1, jitter: 0))
        #expect(movedOn.status == .active && movedOn.attempt == 0 && movedOn.fireAt == at("2026-01-01T11:00:00Z"))
    }

    /// at_least_once promises a lost fire runs again: once more at least, even with max_attempts 1.
    @Test func atLeastOnceAlwaysRunsALostFireOnceMore() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let p = try planner(nil)
        #expect(FirePlanner.lostAttemptsAllowed(p.row) == 2)
        let again = p.afterExecutorLost(
            fireAt: fire, attempt: 0, now: fire, startOnRecord: true, leaseEnd: fire, lostBefore: 0, jitter: 0)
        #expect(again?.status == .active && again?.attempt == 1)
        let givenUp = p.afterExecutorLost(
            fireAt: fire, attempt: 1, now: fire, startOnRecord: true, leaseEnd: fire, lostBefore: 1, jitter: 0)
        #expect(givenUp?.status == .dead)
    }

    /// A claim without a start on record is freed as it was when it certainly never ran: an
    /// at_most_once or concurrent fire (they start only once on record), or one due after the
    /// lost executor's lease had ended. Otherwise it counts as a lost attempt.
    @Test func aClaimThatCertainlyNeverStartedIsFreedAsItWas() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let lease = at("2026-01-01T10:00:10Z")
        let atMostOnce = try planner(nil) { $0.delivery = .atMostOnce }
        #expect(
            atMostOnce.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)
                == nil)
        let started = atMostOnce.afterExecutorLost(
            fireAt: fire, attempt: 0, now: lease, startOnRecord: true, leaseEnd: lease, lostBefore: 0, jitter: 0)
        #expect(started?.status == .dead && started?.error?.contains("at_most_once") == true)
        let concurrent = try planner("@every 1s") { $0.maxConcurrency = 3 }
        #expect(
            concurrent.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)
                == nil)
        let later = try planner(nil) { $0.nextRun = lease.addingTimeInterval(1) }
        #expect(
            later.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)
                == nil)
        let due = try planner(nil) { $0.nextRun = fire }
        #expect(
            due.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)?
                .attempt == 1)
    }

    /// Recovery judges a claim by the row as it was claimed: an edit made since (a new schedule,
    /// a new delivery or limit) tells nothing of how the claim started its fire. An at_least_once
    /// claim edited to at_most_once may have started unrecorded; a fire moved past the lease's
    /// end by an edit was due, when claimed, before it.
    @Test func aClaimEditedSinceItWasTakenIsJudgedAsItWasClaimed() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let lease = at("2026-01-01T10:00:10Z")
        func claimed(_ row: inout TaskRow) {
            row.claimToken = ClaimToken(5)
            (row.claimedToken, row.claimedFire, row.claimedAttempt, row.claimedNextRun) = (ClaimToken(5), fire, 0, fire)
            (row.version, row.claimedVersion) = (RowVersion(1), RowVersion(1))
        }
        let untouched = try planner(nil) {
            claimed(&$0)
            $0.delivery = .atMostOnce
        }
        #expect(untouched.claimStartsOnlyOnRecord)
        let edited = try planner(nil) {
            claimed(&$0)
            $0.delivery = .atMostOnce
            $0.version = RowVersion(2)
        }
        #expect(!edited.claimStartsOnlyOnRecord)
        #expect(
            edited.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)?
                .status == .dead, "at_most_once now: the attempt it may have made is given up")
        let moved = try planner("@every 2s") {
            claimed(&$0)
            $0.nextRun = lease.addingTimeInterval(30)
        }
        #expect(
            moved.afterExecutorLost(
                fireAt: fire, attempt: 0, now: lease, startOnRecord: false, leaseEnd: lease, lostBefore: 0, jitter: 0)
                != nil, "due before the lease ended, when it was claimed")
    }

    /// Failures used two of three attempts, then an OOM kill took the executor: the fire still
    /// runs again (its first loss), and is given up only when lost again at the end of its attempts.
    @Test func aFirstLossRunsTheFireAgainWhateverFailuresUsedUp() throws {
        let fire = at("2026-01-01T10:00:00Z")
        let p = try planner(nil) { $0.maxAttempts = 3 }
        let again = p.afterExecutorLost(
            fireAt: fire, attempt: 2, now: fire, startOnRecord: true, leaseEnd: fire, lostBefore: 0, jitter: 0)
        #expect(again?.status == .active && again?.attempt == 3 && again?.nextRun == fire)
        let givenUp = p.afterExecutorLost(
            fireAt: fire, attempt: 3, now: fire, startOnRecord: true, leaseEnd: fire, lostBefore: 1, jitter: 0)
        #expect(givenUp?.status == .dead)
        #expect(givenUp?.error?.contains("given up after 4 attempts, 2 of them lost with their executor") == true)
    }

    @Test func theStableJitterIsTheSameForTheSameAttemptAndSpreadsOthers() {
        let fire = Date(timeIntervalSince1970: 1_800_000_000)
        let values = (0..<1_000).map { FirePlanner.stableJitter(RunKey(task: Int64($0), scheduled: fire, attempt: 1)) }
        #expect(values.allSatisfy { (0...1).contains($0) })
        #expect(Set(values).count == 1_000)
        #expect(values.filter { $0 < 0.5 }.count > 400 && values.filter { $0 < 0.5 }.count < 600)
        #expect(FirePlanner.stableJitter(RunKey(task: 7, scheduled: fire, attempt: 1)) == values[7])
    }
}
