import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// Outcome webhooks through the running services: a request that names a `callbackUrl` has its outcome POSTed there
/// when it ends, signed the Standard Webhooks way, retried until the receiver takes it, each attempt in the history
/// and the latest in the status; with `callbackLifecycle`, each stage too. A private address is refused at intake
/// unless the deployment allows it.
@Suite(.timeLimit(.minutes(3)))
struct OutcomeWebhookTests {
    static let secret = "whsec_" + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()

    @Test func theOutcomeIsSignedRetriedAndTakenOnceAfterTwoFailures() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 2, failStatus: .internalServerError)
        let environment = ["GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true", "GREENLIGHT_CALLBACK_SECRET": Self.secret]
        try await ServiceStack.with(environment: environment) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "description": "Deploy api v42", "approvers": ["a@example.com"], "callbackUrl": "\#(receiver.url)"}"#
                ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            #expect(try await HTTP.clickThrough(approve).status == 200)
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)

            // The status shows the webhook delivered on the third attempt: the notifier has nothing left to send.
            try await waitUntil(timeout: .seconds(30)) { try await stack.status(requestId)?.webhooks?.first?.result == .delivered }
            let webhook = try #require(try await stack.status(requestId)?.webhooks?.first)
            #expect(webhook.attempts == 3)
            #expect(webhook.statusCode == 200)
            #expect(webhook.eventType == "ApprovalCompleted")

            // Taken once: the outcome as published on Kafka, byte for byte the same event.
            #expect(receiver.bodies.count == 1)
            let body = try #require(receiver.bodies.first)
            let posted = try GreenlightJSON.decode(ApprovalCompleted.self, from: body)
            #expect(posted == outcome)
            // Three attempts, one id, each signed over its own timestamp with the deployment's secret.
            #expect(receiver.attempts.count == 3)
            #expect(Set(receiver.attempts.compactMap { $0["webhook-id"] }) == [webhook.webhookId])
            let verifier = try StandardWebhook(secret: Self.secret, setting: "test")
            let accepted = try #require(receiver.attempts.last)
            try verifier.verify(
                id: try #require(accepted["webhook-id"]), timestamp: try #require(accepted["webhook-timestamp"]),
                signatures: try #require(accepted["webhook-signature"]), body: body)

            // Every attempt is in the history, and neither the secret nor a signature is.
            let history = try await stack.get("/v1/requests/\(requestId)/history").body
            let events = try #require(
                (try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [String: Any])?["events"] as? [[String: Any]])
            let attempts = events.filter { ($0["type"] as? String)?.hasPrefix("Webhook") == true }
            #expect(attempts.map { $0["type"] as? String } == ["WebhookRetrying", "WebhookRetrying", "WebhookDelivered"], "\(history)")
            #expect(attempts.compactMap { ($0["details"] as? [String: Any])?["StatusCode"] as? Int } == [500, 500, 200], "\(history)")
            #expect(!history.contains(String(Self.secret.dropFirst(6))))
            #expect(!history.contains(accepted["webhook-signature"] ?? "-"))
        }
        await receiver.stop()
    }

    @Test func lifecycleStagesGoToTheSameURLWhenAskedFor() async throws {
        let receiver = try await WebhookReceiver.start()
        try await ServiceStack.with(environment: ["GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true"]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            // The request's own secret signs its webhooks (the deployment has none).
            let own = "whsec_" + Data(repeating: 42, count: 24).base64EncodedString()
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "description": "Export", "approvers": ["a@example.com"], "callbackUrl": "\#(receiver.url)", "callbackSecret": "\#(own)", "callbackLifecycle": true}"#
                ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            #expect(try await HTTP.clickThrough(try #require(mail.links.first { $0.contains("/reject/") })).status == 200)
            _ = try await stack.outcomes.waitFor(requestId)
            try await waitUntil(timeout: .seconds(30)) { receiver.bodies.count == 5 }
            let types = receiver.bodies.compactMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
                .map { "\($0["type"] as? String ?? "?") \($0["stage"] as? String ?? "")" }
            #expect(
                types == [
                    "ApprovalLifecycle requested", "ApprovalLifecycle notified", "ApprovalLifecycle decided",
                    "ApprovalLifecycle completed", "ApprovalCompleted ",
                ])
            let verifier = try StandardWebhook(secret: own, setting: "test")
            for (headers, body) in zip(receiver.attempts, receiver.bodies) {
                try verifier.verify(
                    id: try #require(headers["webhook-id"]), timestamp: try #require(headers["webhook-timestamp"]),
                    signatures: try #require(headers["webhook-signature"]), body: body)
            }
            #expect(Set(receiver.attempts.compactMap { $0["webhook-id"] }).count == 5)
            // The request's own secret is not shown in its history (nor its status).
            let history = try await stack.get("/v1/requests/\(requestId)/history").body
            #expect(history.contains("ExecutionStarted") && history.contains(#""callbackSecret":"***""#), "\(history)")
            #expect(!history.contains(String(own.dropFirst(6))))
            #expect(!(try await stack.get("/v1/requests/\(requestId)").body.contains(String(own.dropFirst(6)))))
        }
        await receiver.stop()
    }

    @Test func aPrivateCallbackURLIsRefusedAtIntake() async throws {
        try await ServiceStack.with { stack in
            for url in ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/", "http://localhost/hook", "http://[::1]/x"] {
                let answer = try await stack.submit(
                    #"{"requestId": "\#(TestEnvironment.uniqueName("REQ"))", "description": "x", "callbackUrl": "\#(url)"}"#)
                #expect(answer.status == 422, "\(url): \(answer.body)")
                #expect(answer.body.contains("callbackUrl"), "\(answer.body)")
                #expect(answer.body.contains("GREENLIGHT_CALLBACK_ALLOW_PRIVATE"), "\(answer.body)")
            }
        }
    }
}
