import Foundation
import SundialCore

extension InMemoryStore: RunHistory {
    public func runs(_ filter: RunFilter, before: Int64?, limit: Int) throws(StoreError) -> [RunInfo] {
        try call(.runHistory) { state, _ in
            state.runs.values.filter { stored in
                let r = stored.record
                return (before.map { stored.id < $0 } ?? true) && (filter.status.map { r.status == $0 } ?? true)
                    && (filter.taskID.map { r.taskID == $0 } ?? true)
                    && (filter.executor.map { r.executor == $0 } ?? true)
                    && (filter.since.map { r.startedAt >= $0 } ?? true)
                    && (filter.anyTags.map { wanted in
                        CommaList.items(state.tasks[r.taskID]?.tags).contains(where: wanted.contains)
                    } ?? true)
            }.sorted { $0.id > $1.id }.prefix(max(0, limit)).map { stored in
                var info = Self.info(stored, taskName: state.tasks[stored.record.taskID]?.name)
                info.output = nil
                return info
            }
        }
    }

    public func run(id: Int64) throws(StoreError) -> RunInfo? {
        try call(.runHistory) { state, _ in
            state.runs.values.first { $0.id == id }.map { Self.info($0, taskName: state.tasks[$0.record.taskID]?.name) }
        }
    }

    static func info(_ stored: StoredRun, taskName: String?) -> RunInfo {
        let r = stored.record
        var info = RunInfo(
            id: stored.id, taskID: r.taskID, scheduledFor: r.scheduledFor, attempt: r.attempt, executor: r.executor,
            startedAt: r.startedAt, finishedAt: r.finishedAt, status: r.status, exitCode: r.exitCode, output: r.output,
            error: r.error, taskName: taskName)
        info.requestedBy = r.requestedBy
        return info
    }
}
