import Foundation

/// A received message taken apart: headers (unfolded, encoded words decoded), the text and HTML bodies
/// (quoted-printable and base64 decoded), and the links in them.
public struct ParsedMail: Sendable {
    public var headers: [(name: String, value: String)]
    public var text: String?
    public var html: String?
    /// Content types of every leaf part, in order.
    public var partTypes: [String]

    public init(raw: String) {
        let (headers, body) = Self.split(raw)
        self.headers = headers
        var text: String?
        var html: String?
        var types: [String] = []
        Self.collect(headers: headers, body: body, text: &text, html: &html, types: &types)
        self.text = text
        self.html = html
        partTypes = types
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var subject: String { header("Subject").map(Self.decodeEncodedWords) ?? "" }

    /// Every http(s) URL in the text body (or the HTML body when there is no text).
    public var links: [String] {
        let source = text ?? html ?? ""
        var links: [String] = []
        var index = source.startIndex
        while let range = source.range(of: "http", range: index..<source.endIndex) {
            let rest = source[range.lowerBound...]
            let end = rest.firstIndex { $0.isWhitespace || "\"'<>)".contains($0) } ?? source.endIndex
            let candidate = String(source[range.lowerBound..<end])
            if candidate.hasPrefix("http://") || candidate.hasPrefix("https://") { links.append(candidate) }
            index = end
        }
        return links
    }

    // MARK: - MIME

    static func split(_ raw: String) -> ([(name: String, value: String)], String) {
        let normalized = raw.replacingOccurrences(of: "\r\n", with: "\n")
        let parts = normalized.components(separatedBy: "\n\n")
        let head = parts.first ?? ""
        let body = parts.dropFirst().joined(separator: "\n\n")
        var headers: [(name: String, value: String)] = []
        for line in head.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(
                    (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return (headers, body)
    }

    static func collect(
        headers: [(name: String, value: String)], body: String, text: inout String?, html: inout String?,
        types: inout [String]
    ) {
        let contentType = headers.first { $0.name.lowercased() == "content-type" }?.value ?? "text/plain"
        let lowered = contentType.lowercased()
        if lowered.hasPrefix("multipart/"), let boundary = parameter("boundary", in: contentType) {
            let sections = body.components(separatedBy: "--\(boundary)")
            for section in sections.dropFirst() where !section.hasPrefix("--") {
                // The line break before a boundary belongs to the boundary (RFC 2046).
                var trimmed = section.hasPrefix("\n") ? String(section.dropFirst()) : section
                if trimmed.hasSuffix("\n") { trimmed.removeLast() }
                let (partHeaders, partBody) = split(trimmed)
                collect(headers: partHeaders, body: partBody, text: &text, html: &html, types: &types)
            }
            return
        }
        let encoding = headers.first { $0.name.lowercased() == "content-transfer-encoding" }?.value.lowercased() ?? ""
        let decoded: String
        switch encoding {
        case "quoted-printable": decoded = decodeQuotedPrintable(body)
        case "base64":
            decoded = Data(base64Encoded: body.filter { !$0.isWhitespace }).map { String(decoding: $0, as: UTF8.self) } ?? ""
        default: decoded = body
        }
        let type = String(lowered.split(separator: ";").first ?? "text/plain").trimmingCharacters(in: .whitespaces)
        types.append(type)
        if type == "text/plain", text == nil { text = decoded }
        if type == "text/html", html == nil { html = decoded }
    }

    static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == name {
                return pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    public static func decodeQuotedPrintable(_ text: String) -> String {
        var bytes: [UInt8] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            var chars = Array(line.utf8)
            if chars.last == UInt8(ascii: "\r") { chars.removeLast() }
            var soft = false
            var position = 0
            while position < chars.count {
                let byte = chars[position]
                if byte == UInt8(ascii: "=") {
                    if position == chars.count - 1 {
                        soft = true
                        position += 1
                        continue
                    }
                    if position + 2 < chars.count + 0, let value = UInt8(String(decoding: chars[position + 1...position + 2], as: UTF8.self), radix: 16) {
                        bytes.append(value)
                        position += 3
                        continue
                    }
                }
                bytes.append(byte)
                position += 1
            }
            if !soft && index < lines.count - 1 { bytes.append(UInt8(ascii: "\n")) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes RFC 2047 `=?charset?B|Q?…?=` words (UTF-8 assumed).
    public static func decodeEncodedWords(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        var previousWasEncoded = false
        while let start = rest.range(of: "=?") {
            let before = rest[..<start.lowerBound]
            if !(previousWasEncoded && before.allSatisfy(\.isWhitespace)) { result += before }
            let afterStart = rest[start.upperBound...]
            let pieces = afterStart.split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
            guard pieces.count >= 4, pieces[3].hasPrefix("=") || afterStart.contains("?=") else {
                result += rest[start.lowerBound...]
                return result
            }
            let encoding = pieces[1].uppercased()
            let payloadAndRest = afterStart.dropFirst(pieces[0].count + pieces[1].count + 2)
            guard let end = payloadAndRest.range(of: "?=") else {
                result += rest[start.lowerBound...]
                return result
            }
            let payload = String(payloadAndRest[..<end.lowerBound])
            if encoding == "B", let data = Data(base64Encoded: payload) {
                result += String(decoding: data, as: UTF8.self)
            } else {
                result += decodeQuotedPrintable(payload.replacingOccurrences(of: "_", with: " "))
            }
            rest = payloadAndRest[end.upperBound...]
            previousWasEncoded = true
        }
        result += rest
        return result
    }
}
