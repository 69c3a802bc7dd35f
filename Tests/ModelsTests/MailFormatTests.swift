import Foundation
import Mail
import MailSink
import Testing

struct MailFormatTests {
    @Test func multipartMessageRoundTripsThroughTheParser() {
        let long = String(repeating: "ü-long line ", count: 20)
        let message = MailMessage(
            from: "greenlight@example.com", fromName: "Grünlicht", to: ["a@example.com"],
            subject: "Approval needed: Überweisung für Büro (5,000.00 EUR)", text: "Hello\n\(long)\nhttp://x/approve/abc",
            html: "<p>Hello = world</p>")
        let raw = message.rendered()
        #expect(raw.split(separator: "\r\n", omittingEmptySubsequences: false).allSatisfy { $0.utf8.count <= 78 })
        #expect(raw.utf8.allSatisfy { $0 < 128 }, "the message must be 7-bit clean")
        #expect(raw.contains("Message-ID: <"))
        #expect(raw.contains("Date: "))
        let parsed = ParsedMail(raw: raw)
        #expect(parsed.subject == message.subject)
        #expect(parsed.text == "Hello\n\(long)\nhttp://x/approve/abc")
        #expect(parsed.html == "<p>Hello = world</p>")
        #expect(parsed.partTypes == ["text/plain", "text/html"])
        #expect(parsed.links == ["http://x/approve/abc"])
    }

    @Test func smtpURLs() throws {
        let starttls = try SMTPConfiguration(url: "smtp://user:p%40ss@mail.example.com:587?tls=starttls")
        #expect(starttls.host == "mail.example.com")
        #expect(starttls.port == 587)
        #expect(starttls.username == "user")
        #expect(starttls.password == "p@ss")
        #expect(starttls.security == .startTLS)
        #expect(!starttls.description.contains("p@ss"))
        #expect(try SMTPConfiguration(url: "smtps://mail.example.com").port == 465)
        #expect(try SMTPConfiguration(url: "smtp://localhost:1025").security == SMTPConfiguration.Security.none)
        #expect(throws: SMTPError.self) { try SMTPConfiguration(url: "http://mail.example.com") }
        #expect(throws: SMTPError.self) { try SMTPConfiguration(url: "smtp://h:25?tls=maybe") }
    }
}
