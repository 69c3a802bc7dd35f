import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// The operator console (`/console` on the callback receiver) against the running services: who may use it, the
/// list with its filters and counters, a request's timeline with resend and cancel, and the dead letters with
/// replay.
@Suite(.timeLimit(.minutes(3)))
struct ConsoleTests {
    static let viewerSecret = "e2e-viewer-secret-0123456789"
    /// The stack's own key (every scope) first, so the stack submits with it; then a key that may only read.
    static let keys = "\(ServiceStack.apiKeys),viewer:read+submit:\(viewerSecret)"

    static func get(_ stack: ServiceStack, _ path: String, key: String? = ServiceStack.apiSecret) async throws -> HTTP.Response {
        try await HTTP.send(url: stack.callbacksURL + path, headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    /// A console form, posted as the browser would (same origin), with the admin key.
    static func post(_ stack: ServiceStack, _ path: String, _ body: String = "", key: String = ServiceStack.apiSecret)
        async throws -> HTTP.Response
    {
        try await HTTP.post(
            stack.callbacksURL + path, body: body, contentType: "application/x-www-form-urlencoded",
            headers: [("Authorization", "Bearer \(key)"), ("Sec-Fetch-Site", "same-origin")])
    }

    /// A POST answers 303 to the page that says what it did; the client follows it (with the key).
    static func expectDone(_ response: HTTP.Response, _ notice: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if response.status == 303 {
            #expect(response.header("Location")?.contains("done=") == true, sourceLocation: sourceLocation)
        } else {
            #expect(response.status == 200, "\(response.body)", sourceLocation: sourceLocation)
            #expect(response.body.contains(notice), sourceLocation: sourceLocation)
        }
    }

    struct Counters: Decodable {
        var pending: Int
        var decidedToday: Int
        var deliveriesFailing: Int
        var consumerLag: Int?
    }

    @Test func onlyAnAdminKeyOpensTheConsole() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.keys]) { stack in
            for path in ["/console", "/console/counters", "/console/requests/REQ-1", "/console/dead-letters"] {
                let anonymous = try await Self.get(stack, path, key: nil)
                #expect(anonymous.status == 401, "\(path)")
                #expect(anonymous.header("Content-Type") == "text/html; charset=utf-8")
                #expect(anonymous.body.contains("Sign in to the console"))
                #expect(anonymous.body.contains("Authorization: Bearer"))
                let viewer = try await Self.get(stack, path, key: Self.viewerSecret)
                #expect(viewer.status == 403, "\(path)")
                #expect(viewer.body.contains("the console needs a key with the admin scope"))
                let unknown = try await Self.get(stack, path, key: "not-a-key-of-this-deployment")
                #expect(unknown.status == 403)
                #expect(unknown.body.contains("not one of this deployment"))
                #expect(!unknown.body.contains("not-a-key-of-this-deployment"))
            }
            let requestId = TestEnvironment.uniqueName("CON")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 5, "description": "Pens", "approvers": ["a@example.com"]}"#
                ).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            let refused = try await Self.post(stack, "/console/requests/\(requestId)/cancel", "reason=no", key: Self.viewerSecret)
            #expect(refused.status == 403)
            // A form from another site is refused even with the key.
            let crossSite = try await HTTP.post(
                stack.callbacksURL + "/console/requests/\(requestId)/cancel", body: "reason=no",
                contentType: "application/x-www-form-urlencoded",
                headers: [("Authorization", "Bearer \(ServiceStack.apiSecret)"), ("Sec-Fetch-Site", "cross-site")])
            #expect(crossSite.status == 403)
            // Still pending (read until intake answers: on a busy machine a read can miss its budget).
            #expect(try await eventually(timeout: .seconds(20)) { try await stack.status(requestId)?.status == .pending })
            let page = try await Self.get(stack, "/console")
            #expect(page.status == 200)
            let policy = try #require(page.header("Content-Security-Policy"))
            #expect(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"))
            let script = try await HTTP.get(stack.callbacksURL + "/console/console.js")
            #expect(script.status == 200 && script.body.contains("/console/counters"))
        }
    }

    @Test func theListFiltersAndCounts() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("LIST")
            let laptop = "\(prefix)-LAPTOP"
            let ticket = "\(prefix)-TICKET"
            let decided = "\(prefix)-DONE"
            let bounced = "\(prefix)-BOUNCE"
            for body in [
                #"{"requestId": "\#(laptop)", "amount": 1800, "description": "Laptop for Ana", "requester": "ana@example.com", "approvers": ["boss@example.com"]}"#,
                #"{"requestId": "\#(ticket)", "amount": 120, "description": "Conference ticket", "title": "Swift Summit", "approvers": ["events@example.com"]}"#,
                #"{"requestId": "\#(decided)", "amount": 30, "description": "Taxi", "approvers": ["boss@example.com"]}"#,
                #"{"requestId": "\#(bounced)", "amount": 10, "description": "Paper", "approvers": ["bounce@example.com"]}"#,
            ] {
                #expect(try await stack.submit(body).status == 202)
            }
            _ = try await stack.waitForMail(forRequest: decided)
            #expect(
                try await stack.submit(
                    #"{"decision": "approve", "decidedBy": "boss@example.com"}"#, path: "/v1/requests/\(decided)/decision"
                ).status == 202)
            #expect(try await stack.outcomes.waitFor(decided).status == .approved)

            // Counters: three pending, one decided today, one delivery failing (the sink refuses bounce@…), and the
            // orchestrator's group caught up.
            var counters: Counters?
            let counted = try await eventually(timeout: .seconds(30), interval: .milliseconds(250)) {
                let response = try await Self.get(stack, "/console/counters")
                counters = try? JSONDecoder().decode(Counters.self, from: Data(response.body.utf8))
                return counters?.deliveriesFailing == 1 && counters?.consumerLag == 0
            }
            #expect(counted, "\(String(describing: counters))")
            #expect(counters?.pending == 3)
            #expect(counters?.decidedToday == 1)

            let all = try await Self.get(stack, "/console")
            #expect(all.status == 200)
            for id in [laptop, ticket, decided, bounced] { #expect(all.body.contains(">\(id)</a>"), "\(id)") }
            #expect(all.body.contains(#"<output id="count-pending">3</output>"#))
            #expect(all.body.contains(#"<output id="count-decidedToday">1</output>"#))
            // Newest first.
            let newest = try #require(all.body.range(of: ">\(bounced)</a>"))
            let oldest = try #require(all.body.range(of: ">\(laptop)</a>"))
            #expect(newest.lowerBound < oldest.lowerBound)

            func listed(_ query: String) async throws -> Set<String> {
                let page = try await Self.get(stack, "/console?" + query)
                #expect(page.status == 200, "\(query): \(page.body)")
                return Set([laptop, ticket, decided, bounced].filter { page.body.contains(">\($0)</a>") })
            }
            #expect(try await listed("status=pending") == [laptop, ticket, bounced])
            #expect(try await listed("status=approved") == [decided])
            #expect(try await listed("approver=BOSS%40example") == [laptop, decided])
            #expect(try await listed("requester=ana") == [laptop])
            #expect(try await listed("q=laptop") == [laptop])
            #expect(try await listed("q=swift+summit") == [ticket])
            #expect(try await listed("q=\(prefix)-T") == [ticket])
            let today = String(Timestamp.format(Date()).prefix(10))
            #expect(try await listed("from=\(today)&to=\(today)&q=\(prefix)") == [laptop, ticket, decided, bounced])
            #expect(try await listed("to=2020-01-01&q=\(prefix)").isEmpty)
            let filled = try await Self.get(stack, "/console?status=pending&approver=boss%40example.com")
            #expect(filled.body.contains(#"<option value="pending" selected>"#))
            #expect(filled.body.contains(#"value="boss@example.com""#))
            let bad = try await Self.get(stack, "/console?status=lost&from=yesterday")
            #expect(bad.status == 422)
            #expect(bad.body.contains("Status: choose one from the list."))
            #expect(bad.body.contains("Created from: give a date as YYYY-MM-DD."))
        }
    }

    @Test func aRequestsTimelineWithResendAndCancel() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("TL")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 900, "description": "Two approvers", "approvers": ["a@example.com", "b@example.com"], "policy": "all"}"#
                ).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: requestId).count == 2 }
            let linkA = try #require(
                stack.mails(forRequest: requestId).first { $0.header("To")?.contains("a@example.com") == true }?.links
                    .first { $0.contains("/approve/") })
            #expect(try await HTTP.clickThrough(linkA, comment: "Fine by me").status == 200)
            // The same approver again, through the API: refused, with why.
            #expect(
                try await stack.submit(
                    #"{"decision": "approve", "decidedBy": "a@example.com"}"#, path: "/v1/requests/\(requestId)/decision"
                ).status == 202)

            var page = try await Self.get(stack, "/console/requests/\(requestId)")
            let complete = try await eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
                page = try await Self.get(stack, "/console/requests/\(requestId)")
                return page.body.contains("has already decided") && page.body.contains("delivered")
            }
            #expect(complete, "\(page.body)")
            #expect(page.status == 200)
            for line in [
                "Request received", "Approvers invited", "a@example.com voted to approve", "Fine by me",
                "Refused: a@example.com", "a@example.com has already decided on this request",
                "request to b@example.com: delivered",
            ] {
                #expect(page.body.contains(line), "\(line)")
            }
            let received = try #require(page.body.range(of: "Request received"))
            let voted = try #require(page.body.range(of: "voted to approve"))
            #expect(received.lowerBound < voted.lowerBound)
            #expect(page.body.contains(#"<span class="status" id="request-status">pending</span>"#))
            #expect(!page.body.contains("StepStarted"))
            #expect(try await Self.get(stack, "/console/requests/\(requestId)?engine=1").body.contains("StepStarted"))

            // Resend: b, who has not decided, gets the link again; a does not.
            Self.expectDone(try await Self.post(stack, "/console/requests/\(requestId)/resend"), "Resend queued")
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: requestId).count == 3 }
            #expect(stack.mails(forRequest: requestId).filter { $0.header("To")?.contains("b@example.com") == true }.count == 2)
            #expect(
                try await eventually(timeout: .seconds(20)) {
                    try await Self.get(stack, "/console/requests/\(requestId)").body.contains("Links resent")
                })

            // Cancel needs a reason; then the request ends as cancelled with it.
            let noReason = try await Self.post(stack, "/console/requests/\(requestId)/cancel", "reason=+")
            #expect(noReason.status == 422)
            #expect(noReason.body.contains("Reason: say why"))
            Self.expectDone(
                try await Self.post(stack, "/console/requests/\(requestId)/cancel", "reason=Bought+elsewhere"), "Cancellation queued")
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .cancelled)
            #expect(outcome.errorMessage == "Bought elsewhere")
            #expect(outcome.apiKey == "e2e")
            page = try await Self.get(stack, "/console/requests/\(requestId)")
            #expect(page.body.contains("Bought elsewhere"))
            #expect(page.body.contains(#"id="request-status">cancelled<"#))
            #expect(!page.body.contains(#"id="cancel""#))
            let again = try await Self.post(stack, "/console/requests/\(requestId)/cancel", "reason=Twice")
            #expect(again.status == 409)
            #expect(again.body.contains("already cancelled"))
            #expect(try await Self.get(stack, "/console/requests/\(requestId)-missing").status == 404)
        }
    }

    @Test func deadLettersAreListedAndReplayed() async throws {
        try await ServiceStack.with { stack in
            let key = TestEnvironment.uniqueName("POISON")
            #expect(try await Self.get(stack, "/console/dead-letters").body.contains("No dead letters."))
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("console-poison"))
            try await producer.send(topic: Topic.requests.rawValue, key: key, value: Array("not json at all".utf8))
            await producer.shutdown()
            var page = try await Self.get(stack, "/console/dead-letters")
            #expect(
                try await eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
                    page = try await Self.get(stack, "/console/dead-letters")
                    return page.body.contains(key)
                })
            #expect(page.body.contains("approvals.requests["))
            let action = try #require(page.body.range(of: #"action="/console/dead-letters/"#))
            let id = String(page.body[action.upperBound...].prefix(36))
            // Dead letters are published at least once (a message dead-lettered but not yet committed when the group
            // rebalances is read and dead-lettered again), so they count once per original (topic, partition, offset).
            func originals() async throws -> Set<String> {
                Set(
                    try await stack.messages(on: .deadLetters, key: key).map { message in
                        let letter = try GreenlightJSON.decode(DeadLetter.self, from: Data(message.value))
                        return letter.original
                    })
            }
            #expect(try await originals().count == 1)

            Self.expectDone(try await Self.post(stack, "/console/dead-letters/\(id)/replay"), "Replayed")
            // The replayed event is still unreadable: it comes back as a letter of its own (its own offset) with the
            // same payload.
            #expect(
                try await eventually(timeout: .seconds(30), interval: .milliseconds(250)) {
                    try await originals().count == 2
                })
            let replayed = try await stack.messages(on: .requests, key: key)
            #expect(replayed.count == 2)
            #expect(replayed.last?.header("greenlight-replayed-from").map { String(decoding: $0, as: UTF8.self) } == id)
            #expect(try await Self.post(stack, "/console/dead-letters/\(UUID())/replay").status == 404)
        }
    }
}
