import Foundation

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
    /// The approver whose place `decidedBy` decided in, as their delegate ("B on behalf of A").
    public var onBehalfOf: String?
    public var decidedAt: Date?
    public var channel: DecisionChannel?
    public var comment: String?
    /// For `failed` and `cancelled`: why.
    public var errorType: String?
    public var errorMessage: String?
    /// Every approver's decision that counted, in order (the audit trail); empty when nobody decided.
    public var votes: [ApprovalVote]?
    /// The name of the API key of the decision or cancellation that ended the request, when it came through a
    /// program API.
    public var apiKey: String?
    public var completedAt: Date
    /// The request's title and `metadata`, echoed.
    public var title: String?
    public var metadata: JSONValue?
    /// The answers of the decision that settled the request, checked against its `responseSchema`.
    public var response: JSONValue?
    /// For a request with an `action`: the SHA-256 of its RFC 8785 canonical JSON — what was approved, exactly.
    public var actionDigest: String?

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, status: ApprovalStatus, decidedBy: String?,
        decidedAt: Date?, channel: DecisionChannel?, comment: String?, errorType: String? = nil,
        errorMessage: String? = nil, votes: [ApprovalVote]? = nil, apiKey: String? = nil, completedAt: Date
    ) {
        self.apiKey = apiKey
        self.votes = votes
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.status = status
        self.approved = status == .approved
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.channel = channel
        self.comment = comment
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.completedAt = completedAt
    }
}
