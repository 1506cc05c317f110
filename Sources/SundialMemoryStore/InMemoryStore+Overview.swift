import Foundation
import SundialCore

extension InMemoryStore: OverviewStore {
    public func taskCounts() throws(StoreError) -> [TaskStatus: Int] {
        try call(.overview) { state, _ in
            state.tasks.values.reduce(into: [:]) { $0[$1.status, default: 0] += 1 }
        }
    }

    public func failingTasks(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow] {
        try call(.overview) { state, _ in
            Array(
                state.tasks.values.filter { $0.failing && TaskFilter(anyTags: anyTags).matches($0) }
                    .sorted { $0.name < $1.name }.prefix(max(0, limit)))
        }
    }

    public func nextFires(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow] {
        try call(.overview) { state, _ in
            Array(
                state.tasks.values.filter {
                    $0.status == .active && $0.nextRun != nil && TaskFilter(anyTags: anyTags).matches($0)
                }.sorted { ($0.nextRun!, $0.id) < ($1.nextRun!, $1.id) }.prefix(max(0, limit)))
        }
    }

    public func runOutcomes(from: Date, to: Date, bucket: Duration) throws(StoreError) -> [OutcomeCount] {
        let size = max(1, Double(Int64(bucket.timeInterval)))
        return try call(.overview) { state, _ in
            var counts: [Date: [RunStatus: Int]] = [:]
            for stored in state.runs.values {
                guard let finished = stored.record.finishedAt, finished >= from, finished < to else { continue }
                let start = Date(timeIntervalSince1970: (finished.timeIntervalSince1970 / size).rounded(.down) * size)
                counts[start, default: [:]][stored.record.status, default: 0] += 1
            }
            return counts.flatMap { bucket, statuses in
                statuses.map { OutcomeCount(bucket: bucket, status: $0.key, count: $0.value) }
            }
        }
    }

    public func startLags(since: Date, sample: Int) throws(StoreError) -> [Double] {
        try call(.overview) { state, _ in
            state.runs.values.filter { $0.record.attempt == 0 && $0.record.startedAt >= since }
                .sorted { $0.record.startedAt > $1.record.startedAt }.prefix(max(0, sample))
                .map { $0.record.startedAt.timeIntervalSince($0.record.scheduledFor) }
        }
    }
}
