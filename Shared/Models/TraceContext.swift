import Foundation

/// A W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): the trace one request's work
/// belongs to, and the span that caused this piece of it. It travels in the `traceparent` HTTP header and Kafka
/// message header, and is stored with an execution so that work resumed hours later (a click, a timer) joins
/// the same trace.
public struct TraceContext: Sendable, Equatable, CustomStringConvertible {
    /// The header's name, in HTTP and in Kafka.
    public static let headerName = "traceparent"

    /// 32 lowercase hex digits, not all zero.
    public let traceId: String
    /// 16 lowercase hex digits, not all zero: the span that is the parent of whatever receives this context.
    public let spanId: String
    /// Whether the trace is sampled (flag 01).
    public let sampled: Bool

    /// Parses a `traceparent` value; nil when it is malformed (the receiver then starts a new trace, as the
    /// specification says).
    public init?(traceparent: String) {
        // Every message, row and request carries one, so the usual form (version 00, lowercase, nothing around it) is
        // read from its bytes; anything else goes through the general reading below, which gives the same answer.
        if let canonical = Self.canonical(traceparent) {
            self = canonical
            return
        }
        let parts = traceparent.trimmingCharacters(in: .whitespaces).lowercased().split(
            separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, Self.isHex(parts[0]), parts[0] != "ff",
            parts[1].count == 32, Self.isHex(parts[1]), parts[1] != Substring(String(repeating: "0", count: 32)),
            parts[2].count == 16, Self.isHex(parts[2]), parts[2] != Substring(String(repeating: "0", count: 16)),
            parts[3].count == 2, Self.isHex(parts[3]), let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        // Version 00 has exactly four fields; later versions may append more, which we ignore.
        if parts[0] == "00" && parts.count != 4 { return nil }
        traceId = String(parts[1])
        spanId = String(parts[2])
        sampled = flags & 1 == 1
    }

    init(traceId: String, spanId: String, sampled: Bool) {
        self.traceId = traceId
        self.spanId = spanId
        self.sampled = sampled
    }

    /// A new trace, with a random trace id and span id.
    public static func newTrace() -> TraceContext {
        TraceContext(traceId: randomHex(bytes: 16), spanId: randomHex(bytes: 8), sampled: true)
    }

    /// The context to send onwards from a new span of this trace: same trace id, a new span id.
    public func child() -> TraceContext {
        TraceContext(traceId: traceId, spanId: Self.randomHex(bytes: 8), sampled: sampled)
    }

    /// The header value, version 00.
    public var traceparent: String { "00-\(traceId)-\(spanId)-\(sampled ? "01" : "00")" }

    public var description: String { traceparent }

    /// The context an incoming message or request carries, continued with a new span; a new trace when it
    /// carries none (or a malformed one).
    public static func continuing(_ traceparent: String?) -> TraceContext {
        traceparent.flatMap(TraceContext.init(traceparent:))?.child() ?? newTrace()
    }

    /// The context of a `traceparent` of 55 bytes in lowercase with no space around it; nil for any other form, or
    /// one that is malformed.
    private static func canonical(_ traceparent: String) -> TraceContext? {
        var traceparent = traceparent
        return traceparent.withUTF8 { bytes -> TraceContext? in
            guard bytes.count == 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"),
                bytes[52] == UInt8(ascii: "-")
            else { return nil }
            func hexValue(_ byte: UInt8) -> UInt8? {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
                default: nil
                }
            }
            /// Whether the bytes in `range` are hex digits, not all zero.
            func isIdentifier(_ range: Range<Int>) -> Bool {
                var nonZero = false
                for index in range {
                    guard let value = hexValue(bytes[index]) else { return false }
                    if value != 0 { nonZero = true }
                }
                return nonZero
            }
            guard let version0 = hexValue(bytes[0]), let version1 = hexValue(bytes[1]), version0 != 15 || version1 != 15,
                isIdentifier(3..<35), isIdentifier(36..<52), hexValue(bytes[53]) != nil, let flags = hexValue(bytes[54])
            else { return nil }
            return TraceContext(
                traceId: String(decoding: UnsafeBufferPointer(rebasing: bytes[3..<35]), as: UTF8.self),
                spanId: String(decoding: UnsafeBufferPointer(rebasing: bytes[36..<52]), as: UTF8.self),
                sampled: flags & 1 == 1)
        }
    }

    private static func isHex(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `bytes` (8 or 16) random bytes, not all zero, as hex: one draw from the generator per 8 bytes (each draw is
    /// a system call), not one per byte.
    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            var value: [UInt8] = []
            value.reserveCapacity(bytes)
            for _ in 0..<(bytes + 7) / 8 {
                let word = generator.next() as UInt64
                for index in 0..<8 where value.count < bytes { value.append(UInt8(truncatingIfNeeded: word >> (8 * index))) }
            }
            if value.contains(where: { $0 != 0 }) {
                return Hex.encode(value)
            }
        }
    }
}
