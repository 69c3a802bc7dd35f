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
        policy
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
            (String, UUID, String, Double, String, String, String?, String).self)
        let (_, _, _, _, _, _, _, _, submittedAt, expiresAt, decidedBy, decidedAt, channel, comment, completedAt) =
            try row.decode(
                (String, UUID, String, Double, String, String, String?, String, Date, Date, String?, Date?, String?,
                    String?, Date?).self)
        let errorType = try row.decode(String?.self, column: "error_type")
        let errorMessage = try row.decode(String?.self, column: "error_message")
        let policy = ApprovalPolicy(storedAs: try row.decode(String.self, column: "policy")) ?? .any
        return RequestStatusBody(
            requestId: id, executionId: executionId, status: ApprovalStatus(rawValue: status) ?? .pending,
            amount: amount, currency: currency, description: description, requester: requester,
            approvers: PostgresTextArray.parse(approvers), submittedAt: submittedAt, expiresAt: expiresAt,
            decidedBy: decidedBy, decidedAt: decidedAt, channel: channel.flatMap(DecisionChannel.init(rawValue:)),
            comment: comment, completedAt: completedAt, errorType: errorType, errorMessage: errorMessage,
            policy: policy == .any ? nil : policy)
    }

    /// What a link token may do, with the request it belongs to. Nil when no such token exists.
    public func linkToken(hash: String) async throws -> LinkTokenRecord? {
        let rows = try await pool.query(
            """
            SELECT t.request_id, t.approver, t.expires_at, t.used_at, e.status, e.amount, e.currency, e.description,
                   e.requester, e.submitted_at, e.decided_by, e.decided_at, e.trace_parent, e.policy,
                   cardinality(e.approvers) AS approver_count, e.error_type, now() AS read_at, e.notify_channel
            FROM link_tokens t JOIN approval_requests e ON e.request_id = t.request_id
            WHERE t.token_hash = \(hash)
            """)
        guard let row = rows.first else { return nil }
        let (requestId, approver, expiresAt, usedAt, status, amount, currency, description, requester, submittedAt,
            decidedBy, decidedAt) = try row.decode(
                (String, String, Date, Date?, String, Double, String, String, String?, Date, String?, Date?).self)
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
            channel: NotificationChannel(rawValue: try row.decode(String.self, column: "notify_channel")) ?? .email)
    }
}

extension ApprovalReader {
    /// What the orchestrator made of one decision event: nil until it has taken it (the attempt it records for
    /// every decision, applied or not), then whether it counted, why not or how far the tally is, and the request's
    /// state after it.
    public func verdict(requestId: String, eventId: UUID) async throws -> DecisionVerdict? {
        try DecisionVerdict.parse(try await pool.query(DecisionVerdict.query(requestId: requestId, eventId: eventId)))
    }
}

extension ApprovalWriter {
    /// The same, inside the transaction.
    public func verdict(requestId: String, eventId: UUID) async throws -> DecisionVerdict? {
        try DecisionVerdict.parse(try await connection.query(DecisionVerdict.query(requestId: requestId, eventId: eventId)))
    }
}

/// The orchestrator's verdict on one decision (its `decision_attempts` row) and where its request stands.
public struct DecisionVerdict: Sendable, Equatable {
    /// Whether the decision counted: it settled the request, or it is a vote that is kept.
    public var accepted: Bool
    /// Why it did not count, or the tally for a vote that is kept ("vote recorded: 1 of 2 approvals (all)"); nil
    /// for a decision that settled the request.
    public var reason: String?
    public var status: ApprovalStatus
    public var decidedBy: String?
    public var decidedAt: Date?

    public init(accepted: Bool, reason: String?, status: ApprovalStatus, decidedBy: String?, decidedAt: Date?) {
        self.accepted = accepted
        self.reason = reason
        self.status = status
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
    }

    static func query(requestId: String, eventId: UUID) -> PostgresQuery {
        """
        SELECT a.accepted, a.reason, r.status, r.decided_by, r.decided_at
        FROM decision_attempts a JOIN approval_requests r ON r.request_id = a.request_id
        WHERE a.request_id = \(requestId) AND a.event_id = \(eventId)
        ORDER BY a.id DESC LIMIT 1
        """
    }

    static func parse(_ rows: PostgresRows) throws -> DecisionVerdict? {
        guard let row = rows.first else { return nil }
        let (accepted, reason, status, decidedBy, decidedAt) = try row.decode((Bool, String?, String, String?, Date?).self)
        return DecisionVerdict(
            accepted: accepted, reason: reason, status: ApprovalStatus(rawValue: status) ?? .pending, decidedBy: decidedBy,
            decidedAt: decidedAt)
    }

    /// What became of a decision to `decision` request `requestId`, in a sentence for its approver.
    public static func sentence(_ verdict: DecisionVerdict?, decision: Decision, requestId: String) -> String {
        let verb = decision == .approve ? "approve" : "reject"
        guard let verdict else {
            return "Your decision to \(verb) \(requestId) could not be applied: the approval service has no record of it. "
                + "Open the link again to see where the request stands."
        }
        if let tally = verdict.tally {
            return "Your vote to \(verb) \(requestId) is recorded: \(tally.approvals) of \(tally.needed) approvals so far."
        }
        var state = "The request is \(verdict.status == .timedOut ? "timed out" : verdict.status.rawValue)"
        if let by = verdict.decidedBy { state += ", decided by \(by)" }
        if let at = verdict.decidedAt { state += " on \(HumanFormat.utc(at))" }
        if verdict.accepted { return "Your decision to \(verb) \(requestId) settled it. \(state)." }
        return "Your decision to \(verb) \(requestId) was not applied: \(verdict.reason ?? "it was refused"). \(state)."
    }

    /// Approvals so far and needed, for a vote that is kept.
    public var tally: (approvals: Int, needed: Int)? {
        guard accepted, let reason, reason.hasPrefix(Self.voteRecorded) else { return nil }
        let numbers = reason.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return numbers.count >= 2 ? (numbers[0], numbers[1]) : nil
    }

    /// How the orchestrator starts the reason of a vote that is kept, of the requester's refused decision, and of
    /// a decision that came after another had settled the request. (Text, as the attempt is recorded for people;
    /// the pages recognise these beginnings.)
    public static let voteRecorded = "vote recorded"
    public static let fourEyes = "four eyes"
    public static let alreadyDecided = "the request was already decided"

    /// Whether the decision was refused because the requester made it.
    public var isFourEyesRefusal: Bool { !accepted && reason?.hasPrefix(Self.fourEyes) == true }
    /// Whether the decision was refused because another had settled the request first.
    public var cameTooLate: Bool { !accepted && reason?.hasPrefix(Self.alreadyDecided) == true }
}

/// A link token and the request it decides.
public struct LinkTokenRecord: Sendable, Equatable {
    public var tokenHash: String
    public var requestId: String
    public var approver: String
    public var expiresAt: Date
    public var usedAt: Date?
    public var status: ApprovalStatus
    public var amount: Double
    public var currency: String
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

    public init(
        tokenHash: String, requestId: String, approver: String, expiresAt: Date, usedAt: Date?, status: ApprovalStatus,
        amount: Double, currency: String, description: String, requester: String?, submittedAt: Date,
        decidedBy: String?, decidedAt: Date?, trace: TraceContext? = nil, policy: ApprovalPolicy = .any,
        approverCount: Int = 1, endedByDeadline: Bool = false, readAt: Date, channel: NotificationChannel = .email
    ) {
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

/// The votes of a request, for the writer (inside its transaction) and the reader (from the pool).
enum ApprovalVotes {
    static func read(requestId: String, _ run: (PostgresQuery) async throws -> PostgresRows) async throws -> [ApprovalVote] {
        try parse(try await run(query(requestId: requestId)))
    }

    static func query(requestId: String) -> PostgresQuery {
        """
        SELECT approver, decision, channel, comment, decided_at, client_address, user_agent, api_key
        FROM approval_votes WHERE request_id = \(requestId) ORDER BY id
        """
    }

    static func parse(_ rows: PostgresRows) throws -> [ApprovalVote] {
        try rows.decode((String, String, String, String?, Date, String?, String?, String?).self).map { row in
            ApprovalVote(
                approver: row.0, decision: Decision(rawValue: row.1) ?? .reject,
                channel: DecisionChannel(rawValue: row.2) ?? .api, comment: row.3, decidedAt: row.4, clientAddress: row.5,
                userAgent: row.6, apiKey: row.7)
        }
    }
}

/// Reads Postgres's text form of a `text[]` (`{a,"b c"}`).
enum PostgresTextArray {
    static func parse(_ text: String) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == "," && !quoted {
                items.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if !text.isEmpty && text != "{}" { items.append(current) }
        return items
    }
}
