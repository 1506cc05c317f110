/// What the shell supervisor decides, without I/O: when the command must end, and how hard.
///
/// The executor writes to the supervisor's liveness pipe, every 100 ms while it is healthy, how
/// long the command may certainly still run (`<milliseconds>\n`: its lease, less a margin), `K`
/// for a kill request and `F` when it fences itself off. The command must be dead before the
/// lease could run out, because then another executor may start the same fire: so when no fresh
/// word arrives (the executor is frozen, or starved of CPU), the supervisor sends SIGTERM
/// `fenceGrace` before that time and SIGKILL at it. A closed pipe (the executor died) or `F` ends
/// the command at once, with the same short grace.
public struct SupervisorWatch: Sendable {
    public enum Action: Equatable, Sendable {
        case none
        /// SIGTERM to the command's process group.
        case terminate
        /// SIGKILL to the command's process group.
        case kill
    }

    let start: Double
    /// Seconds; 0: none.
    let timeout: Double
    /// Between SIGTERM and SIGKILL for a timeout or a kill request.
    let grace: Double
    /// Between SIGTERM and SIGKILL when the executor is gone, silent or fenced.
    let fenceGrace: Double

    public private(set) var ending: Supervisor.Ending?
    /// When the command is ended as orphaned unless fresh word comes.
    public private(set) var orphanAt: Double
    private var killAt: Double?
    private var terminated = false
    private var killed = false
    private var line: [UInt8] = []

    /// `leaseLeft`: seconds the command may certainly still run, as of `now`.
    public init(now: Double, timeout: Double, grace: Double, fenceGrace: Double, leaseLeft: Double) {
        (start, self.timeout, self.grace, self.fenceGrace) = (now, timeout, grace, fenceGrace)
        orphanAt = now + leaseLeft - fenceGrace
    }

    /// Bytes read from the liveness pipe.
    public mutating func received(_ bytes: some Sequence<UInt8>, now: Double) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "K"): end(.killed, grace: grace, now: now)
            case UInt8(ascii: "F"): end(.orphaned, grace: fenceGrace, now: now)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): line.append(byte)
            case UInt8(ascii: "\n"):
                if let milliseconds = Double(String(decoding: line, as: UTF8.self)) {
                    orphanAt = max(orphanAt, now + milliseconds / 1000 - fenceGrace)
                }
                line.removeAll()
            default: line.removeAll()
            }
        }
    }

    /// The pipe closed: the executor is gone.
    public mutating func executorGone(now: Double) {
        end(.orphaned, grace: fenceGrace, now: now)
    }

    /// What to do at `now`; each of terminate and kill is returned once.
    public mutating func poll(now: Double) -> Action {
        if ending == nil {
            if timeout > 0 && now >= start + timeout {
                end(.timedOut, grace: grace, now: now)
            } else if now >= orphanAt {
                end(.orphaned, grace: fenceGrace, now: now)
            }
        }
        guard ending != nil else { return .none }
        if !terminated {
            terminated = true
            return .terminate
        }
        if !killed, let killAt, now >= killAt {
            killed = true
            return .kill
        }
        return .none
    }

    /// Seconds until `poll` may have something to do, at most a quarter of a second.
    public func wait(now: Double) -> Double {
        var next = now + 0.25
        if ending == nil {
            next = min(next, orphanAt)
            if timeout > 0 { next = min(next, start + timeout) }
        } else if !terminated {
            next = now
        } else if !killed, let killAt {
            next = min(next, killAt)
        }
        return max(0, next - now)
    }

    /// The first reason wins; a later, more urgent one only shortens the grace.
    private mutating func end(_ why: Supervisor.Ending, grace: Double, now: Double) {
        if ending == nil { ending = why }
        killAt = min(killAt ?? .infinity, now + grace)
    }
}
