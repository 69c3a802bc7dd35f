import Foundation
import GreenlightModels
import Postgres

/// The orchestrator's writes and reads for delegation and reassignment, inside the transaction (and, in the
/// workflow, the step) that makes them: who stands in for whom is read in a checkpointed step, never on replay.
extension ApprovalWriter {
    /// Sets or replaces an approver's delegation; a change older than the one kept (by `setAt`) is ignored.
    public func applyDelegation(_ delegation: Delegation, apiKey: String?) async throws {
        _ = try await connection.query(
            """
            INSERT INTO delegations (approver, delegate, mode, starts_at, ends_at, set_by, set_at, reason, api_key)
            VALUES (\(delegation.approver.lowercased()), \(delegation.delegate), \(delegation.mode.rawValue),
                    \(delegation.from), \(delegation.until), \(delegation.setBy), \(delegation.setAt), \(delegation.reason),
                    \(apiKey))
            ON CONFLICT (approver) DO UPDATE
            SET delegate = EXCLUDED.delegate, mode = EXCLUDED.mode, starts_at = EXCLUDED.starts_at,
                ends_at = EXCLUDED.ends_at, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at, reason = EXCLUDED.reason,
                api_key = EXCLUDED.api_key
            WHERE delegations.set_at <= EXCLUDED.set_at
            """)
    }

    /// Ends an approver's delegation, unless it was set after `at`; true when there was one to end.
    @discardableResult
    public func clearDelegation(approver: String, at: Date) async throws -> Bool {
        try await connection.query(
            "DELETE FROM delegations WHERE approver = \(approver.lowercased()) AND set_at <= \(at)"
        ).affectedRows == 1
    }

    /// The delegations of `approvers` that apply at `time`, by approver in lower case.
    public func activeDelegations(of approvers: [String], at time: Date) async throws -> [String: Delegation] {
        let rows = try await connection.query(
            """
            SELECT \(sql: DelegationRows.columns) FROM delegations
            WHERE approver = ANY(\(approvers.map { $0.lowercased() })::text[])
              AND starts_at <= \(time) AND (ends_at IS NULL OR ends_at > \(time))
            """)
        return Dictionary(try rows.map(DelegationRows.parse).map { ($0.approver, $0) }) { first, _ in first }
    }

    /// Records that `delegate` stands in for `approver` on the request (nothing when they already do).
    public func queueStandIn(_ standIn: StandIn) {
        connection.queue(
            """
            INSERT INTO approval_stand_ins (request_id, approver, delegate, mode, since)
            VALUES (\(standIn.requestId), \(standIn.approver), \(standIn.delegate), \(standIn.mode.rawValue), \(standIn.since))
            ON CONFLICT DO NOTHING
            """)
    }

    /// Who stands in for whom on the request now.
    public func standIns(requestId: String) async throws -> [StandIn] {
        try await connection.query(StandInRows.query(requestId: requestId)).map(StandInRows.parse)
    }

    /// Moves a request from one approver to another: `to` takes `from`'s place in the approvers, `from`'s links and
    /// those of their delegates stop counting, and their stand-ins end.
    public func reassign(requestId: String, from: String, to: String, approvers: [String], at: Date) async throws {
        let replaced = approvers.map { $0.lowercased() == from.lowercased() ? to : $0 }
        _ = try await connection.query(
            "UPDATE approval_requests SET approvers = \(replaced)::text[] WHERE request_id = \(requestId)")
        connection.queue(
            """
            UPDATE link_tokens SET expires_at = least(expires_at, \(at))
            WHERE request_id = \(requestId)
              AND (lower(approver) = lower(\(from)) AND on_behalf_of IS NULL OR lower(on_behalf_of) = lower(\(from)))
            """)
        connection.queue(
            """
            UPDATE approval_stand_ins SET ended_at = \(at)
            WHERE request_id = \(requestId) AND lower(approver) = lower(\(from)) AND ended_at IS NULL
            """)
    }
}

extension ApprovalReader {
    /// An approver's delegation, whether it applies yet or not; nil when none is set.
    public func delegation(approver: String) async throws -> Delegation? {
        try await pool.query(
            "SELECT \(sql: DelegationRows.columns) FROM delegations WHERE approver = \(approver.lowercased())"
        ).map(DelegationRows.parse).first
    }

    /// Every delegation set, by approver.
    public func delegations(limit: Int = 1000) async throws -> [Delegation] {
        try await pool.query(
            "SELECT \(sql: DelegationRows.columns) FROM delegations ORDER BY approver LIMIT \(limit)"
        ).map(DelegationRows.parse)
    }

    /// The pending requests on which `delegate` stands in for an approver whose place has no vote yet, newest first:
    /// what waits on a delegate (the inbox lists these beside the requests where they are an approver themselves).
    public func pendingStandIns(delegate: String, limit: Int = 200) async throws -> [StandIn] {
        try await pool.query(
            """
            SELECT s.request_id, s.approver, s.delegate, s.mode, s.since
            FROM approval_stand_ins s JOIN approval_requests r ON r.request_id = s.request_id
            WHERE lower(s.delegate) = lower(\(delegate)) AND s.ended_at IS NULL AND r.status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM approval_votes v
                              WHERE v.request_id = s.request_id
                                AND lower(coalesce(v.on_behalf_of, v.approver)) = lower(s.approver))
            ORDER BY s.since DESC, s.request_id LIMIT \(limit)
            """
        ).map(StandInRows.parse)
    }

    /// Who stands in for whom on one request (ended stand-ins left out).
    public func standIns(requestId: String) async throws -> [StandIn] {
        try await pool.query(StandInRows.query(requestId: requestId)).map(StandInRows.parse)
    }
}

enum DelegationRows {
    static let columns: StaticString = "approver, delegate, mode, starts_at, ends_at, set_by, set_at, reason"

    static func parse(_ row: PostgresRow) throws -> Delegation {
        let (approver, delegate, mode, from, until, setBy, setAt, reason) = try row.decode(
            (String, String, String, Date, Date?, String, Date, String?).self)
        return Delegation(
            approver: approver, delegate: delegate, mode: DelegationMode(rawValue: mode) ?? .also, from: from, until: until,
            setBy: setBy, setAt: setAt, reason: reason)
    }
}

enum StandInRows {
    static func query(requestId: String) -> PostgresQuery {
        """
        SELECT request_id, approver, delegate, mode, since FROM approval_stand_ins
        WHERE request_id = \(requestId) AND ended_at IS NULL ORDER BY since, approver
        """
    }

    static func parse(_ row: PostgresRow) throws -> StandIn {
        let (requestId, approver, delegate, mode, since) = try row.decode((String, String, String, String, Date).self)
        return StandIn(requestId: requestId, approver: approver, delegate: delegate, mode: DelegationMode(rawValue: mode) ?? .also, since: since)
    }
}
