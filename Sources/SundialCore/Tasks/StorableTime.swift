import Foundation

/// The instants a store can hold: what MySQL's DATETIME(6) holds, 1000-01-01 to 9999-12-31 UTC.
/// A schedule whose fire falls outside is refused with a readable error, never written.
public enum StorableTime {
    public static let range =
        Date(timeIntervalSince1970: -30_610_224_000)...Date(timeIntervalSince1970: 253_402_300_799.999_999)

    public static func contains(_ date: Date) -> Bool { range.contains(date) }
}
