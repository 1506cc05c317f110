import Foundation
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMemoryStore
import SundialTesting
import Synchronization
import Testing

/// An in-process executor on the in-memory store, with faults injected into one kind of call.
@Suite struct ExecutorStoreFaultTests {
    /// An executor with quick timings on `store`, the built-in handlers and `extra` ones.
    static func executor(
        on store: InMemoryStore, handlers extra: [String: any TaskHandler] = [:],
        _ configure: (inout ExecutorConfiguration) -> Void
    ) -> Executor {
        var settings = ExecutorConfiguration()
        settings.pollInterval = .milliseconds(20)
        settings.heartbeatInterval = .milliseconds(100)
        configure(&settings)
        let liveness = ShellLiveness()
        var handlers = HandlerRegistry(liveness: liveness)
        for (action, handler) in extra { handlers.register(action, handler) }
        return Executor(
            store: store, configuration: settings, handlers: handlers, liveness: liveness,
            logger: IntegrationEnvironment.logger)
    }

    @Test func anExecutorWhoseResultsCannotBeWrittenStopsLookingAlive() throws {
        // Everything answers but the writing of results: the rows they would free stay claimed, so
        // the executor must let its lease lapse for others to recover them, not renew it for ever.
        let store = InMemoryStore(clock: .system)
        var row = TaskRow(id: 0, name: "result-stuck", action: "noop")
        row.nextRun = Date().addingTimeInterval(-1)
        _ = store.insertRaw(row)
        store.injectFaults { $0 == .record ? .unavailable : nil }
        let executor = Self.executor(on: store) {
            $0.threads = 2
            $0.lease = .seconds(1)
        }
        try executor.start()
        defer {
            store.injectFaults(nil)
            executor.stop()
        }
        let deadline = Date().addingTimeInterval(10)
        var lapsed = false
        while !lapsed && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            let me = try store.executors().first { $0.id == executor.identity.id }
            lapsed = me.map { $0.leaseExpiresAt < Date().addingTimeInterval(-0.5) } ?? false
        }
        #expect(lapsed, "the lease was renewed although no result could be written")
        #expect(store.allRuns.isEmpty)
    }

    @Test func workGivenBackWithAnUnknownOutcomeIsNeverStartedByTheOldClaim() throws {
        // One thread busy with a long run; quick one-shots claimed behind it wait past
        // releaseAfter and are given back, applied but with the answer lost: the rows are free
        // for anyone (this executor claims them again), so the old claim must not start them too.
        let store = InMemoryStore(clock: .system)
        // Executions counted as they happen: run rows alone would hide a second execution of a
        // fire under the same key.
        let executions = ExecutionCounter()
        let executor = Self.executor(on: store, handlers: ["count": executions]) {
            $0.threads = 1
            $0.releaseAfter = .milliseconds(300)
        }
        func insert(_ name: String, action: String = "count", payload: String? = nil, dueAgo: Double) -> Int64 {
            var row = TaskRow(id: 0, name: name, action: action)
            row.payload = payload
            row.nextRun = Date().addingTimeInterval(-dueAgo)
            return store.insertRaw(row)
        }
        for i in 0..<3 { _ = insert("warm-\(i)", dueAgo: 1) }
        try executor.start()
        defer { executor.stop() }
        func done(_ ids: [Int64]) -> Bool {
            store.allTasks.filter { ids.contains($0.id) }.allSatisfy { $0.status == .done }
        }
        var deadline = Date().addingTimeInterval(10)
        while !done([1, 2, 3]) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        // Every give-back is applied and its answer lost.
        let lostAnswers = Atomic(0)
        store.injectFaults { operation in
            guard operation == .release else { return nil }
            lostAnswers.add(1, ordering: .relaxed)
            return .lostAnswer
        }
        let sleeper = insert("sleeper", action: "sleep", payload: #"{"seconds": 1.5}"#, dueAgo: 10)
        let quick = (0..<5).map { insert("quick-\($0)", dueAgo: 1) }
        deadline = Date().addingTimeInterval(20)
        while !done([sleeper] + quick) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(lostAnswers.load(ordering: .relaxed) >= 1, "no give-back happened: the test proves nothing")
        #expect(done([sleeper] + quick))
        for id in quick {
            #expect(executions.count(of: id) == 1, "task \(id) ran \(executions.count(of: id)) times")
        }
    }
}

/// A handler that counts its executions per task.
final class ExecutionCounter: TaskHandler {
    private let counts = Mutex<[Int64: Int]>([:])

    func validate(payload: Data) throws {}

    func run(_ context: RunContext) throws -> RunOutput {
        counts.withLock { $0[context.taskID, default: 0] += 1 }
        return RunOutput()
    }

    func count(of task: Int64) -> Int { counts.withLock { $0[task] ?? 0 } }
}
