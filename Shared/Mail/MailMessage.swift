import Foundation
import GreenlightModels

/// An email with a plain-text part and, optionally, an HTML alternative.
public struct MailMessage: Sendable {
    public var from: String
    public var fromName: String?
    public var to: [String]
    public var subject: String
    public var text: String
    public var html: String?
    public var messageId: String
    public var date: Date
    public var extraHeaders: [(name: String, value: String)]

    public init(
        from: String, fromName: String? = nil, to: [String], subject: String, text: String, html: String? = nil,
        messageId: String? = nil, date: Date = Date(), extraHeaders: [(name: String, value: String)] = []
    ) {
        self.from = from
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageId = messageId ?? Self.messageId(UUID().uuidString.lowercased(), from: from)
        self.date = date
        self.extraHeaders = extraHeaders
    }

    /// A `Message-ID` of `local` at the sender's domain (`<local@example.com>` from `greenlight@example.com`): the
    /// same local part for every copy of one message lets a mail client fold a copy sent twice into one.
    public static func messageId(_ local: String, from: String) -> String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "greenlight.local"
        return "<\(local)@\(domain)>"
    }

    /// The message as RFC 5322 text with CRLF line ends: RFC 2047 encoded headers where they are not ASCII,
    /// quoted-printable bodies, `multipart/alternative` when there is HTML.
    public func rendered() -> String {
        var lines: [String] = []
        let fromHeader = fromName.map { "\(MIME.encodeHeaderWord($0)) <\(from)>" } ?? from
        lines.append("From: \(fromHeader)")
        lines.append("To: \(to.joined(separator: ", "))")
        lines.append("Subject: \(MIME.encodeHeaderWord(subject))")
        lines.append("Date: \(MIME.rfc5322Date(date))")
        lines.append("Message-ID: \(messageId)")
        lines.append("MIME-Version: 1.0")
        for header in extraHeaders { lines.append("\(header.name): \(MIME.encodeHeaderWord(header.value))") }
        if let html {
            let boundary = "greenlight-\(UUID().uuidString.lowercased())"
            lines.append("Content-Type: multipart/alternative;\r\n boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("This is a multi-part message in MIME format.")
            for (type, body) in [("text/plain", text), ("text/html", html)] {
                lines.append("--\(boundary)")
                lines.append("Content-Type: \(type); charset=utf-8")
                lines.append("Content-Transfer-Encoding: quoted-printable")
                lines.append("")
                lines.append(MIME.quotedPrintable(body))
            }
            lines.append("--\(boundary)--")
        } else {
            lines.append("Content-Type: text/plain; charset=utf-8")
            lines.append("Content-Transfer-Encoding: quoted-printable")
            lines.append("")
            lines.append(MIME.quotedPrintable(text))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

/// MIME encodings (RFC 2045 quoted-printable, RFC 2047 encoded words, RFC 5322 dates).
public enum MIME {
    /// Quoted-printable with CRLF line ends and soft breaks so no line exceeds 76 characters. Works on the
    /// UTF-8 bytes directly: every email body goes through it.
    public static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 8)
        var lineLength = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            // A line ends at LF or CRLF; the line break itself is written as CRLF.
            if byte == 0x0A || (byte == 0x0D && index + 1 < bytes.count && bytes[index + 1] == 0x0A) {
                out.append(contentsOf: [0x0D, 0x0A])
                lineLength = 0
                index += byte == 0x0D ? 2 : 1
                continue
            }
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0x0A
            let endsLine = next == 0x0A || (next == 0x0D && index + 2 < bytes.count && bytes[index + 2] == 0x0A)
            let literal =
                (byte == 0x20 || byte == 0x09) ? !endsLine : (33...126).contains(byte) && byte != UInt8(ascii: "=")
            let width = literal ? 1 : 3
            if lineLength + width > 75 {
                out.append(contentsOf: [UInt8(ascii: "="), 0x0D, 0x0A])
                lineLength = 0
            }
            if literal {
                out.append(byte)
            } else {
                out.append(contentsOf: [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]])
            }
            lineLength += width
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// An RFC 2047 `=?utf-8?B?…?=` word when `text` is not plain printable ASCII.
    public static func encodeHeaderWord(_ text: String) -> String {
        if text.utf8.allSatisfy({ (32...126).contains($0) }) { return text }
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.utf8.allSatisfy({ (32...126).contains($0) }) { return clean }
        // Encoded words are at most 75 characters: split the UTF-8 on character boundaries.
        var words: [String] = []
        var chunk = ""
        for character in clean {
            if (chunk + String(character)).utf8.count > 39 {
                words.append(chunk)
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?utf-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// `Fri, 27 Nov 2026 07:26:05 +0000`, built from the UTC calendar fields (no formatter per message).
    public static func rfc5322Date(_ date: Date) -> String {
        var time = time_t(Int64(date.timeIntervalSince1970.rounded(.down)))
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var out: [UInt8] = []
        out.reserveCapacity(31)
        out.append(contentsOf: days[Int(parts.tm_wday)].utf8)
        out.append(contentsOf: ", ".utf8)
        Digits.append(Int(parts.tm_mday), width: 2, to: &out)
        out.append(contentsOf: " \(months[Int(parts.tm_mon)]) ".utf8)
        Digits.append(Int(parts.tm_year) + 1900, width: 4, to: &out)
        out.append(UInt8(ascii: " "))
        Digits.append(Int(parts.tm_hour), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        Digits.append(Int(parts.tm_min), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        Digits.append(Int(parts.tm_sec), width: 2, to: &out)
        out.append(contentsOf: " +0000".utf8)
        return String(decoding: out, as: UTF8.self)
    }
}
