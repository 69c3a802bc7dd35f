import DurableExecution
import Foundation
import GreenlightModels
import Postgres

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
    public static let rulesBroken = "the decision does not meet the request's rules"

    /// Whether the request's state has yet to catch up with this verdict: it settled (or found settled) a request
    /// whose outcome is not written yet. A page waiting for a click's result keeps looking while this holds.
    public var awaitsRequestState: Bool {
        guard status == .pending else { return false }
        return accepted ? reason == nil : cameTooLate
    }

    /// Whether the decision was refused because the requester made it.
    public var isFourEyesRefusal: Bool { !accepted && reason?.hasPrefix(Self.fourEyes) == true }
    /// Whether the decision was refused because another had settled the request first.
    public var cameTooLate: Bool { !accepted && reason?.hasPrefix(Self.alreadyDecided) == true }
}
