import Foundation

/// Every event on a Greenlight topic: an id consumers dedupe on, a type name, a schema version and the
/// request it belongs to (which is also its Kafka key, so one workflow's events stay in order).
public protocol GreenlightEvent: Codable, Sendable, Equatable {
    /// The `type` field's value for this event.
    static var eventType: String { get }
    /// The topic this event travels on.
    static var topic: Topic { get }
    var eventId: UUID { get }
    var requestId: String { get }
}

/// How a decision reached Greenlight.
public enum DecisionChannel: String, Codable, Sendable, CaseIterable {
    case link
    case api
    case kafka
}

/// What an approver decided.
public enum Decision: String, Codable, Sendable, CaseIterable {
    case approve
    case reject
}

/// The state of an approval request as clients see it.
public enum ApprovalStatus: String, Codable, Sendable, CaseIterable {
    case pending
    case approved
    case rejected
    case timedOut = "timed_out"

    public var isTerminal: Bool { self != .pending }
}

/// A new approval request, accepted by intake. Topic `approvals.requests`.
public struct ApprovalRequested: GreenlightEvent {
    public static let eventType = "ApprovalRequested"
    public static let topic = Topic.requests

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var amount: Double
    public var currency: String
    public var description: String
    public var requester: String?
    public var approvers: [String]
    public var timeoutSeconds: Int
    public var submittedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, amount: Double, currency: String, description: String,
        requester: String?, approvers: [String], timeoutSeconds: Int, submittedAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.approvers = approvers
        self.timeoutSeconds = timeoutSeconds
        self.submittedAt = submittedAt
    }
}

/// Ask the notifier to tell one approver about a request. Topic `approvals.notifications`.
///
/// It carries the approver's raw link token, which exists nowhere else (Postgres holds only its hash), so this
/// topic must stay internal.
public struct NotificationRequested: GreenlightEvent {
    public static let eventType = "NotificationRequested"
    public static let topic = Topic.notifications

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    public var approver: String
    public var linkToken: String
    public var amount: Double
    public var currency: String
    public var description: String
    public var requester: String?
    public var submittedAt: Date
    public var expiresAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, approver: String, linkToken: String,
        amount: Double, currency: String, description: String, requester: String?, submittedAt: Date, expiresAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.approver = approver
        self.linkToken = linkToken
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.submittedAt = submittedAt
        self.expiresAt = expiresAt
    }
}

/// A decision on a request, from a link click, the API or another system. Topic `approvals.decisions`.
public struct DecisionSubmitted: GreenlightEvent {
    public static let eventType = "DecisionSubmitted"
    public static let topic = Topic.decisions

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var decision: Decision
    public var decidedBy: String
    public var channel: DecisionChannel
    public var comment: String?
    public var decidedAt: Date
    /// Hex SHA-256 of the link token used, for decisions made through a link.
    public var tokenHash: String?

    public init(
        eventId: UUID = UUID(), requestId: String, decision: Decision, decidedBy: String, channel: DecisionChannel,
        comment: String?, decidedAt: Date, tokenHash: String?
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.decision = decision
        self.decidedBy = decidedBy
        self.channel = channel
        self.comment = comment
        self.decidedAt = decidedAt
        self.tokenHash = tokenHash
    }
}

/// The end of a request's workflow. Topic `approvals.outcomes`; published once per workflow.
public struct ApprovalCompleted: GreenlightEvent {
    public static let eventType = "ApprovalCompleted"
    public static let topic = Topic.outcomes

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    public var status: ApprovalStatus
    /// True only when the request was approved; a timeout rejects.
    public var approved: Bool
    public var decidedBy: String?
    public var decidedAt: Date?
    public var channel: DecisionChannel?
    public var comment: String?
    public var completedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, status: ApprovalStatus, decidedBy: String?,
        decidedAt: Date?, channel: DecisionChannel?, comment: String?, completedAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.status = status
        self.approved = status == .approved
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.channel = channel
        self.comment = comment
        self.completedAt = completedAt
    }
}
