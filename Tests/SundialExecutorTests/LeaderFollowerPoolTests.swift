import Foundation
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQLStore
import Synchronization
import Testing

@Suite struct LeaderFollowerPoolTests {
    /// A million items through 8 threads, from the leader's batches and from an outside thread:
    /// each runs exactly once, and every thread is alive and idle at the end.
    @Test func aMillionHandOffsLoseAndDuplicateNothing() async throws {
        let total = 1_000_000
        let fromLeader = 900_000
        let counts = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: total)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        let countsAddress = Int(bitPattern: counts.baseAddress)
        let produced = Atomic<Int>(0)
        let executed = Atomic<Int>(0)
        let duplicates = Atomic<Int>(0)
        let mark = Mutex<Void>(())

        let pool = LeaderFollowerPool<Int>(
            threads: 8, name: "test",
            lead: { lead in
                // Batches of varying size; sometimes nothing, as when a claim finds no due rows.
                let start = produced.load(ordering: .relaxed)
                if start >= fromLeader {
                    usleep(200)
                    return []
                }
                let size = min(fromLeader - start, [1, 3, 17, 64][start % 4] + lead.idleThreads)
                produced.store(start + size, ordering: .relaxed)
                if start % 7 == 0 { usleep(10) }
                return Array(start..<(start + size))
            },
            execute: { item in
                let counts = UnsafeMutablePointer<UInt8>(bitPattern: countsAddress)!
                mark.withLock { _ in
                    if counts[item] != 0 { duplicates.add(1, ordering: .relaxed) }
                    counts[item] &+= 1
                }
                executed.add(1, ordering: .relaxed)
            })
        pool.start()
        // The heartbeat redispatcher's path: work submitted from another thread.
        let submitter = Thread {
            var next = fromLeader
            while next < total {
                let end = min(total, next + 250)
                pool.submit(Array(next..<end))
                next = end
                usleep(50)
            }
        }
        submitter.start()
        let deadline = Date().addingTimeInterval(240)
        while executed.load(ordering: .relaxed) < total && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(executed.load(ordering: .relaxed) == total)
        #expect(duplicates.load(ordering: .relaxed) == 0)
        #expect(counts.allSatisfy { $0 == 1 })
        // Settle: the leader keeps polling an empty source, the others wait.
        try await Task.sleep(for: .milliseconds(50))
        let snapshot = pool.snapshot
        #expect(snapshot.alive == 8)
        #expect(snapshot.running == 0)
        #expect(snapshot.ready == 0)
        #expect(snapshot.idle + (snapshot.leading ? 1 : 0) == 8)
        pool.stop()
        #expect(pool.join(timeout: 10))
        #expect(pool.snapshot.alive == 0)
    }

    @Test func stopFinishesReadyWorkAndExits() async throws {
        let ran = Atomic<Int>(0)
        let pool = LeaderFollowerPool<Int>(
            threads: 2, name: "test",
            lead: { _ in
                usleep(1000); return []
            },
            execute: { _ in
                usleep(100); ran.add(1, ordering: .relaxed)
            })
        pool.start()
        pool.submit(Array(0..<100))
        pool.stop()
        #expect(pool.join(timeout: 10))
        // Work already handed over before stop is run, not dropped.
        #expect(ran.load(ordering: .relaxed) + pool.drainReady().count == 100)
    }
}
