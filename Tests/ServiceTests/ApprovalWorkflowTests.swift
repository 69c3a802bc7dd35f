import ApprovalStore
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Orchestrator
import Postgres
import Testing

/// The orchestrator's workflow steps against a real Postgres: what one event or timer leaves behind.
@Suite(.timeLimit(.minutes(1)))
struct ApprovalWorkflowTests {
    let workflow = ApprovalWorkflow()
    let logger = TestEnvironment.logger("workflow")

    func migratedPool() async throws -> PostgresPool {
        let pool = try await TestDatabase.create("workflow").pool()
        try await PostgresMigrator.migrate(
            pool, component: ApprovalSchema.component, migrations: ApprovalSchema.migrations, logger: logger)
        return pool
    }

    func request(_ id: String, approvers: [String] = ["a@example.com", "b@example.com"], timeout: Int = 3600)
        -> ApprovalRequested
    {
        ApprovalRequested(
            requestId: id, amount: 10, currency: "USD", description: "d", requester: nil, approvers: approvers,
            timeoutSeconds: timeout, submittedAt: Date())
    }

    /// Handles an event the way the orchestrator's processor does: inbox row first, in one transaction.
    @discardableResult
    func handle(_ event: InboundEvent, eventId: UUID, pool: PostgresPool, now: Date = Date()) async throws -> Bool {
        try await pool.transaction { connection in
            let writer = ApprovalWriter(connection)
            guard try await writer.recordInbox(eventId: eventId, topic: "test") else { return false }
            switch event {
            case .approvalRequested(let request): try await workflow.start(request, writer: writer, now: now, logger: logger)
            case .decisionSubmitted(let decision): try await workflow.decide(decision, writer: writer, now: now, logger: logger)
            }
            return true
        }
    }

    func outbox(_ pool: PostgresPool, type: String) async throws -> [String] {
        try await pool.query("SELECT payload FROM outbox WHERE payload LIKE \("%\"type\":\"\(type)\"%") ORDER BY id")
            .column(String.self)
    }

    @Test func startWritesExecutionCallbackHashedTokensTimerAndOneNotificationPerApprover() async throws {
        let pool = try await migratedPool()
        defer { pool.close() }
        let event = request("REQ-1")
        #expect(try await handle(.approvalRequested(event), eventId: event.eventId, pool: pool))
        // The same event again (a redelivery): no second effect.
        #expect(try await !handle(.approvalRequested(event), eventId: event.eventId, pool: pool))
        // The same request id in a new event (a second submission): no second workflow.
        let again = request("REQ-1")
        #expect(try await handle(.approvalRequested(again), eventId: again.eventId, pool: pool))

        #expect(try await pool.query("SELECT count(*) FROM approval_executions").column(Int.self) == [1])
        #expect(try await pool.query("SELECT count(*) FROM timers").column(Int.self) == [1])
        let notifications = try await outbox(pool, type: "NotificationRequested").map {
            try GreenlightJSON.decoder().decode(NotificationRequested.self, from: Data($0.utf8))
        }
        #expect(notifications.map(\.approver).sorted() == ["a@example.com", "b@example.com"])
        let hashes = Set(try await pool.query("SELECT token_hash FROM link_tokens").column(String.self))
        #expect(hashes == Set(notifications.map { LinkToken.hash($0.linkToken) }))
        #expect(!hashes.contains { hash in notifications.contains { $0.linkToken == hash } })
    }

    @Test func firstDecisionWinsAndLaterOnesAreRecorded() async throws {
        let pool = try await migratedPool()
        defer { pool.close() }
        let start = request("REQ-2")
        try await handle(.approvalRequested(start), eventId: start.eventId, pool: pool)
        let tokens = try await outbox(pool, type: "NotificationRequested").map {
            try GreenlightJSON.decoder().decode(NotificationRequested.self, from: Data($0.utf8))
        }
        let byApprover = Dictionary(uniqueKeysWithValues: tokens.map { ($0.approver, $0.linkToken) })

        let approve = DecisionSubmitted(
            requestId: "REQ-2", decision: .approve, decidedBy: "a@example.com", channel: .link, comment: nil,
            decidedAt: Date(), tokenHash: LinkToken.hash(byApprover["a@example.com"]!))
        let reject = DecisionSubmitted(
            requestId: "REQ-2", decision: .reject, decidedBy: "b@example.com", channel: .link, comment: nil,
            decidedAt: Date(), tokenHash: LinkToken.hash(byApprover["b@example.com"]!))
        try await handle(.decisionSubmitted(approve), eventId: approve.eventId, pool: pool)
        try await handle(.decisionSubmitted(reject), eventId: reject.eventId, pool: pool)
        try await handle(.decisionSubmitted(approve), eventId: approve.eventId, pool: pool)

        let outcomes = try await outbox(pool, type: "ApprovalCompleted")
        #expect(outcomes.count == 1)
        let outcome = try GreenlightJSON.decoder().decode(ApprovalCompleted.self, from: Data(outcomes[0].utf8))
        #expect(outcome.status == .approved)
        #expect(outcome.decidedBy == "a@example.com")
        let attempts = try await pool.query(
            "SELECT decided_by, accepted, reason FROM decision_attempts ORDER BY id"
        ).decode((String, Bool, String?).self)
        #expect(attempts.count == 2)
        #expect(attempts[0].0 == "a@example.com" && attempts[0].1)
        #expect(attempts[1].0 == "b@example.com" && !attempts[1].1)
        #expect(attempts[1].2 == "the request is already approved")
    }

    @Test func aTokenDecidesOnlyItsOwnRequest() async throws {
        let pool = try await migratedPool()
        defer { pool.close() }
        for id in ["REQ-A", "REQ-B"] {
            let event = request(id, approvers: ["a@example.com"])
            try await handle(.approvalRequested(event), eventId: event.eventId, pool: pool)
        }
        let tokenOfA = try await outbox(pool, type: "NotificationRequested").map {
            try GreenlightJSON.decoder().decode(NotificationRequested.self, from: Data($0.utf8))
        }.first { $0.requestId == "REQ-A" }!.linkToken
        let forged = DecisionSubmitted(
            requestId: "REQ-B", decision: .approve, decidedBy: "a@example.com", channel: .link, comment: nil,
            decidedAt: Date(), tokenHash: LinkToken.hash(tokenOfA))
        try await handle(.decisionSubmitted(forged), eventId: forged.eventId, pool: pool)
        #expect(try await outbox(pool, type: "ApprovalCompleted").isEmpty)
        #expect(
            try await pool.query("SELECT reason FROM decision_attempts").column(String.self)
                == ["the link token does not belong to this request"])
    }

    @Test func dueTimerTimesOutAPendingRequestOnlyOnce() async throws {
        let pool = try await migratedPool()
        defer { pool.close() }
        let start = request("REQ-T", timeout: 1)
        let started = Date()
        try await handle(.approvalRequested(start), eventId: start.eventId, pool: pool, now: started)

        func fire(at now: Date) async throws -> Int {
            try await pool.transaction { connection in
                let writer = ApprovalWriter(connection)
                let due = try await writer.claimDueTimers(now: now, limit: 10)
                for timer in due { try await workflow.fire(timer, writer: writer, now: now, logger: logger) }
                return due.count
            }
        }
        #expect(try await fire(at: started) == 0)
        #expect(try await fire(at: started.addingTimeInterval(2)) == 1)
        #expect(try await fire(at: started.addingTimeInterval(3)) == 0)

        let outcomes = try await outbox(pool, type: "ApprovalCompleted")
        #expect(outcomes.count == 1)
        #expect(try GreenlightJSON.decoder().decode(ApprovalCompleted.self, from: Data(outcomes[0].utf8)).status == .timedOut)

        // A decision after the deadline changes nothing.
        let late = DecisionSubmitted(
            requestId: "REQ-T", decision: .approve, decidedBy: "a@example.com", channel: .kafka, comment: nil,
            decidedAt: Date(), tokenHash: nil)
        try await handle(.decisionSubmitted(late), eventId: late.eventId, pool: pool)
        #expect(try await outbox(pool, type: "ApprovalCompleted").count == 1)
    }
}
