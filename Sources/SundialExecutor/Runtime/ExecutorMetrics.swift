import CoreMetrics
import Foundation
import SundialCore
import Synchronization

/// What an executor reports through swift-metrics (Prometheus names: see the README's Operations
/// section). Label sets stay bounded: actions and statuses, never task names or ids.
///
/// Worker threads only note what happened in a buffer (one short lock per event); the heartbeat
/// hands the buffer to the metrics system in one go (`flush`), so thousands of runs a second do
/// not contend on the histograms' locks. Values reach `/metrics` within a heartbeat.
final class ExecutorMetrics: Sendable {
    private struct RunKind: Hashable {
        var action: String
        var status: RunStatus
    }

    /// What happened since the last flush.
    private struct Pending {
        var runs: [RunKind: Int] = [:]
        var durations: [String: [Double]] = [:]
        var lags: [Double] = []
        var retries = 0
        var claims: [(rows: Int, seconds: Double)] = []
    }

    /// Metric handles, made once (only the flushing thread touches them).
    private struct Handles {
        var runs: [RunKind: Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        /// The opted-in tasks' series, by task name.
        var tasks: [String: TaskGauges] = [:]
    }

    /// `sundial_task_*{task}` of one task that asked for them (`cron.metrics`).
    private struct TaskGauges {
        var lastSuccess: Gauge
        var nextFire: Gauge
        var running: Gauge

        init(task: String, factory: any MetricsFactory) {
            let label = [("task", task)]
            lastSuccess = Gauge(
                label: "sundial_task_last_success_timestamp_seconds", dimensions: label, factory: factory)
            nextFire = Gauge(label: "sundial_task_next_fire_timestamp_seconds", dimensions: label, factory: factory)
            running = Gauge(label: "sundial_task_running", dimensions: label, factory: factory)
        }

        func destroy() {
            lastSuccess.destroy()
            nextFire.destroy()
            running.destroy()
        }
    }

    /// Most tasks with series of their own (the label set stays bounded even if many opt in).
    static let taskSeriesLimit = 1_000

    private let factory: any MetricsFactory
    private let pending = Mutex(Pending())
    private let handles = Mutex(Handles())
    private let startLag: CoreMetrics.Timer
    private let retries: Counter
    private let claimDuration: CoreMetrics.Timer
    private let claimedRows: Counter
    private let fenced: Counter
    private let recorderQueue: Gauge
    private let busyThreads: Gauge
    private let idleThreads: Gauge
    private let leaseRemaining: Gauge
    private let misfiresByPolicy: [TaskRow.MisfirePolicy: Counter]
    private let executorsByState: [ExecutorState: Gauge]
    private let dueBacklog: Gauge

    init(factory: any MetricsFactory) {
        self.factory = factory
        startLag = Timer(label: "sundial_start_lag_seconds", factory: factory)
        retries = Counter(label: "sundial_retries_total", factory: factory)
        claimDuration = Timer(label: "sundial_claim_duration_seconds", factory: factory)
        claimedRows = Counter(label: "sundial_claimed_rows_total", factory: factory)
        fenced = Counter(label: "sundial_fenced_total", factory: factory)
        recorderQueue = Gauge(label: "sundial_recorder_queue_depth", factory: factory)
        busyThreads = Gauge(label: "sundial_threads", dimensions: [("state", "busy")], factory: factory)
        idleThreads = Gauge(label: "sundial_threads", dimensions: [("state", "idle")], factory: factory)
        leaseRemaining = Gauge(label: "sundial_lease_remaining_seconds", factory: factory)
        executorsByState = Dictionary(
            uniqueKeysWithValues: ExecutorState.allCases.map {
                ($0, Gauge(label: "sundial_executors", dimensions: [("state", $0.rawValue)], factory: factory))
            })
        dueBacklog = Gauge(label: "sundial_due_backlog", factory: factory)
        misfiresByPolicy = Dictionary(
            uniqueKeysWithValues: TaskRow.MisfirePolicy.allCases.map {
                ($0, Counter(label: "sundial_misfires_total", dimensions: [("policy", $0.rawValue)], factory: factory))
            })
        Gauge(label: "sundial_build_info", dimensions: [("version", SundialVersion.current)], factory: factory)
            .record(1)
    }

    /// An attempt ended with `status` after running `seconds`.
    func runEnded(action: String, status: RunStatus, seconds: Double, retryPlanned: Bool) {
        pending.withLock {
            $0.runs[RunKind(action: action, status: status), default: 0] += 1
            $0.durations[action, default: []].append(seconds)
            if retryPlanned { $0.retries += 1 }
        }
    }

    /// A row moved on past fires it had already missed, handled by `policy`.
    func misfired(policy: TaskRow.MisfirePolicy) {
        misfiresByPolicy[policy]?.increment()
    }

    /// A fire started `seconds` after its scheduled time (by the database's clock).
    func started(lagSeconds seconds: Double) {
        pending.withLock { $0.lags.append(seconds) }
    }

    func claimed(rows: Int, seconds: Double) {
        pending.withLock { $0.claims.append((rows, seconds)) }
    }

    func fencedOff() { fenced.increment() }

    /// Levels sampled at each heartbeat, and what happened since the last one.
    func sample(busyThreads busy: Int, threads: Int, recorderQueue queued: Int, leaseRemaining lease: Duration) {
        busyThreads.record(busy)
        idleThreads.record(max(0, threads - busy))
        recorderQueue.record(queued)
        leaseRemaining.record(lease.timeInterval)
        flush()
    }

    /// The fleet as the registry and the table show it (sampled every few heartbeats).
    func fleet(executors: [ExecutorInfo], dueBacklog due: Int) {
        for state in ExecutorState.allCases {
            executorsByState[state]?.record(executors.count { $0.state == state })
        }
        dueBacklog.record(due)
    }

    /// The series of the tasks that asked for them; a task that no longer does (or is gone)
    /// loses its series. A time not known yet (never succeeded, no next fire) reads 0.
    func tasks(_ series: [TaskSeries]) {
        handles.withLock { handles in
            var gone = handles.tasks
            for task in series {
                gone[task.name] = nil
                let gauges = handles.tasks[task.name] ?? TaskGauges(task: task.name, factory: factory)
                handles.tasks[task.name] = gauges
                gauges.lastSuccess.record(task.lastSuccess?.timeIntervalSince1970 ?? 0)
                gauges.nextFire.record(task.nextFire?.timeIntervalSince1970 ?? 0)
                gauges.running.record(task.running)
            }
            for (name, gauges) in gone {
                gauges.destroy()
                handles.tasks[name] = nil
            }
        }
    }

    /// Hands what happened since the last flush to the metrics system.
    func flush() {
        let happened = pending.withLock { current in
            defer { current = Pending() }
            return current
        }
        handles.withLock { handles in
            for (kind, count) in happened.runs {
                let counter =
                    handles.runs[kind]
                    ?? Counter(
                        label: "sundial_runs_total",
                        dimensions: [("action", kind.action), ("status", kind.status.rawValue)], factory: factory)
                handles.runs[kind] = counter
                counter.increment(by: count)
            }
            for (action, seconds) in happened.durations {
                let timer =
                    handles.durations[action]
                    ?? Timer(label: "sundial_run_duration_seconds", dimensions: [("action", action)], factory: factory)
                handles.durations[action] = timer
                for value in seconds { timer.recordNanoseconds(Self.nanoseconds(value)) }
            }
        }
        for lag in happened.lags { startLag.recordNanoseconds(Self.nanoseconds(lag)) }
        if happened.retries > 0 { retries.increment(by: happened.retries) }
        for claim in happened.claims {
            claimDuration.recordNanoseconds(Self.nanoseconds(claim.seconds))
            if claim.rows > 0 { claimedRows.increment(by: claim.rows) }
        }
    }

    private static func nanoseconds(_ seconds: Double) -> Int64 {
        guard seconds.isFinite else { return 0 }
        return Int64(min(max(seconds, 0), 1e9) * 1e9)
    }
}
