import Foundation
import GreenlightModels
import GreenlightTestSupport
import Mail
import MailSink
import Notifier
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SMTPDeliveryTests {
    @Test func approvalEmailIsDeliveredOverSMTPAndParses() async throws {
        let sink = try await SMTPSink.start()
        let client = SMTPClient(configuration: SMTPConfiguration(host: "127.0.0.1", port: sink.port))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let notification = NotificationRequested(
            requestId: "REQ-5", executionId: UUID(), approver: "a@example.com", tokenNonce: UUID(),
            amount: 5000, currency: "USD", description: "New server purchase", requester: "dev@example.com",
            submittedAt: now, expiresAt: now.addingTimeInterval(86_400))
        let mail = ApprovalEmail.make(
            for: notification, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com", from: "greenlight@example.com", now: now)
        try await client.send(mail)
        try await client.send(mail)  // the second send reuses the connection

        _ = try await eventually { sink.messages.count == 2 }
        let received = try #require(sink.messages.first)
        #expect(received.from == "greenlight@example.com")
        #expect(received.recipients == ["a@example.com"])
        let parsed = received.parsed
        #expect(parsed.subject == "Approval needed: New server purchase (5,000.00 USD)")
        #expect(parsed.partTypes == ["text/plain", "text/html"])
        #expect(parsed.links == [
            "https://approvals.example.com/approve/TOKEN_abcdefghijklmnop",
            "https://approvals.example.com/reject/TOKEN_abcdefghijklmnop",
        ])
        #expect(parsed.text?.contains("Expires:    2027-01-16 08:00 UTC (expires in 24 hours)") == true)
        #expect(parsed.text?.contains("This request came from dev@example.com") == true)
        #expect(parsed.html?.contains(">Approve</a>") == true)
        await sink.shutdown()
    }

    @Test func unreachableServerIsATemporaryFailure() async throws {
        let port = try freePort()
        let client = SMTPClient(
            configuration: SMTPConfiguration(host: "127.0.0.1", port: port, connectTimeout: .seconds(2), timeout: .seconds(3)))
        do {
            try await client.send(MailMessage(from: "a@example.com", to: ["b@example.com"], subject: "s", text: "t"))
            Issue.record("sent to a closed port")
        } catch let error as SMTPError {
            #expect(error.code == .connectionFailed)
            #expect(!error.isPermanent)
        }
    }
}
