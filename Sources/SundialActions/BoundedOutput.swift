/// Captures up to `limit` bytes of a run's output, keeping the head and the tail: the start says
/// what the job did, the end says how it ended.
struct BoundedOutput {
    let limit: Int
    private(set) var head: [UInt8] = []
    private var tail: [UInt8] = []
    private var tailStart = 0
    private(set) var total = 0

    init(limit: Int) {
        self.limit = max(limit, 64)
    }

    private var headLimit: Int { limit / 2 }
    private var tailLimit: Int { limit - headLimit }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        total += bytes.count
        var rest = bytes[...]
        if head.count < headLimit {
            let take = min(headLimit - head.count, rest.count)
            head.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
        }
        guard !rest.isEmpty else { return }
        // A ring buffer for the tail, so long outputs cost O(output), not O(output × limit).
        if tail.count < tailLimit {
            let take = min(tailLimit - tail.count, rest.count)
            tail.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
        }
        for byte in rest {
            tail[tailStart] = byte
            tailStart = (tailStart + 1) % tailLimit
        }
    }

    /// The captured text, with a marker where bytes were dropped.
    var text: String {
        let orderedTail = Array(tail[tailStart...] + tail[..<tailStart])
        let dropped = total - head.count - orderedTail.count
        if dropped <= 0 { return String(decoding: head + orderedTail, as: UTF8.self) }
        return String(decoding: head, as: UTF8.self) + "\n… \(dropped) bytes omitted …\n"
            + String(decoding: orderedTail, as: UTF8.self)
    }
}
