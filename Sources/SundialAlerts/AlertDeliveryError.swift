/// Why an alert could not be delivered, in words for the `alert.error` column and the log.
public struct AlertDeliveryError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
