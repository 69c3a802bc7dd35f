import Crypto
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// Requests that are not purchases, through the running services: details instead of an amount, typed answers, a
/// required reason, metadata echoed, and an agent's action bound to its outcome by digest.
@Suite(.timeLimit(.minutes(3)))
struct AnyRequestTests {
    /// A deployment approval: a title, details shown as a table in the email and on the page, links, no amount; the
    /// approver answers the typed fields on the page; the outcome echoes the metadata and carries the answers.
    @Test func aDeploymentApprovalWithDetailsAndTypedAnswers() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("DEP")
            let accepted = try await stack.submit(
                #"""
                {"requestId": "\#(requestId)", "title": "Deploy api 2.3 to production",
                 "description": "Rolling deploy of the api service", "approvers": ["a@example.com"],
                 "details": {"service": "api", "version": "2.3.0", "rollout": {"region": "eu-west-1", "replicas": 6}},
                 "links": [{"url": "https://git.example.com/api/pull/42", "label": "Pull request 42"}],
                 "metadata": {"pipeline": "release-7", "attempt": 2},
                 "responseSchema": {"type": "object", "required": ["risk"],
                   "properties": {"risk": {"type": "string", "title": "Risk", "enum": ["low", "high"]},
                                  "window": {"type": "integer", "title": "Window (minutes)", "minimum": 5, "maximum": 120}}},
                 "requireReason": "reject"}
                """#)
            #expect(accepted.status == 202, "\(accepted.body)")

            let mail = try await stack.waitForMail(forRequest: requestId)
            let text = try #require(mail.text)
            #expect(text.contains("Deploy api 2.3 to production"))
            #expect(text.contains("rollout.region: eu-west-1"))
            #expect(text.contains("Pull request 42: https://git.example.com/api/pull/42"))
            #expect(!text.contains("Amount:"))
            #expect(!text.contains("release-7"), "metadata is the requester's, never shown to approvers")
            #expect(mail.subject == "Approval needed: Deploy api 2.3 to production")

            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            let page = try await HTTP.get(approve)
            #expect(page.status == 200)
            #expect(page.body.contains("<h2>Deploy api 2.3 to production</h2>"))
            #expect(page.body.contains(#"<th scope="row">rollout.replicas</th><td>6</td>"#))
            #expect(page.body.contains(#"name="response.risk""#) && page.body.contains(#"<option value="high""#))
            #expect(page.body.contains(#"type="number""#) && page.body.contains(#"min="5""#))
            #expect(!page.body.contains("<dt>Amount</dt>"))

            // An answer outside the schema: the page comes back with the error, and nothing is published.
            let wrong = try await HTTP.clickThrough(approve, fields: [("response.risk", "high"), ("response.window", "500")])
            #expect(wrong.status == 422)
            #expect(wrong.body.contains("Window (minutes): must be at most 120"), "\(wrong.body)")
            #expect(try await stack.messages(on: .decisions, key: requestId).isEmpty)

            let decided = try await HTTP.clickThrough(approve, fields: [("response.risk", "low"), ("response.window", "30")])
            #expect(decided.status == 200, "\(decided.body)")
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.title == "Deploy api 2.3 to production")
            #expect(outcome.response == .object(["risk": .string("low"), "window": .number(30)]))
            #expect(outcome.metadata == .object(["pipeline": .string("release-7"), "attempt": .number(2)]))
            #expect(outcome.actionDigest == nil)

            let status = try #require(try await stack.status(requestId))
            #expect(status.amount == nil && status.currency == nil)
            #expect(status.details?["rollout"]?["region"] == .string("eu-west-1"))
            #expect(status.response == outcome.response)
            #expect(status.votes?.first?.response == outcome.response)

            // Every lifecycle event echoes the metadata.
            let lifecycle = try await stack.messages(on: .lifecycle, key: requestId)
            #expect(lifecycle.count >= 3)
            for message in lifecycle {
                let event = try GreenlightJSON.decode(ApprovalLifecycle.self, from: Data(message.value))
                #expect(event.metadata == outcome.metadata)
            }
        }
    }

    /// `requireReason: reject`: a rejection without a reason is refused with the field named; with one it counts,
    /// and the reason and answers are in the outcome. A decision published on Kafka is held to the same rules.
    @Test func aRejectionMustGiveItsReason() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REF")
            let submitted = try await stack.submit(
                #"""
                {"requestId": "\#(requestId)", "description": "Refund order 981", "amount": 120, "currency": "EUR",
                 "approvers": ["a@example.com"], "requireReason": "reject",
                 "responseSchema": {"properties": {"category": {"type": "string", "enum": ["fraud", "policy", "other"]}},
                                    "required": ["category"]}}
                """#)
            #expect(submitted.status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            let url = "\(stack.intakeURL)/v1/requests/\(requestId)/decision"

            let bare = try await HTTP.post(
                url, body: #"{"decision": "reject", "decidedBy": "ops@example.com", "response": {"category": "fraud"}}"#,
                contentType: "application/json", headers: stack.authorization)
            #expect(bare.status == 422)
            let problem = try GreenlightJSON.decode(Problem.self, from: Data(bare.body.utf8))
            #expect(problem.errors?.map(\.field) == ["comment"], "\(bare.body)")

            let badAnswer = try await HTTP.post(
                url, body: #"{"decision": "reject", "decidedBy": "ops@example.com", "comment": "stolen card", "response": {"category": "other", "extra": 1}}"#,
                contentType: "application/json", headers: stack.authorization)
            #expect(badAnswer.status == 422)
            #expect(try GreenlightJSON.decode(Problem.self, from: Data(badAnswer.body.utf8)).errors?.map(\.field) == ["response.extra"])

            // On Kafka nobody answers a 400: the orchestrator refuses it and says why in the history.
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("erp"))
            let sneaky = DecisionSubmitted(
                requestId: requestId, decision: .reject, decidedBy: "erp", channel: .kafka, comment: nil, decidedAt: Date(),
                tokenHash: nil, response: .object(["category": .string("fraud")]))
            try await producer.send(topic: Topic.decisions.rawValue, key: requestId, value: Array(try GreenlightJSON.encode(sneaky)))
            // Nor a decision sent as the approval callback's success on Kafka: dead-lettered, with why.
            let callbackId = try #require(try await stack.status(requestId)?.callbackIds?.first)
            let command = CallbackCommand(
                requestId: requestId, callbackId: callbackId, command: .success,
                result: .object(["decision": .string("rejected"), "approver": .string("erp"), "response": .object(["category": .string("fraud")])]),
                submittedAt: Date())
            try await producer.send(topic: Topic.decisions.rawValue, key: requestId, value: Array(try GreenlightJSON.encode(command)))
            await producer.shutdown()
            try await waitUntil(timeout: .seconds(20)) {
                try await stack.messages(on: .deadLetters, key: requestId).contains { message in
                    String(decoding: message.value, as: UTF8.self).contains("comment is required")
                }
            }
            try await waitUntil(timeout: .seconds(20)) {
                let history = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)/history", headers: stack.authorization)
                return history.body.contains("DecisionRefused") && history.body.contains("comment is required")
            }
            #expect(try await stack.status(requestId)?.status == .pending)

            let reasoned = try await HTTP.post(
                url, body: #"{"decision": "reject", "decidedBy": "ops@example.com", "comment": "stolen card", "response": {"category": "fraud"}}"#,
                contentType: "application/json", headers: stack.authorization)
            #expect(reasoned.status == 202, "\(reasoned.body)")
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .rejected)
            #expect(outcome.comment == "stolen card")
            #expect(outcome.response == .object(["category": .string("fraud")]))
        }
    }

    /// An agent's tool call: the page shows the tool and its exact arguments, and the outcome's `actionDigest` is the
    /// SHA-256 of the action's RFC 8785 canonical JSON — computed here from the canonical text written out by hand.
    @Test func anAgentsActionIsBoundToItsOutcomeByDigest() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("AGT")
            let submitted = try await stack.submit(
                #"""
                {"requestId": "\#(requestId)", "description": "The agent wants to refund a customer",
                 "approvers": ["a@example.com"],
                 "action": {"tool": "stripe.refund", "arguments": {"payment": "pi_123", "amount": 4.50, "reason": "duplicate", "notify": true}}}
                """#)
            #expect(submitted.status == 202, "\(submitted.body)")
            let mail = try await stack.waitForMail(forRequest: requestId)
            #expect(mail.text?.contains("stripe.refund") == true)
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            let page = try await HTTP.get(approve)
            #expect(page.body.contains("<code>stripe.refund</code>"))
            #expect(page.body.contains("&quot;payment&quot; : &quot;pi_123&quot;") || page.body.contains("&quot;payment&quot;: &quot;pi_123&quot;"), "\(page.body)")

            #expect(try await HTTP.clickThrough(approve).status == 200)
            let outcome = try await stack.outcomes.waitFor(requestId)
            let canonical = #"{"arguments":{"amount":4.5,"notify":true,"payment":"pi_123","reason":"duplicate"},"tool":"stripe.refund"}"#
            let expected = SHA256.hash(data: Data(canonical.utf8)).map { String(format: "%02x", $0) }.joined()
            #expect(outcome.status == .approved)
            #expect(outcome.actionDigest == expected)
            let status = try #require(try await stack.status(requestId))
            #expect(status.actionDigest == expected)
            #expect(status.action?.tool == "stripe.refund")
        }
    }
}
