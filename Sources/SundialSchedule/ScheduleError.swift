/// Why a schedule could not be parsed or validated. Messages name the field, the offending text
/// and the reason, e.g. `day-of-week: 8 is out of range 0-7`.
public struct ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault, when the fault lies in one field.
    public var field: CronField?
    /// A readable sentence.
    public var message: String

    public init(field: CronField? = nil, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String {
        if let field { return "\(field.rawValue): \(message)" }
        return message
    }
}
