import Foundation
import Logging
import SundialCore

/// Group commit for run bookkeeping: started and finished runs are queued and written by one
/// thread in batches, each batch one store call. The decisions (batching, splitting a refused
/// batch, repeating a failed one, confirming durable starts, judging a stall) are
/// `RecorderMachine`'s; this class owns the thread, the lock and the store calls.
///
/// The queue is bounded: when it is full, finishing runs wait for room, so a store that stops
/// answering slows the executor down instead of filling its memory.
public final class RunRecorder: @unchecked Sendable {
    public let store: any ClaimStore
    let logger: Logger
    private let condition = MonotonicCondition()
    private var machine: RecorderMachine
    /// The monotonic clock's origin for the machine's times.
    private let origin = ContinuousClock.now

    public init(store: any ClaimStore, logger: Logger, capacity: Int = 50_000) {
        self.store = store
        self.logger = logger
        self.machine = RecorderMachine(settings: .init(capacity: capacity))
    }

    private var now: Duration { .now - origin }

    public func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "sundial-recorder"
        thread.start()
    }

    /// How long results have been failing or hanging on their way to the store, if they are.
    public var stalledFor: Duration? {
        condition.lock()
        defer { condition.unlock() }
        return machine.stalledFor(at: now)
    }

    /// Whether the executor may renew its lease: not once results have been stuck a whole `lease`.
    public func mayRenew(lease: Duration) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return machine.mayRenew(lease: lease, at: now)
    }

    /// Entries waiting to be written.
    public var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return machine.queued
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
        let (generation, wake) = machine.queueStarted(run, durable: durable, now: now)
        if wake { condition.broadcast() }
        guard durable else { return true }
        waitUntilWritten(generation, until: .now + .seconds(timeout))
        return machine.settleDurableStart(run.key)
    }

    public func runFinished(_ run: FinishedRun) {
        condition.lock()
        waitForRoom()
        if machine.queueFinished(run, now: now) { condition.broadcast() }
        condition.unlock()
    }

    /// Queues the output so far of running attempts, replacing any not yet written: written with
    /// the next batch, never waited for.
    public func runProgress(_ updates: [RunProgress]) {
        guard !updates.isEmpty else { return }
        condition.lock()
        if machine.queueProgress(updates, now: now) { condition.broadcast() }
        condition.unlock()
    }

    /// Under the lock.
    private func waitForRoom() {
        while !machine.hasRoom { condition.wait() }
    }

    /// Under the lock.
    @discardableResult
    private func waitUntilWritten(_ generation: Int, until deadline: ContinuousClock.Instant) -> Bool {
        condition.broadcast()
        while !machine.isWritten(generation) {
            if !condition.wait(until: deadline) { return machine.isWritten(generation) }
        }
        return true
    }

    /// Blocks until everything queued so far is written (or `timeout` passes).
    @discardableResult
    public func flush(timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return waitUntilWritten(machine.flushRequested(), until: .now + .seconds(timeout))
    }

    /// How long a stop waits for what is queued to be written.
    public static let stopTimeout: TimeInterval = 30

    /// Writes what is queued (for up to `timeout`) and stops the thread. What could not be written
    /// by then stays unwritten: the executor's recovery of itself, or its lease's end, settles it.
    public func stop(timeout: TimeInterval = stopTimeout) {
        flush(timeout: timeout)
        condition.lock()
        machine.stop()
        condition.broadcast()
        condition.unlock()
    }

    /// The recorder's thread: carries out the machine's steps, the store calls outside the lock.
    private func loop() {
        condition.lock()
        defer { condition.unlock() }
        while true {
            var notices: [RecorderMachine.Notice] = []
            switch machine.next(now: now) {
            case .stopped:
                condition.broadcast()
                return
            case .idle:
                condition.wait()
                continue
            case .wait(let until):
                condition.wait(until: origin + until)
                continue
            case .write(let batch):
                let answer = unlocked { () throws(StoreError) in try store.record(batch) }
                notices = machine.written(answer, now: now)
            case .probe:
                let answer = unlocked { () throws(StoreError) in _ = try store.now() }
                machine.probed(answered: (try? answer.get()) != nil, now: now)
            case .abandon(let run, let reason):
                let answer = unlocked { () throws(StoreError) in try store.abandonResult(run, reason: reason) }
                notices = machine.abandoned(answer, now: now)
            case .readBack(let keys):
                let answer = unlocked { () throws(StoreError) in try store.runHolders(keys) }
                notices = machine.readBack(try? answer.get())
            case .writeOutputsSoFar(let batch):
                let answer = unlocked { () throws(StoreError) in try store.record(batch) }
                notices = machine.outputsSoFarWritten(answer)
            }
            // Room again for producers, or a generation written for those who wait.
            condition.broadcast()
            if !notices.isEmpty {
                condition.unlock()
                for notice in notices { log(notice) }
                condition.lock()
            }
        }
    }

    /// Under the lock: runs `call` without it. Producers waiting for room are woken first: taking
    /// a batch made room, and a hanging store call must not keep them waiting.
    private func unlocked<T>(_ call: () throws(StoreError) -> T) -> Result<T, StoreError> {
        condition.broadcast()
        condition.unlock()
        defer { condition.lock() }
        do {
            return .success(try call())
        } catch {
            return .failure(error)
        }
    }

    private func log(_ notice: RecorderMachine.Notice) {
        switch notice {
        case .retrying(let error, let runs):
            logger.error("writing run results failed; retrying", metadata: ["error": "\(error)", "runs": "\(runs)"])
        case .refused(let error):
            logger.error(
                "a run result was refused by the store; recording the refusal instead", metadata: ["error": "\(error)"])
        case .unstorable(let error):
            logger.critical(
                "a run result could not be stored at all; its task is marked invalid", metadata: ["error": "\(error)"])
        case .writtenWithoutOutput(let error):
            logger.error(
                "a run result broke the connection each time it was written; recorded without its output",
                metadata: ["error": "\(error)"])
        case .abandonRefused(let taskID, let error):
            logger.critical(
                "could not abandon a result that cannot be stored; its row and run are settled when this executor stops or its lease ends",
                metadata: ["task": "\(taskID)", "error": "\(error)"])
        case .startsUnconfirmed(let count):
            logger.warning("could not read back durable starts; they are not run", metadata: ["runs": "\(count)"])
        case .outputsSoFarDropped(let error):
            logger.debug("could not write the output so far of running attempts", metadata: ["error": "\(error)"])
        }
    }
}
