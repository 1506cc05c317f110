import Foundation
import SundialCore
import SundialMySQL

extension MySQLStore {
    /// Most runs per multi-row statement (a power of two), and most bytes of output in one.
    static let chunk = 512
    static let outputPerStatement = 4 << 20
    /// A run whose output is larger is written in a statement of its own: 64 outputs of 1 MiB
    /// in one statement would pass `max_allowed_packet` (16 MiB by default on MariaDB) and the
    /// server would drop the connection instead of answering.
    static let largeOutput = 64 << 10

    public func record(_ batch: RunBatch) throws(StoreError) {
        guard !batch.isEmpty else { return }
        // A run that started and finished within one batch is written once, finished.
        let ended = Set(batch.finished.map(\.run.key))
        let concurrentEnds = batch.finished.map(\.run).filter(\.concurrent)
        let rowFinishes = batch.finished.compactMap(\.row)
        try mapped {
            try database.transaction { c in
                // Locks in the order recovery takes them: runs first, then rows.
                let counted = try runsStillRunning(concurrentEnds, on: c)
                let countedKeys = Set(counted.map(\.key))
                let late = try lateWrites(
                    started: batch.started, finished: batch.finished,
                    endedBefore: concurrentEnds.filter { !countedKeys.contains($0.key) }, on: c)
                let finished = late.isEmpty ? batch.finished : batch.finished.filter { !late.contains($0.run.key) }
                let runs =
                    batch.started.filter { !ended.contains($0.key) && !late.contains($0.key) } + finished.map(\.run)
                // Few runs mean anything for alerts (failures, recoveries): only those are read first.
                let eventful = finished.filter { !$0.events.isEmpty || !$0.alerts.isEmpty }
                let meaningful = try resultsThatApply(eventful, on: c)
                let large = runs.filter { ($0.output?.utf8.count ?? 0) > Self.largeOutput }
                let small = runs.filter { ($0.output?.utf8.count ?? 0) <= Self.largeOutput }
                // As many per statement as keeps the outputs within a few MiB.
                let widest = small.lazy.map { $0.output?.utf8.count ?? 0 }.max() ?? 0
                var perStatement = Self.chunk
                while perStatement > 1 && perStatement * widest > Self.outputPerStatement { perStatement /= 2 }
                for chunk in small.chunkedInPowersOfTwo(upTo: perStatement) { try upsertRuns(chunk, on: c) }
                for run in large { try upsertRuns([run][...], on: c) }
                // Output so far of runs still going: only while the run is `running` under the
                // token it started with (an attempt ending in this batch writes its final output).
                for progress in batch.progress where !ended.contains(progress.key) {
                    try c.execute(
                        """
                        UPDATE cron_run SET output = ? WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? \
                        AND task_id = ? AND status = 'running'
                        """,
                        [
                            .string(StoredText.output(progress.output)), .int(progress.key.task),
                            .date(progress.key.scheduled), .int(Int64(progress.key.attempt)), .init(progress.token),
                        ])
                }
                for run in counted {
                    // Once per run: only a run that was still `running` is counted down.
                    try c.execute(
                        "UPDATE cron SET running = GREATEST(running, 1) - 1, last_success_at = COALESCE(?, last_success_at), updated_at = updated_at WHERE id = ?",
                        [.init(run.status == .succeeded ? run.finishedAt : nil), .int(run.taskID)])
                }
                try finishRows(rowFinishes, on: c)
                for finished in meaningful { try settleAlerts(of: finished, on: c) }
            }
        }
    }

    /// What an ended attempt means for alerts: the task's failing flag, and its alerts raised.
    func settleAlerts(of finished: FinishedRun, on c: MySQLConnection) throws {
        var alerts = finished.alerts
        switch finished.failing {
        case true?:
            try c.execute(MySQLStoreSQL.markFailing, [.int(finished.run.taskID)])
        case false?:
            // `recovered` once: only the success that finds the task still failing says so.
            let cleared = try c.execute(
                "UPDATE cron SET failing = 0, updated_at = updated_at WHERE id = ? AND failing = 1",
                [.int(finished.run.taskID)]
            ).affectedRows
            if cleared == 0 { alerts.removeAll { $0.event == .recovered } }
        case nil: break
        }
        try raise(alerts, on: c)
    }

    public func runHolders(_ keys: [RunKey]) throws(StoreError) -> [RunKey: ClaimToken] {
        guard !keys.isEmpty else { return [:] }
        return try mapped {
            try holders(of: keys) { sql, values in try database.query(sql, values, consistency: .primary) }
        }
    }

    /// The claim token each run of `keys` on record started under.
    private func holders(of keys: [RunKey], query: (String, [MySQLValue]) throws -> [MySQLRow]) throws -> [RunKey:
        ClaimToken]
    {
        // Matched back by the time in whole microseconds, as DATETIME(6) keeps it.
        func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        var wanted: [[Int64]: RunKey] = [:]
        for key in keys { wanted[[key.task, micros(key.scheduled), Int64(key.attempt)]] = key }
        var holders: [RunKey: ClaimToken] = [:]
        for chunk in keys.chunkedInPowersOfTwo(upTo: Self.chunk) {
            let rows = try query(
                """
                SELECT cron_id, scheduled_for, attempt, task_id FROM cron_run \
                WHERE (cron_id, scheduled_for, attempt) IN (\(Array(repeating: "(?, ?, ?)", count: chunk.count).joined(separator: ", ")))
                """,
                chunk.flatMap { [.int($0.task), .date($0.scheduled), .int(Int64($0.attempt))] })
            for row in rows {
                guard let task = row["cron_id"].int, let at = row["scheduled_for"].date,
                    let attempt = row["attempt"].int, let token = row["task_id"].int,
                    let key = wanted[[Int64(task), micros(at), Int64(attempt)]]
                else { continue }
                holders[key] = ClaimToken(Int64(token))
            }
        }
        return holders
    }

    /// Starts and results that come too late to be written, of rows a claim took (history written
    /// from outside, for rows no claim ever took, and deleted rows are not judged):
    /// - a claimed (not concurrent) run's start whose claim the row no longer holds (recovery took
    ///   it): its fire is someone else's now;
    /// - a result with no run of its on record, of a claimed run whose claim is gone, or of a
    ///   concurrent run (`endedBefore`: not `running` under its token; a concurrent run is on
    ///   record before it starts): retention deleted the run recovery ended (or the next
    ///   claimer's).
    /// Written, either would put a second history in place of the fire's real one, and a result
    /// would raise its alerts again, or plan a retry of a fire that ran.
    private func lateWrites(
        started: [RunRecord], finished: [FinishedRun], endedBefore: [RunRecord], on c: MySQLConnection
    ) throws -> Set<RunKey> {
        let claimedStarts = started.filter { !$0.concurrent }
        let claimedEnds = finished.map(\.run).filter { !$0.concurrent }
        guard !claimedStarts.isEmpty || !claimedEnds.isEmpty || !endedBefore.isEmpty else { return [] }
        // Each row: the claim it holds now, and whether a claim ever took it (`claimed_token`).
        var rows: [Int64: (holder: ClaimToken?, claimed: Bool)] = [:]
        let tasks = Set((claimedStarts + claimedEnds + endedBefore).map(\.taskID))
        for chunk in Array(tasks).sorted().chunkedInPowersOfTwo(upTo: Self.chunk) {
            for row in try c.query(
                "SELECT id, task_id, claimed_token IS NOT NULL AS claimed FROM cron WHERE id IN \(InList.placeholders(chunk.count))",
                chunk.map { .int($0) })
            {
                guard let id = row["id"].int else { continue }
                rows[Int64(id)] = (row["task_id"].int.map { ClaimToken(Int64($0)) }, row["claimed"].bool == true)
            }
        }
        func claimIsGone(_ run: RunRecord) -> Bool {
            guard let row = rows[run.taskID] else { return false }
            return row.claimed && row.holder != run.token
        }
        let lateStarts = Set(claimedStarts.filter(claimIsGone).map(\.key))
        let suspect = claimedEnds.filter(claimIsGone) + endedBefore.filter { rows[$0.taskID]?.claimed == true }
        guard !suspect.isEmpty else { return lateStarts }
        let onRecord = try self.holders(of: suspect.map(\.key)) { sql, values in try c.query(sql, values) }
        return lateStarts.union(suspect.map(\.key).filter { onRecord[$0] == nil })
    }

    /// Of `finished`, the results that end their run now: the run is not on record yet, or still
    /// `running` under the same token (a late result, after recovery ended the run, raises nothing).
    func resultsThatApply(_ finished: [FinishedRun], on c: MySQLConnection) throws -> [FinishedRun] {
        try finished.filter { result in
            let run = result.run
            guard
                let stored = try c.query(
                    "SELECT status, task_id FROM cron_run WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? FOR UPDATE",
                    [.int(run.taskID), .date(run.scheduledFor), .int(Int64(run.attempt))]
                ).first
            else { return true }
            return stored["status"].string == RunStatus.running.rawValue
                && stored["task_id"].int.map(Int64.init)
                    == run.token.rawValue
        }
    }

    /// The concurrent runs among `runs` whose run row is still `running` under their token, locked.
    private func runsStillRunning(_ runs: [RunRecord], on c: MySQLConnection) throws -> [RunRecord] {
        try runs.filter { run in
            try !c.query(
                "SELECT id FROM cron_run WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? AND task_id = ? AND status = 'running' FOR UPDATE",
                [.int(run.taskID), .date(run.scheduledFor), .int(Int64(run.attempt)), .init(run.token)]
            ).isEmpty
        }
    }

    /// Inserts runs, or ends them: a result never changes a run that is already final (recovery
    /// may have ended it as `lost`) or that another claim started.
    func upsertRuns(_ runs: ArraySlice<RunRecord>, on c: MySQLConnection) throws {
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        let sql = """
            INSERT INTO cron_run (cron_id, task_id, concurrent, scheduled_for, attempt, executor, started_at, finished_at, status, exit_code, output, error, retry_at, requested_by) \
            VALUES \(Array(repeating: row, count: runs.count).joined(separator: ", ")) \
            ON DUPLICATE KEY UPDATE \
            finished_at = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(finished_at), finished_at), \
            exit_code = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(exit_code), exit_code), \
            output = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(output), output), \
            error = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(error), error), \
            retry_at = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(retry_at), retry_at), \
            status = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(status), status)
            """
        var values: [MySQLValue] = []
        values.reserveCapacity(runs.count * 14)
        for run in runs {
            values += [
                .int(run.taskID), .init(run.token), .int(run.concurrent ? 1 : 0), .date(run.scheduledFor),
                .int(Int64(run.attempt)), .string(run.executor), .date(run.startedAt), .init(run.finishedAt),
                .string(run.status.rawValue), run.exitCode.map { .int(Int64(Int32(clamping: $0))) } ?? .null,
                .init(run.output.map(StoredText.output)), .init(run.error.map(StoredText.error)), .init(run.retryAt),
                .init(run.requestedBy),
            ]
        }
        try c.execute(sql, values)
    }

    /// Frees finished rows, fenced by their tokens. Rows nobody touched since their claim take
    /// the plan as it is, set-based: the rows of one claim share its token and the `updated_at`
    /// the claim gave them, so one `task_id = ? AND updated_at = ?` fences a whole statement (an
    /// edit moves `updated_at` and leaves the row out), and rows whose plans are all the same
    /// (one-shots done, tasks on one schedule) take it as plain values. The rest, edited
    /// meanwhile, are read and decided by `FinishRule`.
    private func finishRows(_ finishes: [RowFinish], on c: MySQLConnection) throws {
        var written = 0
        let claims = Dictionary(grouping: finishes.filter { $0.claimed.version != nil }) {
            ClaimFence(token: $0.claim.token, version: $0.claimed.version!)
        }
        for (fence, group) in claims.sorted(by: { $0.key < $1.key }) {
            for chunk in group.sorted(by: { $0.claim.taskID < $1.claim.taskID }).chunkedInPowersOfTwo(
                upTo: Self.finishChunk)
            {
                let homogeneous = chunk.allSatisfy { $0.plan == chunk.first!.plan }
                let successes = SuccessTimes(chunk)
                written += try c.execute(
                    MySQLStoreSQL.finishClaimed(count: chunk.count, homogeneous: homogeneous, successes: successes),
                    finishValues(chunk, fence: fence, homogeneous: homogeneous, successes: successes)
                ).affectedRows
            }
        }
        guard written < finishes.count else { return }
        // Edited while claimed, deleted, or reclaimed: whatever still carries its token is decided here.
        let byID = Dictionary(finishes.map { ($0.claim.taskID, $0) }, uniquingKeysWith: { a, _ in a })
        var held: [TaskRow] = []
        for chunk in byID.keys.sorted().chunkedInPowersOfTwo(upTo: Self.finishChunk) {
            held += try c.query(
                "SELECT \(TaskRow.columns) FROM cron WHERE id IN \(InList.placeholders(chunk.count)) AND task_id IS NOT NULL FOR UPDATE",
                chunk.map { .int($0) }
            ).map(TaskRow.init(mysql:))
        }
        for row in held {
            guard let finish = byID[row.id], row.claimToken == finish.claim.token else { continue }
            let change = FinishRule.change(current: row, finish: finish)
            try c.execute(
                "UPDATE cron SET status = ?, next_run = ?, fire_at = ?, attempt = ?, error = ?, last_duration = ?, last_success_at = COALESCE(?, last_success_at), task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                [
                    .string(change.status.rawValue), .init(change.nextRun), .init(change.fireAt),
                    .int(Int64(change.attempt)), .init(change.error.map(StoredText.error)), .init(change.lastDuration),
                    .init(finish.succeededAt), .int(row.id), .init(finish.claim.token),
                ])
        }
    }

    private func finishValues(
        _ finishes: ArraySlice<RowFinish>, fence: ClaimFence, homogeneous: Bool, successes: SuccessTimes
    ) -> [MySQLValue] {
        var values: [MySQLValue] = []
        values.reserveCapacity(finishes.count * (homogeneous ? 5 : 15) + 7)
        func column(_ value: (RowFinish) -> MySQLValue) {
            if homogeneous {
                values.append(value(finishes.first!))
            } else {
                for f in finishes { values += [.int(f.claim.taskID), value(f)] }
            }
        }
        column { .string($0.plan.status.rawValue) }
        column { .init($0.plan.nextRun) }
        column { .init($0.plan.fireAt) }
        column { .int(Int64($0.plan.attempt)) }
        column { .init($0.plan.error.map(StoredText.error)) }
        // Each run's own duration, whatever the plan.
        for f in finishes { values += [.int(f.claim.taskID), .init(f.duration)] }
        switch successes {
        case .none: break
        case .all(let latest): values.append(.date(latest))
        case .some: for f in finishes { values += [.int(f.claim.taskID), .init(f.succeededAt)] }
        }
        values += [.init(fence.token), .date(fence.version.date)]
        for f in finishes { values.append(.int(f.claim.taskID)) }
        return values
    }

    /// How the runs of one finishing statement set `last_success_at`: not at all, all to the
    /// chunk's latest success (one value: a group commit spans 50 ms at most), or each its own.
    enum SuccessTimes: Equatable {
        case none
        case all(latest: Date)
        case some

        init(_ finishes: ArraySlice<RowFinish>) {
            let times = finishes.compactMap(\.succeededAt)
            if times.isEmpty {
                self = .none
            } else if times.count == finishes.count {
                self = .all(latest: times.max()!)
            } else {
                self = .some
            }
        }
    }

    /// Rows finished from one claim, untouched since: they share a token and an `updated_at`.
    struct ClaimFence: Hashable, Comparable {
        var token: ClaimToken
        var version: RowVersion

        static func < (a: ClaimFence, b: ClaimFence) -> Bool {
            (a.token.rawValue, a.version.rawValue) < (b.token.rawValue, b.version.rawValue)
        }
    }

    /// Most rows per finishing statement (a power of two).
    static let finishChunk = 512
}

extension MySQLStoreSQL {
    /// Finishes `count` rows of one claim, untouched since it: each takes its plan only while it
    /// still carries the claim's token and `updated_at` (parameters: the plan's five columns, as
    /// values when `homogeneous`, else as `CASE id` lists; the durations by id; the success time,
    /// or the success times by id, or neither (`successes`); token, version; the ids). One range of the claim index, no temporary table.
    static func finishClaimed(count: Int, homogeneous: Bool, successes: MySQLStore.SuccessTimes) -> String {
        let whens = String(repeating: " WHEN ? THEN ?", count: count)
        let value = homogeneous ? "?" : "CASE id\(whens) END"
        let lastSuccess: String
        switch successes {
        case .none: lastSuccess = ""
        case .all: lastSuccess = "last_success_at = ?, "
        case .some: lastSuccess = "last_success_at = COALESCE(CASE id\(whens) END, last_success_at), "
        }
        return """
            UPDATE cron SET status = \(value), next_run = \(value), fire_at = \(value), attempt = \(value), \
            error = \(value), last_duration = COALESCE(CASE id\(whens) END, last_duration), \(lastSuccess)\
            task_id = NULL, claimed_by = NULL, claimed_at = NULL \
            WHERE task_id = ? AND updated_at = ? AND id IN \(InList.placeholders(count))
            """
    }
}

extension Array {
    /// Slices of `limit` (a power of two) elements, then of the powers of two below it that make
    /// up the rest: 100 → 64, 32, 4. A multi-row statement is prepared once per size, so seven
    /// sizes keep the connections' statement caches warm where sixty-four would churn them.
    func chunkedInPowersOfTwo(upTo limit: Int) -> [ArraySlice<Element>] {
        var slices: [ArraySlice<Element>] = []
        var start = 0
        var size = limit
        while start < count {
            while size > count - start { size /= 2 }
            slices.append(self[start..<start + size])
            start += size
        }
        return slices
    }
}
