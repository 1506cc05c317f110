/// The recorder's decisions, I/O-free: when to write queued run results, how a batch the store
/// refuses is split until the offending record is alone and then written plainly with the reason
/// (or, taken in no form, abandoned: its run ended and its task marked invalid with the reason), how a batch that fails for a transient reason is repeated, when
/// durable starts are confirmed, and whether results are stuck. Group commit: one store call per
/// batch, because one commit per run would cap throughput at the disk's fsync rate.
///
/// The runtime's `RunRecorder` and the simulator drive it alike: they ask for the `next` step,
/// carry it out (a store call, or a wait) and report the answer. Times are a `Duration` since any
/// origin on a monotonic clock.
public struct RecorderMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Most results queued before producers wait for room: a store that stops answering slows
        /// the executor down instead of filling its memory.
        public var capacity: Int
        /// How long the first result of a batch waits for others. Runs due on the same second
        /// start together; writing them as one batch a moment later costs the database one commit
        /// instead of dozens while they start, and a run that ends within the pause is written
        /// once instead of twice.
        public var batchWindow: Duration
        /// Lost connections in a row before a batch is split in two.
        public var failuresBeforeSplit: Int
        /// Lost connections in a row on a lone record before it is checked for breaking them.
        public var failuresBeforeRefusal: Int

        public init(
            capacity: Int = 50_000, batchWindow: Duration = .milliseconds(50), failuresBeforeSplit: Int = 3,
            failuresBeforeRefusal: Int = 5
        ) {
            self.capacity = capacity
            self.batchWindow = batchWindow
            self.failuresBeforeSplit = failuresBeforeSplit
            self.failuresBeforeRefusal = failuresBeforeRefusal
        }

        /// The pause after a batch's `failures`-th failed try in a row.
        public static func backoff(afterFailures failures: Int) -> Duration {
            .milliseconds(min(5_000, 100 * max(1, failures)))
        }
    }

    /// What the recorder's thread does next.
    public enum Step: Sendable, Equatable {
        /// Nothing is queued: wait until something is.
        case idle
        /// Wait until then (the batching pause, or a pause after a failure), or until woken.
        case wait(until: Duration)
        /// Write these results in one store call; report with `written`.
        case write(RunBatch)
        /// Ask the store for its time, to tell a store that is down from a record that breaks the
        /// connection; report with `probed`.
        case probe
        /// Abandon a result no form of which the store takes (`ClaimStore.abandonResult`); report
        /// with `abandoned`.
        case abandon(FinishedRun, reason: String)
        /// Read back who holds these starts on record; report with `readBack`.
        case readBack([RunKey])
        /// Write the output so far of running attempts, once; report with `outputsSoFarWritten`.
        case writeOutputsSoFar(RunBatch)
        /// Stopped: the thread ends.
        case stopped
    }

    /// What the runtime logs; the machine has already acted on it.
    public enum Notice: Sendable, Equatable {
        /// A batch failed and is written again.
        case retrying(StoreError, runs: Int)
        /// The store refused a lone result's values: it is written plainly, with the reason.
        case refused(StoreError)
        /// Not even that form was taken: the result is abandoned, its task marked invalid.
        case unstorable(StoreError)
        /// A lone result broke the connection each time and was written without its output.
        case writtenWithoutOutput(StoreError)
        /// Not even abandoning it was taken: its row stays claimed (its run `running`) until the
        /// executor stops or its lease ends.
        case abandonRefused(taskID: Int64, StoreError)
        /// Durable starts could not be read back: they are not run.
        case startsUnconfirmed(count: Int)
        /// Output so far could not be written; newer output follows.
        case outputsSoFarDropped(StoreError)
    }

    /// How a part of the batch in flight is being written.
    enum Form: Sendable {
        case asIs
        /// Whether the lone record breaks the connection: store answers, record fails, store
        /// answers again. `cause` is the failure that started the check.
        case checking(Check, cause: StoreError)
        /// The lone record, once without its output: it broke the connection each time.
        case withoutOutput(StoreError)
        /// The store refused its values: written plainly with the reason, until the store answers.
        case refused(StoreError)
        /// Not even that was taken: its ended attempts are abandoned, one after another.
        case abandoning([FinishedRun], StoreError)
    }

    enum Check: Sendable { case probeBefore, write, probeAfter }

    struct Part: Sendable {
        var batch: RunBatch
        var form: Form = .asIs
        /// Failed tries in a row.
        var failures = 0
    }

    enum Stage: Sendable { case results, readingBack([RunRecord]), outputsSoFar }

    /// One batch on its way to the store.
    struct Writing: Sendable {
        var generation: Int
        var whole: RunBatch
        /// What is left to write: the last part first (a split pushes its halves).
        var parts: [Part]
        var outputsSoFar: RunBatch
        var stage: Stage = .results
        var pausedUntil: Duration?
    }

    public let settings: Settings
    private var started: [RunRecord] = []
    private var finished: [FinishedRun] = []
    /// The latest output so far of running attempts, one per attempt: bounded by the runs in
    /// flight, so it never counts against `capacity`.
    private var progress: [RunKey: RunProgress] = [:]
    private var oldestQueued: Duration?
    private var queuedGeneration = 0
    private var flushedGeneration = 0
    /// Generations someone waits for (a flush, a durable start): written without the batching pause.
    private var urgentGeneration = 0
    /// Durable starts waiting to be confirmed, and those found on record under their own token.
    private var durableStarts: [RunKey: ClaimToken] = [:]
    private var confirmedStarts: Set<RunKey> = []
    private var writing: Writing?
    private var stall = ResultsStall()
    private var stopping = false
    private var isStopped = false

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    // MARK: Producers

    /// Whether a result may be queued now; otherwise its producer waits (unless stopping).
    public var hasRoom: Bool { started.count + finished.count < settings.capacity || stopping }

    /// Results waiting to be written.
    public var queued: Int { started.count + finished.count }

    /// Queues the start of a run; returns the generation that holds it, and whether the
    /// recorder's thread must be woken (it sleeps through the batching pause otherwise: waking
    /// it for every start of a busy second would cost the starts their time). A `durable` start
    /// is written without the batching pause, read back, and confirmed only when on record under
    /// its own token (see `settleDurableStart`).
    @discardableResult
    public mutating func queueStarted(_ run: RunRecord, durable: Bool, now: Duration) -> (generation: Int, wake: Bool) {
        started.append(run)
        var wake = enqueued(now)
        if durable {
            durableStarts[run.key] = run.token
            urgentGeneration = queuedGeneration
            wake = true
        }
        return (queuedGeneration, wake)
    }

    /// Queues an ended attempt; true when the recorder's thread must be woken.
    @discardableResult
    public mutating func queueFinished(_ run: FinishedRun, now: Duration) -> Bool {
        finished.append(run)
        return enqueued(now)
    }

    /// Output so far, replacing any of the same attempt not yet written; never waited for. True
    /// when the recorder's thread must be woken.
    @discardableResult
    public mutating func queueProgress(_ updates: [RunProgress], now: Duration) -> Bool {
        for update in updates { progress[update.key] = update }
        guard !updates.isEmpty && oldestQueued == nil else { return false }
        oldestQueued = now
        return true
    }

    /// True when this entry starts a batch (the thread may be idle).
    private mutating func enqueued(_ now: Duration) -> Bool {
        queuedGeneration += 1
        guard oldestQueued == nil else { return false }
        oldestQueued = now
        return true
    }

    /// Someone waits for everything queued so far: the generation to wait for, written without
    /// the batching pause.
    public mutating func flushRequested() -> Int {
        urgentGeneration = max(urgentGeneration, queuedGeneration)
        return queuedGeneration
    }

    /// Whether everything up to `generation` is written.
    public func isWritten(_ generation: Int) -> Bool { flushedGeneration >= generation }

    /// The waiter of a durable start is done waiting (written, or given up): whether the start
    /// is on record under its own token, so that its run may begin. A start whose waiter gave up
    /// is not confirmed afterwards.
    public mutating func settleDurableStart(_ key: RunKey) -> Bool {
        durableStarts[key] = nil
        return confirmedStarts.remove(key) != nil
    }

    /// Write nothing more: the thread stops at its next step (a batch failing meanwhile is given up;
    /// the executor's recovery of itself, or its lease's end, settles what was not written).
    public mutating func stop() { stopping = true }

    /// How long results have been failing or hanging on their way to the store, if they are.
    public func stalledFor(at now: Duration) -> Duration? { stall.stalledFor(at: now) }

    /// Whether the executor may renew its lease: not once results have been stuck a whole `lease`
    /// (they keep rows claimed; letting the lease lapse fences the executor and others recover).
    public func mayRenew(lease: Duration, at now: Duration) -> Bool { stall.mayRenew(lease: lease, at: now) }

    /// Whether a queued or unwritten result still carries `claim`'s row: the row stays claimed
    /// until it is written.
    public func carries(_ claim: Claim) -> Bool {
        let inFlight = writing.map { $0.parts.flatMap(\.batch.finished) } ?? []
        return (finished + inFlight).contains { $0.row?.claim == claim }
    }

    // MARK: The recorder's thread

    /// The next step at `now`.
    public mutating func next(now: Duration) -> Step {
        if isStopped { return .stopped }
        guard let current = writing else { return nextBatch(now: now) }
        if let until = current.pausedUntil, now < until {
            return stopping ? giveUp() : .wait(until: until)
        }
        writing?.pausedUntil = nil
        switch current.stage {
        case .readingBack(let runs): return .readBack(runs.map(\.key))
        case .outputsSoFar: return .writeOutputsSoFar(current.outputsSoFar)
        case .results: break
        }
        guard let part = current.parts.last else { return resultsWritten(now: now) }
        switch part.form {
        case .asIs: return .write(part.batch)
        case .checking(.probeBefore, _), .checking(.probeAfter, _): return .probe
        case .checking(.write, _): return .write(part.batch)
        case .withoutOutput(let reason), .refused(let reason): return .write(Self.plain(part.batch, reason: reason))
        case .abandoning(let runs, let reason):
            guard let run = runs.first else {
                // Settled (abandoned, or left to the lease's end): nothing is stuck any more.
                stall.tryEnded(succeeded: true, at: now)
                writing?.parts.removeLast()
                return next(now: now)
            }
            return .abandon(run, reason: Self.reason(reason))
        }
    }

    private mutating func nextBatch(now: Duration) -> Step {
        if stopping {
            isStopped = true
            return .stopped
        }
        guard let oldest = oldestQueued else { return .idle }
        if urgentGeneration <= flushedGeneration && now < oldest + settings.batchWindow {
            return .wait(until: oldest + settings.batchWindow)
        }
        let batch = RunBatch(started: started, finished: finished)
        // Output so far goes in a store call of its own, after the results: following a run must
        // never hold the results' transaction longer (nor retry it).
        let outputsSoFar = RunBatch(progress: progress.values.sorted { $0.key < $1.key })
        writing = Writing(
            generation: queuedGeneration, whole: batch, parts: batch.isEmpty ? [] : [Part(batch: batch)],
            outputsSoFar: outputsSoFar)
        started.removeAll(keepingCapacity: true)
        finished.removeAll(keepingCapacity: true)
        progress.removeAll(keepingCapacity: true)
        oldestQueued = nil
        if !batch.isEmpty { stall.writeBegan(at: now) }
        return next(now: now)
    }

    /// Every part of the batch is written: durable starts are read back, then waiters learn, then
    /// output so far is written (done at once when there is none).
    private mutating func resultsWritten(now: Duration) -> Step {
        guard let current = writing else { return next(now: now) }
        stall.writeEnded()
        let wanted = current.whole.started.filter { durableStarts[$0.key] == $0.token }
        if !wanted.isEmpty {
            writing?.stage = .readingBack(wanted)
        } else {
            flushedGeneration = max(flushedGeneration, current.generation)
            writing?.stage = .outputsSoFar
            if current.outputsSoFar.isEmpty { writing = nil }
        }
        return next(now: now)
    }

    /// The recorder stops while a batch is failing: what it could not write stays unwritten, and
    /// those who wait for it learn so at their deadline.
    private mutating func giveUp() -> Step {
        if writing.map({ if case .results = $0.stage { true } else { false } }) == true { stall.writeEnded() }
        writing = nil
        isStopped = true
        return .stopped
    }

    /// After a failed try of the part on top: pause before the next, or give up when stopping.
    private mutating func failed(now: Duration) {
        var failures = 0
        updateTop {
            $0.failures += 1
            failures = $0.failures
        }
        writing?.pausedUntil = now + Settings.backoff(afterFailures: failures)
    }

    private mutating func updateTop(_ change: (inout Part) -> Void) {
        guard let top = writing?.parts.indices.last else { return }
        change(&writing!.parts[top])
    }

    private mutating func replaceTop(with parts: [Part]) {
        writing?.parts.removeLast()
        // The first half goes on top: written first.
        writing?.parts.append(contentsOf: parts.reversed())
    }

    // MARK: Answers

    /// The answer to a `write` step.
    public mutating func written(_ answer: Result<Void, StoreError>, now: Duration) -> [Notice] {
        guard let part = writing?.parts.last else { return [] }
        switch answer {
        case .success:
            stall.tryEnded(succeeded: true, at: now)
            writing?.parts.removeLast()
            if case .withoutOutput(let reason) = part.form { return [.writtenWithoutOutput(reason)] }
            return []
        case .failure(let error):
            stall.tryEnded(succeeded: false, at: now)
            switch part.form {
            case .asIs:
                if error.kind == .rejected || error.kind == .invalid {
                    if let halves = part.batch.halves {
                        replaceTop(with: [Part(batch: halves.0), Part(batch: halves.1)])
                        return []
                    }
                    updateTop {
                        $0.form = .refused(error)
                        $0.failures = 0
                    }
                    return [.refused(error)]
                }
                // Nothing of a failed batch is lost: it is written again until the store answers.
                // Writes are idempotent, so a batch whose outcome was unknown is safe to repeat.
                // A record may break the connection rather than be refused (a statement over
                // `max_allowed_packet`): a batch that keeps losing its connection is split to find
                // it, and a lone record that does is checked, then tried without its output. Only
                // when that one is written was the value the trouble; otherwise the store is, and
                // the record waits for it, whole. (A read-only node or a lock is never the value's fault.)
                let connectionLost = error.kind == .unavailable || error.kind == .outcomeUnknown
                let failures = part.failures + 1
                if connectionLost && failures >= settings.failuresBeforeSplit, let halves = part.batch.halves {
                    replaceTop(with: [Part(batch: halves.0), Part(batch: halves.1)])
                } else if connectionLost && failures >= settings.failuresBeforeRefusal && part.batch.count == 1 {
                    updateTop {
                        $0.form = .checking(.probeBefore, cause: error)
                        $0.failures = failures
                    }
                } else {
                    failed(now: now)
                }
                return [.retrying(error, runs: part.batch.count)]
            case .checking(.write, let cause):
                if error.kind == .unavailable || error.kind == .outcomeUnknown {
                    setTopForm(.checking(.probeAfter, cause: cause))
                } else {
                    setTopForm(.asIs)
                    failed(now: now)
                }
                return []
            case .withoutOutput, .checking:
                setTopForm(.asIs)
                failed(now: now)
                return []
            case .refused(let refusal):
                guard error.isTransient else {
                    setTopForm(.abandoning(part.batch.finished, refusal))
                    return [.unstorable(error)]
                }
                failed(now: now)
                return []
            case .abandoning:
                return []
            }
        }
    }

    private mutating func setTopForm(_ form: Form) { updateTop { $0.form = form } }

    /// The answer to a `probe` step: whether the store answered.
    public mutating func probed(answered: Bool, now: Duration) {
        guard let part = writing?.parts.last, case .checking(let check, let cause) = part.form else { return }
        guard answered else {
            // The store is down: not the record's fault. It waits for the store, whole.
            setTopForm(.asIs)
            failed(now: now)
            return
        }
        setTopForm(check == .probeBefore ? .checking(.write, cause: cause) : .withoutOutput(cause))
    }

    /// The answer to an `abandon` step.
    public mutating func abandoned(_ answer: Result<Void, StoreError>, now: Duration) -> [Notice] {
        guard let part = writing?.parts.last, case .abandoning(var runs, let refusal) = part.form,
            let run = runs.first
        else { return [] }
        switch answer {
        case .success:
            stall.tryEnded(succeeded: true, at: now)
        case .failure(let error) where !error.isTransient:
            runs.removeFirst()
            setTopForm(.abandoning(runs, refusal))
            return [.abandonRefused(taskID: run.run.taskID, error)]
        case .failure:
            stall.tryEnded(succeeded: false, at: now)
            failed(now: now)
            return []
        }
        runs.removeFirst()
        updateTop {
            $0.form = .abandoning(runs, refusal)
            $0.failures = 0
        }
        return []
    }

    /// The answer to a `readBack` step: who holds each start on record (nil when the read failed:
    /// nothing is confirmed, and those runs are not started).
    public mutating func readBack(_ holders: [RunKey: ClaimToken]?) -> [Notice] {
        guard let current = writing, case .readingBack(let wanted) = current.stage else { return [] }
        // Only for those still waiting: one that gave up meanwhile was not run.
        for run in wanted where holders?[run.key] == run.token && durableStarts[run.key] == run.token {
            confirmedStarts.insert(run.key)
        }
        flushedGeneration = max(flushedGeneration, current.generation)
        writing?.stage = .outputsSoFar
        if current.outputsSoFar.isEmpty { writing = nil }
        return holders == nil ? [.startsUnconfirmed(count: wanted.count)] : []
    }

    /// The answer to a `writeOutputsSoFar` step: written once, and dropped if the store refuses it
    /// or cannot be reached (newer output comes within a second; the final output never depends on it).
    public mutating func outputsSoFarWritten(_ answer: Result<Void, StoreError>) -> [Notice] {
        guard let current = writing, case .outputsSoFar = current.stage else { return [] }
        writing = nil
        if case .failure(let error) = answer { return [.outputsSoFarDropped(error)] }
        return []
    }

    // MARK: Forms of a result

    static func reason(_ error: StoreError) -> String { "the result could not be stored: \(error.message)" }

    /// The batch without the values a store may refuse (output, error text), the reason in their
    /// place. A run keeps its status: a success whose output was lost still succeeded (calling
    /// it a failure would invite someone to run it again), and its row takes its plan.
    public static func plain(_ batch: RunBatch, reason error: StoreError) -> RunBatch {
        let reason = reason(error)
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
            if plain.finished[i].row?.plan.error != nil { plain.finished[i].row?.plan.error = reason }
        }
        return plain
    }
}

extension RunBatch {
    /// The batch in two, or nil for a single record.
    public var halves: (RunBatch, RunBatch)? {
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
