import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The webhook channel against the running services: a request that asks for it is announced by a JSON POST
/// (Slack-compatible) instead of an email; a 503 is retried; the link in it decides like an emailed one.
@Suite(.timeLimit(.minutes(3)))
struct WebhookTests {
    @Test func aWebhookAnnouncesTheRequestAndItsLinkDecides() async throws {
        let receiver = try await WebhookReceiver.start(failFirst: 1)
        try await ServiceStack.with(environment: ["GREENLIGHT_WEBHOOK_URL": receiver.url]) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let traceId = "0af7651916cd43dd8448eb211c80319c"
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 1200, "description": "Laptop <pro> & dock", "approvers": ["a@example.com"], "notify": "webhook"}"#,
                    headers: [("traceparent", "00-\(traceId)-b7ad6b7169203331-01")]
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { !receiver.bodies.isEmpty }
            // The POST carries the request's trace: one traceparent, so the receiving system can join it.
            let traceparents = try #require(receiver.traceparents.first)
            #expect(traceparents.count == 1, "\(traceparents)")
            #expect(traceparents.first.flatMap(TraceContext.init(traceparent:))?.traceId == traceId, "\(traceparents)")
            let body = try #require(receiver.bodies.first)
            let json = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            #expect((json["text"] as? String)?.hasPrefix("Approval needed: Laptop &lt;pro&gt; &amp; dock (USD 1,200.00) for a@example.com") == true)
            let blocks = try #require(json["blocks"] as? [[String: Any]])
            let section = try #require((blocks.first?["text"] as? [String: Any])?["text"] as? String)
            #expect(section.contains("Laptop &lt;pro&gt; &amp; dock"))
            let buttons = try #require(blocks.last?["elements"] as? [[String: Any]])
            #expect(buttons.compactMap { $0["style"] as? String } == ["primary", "danger"])
            let facts = try #require(json["greenlight"] as? [String: Any])
            #expect(facts["requestId"] as? String == requestId)
            let approve = try #require(facts["approveUrl"] as? String)
            #expect(approve.hasPrefix(stack.callbacksURL + "/approve/"))
            // No email for a webhook request.
            #expect(stack.mails(forRequest: requestId).isEmpty)

            #expect(try await HTTP.clickThrough(approve).status == 200)
            #expect(try await stack.outcomes.waitFor(requestId).status == .approved)
            // The 503 was retried, and both reports reach the status. The notifier publishes a report after the POST
            // it reports on, so the receiver may have the body (and the click its outcome) before the report is
            // applied: wait for it, bounded.
            var delivery: NotificationStatus?
            try await waitUntil(timeout: .seconds(20)) {
                delivery = try await stack.status(requestId)?.notifications?.first
                return delivery?.result == .delivered
            }
            #expect(delivery?.attempts == 2)
        }
        await receiver.stop()
    }
}
