import Foundation
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMemoryStore
import SundialTesting
import Testing

/// An in-process executor on the in-memory store, with faults injected into one kind of call.
@Suite struct ExecutorStoreFaultTests {
    @Test func anExecutorWhoseResultsCannotBeWrittenStopsLookingAlive() throws {
        // Everything answers but the writing of results: the rows they would free stay claimed, so
        // the executor must let its lease lapse for others to recover them, not renew it for ever.
        let store = InMemoryStore(clock: .system)
        var row = TaskRow(id: 0, name: "result-stuck", action: "noop")
        row.nextRun = Date().addingTimeInterval(-1)
        _ = store.insertRaw(row)
        store.injectFaults { $0 == .record ? .unavailable : nil }
        var settings = ExecutorConfiguration()
        settings.threads = 2
        settings.pollInterval = .milliseconds(50)
        settings.heartbeatInterval = .milliseconds(100)
        settings.lease = .seconds(1)
        let liveness = ShellLiveness()
        let executor = Executor(
            store: store, configuration: settings, handlers: HandlerRegistry(liveness: liveness),
            liveness: liveness, logger: IntegrationEnvironment.logger)
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
}
