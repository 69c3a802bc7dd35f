import Foundation
import GreenlightModels
import GreenlightTestSupport
import MailSink
import Postgres

/// Checks, after a fault, what Greenlight promises whatever happened:
/// (a) every request answered 2xx exists; (b) each has exactly one terminal state; (c) exactly one distinct
/// outcome event on `approvals.outcomes`, matching the database; (d) nothing pending past its deadline plus a
/// grace; (e) every used link token has an audit row; (f) every approver received each email exactly once
/// (counted at the SMTP server; a request left to time out may have had its email expire unsent during a mail
/// outage, never sent twice); (g) no deadline fired early.
struct InvariantChecker {
    let stack: ServiceStack
    let pool: PostgresPool
    let accepted: [String: RequestKind]
    /// How late past its deadline a request may still be pending.
    var grace: Duration = .seconds(30)
    /// How many copies the documented crash window can explain: a notifier killed between the mail server's 250
    /// and its record of it sends that message again (same Message-ID) — at most one per sender per kill.
    var crashWindowAllowance = 0

    struct Result: Codable, Sendable {
        var requests = 0
        /// Accepted, but no record or no outcome: (a), (c).
        var lost: [String] = []
        /// Not exactly one terminal state, or still pending past the deadline and grace: (b), (d).
        var notTerminal: [String] = []
        /// More than one distinct outcome event, or one that disagrees with the database: (c).
        var duplicatedOutcomes: [String] = []
        var mismatchedOutcomes: [String] = []
        /// Outcome messages that came again with the same eventId (deduplicated by consumers; counted, not an error).
        var redeliveredOutcomes = 0
        /// Link tokens used without an audit row: (e).
        var unauditedTokens = 0
        /// Copies of an email beyond the first, and requests whose approver was never emailed: (f).
        var duplicateEmails = 0
        /// Copies explained by the crash window (a killed notifier; the message tried again after its claim ran
        /// out, with the same Message-ID), within the allowance: reported, not a violation.
        var crashWindowCopies = 0
        var missingEmails: [String] = []
        /// Requests that timed out before their deadline: (g).
        var early: [String] = []
        /// Requests that ended other than their kind meant (a link approved, a Kafka rejection…).
        var unexpected: [String] = []

        var violations: Int {
            lost.count + notTerminal.count + duplicatedOutcomes.count + mismatchedOutcomes.count + unauditedTokens
                + duplicateEmails + missingEmails.count + early.count
        }
    }

    func check() async throws -> Result {
        var result = Result()
        result.requests = accepted.count
        let ids = Array(accepted.keys)
        let rows = Dictionary(
            try await pool.query(
                """
                SELECT r.request_id, r.status, r.execution_id,
                       (SELECT count(*) FROM durable_history_events h WHERE h.execution_id = r.execution_id
                          AND h.event_type IN ('ExecutionSucceeded', 'ExecutionFailed', 'ExecutionStopped'))
                FROM approval_requests r WHERE r.request_id = ANY(\(ids)::text[])
                """
            ).decode((String, String, UUID, Int).self).map { ($0.0, (status: $0.1, terminalEvents: $0.3)) },
            uniquingKeysWith: { first, _ in first })
        let outcomes = Dictionary(grouping: stack.outcomes.all.filter { accepted[$0.requestId] != nil }, by: \.requestId)
        for (id, kind) in accepted.sorted(by: { $0.key < $1.key }) {
            guard let row = rows[id] else {
                result.lost.append(id)
                continue
            }
            let events = outcomes[id] ?? []
            let distinct = Dictionary(grouping: events, by: \.eventId)
            if distinct.isEmpty {
                result.lost.append(id)
            } else if distinct.count > 1 {
                result.duplicatedOutcomes.append(id)
            }
            result.redeliveredOutcomes += events.count - distinct.count
            if row.status == ApprovalStatus.pending.rawValue || row.terminalEvents != 1 {
                result.notTerminal.append(id)
            }
            if let outcome = events.first, outcome.status.rawValue != row.status {
                result.mismatchedOutcomes.append(id)
            }
            if row.status != kind.expected.rawValue { result.unexpected.append("\(id) \(kind.rawValue)→\(row.status)") }
        }
        // (d): anything of ours, or anyone's, pending past its deadline and the grace.
        let overdue = try await pool.query(
            """
            SELECT request_id FROM approval_requests
            WHERE status = 'pending' AND expires_at < now() - \(Int(grace.components.seconds)) * interval '1 second'
            """
        ).column(String.self)
        result.notTerminal = Array(Set(result.notTerminal + overdue)).sorted()
        // (e)
        result.unauditedTokens = try await pool.query(
            """
            SELECT count(*) FROM link_tokens t
            WHERE t.used_at IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM decision_attempts a
                WHERE a.request_id = t.request_id AND lower(a.decided_by) = lower(t.approver) AND a.channel = 'link'
                  AND a.accepted)
            """
        ).column(Int.self).first ?? 0
        // (f)
        let mails = stack.sink.messages.map(\.parsed)
        let byMessageId = Dictionary(grouping: mails, by: { $0.header("Message-ID") ?? "" })
        let copies = byMessageId.filter { $0.value.count > 1 }
        // A copy is the crash window's when its message was claimed again after a claim ran out (attempts > 1):
        // only a sender that died mid-send leaves that.
        var windowCopies = 0
        for (messageId, sent) in copies {
            let text = messageId.replacingOccurrences(of: "<notification-", with: "").prefix { $0 != "@" }
            guard let id = UUID(uuidString: String(text)) else { continue }
            let attempts = try await pool.query("SELECT attempts FROM notifier_messages WHERE notification_id = \(id)")
                .column(Int.self).first ?? 0
            if attempts > 1 { windowCopies += min(sent.count - 1, attempts - 1) }
        }
        let allCopies = copies.values.reduce(0) { $0 + $1.count - 1 }
        if windowCopies > 0, windowCopies <= crashWindowAllowance {
            result.crashWindowCopies = windowCopies
            result.duplicateEmails = allCopies - windowCopies
        } else {
            result.duplicateEmails = allCopies
        }
        let emailed = Set(mails.compactMap { $0.header("X-Greenlight-Request-Id") })
        result.missingEmails = accepted.filter { $0.value != .timeout && !emailed.contains($0.key) }.map(\.key).sorted()
        // (g)
        result.early = try await pool.query(
            """
            SELECT request_id FROM approval_requests
            WHERE status = 'timed_out' AND completed_at < expires_at AND request_id = ANY(\(ids)::text[])
            """
        ).column(String.self)
        return result
    }
}
