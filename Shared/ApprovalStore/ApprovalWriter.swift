import Foundation
import GreenlightModels
import Postgres

/// The orchestrator's writes, each on the connection of the transaction that handles one event or timer, so
/// that state, inbox row and outbox rows commit together or not at all.
public struct ApprovalWriter: Sendable {
    let connection: PostgresConnection

    public init(_ connection: PostgresConnection) {
        self.connection = connection
    }

    // MARK: - Inbox and outbox

    /// Records a consumed event; false when its `eventId` was seen before (a redelivery).
    public func recordInbox(eventId: UUID, topic: String) async throws -> Bool {
        try await connection.query(
            "INSERT INTO inbox (event_id, topic) VALUES (\(eventId), \(topic)) ON CONFLICT (event_id) DO NOTHING"
        ).affectedRows == 1
    }

    /// Queues an event for the outbox relay.
    public func enqueue<Event: GreenlightEvent>(_ event: Event) async throws {
        let payload = String(decoding: try GreenlightJSON.encode(event), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO outbox (topic, message_key, payload)
            VALUES (\(Event.topic.rawValue), \(event.requestId), \(payload))
            """)
    }

    // MARK: - Executions

    /// Creates the execution; false when one exists for this request id already.
    public func insertExecution(_ request: ApprovalRequested, executionId: UUID, expiresAt: Date) async throws -> Bool {
        try await connection.query(
            """
            INSERT INTO approval_executions
                (request_id, execution_id, status, amount, currency, description, requester, approvers,
                 submitted_at, expires_at)
            VALUES (\(request.requestId), \(executionId), 'pending', \(request.amount), \(request.currency),
                    \(request.description), \(request.requester), \(request.approvers)::text[],
                    \(request.submittedAt), \(expiresAt))
            ON CONFLICT (request_id) DO NOTHING
            """
        ).affectedRows == 1
    }

    /// The execution, locked until the transaction ends so that decisions and timers on it are serialised.
    public func lockExecution(requestId: String) async throws -> (executionId: UUID, status: ApprovalStatus)? {
        guard
            let row = try await connection.query(
                "SELECT execution_id, status FROM approval_executions WHERE request_id = \(requestId) FOR UPDATE"
            ).first
        else { return nil }
        let (executionId, status) = try row.decode((UUID, String).self)
        return (executionId, ApprovalStatus(rawValue: status) ?? .pending)
    }

    public func completeExecution(
        requestId: String, status: ApprovalStatus, decidedBy: String?, decidedAt: Date?, channel: DecisionChannel?,
        comment: String?, completedAt: Date
    ) async throws {
        try await connection.query(
            """
            UPDATE approval_executions
            SET status = \(status.rawValue), decided_by = \(decidedBy), decided_at = \(decidedAt),
                decision_channel = \(channel?.rawValue), decision_comment = \(comment), completed_at = \(completedAt)
            WHERE request_id = \(requestId)
            """)
    }

    // MARK: - Callbacks, tokens, timers

    public func insertCallback(callbackId: UUID, requestId: String, name: String, timeoutAt: Date) async throws {
        try await connection.query(
            """
            INSERT INTO approval_callbacks (callback_id, request_id, name, status, timeout_at)
            VALUES (\(callbackId), \(requestId), \(name), 'started', \(timeoutAt))
            """)
    }

    /// The request's callback that is still waiting, if any.
    public func startedCallback(requestId: String) async throws -> UUID? {
        try await connection.query(
            """
            SELECT callback_id FROM approval_callbacks
            WHERE request_id = \(requestId) AND status = 'started' ORDER BY started_at LIMIT 1
            """
        ).column(UUID.self).first
    }

    /// Ends a started callback; false when it had ended already.
    public func endCallback(callbackId: UUID, status: String, result: String, at: Date) async throws -> Bool {
        try await connection.query(
            """
            UPDATE approval_callbacks SET status = \(status), result = \(result), ended_at = \(at)
            WHERE callback_id = \(callbackId) AND status = 'started'
            """
        ).affectedRows == 1
    }

    public func insertLinkToken(hash: String, requestId: String, callbackId: UUID, approver: String, expiresAt: Date)
        async throws
    {
        try await connection.query(
            """
            INSERT INTO link_tokens (token_hash, request_id, callback_id, approver, expires_at)
            VALUES (\(hash), \(requestId), \(callbackId), \(approver), \(expiresAt))
            """)
    }

    /// Which request and approver a token belongs to, and whether it was used.
    public func linkToken(hash: String) async throws -> (requestId: String, approver: String, expiresAt: Date, usedAt: Date?)? {
        guard
            let row = try await connection.query(
                "SELECT request_id, approver, expires_at, used_at FROM link_tokens WHERE token_hash = \(hash)"
            ).first
        else { return nil }
        let (requestId, approver, expiresAt, usedAt) = try row.decode((String, String, Date, Date?).self)
        return (requestId, approver, expiresAt, usedAt)
    }

    public func markLinkTokenUsed(hash: String, at: Date) async throws {
        try await connection.query("UPDATE link_tokens SET used_at = \(at) WHERE token_hash = \(hash) AND used_at IS NULL")
    }

    public func insertTimer(timerId: UUID, requestId: String, callbackId: UUID, dueAt: Date) async throws {
        try await connection.query(
            """
            INSERT INTO timers (timer_id, request_id, callback_id, due_at)
            VALUES (\(timerId), \(requestId), \(callbackId), \(dueAt))
            """)
    }

    /// Marks a callback's pending timers fired (they no longer need to fire).
    public func cancelTimers(callbackId: UUID, at: Date) async throws {
        try await connection.query(
            "UPDATE timers SET fired_at = \(at) WHERE callback_id = \(callbackId) AND fired_at IS NULL")
    }

    /// Claims up to `limit` due timers. `SKIP LOCKED`: instances never claim the same timer, and a timer held by
    /// an instance that died is free again when its transaction is rolled back.
    public func claimDueTimers(now: Date, limit: Int) async throws -> [DueTimer] {
        let rows = try await connection.query(
            """
            SELECT timer_id, request_id, callback_id, due_at FROM timers
            WHERE fired_at IS NULL AND due_at <= \(now)
            ORDER BY due_at LIMIT \(limit)
            FOR UPDATE SKIP LOCKED
            """)
        return try rows.decode((UUID, String, UUID, Date).self).map {
            DueTimer(timerId: $0.0, requestId: $0.1, callbackId: $0.2, dueAt: $0.3)
        }
    }

    public func markTimerFired(timerId: UUID, at: Date) async throws {
        try await connection.query("UPDATE timers SET fired_at = \(at) WHERE timer_id = \(timerId)")
    }

    // MARK: - Decisions

    /// Records a decision that reached the orchestrator, whether it won or came too late.
    public func recordDecisionAttempt(_ decision: DecisionSubmitted, accepted: Bool, reason: String?) async throws {
        try await connection.query(
            """
            INSERT INTO decision_attempts
                (request_id, event_id, decision, decided_by, channel, decided_at, accepted, reason)
            VALUES (\(decision.requestId), \(decision.eventId), \(decision.decision.rawValue), \(decision.decidedBy),
                    \(decision.channel.rawValue), \(decision.decidedAt), \(accepted), \(reason))
            """)
    }
}

/// A timer whose due time has passed.
public struct DueTimer: Sendable, Equatable {
    public var timerId: UUID
    public var requestId: String
    public var callbackId: UUID
    public var dueAt: Date
}

/// The outbox relay's queries.
public struct OutboxStore: Sendable {
    public struct Row: Sendable {
        public var id: Int64
        public var topic: String
        public var key: String
        public var payload: String
    }

    public init() {}

    /// The oldest unsent rows, locked (`SKIP LOCKED`) so that two relays never publish the same row at once.
    public func lockUnsent(on connection: PostgresConnection, limit: Int) async throws -> [Row] {
        try await connection.query(
            """
            SELECT id, topic, message_key, payload FROM outbox WHERE sent_at IS NULL
            ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """
        ).decode((Int64, String, String, String).self).map { Row(id: $0.0, topic: $0.1, key: $0.2, payload: $0.3) }
    }

    public func markSent(_ ids: [Int64], on connection: PostgresConnection, at: Date) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query(
            "UPDATE outbox SET sent_at = \(at) WHERE id = ANY(\(ids.map(String.init))::bigint[])")
    }

    /// Deletes rows sent before `cutoff`, keeping the table small.
    public func pruneSent(on connection: PostgresConnection, before cutoff: Date) async throws -> Int {
        try await connection.query("DELETE FROM outbox WHERE sent_at < \(cutoff)").affectedRows
    }
}
