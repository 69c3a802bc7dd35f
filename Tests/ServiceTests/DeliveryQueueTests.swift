import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Mail
import MailSink
@testable import Notifier
import Postgres
import ServiceSupport
import Testing

/// The notifier's delivery queue against a real Postgres and a real SMTP server (STARTTLS, AUTH): each
/// notification is kept once, tried until it is sent, refused for good or past its deadline, and never sent
/// twice; every outcome is reported.
@Suite(.timeLimit(.minutes(2)), .serialized)
struct DeliveryQueueTests {
    static let secret = LinkSecret("delivery-queue-tests-secret-0123456789")!
    let logger = TestEnvironment.logger("delivery-queue")

    struct Harness {
        let pool: PostgresPool
        let queue: DeliveryQueue
        let worker: DeliveryWorker
        let server: TLSSMTPServer
        let cluster: KafkaMockCluster
        let producer: KafkaProducer

        func stop() async {
            await producer.shutdown()
            await server.stop()
            pool.close()
        }

        func row(_ id: UUID) async throws -> (status: String, attempts: Int, report: String?, error: String?) {
            let row = try #require(
                try await pool.query(
                    "SELECT status, attempts, report_result, last_error FROM notifier_messages WHERE notification_id = \(id)"
                ).decode((String, Int, String?, String?).self).first)
            return (row.0, row.1, row.2, row.3)
        }

        func reports() async throws -> [NotificationDelivery] {
            try await reports(of: NotificationDelivery.self)
        }

        func reports<Report: Decodable>(of type: Report.Type) async throws -> [Report] {
            try await KafkaTopicReader.readAll(
                topic: Topic.internalCommands.rawValue, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers),
                logger: TestEnvironment.logger("reports")
            ).compactMap { try? GreenlightJSON.decode(Report.self, from: Data($0.value)) }
        }

        /// Claims and delivers whatever is due now; how many were tried.
        @discardableResult
        func deliverDue() async throws -> Int {
            var tried = 0
            while let claim = try await queue.claim() {
                try await worker.deliver(claim)
                tried += 1
            }
            try await worker.reporter.clearPublished()
            return tried
        }
    }

    /// `backoff`: how long a retried message waits (1.5–3 s by default, with jitter); a test that brings attempts forward
    /// itself (`makeDue`) takes a long one, so that a slow machine cannot make a message due early.
    func harness(
        callbacks: CallbackDelivery = CallbackDelivery(defaultSecret: nil, allowPrivate: true), backoff: Duration = .seconds(3)
    ) async throws -> Harness {
        let pool = try await TestDatabase.create("notifier").pool()
        try await PostgresMigrator.migrate(pool, component: NotifierSchema.component, migrations: NotifierSchema.migrations, logger: logger)
        let server = try await TLSSMTPServer.start()
        let cluster = try KafkaMockCluster()
        for topic in [Topic.internalCommands, .deadLetters] { try cluster.createTopic(topic.rawValue, partitions: 1) }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        var configuration = try NotifierConfiguration.load([
            "GREENLIGHT_LINK_SECRET": "delivery-queue-tests-secret-0123456789",
            "GREENLIGHT_SMTP_URL": "smtp://\(server.user):\(server.password)@127.0.0.1:\(server.port)?tls=starttls&cafile=\(server.certificatePath)",
            "GREENLIGHT_MAIL_FROM": "greenlight@example.com",
        ])
        configuration.retryInitialDelay = .milliseconds(10)
        let queue = DeliveryQueue(pool: pool)
        let reporter = DeliveryReporter(queue: queue, producer: producer, logger: logger)
        let worker = DeliveryWorker(
            queue: queue, smtp: SMTPClient(configuration: configuration.smtp), webhook: WebhookPoster(url: nil, logger: logger),
            callbacks: callbacks,
            reporter: reporter, producer: producer, configuration: configuration,
            schedule: Backoff(initial: backoff, maximum: backoff), wakeUp: WakeUpSignal(), logger: logger)
        return Harness(pool: pool, queue: queue, worker: worker, server: server, cluster: cluster, producer: producer)
    }

    func notification(to approver: String, expiresIn: TimeInterval = 3600) -> DeliveryQueue.Incoming {
        let notification = NotificationRequested(
            requestId: TestEnvironment.uniqueName("REQ"), executionId: UUID(), approver: approver, tokenNonce: UUID(),
            amount: 10, currency: "USD", description: "Queued", requester: nil, submittedAt: Date(),
            expiresAt: Date().addingTimeInterval(expiresIn))
        return DeliveryQueue.Incoming(
            notification: notification, payload: String(decoding: try! GreenlightJSON.encode(notification), as: UTF8.self),
            trace: nil, partition: 0, offset: 7, replayed: false)
    }

    @Test func aBatchOfNotificationsWakesOneSenderForEachMessageItQueued() async throws {
        let h = try await harness()
        try h.cluster.createTopic(Topic.notifications.rawValue, partitions: 1)
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: h.cluster.bootstrapServers),
            groupId: TestEnvironment.uniqueName("receiver"), topics: [Topic.notifications.rawValue], logger: logger)
        let wakeUp = WakeUpSignal()
        let configuration = h.worker.configuration
        let receiver = NotificationReceiver(
            consumer: consumer, producer: h.producer, queue: h.queue, configuration: configuration, wakeUp: wakeUp, logger: logger)
        // Four idle senders.
        let senders = (0..<4).map { _ in Task { await wakeUp.wait(timeout: .seconds(120)) } }
        defer { for sender in senders { sender.cancel() } }
        try await waitUntil(timeout: .seconds(60), interval: .milliseconds(10)) { wakeUp.waiting == 4 }
        func message(_ incoming: DeliveryQueue.Incoming, offset: Int64) -> KafkaMessage {
            KafkaMessage(
                topic: Topic.notifications.rawValue, partition: 0, offset: offset, key: nil,
                value: Array(incoming.payload.utf8), headers: [])
        }
        // One message: one sender goes to claim it, three wait on.
        let first = notification(to: "a@example.com")
        try await receiver.receive([message(first, offset: 0)])
        #expect(try await h.row(first.notification.eventId).status == "pending")
        #expect(wakeUp.waiting == 3)
        // Two more: two more senders.
        try await receiver.receive([message(notification(to: "b@example.com"), offset: 1), message(notification(to: "c@example.com"), offset: 2)])
        #expect(wakeUp.waiting == 1)
        await consumer.close()
        await h.stop()
    }

    @Test func aNotificationIsKeptOnceAndSentOnceWithAStableMessageId() async throws {
        let h = try await harness()
        let message = notification(to: "a@example.com")
        try await h.queue.insert([message])
        // Delivered again by Kafka (the relay published it twice, an offset was not committed): still one row.
        try await h.queue.insert([message, message])
        #expect(try await h.deliverDue() == 1)
        try await h.queue.insert([message])
        #expect(try await h.deliverDue() == 0)
        #expect(h.server.messages.count == 1)
        let mail = ParsedMail(raw: try #require(h.server.messages.first))
        #expect(mail.header("Message-ID") == "<notification-\(message.notification.eventId.uuidString.lowercased())@example.com>")
        #expect(try await h.row(message.notification.eventId).status == "sent")
        let reports = try await h.reports()
        #expect(reports.map(\.result) == [.delivered])
        #expect(reports.first?.notificationId == message.notification.eventId)
        // The report went out and is no longer waiting.
        #expect(try await h.row(message.notification.eventId).report == nil)
        // The token is derived by the notifier and written into the email only, never stored.
        let token = LinkToken.derive(secret: Self.secret, nonce: message.notification.tokenNonce)
        #expect(mail.links.contains { $0.hasSuffix(token) })
        #expect(try await h.pool.tablesContaining(token).isEmpty)
        await h.stop()
    }

    /// Published reports are cleared from their rows later, together, in one statement: until then each row still
    /// holds its report; a report that a newer one replaced meanwhile is not cleared (the newer one waits for its own
    /// publishing).
    @Test func publishedReportsAreClearedTogetherLater() async throws {
        let h = try await harness()
        let messages = (0..<3).map { notification(to: "together-\($0)@example.com") }
        try await h.queue.insert(messages)
        var sent = 0
        while let claim = try await h.queue.claim() {
            try await h.worker.deliver(claim)
            sent += 1
        }
        #expect(sent == 3)
        #expect(try await h.reports().map(\.result) == [.delivered, .delivered, .delivered])
        #expect(h.worker.reporter.published.count == 3)
        for message in messages { #expect(try await h.row(message.notification.eventId).report == "delivered") }
        let replaced = messages[0].notification.eventId
        try await h.pool.query(
            "UPDATE notifier_messages SET report_at = report_at + interval '1 second' WHERE notification_id = \(replaced)")

        try await h.worker.reporter.clearPublished()
        #expect(h.worker.reporter.published.count == 0)
        #expect(try await h.row(replaced).report == "delivered")
        for message in messages.dropFirst() { #expect(try await h.row(message.notification.eventId).report == nil) }
        await h.stop()
    }

    @Test func aTemporaryRefusalIsTriedAgainLaterAndDeliveredOnce() async throws {
        let h = try await harness()
        let message = notification(to: "tempfail-once@example.com")
        try await h.queue.insert([message])
        let first = try await h.deliverDue()
        let after451 = try await h.row(message.notification.eventId)
        #expect(first == 1)
        #expect(after451.status == "pending" && after451.attempts == 1)
        #expect(after451.error?.contains("451") == true)
        // Not before its back-off (1.5–3 s here), then once.
        #expect(try await h.deliverDue() == 0)
        try await Task.sleep(for: .seconds(3))
        #expect(try await h.deliverDue() == 1)
        #expect(try await h.row(message.notification.eventId).status == "sent")
        #expect(h.server.messages.filter { $0.contains("X-Test-Envelope-To: tempfail-once@example.com") }.count == 1)
        #expect(try await h.reports().map { "\($0.result.rawValue) \($0.attempt)" } == ["retrying 1", "delivered 2"])
        await h.stop()
    }

    @Test func aPermanentRefusalOrThePassedDeadlineEndsTheTries() async throws {
        let h = try await harness()
        let refused = notification(to: "reject@example.com")
        let late = notification(to: "late@example.com", expiresIn: -1)
        try await h.queue.insert([refused, late])
        #expect(try await h.deliverDue() == 2)
        #expect(try await h.row(refused.notification.eventId).status == "failed")
        #expect(try await h.row(refused.notification.eventId).error?.contains("550") == true)
        #expect(try await h.row(late.notification.eventId).status == "failed")
        #expect(try await h.row(late.notification.eventId).error?.contains("deadline") == true)
        #expect(h.server.messages.isEmpty)
        #expect(Set(try await h.reports().map(\.result)) == [.failed])
        // The refused one is in the dead-letter topic, where an operator can replay it once the address is fixed.
        let letters = try await KafkaTopicReader.readAll(
            topic: Topic.deadLetters.rawValue, configuration: KafkaConfiguration(bootstrapServers: h.cluster.bootstrapServers),
            logger: logger
        ).compactMap { try? GreenlightJSON.decode(DeadLetter.self, from: Data($0.value)) }
        #expect(letters.map(\.topic) == [Topic.notifications.rawValue])
        #expect(letters.first?.offset == 7)
        var replayed = refused
        replayed.replayed = true
        try await h.queue.insert([replayed])
        #expect(try await h.row(refused.notification.eventId).status == "pending")
        await h.stop()
    }

    /// A reminder published while the first request to the same approver is still being sent (or retried) waits for
    /// it: the approver never reads "Reminder" before the request itself. Other approvers are not held up.
    @Test func oneApproversMessagesAboutARequestGoInOrder() async throws {
        let h = try await harness()
        let first = notification(to: "slow@example.com")
        var reminder = notification(to: "slow@example.com")
        reminder.notification.requestId = first.notification.requestId
        reminder.notification.kind = .reminder
        reminder.offset = first.offset + 1
        let other = notification(to: "other@example.com")
        try await h.queue.insert([first, reminder, other])
        // While the first is being sent, only the other approver's message can be claimed besides it.
        let claims = [try await h.queue.claim(), try await h.queue.claim()].compactMap { $0 }
        #expect(Set(claims.map(\.notificationId)) == [first.notification.eventId, other.notification.eventId])
        #expect(try await h.queue.claim() == nil)
        try await h.worker.deliver(try #require(claims.first { $0.notificationId == first.notification.eventId }))
        #expect(try await h.queue.claim()?.notificationId == reminder.notification.eventId)
        await h.stop()
    }

    /// A sender that dies while it holds a message gives it back when its claim runs out.
    @Test func aClaimThatRunsOutGoesToAnotherSender() async throws {
        let h = try await harness()
        let message = notification(to: "b@example.com")
        try await h.queue.insert([message])
        let claim = try #require(try await h.queue.claim())
        #expect(try await h.queue.claim() == nil)
        try await h.pool.query("UPDATE notifier_messages SET due_at = now() - interval '1 second'")
        let again = try #require(try await h.queue.claim())
        #expect(again.attempt == claim.attempt + 1)
        #expect(try await h.queue.renew(claim) == false)
        try await h.worker.deliver(again)
        #expect(h.server.messages.count == 1)
        await h.stop()
    }

    /// Recording an attempt returns the report it recorded, the one the sender publishes (no read-back); the outcome
    /// of a claim that ran out is not recorded, and there is nothing to publish.
    @Test func recordingAnAttemptReturnsItsReport() async throws {
        let h = try await harness()
        let message = notification(to: "r@example.com")
        try await h.queue.insert([message])
        let stale = try #require(try await h.queue.claim())
        try await h.pool.query("UPDATE notifier_messages SET due_at = now() - interval '1 second'")
        let claim = try #require(try await h.queue.claim())
        #expect(try await h.queue.record(.retry(error: "421 busy", after: 0), of: stale) == nil)
        let retrying = try #require(try await h.queue.record(.retry(error: "421 busy", after: 0), of: claim))
        #expect(retrying.notificationId == message.event.eventId)
        #expect(retrying.result == .retrying && retrying.attempt == 2 && retrying.error == "421 busy")
        let again = try #require(try await h.queue.claim())
        let sent = try #require(try await h.queue.record(.sent, of: again))
        #expect(sent.result == .delivered && sent.attempt == 3 && sent.error == nil && sent.kind == .notification)
        #expect(sent.payload == message.payload)
        await h.stop()
    }

    /// A claim planned while the table was empty (and kept: a new deployment, before autovacuum's first ANALYZE)
    /// read every waiting message for every candidate; a backlog of 3,000 cost seconds of database time. The queue
    /// counts what it inserts, and the notifier's renewal analyzes the table as it fills (apart from the insert, which
    /// never waits for it), so the kept plan is replaced by one that reads a row at a time.
    @Test func theClaimIsReplannedAsTheQueueFills() async throws {
        let h = try await harness()
        // Only the renewal analyzes the table in this test.
        _ = try await h.pool.query("ALTER TABLE notifier_messages SET (autovacuum_enabled = false)")
        func tuples() async throws -> Int {
            try await h.pool.query("SELECT reltuples::int FROM pg_class WHERE relname = 'notifier_messages'").column(Int.self).first ?? 0
        }
        let plan = try await h.pool.withConnection { connection in
            // The plan is made now, on the empty table, and kept for every later execution.
            _ = try await connection.query("SET plan_cache_mode = force_generic_plan")
            let claim = try await PreparedClaim.prepare(h.queue.claimStatement, as: "claim_on_empty", on: connection)
            _ = try await connection.query(PostgresQuery(stringLiteral: "EXPLAIN \(claim.execute)"))
            for index in 0..<300 {
                try await h.queue.insert([notification(to: "backlog-\(index)@example.com")])
            }
            #expect(try await tuples() == -1, "an insert analyzed the table itself")
            let renewal = Task { await h.queue.statistics.renewWhenDue(on: h.pool, logger: logger) }
            let analyzed = try await eventually(timeout: .seconds(20), interval: .milliseconds(50)) { try await tuples() > 0 }
            renewal.cancel()
            await renewal.value
            #expect(analyzed, "the renewal never analyzed the table")
            return try await claim.explain(on: connection)
        }
        // Each lookup is by its index, a row at a time, not all 300 waiting.
        #expect(plan.contains("notifier_messages_in_order"))
        #expect(!plan.contains("Bitmap Heap Scan"))
        PreparedClaim.expectOneRowAtATime(plan)
        await h.stop()
    }

    /// Every message sent, the table analyzed, then a burst: the statistics say that nothing waits, and the partial
    /// indexes of what waits are planned as empty. On such statistics the order check scanned the whole due index for
    /// every candidate (after 20,000 approvals, a burst of 10,000 made claims of a minute); it looks each
    /// candidate's recipient up by the index of every row.
    @Test func aClaimPlannedBeforeABurstLooksUpEachCandidatesRecipient() async throws {
        let h = try await harness()
        try await fill(h.pool, count: 3000, status: "sent", prefix: "before")
        _ = try await h.pool.query("ANALYZE notifier_messages")
        try await fill(h.pool, count: 300, status: "pending", prefix: "burst")
        let plan = try await h.pool.withConnection { connection in
            try await PreparedClaim.prepare(h.queue.claimStatement, as: "claim_after_burst", on: connection).explain(on: connection)
        }
        #expect(plan.contains("notifier_messages_in_order"))
        PreparedClaim.expectOneRowAtATime(plan)
        await h.stop()
    }

    /// A claim planned on a table analyzed empty, kept (a prepared statement's generic plan) and then run on a full one
    /// takes one message. As an UPDATE … FROM its subquery, that plan scanned the table for rows to update and ran
    /// the subquery again for each one, claiming every message due in one statement.
    @Test func oneClaimTakesOneMessageHoweverItIsPlanned() async throws {
        let h = try await harness()
        _ = try await h.pool.query("ANALYZE notifier_messages")
        let returned = try await h.pool.withConnection { connection in
            _ = try await connection.query("SET plan_cache_mode = force_generic_plan")
            let claim = try await PreparedClaim.prepare(h.queue.claimStatement, as: "claim_planned_empty", on: connection)
            #expect(try await connection.query(PostgresQuery(stringLiteral: claim.execute)).count == 0)
            try await fill(h.pool, count: 50, status: "pending", prefix: "waiting")
            return try await connection.query(PostgresQuery(stringLiteral: claim.execute)).count
        }
        #expect(returned == 1)
        let sending = try await h.pool.query("SELECT count(*) FROM notifier_messages WHERE status = 'sending'").column(Int.self)
        #expect(sending == [1])
        await h.stop()
    }

    /// Writes `count` messages, each to its own recipient, straight into the table (not through `insert`, which counts
    /// them toward analyzing it as it grows): `sent` ones finished, `pending` ones due, oldest first.
    func fill(_ pool: PostgresPool, count: Int, status: String, prefix: String) async throws {
        _ = try await pool.query(
            """
            INSERT INTO notifier_messages
                (notification_id, request_id, approver, channel, payload, source_partition, source_offset, deadline, status,
                 due_at, finished_at)
            SELECT gen_random_uuid(), \(prefix) || '-' || g, \(prefix) || '-' || g || '@example.com', 'email', '{}', 0, g,
                   now() + interval '1 hour', \(status), now() - interval '1 minute' + g * interval '1 millisecond',
                   CASE WHEN \(status) = 'sent' THEN now() END
            FROM generate_series(1, \(count)::integer) g
            """)
    }
}

/// The claim statement prepared by name on one connection, to keep or to look at its plan.
struct PreparedClaim {
    let name: String
    let arguments: String

    static func prepare(_ statement: PostgresQuery, as name: String, on connection: PostgresConnection) async throws -> PreparedClaim {
        _ = try await connection.query(PostgresQuery(stringLiteral: "PREPARE \(name) AS " + statement.sql))
        let arguments = statement.bindings.map { $0.map { "'\($0)'" } ?? "NULL" }.joined(separator: ", ")
        return PreparedClaim(name: name, arguments: arguments)
    }

    var execute: String { "EXECUTE \(name)(\(arguments))" }

    /// Runs it once under EXPLAIN ANALYZE: the plan with what each step read, as JSON.
    func explain(on connection: PostgresConnection) async throws -> String {
        try await connection.query(PostgresQuery(stringLiteral: "EXPLAIN (ANALYZE, FORMAT JSON) \(execute)"))
            .column(String.self).joined()
    }

    /// No step of `plan` read more than one row, and none read rows to throw them away by a join's condition.
    static func expectOneRowAtATime(_ plan: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!plan.contains("Rows Removed by Join Filter"), "\(plan)", sourceLocation: sourceLocation)
        let rowsRead = plan.matches(of: /"Actual Rows": (\d+)/).compactMap { Int($0.1) }
        #expect(rowsRead.max() ?? 0 <= 1, "the plan read \(rowsRead.max() ?? 0) rows in one step: \(plan)", sourceLocation: sourceLocation)
    }
}
