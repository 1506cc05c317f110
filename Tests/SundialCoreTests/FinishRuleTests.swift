import Foundation
import SundialCore
import Testing

@Suite struct FinishRuleTests {
    let at = Date(timeIntervalSince1970: 1_800_000_000)

    func finish(_ row: TaskRow, plan: FirePlanner.Plan) -> RowFinish {
        RowFinish(
            claim: Claim(taskID: row.id, token: ClaimToken(1)), plan: plan, claimed: ClaimedState(row), duration: 2)
    }

    var row: TaskRow {
        var row = TaskRow(id: 1, name: "t", action: "noop", schedule: "* * * * *")
        row.nextRun = at
        row.version = RowVersion(3)
        return row
    }

    var next: FirePlanner.Plan {
        .init(
            status: .active, nextRun: at.addingTimeInterval(60), fireAt: at.addingTimeInterval(60), attempt: 0,
            error: nil)
    }

    @Test func anUneditedRowTakesThePlan() {
        let change = FinishRule.resolve(current: row, finish: finish(row, plan: next))
        #expect(change == FinishRule.unedited(finish(row, plan: next), lastDuration: nil))
        #expect(FinishRule.isUnedited(row, since: ClaimedState(row)))
    }

    @Test func aPausedRowStaysPaused() {
        var current = row
        current.status = .paused
        #expect(FinishRule.resolve(current: current, finish: finish(row, plan: next)).status == .paused)
    }

    @Test func aNewScheduleGetsItsNextFireComputedAfresh() {
        var current = row
        current.schedule = "0 0 * * *"
        let change = FinishRule.resolve(current: current, finish: finish(row, plan: next))
        #expect(change.nextRun == nil && change.fireAt == nil && change.attempt == 0)
    }

    @Test func aNextRunSetByHandIsKept() {
        var current = row
        current.nextRun = at.addingTimeInterval(3600)
        let change = FinishRule.resolve(current: current, finish: finish(row, plan: next))
        #expect(change.nextRun == current.nextRun)
    }

    @Test func aOneShotGivenAScheduleIsNotMarkedDone() {
        var oneShot = row
        oneShot.schedule = nil
        var current = oneShot
        current.schedule = "@daily"
        let done = FirePlanner.Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: nil)
        #expect(FinishRule.resolve(current: current, finish: finish(oneShot, plan: done)).status == .active)
    }

    /// Resuming it would run its fire again: a one-shot whose fire succeeded while it was paused
    /// is done. One that failed for good stays paused (a resume gives it another try).
    @Test func aOneShotPausedWhileItsFireSucceededIsDone() {
        var oneShot = row
        oneShot.schedule = "@at 2027-01-15T08:00:06Z"
        var current = oneShot
        current.status = .paused
        let done = FirePlanner.Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: nil)
        var succeeded = finish(oneShot, plan: done)
        succeeded.succeededAt = at
        #expect(FinishRule.resolve(current: current, finish: succeeded).status == .done)
        // A last fire that failed (a schedule with no fire left) is no success: it stays paused.
        #expect(FinishRule.resolve(current: current, finish: finish(oneShot, plan: done)).status == .paused)
        let dead = FirePlanner.Plan(status: .dead, nextRun: nil, fireAt: nil, attempt: 0, error: "failed")
        #expect(FinishRule.resolve(current: current, finish: finish(oneShot, plan: dead)).status == .paused)
    }
}
