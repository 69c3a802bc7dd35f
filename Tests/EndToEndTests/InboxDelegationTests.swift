import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// A delegate's inbox: a request that reached an approver who is away is listed for the person standing in, and their
/// decision from the inbox is recorded in the approver's place ("B on behalf of A").
@Suite(.timeLimit(.minutes(3)))
struct InboxDelegationTests {
    @Test func aDelegateDecidesFromTheInboxOnBehalfOfTheApprover() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("INDLG")
            let tag = requestId.suffix(6).lowercased()
            let (away, standIn) = ("away-\(tag)@example.com", "stand-in-\(tag)@example.com")
            let set = try await HTTP.post(
                "\(stack.intakeURL)/v1/delegations/\(away)", body: #"{"delegate": "\#(standIn)", "mode": "also"}"#,
                contentType: "application/json", headers: stack.authorization, method: "PUT")
            #expect(set.status == 202, "\(set.body)")
            #expect(try await eventually(timeout: .seconds(30)) { try await stack.get("/v1/delegations/\(away)").status == 200 })
            #expect(try await stack.submit(
                #"{"requestId": "\#(requestId)", "description": "Rotate the keys", "approvers": ["\#(away)", "other-\#(tag)@example.com"], "policy": "all"}"#
            ).status == 202)
            _ = try await eventually(timeout: .seconds(30)) { stack.mails(forRequest: requestId).count >= 3 }

            let browser = InboxBrowser(baseURL: stack.callbacksURL)
            #expect(try await browser.signIn(standIn, sink: stack.sink).status == 303)
            let inbox = try await browser.get("/inbox")
            #expect(inbox.status == 200)
            #expect(inbox.body.contains(requestId), "the request waits on the person standing in")
            let csrf = try #require(InboxBrowser.csrf(in: inbox.body))
            let decided = try await browser.post("/inbox/requests/\(requestId)", [("csrf", csrf), ("decision", "approve")])
            #expect(decided.status == 200, "\(decided.body)")
            #expect(!(try await browser.get("/inbox").body.contains(requestId)), "decided: no longer waiting")

            // The vote is the approver's place, taken by the stand-in; the other approver still decides.
            let votes = try await eventually(timeout: .seconds(30)) { try await stack.status(requestId)?.votes?.isEmpty == false }
            #expect(votes)
            let vote = try #require(try await stack.status(requestId)?.votes?.first)
            #expect(vote.approver == standIn && vote.onBehalfOf == away && vote.channel == .inbox)
            #expect(try await stack.status(requestId)?.status == .pending)
        }
    }
}
