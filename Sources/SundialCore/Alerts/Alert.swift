import Foundation

/// A stored alert (a row of `alert`), as delivery and listings see it.
public struct Alert: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case pending, delivered, failed }

    public var id: Int64
    public var draft: AlertDraft
    public var createdAt: Date
    public var status: Status
    /// Delivery attempts made so far, this one included once claimed.
    public var attempts: Int
    public var deliveredAt: Date?
    /// Why the last delivery attempt failed.
    public var error: String?
    /// The claim token of the delivery in progress, if claimed.
    public var claim: ClaimToken?

    public init(
        id: Int64, draft: AlertDraft, createdAt: Date, status: Status = .pending, attempts: Int = 0,
        deliveredAt: Date? = nil, error: String? = nil, claim: ClaimToken? = nil
    ) {
        (self.id, self.draft, self.createdAt, self.status, self.attempts) = (id, draft, createdAt, status, attempts)
        (self.deliveredAt, self.error, self.claim) = (deliveredAt, error, claim)
    }
}
