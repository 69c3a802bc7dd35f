import Foundation
import GreenlightModels
import Postgres

/// The notifier's SQL for Slack: direct messages queued beside the emails (in `notifier_messages`), the messages
/// posted (`slack_messages`), and how their requests ended (`slack_outcomes`), to update them.
struct SlackMessageStore: Sendable {
    let pool: PostgresPool
    /// How long a claim on a message to update holds unless it is finished.
    var updateLease: Duration = .seconds(30)

    /// The queue id of a notification's direct message: derived from the notification's id, so a redelivered
    /// notification is the same row and never a second message.
    static func directMessageId(for notification: UUID) -> UUID {
        DeliveryReporter.nameBasedId("slack-dm/\(notification.uuidString)")
    }

    /// Whether a notification gets a Slack direct message too: those that ask for a decision.
    static func getsDirectMessage(_ message: DeliveryQueue.Incoming) -> Bool {
        (message.event.kind ?? .request).asksForADecision
    }

    /// Queues a direct message for each notification that asks an approver to decide (not receipts or notices), once per
    /// notification; a replayed dead letter that had failed is tried again.
    func queueDirectMessages(_ messages: [DeliveryQueue.Incoming]) async throws {
        let asking = messages.filter(Self.getsDirectMessage)
        guard !asking.isEmpty else { return }
        try await pool.withConnection { connection in
            for message in asking {
                let notification = message.event
                connection.queue(
                    """
                    INSERT INTO notifier_messages
                        (notification_id, kind, request_id, approver, channel, payload, trace_parent, source_partition,
                         source_offset, deadline, status, due_at)
                    VALUES (\(Self.directMessageId(for: notification.eventId)), 'slack', \(notification.requestId),
                            \(notification.approver), 'slack', \(message.payload), \(message.trace), \(message.partition),
                            \(message.offset), \(notification.expiresAt), 'pending', now())
                    ON CONFLICT (notification_id) DO UPDATE
                    SET status = 'pending', attempts = 0, due_at = now(), last_error = NULL, finished_at = NULL
                    WHERE \(message.replayed) AND notifier_messages.status = 'failed'
                    """)
            }
            try await connection.flush()
        }
    }

    /// Whether this direct message was posted already (a sender that died before recording it as sent).
    func isPosted(_ id: UUID) async throws -> Bool {
        try await pool.query("SELECT 1 FROM slack_messages WHERE notification_id = \(id)").first != nil
    }

    /// Keeps a posted message. If its request has already ended, it is due for its update at once.
    func recordPosted(
        id: UUID, requestId: String, approver: String, slackUser: String, channel: String, ts: String, summary: String
    ) async throws {
        try await pool.query(
            """
            INSERT INTO slack_messages (notification_id, request_id, approver, slack_user, channel, ts, summary, final_text,
                                        update_due_at)
            SELECT \(id), \(requestId), \(approver), \(slackUser), \(channel), \(ts), \(summary), o.final_text, now()
            FROM (SELECT 1) one LEFT JOIN slack_outcomes o ON o.request_id = \(requestId)
            ON CONFLICT (notification_id) DO NOTHING
            """)
    }

    /// Records how requests ended and makes their messages due for an update. Applying one twice changes nothing.
    func recordOutcomes(_ outcomes: [(requestId: String, text: String)]) async throws {
        guard !outcomes.isEmpty else { return }
        try await pool.transaction { connection in
            for outcome in outcomes {
                connection.queue(
                    """
                    INSERT INTO slack_outcomes (request_id, final_text) VALUES (\(outcome.requestId), \(outcome.text))
                    ON CONFLICT (request_id) DO NOTHING
                    """)
                connection.queue(
                    """
                    UPDATE slack_messages SET final_text = \(outcome.text), update_due_at = now()
                    WHERE request_id = \(outcome.requestId) AND final_text IS NULL
                    """)
            }
            try await connection.flush()
        }
    }

    /// A message whose request ended, claimed for one `chat.update`.
    struct Update: Sendable {
        var id: UUID
        var channel: String
        var ts: String
        var summary: String
        var finalText: String
        var attempt: Int
    }

    func claimUpdate() async throws -> Update? {
        try await pool.query(claimUpdateStatement).decode((UUID, String, String, String, String, Int).self).first.map {
            Update(id: $0.0, channel: $0.1, ts: $0.2, summary: $0.3, finalText: $0.4, attempt: $0.5)
        }
    }

    /// The statement `claimUpdate()` runs (a test keeps its plan): the message is chosen once, in an InitPlan, so
    /// that one claim takes one message however it is planned (see `DeliveryQueue.claimStatement`).
    var claimUpdateStatement: PostgresQuery {
        let lease = Int(updateLease.components.seconds)
        return """
            UPDATE slack_messages
            SET update_due_at = now() + \(lease) * interval '1 second', update_attempts = update_attempts + 1
            WHERE notification_id = (
                SELECT notification_id FROM slack_messages
                WHERE final_text IS NOT NULL AND updated_at IS NULL AND update_due_at <= now()
                ORDER BY update_due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING notification_id, channel, ts, summary, final_text, update_attempts
            """
    }

    /// The update is done (or failed for good, with why).
    func finishUpdate(_ update: Update, error: String?) async throws {
        try await pool.query(
            "UPDATE slack_messages SET updated_at = now(), last_error = \(error) WHERE notification_id = \(update.id)")
    }

    /// Forgets messages updated, and outcomes received, longer than `retention` ago; how many rows went.
    func prune(retention: Duration) async throws -> Int {
        let seconds = Int(retention.components.seconds)
        let results = try await pool.withConnection { connection in
            try await connection.query([
                """
                DELETE FROM slack_messages WHERE notification_id IN (
                    SELECT notification_id FROM slack_messages
                    WHERE updated_at < now() - \(seconds) * interval '1 second' LIMIT 1000)
                """,
                """
                DELETE FROM slack_outcomes WHERE request_id IN (
                    SELECT request_id FROM slack_outcomes WHERE received_at < now() - \(seconds) * interval '1 second' LIMIT 1000)
                """,
            ])
        }
        return results.reduce(0) { $0 + $1.affectedRows }
    }

    func retryUpdate(_ update: Update, after seconds: Double, error: String) async throws {
        try await pool.query(
            """
            UPDATE slack_messages SET update_due_at = now() + \(Int(seconds * 1000)) * interval '1 millisecond',
                last_error = \(error)
            WHERE notification_id = \(update.id)
            """)
    }
}
