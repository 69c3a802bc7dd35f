import Foundation

/// A SQL statement whose values travel as bound parameters. Interpolating a value writes `$1`, `$2`, … into
/// the text and appends the value to `bindings`, so a value can never be spliced into SQL by accident:
///
///     let query: PostgresQuery = "SELECT status FROM approval_executions WHERE request_id = \(requestId)"
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    public private(set) var bindings: [String?]
    /// For a queued statement, where it was queued (`File.swift:42`): its error surfaces at a later await, and
    /// names this.
    var queuedAt: String?

    public init(stringLiteral value: String) {
        sql = value
        bindings = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        bindings = stringInterpolation.bindings
    }

    /// The same statement behind fixed SQL text (`EXPLAIN `, say); the parameters keep their numbers.
    public func prefixed(with fragment: StaticString) -> PostgresQuery {
        var query = self
        query.sql = fragment.description + sql
        return query
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var bindings: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            bindings.append(value.postgresText)
            sql += "$\(bindings.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            bindings.append(value?.postgresText)
            sql += "$\(bindings.count)"
        }

        /// Splices SQL text that is fixed at compile time (a shared column list, say): only a `StaticString`
        /// is accepted, so no runtime value can reach the statement this way.
        public mutating func appendInterpolation(sql fragment: StaticString) {
            sql += fragment.description
        }
    }
}

/// A value that can be sent as a parameter, in Postgres's text format.
public protocol PostgresEncodable: Sendable {
    var postgresText: String { get }
}

/// A value that can be read from a column in Postgres's text format.
public protocol PostgresDecodable: Sendable {
    /// `text` is nil for SQL NULL.
    static func decode(postgresText text: String?) throws -> Self
}

/// Non-optional values reject NULL.
public protocol PostgresNonNullDecodable: PostgresDecodable {
    init?(postgresText: String)
}

extension PostgresNonNullDecodable {
    public static func decode(postgresText text: String?) throws -> Self {
        guard let text else { throw PostgresError(.decodingFailed, "NULL where \(Self.self) was expected") }
        guard let value = Self(postgresText: text) else {
            throw PostgresError(.decodingFailed, "a column's text is not a valid \(Self.self)")
        }
        return value
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String?) throws -> Wrapped? {
        guard let text else { return nil }
        return try Wrapped.decode(postgresText: text)
    }
}

extension String: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { self }
    public init?(postgresText: String) { self = postgresText }
}

extension Int: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int64: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int32: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Double: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { "\(self)" }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Bool: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { self ? "true" : "false" }
    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension UUID: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String { uuidString.lowercased() }
    public init?(postgresText: String) { self.init(uuidString: postgresText) }
}

extension Date: PostgresEncodable, PostgresNonNullDecodable {
    /// ISO 8601 with microseconds, in UTC.
    public var postgresText: String { PostgresTimestamp.format(self) }
    public init?(postgresText: String) {
        guard let date = PostgresTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}

/// `bytea`: sent and read in hex format (`\x0a1b…`).
extension Data: PostgresEncodable, PostgresNonNullDecodable {
    public var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x") else { return nil }
        var bytes: [UInt8] = []
        var digits = postgresText.utf8.dropFirst(2).makeIterator()
        while let high = digits.next() {
            guard let low = digits.next(), let h = Self.nibble(high), let l = Self.nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        self.init(bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// `text[]`, in Postgres's array literal syntax with every element quoted.
extension Array: PostgresEncodable where Element == String {
    public var postgresText: String { PostgresArray(self).postgresText }
}

/// A one-dimensional array parameter whose elements may be NULL, in Postgres's array literal syntax: every element
/// quoted, so the statement can cast it to any element type (`$1::uuid[]`, `$2::int[]`, `$3::timestamptz[]`). With
/// `unnest`, one statement writes any number of rows under one prepared text.
public struct PostgresArray: PostgresEncodable {
    public var elements: [String?]

    public init(_ elements: [String?]) { self.elements = elements }

    public var postgresText: String {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let element else {
                out.append(contentsOf: "NULL".utf8)
                continue
            }
            out.append(quote)
            for byte in element.utf8 {
                if byte == quote || byte == backslash { out.append(backslash) }
                out.append(byte)
            }
            out.append(quote)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The elements of a one-dimensional `text[]` as the server prints it (`{a,"b c"}`); NULLs read as "NULL".
    public static func parse(_ text: String) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == "," && !quoted {
                items.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if !text.isEmpty && text != "{}" { items.append(current) }
        return items
    }
}

/// Timestamps as the server prints them with `TimeZone=UTC` and the ISO `DateStyle` that connections set.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = seconds.rounded(.down)
        var micros = Int(((seconds - whole) * 1_000_000).rounded())
        if micros == 1_000_000 {
            whole += 1
            micros = 0
        }
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        // Written digit by digit: this runs for every timestamp parameter of every statement.
        var out: [UInt8] = []
        out.reserveCapacity(27)
        func digits(_ value: Int32, _ width: Int, then separator: Unicode.Scalar) {
            var value = Int(max(0, value))
            let start = out.count
            for _ in 0..<width {
                out.append(UInt8(ascii: "0") + UInt8(value % 10))
                value /= 10
            }
            out[start...].reverse()
            out.append(UInt8(ascii: separator))
        }
        digits(parts.tm_year + 1900, 4, then: "-")
        digits(parts.tm_mon + 1, 2, then: "-")
        digits(parts.tm_mday, 2, then: "T")
        digits(parts.tm_hour, 2, then: ":")
        digits(parts.tm_min, 2, then: ":")
        digits(parts.tm_sec, 2, then: ".")
        digits(Int32(micros), 6, then: "Z")
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `2026-11-27 02:42:56.123456+00` (fraction and offset minutes optional).
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<from + count] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < bytes.count, (48...57).contains(bytes[index]) {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            if bytes[index] == UInt8(ascii: "Z") {
                offsetSeconds = 0
            } else {
                guard let offsetHours = number(index + 1, 2) else { return nil }
                let offsetMinutes = number(index + 4, 2) ?? 0
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            }
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}
