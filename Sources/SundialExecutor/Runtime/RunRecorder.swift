import Foundation
import Logging
import SundialCore

/// Group commit for run bookkeeping: started and finished runs are queued and written by one
/// thread in batches, each batch one store call (one transaction, one fsync), because one commit
/// per run would cap throughput at the disk's fsync rate.
///
/// A batch the store refuses (a value it cannot hold) is split until the offending record is
/// alone, and that one is written as a failure with the reason, without its output: one bad value
/// never holds back the others. A batch that fails for a transient reason is written again until
/// the store answers. The queue is bounded: when it is full, finishing runs wait for room, so a
/// store that stops answering slows the executor down instead of filling its memory.
public final class RunRecorder: @unchecked Sendable {
    public let store: any ClaimStore
    let logger: Logger
    private let condition = MonotonicCondition()
    private var started: [RunRecord] = []
    private var finished: [FinishedRun] = []
    /// The latest output so far of running attempts, one per attempt: bounded by the runs in
    /// flight, so it never counts against `capacity`.
    private var progress: [RunKey: RunProgress] = [:]
    private var stopping = false
    private var flushedGeneration = 0
    private var queuedGeneration = 0
    /// Generations someone waits for (`flush`, durable starts): written without the batching pause.
    private var urgentGeneration = 0
    /// When the oldest queued entry arrived.
    private var oldestQueued: ContinuousClock.Instant?
    /// Most entries queued before producers wait.
    let capacity: Int
    /// Durable starts queued or being written, and those found on record under their own token.
    private var durableStarts: [RunKey: ClaimToken] = [:]
    private var confirmedStarts: Set<RunKey> = []
    /// Whether results are reaching the store (failing or hanging writes).
    private var stall = ResultsStall()
    /// The monotonic clock's origin for the stall's times.
    private let origin = ContinuousClock.now
    /// How long the first entry of a batch waits for others. Runs due on the same second start
    /// together; writing them as one batch a moment later costs the database one commit instead of
    /// dozens while they start (and the CPU they need to start), and a run that ends within the
    /// pause is written once instead of twice.
    static let batchWindow: Duration = .milliseconds(50)

    public init(store: any ClaimStore, logger: Logger, capacity: Int = 50_000) {
        self.store = store
        self.logger = logger
        self.capacity = capacity
    }

    public func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "sundial-recorder"
        thread.start()
    }

    /// How long results have been failing or hanging on their way to the store, if they are.
    public var stalledFor: Duration? {
        condition.lock()
        defer { condition.unlock() }
        return stall.stalledFor(at: .now - origin)
    }

    /// Whether the executor may renew its lease: not once results have been stuck a whole `lease`.
    public func mayRenew(lease: Duration) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return stall.mayRenew(lease: lease, at: .now - origin)
    }

    private func noteWrite(succeeded: Bool) {
        condition.lock()
        stall.tryEnded(succeeded: succeeded, at: .now - origin)
        condition.unlock()
    }

    /// Entries waiting to be written.
    public var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return started.count + finished.count
    }

    /// Queues the start of a run. With `durable`, blocks until it is written and found on record
    /// under its own claim token (or `timeout` passes: then false), for runs that must not start
    /// unless their start is on record. False also when the store holds that attempt under
    /// another token (a start written late, after the fire changed hands): the caller must not
    /// run it.
    @discardableResult
    public func runStarted(_ run: RunRecord, durable: Bool = false, timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        waitForRoom()
        started.append(run)
        if durable { durableStarts[run.key] = run.token }
        enqueued()
        guard durable else { return true }
        let written = waitForFlush(of: queuedGeneration, until: .now + .seconds(timeout))
        durableStarts[run.key] = nil
        return written && confirmedStarts.remove(run.key) != nil
    }

    public func runFinished(_ run: FinishedRun) {
        condition.lock()
        waitForRoom()
        finished.append(run)
        enqueued()
        condition.unlock()
    }

    /// Queues the output so far of running attempts, replacing any not yet written: written with
    /// the next batch, never waited for.
    public func runProgress(_ updates: [RunProgress]) {
        guard !updates.isEmpty else { return }
        condition.lock()
        for update in updates { progress[update.key] = update }
        if oldestQueued == nil {
            oldestQueued = .now
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Under the lock.
    private func waitForRoom() {
        while started.count + finished.count >= capacity && !stopping { condition.wait() }
    }

    /// Under the lock.
    private func enqueued() {
        queuedGeneration += 1
        if oldestQueued == nil {
            oldestQueued = .now
            condition.broadcast()
        }
    }

    /// Under the lock.
    private func waitForFlush(of generation: Int, until deadline: ContinuousClock.Instant) -> Bool {
        urgentGeneration = max(urgentGeneration, generation)
        condition.broadcast()
        while flushedGeneration < generation {
            if !condition.wait(until: deadline) { return flushedGeneration >= generation }
        }
        return true
    }

    /// Blocks until everything queued so far is written (or `timeout` passes).
    @discardableResult
    public func flush(timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return waitForFlush(of: queuedGeneration, until: .now + .seconds(timeout))
    }

    /// Writes what is queued (for up to `timeout`) and stops the thread. What could not be written
    /// by then stays unwritten: the executor's recovery of itself, or its lease's end, settles it.
    public func stop(timeout: TimeInterval = 30) {
        flush(timeout: timeout)
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while started.isEmpty && finished.isEmpty && progress.isEmpty && !stopping { condition.wait() }
            if stopping { break }
            // The batching pause, cut short when someone waits for the write.
            if let oldest = oldestQueued {
                let until = oldest + Self.batchWindow
                while urgentGeneration <= flushedGeneration && ContinuousClock.now < until && !stopping {
                    condition.wait(until: until)
                }
            }
            let batch = RunBatch(started: started, finished: finished)
            // Output so far goes in a store call of its own, after the results: following a run
            // must never hold the results' transaction longer (nor retry it).
            let outputsSoFar = RunBatch(progress: progress.values.sorted { $0.key < $1.key })
            let generation = queuedGeneration
            started.removeAll(keepingCapacity: true)
            finished.removeAll(keepingCapacity: true)
            progress.removeAll(keepingCapacity: true)
            oldestQueued = nil
            // Room again for waiting producers.
            condition.broadcast()
            stall.writeBegan(at: .now - origin)
            condition.unlock()
            let written = write(batch)
            condition.lock()
            stall.writeEnded()
            condition.unlock()
            if !outputsSoFar.isEmpty { writeOutputsSoFar(outputsSoFar) }
            condition.lock()
            if written { confirmDurableStarts(in: batch) }
            // Unwritten (only when stopping): those who wait for it learn so at their deadline.
            if written { flushedGeneration = generation }
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Output so far of running attempts: written once, and dropped if the store refuses it or
    /// cannot be reached (newer output comes within a second; the final output never depends
    /// on it).
    private func writeOutputsSoFar(_ batch: RunBatch) {
        do {
            try store.record(batch)
        } catch {
            logger.debug("could not write the output so far of running attempts", metadata: ["error": "\(error)"])
        }
    }

    /// Under the lock: reads back the durable starts of a written batch, and confirms those on
    /// record under their own token. A failed read confirms nothing (the runs are not started).
    private func confirmDurableStarts(in batch: RunBatch) {
        let wanted = batch.started.filter { durableStarts[$0.key] == $0.token }
        guard !wanted.isEmpty else { return }
        condition.unlock()
        let holders = try? store.runHolders(wanted.map(\.key))
        condition.lock()
        // Only for those still waiting: one that gave up meanwhile was not run.
        for run in wanted where holders?[run.key] == run.token && durableStarts[run.key] == run.token {
            confirmedStarts.insert(run.key)
        }
        if holders == nil {
            logger.warning(
                "could not read back durable starts; they are not run", metadata: ["runs": "\(wanted.count)"])
        }
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Writes `batch`, whatever it takes: split on refusal, repeated on transient failure. False
    /// only when the recorder stops first.
    @discardableResult
    func write(_ batch: RunBatch) -> Bool {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try store.record(batch)
                noteWrite(succeeded: true)
                return true
            } catch  where error.kind == .rejected || error.kind == .invalid {
                guard let halves = batch.halves else { return writeRefused(batch, reason: error) }
                return write(halves.0) && write(halves.1)
            } catch {
                // Nothing of a failed batch is lost: it is written again until the store answers.
                // Writes are idempotent, so a batch whose outcome was unknown is safe to repeat.
                logger.error(
                    "writing run results failed; retrying", metadata: ["error": "\(error)", "runs": "\(batch.count)"])
                noteWrite(succeeded: false)
                if isStopping { return false }
                // A record may break the connection rather than be refused (a statement over
                // `max_allowed_packet`): a batch that keeps losing its connection is split to
                // find it, and a lone record that does is tried without its output. Only when
                // that one is written was the value the trouble; otherwise the store is, and the
                // record waits for it, whole. (A read-only node or a lock is never the value's fault.)
                let connectionLost = error.kind == .unavailable || error.kind == .outcomeUnknown
                if connectionLost && attempt >= Self.failuresBeforeSplit, let halves = batch.halves {
                    return write(halves.0) && write(halves.1)
                }
                if connectionLost && attempt >= Self.failuresBeforeRefusal && batch.count == 1 {
                    switch breaksTheConnection(batch) {
                    case .written: return true
                    case .yes: if writePlain(batch, reason: error) { return true }
                    case .unknown: break
                    }
                }
                Thread.sleep(forTimeInterval: min(5, 0.1 * Double(attempt)))
            }
        }
    }

    /// Transient failures of a batch before it is split in two.
    static let failuresBeforeSplit = 3
    /// Lost connections on a lone record before it is tried without its output.
    static let failuresBeforeRefusal = 5

    /// One record refused for its values: written as a failure that says why, without output;
    /// repeated while the store is unreachable. When even that is refused, its row is marked
    /// invalid with the reason rather than left claimed. False only when the recorder stops first.
    private func writeRefused(_ batch: RunBatch, reason refusal: StoreError) -> Bool {
        logger.error(
            "a run result was refused by the store; recording the refusal instead", metadata: ["error": "\(refusal)"])
        var attempt = 0
        while true {
            attempt += 1
            do {
                try store.record(Self.plain(batch, reason: refusal))
                noteWrite(succeeded: true)
                return true
            } catch  where !error.isTransient {
                logger.critical("a run result could not be stored at all", metadata: ["error": "\(error)"])
                return markRowsInvalid(batch, reason: refusal)
            } catch {
                noteWrite(succeeded: false)
                if isStopping { return false }
                Thread.sleep(forTimeInterval: min(5, 0.1 * Double(attempt)))
            }
        }
    }

    private enum Verdict { case written, yes, unknown }

    /// Whether `batch` itself breaks the connection: written once more between two readings that
    /// the store answers. Only a failure with the store answering on both sides counts (a store
    /// coming back mid-outage does not make a result look guilty).
    private func breaksTheConnection(_ batch: RunBatch) -> Verdict {
        guard (try? store.now()) != nil else { return .unknown }
        do {
            try store.record(batch)
            noteWrite(succeeded: true)
            return .written
        } catch  where error.kind == .unavailable || error.kind == .outcomeUnknown {
            return (try? store.now()) != nil ? .yes : .unknown
        } catch {
            return .unknown
        }
    }

    /// A lone record that breaks the connection, tried once without its output: true when that
    /// was written (the value was the trouble).
    private func writePlain(_ batch: RunBatch, reason: StoreError) -> Bool {
        do {
            try store.record(Self.plain(batch, reason: reason))
        } catch {
            return false
        }
        noteWrite(succeeded: true)
        logger.error(
            "a run result broke the connection each time it was written; recorded without its output",
            metadata: ["error": "\(reason)"])
        return true
    }

    /// The batch as failures that say why, without output.
    static func plain(_ batch: RunBatch, reason error: StoreError) -> RunBatch {
        let reason = "the result could not be stored: \(error.message)"
        var plain = batch
        // Output so far is only for following a run: it goes first.
        plain.progress = []
        for i in plain.started.indices {
            plain.started[i].output = nil
            plain.started[i].error = nil
        }
        for i in plain.finished.indices {
            plain.finished[i].run.output = nil
            plain.finished[i].run.error = reason
            if plain.finished[i].run.status == .succeeded { plain.finished[i].run.status = .failed }
            plain.finished[i].row?.plan.error = reason
        }
        return plain
    }

    /// The last resort for a result no form of which the store takes: its row must not stay
    /// claimed, so it is marked invalid with the reason (a person looks at it; its run row, if
    /// any, is ended by this executor's recovery of itself at stop, or by others' when its lease
    /// ends). Repeated while the store is unreachable.
    private func markRowsInvalid(_ batch: RunBatch, reason error: StoreError) -> Bool {
        let reason = "the result could not be stored: \(error.message)"
        for finish in batch.finished {
            guard let row = finish.row else { continue }
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try store.markInvalid(row.claim, error: reason)
                    noteWrite(succeeded: true)
                    break
                } catch  where !error.isTransient {
                    logger.critical(
                        "could not free the row of a result that cannot be stored; it is freed when this executor stops or its lease ends",
                        metadata: ["task": "\(row.claim.taskID)", "error": "\(error)"])
                    break
                } catch {
                    noteWrite(succeeded: false)
                    if isStopping { return false }
                    Thread.sleep(forTimeInterval: min(5, 0.1 * Double(attempt)))
                }
            }
        }
        // Settled (its rows freed or left to the lease's end): nothing is stuck any more, even
        // when the batch had no row to free.
        noteWrite(succeeded: true)
        return true
    }
}

extension RunBatch {
    /// The batch in two, or nil for a single record.
    var halves: (RunBatch, RunBatch)? {
        guard count > 1 else { return nil }
        // Output so far apart from the results, then in halves of its own.
        if !progress.isEmpty {
            if started.isEmpty && finished.isEmpty {
                let middle = progress.count / 2
                return (RunBatch(progress: Array(progress[..<middle])), RunBatch(progress: Array(progress[middle...])))
            }
            return (RunBatch(started: started, finished: finished), RunBatch(progress: progress))
        }
        if started.count > 1 || finished.isEmpty {
            let middle = started.count / 2
            return (
                RunBatch(started: Array(started[..<middle])),
                RunBatch(started: Array(started[middle...]), finished: finished)
            )
        }
        if started.count == 1 { return (RunBatch(started: started), RunBatch(finished: finished)) }
        let middle = finished.count / 2
        return (RunBatch(finished: Array(finished[..<middle])), RunBatch(finished: Array(finished[middle...])))
    }
}
