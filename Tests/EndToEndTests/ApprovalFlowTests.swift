import Foundation
import GreenlightModels
import Kafka
import GreenlightTestSupport
import MailSink
import Postgres
import Testing

/// The four services as separate processes, driven as a user would: HTTP in, email over SMTP, a click on the
/// link (GET, then the form's POST), the outcome on Kafka and on the status API.
@Suite(.timeLimit(.minutes(3)))
struct ApprovalFlowTests {
    @Test func approvedByEmailLink() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let accepted = try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 5000, "description": "New server purchase", "approvers": ["a@example.com"], "timeoutSeconds": 86400}"#)
            #expect(accepted.status == 202)
            let body = try GreenlightJSON.decode(RequestAccepted.self, from: Data(accepted.body.utf8))
            #expect(body == RequestAccepted(message: "Request accepted", requestId: requestId, statusUrl: "/v1/requests/\(requestId)"))

            let mail = try await stack.waitForMail(forRequest: requestId)
            #expect(mail.subject == "Approval needed: New server purchase (USD 5,000.00)")
            #expect(mail.header("To") == "a@example.com")
            #expect(mail.text?.contains("expires in 24 hours") == true)
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            #expect(approve.hasPrefix(stack.callbacksURL))
            #expect(mail.links.contains { $0.contains("/reject/") })
            // The token in the email is nowhere in the database (only its hash, in link_tokens).
            let token = String(approve.split(separator: "/").last!)
            let database = try stack.database.pool()
            #expect(try await database.tablesContaining(token).isEmpty)
            #expect(try await database.tablesContaining(LinkToken.hash(token)) == ["link_tokens"])
            database.close()

            // A GET (what a mail scanner does) shows the page and decides nothing.
            let page = try await HTTP.get(approve)
            #expect(page.status == 200)
            #expect(page.body.contains("Approve this request?"))
            #expect(page.header("Referrer-Policy") == "no-referrer")
            #expect(page.header("Cache-Control") == "no-store")
            // The page was answered: had the GET decided, its decision would be on the topic by now.
            #expect(try await stack.messages(on: .decisions, key: requestId).isEmpty)
            #expect(try await stack.status(requestId)?.status == .pending)
            #expect(stack.outcomes.outcomes(forRequest: requestId).isEmpty)

            let decided = try await HTTP.clickThrough(approve, comment: "Looks good", headers: [("User-Agent", "E2E-Browser/1.0")])
            #expect(decided.status == 200)
            #expect(decided.body.contains("Request Approved!"))

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.approved)
            #expect(outcome.decidedBy == "a@example.com")
            #expect(outcome.channel == .link)
            #expect(outcome.comment == "Looks good")
            // The audit trail: who the link was issued to, when, how, from where, with which browser.
            let vote = try #require(outcome.votes?.first)
            #expect(outcome.votes?.count == 1)
            #expect(vote.approver == "a@example.com" && vote.decision == .approve && vote.channel == .link)
            #expect(vote.clientAddress == "127.0.0.1")
            #expect(vote.userAgent == "E2E-Browser/1.0")

            let status = try #require(try await stack.status(requestId))
            #expect(status.status == .approved)
            #expect(status.decidedBy == "a@example.com")
            #expect(status.decidedAt != nil)

            // The link is spent: a second click gets its own page and changes nothing.
            let again = try await HTTP.postDecision(approve)
            #expect(again.status == 409)
            #expect(again.body.contains("already approved"))
            // Only the first click published a decision.
            #expect(try await stack.messages(on: .decisions, key: requestId).count == 1)
            try await stack.waitUntilSettled()
            #expect(stack.outcomes.outcomes(forRequest: requestId).count == 1)

            // Prometheus metrics on every service.
            let intakeMetrics = try await HTTP.get("\(stack.intakeURL)/metrics").body
            #expect(intakeMetrics.contains("greenlight_requests_accepted_total 1"))
            #expect(intakeMetrics.contains("hb_requests"))
            let orchestratorMetrics = try await HTTP.get("http://127.0.0.1:\(stack.ports["orchestrator"]!)/metrics").body
            #expect(orchestratorMetrics.contains(#"greenlight_decisions_total{channel="link",result="accepted"} 1"#))
            #expect(orchestratorMetrics.contains("greenlight_pending_executions"))
            let notifierMetrics = try await HTTP.get("http://127.0.0.1:\(stack.ports["notifier"]!)/metrics").body
            #expect(notifierMetrics.contains(#"greenlight_emails_total{result="sent"} 1"#))
            // How long the send took, and HTTP requests by route and status.
            #expect(try await stack.metrics("notifier").value("greenlight_email_send_seconds_count") == 1)
            let intake = try await stack.metrics("intake")
            #expect(intake.value("hb_requests", ["http_route": "/v1/requests", "http_response_status_code": "202"]) == 1, "\(intake)")
            #expect(intake.value("hb_requests", ["http_route": "/v1/requests/{requestId}", "http_response_status_code": "200"]) ?? 0 >= 1, "\(intake)")
            let links = try await stack.metrics("callbacks")
            #expect(links.value("hb_requests", ["http_route": "/approve/{token}", "http_request_method": "GET"]) ?? 0 >= 1, "\(links)")
            // The request counted approved as its outcome was written; the gauges read from Postgres (every 5 s):
            // nothing pending, nothing unsent.
            var gauges = try await stack.metrics("orchestrator")
            let settled = try await eventually(timeout: .seconds(20), interval: .milliseconds(500)) {
                gauges = try await stack.metrics("orchestrator")
                return gauges.value("greenlight_requests_completed_total", ["status": "approved"]) == 1
                    && gauges.value("greenlight_requests", ["status": "pending"]) == 0
                    && gauges.value("greenlight_pending_executions") == 0 && gauges.value("greenlight_outbox_backlog") == 0
            }
            #expect(settled, "\(gauges)")
            // Consumer lag, per group and partition, from both consuming services (refreshed every 5 s).
            for (service, group) in [("orchestrator", "greenlight-orchestrator"), ("notifier", "greenlight-notifier")] {
                let reported = try await eventually(timeout: .seconds(20), interval: .milliseconds(500)) {
                    try await HTTP.get("http://127.0.0.1:\(stack.ports[service]!)/metrics").body
                        .contains(#"greenlight_kafka_consumer_lag{group="\#(group)""#)
                }
                #expect(reported, "\(service) reports no greenlight_kafka_consumer_lag")
            }
            // Readiness against the running services: every dependency named and reachable.
            for service in ["intake", "orchestrator", "notifier", "callbacks"] {
                let ready = try await HTTP.get("http://127.0.0.1:\(stack.ports[service]!)/readyz")
                #expect(ready.status == 200, "\(service): \(ready.body)")
                #expect(ready.body.contains(#""kafka":"ok""#), "\(service): \(ready.body)")
            }

            // Structured logs: one JSON object per line, the request's id as a field of its own.
            let lines = stack.processes["orchestrator"]!.logTail(500).split(separator: "\n")
            let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(objects.count == lines.count)
            #expect(objects.contains { $0["requestId"] as? String == requestId && $0["service"] as? String == "greenlight-orchestrator" })
        }
    }

    @Test func twoApproversUnderPolicyAllBothClick() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 90000, "description": "Data centre lease", "approvers": ["a@example.com", "b@example.com"], "policy": "all"}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: requestId).count == 2 }
            let mails = stack.mails(forRequest: requestId)
            func link(_ approver: String) throws -> String {
                try #require(mails.first { $0.header("To") == approver }?.links.first { $0.contains("/approve/") })
            }
            let first = try await HTTP.clickThrough(try link("a@example.com"))
            #expect(first.body.contains("Every approver (2) must approve this request"))
            // One approval of two: the request waits for the other.
            try await waitUntil(timeout: .seconds(10)) { try await stack.status(requestId)?.votes?.count == 1 }
            #expect(try await stack.status(requestId)?.status == .pending)
            #expect(stack.outcomes.outcomes(forRequest: requestId).isEmpty)

            _ = try await HTTP.clickThrough(try link("b@example.com"))
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.votes?.map(\.approver) == ["a@example.com", "b@example.com"])
        }
    }

    @Test func anUndecidedApproverIsRemindedWithTheSameLinkAndOthersAreEscalatedTo() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 10, "description": "Nudge me", "approvers": ["slow@example.com"], "timeoutSeconds": 120, "remindAfterSeconds": 1, "escalateAfterSeconds": 2, "escalateTo": ["boss@example.com"]}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: requestId).count == 3 }
            let mails = stack.mails(forRequest: requestId)
            // One approver's messages arrive in order; the escalation, to someone else, may come before the reminder.
            let toSlow = mails.filter { $0.header("To") == "slow@example.com" }
            let toBoss = mails.filter { $0.header("To") == "boss@example.com" }
            #expect(toSlow.map(\.subject) == ["Approval needed: Nudge me (USD 10.00)", "Reminder: approval needed: Nudge me (USD 10.00)"])
            #expect(toBoss.map(\.subject) == ["Escalated: approval needed: Nudge me (USD 10.00)"])
            #expect(toSlow.count == 2 && toSlow[0].links == toSlow[1].links)
            let bossApproves = try #require(toBoss.first?.links.first { $0.contains("/approve/") })
            #expect(try await HTTP.clickThrough(bossApproves).status == 200)
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.decidedBy == "boss@example.com")
        }
    }

    @Test func rejectedByEmailLinkAndUnknownLinksAreRefused() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            // The original pattern's path, and no approvers: the configured default approver is asked.
            let accepted = try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 12.5, "description": "Team lunch"}"#, path: "/requests")
            #expect(accepted.status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            #expect(mail.header("To") == "default-approver@example.com")
            let reject = try #require(mail.links.first { $0.contains("/reject/") })

            #expect(try await HTTP.get(reject).body.contains("Reject this request?"))
            let decided = try await HTTP.clickThrough(reject)
            #expect(decided.status == 200)
            #expect(decided.body.contains("Request Rejected!"))

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .rejected)
            #expect(!outcome.approved)
            #expect(try await stack.status(requestId)?.status == .rejected)

            let unknown = try await HTTP.get("\(stack.callbacksURL)/approve/AAAAAAAAAAAAAAAAAAAAAA")
            #expect(unknown.status == 404)
            #expect(unknown.body.contains("not recognised"))
            #expect(try await HTTP.get("\(stack.callbacksURL)/approve/short").status == 404)
            // A real token with one character changed is just unknown.
            var tampered = reject
            let last = tampered.removeLast()
            tampered.append(last == "A" ? "B" : "A")
            #expect(try await HTTP.get(tampered.replacingOccurrences(of: "/reject/", with: "/approve/")).status == 404)
        }
    }

    @Test func deadlinePassesAndTheRequestTimesOut() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            // Long enough for the email to go out first on a machine busy starting dozens of test processes: the
            // notifier does not send a request whose deadline has passed, and this test needs the email's link.
            let deadline = 10
            let submitted = Date()
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 99, "description": "Short deadline", "approvers": ["t@example.com"], "timeoutSeconds": \#(deadline)}"#
                ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .timedOut)
            #expect(!outcome.approved)
            #expect(outcome.decidedBy == nil)
            #expect(outcome.completedAt.timeIntervalSince(submitted) >= Double(deadline))
            #expect(try await stack.status(requestId)?.status == .timedOut)

            // Timer lateness under light load: the timeout fired within a second of its due time.
            let history = try await stack.get("/v1/requests/\(requestId)/history")
            let events = (try JSONSerialization.jsonObject(with: Data(history.body.utf8)) as? [String: Any])?["events"]
                as? [[String: Any]] ?? []
            func time(_ type: String) -> Date? {
                (events.first { $0["type"] as? String == type }?["timestamp"] as? String).flatMap(Timestamp.parse)
            }
            let started = try #require(time("CallbackStarted"))
            let timedOut = try #require(time("CallbackTimedOut"))
            let lateness = timedOut.timeIntervalSince(started) - Double(deadline)
            #expect(lateness >= 0 && lateness < 1, "timer lateness \(lateness) s")
            // The same, as the orchestrator's metric: one timer fired, late by under a second.
            let orchestrator = try await stack.metrics("orchestrator")
            #expect(orchestrator.value("greenlight_timer_lateness_seconds_count") ?? 0 >= 1, "\(orchestrator)")
            #expect(orchestrator.value("greenlight_timer_lateness_seconds_sum") ?? 99 < 1)

            // The link no longer decides anything.
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            let late = try await HTTP.postDecision(approve)
            #expect(late.status == 410)
            #expect(late.body.contains("This link has expired"))
            #expect(late.body.contains("rejected automatically"))
        }
    }

    @Test func duplicateSubmissionsStartOneWorkflow() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let json = #"{"requestId": "\#(requestId)", "amount": 700, "description": "Submitted twice", "approvers": ["d@example.com"]}"#
            // Two at once (both reach Kafka: the orchestrator must ignore the second)...
            async let first = stack.submit(json)
            async let second = stack.submit(json)
            let statuses = try await [first.status, second.status]
            #expect(statuses.allSatisfy { $0 == 202 || $0 == 200 })

            let mail = try await stack.waitForMail(forRequest: requestId)
            // ...and one after it is known: answered from the status store, nothing published.
            try await waitUntil { try await stack.status(requestId) != nil }
            let third = try await stack.submit(json)
            #expect(third.status == 200)
            #expect(third.body.contains("already accepted"))

            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            _ = try await HTTP.clickThrough(approve)
            _ = try await stack.outcomes.waitFor(requestId)
            try await stack.waitUntilSettled()
            #expect(stack.mails(forRequest: requestId).count == 1)
            #expect(stack.outcomes.outcomes(forRequest: requestId).count == 1)
        }
    }

    @Test func badInputGetsProblemDetailsAndPublishesNothing() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let cases: [(body: String, status: Int, field: String?)] = [
                ("{not json", 400, nil),
                (#"{"requestId": "\#(requestId)", "amount": "5000", "description": "x"}"#, 400, "amount"),
                (#"{"requestId": "\#(requestId)", "amount": -1, "description": "x"}"#, 400, "amount"),
                (#"{"requestId": "\#(requestId)", "amount": 1e400, "description": "x"}"#, 400, nil),
                (#"{"requestId": "\#(requestId)", "amount": 5}"#, 400, "description"),
                (#"{"requestId": "\#(requestId)", "amount": 5, "description": "x", "approvers": ["nope"]}"#, 400, "approvers[0]"),
                (#"{"requestId": "\#(requestId)", "amount": 5, "description": "\#(String(repeating: "x", count: 70_000))"}"#, 413, nil),
            ]
            for (body, status, field) in cases {
                let response = try await stack.submit(body)
                #expect(response.status == status, "\(body.prefix(80))")
                #expect(response.header("Content-Type") == "application/problem+json")
                if let field {
                    let problem = try GreenlightJSON.decode(Problem.self, from: Data(response.body.utf8))
                    #expect(problem.errors?.contains { $0.field == field } == true, "\(problem)")
                }
            }
            let unknown = try await HTTP.get("\(stack.intakeURL)/v1/nothing-here")
            #expect(unknown.status == 404)
            #expect(unknown.header("Content-Type") == "application/problem+json")

            // Refused before anything was published.
            #expect(try await stack.messages(on: .requests, key: requestId).isEmpty)
            #expect(try await stack.status(requestId) == nil)
            #expect(stack.mails(forRequest: requestId).isEmpty)
        }
    }

    @Test func malformedEventsAreSkippedAndTheConsumersCarryOn() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("garbage"))
            // Keyed like the request that follows, so the garbage sits ahead of it on the same partitions.
            for topic in [Topic.requests, .decisions, .notifications] {
                for garbage in ["not json", #"{"type": "ApprovalRequested"}"#, #"{"type": "Nope", "version": 1}"#] {
                    try await producer.send(topic: topic.rawValue, key: requestId, value: Array(garbage.utf8))
                }
            }
            await producer.shutdown()

            #expect(
                try await stack.submit(#"{"requestId": "\#(requestId)", "amount": 1, "description": "After garbage"}"#)
                    .status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let reject = try #require(mail.links.first { $0.contains("/reject/") })
            _ = try await HTTP.clickThrough(reject)
            #expect(try await stack.outcomes.waitFor(requestId).status == .rejected)
            for name in ["orchestrator", "notifier"] {
                #expect(stack.processes[name]?.hasExited == false, "\(name) died")
            }

            // What the orchestrator could not read went to the dead-letter topic, with the reason and the bytes.
            let dlq = try KafkaConsumer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                groupId: TestEnvironment.uniqueName("dlq"), topics: [Topic.deadLetters.rawValue],
                logger: TestEnvironment.logger("dlq"))
            // The notifier's three are there too, in whatever order the consumers got to their garbage. Dead letters
            // are published at least once: a message handled but not yet committed when the group rebalanced (the
            // orchestrator's second member joining) is read and dead-lettered again, so letters count once per
            // original message (topic, partition, offset).
            var letters: [String: DeadLetter] = [:]
            for try await message in dlq.messages {
                let letter = try GreenlightJSON.decode(DeadLetter.self, from: Data(message.value))
                if letter.topic != Topic.notifications.rawValue {
                    letters[letter.original] = letter
                }
                if letters.count == 6 { break }
            }
            await dlq.close()
            #expect(Set(letters.values.map(\.topic)) == [Topic.requests.rawValue, Topic.decisions.rawValue])
            #expect(letters.values.allSatisfy { $0.key == requestId && !$0.reason.isEmpty })
            let originals = Set(letters.values.compactMap { Data(base64Encoded: $0.payloadBase64) }.map { String(decoding: $0, as: UTF8.self) })
            #expect(originals.contains("not json"))
        }
    }
}
