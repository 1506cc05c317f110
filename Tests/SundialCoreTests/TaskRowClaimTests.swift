import Foundation
import Testing

@testable import SundialCore

/// What recovery reads from a claimed row: the attempt its claim took, and whether an edit
/// replaced that fire since.
@Suite struct TaskRowClaimTests {
    let fire = Date(timeIntervalSince1970: 1_800_000_000)

    var claimed: TaskRow {
        var row = TaskRow(id: 1, name: "t", action: "noop", schedule: "* * * * *")
        (row.nextRun, row.fireAt, row.attempt) = (fire, fire, 2)
        row.claimToken = ClaimToken(7)
        (row.claimedToken, row.claimedFire, row.claimedAttempt, row.claimedNextRun) = (ClaimToken(7), fire, 2, fire)
        return row
    }

    @Test func anUntouchedRowIsNotEdited() {
        #expect(!claimed.editedSinceClaim)
        #expect(claimed.claimedAttemptKey?.fire == fire)
        #expect(claimed.claimedAttemptKey?.attempt == 2)
    }

    @Test func aNewNextRunOrFireOrNoneIsAnEdit() {
        var moved = claimed
        moved.nextRun = fire.addingTimeInterval(3600)
        #expect(moved.editedSinceClaim)
        var resumed = claimed
        (resumed.nextRun, resumed.fireAt) = (fire.addingTimeInterval(60), fire.addingTimeInterval(60))
        #expect(resumed.editedSinceClaim)
        var rescheduled = claimed
        (rescheduled.nextRun, rescheduled.fireAt) = (nil, nil)
        #expect(rescheduled.editedSinceClaim)
    }

    /// A resume that keeps the fire moves its attempt on: the fire the claim took stands.
    @Test func anAttemptMovedOnAloneIsNoEdit() {
        var resumed = claimed
        resumed.attempt = 3
        #expect(!resumed.editedSinceClaim)
    }

    /// Written by an earlier claim, and the row claimed since by an executor that does not write
    /// them: they describe nothing.
    @Test func valuesOfAnotherClaimAreIgnored() {
        var reclaimed = claimed
        reclaimed.claimToken = ClaimToken(8)
        reclaimed.nextRun = fire.addingTimeInterval(60)
        #expect(reclaimed.claimedAttemptKey == nil)
        #expect(!reclaimed.editedSinceClaim)
    }
}
