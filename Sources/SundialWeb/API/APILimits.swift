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

    /// A choice among an enum's values: the generated code reads a nullable enum's `null` as a
    /// value of its own, the empty string, which the document does not allow.
    static func choice<T: RawRepresentable<String>>(_ value: T?, _ field: String) throws -> String? {
        guard let value else { return nil }
        guard !value.rawValue.isEmpty else {
            throw APIError(.badRequest, "bad_request", "\(field) must be one of the document's values", field: field)
        }
        return value.rawValue
    }

    /// Above zero and at most `maximum`.
    static func positive(_ value: Double?, maximum: Double, _ field: String) throws {
        guard let value else { return }
        guard value > 0, value <= maximum else {
            throw APIError(.badRequest, "bad_request", "\(field) must be above 0 and at most \(maximum)", field: field)
        }
    }
}
