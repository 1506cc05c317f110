import Foundation
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQLStore
import SundialTesting
import Testing

/// The shell action with its real supervisor process (the built `sundial` binary).
@Suite struct ShellHandlerTests {
    let liveness = ShellLiveness()

    /// No lease here unless a test sets one, so supervisors wait for the command.
    func handler(outputLimit: Int = 64 * 1024) -> ShellHandler {
        var configuration = ShellHandler.Configuration()
        configuration.supervisor = [IntegrationEnvironment.sundialBinary.path, ShellSupervisor.argument]
        configuration.killGrace = 1
        configuration.outputLimit = outputLimit
        return ShellHandler(configuration: configuration, liveness: liveness)
    }

    func context(_ payload: String, timeout: Double? = nil) -> RunContext {
        RunContext(
            taskID: 7, taskName: "shell-test", payload: Data(payload.utf8), scheduledFor: Date(), attempt: 0,
            timeout: timeout)
    }

    @Test func capturesOutputExitCodeEnvironmentAndDirectory() throws {
        let output = try handler().run(
            context(
                #"{"command": "echo out; echo err >&2; echo $GREETING $SUNDIAL_TASK_NAME; pwd", "env": {"GREETING": "hi"}, "cwd": "/tmp"}"#
            ))
        #expect(output.exitCode == 0)
        #expect(output.output == "out\nerr\nhi shell-test\n/tmp\n")
    }

    @Test func aNonZeroExitIsAFailureWithItsCodeAndOutput() throws {
        do {
            _ = try handler().run(context(#"{"command": "echo partial; exit 3"}"#))
            Issue.record("exit 3 counted as success")
        } catch let failure as RunFailure {
            #expect(failure.exitCode == 3)
            #expect(failure.message == "exit status 3")
            #expect(failure.output == "partial\n")
        }
    }

    @Test func theTimeoutKillsTheWholeProcessGroup() throws {
        let marker = "sleep 31.\(Int.random(in: 1000...9999))"
        let started = Date()
        #expect(throws: RunTimedOut.self) {
            _ = try handler().run(
                context(#"{"command": "\#(marker) & \#(marker) & echo started; wait", "timeout": 0.5}"#))
        }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(processes(containing: marker) == 0, "children of the command outlived the timeout")
    }

    @Test func aKillRequestStopsTheCommandAndItsChildren() async throws {
        let marker = "sleep 32.\(Int.random(in: 1000...9999))"
        let context = context(#"{"command": "\#(marker) & \#(marker)"}"#)
        let handler = handler()
        let run = Task.detached { try await onThread { try handler.run(context) } }
        // The shell and its two sleeps.
        for _ in 0..<600 where processes(containing: marker) < 3 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(processes(containing: marker) >= 3)
        context.cancel(.killRequested)
        do {
            _ = try await run.value
            Issue.record("a killed command succeeded")
        } catch is RunKilled {}
        #expect(processes(containing: marker) == 0)
    }

    @Test func aSilentExecutorsCommandsAreKilledBeforeItsLeaseRunsOut() throws {
        // A lease of 2.5 s and nobody renewing it or pinging: the supervisor acts as if the executor
        // froze. The command, which ignores SIGTERM, must be dead before the lease runs out.
        let marker = "sleep 33.\(Int.random(in: 1000...9999))"
        let started = ContinuousClock.now
        liveness.leaseRenewed(validUntil: started + .milliseconds(2500), fenceGrace: 0.5)
        do {
            _ = try handler().run(context(#"{"command": "trap '' TERM; \#(marker)"}"#))
            Issue.record("an orphaned command succeeded")
        } catch let failure as RunInterrupted {
            #expect(failure.message.contains("the executor stopped answering"))
        }
        // When, exactly, is SupervisorWatchTests' business: timings on a shared machine are not.
        #expect(processes(containing: marker) == 0)
    }

    @Test func aProcessLeftBehindHoldingTheOutputDoesNotHoldTheRun() throws {
        // `setsid` takes the sleeper out of the command's process group, so the supervisor's kill
        // of the group misses it, and it keeps standard output open for 30 s.
        let started = Date()
        let output = try handler().run(context(#"{"command": "setsid sleep 30 & echo done"}"#))
        #expect(output.output == "done\n")
        #expect(Date().timeIntervalSince(started) < 10, "the worker thread was held until the sleeper ended")
        _ = try? handler().run(context(#"{"command": "pkill -f 'sleep 30' || true"}"#))
    }

    @Test func oneSupervisorRunsEveryCommandAndADeadOneIsReplaced() async throws {
        let handler = handler()
        for i in 0..<20 {
            #expect(try handler.run(context(#"{"command": "echo \#(i)"}"#)).output == "\(i)\n")
        }
        let supervisors = liveness.supervisorProcessIDs
        #expect(supervisors.count == 1, "one supervisor for every command: \(supervisors)")
        // A supervisor that dies takes no command along unwatched: the command is killed and
        // the run fails; the next run starts a fresh supervisor.
        let marker = "sleep 34.\(Int.random(in: 1000...9999))"
        let sleeper = context(#"{"command": "\#(marker)"}"#)
        let run = Task.detached { try await onThread { try handler.run(sleeper) } }
        for _ in 0..<600 where processes(containing: marker) < 1 { try await Task.sleep(for: .milliseconds(50)) }
        for pid in supervisors { kill(pid, SIGKILL) }
        do {
            _ = try await run.value
            Issue.record("a command whose supervisor died succeeded")
        } catch let failure as RunFailure {
            #expect(failure.message.contains("supervisor ended without a report"))
        }
        for _ in 0..<100 where processes(containing: marker) > 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(processes(containing: marker) == 0)
        #expect(try handler.run(context(#"{"command": "echo again"}"#)).output == "again\n")
        #expect(liveness.supervisorProcessIDs.count == 1)
        #expect(Set(liveness.supervisorProcessIDs).isDisjoint(with: supervisors))
    }

    @Test func longOutputKeepsTheHeadAndTheTail() throws {
        let output = try handler(outputLimit: 1000).run(context(#"{"command": "echo FIRST; seq 1 100000; echo LAST"}"#))
        let text = try #require(output.output)
        #expect(text.hasPrefix("FIRST\n"))
        #expect(text.hasSuffix("LAST\n"))
        #expect(text.contains("bytes omitted"))
        #expect(text.utf8.count < 1100)
    }

    @Test func badPayloadsAreRejectedBeforeRunning() {
        let h = handler()
        #expect(throws: TaskPayloadError.self) { try h.validate(payload: Data(#"{"cmd": "ls"}"#.utf8)) }
        #expect(throws: TaskPayloadError.self) { try h.validate(payload: Data(#"{"command": "  "}"#.utf8)) }
        #expect(throws: TaskPayloadError.self) {
            try h.validate(payload: Data(#"{"command": "ls", "cwd": "relative"}"#.utf8))
        }
        #expect(throws: TaskPayloadError.self) { try h.validate(payload: Data(#"{"command": 5}"#.utf8)) }
        #expect(throws: TaskPayloadError.self) { try h.validate(payload: Data(#"{"command": "ls\u0000rm"}"#.utf8)) }
    }
}
