import ArgumentParser
import Foundation

/// High availability 2 and 3: the precision load on a three-node Galera cluster, each executor on a
/// node of its own. `galera` kills one node (SIGKILL) and starts it again (it rejoins by state
/// transfer); `galera-partition` cuts one node off the network (or freezes it), so that it loses
/// the quorum: its executor must fence itself while the others go on. Counted from the witness:
/// nothing lost, nothing run twice; certification failures are counted by the nodes themselves.
struct GaleraDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "galera",
        abstract: "Executors on different Galera nodes; one node killed and restarted: nothing lost or doubled.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds after the first fire when the node is disrupted.") var disruptAt = 20.0
    @Option(help: "Seconds the node stays down (or cut off).") var downFor = 15.0

    func run() throws {
        try runGaleraScenario(options: drill, name: "galera", node: 2, disruptAt: disruptAt, downFor: downFor) {
            cluster in
            try cluster.run("kill", "g2")
        } restore: { cluster in
            try cluster.run("start", "g2")
        } describe: {
            "g2 killed (SIGKILL) at \(Int(disruptAt)) s and started again after \(Int(downFor)) s (state transfer)"
        }
    }
}

struct GaleraPartitionDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "galera-partition",
        abstract: "A Galera node cut off from the others: its executor fences itself, nothing lost or doubled.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds after the first fire when the node is cut off.") var disruptAt = 20.0
    @Option(help: "Seconds the node stays cut off.") var downFor = 20.0

    func run() throws {
        try runGaleraScenario(options: drill, name: "galera_partition", node: 3, disruptAt: disruptAt, downFor: downFor)
        {
            cluster in
            try cluster.run("partition", "g3")
        } restore: { cluster in
            try cluster.run("heal", "g3")
        } describe: {
            "g3 cut off from g1 and g2 at \(Int(disruptAt)) s for \(Int(downFor)) s"
        }
    }
}

/// The body both Galera drills share: executor `slot` runs on node `slot % 3 + 1`; `node` is the
/// one disrupted.
private func runGaleraScenario(
    options: DrillOptions, name: String, node: Int, disruptAt: Double, downFor: Double,
    disrupt: (ClusterControl) throws -> Void, restore: (ClusterControl) throws -> Void, describe: () -> String
) throws {
    let urls = try ClusterControl.urls()
    let nodes = (1...3).compactMap { urls["SUNDIAL_GALERA_URL_\($0)"] }
    guard nodes.count == 3 else { throw ValidationError("deploy/dev/devcluster env gives no Galera URLs") }
    var options = options
    options.databaseURL = nodes[0]
    let drill = try options.makeDrill(name: name)
    let cluster = ClusterControl(logDirectory: drill.directory)
    let certificationBefore = (1...3).map { cluster.number("g\($0)", "SHOW STATUS LIKE 'wsrep_local_cert_failures'") }
    for slot in 0..<options.executors {
        try drill.fleet.start(slot, databaseURL: try BenchDatabase.url(nodes[slot % 3], database: drill.bench.name))
    }
    let atMostOnce = try drill.insertHalfAtMostOnce()
    let cutOff = Set(drill.fleet.pids.filter { $0.key % 3 + 1 == node }.map(\.value))
    var disruptedAt: Int64?
    var restored = false
    // Whatever happens, the node comes back: a frozen or cut-off node would hang what follows.
    defer { if disruptedAt != nil && !restored { try? restore(cluster) } }
    let crashed = try drill.run(settle: 120) { elapsed in
        if disruptedAt == nil, elapsed >= disruptAt {
            try disrupt(cluster)
            disruptedAt = Clock.unixMicroseconds()
        } else if !restored, elapsed >= disruptAt + downFor {
            try restore(cluster)
            restored = true
        }
    }
    if !restored {
        try restore(cluster)
        restored = true
    }
    let how =
        (cluster.said("devcluster: g3 cut off") ?? cluster.said("devcluster: g3 frozen")).map {
            " [\($0.replacingOccurrences(of: "devcluster: ", with: ""))]"
        } ?? ""
    let account = try DeliveryAccount(drill: drill, atMostOnce: atMostOnce, cutOff: cutOff)
    // Counted by the nodes: commits that lost certification, and local transactions aborted by a
    // replicated one (Galera's brute-force aborts), both retried by Sundial as deadlocks.
    let certification = (1...3).map { cluster.number("g\($0)", "SHOW STATUS LIKE 'wsrep_local_cert_failures'") }
    let bruteForce = (1...3).map { cluster.number("g\($0)", "SHOW STATUS LIKE 'wsrep_local_bf_aborts'") }
    let certificationFailures = zip(certification, certificationBefore).map { max(0, $0 - $1) }.reduce(0, +)
    let fenced = drill.fleet.selfFences
    let resume = try disruptedAt.map { try drill.resumeTime(after: $0) } ?? .infinity
    let pass = account.keptThePromise && crashed.isEmpty
    let label = name.replacingOccurrences(of: "_", with: "-")
    print(
        "\(label): \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second (run_all, half at_most_once), \(options.executors) executors each on its own node of a 3-node Galera cluster; \(describe())\(name == "galera_partition" ? how : ""); \(account.summary); fires due at the disruption ran \(String(format: "%.1f", resume)) s after it; \(fenced) executors fenced themselves; certification failures \(certificationFailures), brute-force aborts \(bruteForce.reduce(0, +)); \(crashed.isEmpty ? "every executor exited cleanly" : "executors that failed: \(crashed)")"
    )
    if !pass { throw ExitCode(1) }
}
