import Foundation
import Hummingbird
import SundialCore
import SundialSchedule
import Synchronization

/// The dashboard: tasks by status, runs of the last hour and day by outcome (an SVG chart drawn
/// here), current failures, start lag, executors, the due backlog and the next fires.
struct DashboardController {
    let services: WebServices
    let hours = HourCache()

    /// Runs by outcome for hours long past: they no longer change, so each is read once per
    /// process, and a dashboard reads only the current hour's runs.
    final class HourCache: Sendable {
        private let counts = Mutex<[Date: [RunStatus: Int]]>([:])
        /// A run is written within seconds of finishing: an hour that ended this long ago is final.
        static let settle: TimeInterval = 120

        func known(_ hour: Date) -> [RunStatus: Int]? { counts.withLock { $0[hour] } }

        func keep(_ hour: Date, _ value: [RunStatus: Int], now: Date) {
            guard hour.addingTimeInterval(3600 + Self.settle) < now else { return }
            counts.withLock {
                $0[hour] = value
                // Only the last day is ever asked for.
                $0 = $0.filter { $0.key > now.addingTimeInterval(-2 * 86_400) }
            }
        }
    }

    struct Count {
        var label: String
        var count: Int
        var link: String
    }

    struct TaskLine {
        var name: String
        var link: String
        var detail: String
        var when: TimeText?
    }

    struct Page {
        var layout: Layout
        /// Counts over every task are for users who may see every task.
        var everything: Bool
        var tasks: [Count]
        var lastHour: [Count]
        var lastDay: [Count]
        var chart: String
        var failures: [TaskLine]
        var lagP50: String
        var lagP99: String
        var lagSample: Int
        var alive: Int
        var noneAlive: Bool
        var dead: Int
        var backlog: String
        var next: [TaskLine]
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("/") { request, context in try await show(request, context) }
    }

    private func show(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let scope = identity.scope.tags
        let everything = scope == nil
        let cache = hours
        let data = try await services.blocking { store in
            let now = try store.now()
            guard everything else {
                return (
                    now: now, counts: [TaskStatus: Int](), byHour: [Date: [RunStatus: Int]](),
                    lastHour: [OutcomeCount](),
                    failing: try store.failingTasks(anyTags: scope, limit: 20), lags: [Double](),
                    executors: try store.executors(), backlog: 0, next: try store.nextFires(anyTags: scope, limit: 20)
                )
            }
            let thisHour = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
            var byHour: [Date: [RunStatus: Int]] = [:]
            var missing: [Date] = []
            for offset in 0..<24 {
                let hour = thisHour.addingTimeInterval(-3600 * Double(offset))
                if let known = cache.known(hour) { byHour[hour] = known } else { missing.append(hour) }
            }
            if let oldest = missing.min() {
                for count in try store.runOutcomes(from: oldest, to: now.addingTimeInterval(1), bucket: .seconds(3600))
                where missing.contains(count.bucket) {
                    byHour[count.bucket, default: [:]][count.status, default: 0] += count.count
                }
                for hour in missing { cache.keep(hour, byHour[hour] ?? [:], now: now) }
            }
            let lastHour = try store.runOutcomes(
                from: now.addingTimeInterval(-3600), to: now.addingTimeInterval(1), bucket: .seconds(1 << 40))
            return (
                now: now, counts: try store.taskCounts(), byHour: byHour, lastHour: lastHour,
                failing: try store.failingTasks(anyTags: scope, limit: 20),
                lags: try store.startLags(since: now.addingTimeInterval(-3600), sample: 10_000),
                executors: try store.executors(), backlog: try store.dueBacklog(cap: 10_000),
                next: try store.nextFires(anyTags: scope, limit: 20)
            )
        }
        let now = data.now
        let zone = identity.timeZone
        let lags = data.lags.sorted()
        let alive = data.executors.filter { ($0.state == .running || $0.state == .stopping) && $0.leaseExpiresAt > now }
        var dayTotals: [RunStatus: Int] = [:]
        for counts in data.byHour.values { for (status, n) in counts { dayTotals[status, default: 0] += n } }
        var hourTotals: [RunStatus: Int] = [:]
        for count in data.lastHour { hourTotals[count.status, default: 0] += count.count }
        let page = Page(
            layout: Layout(title: "Dashboard", section: "dashboard", context: context, request: request),
            everything: everything,
            tasks: TaskStatus.allCases.map {
                Count(label: $0.rawValue, count: data.counts[$0] ?? 0, link: "/tasks?status=\($0.rawValue)")
            },
            lastHour: Self.outcomes(hourTotals, period: "1h"), lastDay: Self.outcomes(dayTotals, period: "24h"),
            chart: OutcomeChart.svg(byHour: data.byHour, endingAt: now, zone: zone),
            failures: data.failing.map {
                TaskLine(
                    name: $0.name, link: "/task?" + TasksController.queryString([("name", $0.name)]),
                    detail: $0.error ?? "failed", when: nil)
            },
            lagP50: Self.percentile(lags, 0.5), lagP99: Self.percentile(lags, 0.99), lagSample: lags.count,
            alive: alive.count, noneAlive: alive.isEmpty, dead: data.executors.count - alive.count,
            backlog: data.backlog >= 10_000 ? "10,000 or more" : "\(data.backlog)",
            next: data.next.map {
                TaskLine(
                    name: $0.name, link: "/task?" + TasksController.queryString([("name", $0.name)]),
                    detail: $0.schedule ?? "(once)", when: $0.nextRun.map { TimeText($0, now: now, zone: zone) })
            })
        return services.templates.render("dashboard", page)
    }

    static func outcomes(_ totals: [RunStatus: Int], period: String) -> [Count] {
        RunStatus.allCases.map {
            Count(label: $0.rawValue, count: totals[$0] ?? 0, link: "/runs?status=\($0.rawValue)&period=\(period)")
        }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> String {
        guard !sorted.isEmpty else { return "-" }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
        return DurationText.format(max(0, sorted[max(0, index)]))
    }
}
