import Foundation
import SundialCore

extension InMemoryStore: ClaimStore {
    public func now() throws(StoreError) -> Date {
        try call(.now) { _, now in now }
    }

    public func claim(_ request: ClaimRequest) throws(StoreError) -> ClaimedBatch {
        try call(.claim) { state, now in
            guard request.limit > 0 else { return ClaimedBatch(token: request.token, rows: []) }
            let horizon = now.addingTimeInterval(request.lookahead.timeInterval)
            let actions = Set(request.actions.map { Array($0.utf8) })  // byte for byte, as MySQL
            let due = state.tasks.values.filter { row in
                // SKIP LOCKED: a row an open transaction holds is passed by, not waited for.
                guard row.claimToken == nil, !state.isLocked(task: row.id), row.status == .active,
                    row.running < row.maxConcurrency,
                    actions.contains(Array(row.action.utf8)), CommaList.tagsAllow(row.tags, executorTags: request.tags)
                else { return false }
                if let next = row.nextRun { return next < horizon }
                return request.includeUnscheduled && (row.schedule ?? "").isEmpty
            }
            // The index order: next_run with NULL first, then id.
            let chosen = due.sorted { a, b in
                switch (a.nextRun, b.nextRun) {
                case (nil, nil): return a.id < b.id
                case (nil, _): return true
                case (_, nil): return false
                case (let x?, let y?): return x == y ? a.id < b.id : x < y
                }
            }.prefix(request.limit)
            for row in chosen {
                state.update(row.id) {
                    $0.claimToken = request.token
                    $0.claimedBy = request.executor
                    // A one-shot without next_run gets its fire time from the claim, on record.
                    if $0.nextRun == nil {
                        $0.fireAt = now
                        $0.nextRun = now
                    }
                    $0.claimedToken = request.token
                    $0.claimedFire = $0.fireAt ?? $0.nextRun
                    $0.claimedAttempt = $0.attempt
                    $0.claimedNextRun = $0.nextRun
                }
                let claimed = state.tasks[row.id]?.version
                state.tasks[row.id]?.claimedVersion = claimed
            }
            // Read back as MySQL's claim reads them: by next_run, then id.
            let claimed = chosen.compactMap { state.tasks[$0.id] }.sorted {
                ($0.nextRun ?? now, $0.id) < ($1.nextRun ?? now, $1.id)
            }
            return ClaimedBatch(
                token: request.token, rows: claimed, now: chosen.isEmpty ? nil : now,
                unscheduled: chosen.filter { $0.nextRun == nil }.count)
        }
    }

    public func release(token: ClaimToken, taskIDs: [Int64]?) throws(StoreError) -> Int {
        try call(.release) { state, _ in
            let ids = taskIDs ?? Array(state.tasks.keys)
            var freed = 0
            for id in Set(ids).sorted() where state.tasks[id]?.claimToken == token {
                state.free(id)
                freed += 1
            }
            return freed
        }
    }

    public func stillClaimed(token: ClaimToken, taskIDs: [Int64]) throws(StoreError) -> Set<Int64> {
        try call(.stillClaimed) { state, _ in
            Set(taskIDs.filter { state.tasks[$0]?.claimToken == token && state.tasks[$0]?.status == .active })
        }
    }

    public func markInvalid(_ claim: Claim, error: String) throws(StoreError) {
        try call(.markInvalid) { state, _ in
            guard state.tasks[claim.taskID]?.claimToken == claim.token else { return }
            state.update(claim.taskID) {
                $0.status = .invalid
                $0.error = error
                $0.free()
            }
        }
    }

    public func abandonResult(_ finished: FinishedRun, reason: String) throws(StoreError) {
        try call(.abandonResult) { state, now in
            let run = finished.run
            let error = StoredText.error(reason)
            let stored = state.runs[run.key]
            if let stored, stored.record.status == .running, stored.record.token == run.token {
                state.runs[run.key]?.record.status = run.status
                state.runs[run.key]?.record.finishedAt = run.finishedAt ?? now
                state.runs[run.key]?.record.error = error
                state.runs[run.key]?.record.output = nil
                if run.concurrent { state.update(run.taskID) { $0.running = max(0, $0.running - 1) } }
                Self.settleAlerts(of: finished, into: &state, now: now)
            } else if stored == nil {
                Self.settleAlerts(of: finished, into: &state, now: now)
            }
            guard let row = state.tasks[run.taskID] else { return }
            let held = row.claimToken == run.token
            state.update(run.taskID) {
                // Its fire moves on as the attempt's plan says: a resume must not run it again.
                if held, let finish = finished.row {
                    $0.take(FinishRule.change(current: row, finish: finish))
                    if let succeeded = finish.succeededAt { $0.lastSuccessAt = succeeded }
                }
                $0.status = .invalid
                $0.error = error
                if held { $0.free() }
            }
        }
    }

    public func startConcurrentRun(
        _ run: RunRecord, moveOn: RowFinish?, retrying: RunKey?
    ) throws(StoreError) -> ConcurrentStart {
        try call(.startConcurrentRun) { state, now in
            if state.runs[run.key]?.record.token == run.token { return .alreadyStarted }
            if let retrying, state.runs[retrying]?.record.retryAt == nil { return .claimLost }
            guard let row = state.tasks[run.taskID], row.status == .active else { return .claimLost }
            if let moveOn {
                guard row.claimToken == run.token else { return .claimLost }
                // Due retries of earlier fires go first: a new fire leaves them their places.
                let retriesDue = state.runs.values.filter {
                    $0.record.taskID == row.id && ($0.record.retryAt.map { $0 <= now } ?? false)
                }.count
                guard row.running + retriesDue < row.maxConcurrency else { return .noRoom }
                let change = FinishRule.change(current: row, finish: moveOn)
                state.update(row.id) {
                    $0.running += 1
                    $0.take(change)
                    $0.free()
                }
            } else {
                guard row.hasRoomForARetry else { return .noRoom }
                state.bookkeep(row.id) { $0.running += 1 }
            }
            if let retrying { state.runs[retrying]?.record.retryAt = nil }
            var started = run
            started.concurrent = true
            Self.upsert(started, into: &state)
            return .started
        }
    }

    public func dueRetries(actions: [String], tags: [String], lookahead: Duration, limit: Int) throws(StoreError)
        -> [DueRetry]
    {
        try call(.dueRetries) { state, now in
            let horizon = now.addingTimeInterval(lookahead.timeInterval)
            let actions = Set(actions.map { Array($0.utf8) })  // byte for byte, as MySQL
            return Array(
                state.runs.values.compactMap { stored -> DueRetry? in
                    guard let at = stored.record.retryAt, at < horizon, let row = state.tasks[stored.record.taskID],
                        row.status == .active, row.hasRoomForARetry, actions.contains(Array(row.action.utf8)),
                        CommaList.tagsAllow(row.tags, executorTags: tags)
                    else { return nil }
                    return DueRetry(
                        row: row, run: stored.record.key, retryAt: at, requestedBy: stored.record.requestedBy)
                }.sorted { ($0.retryAt, $0.run) < ($1.retryAt, $1.run) }.prefix(max(0, limit)))
        }
    }

    public func runHolders(_ keys: [RunKey]) throws(StoreError) -> [RunKey: ClaimToken] {
        try call(.runHolders) { state, _ in
            var holders: [RunKey: ClaimToken] = [:]
            for key in keys { if let run = state.runs[key] { holders[key] = run.record.token } }
            return holders
        }
    }

    public func record(_ batch: RunBatch) throws(StoreError) {
        try call(.record) { state, now in
            let ended = Set(batch.finished.map(\.run.key))
            // Late (the MySQL store's `lateWrites`): a claimed run's start whose claim is gone.
            for run in batch.started where !ended.contains(run.key) && !state.claimIsGone(of: run) {
                Self.upsert(run, into: &state)
            }
            for progress in batch.progress where !ended.contains(progress.key) {
                guard let stored = state.runs[progress.key], stored.record.status == .running,
                    stored.record.token == progress.token
                else { continue }
                state.runs[progress.key]?.record.output = StoredText.output(progress.output)
            }
            var applying: [FinishedRun] = []
            for finished in batch.finished {
                let run = finished.run
                let wasRunning = state.runs[run.key].map {
                    $0.record.status == .running && $0.record.token == run.token
                }
                // Late and off the record (the MySQL store's `lateWrites`): no run of it is on
                // record (retention deleted it), and its claim is gone or it is a concurrent run
                // (on record before it starts). Left out.
                if wasRunning == nil && state.isLateResult(run) { continue }
                Self.upsert(run, into: &state)
                // A late result (the run already ended, by recovery say) raises nothing.
                guard wasRunning != false else { continue }
                // Counted down once, while it was still running.
                if run.concurrent && wasRunning == true {
                    state.bookkeep(run.taskID) {
                        $0.running = max(0, $0.running - 1)
                        if run.status == .succeeded { $0.lastSuccessAt = run.finishedAt }
                    }
                }
                applying.append(finished)
            }
            for finish in batch.finished.compactMap(\.row) {
                guard let row = state.tasks[finish.claim.taskID], row.claimToken == finish.claim.token else { continue }
                let change = FinishRule.change(current: row, finish: finish)
                state.update(row.id) {
                    $0.take(change)
                    if let succeeded = finish.succeededAt { $0.lastSuccessAt = succeeded }
                    $0.free()
                }
            }
            // After the rows, as MySQL writes them: a task's failing flag is not an edit the
            // finishing row must read back.
            for finished in applying { Self.settleAlerts(of: finished, into: &state, now: now) }
        }
    }

    /// What an ended attempt means for alerts: the task's failing flag, and its alerts raised.
    static func settleAlerts(of finished: FinishedRun, into state: inout State, now: Date) {
        let task = finished.run.taskID
        var alerts = finished.alerts
        switch finished.failing {
        case true?: state.bookkeep(task) { $0.failing = true }
        case false?:
            // `recovered` once: only the success that finds the task still failing says so.
            if state.tasks[task]?.failing == true {
                state.bookkeep(task) { $0.failing = false }
            } else {
                alerts.removeAll { $0.event == .recovered }
            }
        case nil: break
        }
        raise(alerts, into: &state, now: now)
    }

    /// Inserts a run, or ends it, with the MySQL upsert's rule: a run already final, or started
    /// under another token, is left as it is.
    static func upsert(_ run: RunRecord, into state: inout State) {
        var run = run
        run.output = run.output.map(StoredText.output)
        run.error = run.error.map(StoredText.error)
        run.exitCode = run.exitCode.map { Int(Int32(clamping: $0)) }
        if var existing = state.runs[run.key] {
            guard existing.record.status == .running && existing.record.token == run.token else { return }
            existing.record.finishedAt = run.finishedAt
            existing.record.exitCode = run.exitCode
            existing.record.output = run.output
            existing.record.error = run.error
            existing.record.status = run.status
            existing.record.retryAt = run.retryAt
            state.runs[run.key] = existing
        } else {
            state.runs[run.key] = StoredRun(id: state.nextRunID, record: run, killRequested: false)
            state.nextRunID += 1
        }
    }

    public func killRequests(executor: String) throws(StoreError) -> [RunKey] {
        try call(.killRequests) { state, _ in
            state.runs.values.filter {
                $0.killRequested && $0.record.status == .running && $0.record.executor == executor
            }.map(\.record.key).sorted()
        }
    }
}

extension TaskRow {
    /// Whether a retry of a concurrent run may start now: a place is free, and no claim holds a
    /// task that runs one at a time (its fire runs under the claim, uncounted in `running`; its
    /// limit may have been lowered to 1 since the retry was planned).
    var hasRoomForARetry: Bool {
        running < maxConcurrency && (claimToken == nil || maxConcurrency > 1)
    }
}

extension InMemoryStore.State {
    /// Whether a claimed (not concurrent) run's claim is gone: a claim took its row, and the row
    /// no longer holds this one (the MySQL store's `lateWrites`). A row no claim ever took
    /// (history written from outside) or a deleted one is not judged.
    func claimIsGone(of run: RunRecord) -> Bool {
        guard !run.concurrent, let row = tasks[run.taskID] else { return false }
        return row.claimedToken != nil && row.claimToken != run.token
    }

    /// Whether a result whose run is not on record comes late: its claim is gone, or it is a
    /// concurrent run's (on record before it starts) of a row a claim took.
    func isLateResult(_ run: RunRecord) -> Bool {
        guard run.concurrent else { return claimIsGone(of: run) }
        return tasks[run.taskID]?.claimedToken != nil
    }
}
