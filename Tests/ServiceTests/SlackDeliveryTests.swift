import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Mail
@testable import Notifier
import Postgres
import ServiceSupport
import Testing

/// Slack direct messages through the notifier's delivery queue, against a real Postgres and the fake Slack: one per
/// notification however often it is received, not posted again after a crash between the post and its record, and
/// an approver Slack does not know fails for good without holding anything back.
@Suite(.timeLimit(.minutes(2)), .serialized)
struct SlackDeliveryTests {
    let logger = TestEnvironment.logger("slack-delivery")

    struct Harness {
        let pool: PostgresPool
        let queue: DeliveryQueue
        let store: SlackMessageStore
        let worker: DeliveryWorker
        let slack: FakeSlack
        let producer: KafkaProducer

        func stop() async {
            await producer.shutdown()
            await slack.stop()
            pool.close()
        }

        @discardableResult
        func deliverDue() async throws -> Int {
            var tried = 0
            while let claim = try await queue.claim() {
                try await worker.deliver(claim)
                tried += 1
            }
            return tried
        }

        func status(_ id: UUID) async throws -> (String, String?) {
            try #require(
                try await pool.query("SELECT status, last_error FROM notifier_messages WHERE notification_id = \(id)")
                    .decode((String, String?).self).first)
        }
    }

    func harness() async throws -> Harness {
        let pool = try await TestDatabase.create("slack").pool()
        try await PostgresMigrator.migrate(pool, component: NotifierSchema.component, migrations: NotifierSchema.migrations, logger: logger)
        let slack = try await FakeSlack.start()
        let cluster = try KafkaMockCluster()
        for topic in [Topic.internalCommands, .deadLetters] { try cluster.createTopic(topic.rawValue, partitions: 1) }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        let configuration = try NotifierConfiguration.load([
            "GREENLIGHT_LINK_SECRET": "slack-delivery-tests-secret-0123456789",
            "GREENLIGHT_SLACK_BOT_TOKEN": FakeSlack.botToken, "GREENLIGHT_SLACK_API_URL": slack.apiURL,
        ])
        let settings = try #require(configuration.slack)
        let queue = DeliveryQueue(pool: pool)
        let store = SlackMessageStore(pool: pool)
        let worker = DeliveryWorker(
            queue: queue, smtp: SMTPClient(configuration: configuration.smtp), webhook: WebhookPoster(url: nil, logger: logger),
            callbacks: CallbackDelivery(defaultSecret: nil, allowPrivate: true),
            reporter: DeliveryReporter(queue: queue, producer: producer, logger: logger), producer: producer,
            configuration: configuration, schedule: Backoff(initial: .seconds(3), maximum: .seconds(3)), wakeUp: WakeUpSignal(),
            logger: logger, slack: SlackDelivery(api: SlackWebAPI(settings: settings), store: store, updates: WakeUpSignal()))
        return Harness(pool: pool, queue: queue, store: store, worker: worker, slack: slack, producer: producer)
    }

    func notification(to approver: String, kind: NotificationKind? = nil) -> DeliveryQueue.Incoming {
        var notification = NotificationRequested(
            requestId: TestEnvironment.uniqueName("REQ"), executionId: UUID(), approver: approver, tokenNonce: UUID(),
            amount: 10, currency: "USD", description: "Queued", requester: nil, submittedAt: Date(),
            expiresAt: Date().addingTimeInterval(3600))
        notification.kind = kind
        return DeliveryQueue.Incoming(
            notification: notification, payload: String(decoding: try! GreenlightJSON.encode(notification), as: UTF8.self),
            trace: nil, partition: 0, offset: 7, replayed: false)
    }

    @Test func aNotificationReceivedTwiceIsPostedOnceAndKept() async throws {
        let h = try await harness()
        let message = notification(to: "a@example.com")
        try await h.store.queueDirectMessages([message])
        try await h.store.queueDirectMessages([message, message])
        // A receipt, or the notice that a request went to a delegate, asks nothing of the approver: no direct message.
        try await h.store.queueDirectMessages([notification(to: "a@example.com", kind: .receipt)])
        try await h.store.queueDirectMessages([notification(to: "a@example.com", kind: .delegated)])
        #expect(try await h.deliverDue() == 1)
        try await h.store.queueDirectMessages([message])
        #expect(try await h.deliverDue() == 0)
        #expect(h.slack.calls("chat.postMessage").count == 1)
        let id = SlackMessageStore.directMessageId(for: message.notification.eventId)
        #expect(try await h.status(id).0 == "sent")
        let kept = try await h.pool.query("SELECT slack_user, channel, ts FROM slack_messages WHERE notification_id = \(id)")
            .decode((String, String, String).self)
        #expect(kept.map(\.0) == [FakeSlack.userId(for: "a@example.com")])
        #expect(kept.first?.1.hasPrefix("D") == true)
        await h.stop()
    }

    @Test func aMessagePostedBeforeACrashIsNotPostedAgain() async throws {
        let h = try await harness()
        let message = notification(to: "a@example.com")
        try await h.store.queueDirectMessages([message])
        let claim = try #require(try await h.queue.claim())
        // The sender posted and kept the message, then died before recording it sent: its claim runs out.
        try await h.store.recordPosted(
            id: claim.notificationId, requestId: message.notification.requestId, approver: "a@example.com", slackUser: "UA",
            channel: "DA", ts: "1.2", summary: "s")
        try await h.worker.deliver(claim)
        #expect(h.slack.calls("chat.postMessage").isEmpty)
        #expect(try await h.status(claim.notificationId).0 == "sent")
        await h.stop()
    }

    @Test func anEndedRequestsMessageIsUpdatedOnceAndForgottenAfterTheRetention() async throws {
        let h = try await harness()
        let message = notification(to: "a@example.com")
        try await h.store.queueDirectMessages([message])
        #expect(try await h.deliverDue() == 1)
        let requestId = message.notification.requestId
        try await h.store.recordOutcomes([(requestId, "Approved by a@example.com at 2026-11-30 12:00 UTC")])
        // The outcome read again (its offset was not committed): nothing changes.
        try await h.store.recordOutcomes([(requestId, "Rejected by someone else")])
        let update = try #require(try await h.store.claimUpdate())
        #expect(update.finalText == "Approved by a@example.com at 2026-11-30 12:00 UTC")
        #expect(try await h.store.claimUpdate() == nil, "claimed once")
        try await h.store.finishUpdate(update, error: nil)
        #expect(try await h.store.prune(retention: .seconds(3600)) == 0)
        try await Task.sleep(for: .seconds(1))
        #expect(try await h.store.prune(retention: .zero) == 2, "the message and its outcome")
        await h.stop()
    }

    /// An update claim planned on a table analyzed empty and kept (a prepared statement's generic plan), then run
    /// when many messages are due, takes one of them.
    @Test func oneUpdateClaimTakesOneMessageHoweverItIsPlanned() async throws {
        let h = try await harness()
        _ = try await h.pool.query("ANALYZE slack_messages")
        let returned = try await h.pool.withConnection { connection in
            _ = try await connection.query("SET plan_cache_mode = force_generic_plan")
            let claim = try await PreparedClaim.prepare(h.store.claimUpdateStatement, as: "update_claim_planned_empty", on: connection)
            #expect(try await connection.query(PostgresQuery(stringLiteral: claim.execute)).count == 0)
            _ = try await h.pool.query(
                """
                INSERT INTO slack_messages (notification_id, request_id, approver, slack_user, channel, ts, summary, final_text,
                                            update_due_at)
                SELECT gen_random_uuid(), 'REQ-' || g, 'a@example.com', 'U1', 'D1', g || '.000100', 'Summary', 'Approved',
                       now() - interval '1 second'
                FROM generate_series(1, 20) g
                """)
            return try await connection.query(PostgresQuery(stringLiteral: claim.execute)).count
        }
        #expect(returned == 1)
        let claimed = try await h.pool.query("SELECT count(*) FROM slack_messages WHERE update_attempts > 0").column(Int.self)
        #expect(claimed == [1])
        await h.stop()
    }

    @Test func anEndedRequestsMessagesSayHowItEnded() {
        let at = Date(timeIntervalSince1970: 1_796_040_000)  // 2026-11-30 12:00 UTC
        func outcome(_ status: ApprovalStatus, by: String?) -> String {
            SlackDirectMessage.outcomeText(
                ApprovalCompleted(
                    requestId: "R", executionId: UUID(), status: status, decidedBy: by, decidedAt: by == nil ? nil : at,
                    channel: nil, comment: nil, completedAt: at))
        }
        #expect(outcome(.approved, by: "a@example.com") == "Approved by a@example.com at 2026-11-30 12:00 UTC")
        #expect(outcome(.rejected, by: "b@example.com") == "Rejected by b@example.com at 2026-11-30 12:00 UTC")
        #expect(outcome(.approved, by: nil) == "Approved when its deadline passed, at 2026-11-30 12:00 UTC")
        #expect(outcome(.timedOut, by: nil) == "Expired at 2026-11-30 12:00 UTC: nobody decided before the deadline")
        #expect(outcome(.cancelled, by: nil) == "Cancelled at 2026-11-30 12:00 UTC")
        let (text, blocks) = SlackDirectMessage.ended(summary: "*Approval needed*", outcome: "Rejected by <b> & co")
        #expect(text == "Rejected by &lt;b&gt; &amp; co")
        #expect(blocks.jsonText.contains("*Rejected by &lt;b&gt; &amp; co*"))
        #expect(!blocks.jsonText.contains("greenlight_approve"))
    }

    @Test func anApproverSlackDoesNotKnowFailsForGood() async throws {
        let h = try await harness()
        let message = notification(to: "noslack@example.com")
        try await h.store.queueDirectMessages([message])
        #expect(try await h.deliverDue() == 1)
        let (status, error) = try await h.status(SlackMessageStore.directMessageId(for: message.notification.eventId))
        #expect(status == "failed")
        #expect(error?.contains("users_not_found") == true, "\(error ?? "")")
        #expect(h.slack.calls("chat.postMessage").isEmpty)
        await h.stop()
    }
}
