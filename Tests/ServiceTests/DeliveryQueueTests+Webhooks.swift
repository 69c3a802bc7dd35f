import Foundation
import GreenlightModels
import GreenlightTestSupport
@testable import Notifier
import Postgres
import Testing

/// Outcome webhooks through the same queue: signed the Standard Webhooks way afresh on each attempt, retried until a
/// 2xx, stopped by 410 Gone, refused for good when the address is private, and every attempt reported.
extension DeliveryQueueTests {
    static let callbackSecret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()

    func webhook(to url: String, secret: String? = Self.callbackSecret, expiresIn: TimeInterval = 3600) -> DeliveryQueue.IncomingWebhook {
        let requestId = TestEnvironment.uniqueName("REQ")
        let event = WebhookRequested(
            requestId: requestId, executionId: UUID(), webhookId: "msg_\(requestId)", url: url, secret: secret,
            eventType: ApprovalCompleted.eventType, body: #"{"requestId":"\#(requestId)","status":"approved"}"#,
            createdAt: Date(), expiresAt: Date().addingTimeInterval(expiresIn))
        return DeliveryQueue.IncomingWebhook(
            event: event, payload: String(decoding: try! GreenlightJSON.encode(event), as: UTF8.self), trace: nil,
            partition: 0, offset: 9, replayed: false)
    }

    /// Brings a message's next attempt forward to now (instead of sleeping through its back-off).
    func makeDue(_ id: UUID, in h: Harness) async throws {
        try await h.pool.query("UPDATE notifier_messages SET due_at = now() WHERE notification_id = \(id) AND status = 'pending'")
    }

    @Test func aWebhookIsSignedOnEveryAttemptRetriedAndDeliveredOnce() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 2, failStatus: .internalServerError)
        let h = try await harness(backoff: .seconds(120))
        let message = webhook(to: receiver.url)
        try await h.queue.insert([message])
        try await h.queue.insert([message])
        #expect(try await h.deliverDue() == 1)
        #expect(try await h.row(message.event.eventId).status == "pending")
        // Not before its back-off.
        #expect(try await h.deliverDue() == 0)
        for _ in 0..<2 {
            try await makeDue(message.event.eventId, in: h)
            #expect(try await h.deliverDue() == 1)
        }
        #expect(try await h.row(message.event.eventId).status == "sent")
        #expect(try await h.deliverDue() == 0)
        #expect(receiver.bodies == [Data(message.event.body.utf8)])
        // Each attempt carries the same id and a signature over its own timestamp that verifies with the secret.
        let verifier = try StandardWebhook(secret: Self.callbackSecret, setting: "test")
        #expect(receiver.attempts.count == 3)
        for headers in receiver.attempts {
            #expect(headers["webhook-id"] == message.event.webhookId)
            try verifier.verify(
                id: try #require(headers["webhook-id"]), timestamp: try #require(headers["webhook-timestamp"]),
                signatures: try #require(headers["webhook-signature"]), body: Data(message.event.body.utf8))
        }
        let reports = try await h.reports(of: WebhookDelivery.self)
        #expect(reports.map { "\($0.result.rawValue) \($0.attempt) \($0.statusCode ?? 0)" } == ["retrying 1 500", "retrying 2 500", "delivered 3 200"])
        #expect(reports.allSatisfy { $0.webhookId == message.event.webhookId && $0.requestId == message.event.requestId })
        #expect(Set(reports.map(\.eventId)).count == 3)
        await h.stop()
        await receiver.stop()
    }

    @Test func goneStopsTheRetriesAndAnExpiredWebhookIsNotSent() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 5, failStatus: .gone)
        let h = try await harness()
        let gone = webhook(to: receiver.url)
        let expired = webhook(to: receiver.url, expiresIn: -1)
        try await h.queue.insert([gone, expired])
        #expect(try await h.deliverDue() == 2)
        #expect(try await h.row(gone.event.eventId).status == "failed")
        #expect(try await h.row(gone.event.eventId).error?.contains("410") == true)
        #expect(try await h.row(expired.event.eventId).status == "failed")
        #expect(try await h.row(expired.event.eventId).error?.contains("GREENLIGHT_CALLBACK_MAX_AGE_SECONDS") == true)
        #expect(receiver.attempts.count == 1)
        let reports = try await h.reports(of: WebhookDelivery.self)
        #expect(Set(reports.map { "\($0.result.rawValue) \($0.statusCode.map(String.init) ?? "-")" }) == ["failed 410", "failed -"])
        await h.stop()
        await receiver.stop()
    }

    @Test func aPrivateAddressOrAnUnusableSecretFailsForGoodWithoutAPost() async throws {
        let receiver = try await WebhookReceiver.start()
        // A public-looking name that resolves to loopback (what DNS rebinding would do) is refused like a literal.
        let h = try await harness(
            callbacks: CallbackDelivery(defaultSecret: nil, allowPrivate: false, resolve: { _ in ["93.184.216.34", "127.0.0.1"] }))
        let literal = webhook(to: receiver.url)
        let named = webhook(to: "http://hooks.example.com:\(receiver.port)/hook")
        let noSecret = webhook(to: "https://hooks.example.com/hook", secret: nil)
        try await h.queue.insert([literal, named, noSecret])
        #expect(try await h.deliverDue() == 3)
        #expect(try await h.row(literal.event.eventId).error?.contains("loopback") == true)
        #expect(try await h.row(literal.event.eventId).error?.contains("GREENLIGHT_CALLBACK_ALLOW_PRIVATE") == true)
        #expect(try await h.row(named.event.eventId).error?.contains("hooks.example.com is a loopback address") == true)
        #expect(try await h.row(noSecret.event.eventId).error?.contains("GREENLIGHT_CALLBACK_SECRET") == true)
        for message in [literal, named, noSecret] { #expect(try await h.row(message.event.eventId).status == "failed") }
        #expect(receiver.attempts.isEmpty)
        // The secret is never in what is stored about the attempt, nor in its report.
        let reports = try await h.reports(of: WebhookDelivery.self)
        #expect(reports.count == 3)
        #expect(!reports.contains { ($0.error ?? "").contains(Self.callbackSecret.dropFirst(6)) })
        await h.stop()
        await receiver.stop()
    }
}
