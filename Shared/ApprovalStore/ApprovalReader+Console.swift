import Foundation
import GreenlightModels
import Postgres

/// What the operator console looks for: every field optional, all given ones must hold.
public struct ConsoleSearch: Sendable, Equatable {
    public var status: ApprovalStatus?
    /// Part of an approver's address, any case.
    public var approver: String?
    /// Part of the requester, any case.
    public var requester: String?
    /// Created (submitted to intake) on or after this instant / before this instant.
    public var createdFrom: Date?
    public var createdBefore: Date?
    /// Part of the request id, the title or the description, any case.
    public var text: String?
    /// Zero-based page of `pageSize` requests, newest first.
    public var page: Int
    public var pageSize: Int

    public init(
        status: ApprovalStatus? = nil, approver: String? = nil, requester: String? = nil, createdFrom: Date? = nil,
        createdBefore: Date? = nil, text: String? = nil, page: Int = 0, pageSize: Int = 25
    ) {
        self.status = status
        self.approver = approver
        self.requester = requester
        self.createdFrom = createdFrom
        self.createdBefore = createdBefore
        self.text = text
        self.page = page
        self.pageSize = pageSize
    }
}

/// The console's counters, read from the database at one moment (the consumer lag comes from Kafka).
public struct ConsoleCounts: Codable, Sendable, Equatable {
    public var pending: Int
    /// Approved or rejected since midnight UTC by the database's clock.
    public var decidedToday: Int
    /// Notifications and webhooks of pending requests whose latest attempt failed (retrying or given up).
    public var deliveriesFailing: Int

    public init(pending: Int, decidedToday: Int, deliveriesFailing: Int) {
        self.pending = pending
        self.decidedToday = decidedToday
        self.deliveriesFailing = deliveriesFailing
    }
}

/// One decision that reached the orchestrator (`decision_attempts`): counted or refused, and why.
public struct DecisionAttempt: Sendable, Equatable {
    public var decision: Decision
    public var decidedBy: String
    public var channel: String
    public var decidedAt: Date
    public var accepted: Bool
    public var reason: String?
    public var apiKey: String?
    public var recordedAt: Date
}

extension ApprovalReader {
    /// Requests matching `search`, newest first: one page, plus whether another follows.
    public func search(_ search: ConsoleSearch) async throws -> (requests: [RequestStatusBody], more: Bool) {
        let limit = search.pageSize + 1
        let offset = search.page * search.pageSize
        let rows = try await pool.query(
            """
            SELECT \(sql: Self.statusColumns) FROM approval_requests
            WHERE (\(search.status?.rawValue)::text IS NULL OR status = \(search.status?.rawValue))
              AND (\(search.approver)::text IS NULL
                   OR EXISTS (SELECT 1 FROM unnest(approvers) a WHERE strpos(lower(a), lower(\(search.approver))) > 0))
              AND (\(search.requester)::text IS NULL OR strpos(lower(coalesce(requester, '')), lower(\(search.requester))) > 0)
              AND (\(search.createdFrom)::timestamptz IS NULL OR submitted_at >= \(search.createdFrom))
              AND (\(search.createdBefore)::timestamptz IS NULL OR submitted_at < \(search.createdBefore))
              AND (\(search.text)::text IS NULL
                   OR strpos(lower(request_id), lower(\(search.text))) > 0
                   OR strpos(lower(description), lower(\(search.text))) > 0
                   OR strpos(lower(coalesce(content->>'title', '')), lower(\(search.text))) > 0)
            ORDER BY submitted_at DESC, request_id DESC LIMIT \(limit) OFFSET \(offset)
            """)
        let found = try rows.map(Self.statusBody(from:))
        return (Array(found.prefix(search.pageSize)), found.count > search.pageSize)
    }

    /// Pending, decided today (the database's day, UTC), and deliveries failing on pending requests.
    public func consoleCounts() async throws -> ConsoleCounts {
        let rows = try await pool.query(
            """
            SELECT (SELECT count(*) FROM approval_requests WHERE status = 'pending'),
                   (SELECT count(*) FROM approval_requests
                    WHERE status IN ('approved', 'rejected')
                      AND completed_at >= ((now() AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC'),
                   (SELECT count(*) FROM notification_deliveries d JOIN approval_requests r USING (request_id)
                    WHERE r.status = 'pending' AND d.result IN ('retrying', 'failed'))
                   + (SELECT count(*) FROM webhook_deliveries w JOIN approval_requests r USING (request_id)
                      WHERE r.status = 'pending' AND w.result IN ('retrying', 'failed'))
            """
        ).decode((Int, Int, Int).self)
        guard let (pending, decided, failing) = rows.first else { return ConsoleCounts(pending: 0, decidedToday: 0, deliveriesFailing: 0) }
        return ConsoleCounts(pending: pending, decidedToday: decided, deliveriesFailing: failing)
    }

    /// Every decision on the request that reached the orchestrator, in the order it took them.
    public func decisionAttempts(requestId: String) async throws -> [DecisionAttempt] {
        try await pool.query(
            """
            SELECT decision, decided_by, channel, decided_at, accepted, reason, api_key, recorded_at
            FROM decision_attempts WHERE request_id = \(requestId) ORDER BY id
            """
        ).decode((String, String, String, Date, Bool, String?, String?, Date).self).map {
            DecisionAttempt(
                decision: Decision(rawValue: $0.0) ?? .reject, decidedBy: $0.1, channel: $0.2, decidedAt: $0.3,
                accepted: $0.4, reason: $0.5, apiKey: $0.6, recordedAt: $0.7)
        }
    }
}
