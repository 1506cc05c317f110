import Foundation
import SundialCore

extension InMemoryStore: AlertStore {
    @discardableResult
    public func raise(_ drafts: [AlertDraft]) throws(StoreError) -> Int {
        try call(.raiseAlerts) { state, now in Self.raise(drafts, into: &state, now: now) }
    }

    /// Writes the drafts not raised within their window, as MySQL's `alert_dedupe` does.
    @discardableResult
    static func raise(_ drafts: [AlertDraft], into state: inout State, now: Date) -> Int {
        var written = 0
        for draft in drafts {
            // A recovery ends the failure's window, and a failure the recovery's: the next of each
            // is news.
            for other in draft.event.endsWindows where draft.dedupeWindow > .zero {
                state.raised["\(other.rawValue)|\(draft.subject)|\(draft.channel)"] = nil
            }
            let key = "\(draft.event.rawValue)|\(draft.subject)|\(draft.channel)"
            // A window of zero keeps every alert, even when the clock has stepped back.
            if draft.dedupeWindow > .zero, let last = state.raised[key],
                last > now.addingTimeInterval(-draft.dedupeWindow.timeInterval)
            {
                continue
            }
            state.raised[key] = now
            let id = state.nextAlertID
            state.nextAlertID += 1
            var stored = draft
            stored.summary = StoredText.error(draft.summary)
            stored.detail = draft.detail.map(StoredText.error)
            state.alerts[id] = Alert(id: id, draft: stored, createdAt: now)
            state.alertDue[id] = now
            written += 1
        }
        return written
    }

    public func claimAlerts(
        channel: String, by executor: String, token: ClaimToken, lease: Duration, limit: Int
    ) throws(StoreError) -> [Alert] {
        try call(.claimAlerts) { state, now in
            let ready = state.alerts.values.filter { alert in
                alert.status == .pending && !state.isLocked(alert: alert.id) && alert.draft.channel == channel
                    && (state.alertDue[alert.id] ?? now) <= now
                    && (state.alertClaims[alert.id].map { $0 < now } ?? true)
            }.sorted { $0.id < $1.id }.prefix(max(0, limit))
            return ready.map { alert in
                var alert = alert
                alert.attempts += 1
                alert.claim = token
                state.alerts[alert.id] = alert
                state.alertClaims[alert.id] = now.addingTimeInterval(lease.timeInterval)
                return alert
            }
        }
    }

    @discardableResult
    public func settleAlert(
        id: Int64, token: ClaimToken, delivered: Bool, error: String?, retryIn: Duration?
    ) throws(StoreError) -> Bool {
        try call(.settleAlert) { state, now in
            guard var alert = state.alerts[id], alert.claim == token, alert.status == .pending else { return false }
            alert.claim = nil
            alert.error = error.map(StoredText.error)
            state.alertClaims[id] = nil
            if delivered {
                alert.status = .delivered
                alert.deliveredAt = now
            } else if let retryIn {
                state.alertDue[id] = now.addingTimeInterval(retryIn.timeInterval)
            } else {
                alert.status = .failed
            }
            state.alerts[id] = alert
            return true
        }
    }

    public func alerts(limit: Int) throws(StoreError) -> [Alert] {
        try call(.alerts) { state, _ in
            Array(state.alerts.values.sorted { $0.id > $1.id }.prefix(max(0, limit)))
        }
    }

    public func overdueFires(lateBy: Duration, after: OverdueCursor?, limit: Int) throws(StoreError)
        -> [OverdueFire]
    {
        try call(.overdueFires) { state, now in
            let cutoff = now.addingTimeInterval(-lateBy.timeInterval)
            return state.tasks.values.compactMap { row -> OverdueFire? in
                guard row.status == .active, row.claimToken == nil, let next = row.nextRun, next < cutoff else {
                    return nil
                }
                if let after, (next, row.id) <= (after.nextRun, after.id) { return nil }
                return OverdueFire(row: row, late: .seconds(now.timeIntervalSince(next)))
            }.sorted { ($0.row.nextRun!, $0.row.id) < ($1.row.nextRun!, $1.row.id) }.prefix(max(0, limit)).map { $0 }
        }
    }

    public func taskSeries(limit: Int) throws(StoreError) -> [TaskSeries] {
        try call(.taskSeries) { state, _ in
            state.tasks.values.filter(\.metrics).sorted { $0.name < $1.name }.prefix(max(0, limit)).map {
                TaskSeries(
                    name: $0.name, lastSuccess: $0.lastSuccessAt, nextFire: $0.status == .active ? $0.nextRun : nil,
                    running: $0.running + ($0.claimToken == nil ? 0 : 1))
            }
        }
    }

    public func pruneAlerts(before: Date, limit: Int) throws(StoreError) -> Int {
        try call(.pruneAlerts) { state, _ in
            let old = state.alerts.values.filter { $0.status != .pending && $0.createdAt < before }
                .sorted { $0.id < $1.id }.prefix(max(0, limit))
            for alert in old {
                state.alerts[alert.id] = nil
                state.alertDue[alert.id] = nil
            }
            return old.count
        }
    }
}
