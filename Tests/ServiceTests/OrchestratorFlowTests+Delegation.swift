import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
@testable import Orchestrator
import Postgres
import Testing

/// Delegation (out of office) and reassignment: who gets a link, whose place a delegate's decision fills, and how the
/// vote, the history and the outcome record "B on behalf of A".
extension OrchestratorFlowTests {
    func delegate(
        _ h: Harness, _ approver: String, to delegate: String, _ mode: DelegationMode = .also, from: Date = Date() - 60,
        until: Date? = Date() + 3600
    ) async throws {
        let delegation = Delegation(
            approver: approver, delegate: delegate, mode: mode, from: from, until: until, setBy: "ops", setAt: Date())
        try await h.handle(.delegationSet(DelegationSet(delegation: delegation, apiKey: "ops")))
    }

    func notifications(_ h: Harness, _ requestId: String) async throws -> [NotificationRequested] {
        try await h.outbox("NotificationRequested", as: NotificationRequested.self).filter { $0.requestId == requestId }
    }

    @Test func aDelegateAlsoGetsALinkAndTheirVoteFillsTheApproversPlace() async throws {
        let h = try await harness()
        try await delegate(h, "A@example.com", to: "b@example.com")
        try await h.handle(.approvalRequested(request("REQ-DG1", approvers: ["a@example.com", "c@example.com"], policy: .all)))
        let sent = try await notifications(h, "REQ-DG1")
        #expect(sent.map { "\($0.approver)/\($0.kind?.rawValue ?? "")/\($0.onBehalfOf ?? "-")" } == [
            "a@example.com/request/-", "b@example.com/request/a@example.com", "a@example.com/delegated/-",
            "c@example.com/request/-",
        ])
        #expect(sent.first { $0.kind == .delegated }?.delegate == "b@example.com")
        #expect(try await ApprovalReader(pool: h.pool).pendingStandIns(delegate: "B@example.com").map(\.requestId) == ["REQ-DG1"])

        let link = { (who: String) in sent.first { $0.approver == who && $0.kind == .request }!.linkToken }
        try await h.handle(.decisionSubmitted(decision("REQ-DG1", by: "b@example.com", token: link("b@example.com"))))
        #expect(try await h.attempts("REQ-DG1").last?.reason == "vote recorded: 1 of 2 approvals (all)")
        // A's place is taken: their own link no longer votes, and nothing waits on b any more.
        try await h.handle(.decisionSubmitted(decision("REQ-DG1", by: "a@example.com", .reject, token: link("a@example.com"))))
        #expect(try await h.attempts("REQ-DG1").last?.reason
            == "a@example.com has already decided on this request (b@example.com in their place)")
        #expect(try await ApprovalReader(pool: h.pool).pendingStandIns(delegate: "b@example.com").isEmpty)
        #expect(try await h.status("REQ-DG1")?.status == .pending)

        try await h.handle(.decisionSubmitted(decision("REQ-DG1", by: "c@example.com", token: link("c@example.com"))))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .approved)
        #expect(outcome.votes?.map { "\($0.approver) for \($0.onBehalfOf ?? "self")" } == [
            "b@example.com for a@example.com", "c@example.com for self",
        ])
        let history = try await h.engineHistory("REQ-DG1")
        let invited = try #require(history.first { $0.type == "DelegateInvited" })
        #expect(invited.details["Approver"] == .string("a@example.com") && invited.details["Delegate"] == .string("b@example.com"))
        let vote = try #require(history.first { $0.type == "VoteRecorded" })
        #expect(vote.details["Approver"] == .string("b@example.com") && vote.details["OnBehalfOf"] == .string("a@example.com"))
    }

    @Test func insteadSendsTheRequestToTheDelegateOnlyAndTheOutcomeSaysOnBehalfOfWhom() async throws {
        let h = try await harness()
        try await delegate(h, "a@example.com", to: "b@example.com", .instead)
        try await h.handle(.approvalRequested(request("REQ-DG2", approvers: ["a@example.com"])))
        let sent = try await notifications(h, "REQ-DG2")
        #expect(sent.map { "\($0.approver)/\($0.kind?.rawValue ?? "")" } == ["b@example.com/request", "a@example.com/delegated"])
        let token = try #require(sent.first).linkToken
        try await h.handle(.decisionSubmitted(decision("REQ-DG2", by: "b@example.com", .reject, token: token)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.status == .rejected)
        #expect(outcome.decidedBy == "b@example.com" && outcome.onBehalfOf == "a@example.com")
        #expect(outcome.votes?.first?.onBehalfOf == "a@example.com")
        let status = try #require(try await h.status("REQ-DG2"))
        #expect(status.decidedBy == "b@example.com" && status.onBehalfOf == "a@example.com")
        #expect(status.votes?.first?.onBehalfOf == "a@example.com")
        let decided = try #require(try await h.engineHistory("REQ-DG2").first { $0.type == "DecidedOnBehalf" })
        #expect(decided.details["Reason"] == .string("b@example.com on behalf of a@example.com"))
    }

    /// Without a link (the inbox, Slack, the API naming them), a delegate's decision fills the place of the approver
    /// they stand in for; someone standing in for nobody is still refused on the approver's own channels.
    @Test func aDelegateDecidesThroughTheInboxInTheApproversPlace() async throws {
        let h = try await harness()
        try await delegate(h, "a@example.com", to: "b@example.com", .instead)
        try await h.handle(.approvalRequested(request("REQ-DG3", approvers: ["a@example.com", "c@example.com"], policy: .quorum(2))))
        try await h.handle(.decisionSubmitted(decision("REQ-DG3", by: "mallory@example.com", channel: .inbox)))
        try await h.handle(.decisionSubmitted(decision("REQ-DG3", by: "B@example.com", channel: .inbox)))
        try await h.handle(.decisionSubmitted(decision("REQ-DG3", by: "b@example.com", channel: .slack)))
        let attempts = try await h.attempts("REQ-DG3")
        #expect(attempts.map(\.accepted) == [false, true, false])
        #expect(attempts[0].reason == "mallory@example.com is not an approver of this request")
        #expect(attempts[1].reason == "vote recorded: 1 of 2 approvals (quorum:2)")
        #expect(try await h.status("REQ-DG3")?.votes?.map(\.onBehalfOf) == ["a@example.com"])
        // The approver, back early, is still an approver; their place is taken.
        try await h.handle(.decisionSubmitted(decision("REQ-DG3", by: "a@example.com", channel: .inbox)))
        #expect(try await h.attempts("REQ-DG3").last?.accepted == false)
        try await h.handle(.decisionSubmitted(decision("REQ-DG3", by: "c@example.com", channel: .inbox)))
        #expect(try await h.status("REQ-DG3")?.status == .approved)
    }

    @Test func aDelegationAppliesOnlyInItsPeriodAndUntilCleared() async throws {
        let h = try await harness()
        try await delegate(h, "a@example.com", to: "later@example.com", from: Date() + 3600, until: nil)
        try await delegate(h, "c@example.com", to: "past@example.com", from: Date() - 7200, until: Date() - 3600)
        try await h.handle(.approvalRequested(request("REQ-DG4", approvers: ["a@example.com", "c@example.com"])))
        #expect(try await notifications(h, "REQ-DG4").map(\.approver) == ["a@example.com", "c@example.com"])

        try await delegate(h, "a@example.com", to: "b@example.com")
        try await h.handle(
            .delegationCleared(DelegationCleared(approver: "A@example.com", clearedBy: "ops", clearedAt: Date() + 1)))
        #expect(try await ApprovalReader(pool: h.pool).delegation(approver: "a@example.com") == nil)
        try await h.handle(.approvalRequested(request("REQ-DG5", approvers: ["a@example.com"])))
        #expect(try await notifications(h, "REQ-DG5").map(\.approver) == ["a@example.com"])
        // A change older than the one kept is ignored (the newest wins, whatever the order they arrive in).
        try await delegate(h, "a@example.com", to: "new@example.com")
        let older = Delegation(
            approver: "a@example.com", delegate: "old@example.com", mode: .also, from: Date() - 60, until: nil, setBy: "ops",
            setAt: Date() - 600)
        try await h.handle(.delegationSet(DelegationSet(delegation: older)))
        #expect(try await ApprovalReader(pool: h.pool).delegation(approver: "a@example.com")?.delegate == "new@example.com")
    }

    /// The delegation is read once, when the request reaches the approver (a checkpointed step): changing it later
    /// changes nothing for that request on replay, and a reminder reaches the delegate with their own link.
    @Test func aDelegationChangedLaterDoesNotChangeARequestItAlreadyReached() async throws {
        let h = try await harness()
        try await delegate(h, "a@example.com", to: "b@example.com")
        try await h.handle(.approvalRequested(request("REQ-DG7", approvers: ["a@example.com", "c@example.com"], policy: .all, remindAfter: 60)))
        try await h.handle(.delegationCleared(DelegationCleared(approver: "a@example.com", clearedBy: "ops", clearedAt: Date() + 1)))
        try await delegate(h, "a@example.com", to: "x@example.com")
        let first = try await notifications(h, "REQ-DG7")
        let c = try #require(first.first { $0.approver == "c@example.com" })
        try await h.handle(.decisionSubmitted(decision("REQ-DG7", by: "c@example.com", token: c.linkToken)))
        #expect(try await h.fire(at: Date().addingTimeInterval(61)) == 1)
        let reminders = try await notifications(h, "REQ-DG7").filter { $0.kind == .reminder }
        #expect(reminders.map { "\($0.approver)/\($0.onBehalfOf ?? "-")" } == ["a@example.com/-", "b@example.com/a@example.com"])
        #expect(reminders.last?.tokenNonce == first.first { $0.approver == "b@example.com" }?.tokenNonce)
        #expect(try await notifications(h, "REQ-DG7").allSatisfy { $0.approver != "x@example.com" })
        try await h.handle(.decisionSubmitted(decision("REQ-DG7", by: "b@example.com", token: reminders.last!.linkToken)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first { $0.requestId == "REQ-DG7" })
        #expect(outcome.status == .approved && outcome.onBehalfOf == "a@example.com")
    }

    /// Escalation follows the request's own chain; an escalated approver's delegation applies to them too.
    @Test func escalationFollowsTheChainAndReachesTheEscalatedApproversDelegate() async throws {
        let h = try await harness()
        try await delegate(h, "boss@example.com", to: "deputy@example.com")
        try await h.handle(
            .approvalRequested(
                request("REQ-DG6", approvers: ["a@example.com"], escalateAfter: 60, escalateTo: ["boss@example.com"])))
        #expect(try await h.fire(at: Date().addingTimeInterval(61)) == 1)
        let sent = try await notifications(h, "REQ-DG6")
        #expect(sent.map { "\($0.approver)/\($0.kind?.rawValue ?? "")" } == [
            "a@example.com/request", "boss@example.com/escalation", "deputy@example.com/escalation",
            "boss@example.com/delegated",
        ])
        #expect(try await h.status("REQ-DG6")?.approvers == ["a@example.com", "boss@example.com"])
        let deputy = try #require(sent.first { $0.approver == "deputy@example.com" })
        #expect(deputy.onBehalfOf == "boss@example.com")
        try await h.handle(.decisionSubmitted(decision("REQ-DG6", by: "deputy@example.com", token: deputy.linkToken)))
        let outcome = try #require(try await h.outbox("ApprovalCompleted", as: ApprovalCompleted.self).first)
        #expect(outcome.decidedBy == "deputy@example.com" && outcome.onBehalfOf == "boss@example.com")
    }

    @Test func reassignmentMovesTheApproversPlaceAndTheirLinkStopsCounting() async throws {
        let h = try await harness()
        try await delegate(h, "a@example.com", to: "b@example.com")
        try await h.handle(.approvalRequested(request("REQ-RA", approvers: ["a@example.com", "c@example.com"], policy: .all)))
        let before = try await notifications(h, "REQ-RA")
        func move(_ from: String, _ to: String) -> InboundEvent {
            .reassignRequested(ReassignRequested(requestId: "REQ-RA", from: from, to: to, reason: "on leave", requestedAt: Date(), apiKey: "ops"))
        }
        try await h.handle(move("nobody@example.com", "d@example.com"))
        try await h.handle(move("A@example.com", "c@example.com"))
        try await h.handle(move("A@example.com", "d@example.com"))
        #expect(try await h.status("REQ-RA")?.approvers == ["d@example.com", "c@example.com"])
        let history = try await h.engineHistory("REQ-RA")
        #expect(history.filter { $0.type == "ReassignmentRefused" }.map { $0.details["Refused"] } == [
            .string("nobody@example.com is not an approver of this request"),
            .string("c@example.com is already an approver of this request"),
        ])
        let moved = try #require(history.first { $0.type == "ApproverReassigned" })
        #expect(moved.details["From"] == .string("a@example.com") && moved.details["To"] == .string("d@example.com"))
        #expect(moved.details["APIKey"] == .string("ops"))
        let d = try #require(try await notifications(h, "REQ-RA").first { $0.approver == "d@example.com" })
        #expect(d.kind == .request && d.onBehalfOf == nil)

        // a's link and their delegate's no longer count; nor does b through the inbox.
        for old in before where old.approver != "c@example.com" && old.kind == .request {
            try await h.handle(.decisionSubmitted(decision("REQ-RA", by: old.approver, token: old.linkToken)))
        }
        try await h.handle(.decisionSubmitted(decision("REQ-RA", by: "b@example.com", channel: .inbox)))
        #expect(try await h.attempts("REQ-RA").map(\.accepted) == [false, false, false])
        #expect(try await ApprovalReader(pool: h.pool).standIns(requestId: "REQ-RA").isEmpty)

        try await h.handle(.decisionSubmitted(decision("REQ-RA", by: "d@example.com", token: d.linkToken)))
        let c = try #require(before.first { $0.approver == "c@example.com" })
        try await h.handle(.decisionSubmitted(decision("REQ-RA", by: "c@example.com", token: c.linkToken)))
        #expect(try await h.status("REQ-RA")?.status == .approved)
        // A place already decided cannot be moved.
        try await h.handle(.approvalRequested(request("REQ-RA2", approvers: ["x@example.com", "y@example.com"], policy: .all)))
        try await h.handle(.decisionSubmitted(decision("REQ-RA2", by: "x@example.com", channel: .api)))
        try await h.handle(
            .reassignRequested(ReassignRequested(requestId: "REQ-RA2", from: "x@example.com", to: "z@example.com", requestedAt: Date())))
        #expect(try await h.status("REQ-RA2")?.approvers == ["x@example.com", "y@example.com"])
        #expect(try await h.engineHistory("REQ-RA2").first { $0.type == "ReassignmentRefused" }?.details["Refused"]
            == .string("x@example.com has already decided on this request (x@example.com)"))
    }
}
