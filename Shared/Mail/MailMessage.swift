import Foundation

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
        let domain = from.split(separator: "@").last.map(String.init) ?? "greenlight.local"
        self.messageId = messageId ?? "<\(UUID().uuidString.lowercased())@\(domain)>"
        self.date = date
        self.extraHeaders = extraHeaders
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
    /// Quoted-printable with CRLF line ends and soft breaks so no line exceeds 76 characters.
    public static func quotedPrintable(_ text: String) -> String {
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
        var output: [String] = []
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            var current = ""
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                var piece: String
                if (byte == 0x20 || byte == 0x09) && isLast {
                    piece = String(format: "=%02X", byte)
                } else if (33...126).contains(byte) && byte != UInt8(ascii: "=") || byte == 0x20 || byte == 0x09 {
                    piece = String(UnicodeScalar(byte))
                } else {
                    piece = String(format: "=%02X", byte)
                }
                // A line at the start of which "." would be doubled by SMTP is fine; we only keep width.
                if current.count + piece.count > 75 {
                    output.append(current + "=")
                    current = ""
                }
                current += piece
            }
            output.append(current)
        }
        return output.joined(separator: "\r\n")
    }

    /// An RFC 2047 `=?utf-8?B?…?=` word when `text` is not plain printable ASCII.
    public static func encodeHeaderWord(_ text: String) -> String {
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

    public static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
