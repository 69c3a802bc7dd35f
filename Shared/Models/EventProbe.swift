/// An event's `type` (and schema `version`), read from the top level of its JSON without decoding the rest: what a
/// consumer looks at first, to know what to decode it as. Every consumed message is read this way before it is decoded
/// once as what it is (a probe through `JSONDecoder` parsed each message a second time).
///
/// Only the plain form is read here: a `type` that is a string without escapes, a `version` that is a whole number or
/// absent, each given once. Anything else — escapes, a duplicated field, text that is not one JSON object — gives nil,
/// and the caller reads the message with `JSONDecoder` as before, whose answer (and error) stands.
public enum EventProbe {
    public static func typeAndVersion(_ bytes: [UInt8]) -> (type: String, version: Int?)? {
        bytes.withUnsafeBufferPointer { read($0) }
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> (type: String, version: Int?)? {
        var index = 0
        let end = bytes.count
        func skipSpace() {
            while index < end, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }
        /// A string's contents (at its opening quote), without escapes; nil for one with escapes or unterminated.
        func plainString() -> Range<Int>? {
            guard index < end, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            var cursor = start
            while cursor < end {
                switch bytes[cursor] {
                case UInt8(ascii: "\""):
                    index = cursor + 1
                    return start..<cursor
                case UInt8(ascii: "\\"): return nil
                default: cursor += 1
                }
            }
            return nil
        }
        /// Steps over any value: strings (escapes and all), nested objects and arrays, numbers and literals.
        func skipValue() -> Bool {
            var depth = 0
            while index < end {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    while index < end, bytes[index] != UInt8(ascii: "\"") {
                        index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard index < end else { return false }
                    index += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { return true }
                    depth -= 1
                    index += 1
                case UInt8(ascii: ","):
                    if depth == 0 { return true }
                    index += 1
                default:
                    index += 1
                }
                if depth == 0, byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    return true
                }
            }
            return depth == 0
        }
        func equals(_ range: Range<Int>, _ word: StaticString) -> Bool {
            guard range.count == word.utf8CodeUnitCount else { return false }
            return word.withUTF8Buffer { literal in zip(range, literal).allSatisfy { bytes[$0] == $1 } }
        }

        var type: Range<Int>?
        var version: Int?
        var sawVersion = false
        skipSpace()
        guard index < end, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        skipSpace()
        if index < end, bytes[index] == UInt8(ascii: "}") { return nil }
        while true {
            skipSpace()
            guard let key = plainString() else { return nil }
            skipSpace()
            guard index < end, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            if equals(key, "type") {
                guard type == nil, let value = plainString() else { return nil }
                type = value
            } else if equals(key, "version") {
                guard !sawVersion else { return nil }
                sawVersion = true
                var number = 0
                var digits = 0
                while index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    number = number * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                guard digits > 0, digits <= 9 else { return nil }
                version = number
            } else {
                guard skipValue() else { return nil }
            }
            skipSpace()
            guard index < end else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            break
        }
        skipSpace()
        guard index == end, let type else { return nil }
        return (String(decoding: UnsafeBufferPointer(rebasing: bytes[type]), as: UTF8.self), version)
    }
}
