import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
@testable import Orchestrator
import Postgres
import Testing

/// The approval workflow owns every effect of an approval: each is a checkpointed step in its history (or, for a
/// notifier's report, an observation recorded with the event that carried it), and a crash at
/// any point — before an event's transaction commits, or after it commits but before its offset does (a redelivery)
/// — leaves the same result as a run without one. A suite of its own: a full approval twice over, crashes and all,
/// takes longer than the flow tests' minute on a busy machine.
@Suite(.timeLimit(.minutes(4)))
struct ApprovalReplayTests {
    let flow = OrchestratorFlowTests()
    typealias Harness = OrchestratorFlowTests.Harness

    func harness() async throws -> Harness { try await flow.harness() }

    func request(
        _ id: String, policy: ApprovalPolicy? = nil, remindAfter: Int? = nil, escalateAfter: Int? = nil, escalateTo: [String]? = nil
    ) -> ApprovalRequested {
        flow.request(id, policy: policy, remindAfter: remindAfter, escalateAfter: escalateAfter, escalateTo: escalateTo)
    }

    func decision(_ id: String, by approver: String, _ decision: Decision = .approve, token: String? = nil,
                  channel: DecisionChannel = .link) -> DecisionSubmitted {
        flow.decision(id, by: approver, decision, token: token, channel: channel)
    }

    struct Crash: Error {}

    /// What a run leaves behind, without ids and times: comparable between two runs.
    struct Snapshot: Equatable, CustomStringConvertible {
        var history: [String]
        var messages: [String]
        var attempts: [String]
        var outcome: String

        var description: String {
            "history \(history)\nmessages \(messages)\nattempts \(attempts)\noutcome \(outcome)"
        }
    }

    /// One approval through everything that can happen to it: a delivery report, a resend, a vote, the reminder, the
    /// escalation, two more votes (the last settles it), and a decision after the end. With `crashes`, every event and
    /// every timer is first applied in a transaction that is rolled back (a crash before the commit), and every event
    /// is delivered again after it committed (a crash before the offset commit).
    func fullApproval(crashes: Bool) async throws -> Snapshot {
        let h = try await harness()
        let id = "REQ-FULL"
        let start = Date()
        func apply(_ event: InboundEvent) async throws {
            if crashes {
                await #expect(throws: Crash.self) {
                    try await h.pool.transaction { connection in
                        _ = try await h.handler.handle(event, topic: "test", on: connection)
                        throw Crash()
                    }
                }
            }
            #expect(try await h.handle(event))
            if crashes { #expect(try await h.handle(event) == false) }
        }
        func fire(after seconds: TimeInterval) async throws {
            if crashes {
                await #expect(throws: Crash.self) {
                    try await h.pool.transaction { connection in
                        _ = try await h.engine.fireDueTimers(limit: 10, on: connection, now: start + seconds)
                        throw Crash()
                    }
                }
            }
            #expect(try await h.fire(at: start + seconds) == 1)
        }
        try await apply(
            .approvalRequested(
                request(id, policy: .all, remindAfter: 60, escalateAfter: 120, escalateTo: ["c@example.com"])))
        let first = try await h.outbox("NotificationRequested", as: NotificationRequested.self)
        let a = try #require(first.first { $0.approver == "a@example.com" })
        let b = try #require(first.first { $0.approver == "b@example.com" })
        try await apply(
            .notificationDelivery(
                NotificationDelivery(
                    requestId: id, notificationId: a.eventId, approver: a.approver, kind: .request, result: .delivered,
                    attempt: 1, error: nil, at: Date())))
        try await apply(.resendRequested(ResendRequested(requestId: id, approver: "b@example.com", requestedAt: Date())))
        try await apply(.decisionSubmitted(decision(id, by: "a@example.com", token: a.linkToken)))
        // The reminder is due 60 s and the escalation 120 s after the workflow started (the database's time, a little
        // after `start`, later still on a busy machine): each fired alone, with room either side.
        try await fire(after: 90)
        try await fire(after: 150)
        let escalation = try #require(
            try await h.outbox("NotificationRequested", as: NotificationRequested.self).first { $0.kind == .escalation })
        try await apply(.decisionSubmitted(decision(id, by: "b@example.com", token: b.linkToken)))
        try await apply(.decisionSubmitted(decision(id, by: "c@example.com", token: escalation.linkToken)))
        try await apply(.decisionSubmitted(decision(id, by: "ops@example.com", .reject, channel: .kafka)))

        let history = try await h.engineHistory(id).map { event in
            if case .string(let name)? = event.details["Name"] { return "\(event.type):\(name)" }
            return event.type
        }
        let messages = try await h.pool.query("SELECT topic, payload FROM durable_outbox ORDER BY id").decode((String, String).self)
            .map { topic, payload -> String in
                let event = try GreenlightJSON.decode([String: JSONValue].self, from: Data(payload.utf8))
                let detail = [event["type"], event["stage"], event["kind"], event["approver"], event["status"]]
                    .compactMap { value -> String? in if case .string(let text)? = value { return text } else { return nil } }
                return "\(topic) " + detail.joined(separator: "/")
            }
        let attempts = try await h.attempts(id).map { "\($0.decidedBy) \($0.channel) \($0.accepted) \($0.reason ?? "-")" }
        let status = try #require(try await h.status(id))
        let used = try await h.pool.query("SELECT count(*) FROM link_tokens WHERE used_at IS NOT NULL").column(Int.self)
        return Snapshot(
            history: history, messages: messages, attempts: attempts,
            outcome: "\(status.status) by \(status.decidedBy ?? "-"), \(used) links used")
    }

    @Test func everyEffectIsACheckpointedStepAndACrashAnywhereChangesNothing() async throws {
        let clean = try await fullApproval(crashes: false)
        // Every effect of the approval is a step of its workflow (the report is an observation, below).
        let steps = clean.history.filter { $0.hasPrefix("StepSucceeded:") }.map { $0.dropFirst("StepSucceeded:".count) }
        #expect(steps == [
            "record-request", "notify-approvers", "resend", "decide", "remind-approvers", "escalate", "decide", "decide",
            "finalize",
        ])
        #expect(clean.history.filter { $0 == "SignalReceived" }.count == 6)
        // The delivery report is an observation: recorded right after it arrived, once, with no invocation for it.
        let report = try #require(clean.history.firstIndex(of: "NotificationDelivered"))
        #expect(clean.history[report - 1] == "SignalReceived", "\(clean.history)")
        #expect(clean.history[report + 1] == "SignalReceived", "the resend comes next: \(clean.history)")
        #expect(clean.history.filter { $0 == "NotificationDelivered" }.count == 1)
        #expect(clean.history.last == "DecisionRefused", "the decision after the end is refused as late")
        #expect(clean.outcome == "approved by c@example.com, [3] links used")
        #expect(clean.attempts.last?.hasSuffix(DecisionVerdict.alreadyDecided + " (approved)") == true, "\(clean.attempts)")
        #expect(clean.messages.filter { $0.hasPrefix(Topic.outcomes.rawValue) } == ["\(Topic.outcomes.rawValue) ApprovalCompleted/approved"])

        let crashed = try await fullApproval(crashes: true)
        #expect(crashed == clean)
    }

    @Test func aCancellationIsAStepOfTheWorkflowThatWritesTheOutcome() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-CANCEL")))
        try await h.handle(.cancelRequested(CancelRequested(requestId: "REQ-CANCEL", reason: "withdrawn", requestedAt: Date(), apiKey: "ops")))
        let history = try await h.engineHistory("REQ-CANCEL")
        let steps = history.filter { $0.type == "StepSucceeded" }.compactMap { event -> String? in
            if case .string(let name)? = event.details["Name"] { return name } else { return nil }
        }
        #expect(steps == ["record-request", "notify-approvers", "cancel", "finalize"])
        #expect(history.first { $0.type == "CancelRequested" }?.details["APIKey"] == .string("ops"))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .cancelled)
        #expect(outcome.errorMessage == "withdrawn")
        #expect(outcome.apiKey == "ops")
        // A second cancellation finds nothing to cancel: one outcome.
        try await h.handle(.cancelRequested(CancelRequested(requestId: "REQ-CANCEL", reason: "again", requestedAt: Date())))
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).count == 1)
    }

    /// A report that cannot be recorded (a delivery report whose error text the database refuses) is in the history
    /// as discarded, and the approval goes on to its outcome.
    @Test func aFailingDeliveryReportDoesNotEndTheApproval() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-NUL")))
        let sent = try #require(try await h.outbox("NotificationRequested", as: NotificationRequested.self).first)
        try await h.handle(
            .notificationDelivery(
                NotificationDelivery(
                    requestId: "REQ-NUL", notificationId: sent.eventId, approver: sent.approver, kind: .request, result: .failed,
                    attempt: 1, error: "550 \u{0} refused", at: Date())))
        #expect(try await h.status("REQ-NUL")?.status == .pending)
        let discarded = try #require(try await h.engineHistory("REQ-NUL").first { $0.type == "SignalDiscarded" })
        #expect(discarded.details["Error"] != nil)
        try await h.handle(.decisionSubmitted(decision("REQ-NUL", by: sent.approver, token: sent.linkToken)))
        #expect(try await h.status("REQ-NUL")?.status == .approved)
    }

    /// A report kept until its request's workflow starts is received as any signal is (a step), and the approval
    /// replays that step on its next event as it does one received before reports were observations.
    @Test func aReportKeptUntilTheStartIsTakenByTheWorkflowAndReplayed() async throws {
        let h = try await harness()
        try await h.handle(
            .notificationDelivery(
                NotificationDelivery(
                    requestId: "REQ-EARLY", notificationId: UUID(), approver: "a@example.com", kind: .request, result: .delivered,
                    attempt: 1, error: nil, at: Date())))
        try await h.handle(.approvalRequested(request("REQ-EARLY")))
        let sent = try #require(try await h.outbox("NotificationRequested", as: NotificationRequested.self).first)
        try await h.handle(.decisionSubmitted(decision("REQ-EARLY", by: sent.approver, token: sent.linkToken)))
        #expect(try await h.status("REQ-EARLY")?.status == .approved)
        let history = try await h.engineHistory("REQ-EARLY")
        let steps = history.filter { $0.type == "StepSucceeded" }.compactMap { event -> String? in
            if case .string(let name)? = event.details["Name"] { return name } else { return nil }
        }
        #expect(steps == ["record-request", "notify-approvers", "record-delivery", "decide", "finalize"])
        #expect(history.filter { $0.type == "NotificationDelivered" }.count == 1)
    }

    /// An approval whose workflow fails — here, as a request in flight from a release before signals does on its next
    /// event (its checkpoint at that point is a wait, not a receive) — still ends: `failed`, with its one outcome.
    @Test func anApprovalWhoseWorkflowFailsEndsFailedWithItsOutcome() async throws {
        let h = try await harness()
        try await h.handle(.approvalRequested(request("REQ-OLD", remindAfter: 60)))
        _ = try await h.pool.query(
            """
            UPDATE durable_operation_pages
            SET kinds[array_position(positions, 5)] = 'WAIT', names[array_position(positions, 5)] = 'remind-after'
            WHERE 5 = ANY (positions) AND execution_id = (SELECT execution_id FROM durable_executions WHERE name = 'REQ-OLD')
            """)
        try await h.handle(.decisionSubmitted(decision("REQ-OLD", by: "ops@example.com", channel: .kafka)))
        let status = try #require(try await h.status("REQ-OLD"))
        #expect(status.status == .failed)
        #expect(status.errorType == DurableError.nonDeterministic)
        let outcomes = try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).filter { $0.requestId == "REQ-OLD" }
        #expect(outcomes.map(\.status) == [.failed])
        // Nothing more happens to it: a later decision is refused as too late, and no second outcome appears.
        try await h.handle(.decisionSubmitted(decision("REQ-OLD", by: "ops2@example.com", channel: .kafka)))
        #expect(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).filter { $0.requestId == "REQ-OLD" }.count == 1)
    }
}
