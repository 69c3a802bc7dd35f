import Crypto

/// JSON in the canonical form of RFC 8785 (the JSON Canonicalization Scheme): no whitespace, object members
/// sorted by their names' UTF-16 code units, strings escaped as ECMAScript's `JSON.stringify` escapes them, and
/// numbers written as ECMAScript writes a double. Two parties that hold the same JSON value get the same bytes, so a
/// digest of them names the value whatever the spacing, member order or number spelling it was sent with.
public enum JSONCanonical {
    /// The canonical text of a value.
    public static func text(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        write(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The lowercase hex SHA-256 of the canonical text.
    public static func sha256(_ value: JSONValue) -> String {
        Hex.encode(SHA256.hash(data: Array(text(value).utf8)))
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): out.append(contentsOf: self.number(number).utf8)
        case .string(let string): JSONValue.writeString(string, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            let sorted = members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            JSONValue.writeObject(sorted, into: &out) { write($0, into: &$1) }
        }
    }

    /// A double as ECMAScript's `Number.prototype.toString` writes it (RFC 8785 section 3.2.2.3): the shortest digits
    /// that read back as the same double, in plain notation from 1e-6 up to 1e21 and in exponent notation
    /// (`1e+21`, `1.5e-7`) outside it. Not-a-number and the infinities are not JSON; they are written as `null`.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == 0 { return "0" }
        // Swift's description is also the shortest round-tripping digits; only the layout differs.
        var text = value.magnitude.description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(whole + fraction)
        // value = 0.d1d2…dk × 10^n
        var n = whole.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let k = digits.count
        let sign = value < 0 ? "-" : ""
        let body: String
        if k <= n && n <= 21 {
            body = String(digits) + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            body = String(digits[..<n]) + "." + String(digits[n...])
        } else if -6 < n && n <= 0 {
            body = "0." + String(repeating: "0", count: -n) + String(digits)
        } else {
            let power = n - 1
            let mantissa = k == 1 ? String(digits) : String(digits[0]) + "." + String(digits[1...])
            body = mantissa + "e" + (power < 0 ? "-" : "+") + String(power.magnitude)
        }
        return sign + body
    }
}
