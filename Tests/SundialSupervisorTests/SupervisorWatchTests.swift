import Testing

@testable import SundialSupervisor

/// The supervisor's decisions on a made-up clock: a command must be dead before the lease the
/// executor last vouched for could run out.
@Suite struct SupervisorWatchTests {
    func watch(leaseLeft: Double = 10, timeout: Double = 0) -> SupervisorWatch {
        SupervisorWatch(now: 100, timeout: timeout, grace: 5, fenceGrace: 1.5, leaseLeft: leaseLeft)
    }

    /// Drives the watch from `from` to `to` in steps of its own choosing; returns when each action came.
    func run(_ watch: inout SupervisorWatch, from: Double, to: Double) -> [(SupervisorWatch.Action, Double)] {
        var now = from
        var actions: [(SupervisorWatch.Action, Double)] = []
        while now <= to {
            let action = watch.poll(now: now)
            if action != .none { actions.append((action, now)) }
            now += max(0.001, watch.wait(now: now))
        }
        return actions
    }

    @Test func aSilentExecutorsCommandIsKilledBeforeItsLeaseEnds() {
        var w = watch(leaseLeft: 10)
        let actions = run(&w, from: 100, to: 130)
        #expect(w.ending == .orphaned)
        #expect(actions.map(\.0) == [.terminate, .kill])
        let killedAt = actions[1].1
        #expect(killedAt <= 110 + 0.001)
        #expect(actions[0].1 <= killedAt - 1.5 + 0.001, "SIGTERM comes a fence grace before SIGKILL")
    }

    @Test func freshWordFromTheExecutorKeepsTheCommandAlive() {
        var w = watch(leaseLeft: 10)
        var now = 100.0
        while now < 200 {
            #expect(w.poll(now: now) == .none)
            w.received(Array("9500\n".utf8), now: now)
            now += 0.1
        }
        #expect(w.ending == nil)
        // Then silence: dead before 9.5 s after the last word.
        let actions = run(&w, from: now, to: now + 30)
        #expect(actions.last.map { $0.0 == .kill && $0.1 <= now + 9.5 + 0.001 } == true)
    }

    @Test func linesMaySplitAcrossReadsAndAStaleWordNeverShortensTheLease() {
        var w = watch(leaseLeft: 10)
        w.received(Array("20".utf8), now: 101)
        w.received(Array("000\n".utf8), now: 101)
        #expect(w.orphanAt == 101 + 20 - 1.5)
        w.received(Array("100\n".utf8), now: 102)
        #expect(w.orphanAt == 101 + 20 - 1.5)
    }

    @Test func aClosedPipeOrAFenceEndsTheCommandAtOnceWithTheShortGrace() {
        for stop in ["closed", "F"] {
            var w = watch(leaseLeft: 10)
            if stop == "closed" { w.executorGone(now: 101) } else { w.received([UInt8(ascii: "F")], now: 101) }
            let actions = run(&w, from: 101, to: 110)
            #expect(w.ending == .orphaned)
            #expect(actions.map(\.0) == [.terminate, .kill])
            #expect(actions[0].1 == 101)
            #expect(abs(actions[1].1 - 102.5) < 0.01)
        }
    }

    @Test func aKillRequestUsesTheLongGraceButAFenceCutsItShort() {
        var w = watch(leaseLeft: 100)
        w.received([UInt8(ascii: "K")], now: 101)
        #expect(w.poll(now: 101) == .terminate)
        #expect(w.poll(now: 103) == .none)
        w.received([UInt8(ascii: "F")], now: 103)
        #expect(w.ending == .killed, "the first reason is the one reported")
        #expect(w.poll(now: 104.6) == .kill, "1.5 s after the fence, not 5 s after the kill request")
    }

    @Test func aTimeoutEndsTheCommandWithTheNormalGrace() {
        var w = watch(leaseLeft: 1e9, timeout: 30)
        let actions = run(&w, from: 100, to: 140)
        #expect(w.ending == .timedOut)
        #expect(actions.map(\.0) == [.terminate, .kill])
        #expect(abs(actions[0].1 - 130) < 0.01)
        #expect(abs(actions[1].1 - 135) < 0.01)
    }
}
