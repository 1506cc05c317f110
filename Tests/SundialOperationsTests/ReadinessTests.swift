import SundialExecutor
import SundialOperations
import Testing

@Suite struct ReadinessTests {
    static let healthy = ExecutorHealth(
        leaseRemaining: .seconds(9), fenced: false, registered: true, stopping: false,
        sinceStoreAnswered: .milliseconds(800), lease: .seconds(10), resultsStalledFor: nil)

    @Test func aHealthyExecutorIsReady() {
        let readiness = Readiness(Self.healthy)
        #expect(readiness.isReady)
        #expect(readiness.reason == "ready")
        #expect(readiness.checks.map(\.name) == ["database", "lease", "fencing", "results", "shutdown"])
    }

    @Test func eachReasonNotToSendWorkSaysWhy() {
        var silent = Self.healthy
        silent.sinceStoreAnswered = .seconds(6)
        #expect(Readiness(silent).reason.hasPrefix("no answer for 6"))
        var never = Self.healthy
        never.sinceStoreAnswered = nil
        #expect(Readiness(never).reason == "not reached yet")
        var fenced = Self.healthy
        fenced.fenced = true
        fenced.leaseRemaining = .zero
        #expect(!Readiness(fenced).isReady)
        #expect(Readiness(fenced).checks.first { $0.name == "fencing" }?.ok == false)
        var lost = Self.healthy
        lost.registered = false
        #expect(Readiness(lost).reason == "the lease was lost; registering again")
        var stalled = Self.healthy
        stalled.resultsStalledFor = .seconds(7)
        #expect(Readiness(stalled).reason == "run results unwritten for 7.0 s")
        var stopping = Self.healthy
        stopping.stopping = true
        #expect(Readiness(stopping).reason == "shutting down: finishing its runs")
    }

    @Test func listenAddressesAreReadOrRefusedClearly() throws {
        let explicit = try #require(try OperationsServer.Configuration(listen: "10.0.0.5:9500"))
        #expect(explicit.host == "10.0.0.5" && explicit.port == 9500)
        let everywhere = try #require(try OperationsServer.Configuration(listen: ":9464"))
        #expect(everywhere.host == "0.0.0.0")
        let v6 = try #require(try OperationsServer.Configuration(listen: "[::1]:9464"))
        #expect(v6.host == "::1")
        #expect(try OperationsServer.Configuration(listen: "off") == nil)
        for bad in ["9464", "host:", "host:99999", "host:port"] {
            #expect(throws: OperationsError.self) { try OperationsServer.Configuration(listen: bad) }
        }
    }
}
