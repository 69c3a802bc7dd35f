import Foundation
import GreenlightTestSupport
import Mail
import Synchronization
@testable import Notifier
import Testing

/// Delivery to a real SMTP server that requires STARTTLS and AUTH.
@Suite(.timeLimit(.minutes(3)), .serialized)
struct SMTPSecurityTests {
    func message(to recipient: String) -> MailMessage {
        MailMessage(from: "greenlight@example.com", to: [recipient], subject: "Approval needed: Ünïcode test", text: "Hello")
    }

    func configuration(_ server: TLSSMTPServer, password: String? = nil, tls: String = "starttls") throws -> SMTPConfiguration {
        try SMTPConfiguration(
            url: "smtp://\(server.user):\(password ?? server.password)@127.0.0.1:\(server.port)?tls=\(tls)&cafile=\(server.certificatePath)")
    }

    func client(_ server: TLSSMTPServer, password: String? = nil, tls: String = "starttls") throws -> SMTPClient {
        SMTPClient(configuration: try configuration(server, password: password, tls: tls))
    }

    @Test func startTLSAndAuthDeliverTheMessage() async throws {
        let server = try await TLSSMTPServer.start()
        do {
            try await client(server).send(message(to: "a@example.com"))
            let messages = server.messages
            #expect(messages.count == 1)
            #expect(messages.first?.contains("X-Test-Envelope-To: a@example.com") == true)
            #expect(messages.first?.contains("Subject: =?utf-8?B?") == true)
        } catch {
            Issue.record("delivery failed: \(error)")
        }
        await server.stop()
    }

    @Test func authLoginIsUsedWhenItIsAllTheServerOffers() async throws {
        for mechanism in ["LOGIN", "PLAIN"] {
            let server = try await TLSSMTPServer.start(onlyAuth: mechanism)
            do {
                try await client(server).send(message(to: "a@example.com"))
                #expect(server.messages.first?.contains("X-Test-Auth-Mechanism: \(mechanism)") == true, "\(server.messages)")
            } catch {
                Issue.record("delivery with AUTH \(mechanism) failed: \(error)")
            }
            await server.stop()
        }
    }

    @Test func implicitTLSDeliversFromTheFirstByte() async throws {
        let server = try await TLSSMTPServer.start(implicitTLS: true)
        do {
            // smtps:// and ?tls=tls are the same thing.
            try await client(server, tls: "tls").send(message(to: "a@example.com"))
            let smtps = try SMTPConfiguration(
                url: "smtps://\(server.user):\(server.password)@127.0.0.1:\(server.port)?cafile=\(server.certificatePath)")
            try await SMTPClient(configuration: smtps).send(message(to: "b@example.com"))
            #expect(server.messages.count == 2)
            #expect(server.messages.allSatisfy { $0.contains("X-Test-Auth-Mechanism: PLAIN") || $0.contains("X-Test-Auth-Mechanism: LOGIN") })
        } catch {
            Issue.record("implicit TLS delivery failed: \(error)")
        }
        // A client that speaks plain SMTP (or STARTTLS) to a TLS port gets nowhere.
        do {
            var plain = try configuration(server, tls: "starttls")
            plain.timeout = .seconds(2)  // the server waits for a TLS handshake that never comes
            try await SMTPClient(configuration: plain).send(message(to: "c@example.com"))
            Issue.record("sent in the clear to an implicit-TLS port")
        } catch {}
        #expect(server.messages.count == 2)
        await server.stop()
    }

    @Test func aWrongPasswordOrNoTLSIsAPermanentFailure() async throws {
        let server = try await TLSSMTPServer.start()
        for smtp in [try client(server, password: "wrong-password"), try client(server, tls: "none")] {
            do {
                try await smtp.send(message(to: "a@example.com"))
                Issue.record("sent without valid credentials over TLS")
            } catch let error as SMTPError {
                #expect(error.isPermanent, "\(error)")
            }
        }
        #expect(server.messages.isEmpty)
        await server.stop()
    }
}
