import Foundation
import Synchronization

/// The UTC offsets of one IANA time zone, as a sorted table of transitions.
///
/// Foundation answers "what offset is in force at this instant", but each answer costs a trip
/// through ICU. The schedule search asks that question many times, so each zone's transitions
/// between 1900 and 2201 are read once into a table and every later question is a binary search.
/// The table splits time into *segments*: runs of instants with one constant offset.
final class ZoneRules: Sendable {
    let identifier: String
    /// UTC seconds at which a new offset takes effect, ascending.
    let transitions: [Int64]
    /// `offsets[i]` is in force in segment `i`: from `transitions[i - 1]` (or the beginning of
    /// time) up to `transitions[i]` (or the end of time). One more entry than `transitions`.
    let offsets: [Int64]

    private static let tableStart = Date(timeIntervalSince1970: -2_208_988_800)  // 1900-01-01
    private static let tableEnd = Date(timeIntervalSince1970: 7_289_654_400)  // 2201-01-01
    private static let cache = Mutex<[String: ZoneRules]>([:])

    static let utc = ZoneRules(identifier: "UTC", transitions: [], offsets: [0])

    private init(identifier: String, transitions: [Int64], offsets: [Int64]) {
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
    }

    /// The rules of an IANA zone, or nil when the system's time zone database does not know it.
    static func named(_ identifier: String) -> ZoneRules? {
        if identifier == "UTC" || identifier == "Etc/UTC" { return utc }
        if let cached = cache.withLock({ $0[identifier] }) { return cached }
        // Foundation accepts abbreviations ("EST") and offsets ("GMT+2"); a task's zone must be a
        // real IANA name so that it means the same on every executor.
        guard identifier.contains("/") || TimeZone.knownTimeZoneIdentifiers.contains(identifier),
            let zone = TimeZone(identifier: identifier)
        else { return nil }
        var transitions: [Int64] = []
        var offsets: [Int64] = [Int64(zone.secondsFromGMT(for: tableStart))]
        var cursor = tableStart
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < tableEnd {
            let offset = Int64(zone.secondsFromGMT(for: next))
            if offset != offsets.last {
                transitions.append(Int64(next.timeIntervalSince1970.rounded(.down)))
                offsets.append(offset)
            }
            cursor = next
        }
        let rules = ZoneRules(identifier: identifier, transitions: transitions, offsets: offsets)
        return cache.withLock { table in
            if let raced = table[identifier] { return raced }
            table[identifier] = rules
            return rules
        }
    }

    var segmentCount: Int { offsets.count }

    /// The index of the segment that holds the UTC instant `utc`.
    func segment(containing utc: Int64) -> Int {
        var low = 0
        var high = transitions.count
        while low < high {
            let mid = (low + high) / 2
            if transitions[mid] <= utc { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// First instant of segment `i`; `Int64.min` for the first.
    func start(ofSegment i: Int) -> Int64 { i == 0 ? Int64.min : transitions[i - 1] }

    /// First instant after segment `i`; `Int64.max` for the last.
    func end(ofSegment i: Int) -> Int64 { i == transitions.count ? Int64.max : transitions[i] }

    func offset(atUTC utc: Int64) -> Int64 { offsets[segment(containing: utc)] }
}
