import Foundation

/// A stage of a request's life. Topic `approvals.lifecycle`; each stage of each request is published once (none with
/// `GREENLIGHT_LIFECYCLE_EVENTS=false`).
public struct ApprovalLifecycle: GreenlightEvent {
    public static let eventType = "ApprovalLifecycle"
    public static let topic = Topic.lifecycle

    public enum Stage: String, Codable, Sendable, CaseIterable {
        /// The workflow started and recorded the request.
        case requested
        /// The approvers were sent their links (`approvers`).
        case notified
        /// Approvers who had not decided were reminded (`approvers`).
        case reminded
        /// Nobody had decided in time; `approvers` were added and notified.
        case escalated
        /// A decision settled the request (`decision`, `decidedBy`, `channel`).
        case decided
        /// The deadline passed with no decision.
        case expired
        /// The workflow ended (`status`); the outcome is on `approvals.outcomes`.
        case completed
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    public var stage: Stage
    public var at: Date
    public var approvers: [String]?
    public var decision: Decision?
    public var decidedBy: String?
    public var channel: DecisionChannel?
    public var status: ApprovalStatus?
    /// The request's `metadata`, echoed.
    public var metadata: JSONValue?

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, stage: Stage, at: Date, approvers: [String]? = nil,
        decision: Decision? = nil, decidedBy: String? = nil, channel: DecisionChannel? = nil, status: ApprovalStatus? = nil,
        metadata: JSONValue? = nil
    ) {
        self.metadata = metadata
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.stage = stage
        self.at = at
        self.approvers = approvers
        self.decision = decision
        self.decidedBy = decidedBy
        self.channel = channel
        self.status = status
    }
}
