import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The trust-boundary suites, one stack at a time: each test starts the four services, and a 2-core machine that
/// runs every other end-to-end suite at the same time has no room for seven more stacks at once.
@Suite(.serialized) enum TrustBoundary {}

extension TrustBoundary {
/// The page after a click tells what the orchestrator made of it: a vote is a vote, and a click that loses a race
/// is told who won — never "approved" for a decision that did not happen.
@Suite(.timeLimit(.minutes(3)))
struct ClickTruthTests {
    /// A click as a person makes it: on "temporarily unavailable" (503: the database slower than a page may wait,
    /// on a machine running every other end-to-end suite), again a moment later.
    static func click(_ link: String) async throws -> HTTP.Response {
        var page = try await HTTP.clickThrough(link)
        for _ in 0..<5 where page.status == 503 {
            try await Task.sleep(for: .seconds(1))
            page = try await HTTP.clickThrough(link)
        }
        return page
    }

    @Test func aVoteIsAVoteAndALostRaceIsToldWhoWon() async throws {
        try await ServiceStack.with { stack in
            // Two approvers who must both approve: the first click is a vote, with the tally.
            let all = TestEnvironment.uniqueName("TRUTH")
            #expect(try await stack.submit(
                #"{"requestId": "\#(all)", "amount": 10, "description": "Both", "approvers": ["a@example.com", "b@example.com"], "policy": "all"}"#
            ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: all).count == 2 }
            let first = try #require(stack.mails(forRequest: all).first { $0.header("To") == "a@example.com" }?.links.first { $0.contains("/approve/") })
            let vote = try await Self.click(first)
            #expect(vote.status == 200)
            #expect(vote.body.contains("Your vote is recorded"), "\(vote.body)")
            #expect(vote.body.contains("1 of 2 approvals so far"))
            #expect(!vote.body.contains("Request Approved!"))

            // Two approvers of whom either decides, clicking at the same moment: one wins, the other is told who did.
            let any = TestEnvironment.uniqueName("TRUTH")
            #expect(try await stack.submit(
                #"{"requestId": "\#(any)", "amount": 10, "description": "Either", "approvers": ["c@example.com", "d@example.com"]}"#
            ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: any).count == 2 }
            let mails = stack.mails(forRequest: any)
            let approve = try #require(mails.first { $0.header("To") == "c@example.com" }?.links.first { $0.contains("/approve/") })
            let reject = try #require(mails.first { $0.header("To") == "d@example.com" }?.links.first { $0.contains("/reject/") })
            async let approved = Self.click(approve)
            async let rejected = Self.click(reject)
            let pages = try await [approved, rejected]
            let outcome = try await stack.outcomes.waitFor(any)
            let winner = outcome.status == .approved ? 0 : 1
            let loser = 1 - winner
            #expect(pages[winner].body.contains(outcome.status == .approved ? "Request Approved!" : "Request Rejected!"), "\(pages[winner].body)")
            // The other click is refused — at the page's own check or by the orchestrator — and says who decided.
            #expect(pages[loser].status == 409, "\(pages[loser].body)\n\(pages[loser].status == 409 ? "" : stack.diagnostics())")
            #expect(pages[loser].body.contains("already \(outcome.status == .approved ? "approved" : "rejected")"), "\(pages[loser].body)")
            #expect(pages[loser].body.contains("by \(outcome.decidedBy ?? "?")"), "\(pages[loser].body)")
            #expect(!pages[loser].body.contains("Request Approved!") && !pages[loser].body.contains("Request Rejected!"))
        }
    }

    /// Four eyes by link: the requester's own click is refused, the page says why, the attempt is in the history,
    /// and the request still waits for someone else. (Intake is told to let the requester be an approver, as an
    /// older intake or a request straight onto Kafka could; the orchestrator still refuses.)
    @Test func theRequestersOwnClickIsRefusedAndAudited() async throws {
        try await ServiceStack.with(services: ["intake": ["GREENLIGHT_FOUR_EYES": "false"]]) { stack in
            let requestId = TestEnvironment.uniqueName("EYES")
            #expect(try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 10, "description": "Mine", "requester": "r@example.com", "approvers": ["r@example.com", "s@example.com"]}"#
            ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: requestId).count == 2 }
            let own = try #require(
                stack.mails(forRequest: requestId).first { $0.header("To") == "r@example.com" }?.links.first { $0.contains("/approve/") })
            let page = try await Self.click(own)
            #expect(page.status == 403, "\(page.body)")
            #expect(page.body.contains("You cannot decide your own request"))
            #expect(!page.body.contains("Request Approved!"))
            #expect(try await stack.status(requestId)?.status == .pending)
            let history = try await stack.get("/v1/requests/\(requestId)/history").body
            #expect(history.contains("DecisionRefused") && history.contains("four eyes"), "\(history)")
        }
    }

    /// When the verdict is slower than the page waits, the page says the decision was received and that the result
    /// will be emailed — and it is: a receipt, no links, saying what became of the decision.
    @Test func aSlowVerdictIsEmailed() async throws {
        try await ServiceStack.with(services: ["callbacks": ["GREENLIGHT_LINK_VERDICT_WAIT_MS": "0"]]) { stack in
            let requestId = TestEnvironment.uniqueName("SLOW")
            #expect(try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 10, "description": "Slow page", "approvers": ["e@example.com"]}"#
            ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let page = try await Self.click(try #require(mail.links.first { $0.contains("/approve/") }))
            #expect(page.status == 202, "\(page.body)")
            #expect(page.body.contains("Decision received") && page.body.contains("will be emailed to e@example.com"), "\(page.body)")
            #expect(try await stack.outcomes.waitFor(requestId).status == .approved)
            let received = try await eventually(timeout: .seconds(30)) { !stack.receipts(forRequest: requestId).isEmpty }
            #expect(received, "no receipt")
            #expect(stack.receipts(forRequest: requestId).count == 1)
            let receipt = try #require(stack.receipts(forRequest: requestId).first)
            #expect(receipt.header("To") == "e@example.com")
            #expect(receipt.text?.contains("Your decision to approve \(requestId) settled it. The request is approved") == true, "\(receipt.text ?? "")")
            #expect(receipt.links.isEmpty)
        }
    }
}
}
