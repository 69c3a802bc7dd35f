import DurableExecution
import Foundation
import GreenlightModels
import Postgres

/// A link token and the request it decides.
public struct LinkTokenRecord: Sendable, Equatable {
    public var tokenHash: String
    public var requestId: String
    public var approver: String
    public var expiresAt: Date
    public var usedAt: Date?
    public var status: ApprovalStatus
    public var amount: Double?
    public var currency: String?
    public var description: String
    public var requester: String?
    public var submittedAt: Date
    public var decidedBy: String?
    public var decidedAt: Date?
    /// The trace the request belongs to.
    public var trace: TraceContext?
    public var policy: ApprovalPolicy
    public var approverCount: Int
    /// The request ended because its deadline passed with no decision (whatever `onTimeout` made of that).
    public var endedByDeadline: Bool
    /// The database's time when the token was read: links expire, and clicks are dated, by the database's clock,
    /// never by the receiver host's.
    public var readAt: Date
    /// How the request reaches its approvers: only an emailed approver can be emailed a receipt.
    public var channel: NotificationChannel
    /// What the request carries beyond its core fields (title, details, links, action, response schema, reason rule).
    public var content: RequestContent

    public init(
        tokenHash: String, requestId: String, approver: String, expiresAt: Date, usedAt: Date?, status: ApprovalStatus,
        amount: Double?, currency: String?, description: String, requester: String?, submittedAt: Date,
        decidedBy: String?, decidedAt: Date?, trace: TraceContext? = nil, policy: ApprovalPolicy = .any,
        approverCount: Int = 1, endedByDeadline: Bool = false, readAt: Date, channel: NotificationChannel = .email,
        content: RequestContent = RequestContent()
    ) {
        self.content = content
        self.channel = channel
        self.readAt = readAt
        self.endedByDeadline = endedByDeadline
        self.policy = policy
        self.approverCount = approverCount
        self.tokenHash = tokenHash
        self.requestId = requestId
        self.approver = approver
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.status = status
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.submittedAt = submittedAt
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.trace = trace
    }
}
