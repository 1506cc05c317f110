/// What an executor tells its job supervisor, one frame each on their socket: a 4-byte length
/// (little-endian), then fields separated by NUL bytes, the first naming the message.
///
/// A `start` carries two descriptors (SCM_RIGHTS, with the frame's first bytes): where the job's
/// output goes, and where the supervisor reports on it (`pid N`, then how it ended).
public enum JobMessage: Equatable, Sendable {
    case start(JobRequest)
    /// The executor's lease is certainly valid for this many more milliseconds: every job may run
    /// until then.
    case lease(milliseconds: Int)
    /// A kill request for one job (SIGTERM, SIGKILL after its grace).
    case kill(job: UInt64)
    /// The executor is stopping or fenced off: the job goes with the short grace.
    case fence(job: UInt64)

    /// The frame, length first.
    public var frame: [UInt8] {
        var fields: [String]
        switch self {
        case .start(let r):
            fields = [
                "S", String(r.id), String(r.timeout), String(r.grace), String(r.fenceGrace), String(r.leaseLeft),
                r.directory ?? "", String(r.arguments.count),
            ]
            fields += r.arguments + r.environment
        case .lease(let milliseconds): fields = ["L", String(milliseconds)]
        case .kill(let job): fields = ["K", String(job)]
        case .fence(let job): fields = ["F", String(job)]
        }
        let payload = Array(fields.joined(separator: "\0").utf8)
        let length = UInt32(payload.count)
        return [UInt8(length & 0xff), UInt8(length >> 8 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 24)]
            + payload
    }

    /// Parses one frame's payload; nil when it is not a message (it is then skipped).
    public init?(payload: ArraySlice<UInt8>) {
        let fields = payload.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        switch fields.first {
        case "L":
            guard fields.count == 2, let milliseconds = Int(fields[1]) else { return nil }
            self = .lease(milliseconds: milliseconds)
        case "K":
            guard fields.count == 2, let job = UInt64(fields[1]) else { return nil }
            self = .kill(job: job)
        case "F":
            guard fields.count == 2, let job = UInt64(fields[1]) else { return nil }
            self = .fence(job: job)
        case "S":
            guard fields.count >= 9, let id = UInt64(fields[1]), let timeout = Double(fields[2]),
                let grace = Double(fields[3]), let fenceGrace = Double(fields[4]), let leaseLeft = Double(fields[5]),
                let count = Int(fields[7]), count >= 1, fields.count >= 8 + count
            else { return nil }
            self = .start(
                JobRequest(
                    id: id, timeout: timeout, grace: grace, fenceGrace: fenceGrace, leaseLeft: leaseLeft,
                    directory: fields[6].isEmpty ? nil : fields[6], arguments: Array(fields[8..<(8 + count)]),
                    environment: Array(fields[(8 + count)...])))
        default:
            return nil
        }
    }
}

/// One command to run under supervision.
public struct JobRequest: Equatable, Sendable {
    /// Chosen by the executor, unique while the supervisor lives.
    public var id: UInt64
    /// Seconds; 0: none.
    public var timeout: Double
    /// Between SIGTERM and SIGKILL after a timeout or kill request.
    public var grace: Double
    /// Between SIGTERM and SIGKILL when the executor is gone, silent or fenced off.
    public var fenceGrace: Double
    /// Seconds the executor's lease is certainly still valid, as the request is sent.
    public var leaseLeft: Double
    /// Working directory (absolute), or nil for the supervisor's.
    public var directory: String?
    /// The program and its arguments (`/bin/sh -c command`).
    public var arguments: [String]
    /// `NAME=value` entries: the whole environment of the job.
    public var environment: [String]

    public init(
        id: UInt64, timeout: Double, grace: Double, fenceGrace: Double, leaseLeft: Double, directory: String?,
        arguments: [String], environment: [String]
    ) {
        (self.id, self.timeout, self.grace, self.fenceGrace, self.leaseLeft) = (
            id, timeout, grace, fenceGrace, leaseLeft
        )
        (self.directory, self.arguments, self.environment) = (directory, arguments, environment)
    }
}

/// Bytes from the socket in, whole messages out.
public struct JobMessageReader: Sendable {
    /// Frames above this are refused (the supervisor gives up on its executor).
    public static let largestFrame = 64 << 20
    private var buffer: [UInt8] = []
    private var consumed = 0

    public init() {}

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if consumed > 0 && consumed == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            consumed = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public enum Next: Equatable {
        case message(JobMessage)
        /// A whole frame that is no message (skipped); a `start` among them still took its descriptors.
        case unreadable(startedWithS: Bool)
        case needMore
        case tooLarge
    }

    public mutating func next() -> Next {
        let available = buffer.count - consumed
        guard available >= 4 else { return .needMore }
        let b = buffer[consumed..<consumed + 4].map(Int.init)
        let length = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
        guard length <= Self.largestFrame else { return .tooLarge }
        guard available >= 4 + length else { return .needMore }
        let payload = buffer[(consumed + 4)..<(consumed + 4 + length)]
        consumed += 4 + length
        if let message = JobMessage(payload: payload) { return .message(message) }
        return .unreadable(startedWithS: payload.first == UInt8(ascii: "S"))
    }
}
