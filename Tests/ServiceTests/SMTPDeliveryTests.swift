import Foundation
import GreenlightModels
import GreenlightTestSupport
import Mail
import MailSink
@testable import Notifier
import Templates
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
            for: notification, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
            from: "greenlight@example.com", templates: try TemplateLibrary(), now: now)
        try await client.send(mail)
        try await client.send(mail)  // the second send reuses the connection

        try await waitUntil { sink.messages.count == 2 }
        let received = try #require(sink.messages.first)
        #expect(received.from == "greenlight@example.com")
        #expect(received.recipients == ["a@example.com"])
        let parsed = received.parsed
        #expect(parsed.subject == "Approval needed: New server purchase (USD 5,000.00)")
        #expect(parsed.partTypes == ["text/plain", "text/html"])
        #expect(parsed.links == [
            "https://approvals.example.com/approve/TOKEN_abcdefghijklmnop",
            "https://approvals.example.com/reject/TOKEN_abcdefghijklmnop",
        ])
        #expect(parsed.text?.contains("Expires:    2027-01-16 08:00 UTC (expires in 24 hours)") == true)
        #expect(parsed.text?.contains("This request came from dev@example.com") == true)
        #expect(parsed.html?.contains(">Approve</a>") == true)
        #expect(parsed.text?.contains("the request is rejected automatically") == true)
        await sink.shutdown()
    }

    @Test func theEmailSaysWhatTheDeadlineWillDo() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let templates = try TemplateLibrary()
        var notification = NotificationRequested(
            requestId: "REQ-6", executionId: UUID(), approver: "a@example.com", tokenNonce: UUID(),
            amount: 20, currency: "EUR", description: "Team lunch", requester: nil, submittedAt: now,
            expiresAt: now.addingTimeInterval(3600), onTimeout: .approve)
        func mail() -> MailMessage {
            ApprovalEmail.make(
                for: notification, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
                from: "greenlight@example.com", templates: templates, now: now)
        }
        #expect(mail().text.contains("If nobody decides before the expiry, the request is approved automatically."))
        #expect(mail().html?.contains("the request is approved automatically.") == true)
        #expect(!mail().text.contains("rejected automatically"))
        notification.onTimeout = nil
        #expect(mail().text.contains("the request is rejected automatically."))
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

struct NotificationDecodingTests {
    let secret = LinkSecret("notification-decoding-secret-0123456789")!
    var keys: LinkKeyring { LinkKeyring(current: secret) }

    @Test func theTokenIsDerivedFromTheNonceAndOtherVersionsAreRefused() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let nonce = UUID()
        let current = NotificationRequested(
            requestId: "REQ-1", executionId: UUID(), approver: "a@example.com", tokenNonce: nonce, amount: 1, currency: "USD",
            description: "d", requester: nil, submittedAt: now, expiresAt: now)
        let (decoded, token) = try NotificationDecoding.decode(Array(try GreenlightJSON.encode(current)), keys: keys)
        #expect(decoded == current)
        #expect(token == LinkToken.derive(secret: secret, nonce: nonce))

        // Version 1 (which carried the token itself) is no longer read: refused, with its version named.
        let legacy = #"{"amount":1,"approver":"a@example.com","currency":"USD","description":"d","eventId":"6F1C0B1E-2D3A-4B5C-8D9E-0F1A2B3C4D5E","executionId":"6F1C0B1E-2D3A-4B5C-8D9E-0F1A2B3C4D5F","expiresAt":"2027-01-15T08:00:00.000Z","linkToken":"iW6DFsXBhzboflHDnXTzHQ","requestId":"REQ-0","submittedAt":"2027-01-15T08:00:00.000Z","type":"NotificationRequested","version":1}"#
        #expect(throws: NotificationDecoding.UnsupportedVersion(version: 1)) { try NotificationDecoding.decode(Array(legacy.utf8), keys: keys) }
        #expect(throws: (any Error).self) { try NotificationDecoding.decode(Array("{}".utf8), keys: keys) }
        // A later version that this notifier could decode field by field is refused all the same.
        var later = current
        later.version = 3
        #expect(throws: NotificationDecoding.UnsupportedVersion(version: 3)) {
            try NotificationDecoding.decode(Array(try GreenlightJSON.encode(later)), keys: keys)
        }
    }

    /// After a rotation, a link made with the previous secret is derived with it (a reminder, a resend: the same
    /// link again), one made with the new secret with that; a secret the notifier lacks is named as the problem.
    @Test func theLinkKeyChoosesTheSecret() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let rotated = LinkSecret("notification-decoding-new-secret-0123456789")!
        let keys = LinkKeyring(current: rotated, previous: [secret])
        func notification(_ linkKey: String?) -> [UInt8] {
            Array(try! GreenlightJSON.encode(NotificationRequested(
                requestId: "REQ-1", executionId: UUID(), approver: "a@example.com", tokenNonce: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!,
                linkKey: linkKey, amount: 1, currency: "USD", description: "d", requester: nil, submittedAt: now, expiresAt: now)))
        }
        let nonce = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
        #expect(try NotificationDecoding.decode(notification(secret.id), keys: keys).token == LinkToken.derive(secret: secret, nonce: nonce))
        #expect(try NotificationDecoding.decode(notification(rotated.id), keys: keys).token == LinkToken.derive(secret: rotated, nonce: nonce))
        #expect(try NotificationDecoding.decode(notification(nil), keys: keys).token == LinkToken.derive(secret: rotated, nonce: nonce))
        #expect { try NotificationDecoding.decode(notification(secret.id), keys: LinkKeyring(current: rotated)) } throws: {
            "\($0)".contains("GREENLIGHT_LINK_SECRETS_PREVIOUS") && "\($0)".contains(secret.id)
        }
    }
}
