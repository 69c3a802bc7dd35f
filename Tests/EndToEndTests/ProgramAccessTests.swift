import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// Programs deciding through the callback API, reading the history and cancelling, against the real processes.
@Suite(.timeLimit(.minutes(3)))
struct ProgramAccessTests {
    /// A key as `GREENLIGHT_API_KEYS` took them before keys had names: a bare secret, allowed every scope.
    static let key = "e2e-api-key-0123456789"
    let auth = [("Authorization", "Bearer \(Self.key)")]

    @Test func aProgramDecidesThroughTheCallbackAPIAndReadsTheHistory() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 250, "description": "Licence renewal", "approvers": ["a@example.com"], "heartbeatTimeoutSeconds": 600}"#
                ).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)

            let withKey = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)", headers: auth)
            let status = try GreenlightJSON.decode(RequestStatusBody.self, from: Data(withKey.body.utf8))
            let callbackId = try #require(status.callbackIds?.first)
            #expect(try await HTTP.get("\(stack.intakeURL)/v1/requests/\(requestId)").status == 401)

            let url = "\(stack.callbacksURL)/v1/callbacks/\(callbackId)"
            #expect(try await HTTP.post("\(url)/heartbeat", body: "", contentType: "application/json").status == 401)
            #expect(try await HTTP.post("\(url)/heartbeat", body: "", contentType: "application/json", headers: auth).status == 202)
            let decided = try await HTTP.post(
                "\(url)/success", body: #"{"decision": "approved", "approver": "bot@example.com", "comment": "auto"}"#,
                contentType: "application/json", headers: auth)
            #expect(decided.status == 202)

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.decidedBy == "bot@example.com")
            #expect(outcome.channel == .api)
            #expect(outcome.comment == "auto")

            let again = try await HTTP.post(
                "\(url)/success", body: #"{"decision": "rejected"}"#, contentType: "application/json", headers: auth)
            #expect(again.status == 409)
            #expect(again.body.contains("SUCCEEDED"))
            #expect(try await HTTP.post("\(stack.callbacksURL)/v1/callbacks/\(UUID())/success", body: "{}", contentType: "application/json", headers: auth).status == 404)

            let history = try await stack.get("/v1/requests/\(requestId)/history")
            #expect(history.status == 200)
            let types = try JSONSerialization.jsonObject(with: Data(history.body.utf8)) as? [String: Any]
            // The workflow's own events (the notifier's delivery reports are signals that arrive at any point, and
            // are recorded even after the end).
            let events = ((types?["events"] as? [[String: Any]])?.compactMap { $0["type"] as? String } ?? [])
                .filter { !$0.hasPrefix("Notification") && $0 != "SignalReceived" }
            #expect(events.first == "ExecutionStarted")
            #expect(events.contains("CallbackStarted"))
            #expect(events.contains("StepSucceeded"))
            #expect(events.contains("CallbackSucceeded"))
            #expect(events.last == "ExecutionSucceeded")
            // Exactly two invocations: the start and the callback's success. The heartbeat only moves a deadline, and
            // delivery reports are observed without an invocation.
            #expect(events.filter { $0 == "InvocationCompleted" }.count == 2)
        }
    }

    @Test func cancellingAPendingRequestEndsItAndItsLinks() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            _ = try await stack.submit(#"{"requestId": "\#(requestId)", "amount": 1, "description": "To be cancelled"}"#)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let cancelURL = "\(stack.intakeURL)/v1/requests/\(requestId)/cancel"
            #expect(try await HTTP.post(cancelURL, body: "", contentType: "application/json").status == 401)
            #expect(try await HTTP.post(cancelURL, body: "", contentType: "application/json", headers: auth).status == 202)

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .cancelled)
            #expect(!outcome.approved)
            try await waitUntil { try await stack.status(requestId)?.status == .cancelled }
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            let late = try await HTTP.postDecision(approve)
            #expect(late.status == 409)
            #expect(try await HTTP.post(cancelURL, body: "", contentType: "application/json", headers: auth).status == 409)
        }
    }

    /// The audit trail of a link decision — the approver the link was issued to, when, the channel, the comment,
    /// the client address and the user agent — in the status and the history, for callers with a key only.
    @Test func aLinkDecisionsAuditTrailIsInTheStatusAndTheHistory() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 75, "description": "Audit", "approvers": ["Auditor@example.com"]}"#
                ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let reject = try #require(mail.links.first { $0.contains("/reject/") })
            let page = try await HTTP.clickThrough(reject, comment: "Not this quarter", headers: [("User-Agent", "Audit-Browser/2.0")])
            #expect(page.status == 200)
            _ = try await stack.outcomes.waitFor(requestId)

            let status = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)", headers: auth)
            let body = try GreenlightJSON.decode(RequestStatusBody.self, from: Data(status.body.utf8))
            let vote = try #require(body.votes?.first)
            #expect(vote.approver == "Auditor@example.com" && vote.decision == .reject && vote.channel == .link)
            #expect(vote.comment == "Not this quarter")
            #expect(vote.clientAddress == "127.0.0.1" && vote.userAgent == "Audit-Browser/2.0")

            let history = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)/history", headers: auth).body
            for fact in ["Auditor@example.com", "Not this quarter", "127.0.0.1", "Audit-Browser/2.0", "\"channel\":\"link\""] {
                #expect(history.contains(fact), "history lacks \(fact)")
            }
            // Without a key, nothing.
            let anonymous = try await HTTP.get("\(stack.intakeURL)/v1/requests/\(requestId)/history")
            #expect(anonymous.status == 401)
            #expect(!anonymous.body.contains("Not this quarter"))
        }
    }

    @Test func aFailedEmailIsVisibleAndAResendDeliversTheSameLinkAgain() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 5, "description": "Two approvers", "approvers": ["bounce@example.com", "a@example.com"], "policy": "all"}"#
                ).status == 202)
            // The sink refuses bounce@…: the status and the history say so; the request does not wait silently.
            var status: RequestStatusBody?
            let reported = try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                let response = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)", headers: auth)
                status = try? GreenlightJSON.decode(RequestStatusBody.self, from: Data(response.body.utf8))
                return status?.notifications?.count == 2
            }
            #expect(reported, "\(String(describing: status))")
            let byApprover = Dictionary(uniqueKeysWithValues: (status?.notifications ?? []).map { ($0.approver, $0) })
            #expect(byApprover["bounce@example.com"]?.result == .failed)
            #expect(byApprover["bounce@example.com"]?.error?.contains("550") == true)
            #expect(byApprover["a@example.com"]?.result == .delivered)
            let history = try await stack.get("/v1/requests/\(requestId)/history").body
            #expect(history.contains("NotificationFailed"))
            // And the refused message is in the dead-letter topic, with the reason.
            let letters = try await KafkaTopicReader.readAll(
                topic: Topic.deadLetters.rawValue, configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("dlq"))
            let reasons = letters.compactMap { try? GreenlightJSON.decode(DeadLetter.self, from: Data($0.value)) }
                .filter { $0.key == requestId }.map(\.reason)
            #expect(reasons.count == 1)
            #expect(reasons.first?.contains("bounce@example.com") == true)
            // Counted: one email sent, one failed, one dead letter.
            let notifier = try await stack.metrics("notifier")
            #expect(notifier.value("greenlight_emails_total", ["result": "failed"]) == 1, "\(notifier)")
            #expect(notifier.value("greenlight_emails_total", ["result": "sent"]) == 1)
            #expect(notifier.value("greenlight_dead_letters_total", ["service": "notifier"]) == 1)

            // Resend to the approver who got it: a second message with the same link.
            let first = try await stack.waitForMail(forRequest: requestId)
            let resent = try await HTTP.post(
                "\(stack.intakeURL)/v1/requests/\(requestId)/resend", body: #"{"approver": "a@example.com"}"#,
                contentType: "application/json", headers: auth)
            #expect(resent.status == 202)
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: requestId).count == 2 }
            let mails = stack.mails(forRequest: requestId)
            #expect(mails.count == 2)
            #expect(mails.last?.links == first.links)
        }
    }
}
