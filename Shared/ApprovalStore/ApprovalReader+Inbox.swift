import Foundation
import GreenlightModels
import Postgres

/// A pending request waiting on one approver, as their inbox shows it.
public struct InboxItem: Sendable, Equatable {
    public var requestId: String
    public var amount: Double?
    public var currency: String?
    public var description: String
    public var requester: String?
    public var submittedAt: Date
    public var expiresAt: Date
    public var policy: ApprovalPolicy
    public var approverCount: Int
    /// Approvals and rejections recorded so far (by the other approvers).
    public var approvals: Int
    public var rejections: Int
    public var content: RequestContent
    /// The request's trace: a decision from the inbox joins it.
    public var trace: TraceContext?
    /// The database's time when the item was read: decisions are dated by it.
    public var readAt: Date

    public init(
        requestId: String, amount: Double?, currency: String?, description: String, requester: String?,
        submittedAt: Date, expiresAt: Date, policy: ApprovalPolicy, approverCount: Int, approvals: Int, rejections: Int,
        content: RequestContent, trace: TraceContext? = nil, readAt: Date
    ) {
        self.requestId = requestId
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.submittedAt = submittedAt
        self.expiresAt = expiresAt
        self.policy = policy
        self.approverCount = approverCount
        self.approvals = approvals
        self.rejections = rejections
        self.content = content
        self.trace = trace
        self.readAt = readAt
    }

    /// Approvals needed in all; nil when the first decision decides (`any`).
    public var approvalsNeeded: Int? { policy.approvalsNeeded(of: approverCount) }
}

extension ApprovalReader {
    static let inboxColumns: StaticString = """
        r.request_id, r.amount, r.currency, r.description, r.requester, r.submitted_at, r.expires_at, r.policy,
        cardinality(r.approvers) AS approver_count,
        (SELECT count(*) FROM approval_votes v WHERE v.request_id = r.request_id AND v.decision = 'approve') AS approvals,
        (SELECT count(*) FROM approval_votes v WHERE v.request_id = r.request_id AND v.decision = 'reject') AS rejections,
        r.content::text AS content, r.trace_parent, now() AS read_at
        """

    /// What makes a request wait on the person `me.email` (lower case): pending and before its deadline; they are one of
    /// its approvers, or stand in for one (a delegation, `approval_stand_ins`) whose place has no vote yet; and they
    /// have not voted on it themselves.
    static let waitsOnMe: StaticString = """
        r.status = 'pending' AND r.expires_at > now()
        AND (EXISTS (SELECT 1 FROM unnest(r.approvers) a WHERE lower(a) = me.email)
             OR EXISTS (
                 SELECT 1 FROM approval_stand_ins s
                 WHERE s.request_id = r.request_id AND s.ended_at IS NULL AND lower(s.delegate) = me.email
                   AND NOT EXISTS (
                       SELECT 1 FROM approval_votes v
                       WHERE v.request_id = r.request_id AND lower(coalesce(v.on_behalf_of, v.approver)) = lower(s.approver))))
        AND NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.request_id = r.request_id AND lower(v.approver) = me.email)
        """

    /// What waits on `approver` (any case, `waitsOnMe`): the nearest deadline first, then the newest. At most `limit`.
    public func inbox(for approver: String, limit: Int = 200) async throws -> [InboxItem] {
        try await pool.query(
            """
            SELECT \(sql: Self.inboxColumns) FROM (SELECT lower(\(approver)) AS email) me, approval_requests r
            WHERE \(sql: Self.waitsOnMe)
            ORDER BY r.expires_at, r.submitted_at DESC, r.request_id
            LIMIT \(limit)
            """
        ).map(Self.inboxItem(from:))
    }

    /// One request of `approver`'s inbox; nil when it is not there (decided, past its deadline, not theirs, voted).
    public func inboxItem(requestId: String, for approver: String) async throws -> InboxItem? {
        try await pool.query(
            """
            SELECT \(sql: Self.inboxColumns) FROM (SELECT lower(\(approver)) AS email) me, approval_requests r
            WHERE r.request_id = \(requestId) AND \(sql: Self.waitsOnMe)
            """
        ).first.map(Self.inboxItem(from:))
    }

    /// Whether `email` (any case) is an approver of a pending request, or stands in for one on it (a delegation): who
    /// may be sent a sign-in link.
    public func hasPendingRequests(approver email: String) async throws -> Bool {
        try await pool.query(
            """
            SELECT EXISTS (
                SELECT 1 FROM approval_requests r
                WHERE r.status = 'pending'
                  AND (EXISTS (SELECT 1 FROM unnest(r.approvers) a WHERE lower(a) = lower(\(email)))
                       OR EXISTS (SELECT 1 FROM approval_stand_ins s
                                  WHERE s.request_id = r.request_id AND s.ended_at IS NULL AND lower(s.delegate) = lower(\(email)))))
            """
        ).column(Bool.self).first ?? false
    }

    /// Everyone something waits on now (`waitsOnMe`'s people: approvers of pending requests and those standing in for
    /// one), in lower case, in order: whom the daily digest goes to (each then gets `inbox(for:)`).
    public func peopleWithPendingRequests() async throws -> [String] {
        try await pool.query(
            """
            SELECT lower(a) FROM approval_requests r, unnest(r.approvers) a
            WHERE r.status = 'pending' AND r.expires_at > now()
            UNION
            SELECT lower(s.delegate) FROM approval_stand_ins s JOIN approval_requests r ON r.request_id = s.request_id
            WHERE r.status = 'pending' AND r.expires_at > now() AND s.ended_at IS NULL
            ORDER BY 1
            """
        ).column(String.self)
    }

    static func inboxItem(from row: PostgresRow) throws -> InboxItem {
        let (id, amount, currency, description, requester, submittedAt, expiresAt, policy, approverCount, approvals,
            rejections) = try row.decode((String, Double?, String?, String, String?, Date, Date, String, Int, Int, Int).self)
        return InboxItem(
            requestId: id, amount: amount, currency: currency, description: description, requester: requester,
            submittedAt: submittedAt, expiresAt: expiresAt, policy: ApprovalPolicy(storedAs: policy) ?? .any,
            approverCount: approverCount, approvals: approvals, rejections: rejections,
            content: try StoredJSON.decode(RequestContent.self, row, column: "content") ?? RequestContent(),
            trace: try row.decode(String?.self, column: "trace_parent").flatMap(TraceContext.init(traceparent:)),
            readAt: try row.decode(Date.self, column: "read_at"))
    }
}
