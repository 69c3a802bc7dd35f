@testable import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Metrics
import MetricsTestKit
@testable import Orchestrator
import Postgres
import Testing

/// The orchestrator's handling of events against a real Postgres: what each event leaves behind.
extension NotificationRequested {
    /// The link token the notifier would derive for this notification.
    var linkToken: String { LinkToken.derive(secret: OrchestratorFlowTests.secret, nonce: tokenNonce) }
}

@Suite(.timeLimit(.minutes(3)))
struct OrchestratorFlowTests {
    static let secret = LinkSecret("orchestrator-flow-tests-secret-0123456789")!

    let logger = TestEnvironment.logger("orchestrator")

    struct Harness {
        let url: String
        let pool: PostgresPool
        let engine: DurableEngine
        let handler: EventHandler

        @discardableResult
        func handle(_ event: InboundEvent) async throws -> Bool {
            try await pool.transaction { try await handler.handle(event, topic: "test", on: $0) }
        }

        func outbox<E: Decodable>(_ type: String, as: E.Type) async throws -> [E] {
            try await pool.query(
                "SELECT payload FROM durable_outbox WHERE payload LIKE \("%\"type\":\"\(type)\"%") ORDER BY id"
            ).column(String.self).map { try GreenlightJSON.decode(E.self, from: Data($0.utf8)) }
        }

        func attempts(_ requestId: String) async throws -> [(decidedBy: String, channel: String, accepted: Bool, reason: String?)] {
            try await pool.query(
                "SELECT decided_by, channel, accepted, reason FROM decision_attempts WHERE request_id = \(requestId) ORDER BY id"
            ).decode((String, String, Bool, String?).self).map { ($0.0, $0.1, $0.2, $0.3) }
        }

        func engineHistory(_ name: String) async throws -> [HistoryEvent] {
            try await DurableReader(pool: pool).history(ofExecution: name) ?? []
        }

        /// Fires the timers due by `now`.
        @discardableResult
        func fire(at now: Date) async throws -> Int {
            try await pool.transaction { try await engine.fireDueTimers(limit: 100, on: $0, now: now) }.count
        }

        func status(_ requestId: String) async throws -> RequestStatusBody? {
            try await ApprovalReader(pool: pool).status(requestId: requestId)
        }
    }

    func harness(fourEyes: Bool = true, lifecycleEvents: Bool = true, metrics: (any MetricsFactory)? = nil)
        async throws -> Harness
    {
        let database = try await TestDatabase.create("orchestrator")
        let pool = try database.pool()
        try await GreenlightDatabase.migrate(pool, logger: logger)
        let workflow = ApprovalWorkflow(
            linkSecret: Self.secret, fourEyes: fourEyes, lifecycleEvents: lifecycleEvents, logger: logger, metrics: metrics)
        let engine = DurableEngine(workflows: [workflow], logger: logger)
        return Harness(url: database.url, pool: pool, engine: engine, handler: EventHandler(engine: engine, workflow: workflow, logger: logger))
    }

    func request(_ id: String, approvers: [String] = ["a@example.com", "b@example.com"], timeout: Int = 3600,
                 onTimeout: TimeoutPolicy? = nil, policy: ApprovalPolicy? = nil, remindAfter: Int? = nil,
                 escalateAfter: Int? = nil, escalateTo: [String]? = nil) -> ApprovalRequested {
        ApprovalRequested(
            requestId: id, amount: 10, currency: "USD", description: "d", requester: nil, approvers: approvers,
            timeoutSeconds: timeout, onTimeout: onTimeout, policy: policy, remindAfterSeconds: remindAfter,
            escalateAfterSeconds: escalateAfter, escalateTo: escalateTo, submittedAt: Date())
    }

    // MARK: - Batches

    /// Runs `body` with an event processor on `h`'s database and a mock cluster that has the dead-letter topic.
    func withProcessor(_ h: Harness, _ body: (EventProcessor, KafkaConfiguration) async throws -> Void) async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic(Topic.deadLetters.rawValue, partitions: 1)
        let kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        let consumer = try KafkaConsumer(
            configuration: kafka, groupId: TestEnvironment.uniqueName("g"), topics: [Topic.deadLetters.rawValue], logger: logger)
        let processor = EventProcessor(
            consumer: consumer, producer: producer, pool: h.pool, handler: h.handler, outboxWakeUp: WakeUpSignal(),
            logger: logger)
        do {
            try await body(processor, kafka)
        } catch {
            await consumer.close()
            await producer.shutdown()
            throw error
        }
        await consumer.close()
        await producer.shutdown()
    }

    /// Events as a lane hands them over: one partition's, at consecutive offsets.
    final class PartitionMessages {
        private var offset: Int64 = 0

        func callAsFunction(_ topic: Topic, _ event: some Encodable) throws -> KafkaMessage {
            offset += 1
            return KafkaMessage(
                topic: topic.rawValue, partition: 0, offset: offset, key: nil, value: Array(try GreenlightJSON.encode(event)),
                headers: [])
        }
    }

    @Test func aBatchIsOneTransactionAndAFailingEventFallsBackToOneByOne() async throws {
        let h = try await harness()
        try await withProcessor(h) { processor, kafka in
            var offset: Int64 = 0
            func message(_ value: [UInt8]) -> KafkaMessage {
                offset += 1
                return KafkaMessage(
                    topic: Topic.requests.rawValue, partition: 0, offset: offset, key: nil, value: value, headers: [])
            }
            func encoded(_ request: ApprovalRequested) throws -> [UInt8] { Array(try GreenlightJSON.encode(request)) }

            // A batch that goes through: every event applied.
            try await processor.handle([message(try encoded(request("REQ-B1"))), message(try encoded(request("REQ-B2")))])
            #expect(try await h.status("REQ-B1")?.status == .pending)
            #expect(try await h.status("REQ-B2")?.status == .pending)

            // A batch with an unreadable event and one the database refuses (a NUL in a text column): the unreadable
            // one is dead-lettered at once; the refused one fails the batch, whose events are then handled one by
            // one, so the good ones still apply and the bad one ends in the dead-letter topic after its retries.
            try await processor.handle([
                message(try encoded(request("REQ-B3"))), message(Array("not json".utf8)),
                message(try encoded(request("REQ-BAD\u{0}"))), message(try encoded(request("REQ-B4"))),
            ])
            #expect(try await h.status("REQ-B3")?.status == .pending)
            #expect(try await h.status("REQ-B4")?.status == .pending)
            let dead = try await KafkaTopicReader.readAll(topic: Topic.deadLetters.rawValue, configuration: kafka, logger: logger)
                .map { try GreenlightJSON.decode(DeadLetter.self, from: Data($0.value)) }
            #expect(dead.count == 2)
            #expect(dead.contains { String(decoding: Data(base64Encoded: $0.payloadBase64) ?? Data(), as: UTF8.self) == "not json" })
            #expect(dead.contains { $0.reason.contains("handling failed repeatedly") })
        }
    }

    /// The approval's counters count what committed, once: a batch that fails and is applied again one event at a
    /// time counts its decisions and outcomes once, not for the batch's attempt and again for each event's, and a
    /// callback decision refused by its request's rules is counted once, as it is dead-lettered.
    @Test func aBatchThatFallsBackCountsEachDecisionAndOutcomeOnce() async throws {
        let metrics = TestMetrics()
        let h = try await harness(metrics: metrics)
        try await withProcessor(h) { processor, kafka in
            let message = PartitionMessages()
            try await processor.handle([
                try message(.requests, request("REQ-CT1")), try message(.requests, request("REQ-CT2")),
                try message(.requests, request("REQ-CT3")),
            ])
            // An answer the request did not ask for: refused by its rules when the command is handled.
            let refused = CallbackCommand(
                requestId: "REQ-CT3",
                callbackId: try await DurableReader(pool: h.pool).callbacks(ofExecution: "REQ-CT3")[0].callbackId, command: .success,
                result: .object([
                    "decision": .string("approved"), "approver": .string("bot@example.com"), "channel": .string("api"),
                    "response": .object(["extra": .number(1)]),
                ]),
                submittedAt: Date())
            // Both decisions are applied in the batch's transaction before the refused command fails it; the batch rolls
            // back, and its events are applied again one by one.
            try await processor.handle([
                try message(.decisions, decision("REQ-CT1", by: "ops@example.com", channel: .kafka)),
                try message(.decisions, decision("REQ-CT2", by: "ops@example.com", .reject, channel: .kafka)),
                try message(.decisions, refused),
            ])
            #expect(try await h.status("REQ-CT1")?.status == .approved)
            #expect(try await h.status("REQ-CT2")?.status == .rejected)
            #expect(try await h.status("REQ-CT3")?.status == .pending)
            let dead = try await KafkaTopicReader.readAll(topic: Topic.deadLetters.rawValue, configuration: kafka, logger: logger)
            #expect(dead.count == 1)
            #expect(try metrics.expectCounter("greenlight_decisions_total", [("channel", "kafka"), ("result", "accepted")]).totalValue == 2)
            #expect(try metrics.expectCounter("greenlight_decisions_total", [("channel", "api"), ("result", "refused")]).totalValue == 1)
            #expect(try metrics.expectCounter("greenlight_requests_completed_total", [("status", "approved")]).totalValue == 1)
            #expect(try metrics.expectCounter("greenlight_requests_completed_total", [("status", "rejected")]).totalValue == 1)
        }
    }

    /// A batch records its events in the inbox together: an event handled before (a redelivery) and a second copy in
    /// the same batch are skipped, the others applied once each.
    @Test func aBatchAppliesEachEventOnceAndSkipsWhatWasHandledBefore() async throws {
        let h = try await harness()
        try await withProcessor(h) { processor, _ in
            let message = PartitionMessages()
            let first = decision("REQ-IN1", by: "ops@example.com", .reject, channel: .kafka)
            try await processor.handle([try message(.requests, request("REQ-IN1")), try message(.requests, request("REQ-IN2"))])
            try await processor.handle([try message(.decisions, first), try message(.decisions, first)])
            try await processor.handle([
                try message(.decisions, first), try message(.decisions, decision("REQ-IN2", by: "ops@example.com", channel: .kafka)),
            ])
            #expect(try await h.attempts("REQ-IN1").count == 1)
            #expect(try await h.attempts("REQ-IN2").count == 1)
            #expect(try await h.status("REQ-IN1")?.status == .rejected)
            #expect(try await h.status("REQ-IN2")?.status == .approved)
            #expect(try await h.pool.query("SELECT count(*) FROM durable_inbox").column(Int.self) == [4])
        }
    }

    /// A batch takes the locks of all the requests it is about first, in the names' order: here B's is held elsewhere,
    /// and A's — later in the batch, first in order — is the batch's while it waits for B's. (Two batches of the
    /// orchestrator's two consumers about some of the same requests then wait for each other rather than deadlock.)
    @Test func aBatchLocksItsRequestsFirstInOneOrder() async throws {
        let h = try await harness()
        try await withProcessor(h) { processor, _ in
            func message(_ event: DecisionSubmitted, offset: Int64) throws -> KafkaMessage {
                KafkaMessage(
                    topic: Topic.decisions.rawValue, partition: 0, offset: offset, key: Array(event.requestId.utf8),
                    value: Array(try GreenlightJSON.encode(event)), headers: [])
            }
            /// Whether another session could take the name's lock just now (it gives it back at once).
            func free(_ name: String) async throws -> Bool {
                try await h.pool.withConnection { connection in
                    let taken = try await connection.query("SELECT pg_try_advisory_lock(hashtext(\(name)))").column(Bool.self)
                    if taken.first == true { try await connection.query("SELECT pg_advisory_unlock(hashtext(\(name)))") }
                    return taken.first == true
                }
            }
            let (released, release) = AsyncStream<Void>.makeStream()
            let holding = Task {
                try await h.pool.transaction { connection in
                    try await h.engine.lock(executionNamed: "REQ-LB", on: connection)
                    for await _ in released { break }
                }
            }
            try await waitUntil(timeout: .seconds(10)) { try await !free("REQ-LB") }
            let batch = Task {
                try await processor.handle([
                    try message(decision("REQ-LB", by: "ops@example.com", channel: .kafka), offset: 1),
                    try message(decision("REQ-LA", by: "ops@example.com", channel: .kafka), offset: 2),
                ])
            }
            let firstTaken = try await eventually(timeout: .seconds(10)) { try await !free("REQ-LA") }
            release.finish()
            try await holding.value
            try await batch.value
            #expect(firstTaken, "the batch waited for REQ-LB's lock without holding REQ-LA's")
            #expect(try await h.attempts("REQ-LA").count == 1)
            #expect(try await h.attempts("REQ-LB").count == 1)
        }
    }

    /// A lookup by request id planned while `approval_requests` held a handful of rows (a generic plan, kept) reads
    /// every row; once the processor has applied enough events the statistics are renewed, and the lookup is planned
    /// again, by key. The renewal runs apart from the processor's lane: the lane's `handle` returns without it.
    @Test func theRequestLookupIsReplannedByKeyAsRequestsArrive() async throws {
        let h = try await harness()
        // Only the processor analyzes the table in this test.
        _ = try await h.pool.query("ALTER TABLE approval_requests SET (autovacuum_enabled = false)")
        for index in 0..<5 { try await h.handle(.approvalRequested(request("REQ-EARLY-\(index)"))) }
        _ = try await h.pool.query("ANALYZE approval_requests")
        let lookup = ApprovalWriter.pendingRequestQuery("REQ-0")
        let growth = TableGrowth(tables: ApprovalSchema.growingTables + DurableSchema.growingTables)
        try await withProcessor(h) { processor, _ in try await h.pool.withConnection { connection in
            var processor = processor
            processor.statistics = growth
            _ = try await connection.query("SET plan_cache_mode = force_generic_plan")
            _ = try await connection.query(PostgresQuery(stringLiteral: "PREPARE lookup(text) AS " + lookup.sql))
            func plan() async throws -> String {
                try await connection.query("EXPLAIN EXECUTE lookup('REQ-0')").column(String.self).joined()
            }
            let early = try await plan()
            #expect(!early.contains("approval_requests_pkey"), "planned for a handful of rows: \(early)")

            var offset: Int64 = 0
            for batch in 0..<6 {
                let messages = try (0..<50).map { index -> KafkaMessage in
                    offset += 1
                    let value = Array(try GreenlightJSON.encode(request("REQ-\(batch * 50 + index)")))
                    return KafkaMessage(topic: Topic.requests.rawValue, partition: 0, offset: offset, key: nil, value: value, headers: [])
                }
                try await processor.handle(messages)
            }
            let handled = try await plan()
            #expect(!handled.contains("approval_requests_pkey"), "the lane analyzed the tables itself: \(handled)")
            let renewal = Task { await growth.renewWhenDue(on: h.pool, logger: logger) }
            let replanned = try await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                try await plan().contains("approval_requests_pkey")
            }
            renewal.cancel()
            await renewal.value
            let later = try await plan()
            #expect(replanned, "never planned again once requests arrived: \(later)")
        } }
    }

    // MARK: - Gauges

    /// The gauges are read every few seconds for as long as an orchestrator runs, and requests are kept as the audit
    /// trail: none of the reads goes through every request ever made, and pending requests are still counted.
    @Test func theGaugesReadOnlyWhatIsPending() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-GAUGE")))
        _ = try await h.pool.query(
            """
            INSERT INTO approval_requests (request_id, execution_id, callback_id, status, amount, currency, description,
                approvers, on_timeout, submitted_at, expires_at, completed_at)
            SELECT 'OLD-' || g, gen_random_uuid(), gen_random_uuid(), 'approved', 1, 'USD', 'd', ARRAY['a@example.com'],
                'reject', now(), now(), now()
            FROM generate_series(1, 20000) g
            """)
        _ = try await h.pool.query("ANALYZE approval_requests")
        for (label, _, query) in StateGauges.readings {
            let plan = try await h.pool.query(query.prefixed(with: "EXPLAIN ")).column(String.self).joined(separator: "\n")
            #expect(!plan.contains("Seq Scan on approval_requests"), "\(label) reads every request: \(plan)")
        }
        let pending = try #require(StateGauges.readings.first { $0.label == "greenlight_requests" })
        #expect(try await h.pool.query(pending.query).column(Int.self) == [1])
    }

    // MARK: - Lifecycle events

    @Test func everyStageIsPublishedOnceInOrder() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-LC1", approvers: ["a@example.com"])))
        try await h.handle(.approvalRequested(request("REQ-LC2", approvers: ["a@example.com"], timeout: 60, remindAfter: 30)))
        let token = try await tokens(h, "REQ-LC1")["a@example.com"]
        try await h.handle(.decisionSubmitted(decision("REQ-LC1", by: "a@example.com", .reject, token: token)))
        try await h.fire(at: Date().addingTimeInterval(31))
        try await h.fire(at: Date().addingTimeInterval(61))
        let events = try await h.outbox("ApprovalLifecycle", as: ApprovalLifecycle.self)
        func stages(_ id: String) -> [String] { events.filter { $0.requestId == id }.map(\.stage.rawValue) }
        #expect(stages("REQ-LC1") == ["requested", "notified", "decided", "completed"])
        #expect(stages("REQ-LC2") == ["requested", "notified", "reminded", "expired", "completed"])
        let decided = try #require(events.first { $0.requestId == "REQ-LC1" && $0.stage == .decided })
        #expect(decided.decision == .reject && decided.decidedBy == "a@example.com" && decided.channel == .link)
        #expect(events.last { $0.requestId == "REQ-LC2" }?.status == .timedOut)
        #expect(events.first { $0.requestId == "REQ-LC1" && $0.stage == .notified }?.approvers == ["a@example.com"])
    }

    /// With lifecycle events off, no stage is published on `approvals.lifecycle`; the outcome still is, and a request
    /// that asked for its stages by webhook still gets them.
    @Test func withLifecycleEventsOffOnlyTheWebhooksAskedForCarryTheStages() async throws {
        let h = try await harness(lifecycleEvents: false)
        var hooked = request("REQ-HOOKED", approvers: ["a@example.com"])
        hooked.callbackUrl = "https://hooks.example.com/greenlight"
        hooked.callbackLifecycle = true
        try await h.handle(.approvalRequested(hooked))
        try await h.handle(.approvalRequested(request("REQ-PLAIN", approvers: ["a@example.com"])))
        for id in ["REQ-HOOKED", "REQ-PLAIN"] {
            let token = try await tokens(h, id)["a@example.com"]
            try await h.handle(.decisionSubmitted(decision(id, by: "a@example.com", token: token)))
        }
        #expect(try await h.outbox("ApprovalLifecycle", as: ApprovalLifecycle.self).isEmpty)
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).map(\.requestId).sorted() == ["REQ-HOOKED", "REQ-PLAIN"])
        let hooks = try await h.outbox("WebhookRequested", as: WebhookRequested.self)
        #expect(hooks.allSatisfy { $0.requestId == "REQ-HOOKED" })
        #expect(hooks.map(\.eventType) == Array(repeating: ApprovalLifecycle.eventType, count: 4) + [ApprovalCompleted.eventType], "\(hooks.map(\.eventType))")
    }

    // MARK: - Delivery reports and resending

    @Test func deliveryReportsShowInTheStatusAndTheHistory() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-DLV")))
        let sent = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        func report(_ n: NotificationRequested, _ result: NotificationDelivery.Result, attempt: Int, error: String? = nil) -> InboundEvent {
            .notificationDelivery(
                NotificationDelivery(
                    requestId: "REQ-DLV", notificationId: n.eventId, approver: n.approver, kind: .request, result: result,
                    attempt: attempt, error: error, at: Date()))
        }
        let a = try #require(sent.first { $0.approver == "a@example.com" })
        let b = try #require(sent.first { $0.approver == "b@example.com" })
        try await h.handle(report(a, .retrying, attempt: 1, error: "451 try later"))
        try await h.handle(report(a, .delivered, attempt: 2))
        try await h.handle(report(a, .retrying, attempt: 1, error: "451 try later"))  // late: the delivered report stays
        try await h.handle(report(b, .failed, attempt: 1, error: "550 no such user"))
        let notifications = try #require(try await h.status("REQ-DLV")?.notifications)
        #expect(Dictionary(uniqueKeysWithValues: notifications.map { ($0.approver, $0.result) }) == [
            "a@example.com": .delivered, "b@example.com": .failed,
        ])
        #expect(notifications.first { $0.approver == "b@example.com" }?.error == "550 no such user")
        let history = try await h.engineHistory("REQ-DLV")
        #expect(history.filter { $0.type == "NotificationFailed" }.map { $0.details["Approver"] } == [.string("b@example.com")])
        #expect(history.contains { $0.type == "NotificationDelivered" })
    }

    @Test func resendSendsTheSameLinkToUndecidedApproversOnly() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-RS", policy: .all)))
        let tokens = try await tokens(h, "REQ-RS")
        try await h.handle(.decisionSubmitted(decision("REQ-RS", by: "a@example.com", token: tokens["a@example.com"])))
        try await h.handle(.resendRequested(ResendRequested(requestId: "REQ-RS", approver: nil, requestedAt: Date())))
        let notifications = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        #expect(notifications.map(\.approver) == ["a@example.com", "b@example.com", "b@example.com"])
        #expect(notifications[2].linkToken == tokens["b@example.com"])
        #expect(try await h.engineHistory("REQ-RS").contains { $0.type == "NotificationsResent" })
        // Once decided, a resend does nothing.
        try await h.handle(.decisionSubmitted(decision("REQ-RS", by: "b@example.com", token: tokens["b@example.com"])))
        try await h.handle(.resendRequested(ResendRequested(requestId: "REQ-RS", approver: nil, requestedAt: Date())))
        #expect(try await h.outbox("NotificationRequested", as: NotificationRequested.self).count == 3)
    }

    // MARK: - Reminders and escalation

    @Test func aReminderGoesToApproversWhoHaveNotDecidedWithTheSameLink() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-REM", policy: .all, remindAfter: 60)))
        let first = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        let tokens = try await tokens(h, "REQ-REM")
        try await h.handle(.decisionSubmitted(decision("REQ-REM", by: "a@example.com", token: tokens["a@example.com"])))
        #expect(try await h.fire(at: Date().addingTimeInterval(30)) == 0)
        #expect(try await h.fire(at: Date().addingTimeInterval(61)) == 1)
        let all = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        let reminders = all.filter { $0.kind == .reminder }
        #expect(reminders.map(\.approver) == ["b@example.com"])
        // The reminder carries b's original link: the same nonce, so the same token.
        #expect(reminders.first?.tokenNonce == first.first { $0.approver == "b@example.com" }?.tokenNonce)
        #expect(try await h.status("REQ-REM")?.status == .pending)
        let history = try await h.engineHistory("REQ-REM").map(\.type)
        #expect(history.contains("WaitSucceeded"))
    }

    @Test func noReminderOnceTheRequestIsDecided() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-REM2", remindAfter: 60)))
        let tokens = try await tokens(h, "REQ-REM2")
        try await h.handle(.decisionSubmitted(decision("REQ-REM2", by: "a@example.com", token: tokens["a@example.com"])))
        #expect(try await h.status("REQ-REM2")?.status == .approved)
        #expect(try await h.fire(at: Date().addingTimeInterval(61)) == 0)
        #expect(try await h.outbox("NotificationRequested", as: NotificationRequested.self).allSatisfy { $0.kind == .request })
    }

    @Test func escalationAddsApproversWhoCanDecide() async throws {
        let h = try await harness()
        try await h.handle(
            .approvalRequested(
                request("REQ-ESC", approvers: ["a@example.com"], remindAfter: 60, escalateAfter: 120, escalateTo: ["boss@example.com"])))
        #expect(try await h.fire(at: Date().addingTimeInterval(61)) == 1)
        #expect(try await h.fire(at: Date().addingTimeInterval(121)) == 1)
        let notifications = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        #expect(notifications.map { "\($0.approver)/\($0.kind?.rawValue ?? "")" } == [
            "a@example.com/request", "a@example.com/reminder", "boss@example.com/escalation",
        ])
        #expect(try await h.status("REQ-ESC")?.approvers == ["a@example.com", "boss@example.com"])
        let bossToken = try #require(notifications.last?.linkToken)
        try await h.handle(.decisionSubmitted(decision("REQ-ESC", by: "boss@example.com", .reject, token: bossToken)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .rejected)
        #expect(outcome.decidedBy == "boss@example.com")
    }

    /// Each approver's link token for a request.
    func tokens(_ h: Harness, _ requestId: String) async throws -> [String: String] {
        Dictionary(
            uniqueKeysWithValues: try await h.outbox("NotificationRequested", as: NotificationRequested.self)
                .filter { $0.requestId == requestId }.map { ($0.approver, $0.linkToken) })
    }

    // MARK: - Policies

    @Test func allNeedsEveryApproverAndRecordsEachVote() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-ALL", policy: .all)))
        let tokens = try await tokens(h, "REQ-ALL")
        try await h.handle(.decisionSubmitted(decision("REQ-ALL", by: "a@example.com", token: tokens["a@example.com"])))
        // One approval of two: still pending, the vote on record, no outcome.
        var status = try #require(try await h.status("REQ-ALL"))
        #expect(status.status == .pending)
        #expect(status.policy == .all)
        #expect(status.votes?.map(\.approver) == ["a@example.com"])
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).isEmpty)
        #expect(try await h.attempts("REQ-ALL").last?.reason == "vote recorded: 1 of 2 approvals (all)")
        // The same approver again, through the API this time: refused, nothing changes.
        try await h.handle(.decisionSubmitted(decision("REQ-ALL", by: "A@example.com", .reject, channel: .api)))
        #expect(try await h.attempts("REQ-ALL").last?.reason == "A@example.com has already decided on this request")
        #expect(try await h.status("REQ-ALL")?.status == .pending)

        try await h.handle(.decisionSubmitted(decision("REQ-ALL", by: "b@example.com", token: tokens["b@example.com"])))
        status = try #require(try await h.status("REQ-ALL"))
        #expect(status.status == .approved)
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .approved)
        #expect(outcome.decidedBy == "b@example.com")
        #expect(outcome.votes?.map(\.approver) == ["a@example.com", "b@example.com"])
        #expect(outcome.votes?.allSatisfy { $0.decision == .approve && $0.channel == .link } == true)
    }

    @Test func allIsRejectedByAnyRejection() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-ALLR", approvers: ["a@example.com", "b@example.com", "c@example.com"], policy: .all)))
        let tokens = try await tokens(h, "REQ-ALLR")
        try await h.handle(.decisionSubmitted(decision("REQ-ALLR", by: "a@example.com", token: tokens["a@example.com"])))
        try await h.handle(.decisionSubmitted(decision("REQ-ALLR", by: "b@example.com", .reject, token: tokens["b@example.com"])))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .rejected)
        #expect(outcome.votes?.map(\.decision) == [.approve, .reject])
        // The third approver's link is spent with the request.
        try await h.handle(.decisionSubmitted(decision("REQ-ALLR", by: "c@example.com", token: tokens["c@example.com"])))
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).count == 1)
    }

    @Test func quorumApprovesAtNAndRejectsWhenNCanNoLongerBeReached() async throws {
        let h = try await harness()
        let three = ["a@example.com", "b@example.com", "c@example.com"]
        try await h.handle(.approvalRequested(request("REQ-Q1", approvers: three, policy: .quorum(2))))
        try await h.handle(.approvalRequested(request("REQ-Q2", approvers: three, policy: .quorum(2))))
        let first = try await tokens(h, "REQ-Q1")
        let second = try await tokens(h, "REQ-Q2")

        try await h.handle(.decisionSubmitted(decision("REQ-Q1", by: "a@example.com", token: first["a@example.com"])))
        try await h.handle(.decisionSubmitted(decision("REQ-Q1", by: "b@example.com", .reject, token: first["b@example.com"])))
        #expect(try await h.status("REQ-Q1")?.status == .pending)
        try await h.handle(.decisionSubmitted(decision("REQ-Q1", by: "c@example.com", token: first["c@example.com"])))
        #expect(try await h.status("REQ-Q1")?.status == .approved)

        try await h.handle(.decisionSubmitted(decision("REQ-Q2", by: "a@example.com", .reject, token: second["a@example.com"])))
        #expect(try await h.status("REQ-Q2")?.status == .pending)
        try await h.handle(.decisionSubmitted(decision("REQ-Q2", by: "c@example.com", .reject, token: second["c@example.com"])))
        #expect(try await h.status("REQ-Q2")?.status == .rejected)
        let outcomes = try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self)
        #expect(Dictionary(uniqueKeysWithValues: outcomes.map { ($0.requestId, $0.status) }) == ["REQ-Q1": .approved, "REQ-Q2": .rejected])
    }

    @Test func someoneWhoIsNotAnApproverDecidesOutright() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-OVR", policy: .all)))
        try await h.handle(.decisionSubmitted(decision("REQ-OVR", by: "ops@example.com", .reject, channel: .api)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .rejected)
        #expect(outcome.decidedBy == "ops@example.com")
        #expect(outcome.votes?.map(\.approver) == ["ops@example.com"])
    }

    /// A decision from a signed-in approver (the inbox, Slack) counts as that approver's vote, and one from someone
    /// who is not an approver of the request is refused, not taken as an operator's word that settles it.
    @Test func anInboxOrSlackDecisionCountsOnlyFromAnApprover() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-INBOX", approvers: ["a@example.com", "b@example.com"], policy: .all)))
        try await h.handle(.decisionSubmitted(decision("REQ-INBOX", by: "mallory@example.com", .reject, channel: .inbox)))
        try await h.handle(.decisionSubmitted(decision("REQ-INBOX", by: "mallory@example.com", .reject, channel: .slack)))
        #expect(try await h.status("REQ-INBOX")?.status == .pending)
        let refused = try await h.attempts("REQ-INBOX")
        #expect(refused.map(\.accepted) == [false, false])
        #expect(refused.allSatisfy { $0.reason?.contains("not an approver") == true }, "\(refused)")
        try await h.handle(.decisionSubmitted(decision("REQ-INBOX", by: "A@example.com", channel: .inbox)))
        #expect(try await h.status("REQ-INBOX")?.status == .pending)
        try await h.handle(.decisionSubmitted(decision("REQ-INBOX", by: "b@example.com", channel: .slack)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .approved)
        #expect(outcome.votes?.map(\.channel) == [.inbox, .slack])
    }

    /// Four eyes: whoever requested an approval cannot decide it — by link, through the API on their own behalf, or
    /// by a Kafka decision naming them. The attempt is refused and recorded with the reason; others still decide.
    @Test func theRequesterCannotDecideTheirOwnRequest() async throws {
        let h = try await harness()
        var asked = request("REQ-4E", approvers: ["a@example.com", "Boss@Example.com"])
        asked.requester = "boss@example.com"
        try await h.handle(.approvalRequested(asked))
        let links = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        let bossLink = try #require(links.first { $0.approver == "Boss@Example.com" }).linkToken
        try await h.handle(.decisionSubmitted(decision("REQ-4E", by: "whoever", token: bossLink)))
        try await h.handle(.decisionSubmitted(decision("REQ-4E", by: "BOSS@example.com", channel: .api)))
        try await h.handle(.decisionSubmitted(decision("REQ-4E", by: "boss@example.com", channel: .kafka)))
        #expect(try await h.status("REQ-4E")?.status == .pending)
        let refused = try await h.attempts("REQ-4E")
        #expect(refused.map(\.accepted) == [false, false, false])
        #expect(refused.allSatisfy { $0.reason?.contains("four eyes") == true }, "\(refused)")
        try await h.handle(.decisionSubmitted(decision("REQ-4E", by: "a@example.com", channel: .api)))
        #expect(try await h.status("REQ-4E")?.status == .approved)

        // Turned off, the requester's decision counts like anyone's.
        let open = try await harness(fourEyes: false)
        var own = request("REQ-4E-OFF")
        own.requester = "boss@example.com"
        try await open.handle(.approvalRequested(own))
        try await open.handle(.decisionSubmitted(decision("REQ-4E-OFF", by: "boss@example.com", channel: .kafka)))
        #expect(try await open.status("REQ-4E-OFF")?.status == .approved)
    }

    @Test func policyTally() {
        func votes(_ decisions: Decision...) -> [ApprovalVote] {
            decisions.enumerated().map { ApprovalVote(approver: "\($0.offset)@x.com", decision: $0.element, channel: .link, comment: nil, decidedAt: Date()) }
        }
        #expect(PolicyTally(policy: .any, approvers: 3, votes: votes(.reject)) == .rejected)
        #expect(PolicyTally(policy: .all, approvers: 3, votes: votes(.approve, .approve)) == .waiting(approvals: 2, needed: 3))
        #expect(PolicyTally(policy: .all, approvers: 3, votes: votes(.approve, .approve, .approve)) == .approved)
        #expect(PolicyTally(policy: .quorum(2), approvers: 4, votes: votes(.reject, .reject)) == .waiting(approvals: 0, needed: 2))
        #expect(PolicyTally(policy: .quorum(2), approvers: 4, votes: votes(.reject, .reject, .reject)) == .rejected)
        #expect(PolicyTally(policy: .quorum(1), approvers: 2, votes: votes(.reject, .approve)) == .approved)
    }

    func decision(_ id: String, by approver: String, _ decision: Decision = .approve, token: String? = nil,
                  channel: DecisionChannel = .link) -> DecisionSubmitted {
        DecisionSubmitted(
            requestId: id, decision: decision, decidedBy: approver, channel: channel, comment: nil, decidedAt: Date(),
            tokenHash: token.map(LinkToken.hash))
    }

    @Test func startRecordsTheRequestHashedTokensAndOneNotificationPerApprover() async throws {
        let h = try await harness()
        let event = request("REQ-1")
        #expect(try await h.handle(.approvalRequested(event)))
        // The same event again (a redelivery): no second effect.
        #expect(try await !h.handle(.approvalRequested(event)))
        // The same request id in a new event (a second submission): no second workflow.
        #expect(try await h.handle(.approvalRequested(request("REQ-1"))))

        let notifications = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        #expect(notifications.map(\.approver).sorted() == ["a@example.com", "b@example.com"])
        let hashes = Set(try await h.pool.query("SELECT token_hash FROM link_tokens").column(String.self))
        #expect(hashes == Set(notifications.map { LinkToken.hash($0.linkToken) }))
        // The plain tokens are nowhere in the database: in no row of any table, the outbox included.
        for token in notifications.map(\.linkToken) {
            #expect(try await h.pool.tablesContaining(token).isEmpty)
        }
        // (The check itself works: the token's hash is found.)
        let hashHits = try await h.pool.tablesContaining(hashes.first!)
        #expect(hashHits == ["link_tokens"])
        #expect(try await h.status("REQ-1")?.status == .pending)
        #expect(try await h.pool.query("SELECT count(*) FROM durable_executions").column(Int.self) == [1])
    }

    /// A verdict that a page waits for (a link's) is notified on `VerdictChannel`, by request id, when its transaction
    /// commits; one from another system on Kafka, which no page waits for, is not.
    @Test func aVerdictThatAPageWaitsForIsNotified() async throws {
        let h = try await harness()
        let listener = PostgresListener(configuration: try PostgresConfiguration(url: h.url), channel: VerdictChannel.name, logger: logger)
        let listening = Task { await listener.run() }
        defer { listening.cancel() }
        try await waitUntil(timeout: .seconds(10)) { listener.isListening }
        for id in ["REQ-V1", "REQ-V2"] { try await h.handle(.approvalRequested(request(id, approvers: ["a@example.com"]))) }
        let tokens = Dictionary(
            uniqueKeysWithValues: try await h.outbox("NotificationRequested", as: NotificationRequested.self).map { ($0.requestId, $0.linkToken) })

        try await listener.withSubscription(to: "REQ-V1") { subscription in
            try await h.handle(.decisionSubmitted(decision("REQ-V1", by: "ops@example.com", channel: .kafka)))
            #expect(try await h.attempts("REQ-V1").count == 1)
            #expect(await subscription.next(timeout: .milliseconds(500)) == .timedOut)
        }
        try await listener.withSubscription(to: "REQ-V2") { subscription in
            try await h.handle(.decisionSubmitted(decision("REQ-V2", by: "a@example.com", token: tokens["REQ-V2"])))
            #expect(await subscription.next(timeout: .seconds(5)) == .notified)
        }
    }

    @Test func racingDecisionsOneWinsTheOtherIsRecordedAsLate() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-2")))
        let tokens = Dictionary(
            uniqueKeysWithValues: try await h.outbox("NotificationRequested", as: NotificationRequested.self).map { ($0.approver, $0.linkToken) })
        let first = decision("REQ-2", by: "a@example.com", .approve, token: tokens["a@example.com"])
        let second = decision("REQ-2", by: "b@example.com", .reject, token: tokens["b@example.com"])
        try await h.handle(.decisionSubmitted(first))
        try await h.handle(.decisionSubmitted(second))
        try await h.handle(.decisionSubmitted(first))  // redelivered: no effect at all

        let outcomes = try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self)
        #expect(outcomes.count == 1)
        #expect(outcomes.first?.status == .approved)
        #expect(outcomes.first?.decidedBy == "a@example.com")
        #expect(outcomes.first?.channel == .link)
        let attempts = try await h.attempts("REQ-2")
        #expect(attempts.count == 2)
        #expect(attempts[0].decidedBy == "a@example.com" && attempts[0].accepted)
        #expect(attempts[1].decidedBy == "b@example.com" && !attempts[1].accepted && attempts[1].channel == "link")
        #expect(attempts[1].reason?.contains("already") == true)
    }

    @Test func aTokenDecidesOnlyItsOwnRequest() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-A", approvers: ["a@example.com"])))
        try await h.handle(.approvalRequested(request("REQ-B", approvers: ["a@example.com"])))
        let tokenOfA = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
            .first { $0.requestId == "REQ-A" }!.linkToken
        try await h.handle(.decisionSubmitted(decision("REQ-B", by: "a@example.com", token: tokenOfA)))
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).isEmpty)
        #expect(try await h.attempts("REQ-B").map(\.reason) == ["the link token does not belong to this request"])
    }

    @Test func aDecisionThatArrivesBeforeItsRequestIsKeptAndApplied() async throws {
        let h = try await harness()
        try await h.handle(.decisionSubmitted(decision("REQ-E", by: "ops@example.com", .reject, channel: .kafka)))
        #expect(try await h.status("REQ-E") == nil)
        try await h.handle(.approvalRequested(request("REQ-E")))
        let status = try #require(try await h.status("REQ-E"))
        #expect(status.status == .rejected)
        #expect(status.decidedBy == "ops@example.com")
        #expect(status.channel == .kafka)
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).count == 1)
    }

    @Test func anApproversEarlyDecisionIsAVoteUnderTheRequestsPolicy() async throws {
        let h = try await harness()
        // Under `all`, one approver's approval on Kafka, before the request, must not settle it.
        try await h.handle(.decisionSubmitted(decision("REQ-EV", by: "A@example.com", channel: .kafka)))
        try await h.handle(.approvalRequested(request("REQ-EV", policy: .all)))
        let waiting = try #require(try await h.status("REQ-EV"))
        #expect(waiting.status == .pending)
        #expect(waiting.votes?.map(\.approver) == ["A@example.com"])
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).isEmpty)
        #expect(try await h.attempts("REQ-EV").map(\.reason) == [
            "kept until the request's workflow starts", "vote recorded: 1 of 2 approvals (all)",
        ])
        // The other approver's link completes it, with both votes in the outcome.
        let token = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
            .first { $0.approver == "b@example.com" }!.linkToken
        try await h.handle(.decisionSubmitted(decision("REQ-EV", by: "b@example.com", token: token)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .approved)
        #expect(outcome.votes?.map(\.approver) == ["A@example.com", "b@example.com"])
        // Nothing is left waiting for the request.
        #expect(try await h.pool.query("SELECT count(*) FROM durable_signals").column(Int64.self) == [0])
    }

    @Test func earlyDecisionsAreAppliedInArrivalOrderAndAnApproverVotesOnce() async throws {
        let h = try await harness()
        try await h.handle(.decisionSubmitted(decision("REQ-EQ", by: "a@example.com", .reject, channel: .kafka)))
        try await h.handle(.decisionSubmitted(decision("REQ-EQ", by: "a@example.com", .approve, channel: .kafka)))
        try await h.handle(.approvalRequested(request("REQ-EQ", approvers: ["a@example.com", "b@example.com", "c@example.com"], policy: .quorum(2))))
        #expect(try await h.attempts("REQ-EQ").map(\.reason) == [
            "kept until the request's workflow starts", "kept until the request's workflow starts",
            "vote recorded: 0 of 2 approvals (quorum:2)", "a@example.com has already decided on this request",
        ])
        #expect(try await h.status("REQ-EQ")?.status == .pending)
    }

    @Test func aKeptDecisionThatCannotBeAppliedDoesNotStopItsRequest() async throws {
        let h = try await harness()
        // A comment Postgres refuses (a NUL byte), and a row no version can read.
        var broken = decision("REQ-EB", by: "a@example.com", channel: .kafka)
        broken.comment = "nul \u{0} here"
        try await h.handle(.decisionSubmitted(broken))
        _ = try await h.pool.query(
            "INSERT INTO durable_signals (execution_name, payload, received_at) VALUES ('REQ-EB', 'not json', now())")
        try await h.handle(.approvalRequested(request("REQ-EB")))
        #expect(try await h.status("REQ-EB")?.status == .pending)
        let reasons = try await h.attempts("REQ-EB").map(\.reason)
        #expect(reasons.count == 2)
        #expect(reasons.last??.hasPrefix("the decision could not be applied:") == true, "\(reasons)")
        #expect(try await h.attempts("REQ-EB").map(\.accepted) == [false, false])
        #expect(try await h.pool.query("SELECT count(*) FROM durable_signals").column(Int64.self) == [0])
        let history = try await h.engineHistory("REQ-EB").map(\.type)
        #expect(history.contains("SignalDiscarded") && history.contains("DecisionRefused"), "\(history)")
        // The request still works: the approvers' links decide it.
        let token = try await h.outbox("NotificationRequested", as: NotificationRequested.self).first { $0.requestId == "REQ-EB" }!.linkToken
        try await h.handle(.decisionSubmitted(decision("REQ-EB", by: "a@example.com", token: token)))
        #expect(try await h.status("REQ-EB")?.status == .approved)
    }

    @Test func callbackCommandsFromTheAPIDecideOrFail() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-OK")))
        try await h.handle(.approvalRequested(request("REQ-KO")))
        func callbackId(_ name: String) async throws -> UUID {
            try await DurableReader(pool: h.pool).callbacks(ofExecution: name)[0].callbackId
        }
        let approve = CallbackCommand(
            requestId: "REQ-OK", callbackId: try await callbackId("REQ-OK"), command: .success,
            result: .object(["decision": .string("approved"), "approver": .string("bot@example.com"), "channel": .string("api")]),
            submittedAt: Date())
        try await h.handle(.callbackCommand(approve))
        let fail = CallbackCommand(
            requestId: "REQ-KO", callbackId: try await callbackId("REQ-KO"), command: .failure, errorType: "Review.Blocked",
            errorMessage: "legal hold", submittedAt: Date())
        try await h.handle(.callbackCommand(fail))

        let ok = try #require(try await h.status("REQ-OK"))
        #expect(ok.status == .approved)
        #expect(ok.decidedBy == "bot@example.com")
        #expect(ok.channel == .api)
        let ko = try #require(try await h.status("REQ-KO"))
        #expect(ko.status == .failed)
        #expect(ko.errorType == "Review.Blocked")
        #expect(ko.errorMessage == "legal hold")
        let statuses = try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).map(\.status)
        #expect(statuses.sorted { $0.rawValue < $1.rawValue } == [.approved, .failed])
    }

    @Test func cancellationEndsTheRequestItsCallbackAndItsLinks() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-C", approvers: ["a@example.com"])))
        let token = try await h.outbox("NotificationRequested", as: NotificationRequested.self)[0].linkToken
        try await h.handle(.cancelRequested(CancelRequested(requestId: "REQ-C", reason: "budget frozen", requestedAt: Date())))
        let status = try #require(try await h.status("REQ-C"))
        #expect(status.status == .cancelled)
        #expect(status.errorMessage == "budget frozen")
        let callbacks = try await DurableReader(pool: h.pool).callbacks(ofExecution: "REQ-C")
        #expect(callbacks.allSatisfy { $0.status == .failed && $0.error?.errorType == "Execution.Stopped" })
        let link = try #require(try await ApprovalReader(pool: h.pool).linkToken(hash: LinkToken.hash(token)))
        #expect(link.expiresAt <= Date())
        try await h.handle(.decisionSubmitted(decision("REQ-C", by: "a@example.com", token: token)))
        let outcomes = try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self)
        #expect(outcomes.map(\.status) == [.cancelled])
    }

    @Test func timeoutPolicyDecidesWhatADeadlineMeans() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-R", timeout: 30)))
        try await h.handle(.approvalRequested(request("REQ-A", timeout: 30, onTimeout: .approve)))
        // The approvers are told what the deadline will do, in the first message and in a resend.
        try await h.handle(.resendRequested(ResendRequested(requestId: "REQ-A", approver: nil, requestedAt: Date())))
        let told = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        #expect(told.filter { $0.requestId == "REQ-A" }.map(\.onTimeout) == [.approve, .approve, .approve, .approve])
        #expect(told.filter { $0.requestId == "REQ-R" }.map(\.onTimeout) == [nil, nil])
        let fired = try await h.pool.transaction { try await h.engine.fireDueTimers(limit: 10, on: $0, now: Date() + 31) }
        #expect(fired.count == 2)
        #expect(try await h.status("REQ-R")?.status == .timedOut)
        let approved = try #require(try await h.status("REQ-A"))
        #expect(approved.status == .approved)
        #expect(approved.errorType == "Callback.Timeout")
        // Nothing left to fire, and a second round fires nothing twice.
        #expect(try await h.pool.transaction { try await h.engine.fireDueTimers(limit: 10, on: $0, now: Date() + 3) }.count == 0)
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).count == 2)
        let history = try #require(try await DurableReader(pool: h.pool).history(ofExecution: "REQ-R"))
        #expect(history.map(\.type).contains("CallbackTimedOut"))
        #expect(history.last?.type == "ExecutionSucceeded")
    }

    /// A deadline writes each row it ends once, in few round trips: its timer is marked fired with its callback's timers
    /// and not again by its batch, its links (which expired with it) are left as they are, and the request is completed
    /// in the same statement that wakes intake's long-polls for it, on commit.
    @Test func aDeadlineWritesEachRowItEndsOnce() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-W", timeout: 30)))
        try await h.handle(.approvalRequested(request("REQ-D", timeout: 60)))
        let links = "SELECT token_hash, expires_at FROM link_tokens WHERE request_id = 'REQ-D' ORDER BY token_hash"
        let linksBefore = try await h.pool.query(PostgresQuery(stringLiteral: links)).decode((String, Date).self)
        #expect(linksBefore.count == 2)
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: h.url), channel: OutcomeChannel.name, logger: logger)
        let listening = Task { await listener.run() }
        defer { listening.cancel() }
        try await waitUntil(timeout: .seconds(10)) { listener.isListening }
        try await listener.withSubscription(to: "REQ-D") { outcome in
            let (writes, fired, trips) = try await h.pool.withConnection { connection in
                // A first deadline on this connection prepares its statements (a round trip each, once).
                func fire(at now: Date) async throws -> (fired: Int, trips: Int) {
                    try await connection.execute(script: "BEGIN")
                    let before = connection.roundTrips
                    let fired = try await h.engine.fireDueTimers(limit: 10, on: connection, now: now, writesTogether: true)
                    let trips = connection.roundTrips - before
                    try await connection.commit()
                    return (fired.count, trips)
                }
                #expect(try await fire(at: Date() + 31).fired == 1)
                let writes = try await RowWrites(counting: ["durable_timers", "link_tokens", "approval_requests"], in: h.pool)
                let (fired, trips) = try await fire(at: Date() + 61)
                return (writes, fired, trips)
            }
            #expect(fired == 1)
            // Four round trips fire it: the claim; the callback's end with the execution's state read after it; the
            // closing step's savepoint released (its writes, the request's completion among them, ride with it); the
            // timer's own savepoint released. Its history, checkpoints, messages and mark go with the commit.
            #expect(trips == 4)
            let written = try await writes.byTable()
            #expect(written == ["durable_timers": 1, "approval_requests": 1])
            #expect(await outcome.next(timeout: .seconds(10)) == .notified)
        }
        #expect(try await h.status("REQ-D")?.status == .timedOut)
        let linksAfter = try await h.pool.query(PostgresQuery(stringLiteral: links)).decode((String, Date).self)
        #expect(linksAfter.map(\.0) == linksBefore.map(\.0))
        #expect(linksAfter.map(\.1) == linksBefore.map(\.1))
        #expect(try await h.pool.query("SELECT count(*) FROM durable_timers WHERE fired_at IS NULL").column(Int.self) == [0])
    }

    /// A request that ends before its deadline ends its links then; a request no longer pending is not completed
    /// again, nor does it wake a long-poll.
    @Test func anEarlyEndEndsTheLinksAndACompletionComesOnce() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-F", timeout: 3600)))
        try await h.handle(.cancelRequested(CancelRequested(requestId: "REQ-F", reason: "stop", requestedAt: Date())))
        let expiries = try await h.pool.query("SELECT expires_at FROM link_tokens WHERE request_id = 'REQ-F'").column(Date.self)
        #expect(expiries.count == 2)
        #expect(expiries.allSatisfy { $0 <= Date() })
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: h.url), channel: OutcomeChannel.name, logger: logger)
        let listening = Task { await listener.run() }
        defer { listening.cancel() }
        try await waitUntil(timeout: .seconds(10)) { listener.isListening }
        let writes = try await RowWrites(counting: ["approval_requests"], in: h.pool)
        try await listener.withSubscription(to: "REQ-F") { outcome in
            try await h.pool.transaction { connection in
                ApprovalWriter(connection).queueCompletion(
                    requestId: "REQ-F", status: .approved, decidedBy: "a@example.com", decidedAt: Date(), channel: .link,
                    comment: nil, completedAt: Date())
            }
            let written = try await writes.byTable()
            #expect(written == [:])
            #expect(await outcome.next(timeout: .milliseconds(500)) == .timedOut)
        }
        #expect(try await h.status("REQ-F")?.status == .cancelled)
    }

    @Test func janitorRemovesExpiredLinksAndOldTimersInBoundedBatches() async throws {
        let h = try await harness()
        for index in 0..<5 { try await h.handle(.approvalRequested(request("REQ-J\(index)", approvers: ["a@example.com"], timeout: 1))) }
        _ = try await h.pool.transaction { try await h.engine.fireDueTimers(limit: 10, on: $0, now: Date() + 2) }
        // Four decisions for a request that never comes, and one for a request that comes.
        for index in 0..<4 { try await h.handle(.decisionSubmitted(decision("REQ-NEVER", by: "ops\(index)@example.com", channel: .kafka))) }
        let janitor = Janitor(pool: h.pool, logger: logger, batchSize: 3)
        typealias Removed = Janitor.Removed
        let later = Date() + 2 * 86_400
        #expect(try await janitor.sweep(now: later) == Removed(tokens: 3, timers: 3))
        #expect(try await janitor.sweep(now: later) == Removed(tokens: 2, timers: 2))
        #expect(try await janitor.sweep(now: later) == Removed())
        // A week on, the kept decisions go too; the inbox (9 events) is kept for eight days.
        #expect(try await janitor.sweep(now: Date() + 7.5 * 86_400) == Removed(unclaimedSignals: 3))
        #expect(try await janitor.sweep(now: Date() + 7.5 * 86_400) == Removed(unclaimedSignals: 1))
        #expect(try await h.pool.query("SELECT count(*) FROM durable_inbox").column(Int.self) == [9])
        #expect(try await janitor.sweep(now: Date() + 9 * 86_400) == Removed(inbox: 3))
        #expect(try await janitor.sweep(now: Date() + 9 * 86_400) == Removed(inbox: 3))
        #expect(try await janitor.sweep(now: Date() + 9 * 86_400) == Removed(inbox: 3))
        #expect(try await janitor.sweep(now: Date() + 9 * 86_400) == Removed())
        // Without a time of its own it judges by the database's clock: nothing is that old now.
        try await h.handle(.approvalRequested(request("REQ-J-NEW", approvers: ["a@example.com"])))
        #expect(try await janitor.sweep() == Removed())
        #expect(try await h.pool.query("SELECT count(*) FROM durable_inbox").column(Int.self) == [1])
    }

    @Test func aResultThatIsNotADecisionEndsTheRequestFailedNotStuck() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-X")))
        let callbackId = try await DurableReader(pool: h.pool).callbacks(ofExecution: "REQ-X")[0].callbackId
        let bad = CallbackCommand(
            requestId: "REQ-X", callbackId: callbackId, command: .success,
            result: .object(["decision": .string("approved"), "approver": .number(123)]), submittedAt: Date())
        try await h.handle(.callbackCommand(bad))
        let status = try #require(try await h.status("REQ-X"))
        #expect(status.status == .failed)
        #expect(status.errorType == "Callback.InvalidResult")
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).map(\.status) == [.failed])
    }
}

/// Counts the rows updated in some tables from now on, by table: a trigger on each records every row an `UPDATE`
/// writes (a row written twice counts twice).
struct RowWrites {
    let pool: PostgresPool

    init(counting tables: [String], in pool: PostgresPool) async throws {
        self.pool = pool
        try await pool.withConnection { connection in
            try await connection.execute(
                script: """
                    CREATE TABLE test_row_writes (relname text NOT NULL);
                    CREATE FUNCTION test_count_row_write() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN INSERT INTO test_row_writes VALUES (TG_TABLE_NAME); RETURN NULL; END $$;
                    """)
            for table in tables {
                try await connection.execute(
                    script: "CREATE TRIGGER test_count_row_write AFTER UPDATE ON \(table) FOR EACH ROW EXECUTE FUNCTION test_count_row_write()")
            }
        }
    }

    func byTable() async throws -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: try await pool.query("SELECT relname, count(*)::int FROM test_row_writes GROUP BY relname")
                .decode((String, Int).self))
    }
}
