import Testing

@testable import SundialCore

@Suite struct ResultsStallTests {
    let lease = Duration.seconds(10)

    @Test func aQuickWriteIsNoStall() {
        var stall = ResultsStall()
        stall.writeBegan(at: .seconds(1))
        #expect(stall.stalledFor(at: .seconds(1) + .milliseconds(20)) == nil)
        stall.tryEnded(succeeded: true, at: .seconds(1) + .milliseconds(20))
        stall.writeEnded()
        #expect(stall.stalledFor(at: .seconds(30)) == nil)
        #expect(stall.mayRenew(lease: lease, at: .seconds(30)))
    }

    /// A write that hangs (a frozen link, a read timeout of a minute) is a stall from its start,
    /// before it errors: a whole lease of it and the lease is not renewed.
    @Test func aHangingWriteIsAStallFromItsStart() {
        var stall = ResultsStall()
        stall.writeBegan(at: .seconds(5))
        #expect(stall.stalledFor(at: .seconds(6)) == .seconds(1))
        #expect(stall.mayRenew(lease: lease, at: .seconds(14)))
        #expect(!stall.mayRenew(lease: lease, at: .seconds(15)))
        stall.tryEnded(succeeded: true, at: .seconds(16))
        stall.writeEnded()
        #expect(stall.stalledFor(at: .seconds(16)) == nil)
        #expect(stall.mayRenew(lease: lease, at: .seconds(16)))
    }

    /// A big batch split into parts on a refusal: each part that goes through is progress.
    @Test func aWriteMakingProgressInPartsIsNoStall() {
        var stall = ResultsStall()
        stall.writeBegan(at: .zero)
        for part in 1...30 { stall.tryEnded(succeeded: true, at: .seconds(Double(part) * 0.5)) }
        #expect(stall.stalledFor(at: .seconds(15.2)) == nil)
        #expect(stall.mayRenew(lease: lease, at: .seconds(15.2)))
        #expect(stall.stalledFor(at: .seconds(17)) == .seconds(2))
    }

    @Test func failingTriesCountFromTheFirstFailureUntilOneSucceeds() {
        var stall = ResultsStall()
        stall.writeBegan(at: .seconds(1))
        stall.tryEnded(succeeded: false, at: .seconds(1) + .milliseconds(10))
        stall.tryEnded(succeeded: false, at: .seconds(3))
        #expect(stall.stalledFor(at: .seconds(4)) == .seconds(3))
        #expect(!stall.mayRenew(lease: lease, at: .seconds(11) + .milliseconds(10)))
        stall.tryEnded(succeeded: true, at: .seconds(12))
        stall.writeEnded()
        #expect(stall.stalledFor(at: .seconds(12)) == nil)
    }
}
