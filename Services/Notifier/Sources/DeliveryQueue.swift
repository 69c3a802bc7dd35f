import Foundation
import GreenlightModels
import Logging
import Postgres

/// The notifier's SQL on `notifier_messages`: what to deliver, who is sending what, what happened, and what is left
/// to report. Claims are leases that expire: a sender that dies gives its messages back within `claimLease`.
struct DeliveryQueue: Sendable {
    let pool: PostgresPool
    /// How long a claim holds a message unless renewed.
    var claimLease: Duration = .seconds(10)
    /// When the table's statistics are renewed (`insert` counts its rows; the notifier runs `renewWhenDue`): a claim
    /// planned while the queue was nearly empty reads every waiting message for every candidate.
    let statistics = TableGrowth(tables: ["notifier_messages"])
    var logger = Logger(label: "greenlight.notifier.queue")

    private var leaseMilliseconds: Int {
        Int(claimLease.components.seconds * 1000 + claimLease.components.attoseconds / 1_000_000_000_000_000)
    }

    /// A notification or an outcome webhook as received from `approvals.notifications`.
    struct Received<Event: Queueable>: Sendable {
        var event: Event
        var payload: String
        var trace: String?
        var partition: Int32
        var offset: Int64
        /// A dead letter replayed by an operator: a message that failed for good is tried again.
        var replayed: Bool
    }

    typealias Incoming = Received<NotificationRequested>
    typealias IncomingWebhook = Received<WebhookRequested>
    typealias IncomingSignIn = Received<SignInLinkRequested>
    typealias IncomingDigest = Received<DigestRequested>

    /// What a row is: a notification to an approver, or an outcome webhook.
    enum Kind: String, Sendable {
        case notification
        case webhook
        /// An email with a link to sign in to the inbox (`SignInLinkRequested`).
        case signIn = "sign-in"
        /// A Slack direct message with buttons (the same notification as an approver's email).
        case slack
        /// The day's digest for one person (`DigestRequested`).
        case digest
    }

    /// Keeps each message once, by its event id: a redelivered one (the relay published it twice, the offset was not
    /// committed) changes nothing. A replayed one that had failed is tried again from the start.
    func insert<Event>(_ messages: [Received<Event>]) async throws {
        guard !messages.isEmpty else { return }
        try await pool.withConnection { connection in
            for message in messages {
                let row = message.event.row
                connection.queue(
                    """
                    INSERT INTO notifier_messages
                        (notification_id, kind, request_id, approver, channel, payload, trace_parent, source_partition,
                         source_offset, deadline, status, due_at)
                    VALUES (\(message.event.eventId), \(Event.queueKind.rawValue), \(message.event.requestId), \(row.approver),
                            \(row.channel), \(message.payload), \(message.trace), \(message.partition), \(message.offset),
                            \(row.deadline), 'pending', now())
                    ON CONFLICT (notification_id) DO UPDATE
                    SET status = 'pending', attempts = 0, due_at = now(), last_error = NULL, last_status = NULL,
                        finished_at = NULL
                    WHERE \(message.replayed) AND notifier_messages.status = 'failed'
                    """)
            }
            try await connection.flush()
            statistics.count(messages.count)
        }
    }

    /// A message claimed for one attempt.
    struct Claim: Sendable {
        var notificationId: UUID
        var kind: Kind
        var payload: String
        var trace: String?
        var partition: Int32
        var offset: Int64
        var attempt: Int
        var deadline: Date
        /// The database's time at the claim.
        var now: Date
    }

    /// Claims the message that has waited longest among those due (a pending one whose time has come, or one whose
    /// sender's claim ran out); nil when none is. One approver's messages about one request go in the order they were
    /// published: a reminder waits while the first request for that approver is still being sent or retried, so it
    /// never arrives before it. The order check goes through its index whatever the statistics say; the scan of due
    /// messages, once they describe what the table holds (see `statistics` and `claimStatement`).
    func claim() async throws -> Claim? {
        try await pool.query(claimStatement).decode((UUID, String, String?, Int32, Int64, Int, Date, Date, String).self).first.map {
            Claim(
                notificationId: $0.0, kind: Kind(rawValue: $0.8) ?? .notification, payload: $0.1, trace: $0.2, partition: $0.3,
                offset: $0.4, attempt: $0.5, deadline: $0.6, now: $0.7)
        }
    }

    /// The statement `claim()` runs (tests read its plan). The message is chosen once, in an InitPlan, and updated by
    /// its key: however the planner joins, one claim takes one message (an UPDATE … FROM the same subquery, planned
    /// on a table analyzed empty, ran it again for every row it scanned and claimed them all). The order check asks
    /// for `finished_at IS NULL` (which the table's constraint ties to a pending or sending status) so that no partial
    /// index qualifies for it: one whose statistics say it is empty would be scanned whole for every candidate.
    var claimStatement: PostgresQuery {
        """
            UPDATE notifier_messages
            SET status = 'sending', attempts = attempts + 1, due_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
            WHERE notification_id = (
                SELECT c.notification_id FROM notifier_messages c
                WHERE c.status IN ('pending', 'sending') AND c.due_at <= now()
                  AND NOT EXISTS (
                      SELECT 1 FROM notifier_messages e
                      WHERE e.request_id = c.request_id AND e.approver = c.approver AND e.channel = c.channel
                        AND e.source_partition = c.source_partition AND e.source_offset < c.source_offset
                        AND e.finished_at IS NULL)
                ORDER BY c.due_at LIMIT 1 FOR UPDATE OF c SKIP LOCKED)
            RETURNING notification_id, payload, trace_parent, source_partition, source_offset, attempts, deadline, now(), kind
            """
    }

    /// Extends a claim that is still this attempt's; false when it is not (it ran out and another sender has it).
    func renew(_ claim: Claim) async throws -> Bool {
        try await pool.query(
            """
            UPDATE notifier_messages SET due_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
            WHERE notification_id = \(claim.notificationId) AND status = 'sending' AND attempts = \(claim.attempt)
            """
        ).affectedRows == 1
    }

    /// How an attempt ended.
    enum Outcome: Sendable {
        case sent
        /// A temporary failure: tried again `after` seconds from now.
        case retry(error: String, after: TimeInterval)
        /// A permanent refusal, or the deadline passed.
        case failed(error: String)
    }

    /// Records how an attempt ended, with the report to publish, and returns that report (nil when the claim had run
    /// out and another sender has the message, or when a retry or failure was recorded by a first try whose reply
    /// was lost: the sweep publishes that one). `sent` is what makes a message never go out again: written right
    /// after the server's acceptance.
    /// `statusCode` is the HTTP status a webhook's receiver answered, if it did.
    func record(_ outcome: Outcome, of claim: Claim, statusCode: Int? = nil) async throws -> Report? {
        let query: PostgresQuery
        switch outcome {
        case .sent:
            query = """
                UPDATE notifier_messages
                SET status = 'sent', finished_at = now(), last_error = NULL, report_result = 'delivered', report_at = now(),
                    last_status = \(statusCode)
                WHERE notification_id = \(claim.notificationId)
                RETURNING \(sql: Report.columns)
                """
        case .retry(let error, let after):
            query = """
                UPDATE notifier_messages
                SET status = 'pending', due_at = now() + \(Int(after * 1000)) * interval '1 millisecond', last_error = \(error),
                    report_result = 'retrying', report_at = now(), last_status = \(statusCode)
                WHERE notification_id = \(claim.notificationId) AND status = 'sending' AND attempts = \(claim.attempt)
                RETURNING \(sql: Report.columns)
                """
        case .failed(let error):
            query = """
                UPDATE notifier_messages
                SET status = 'failed', finished_at = now(), last_error = \(error), report_result = 'failed', report_at = now(),
                    last_status = \(statusCode)
                WHERE notification_id = \(claim.notificationId) AND status = 'sending' AND attempts = \(claim.attempt)
                RETURNING \(sql: Report.columns)
                """
        }
        return try await pool.query(query).first.map(Report.init)
    }

    /// A delivery report waiting to be published.
    struct Report: Sendable {
        var notificationId: UUID
        var kind: Kind
        var payload: String
        var trace: String?
        var result: NotificationDelivery.Result
        var attempt: Int
        var error: String?
        var statusCode: Int?
        var at: Date

        static let columns: StaticString =
            "notification_id, payload, trace_parent, report_result, attempts, last_error, report_at, kind, last_status"
    }

    /// Reports recorded at least `olderThan` ago and not published yet (a sender that could not publish them).
    func pendingReports(olderThan: Duration, limit: Int) async throws -> [Report] {
        let milliseconds = Int(olderThan.components.seconds * 1000)
        return try await pool.query(
            """
            SELECT \(sql: Report.columns) FROM notifier_messages
            WHERE report_result IS NOT NULL AND report_at < now() - \(milliseconds) * interval '1 millisecond'
            ORDER BY report_at LIMIT \(limit)
            """
        ).map(Report.init)
    }

    /// Clears published reports, in one statement however many, except those a newer report replaced meanwhile.
    func clearReports(_ reports: [Report]) async throws {
        guard !reports.isEmpty else { return }
        try await pool.query(
            """
            UPDATE notifier_messages m SET report_result = NULL
            FROM unnest(\(PostgresArray(reports.map(\.notificationId.postgresText)))::uuid[],
                        \(PostgresArray(reports.map(\.at.postgresText)))::timestamptz[]) AS r (id, at)
            WHERE m.notification_id = r.id AND m.report_at = r.at
            """)
    }

    /// Deletes up to `limit` messages that were sent or failed before `retention` ago and have nothing left to
    /// report; returns how many.
    func prune(retention: Duration, limit: Int) async throws -> Int {
        let seconds = Int(retention.components.seconds)
        return try await pool.query(
            """
            DELETE FROM notifier_messages WHERE notification_id IN (
                SELECT notification_id FROM notifier_messages
                WHERE finished_at < now() - \(seconds) * interval '1 second' AND report_result IS NULL
                LIMIT \(limit))
            """
        ).affectedRows
    }

    /// How many messages wait to be sent (pending or being sent).
    func waiting() async throws -> Int {
        try await pool.query("SELECT count(*) FROM notifier_messages WHERE status IN ('pending', 'sending')")
            .column(Int.self).first ?? 0
    }
}

/// An event the queue keeps: what its row says besides the payload.
protocol Queueable: GreenlightEvent {
    static var queueKind: DeliveryQueue.Kind { get }
    /// Who it goes to and on which channel (a claim keeps one recipient's messages about a request in order), and
    /// the time after which it is not tried again.
    var row: (approver: String, channel: String, deadline: Date) { get }
}

extension NotificationRequested: Queueable {
    static var queueKind: DeliveryQueue.Kind { .notification }
    var row: (approver: String, channel: String, deadline: Date) { (approver, (channel ?? .email).rawValue, expiresAt) }
}

/// One request's webhooks share a recipient (`callback`), so they are delivered in the order they were published.
extension WebhookRequested: Queueable {
    static var queueKind: DeliveryQueue.Kind { .webhook }
    var row: (approver: String, channel: String, deadline: Date) { ("callback", "callback", expiresAt) }
}

/// One person's sign-in emails go in order, and only until the link expires.
extension SignInLinkRequested: Queueable {
    static var queueKind: DeliveryQueue.Kind { .signIn }
    var row: (approver: String, channel: String, deadline: Date) { (email, NotificationChannel.email.rawValue, expiresAt) }
}

/// One person's digests go in order, and only until they go stale.
extension DigestRequested: Queueable {
    static var queueKind: DeliveryQueue.Kind { .digest }
    var row: (approver: String, channel: String, deadline: Date) { (email, NotificationChannel.email.rawValue, expiresAt) }
}

extension DeliveryQueue.Received where Event == NotificationRequested {
    init(notification: NotificationRequested, payload: String, trace: String?, partition: Int32, offset: Int64, replayed: Bool) {
        self.init(event: notification, payload: payload, trace: trace, partition: partition, offset: offset, replayed: replayed)
    }

    var notification: NotificationRequested {
        get { event }
        set { event = newValue }
    }
}

extension DeliveryQueue.Report {
    /// A report from a row read with `columns`.
    init(_ row: PostgresRow) throws {
        let (id, payload, trace, result, attempt, error, at, kind, status) = try row.decode(
            (UUID, String, String?, String, Int, String?, Date, String, Int?).self)
        self.init(
            notificationId: id, kind: DeliveryQueue.Kind(rawValue: kind) ?? .notification, payload: payload, trace: trace,
            result: NotificationDelivery.Result(rawValue: result) ?? .failed, attempt: attempt, error: error,
            statusCode: status, at: at)
    }
}
