import Foundation
import GreenlightModels
import GreenlightTestSupport
import MailSink
import Testing

/// The approver inbox through the running services: sign-in by the emailed link, the list of what waits on the
/// signed-in person (nearest deadline first, then newest; only theirs, only undecided by them), one decision with
/// typed answers, and several at once — each its own vote on the `inbox` channel.
@Suite(.timeLimit(.minutes(3)))
struct InboxTests {
    @Test func anApproverSignsInSeesWhatWaitsAndDecidesFromTheInbox() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("INBOX")
            let me = "inbox-\(prefix.suffix(6).lowercased())@example.com"
            // Later deadline, older; nearer deadline, newer; two approvers (all); typed answers; someone else's.
            let requests = [
                #"{"requestId": "\#(prefix)-LATE", "amount": 10, "description": "Later deadline", "approvers": ["\#(me)"], "timeoutSeconds": 7200}"#,
                #"{"requestId": "\#(prefix)-SOON", "amount": 20, "description": "Nearest deadline", "approvers": ["\#(me)"], "timeoutSeconds": 1800}"#,
                #"{"requestId": "\#(prefix)-BOTH", "amount": 30, "description": "Two must approve", "approvers": ["\#(me.uppercased())", "other@example.com"], "policy": "all", "timeoutSeconds": 3600}"#,
                #"""
                {"requestId": "\#(prefix)-ASK", "description": "Deploy api", "approvers": ["\#(me)"], "timeoutSeconds": 5400,
                 "responseSchema": {"type": "object", "required": ["risk"],
                   "properties": {"risk": {"type": "string", "title": "Risk", "enum": ["low", "high"]}}},
                 "requireReason": "reject"}
                """#,
                #"{"requestId": "\#(prefix)-NOT-MINE", "amount": 40, "description": "Not mine", "approvers": ["other@example.com"]}"#,
            ]
            for body in requests { #expect(try await stack.submit(body).status == 202) }
            for suffix in ["LATE", "SOON", "BOTH", "ASK", "NOT-MINE"] { _ = try await stack.waitForMail(forRequest: "\(prefix)-\(suffix)") }

            let browser = InboxBrowser(baseURL: stack.callbacksURL)
            // Not signed in: the inbox sends to sign-in.
            #expect(try await browser.get("/inbox").header("Location") == "/inbox/sign-in")
            let signedIn = try await browser.signIn(me, sink: stack.sink)
            #expect(signedIn.status == 303)
            #expect(signedIn.header("Location") == "/inbox")
            #expect(browser.session != nil)

            var inbox = try await browser.get("/inbox")
            #expect(inbox.status == 200)
            let order = ["SOON", "BOTH", "ASK", "LATE"].map { "\(prefix)-\($0)" }
            let positions = order.map { inbox.body.range(of: "value=\"\($0)\"")?.lowerBound }
            #expect(positions.allSatisfy { $0 != nil }, "\(inbox.body)")
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "nearest deadline first")
            #expect(!inbox.body.contains("\(prefix)-NOT-MINE"))
            #expect(inbox.body.contains("0 of 2 approvals so far"))
            #expect(inbox.body.contains("This request asks for answers: open it to decide."))
            let csrf = try #require(InboxBrowser.csrf(in: inbox.body))

            // The request with typed answers, decided on its own page: refused without them, then accepted.
            let ask = "/inbox/requests/\(prefix)-ASK"
            let page = try await browser.get(ask)
            #expect(page.status == 200)
            #expect(page.body.contains(#"name="response.risk""#))
            let missing = try await browser.post(ask, [("csrf", csrf), ("decision", "approve"), ("comment", "")])
            #expect(missing.status == 422)
            #expect(missing.body.contains("Risk: is required"))
            let answered = try await browser.post(ask, [("csrf", csrf), ("decision", "approve"), ("response.risk", "low")])
            #expect(answered.status == 200)
            #expect(answered.body.contains("your decision settled it"), "\(answered.body)")
            let asked = try await stack.outcomes.waitFor("\(prefix)-ASK")
            #expect(asked.status == .approved)
            #expect(asked.response == .object(["risk": .string("low")]))

            // The others together, including one someone else cannot see and one that is not waiting on me.
            let bulk = try await browser.post(
                "/inbox/bulk",
                [("csrf", csrf), ("decision", "approve"), ("comment", "All fine")]
                    + ["SOON", "BOTH", "LATE", "NOT-MINE"].map { ("id", "\(prefix)-\($0)") })
            #expect(bulk.status == 200)
            #expect(bulk.body.contains("Your 4 decisions"))
            #expect(bulk.body.contains("vote recorded"), "\(bulk.body)")
            #expect(bulk.body.contains("1 of 2 approvals so far"))
            #expect(bulk.body.contains("it is no longer waiting on you"))
            for suffix in ["SOON", "LATE"] {
                let outcome = try await stack.outcomes.waitFor("\(prefix)-\(suffix)")
                #expect(outcome.status == .approved)
                #expect(outcome.channel == .inbox)
                #expect(outcome.decidedBy == me)
                #expect(outcome.comment == "All fine")
                #expect(outcome.votes?.count == 1)
            }
            // Each its own vote: the two-approver request holds mine and waits for the other.
            let both = try #require(try await stack.status("\(prefix)-BOTH"))
            #expect(both.status == .pending)
            #expect(both.votes?.map(\.approver) == [me])
            #expect(both.votes?.first?.channel == .inbox)
            #expect(try await stack.status("\(prefix)-NOT-MINE")?.status == .pending)

            inbox = try await browser.get("/inbox")
            #expect(inbox.body.contains("Nothing waits on you"), "\(inbox.body)")
        }
    }

    @Test func aRejectionThatNeedsAReasonIsNotSentInBulkWithoutOne() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("INBOXR")
            let me = "reasons-\(prefix.suffix(6).lowercased())@example.com"
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(prefix)-R", "amount": 5, "description": "Needs a reason to reject", "approvers": ["\#(me)"], "requireReason": "reject"}"#
                ).status == 202)
            _ = try await stack.waitForMail(forRequest: "\(prefix)-R")
            let browser = InboxBrowser(baseURL: stack.callbacksURL)
            try await browser.signIn(me, sink: stack.sink)
            let csrf = try #require(InboxBrowser.csrf(in: try await browser.get("/inbox").body))
            let bare = try await browser.post("/inbox/bulk", [("csrf", csrf), ("decision", "reject"), ("id", "\(prefix)-R")])
            #expect(bare.body.contains("not sent: Reason: is required"), "\(bare.body)")
            #expect(try await stack.status("\(prefix)-R")?.status == .pending)
            let reasoned = try await browser.post(
                "/inbox/bulk", [("csrf", csrf), ("decision", "reject"), ("comment", "Over budget"), ("id", "\(prefix)-R")])
            #expect(reasoned.body.contains("your decision settled it"), "\(reasoned.body)")
            let outcome = try await stack.outcomes.waitFor("\(prefix)-R")
            #expect(outcome.status == .rejected)
            #expect(outcome.comment == "Over budget")
        }
    }

    /// With `GREENLIGHT_DIGEST_HOUR` set, a receiver sends the day's digest from that hour on: one email per person
    /// listing what waits on them, linking to their inbox (hour 0: due at once, so a receiver started now sends it).
    @Test func theDailyDigestListsWhatWaitsOnEachPersonAndLinksToTheInbox() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("DIGEST")
            let me = "digest-\(prefix.suffix(6).lowercased())@example.com"
            for (suffix, minutes) in [("LATER", 90), ("SOON", 20)] {
                #expect(try await stack.submit(
                    #"{"requestId": "\#(prefix)-\#(suffix)", "title": "Digest \#(suffix)", "description": "For the digest", "approvers": ["\#(me)"], "timeoutSeconds": \#(minutes * 60)}"#
                ).status == 202)
                _ = try await stack.waitForMail(forRequest: "\(prefix)-\(suffix)")
            }
            func digests() -> [ParsedMail] {
                stack.sink.messages.map(\.parsed).filter {
                    $0.header("X-Greenlight-Kind") == "digest" && ($0.header("To") ?? "").contains(me)
                }
            }
            #expect(digests().isEmpty, "no digest without GREENLIGHT_DIGEST_HOUR")

            try await stack.startAnother("callbacks", as: "callbacks-digest", environment: ["GREENLIGHT_DIGEST_HOUR": "0"])
            #expect(try await eventually(timeout: .seconds(60)) { !digests().isEmpty })
            let digest = try #require(digests().first)
            #expect(digest.subject == "2 requests wait for your decision")
            let text = try #require(digest.text)
            let soon = try #require(text.range(of: "\(prefix)-SOON: Digest SOON"), "\(text)")
            let later = try #require(text.range(of: "\(prefix)-LATER: Digest LATER"), "\(text)")
            #expect(soon.lowerBound < later.lowerBound, "nearest deadline first")
            #expect(digest.links.contains("\(stack.callbacksURL)/inbox"), "\(digest.links)")
            #expect(!digest.links.contains { $0.contains("/approve/") || $0.contains("/inbox/sign-in/") }, "no working link in a digest")
            #expect(!text.contains("more."), "both are listed: no \"and N more\"")
        }
    }
}
