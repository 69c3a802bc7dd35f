import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// `GREENLIGHT_EVENT_FORMAT=cloudevents` against the running services: the outcome and every lifecycle event on Kafka
/// carry CloudEvents 1.0 binary-mode headers, and their values are the same JSON as ever.
@Suite(.timeLimit(.minutes(3)))
struct CloudEventsTests {
    @Test func outcomesAndLifecycleEventsCarryCloudEventsHeaders() async throws {
        let environment = ["GREENLIGHT_EVENT_FORMAT": "cloudevents", "GREENLIGHT_EVENT_SOURCE": "/greenlight/e2e"]
        try await ServiceStack.with(environment: environment) { stack in
            let requestId = TestEnvironment.uniqueName("CE")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 7, "description": "CloudEvents", "approvers": ["a@example.com"]}"#
                ).status == 202)
            try await waitUntil { try await stack.status(requestId)?.status == .pending }
            let decided = try await stack.submit(
                #"{"decision": "reject", "decidedBy": "a@example.com", "comment": "no"}"#, path: "/v1/requests/\(requestId)/decision")
            #expect(decided.status == 202)
            _ = try await stack.outcomes.waitFor(requestId)
            try await stack.waitUntilSettled()

            let outcomes = try await stack.messages(on: .outcomes, key: requestId)
            #expect(outcomes.count == 1)
            let message = try #require(outcomes.first)
            // The value is the event's JSON, as consumers that ignore the headers have always read it.
            let outcome = try GreenlightJSON.decode(ApprovalCompleted.self, from: Data(message.value))
            #expect(outcome.status == .rejected)
            #expect(headers(message).filter { $0.key != "traceparent" } == [
                "ce_specversion": "1.0",
                "ce_id": outcome.eventId.uuidString,
                "ce_source": "/greenlight/e2e",
                "ce_type": "io.greenlight.approval.completed",
                "ce_subject": requestId,
                "ce_time": Timestamp.format(outcome.completedAt),
                "content-type": "application/json",
            ])
            #expect(message.header("traceparent") != nil)

            let lifecycle = try await stack.messages(on: .lifecycle, key: requestId)
            let stages = try lifecycle.map { message -> ApprovalLifecycle.Stage in
                let event = try GreenlightJSON.decode(ApprovalLifecycle.self, from: Data(message.value))
                let found = headers(message)
                #expect(found["ce_specversion"] == "1.0")
                #expect(found["ce_id"] == event.eventId.uuidString)
                #expect(found["ce_source"] == "/greenlight/e2e")
                #expect(found["ce_type"] == "io.greenlight.approval.lifecycle.\(event.stage.rawValue)")
                #expect(found["ce_subject"] == requestId)
                #expect(found["ce_time"] == Timestamp.format(event.at))
                #expect(found["content-type"] == "application/json")
                return event.stage
            }
            #expect(stages == [.requested, .notified, .decided, .completed])
        }
    }

    /// With CloudEvents, a webhook's body is a structured-mode CloudEvent whose `data` is the event published on Kafka,
    /// sent as `application/cloudevents+json`, and still signed over exactly those bytes.
    @Test func webhooksCarryStructuredCloudEvents() async throws {
        let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let receiver = try await WebhookReceiver.start()
        let environment = [
            "GREENLIGHT_EVENT_FORMAT": "cloudevents", "GREENLIGHT_EVENT_SOURCE": "/greenlight/e2e",
            "GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true", "GREENLIGHT_CALLBACK_SECRET": secret,
        ]
        try await ServiceStack.with(environment: environment) { stack in
            let requestId = TestEnvironment.uniqueName("CEW")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "description": "CloudEvents webhook", "approvers": ["a@example.com"], "callbackUrl": "\#(receiver.url)"}"#
                ).status == 202)
            try await waitUntil { try await stack.status(requestId)?.status == .pending }
            #expect(
                try await stack.submit(
                    #"{"decision": "approve", "decidedBy": "a@example.com"}"#, path: "/v1/requests/\(requestId)/decision"
                ).status == 202)
            let outcome = try await stack.outcomes.waitFor(requestId)
            try await waitUntil(timeout: .seconds(30)) { !receiver.bodies.isEmpty }
            let body = try #require(receiver.bodies.first)
            let attempt = try #require(receiver.attempts.last)
            #expect(attempt["content-type"] == "application/cloudevents+json")
            try StandardWebhook(secret: secret, setting: "test").verify(
                id: try #require(attempt["webhook-id"]), timestamp: try #require(attempt["webhook-timestamp"]),
                signatures: try #require(attempt["webhook-signature"]), body: body)
            let envelope = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            #expect(envelope["specversion"] as? String == "1.0")
            #expect(envelope["id"] as? String == outcome.eventId.uuidString)
            #expect(envelope["source"] as? String == "/greenlight/e2e")
            #expect(envelope["type"] as? String == "io.greenlight.approval.completed")
            #expect(envelope["subject"] as? String == requestId)
            #expect(envelope["datacontenttype"] as? String == "application/json")
            let data = try JSONSerialization.data(withJSONObject: try #require(envelope["data"]))
            #expect(try GreenlightJSON.decode(ApprovalCompleted.self, from: data) == outcome)
        }
        await receiver.stop()
    }

    private func headers(_ message: KafkaMessage) -> [String: String] {
        Dictionary(message.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }) { first, _ in first }
    }
}
