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
        // Taken apart as UTF-8 bytes with LF line ends: a load test parses thousands of these a second.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var previous: UInt8 = 0
        for byte in raw.utf8 {
            if byte == 0x0A, previous == 0x0D { bytes.removeLast() }
            bytes.append(byte)
            previous = byte
        }
        let (headers, body) = Self.split(bytes[...])
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

    /// Where `pattern` next occurs in `bytes` at or after `from`.
    static func find(_ pattern: [UInt8], in bytes: ArraySlice<UInt8>, from: Int) -> Int? {
        guard let first = pattern.first, pattern.count <= bytes.endIndex - from else { return nil }
        var index = from
        let last = bytes.endIndex - pattern.count
        while index <= last {
            if bytes[index] == first, bytes[index..<index + pattern.count].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }

    /// Headers (folded lines joined) and body of a message or part with LF line ends.
    static func split(_ raw: ArraySlice<UInt8>) -> ([(name: String, value: String)], ArraySlice<UInt8>) {
        let blank = find([0x0A, 0x0A], in: raw, from: raw.startIndex)
        let head = raw[raw.startIndex..<(blank ?? raw.endIndex)]
        let body = blank.map { raw[($0 + 2)...] } ?? raw[raw.endIndex...]
        var headers: [(name: String, value: String)] = []
        for line in head.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if let first = line.first, first == 0x20 || first == 0x09, !headers.isEmpty {
                headers[headers.count - 1].value += " " + String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                headers.append(
                    (String(decoding: line[..<colon], as: UTF8.self),
                        String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)))
            }
        }
        return (headers, body)
    }

    static func collect(
        headers: [(name: String, value: String)], body: ArraySlice<UInt8>, text: inout String?, html: inout String?,
        types: inout [String]
    ) {
        let contentType = headers.first { $0.name.lowercased() == "content-type" }?.value ?? "text/plain"
        let lowered = contentType.lowercased()
        if lowered.hasPrefix("multipart/"), let boundary = parameter("boundary", in: contentType) {
            let delimiter = Array("--\(boundary)".utf8)
            var sections: [ArraySlice<UInt8>] = []
            var cursor = body.startIndex
            var sectionStart: Int?
            while let found = find(delimiter, in: body, from: cursor) {
                if let start = sectionStart { sections.append(body[start..<found]) }
                sectionStart = found + delimiter.count
                cursor = found + delimiter.count
            }
            if let start = sectionStart { sections.append(body[start...]) }
            for section in sections where !section.starts(with: [0x2D, 0x2D]) {
                // The line break before a boundary belongs to the boundary (RFC 2046).
                var trimmed = section
                if trimmed.first == 0x0A { trimmed = trimmed.dropFirst() }
                if trimmed.last == 0x0A { trimmed = trimmed.dropLast() }
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
            decoded = Data(base64Encoded: Data(body.filter { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }))
                .map { String(decoding: $0, as: UTF8.self) } ?? ""
        default: decoded = String(decoding: body, as: UTF8.self)
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
        decodeQuotedPrintable(Array(text.utf8)[...])
    }

    /// Quoted-printable to text: `=XX` is a byte, `=` at a line's end joins it to the next, CR before LF is dropped.
    static func decodeQuotedPrintable(_ input: ArraySlice<UInt8>) -> String {
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: byte - 48
            case 65...70: byte - 55
            case 97...102: byte - 87
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var position = input.startIndex
        while position < input.endIndex {
            let byte = input[position]
            if byte == 0x0D, position + 1 < input.endIndex, input[position + 1] == 0x0A {
                position += 1
                continue
            }
            if byte == UInt8(ascii: "=") {
                // A soft line break: "=" then (CR)LF, or "=" at the very end.
                var next = position + 1
                if next < input.endIndex, input[next] == 0x0D, next + 1 < input.endIndex, input[next + 1] == 0x0A { next += 1 }
                if next == input.endIndex || input[next] == 0x0A {
                    position = next + 1
                    continue
                }
                if position + 2 < input.endIndex, let high = hexValue(input[position + 1]), let low = hexValue(input[position + 2]) {
                    bytes.append(high << 4 | low)
                    position += 3
                    continue
                }
            }
            bytes.append(byte)
            position += 1
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
