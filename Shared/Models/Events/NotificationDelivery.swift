import Foundation

/// The notifier's report on one notification: delivered, being retried, or failed for good. Topic
/// `approvals.internal`, keyed by request id; the orchestrator keeps the latest per notification and writes each to
/// the execution's history.
public struct NotificationDelivery: GreenlightEvent {
    public static let eventType = "NotificationDelivery"
    public static let topic = Topic.internalCommands

    public enum Result: String, Codable, Sendable, CaseIterable {
        case delivered
        /// A temporary failure (a 4xx reply, connection trouble); another attempt follows.
        case retrying
        /// A permanent failure (a 5xx reply, a refused login) or no success after every attempt.
        case failed
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    /// The `eventId` of the `NotificationRequested` this reports on.
    public var notificationId: UUID
    public var approver: String
    public var kind: NotificationKind
    public var result: Result
    public var attempt: Int
    public var error: String?
    public var at: Date

    public init(
        eventId: UUID = UUID(), requestId: String, notificationId: UUID, approver: String, kind: NotificationKind,
        result: Result, attempt: Int, error: String?, at: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.notificationId = notificationId
        self.approver = approver
        self.kind = kind
        self.result = result
        self.attempt = attempt
        self.error = error
        self.at = at
    }
}
