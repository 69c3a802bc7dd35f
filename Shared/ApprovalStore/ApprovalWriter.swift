import Foundation
import GreenlightModels
import Logging
import Postgres

/// The orchestrator's writes to the approval tables, on the connection of the transaction (and, inside the
/// workflow, the step) that makes them, so they commit with the engine's checkpoints or not at all.
public struct ApprovalWriter: Sendable {
    let connection: PostgresConnection

    public init(_ connection: PostgresConnection) {
        self.connection = connection
    }

    /// Records a new request; false when one exists for this request id already.
    public func insertRequest(
        _ request: ApprovalRequested, executionId: UUID, callbackId: UUID, expiresAt: Date, trace: TraceContext? = nil
    ) async throws -> Bool {
        let content = request.content
        let stored = content.isEmpty ? nil : String(decoding: try GreenlightJSON.encode(content), as: UTF8.self)
        return try await connection.query(
            """
            INSERT INTO approval_requests
                (request_id, execution_id, callback_id, status, amount, currency, description, requester, approvers,
                 on_timeout, submitted_at, expires_at, trace_parent, policy, notify_channel, content)
            VALUES (\(request.requestId), \(executionId), \(callbackId), 'pending', \(request.amount), \(request.currency),
                    \(request.description), \(request.requester), \(request.approvers)::text[],
                    \((request.onTimeout ?? .reject).rawValue), \(request.submittedAt), \(expiresAt),
                    \(trace?.traceparent), \((request.policy ?? .any).description),
                    \((request.notify ?? .email).rawValue), \(stored)::jsonb)
            ON CONFLICT (request_id) DO NOTHING
            """
        ).affectedRows == 1
    }

    /// Sets the request's final state if it is pending, and then wakes intake's long-polls for it when the transaction
    /// commits (see `OutcomeChannel`). Queued: one statement, sent with the next, and no round trip of its own.
    public func queueCompletion(
        requestId: String, status: ApprovalStatus, decidedBy: String?, decidedAt: Date?, channel: DecisionChannel?,
        comment: String?, response: JSONValue? = nil, errorType: String? = nil, errorMessage: String? = nil,
        completedAt: Date, onBehalfOf: String? = nil
    ) {
        connection.queue(
            Self.completeQuery(
                requestId: requestId, status: status, decidedBy: decidedBy, decidedAt: decidedAt, channel: channel,
                comment: comment, response: response, errorType: errorType, errorMessage: errorMessage,
                completedAt: completedAt, onBehalfOf: onBehalfOf))
    }

    /// What a decision on the request must give (its reason rule and response schema); nil when the request is unknown.
    public func decisionRules(requestId: String) async throws -> RequestContent? {
        try DecisionRules.parse(try await connection.query(DecisionRules.query(requestId: requestId)))
    }

    /// Where the request stands; nil when it is unknown.
    public func status(requestId: String) async throws -> ApprovalStatus? {
        try await connection.query("SELECT status FROM approval_requests WHERE request_id = \(requestId)")
            .column(String.self).first.flatMap(ApprovalStatus.init(rawValue:))
    }

    /// Keeps a new link's hash; `onBehalfOf` names the approver a delegate's link stands in for.
    public func queueLinkToken(
        hash: String, nonce: UUID, linkKey: String, requestId: String, callbackId: UUID, approver: String, expiresAt: Date,
        onBehalfOf: String? = nil
    ) {
        connection.queue(
            """
            INSERT INTO link_tokens
                (token_hash, token_nonce, link_key, request_id, callback_id, approver, expires_at, on_behalf_of)
            VALUES (\(hash), \(nonce), \(linkKey), \(requestId), \(callbackId), \(approver), \(expiresAt), \(onBehalfOf))
            """)
    }

    /// Keeps a delivery report, unless a later one for the same notification is already kept.
    public func queueDelivery(_ report: NotificationDelivery) {
        connection.queue(
            """
            INSERT INTO notification_deliveries
                (notification_id, request_id, approver, kind, result, attempts, error, at)
            VALUES (\(report.notificationId), \(report.requestId), \(report.approver), \(report.kind.rawValue),
                    \(report.result.rawValue), \(report.attempt), \(report.error), \(report.at))
            ON CONFLICT (notification_id) DO UPDATE
            SET result = EXCLUDED.result, attempts = EXCLUDED.attempts, error = EXCLUDED.error, at = EXCLUDED.at
            WHERE notification_deliveries.attempts <= EXCLUDED.attempts
            """)
    }

    /// Keeps an outcome webhook's report, unless a later attempt's is already kept.
    public func queueWebhookDelivery(_ report: WebhookDelivery) {
        connection.queue(
            """
            INSERT INTO webhook_deliveries (webhook_id, request_id, event_type, result, attempts, status_code, error, at)
            VALUES (\(report.webhookId), \(report.requestId), \(report.eventType), \(report.result.rawValue), \(report.attempt),
                    \(report.statusCode), \(report.error), \(report.at))
            ON CONFLICT (webhook_id) DO UPDATE
            SET result = EXCLUDED.result, attempts = EXCLUDED.attempts, status_code = EXCLUDED.status_code,
                error = EXCLUDED.error, at = EXCLUDED.at
            WHERE webhook_deliveries.attempts <= EXCLUDED.attempts
            """)
    }

    /// Names the secret of every link made before links kept their secret's id: the orchestrator's secret at its
    /// first start on this release, which made them (rotation needs that release). How many were named.
    @discardableResult
    public func nameLinkKeyOfOlderLinks(_ linkKey: String) async throws -> Int {
        try await connection.query("UPDATE link_tokens SET link_key = \(linkKey) WHERE link_key IS NULL").affectedRows
    }

    /// The holders of a pending request's live links whose place has no vote yet (an approver, or a delegate standing
    /// in for one: `onBehalfOf`), with the nonce of their (unused) link and the id of the secret it was made with.
    public func undecidedApprovers(requestId: String) async throws
        -> [(approver: String, nonce: UUID, linkKey: String?, onBehalfOf: String?)]
    {
        try await connection.query(
            """
            SELECT t.approver, t.token_nonce, t.link_key, t.on_behalf_of FROM link_tokens t
            WHERE t.request_id = \(requestId) AND t.used_at IS NULL AND t.token_nonce IS NOT NULL
              AND t.expires_at > now()
              AND NOT EXISTS (SELECT 1 FROM approval_votes v
                              WHERE v.request_id = t.request_id
                                AND (lower(coalesce(v.on_behalf_of, v.approver)) = lower(coalesce(t.on_behalf_of, t.approver))
                                     OR lower(v.approver) = lower(t.approver)))
            ORDER BY t.approver, t.on_behalf_of NULLS FIRST
            """
        ).decode((String, UUID, String?, String?).self).map { ($0.0, $0.1, $0.2, $0.3) }
    }

    /// Adds approvers to a request (an escalation); the policy then counts them too.
    public func queueApprovers(_ approvers: [String], requestId: String) {
        connection.queue(
            """
            UPDATE approval_requests SET approvers = approvers || \(approvers)::text[]
            WHERE request_id = \(requestId)
            """)
    }

    public typealias LinkTokenState = (
        requestId: String, approver: String, expiresAt: Date, usedAt: Date?, onBehalfOf: String?
    )
    public typealias PendingRequest = (policy: ApprovalPolicy, approvers: [String], requester: String?)

    /// Which request and approver a token belongs to, and whether it was used.
    static func linkTokenQuery(_ hash: String) -> PostgresQuery {
        "SELECT request_id, approver, expires_at, used_at, on_behalf_of FROM link_tokens WHERE token_hash = \(hash)"
    }

    static func linkToken(from rows: PostgresRows) throws -> LinkTokenState? {
        guard let row = rows.first else { return nil }
        let (requestId, approver, expiresAt, usedAt, onBehalfOf) = try row.decode((String, String, Date, Date?, String?).self)
        return (requestId, approver, expiresAt, usedAt, onBehalfOf)
    }

    /// What applying a decision needs, read in one round trip: the pending request, the link token when there is
    /// one (`linkToken`), and the votes so far.
    public func decisionState(requestId: String, tokenHash: String?) async throws -> (
        pending: PendingRequest?, token: LinkTokenState?, votes: [ApprovalVote]
    ) {
        var queries = [Self.pendingRequestQuery(requestId), ApprovalVotes.query(requestId: requestId)]
        if let tokenHash { queries.insert(Self.linkTokenQuery(tokenHash), at: 1) }
        let results = try await connection.query(queries)
        return (
            try Self.pendingRequest(from: results[0]), try tokenHash.flatMap { _ in try Self.linkToken(from: results[1]) },
            try ApprovalVotes.parse(results[results.count - 1])
        )
    }

    /// Marks a link token used, at the database's time.
    public func queueLinkTokenUse(hash: String) {
        connection.queue("UPDATE link_tokens SET used_at = now() WHERE token_hash = \(hash) AND used_at IS NULL")
    }

    /// Ends every link of a request: they can no longer decide anything. A link that has expired by then is left as it
    /// is, not written again (at a deadline, every link of the request).
    public func queueLinkTokenExpiry(requestId: String, at: Date) {
        connection.queue("UPDATE link_tokens SET expires_at = \(at) WHERE request_id = \(requestId) AND expires_at > \(at)")
    }

    /// Whether `eventId` is a link decision on the request made in the name of `approver`, someone the request
    /// emailed a link: the only person a receipt about it may go to.
    public func isLinkDecision(requestId: String, eventId: UUID, by approver: String) async throws -> Bool {
        try await connection.query(
            """
            SELECT 1 FROM decision_attempts a
            WHERE a.request_id = \(requestId) AND a.event_id = \(eventId) AND a.channel = 'link'
              AND lower(a.decided_by) = lower(\(approver))
              AND EXISTS (SELECT 1 FROM link_tokens t WHERE t.request_id = a.request_id AND lower(t.approver) = lower(\(approver)))
            LIMIT 1
            """
        ).first != nil
    }

    /// Records a decision that reached the orchestrator, whether it won, came too late, or was refused.
    public func queueDecisionAttempt(_ decision: DecisionSubmitted, accepted: Bool, reason: String?) {
        connection.queue(
            """
            INSERT INTO decision_attempts
                (request_id, event_id, decision, decided_by, channel, decided_at, accepted, reason, client_address,
                 user_agent, api_key)
            VALUES (\(decision.requestId), \(decision.eventId), \(decision.decision.rawValue), \(decision.decidedBy),
                    \(decision.channel.rawValue), \(decision.decidedAt), \(accepted), \(reason), \(decision.clientAddress),
                    \(decision.userAgent), \(decision.apiKey))
            """)
        // Wakes the page waiting for this verdict when the transaction commits (see `VerdictChannel`).
        if VerdictChannel.isAwaited(decision.channel) {
            connection.queue("SELECT pg_notify(\(VerdictChannel.name), \(decision.requestId))")
        }
    }

    /// The update that sets a pending request's final state. Its test of the status is written `(…) IS TRUE` (the same,
    /// as the column is never null) so that it is applied to the row the primary key finds: written plainly, it matches
    /// the predicate of the partial indexes of pending requests, and statistics taken while none was pending (an
    /// ANALYZE between two bursts) made the planner scan such an index for the key instead, reading every pending
    /// request for each one (7 ms a decision with a few thousand pending in a benchmark, where it should take 0.1).
    /// The notification is sent only for a row the update changed.
    static func completeQuery(
        requestId: String, status: ApprovalStatus, decidedBy: String?, decidedAt: Date?, channel: DecisionChannel?,
        comment: String?, response: JSONValue?, errorType: String?, errorMessage: String?, completedAt: Date,
        onBehalfOf: String?
    ) -> PostgresQuery {
        """
        WITH completed AS (
            UPDATE approval_requests
            SET status = \(status.rawValue), decided_by = \(decidedBy), decided_at = \(decidedAt),
                decision_channel = \(channel?.rawValue), decision_comment = \(comment), error_type = \(errorType),
                error_message = \(errorMessage), completed_at = \(completedAt), response = \(response?.jsonText)::jsonb,
                decided_on_behalf_of = \(onBehalfOf)
            WHERE request_id = \(requestId) AND (status = 'pending') IS TRUE
            RETURNING request_id)
        SELECT pg_notify(\(OutcomeChannel.name), request_id) FROM completed
        """
    }

    /// A pending request's policy and approvers; nil when the request is unknown or no longer pending. Read, not
    /// locked: the workflow reads it holding its execution's lock, which every change to the request holds too. By
    /// the primary key whatever the statistics say, as `completeQuery` explains.
    static func pendingRequestQuery(_ requestId: String) -> PostgresQuery {
        """
        SELECT policy, approvers::text, requester FROM approval_requests
        WHERE request_id = \(requestId) AND (status = 'pending') IS TRUE
        """
    }

    static func pendingRequest(from rows: PostgresRows) throws -> PendingRequest? {
        guard let row = rows.first else { return nil }
        let (policy, approvers, requester) = try row.decode((String, String, String?).self)
        return (ApprovalPolicy(storedAs: policy) ?? .any, PostgresArray.parse(approvers), requester)
    }

    /// Records an approver's vote (queued: sent with the next statement); nothing happens when that person, or someone
    /// in that approver's place, has voted on this request already.
    public func queueVote(requestId: String, _ vote: ApprovalVote) {
        connection.queue(
            """
            INSERT INTO approval_votes
                (request_id, approver, decision, channel, comment, decided_at, client_address, user_agent, api_key,
                 response, on_behalf_of)
            VALUES (\(requestId), \(vote.approver), \(vote.decision.rawValue), \(vote.channel.rawValue), \(vote.comment),
                    \(vote.decidedAt), \(vote.clientAddress), \(vote.userAgent), \(vote.apiKey),
                    \(vote.response?.jsonText)::jsonb, \(vote.onBehalfOf))
            ON CONFLICT DO NOTHING
            """)
    }

    /// The request's votes, in the order they were recorded.
    public func votes(requestId: String) async throws -> [ApprovalVote] {
        try await ApprovalVotes.read(requestId: requestId) { try await connection.query($0) }
    }

    /// Deletes up to `limit` link tokens that expired before `cutoff`; returns how many.
    public func deleteExpiredLinkTokens(before cutoff: Date, limit: Int) async throws -> Int {
        try await connection.query(
            """
            DELETE FROM link_tokens WHERE token_hash IN (
                SELECT token_hash FROM link_tokens WHERE expires_at < \(cutoff) LIMIT \(limit))
            """
        ).affectedRows
    }
}
