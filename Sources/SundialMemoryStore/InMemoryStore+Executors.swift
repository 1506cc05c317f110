import Foundation
import SundialCore

extension InMemoryStore: ExecutorRegistry {
    public func register(_ executor: ExecutorRegistration, lease: Duration) throws(StoreError) -> LeaseRenewal {
        try call(.register) { state, now in
            let expires = now.addingTimeInterval(lease.timeInterval)
            state.executors[executor.id] = StoredExecutor(
                registration: executor, busy: 0, state: .running, startedAt: now, heartbeat: now,
                leaseExpiresAt: expires)
            return .renewed(expiresAt: expires, now: now)
        }
    }

    public func renewLease(executor: String, lease: Duration, busy: Int) throws(StoreError) -> LeaseRenewal {
        try call(.renewLease) { state, now in
            guard var entry = state.executors[executor], entry.state == .running || entry.state == .stopping else {
                return .lost
            }
            entry.heartbeat = now
            entry.leaseExpiresAt = now.addingTimeInterval(lease.timeInterval)
            entry.busy = busy
            state.executors[executor] = entry
            return .renewed(expiresAt: entry.leaseExpiresAt, now: now)
        }
    }

    public func setState(executor: String, _ new: ExecutorState) throws(StoreError) {
        try call(.setState) { state, now in
            guard var entry = state.executors[executor] else { return }
            switch new {
            case .stopped, .dead:
                entry.state = new
                entry.busy = 0
                entry.leaseExpiresAt = min(entry.leaseExpiresAt, now)
            case .running, .stopping:
                guard entry.state == .running || entry.state == .stopping else { return }
                entry.state = new
            }
            state.executors[executor] = entry
        }
    }

    public func expiredHolders() throws(StoreError) -> [String] {
        try call(.expiredHolders) { state, now in
            var holders = Set<String>()
            for (id, entry) in state.executors
            where (entry.state == .running || entry.state == .stopping) && !state.holdsLiveLease(id, now: now) {
                holders.insert(id)
            }
            for row in state.tasks.values where row.claimToken != nil {
                if let by = row.claimedBy, !state.holdsLiveLease(by, now: now) { holders.insert(by) }
            }
            for run in state.runs.values where run.record.status == .running {
                if !state.holdsLiveLease(run.record.executor, now: now) { holders.insert(run.record.executor) }
            }
            return holders.sorted()
        }
    }

    public func recover(
        executor: String, reason: String, self isSelf: Bool,
        plan: @Sendable (InterruptedFire) -> FirePlanner.Plan?,
        alerts: @Sendable (RecoveryEvent) -> [AlertDraft]
    ) throws(StoreError) -> RecoveryReport {
        try call(.recover) { state, now in
            if state.holdsLiveLease(executor, now: now) && !isSelf {
                return RecoveryReport(recovered: false, lostRuns: 0, freedRows: 0)
            }
            let leaseEnd = state.executors[executor]?.leaseExpiresAt
            if var entry = state.executors[executor], entry.state == .running || entry.state == .stopping {
                entry.state = isSelf ? .stopped : .dead
                entry.busy = 0
                entry.leaseExpiresAt = min(entry.leaseExpiresAt, now)
                state.executors[executor] = entry
                if !isSelf { Self.raise(alerts(.executorDead(executor)), into: &state, now: now) }
            }
            /// A fire given up: its alerts, and the task's failing flag.
            func givenUp(_ fire: InterruptedFire, _ key: RunKey, _ next: FirePlanner.Plan) {
                let events = RecoveryEvent.events(of: fire, plan: next)
                guard !events.isEmpty else { return }
                if events.contains(where: \.marksFailing) { state.bookkeep(fire.row.id) { $0.failing = true } }
                Self.raise(alerts(.fireGivenUp(fire, key, events)), into: &state, now: now)
            }
            let lost = state.runs.values.filter { $0.record.status == .running && $0.record.executor == executor }
                .sorted { $0.id < $1.id }
            for run in lost {
                state.runs[run.record.key]?.record.status = .lost
                state.runs[run.record.key]?.record.finishedAt = now
                state.runs[run.record.key]?.record.error = StoredText.error(reason)
                if run.record.concurrent {
                    state.bookkeep(run.record.taskID) { $0.running = max(0, $0.running - 1) }
                    if let task = state.tasks[run.record.taskID] {
                        let fire = InterruptedFire(
                            row: task, scheduledFor: run.record.scheduledFor, attempt: run.record.attempt, now: now,
                            executorLost: !isSelf, leaseEnd: leaseEnd,
                            lostBefore: state.lostAttempts(
                                of: task.id, at: run.record.scheduledFor, before: run.record.attempt))
                        guard let next = plan(fire) else { continue }
                        let lostRun = fire.lostRun(
                            executor: executor, token: ClaimToken(0), reason: reason, concurrent: true)
                        state.runs[run.record.key]?.record.retryAt = AttemptResult.retry(next, of: lostRun)
                        givenUp(fire, run.record.key, next)
                    }
                }
            }
            let held = state.tasks.values.filter { $0.claimToken != nil && $0.claimedBy == executor }
                .sorted { $0.id < $1.id }
            for row in held {
                guard let token = row.claimToken else { continue }
                let started = lost.first {
                    $0.record.taskID == row.id && $0.record.token == token && !$0.record.concurrent
                }
                let scheduledFor =
                    started?.record.scheduledFor ?? row.claimedAttemptKey?.fire ?? row.fireAt ?? row.nextRun ?? now
                let attempt = started?.record.attempt ?? row.claimedAttemptKey?.attempt ?? row.attempt
                let fire = InterruptedFire(
                    row: row, scheduledFor: scheduledFor, attempt: attempt, now: now, startOnRecord: started != nil,
                    executorLost: !isSelf, leaseEnd: leaseEnd,
                    lostBefore: state.lostAttempts(of: row.id, at: scheduledFor, before: attempt))
                guard let next = plan(fire) else {
                    // Claimed and certainly never started: free it as it was.
                    state.free(row.id)
                    continue
                }
                if started == nil {
                    // It may have started: the attempt goes on record as lost.
                    Self.upsert(fire.lostRun(executor: executor, token: token, reason: reason), into: &state)
                }
                if row.editedSinceClaim {
                    // An edit replaced the fire meanwhile (a resume, a new next_run): it wins, as
                    // over a finishing run.
                    state.free(row.id)
                    continue
                }
                state.update(row.id) {
                    $0.take(next, statusOnlyIfActive: true)
                    $0.free()
                }
                givenUp(fire, fire.key, next)
            }
            return RecoveryReport(recovered: true, lostRuns: lost.count, freedRows: held.count)
        }
    }

    public func executors() throws(StoreError) -> [ExecutorInfo] {
        try call(.executors) { state, _ in
            state.executors.values.sorted { $0.startedAt > $1.startedAt }.map { entry in
                ExecutorInfo(
                    id: entry.registration.id, host: entry.registration.host, pid: entry.registration.pid,
                    threads: entry.registration.threads, busy: entry.busy, tags: entry.registration.tags,
                    actions: entry.registration.actions, state: entry.state, startedAt: entry.startedAt,
                    heartbeat: entry.heartbeat, leaseExpiresAt: entry.leaseExpiresAt)
            }
        }
    }
}
