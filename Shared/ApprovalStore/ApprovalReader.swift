import DurableExecution
import Foundation
import GreenlightModels
import Postgres

/// Read-only look-ups for intake (status) and the callback receiver (link tokens).
public struct ApprovalReader: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static let statusColumns: StaticString = """
        request_id, execution_id, status, amount, currency, description, requester, approvers::text, submitted_at,
        expires_at, decided_by, decided_at, decision_channel, decision_comment, completed_at, error_type, error_message,
        policy, content::text AS content, response::text AS response, decided_on_behalf_of
        """

    public func status(requestId: String) async throws -> RequestStatusBody? {
        let rows = try await pool.query(
            "SELECT \(sql: Self.statusColumns) FROM approval_requests WHERE request_id = \(requestId)")
        guard var status = try rows.first.map(Self.statusBody(from:)) else { return nil }
        let votes = try await ApprovalVotes.read(requestId: requestId) { try await pool.query($0) }
        status.votes = votes.isEmpty ? nil : votes
        let deliveries = try await pool.query(
            """
            SELECT approver, kind, result, attempts, error, at FROM notification_deliveries
            WHERE request_id = \(requestId) ORDER BY at
            """
        ).decode((String, String, String, Int, String?, Date).self).map {
            NotificationStatus(
                approver: $0.0, kind: NotificationKind(rawValue: $0.1) ?? .request,
                result: NotificationDelivery.Result(rawValue: $0.2) ?? .failed, attempts: $0.3, error: $0.4, at: $0.5)
        }
        status.notifications = deliveries.isEmpty ? nil : deliveries
        let webhooks = try await pool.query(
            """
            SELECT webhook_id, event_type, result, attempts, status_code, error, at FROM webhook_deliveries
            WHERE request_id = \(requestId) ORDER BY at
            """
        ).decode((String, String?, String, Int, Int?, String?, Date).self).map {
            WebhookStatus(
                webhookId: $0.0, eventType: $0.1, result: WebhookDelivery.Result(rawValue: $0.2) ?? .failed, attempts: $0.3,
                statusCode: $0.4, error: $0.5, at: $0.6)
        }
        status.webhooks = webhooks.isEmpty ? nil : webhooks
        return status
    }

    /// Pending requests submitted before `submittedBefore` (all when nil), oldest first, at most `limit`.
    public func pending(submittedBefore: Date?, limit: Int) async throws -> [RequestStatusBody] {
        let rows = try await pool.query(
            """
            SELECT \(sql: Self.statusColumns) FROM approval_requests
            WHERE status = 'pending' AND submitted_at < \(submittedBefore ?? Date.distantFuture)
            ORDER BY submitted_at LIMIT \(limit)
            """)
        return try rows.map(Self.statusBody(from:))
    }

    static func statusBody(from row: PostgresRow) throws -> RequestStatusBody {
        let (id, executionId, status, amount, currency, description, requester, approvers) = try row.decode(
            (String, UUID, String, Double?, String?, String, String?, String).self)
        let (_, _, _, _, _, _, _, _, submittedAt, expiresAt, decidedBy, decidedAt, channel, comment, completedAt) =
            try row.decode(
                (String, UUID, String, Double?, String?, String, String?, String, Date, Date, String?, Date?, String?,
                    String?, Date?).self)
        let errorType = try row.decode(String?.self, column: "error_type")
        let errorMessage = try row.decode(String?.self, column: "error_message")
        let policy = ApprovalPolicy(storedAs: try row.decode(String.self, column: "policy")) ?? .any
        var body = RequestStatusBody(
            requestId: id, executionId: executionId, status: ApprovalStatus(rawValue: status) ?? .pending,
            amount: amount, currency: currency, description: description, requester: requester,
            approvers: PostgresArray.parse(approvers), submittedAt: submittedAt, expiresAt: expiresAt,
            decidedBy: decidedBy, decidedAt: decidedAt, channel: channel.flatMap(DecisionChannel.init(rawValue:)),
            comment: comment, completedAt: completedAt, errorType: errorType, errorMessage: errorMessage,
            policy: policy == .any ? nil : policy)
        body.content = try StoredJSON.decode(RequestContent.self, row, column: "content") ?? RequestContent()
        body.response = try StoredJSON.decode(JSONValue.self, row, column: "response")
        body.onBehalfOf = try row.decode(String?.self, column: "decided_on_behalf_of")
        return body
    }

    /// What a link token may do, with the request it belongs to. Nil when no such token exists.
    public func linkToken(hash: String) async throws -> LinkTokenRecord? {
        let rows = try await pool.query(
            """
            SELECT t.request_id, t.approver, t.expires_at, t.used_at, e.status, e.amount, e.currency, e.description,
                   e.requester, e.submitted_at, e.decided_by, e.decided_at, e.trace_parent, e.policy,
                   cardinality(e.approvers) AS approver_count, e.error_type, now() AS read_at, e.notify_channel,
                   e.content::text AS content
            FROM link_tokens t JOIN approval_requests e ON e.request_id = t.request_id
            WHERE t.token_hash = \(hash)
            """)
        guard let row = rows.first else { return nil }
        let (requestId, approver, expiresAt, usedAt, status, amount, currency, description, requester, submittedAt,
            decidedBy, decidedAt) = try row.decode(
                (String, String, Date, Date?, String, Double?, String?, String, String?, Date, String?, Date?).self)
        let trace = try row.decode(String?.self, column: "trace_parent")
        let policy = ApprovalPolicy(storedAs: try row.decode(String.self, column: "policy")) ?? .any
        let approverCount = try row.decode(Int.self, column: "approver_count")
        let errorType = try row.decode(String?.self, column: "error_type")
        let readAt = try row.decode(Date.self, column: "read_at")
        return LinkTokenRecord(
            tokenHash: hash, requestId: requestId, approver: approver, expiresAt: expiresAt, usedAt: usedAt,
            status: ApprovalStatus(rawValue: status) ?? .pending, amount: amount, currency: currency,
            description: description, requester: requester, submittedAt: submittedAt, decidedBy: decidedBy,
            decidedAt: decidedAt, trace: trace.flatMap(TraceContext.init(traceparent:)), policy: policy,
            approverCount: approverCount,
            endedByDeadline: errorType.map(DurableError.isTimeout) ?? false, readAt: readAt,
            channel: NotificationChannel(rawValue: try row.decode(String.self, column: "notify_channel")) ?? .email,
            content: try StoredJSON.decode(RequestContent.self, row, column: "content") ?? RequestContent())
    }

    /// What a decision on a request must give: its reason rule and response schema. Nil when no such request exists.
    public func decisionRules(requestId: String) async throws -> RequestContent? {
        try DecisionRules.parse(try await pool.query(DecisionRules.query(requestId: requestId)))
    }
}

/// A request's decision rules (its reason rule and response schema, in its content), for the writer (inside its
/// transaction) and the reader (from the pool).
enum DecisionRules {
    static func query(requestId: String) -> PostgresQuery {
        "SELECT content::text AS content FROM approval_requests WHERE request_id = \(requestId)"
    }

    /// Nil when no such request exists.
    static func parse(_ rows: PostgresRows) throws -> RequestContent? {
        guard let row = rows.first else { return nil }
        return try StoredJSON.decode(RequestContent.self, row, column: "content") ?? RequestContent()
    }
}

/// The votes of a request, for the writer (inside its transaction) and the reader (from the pool).
enum ApprovalVotes {
    static func read(requestId: String, _ run: (PostgresQuery) async throws -> PostgresRows) async throws -> [ApprovalVote] {
        try parse(try await run(query(requestId: requestId)))
    }

    static func query(requestId: String) -> PostgresQuery {
        """
        SELECT approver, decision, channel, comment, decided_at, client_address, user_agent, api_key,
               response::text AS response, on_behalf_of
        FROM approval_votes WHERE request_id = \(requestId) ORDER BY id
        """
    }

    static func parse(_ rows: PostgresRows) throws -> [ApprovalVote] {
        try rows.map { stored in
            let row = try stored.decode((String, String, String, String?, Date, String?, String?, String?).self)
            return ApprovalVote(
                approver: row.0, decision: Decision(rawValue: row.1) ?? .reject,
                channel: DecisionChannel(rawValue: row.2) ?? .api, comment: row.3, decidedAt: row.4, clientAddress: row.5,
                userAgent: row.6, apiKey: row.7,
                response: try StoredJSON.decode(JSONValue.self, stored, column: "response"),
                onBehalfOf: try stored.decode(String?.self, column: "on_behalf_of"))
        }
    }
}

/// A jsonb column read as text and decoded.
enum StoredJSON {
    static func decode<Value: Decodable>(_ type: Value.Type, _ row: PostgresRow, column: String) throws -> Value? {
        guard let text = try row.decode(String?.self, column: column) else { return nil }
        return try GreenlightJSON.decode(Value.self, from: Data(text.utf8))
    }
}
