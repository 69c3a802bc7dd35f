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

    @Test func quotedPrintableRoundTripsAndKeepsLinesShort() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", " ", "\t", "=", "ü", "€", "😀", "\n", "\r\n", "\r", ".", "~", "\u{7f}", "x=3D"]
        for _ in 0..<300 {
            let text = (0..<Int.random(in: 0...300, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let encoded = MIME.quotedPrintable(text)
            #expect(encoded.utf8.allSatisfy { $0 < 128 }, "7-bit")
            let lines = encoded.components(separatedBy: "\r\n")
            #expect(lines.allSatisfy { $0.utf8.count <= 76 })
            // Whitespace is never left at a line's end, where transports may strip it.
            #expect(lines.allSatisfy { $0.last != " " && $0.last != "\t" })
            #expect(!encoded.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
            #expect(ParsedMail.decodeQuotedPrintable(encoded) == text.replacingOccurrences(of: "\r\n", with: "\n"))
        }
        #expect(MIME.quotedPrintable("a = b \nü") == "a =3D b=20\r\n=C3=BC")
        #expect(MIME.rfc5322Date(Date(timeIntervalSince1970: 1_800_000_000)) == "Fri, 15 Jan 2027 08:00:00 +0000")
    }

    @Test func partsAreFoundByTheirBoundaryWithCRLFOrLF() {
        for newline in ["\r\n", "\n"] {
            let raw = [
                "Subject: =?utf-8?B?w5xiZXI=?= x", "Content-Type: multipart/alternative;", " boundary=\"b-1\"", "",
                "preamble", "--b-1", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "",
                "aGVsbG8g", "d29ybGQ=", "--b-1", "Content-Type: text/html", "", "<p>hi</p>", "--b-1--", "",
            ].joined(separator: newline)
            let parsed = ParsedMail(raw: raw)
            #expect(parsed.subject == "Über x")
            #expect(parsed.partTypes == ["text/plain", "text/html"])
            #expect(parsed.text == "hello world")
            #expect(parsed.html == "<p>hi</p>")
        }
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
