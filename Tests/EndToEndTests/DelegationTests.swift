import Foundation
import GreenlightModels
import GreenlightTestSupport
import MailSink
import Testing

/// Out of office through the running services: an admin sets a delegation, a request to the approver goes to the
/// delegate instead, the approver is emailed that it did, and the delegate's click is audited as "B on behalf of A"
/// in the history, the status and the outcome.
@Suite(.timeLimit(.minutes(3)))
struct DelegationTests {
    @Test func aDelegatedDecisionIsAuditedOnBehalfOfTheApprover() async throws {
        try await ServiceStack.with { stack in
            let set = try await HTTP.post(
                "\(stack.intakeURL)/v1/delegations/a@example.com",
                body: #"{"delegate": "b@example.com", "mode": "instead", "reason": "holiday"}"#, contentType: "application/json",
                headers: stack.authorization, method: "PUT")
            #expect(set.status == 202, "\(set.body)")
            // Applied by the orchestrator, asynchronously: readable once it is in the table.
            let applied = try await eventually(timeout: .seconds(30)) {
                try await stack.get("/v1/delegations/a@example.com").status == 200
            }
            #expect(applied)

            let requestId = TestEnvironment.uniqueName("DLG")
            let accepted = try await stack.submit(
                #"{"requestId": "\#(requestId)", "description": "Renew the TLS certificate", "approvers": ["a@example.com"]}"#)
            #expect(accepted.status == 202)
            var mails: [ParsedMail] = []
            _ = try await eventually(timeout: .seconds(30)) {
                mails = stack.mails(forRequest: requestId)
                return mails.count >= 2
            }
            let toDelegate = try #require(mails.first { $0.header("To") == "b@example.com" }, "\(mails.map(\.subject))")
            #expect(toDelegate.text?.contains("in place of a@example.com") == true)
            let notice = try #require(mails.first { $0.header("To") == "a@example.com" })
            #expect(notice.header("X-Greenlight-Kind") == "delegated")
            #expect(notice.subject.contains("went to b@example.com while you are away"), "\(notice.subject)")
            #expect(notice.links.isEmpty)
            #expect(mails.count == 2)

            let approve = try #require(toDelegate.links.first { $0.contains("/approve/") })
            let decided = try await HTTP.clickThrough(approve, comment: "Covering for a")
            #expect(decided.status == 200)

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.decidedBy == "b@example.com" && outcome.onBehalfOf == "a@example.com")
            #expect(outcome.votes?.map { "\($0.approver) for \($0.onBehalfOf ?? "-")" } == ["b@example.com for a@example.com"])
            let status = try #require(try await stack.status(requestId))
            #expect(status.decidedBy == "b@example.com" && status.onBehalfOf == "a@example.com")
            let history = try await stack.get("/v1/requests/\(requestId)/history")
            #expect(history.body.contains("DelegateInvited") && history.body.contains("DecidedOnBehalf"), "\(history.body)")
            #expect(history.body.contains("b@example.com on behalf of a@example.com"))
        }
    }
}
