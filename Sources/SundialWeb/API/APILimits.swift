import Hummingbird

/// The limits the OpenAPI document declares that the generated code does not check itself
/// (lengths, ranges, sizes): a request outside them is a 400 naming the field, as the document
/// says, never an absurd value reaching the store.
enum APILimits {
    static func check<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, _ field: String) throws {
        guard let value else { return }
        guard range.contains(value) else {
            throw APIError(
                .badRequest, "bad_request", "\(field) must be from \(range.lowerBound) to \(range.upperBound)",
                field: field)
        }
    }

    static func length(_ value: String?, _ range: ClosedRange<Int>, _ field: String) throws {
        guard let value else { return }
        guard range.contains(value.count) else {
            throw APIError(
                .badRequest, "bad_request", "\(field) must have \(range.lowerBound) to \(range.upperBound) characters",
                field: field)
        }
    }

    /// Above zero and at most `maximum`.
    static func positive(_ value: Double?, maximum: Double, _ field: String) throws {
        guard let value else { return }
        guard value > 0, value <= maximum else {
            throw APIError(.badRequest, "bad_request", "\(field) must be above 0 and at most \(maximum)", field: field)
        }
    }
}
