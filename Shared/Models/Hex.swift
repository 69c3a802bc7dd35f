/// Hexadecimal text for bytes, without a format string per byte (this runs for every token, trace and email).
public enum Hex {
    private static let lower = Array("0123456789abcdef".utf8)
    private static let upper = Array("0123456789ABCDEF".utf8)

    /// `0a1b…`, two digits per byte.
    public static func encode(_ bytes: some Sequence<UInt8>, uppercase: Bool = false) -> String {
        let digits = uppercase ? upper : lower
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Zero-padded decimal digits appended to a UTF-8 buffer: how timestamps are written without `String(format:)`.
public enum Digits {
    public static func append(_ value: Int, width: Int, to buffer: inout [UInt8]) {
        var value = max(0, value)
        let start = buffer.count
        for _ in 0..<width {
            buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
            value /= 10
        }
        buffer[start..<buffer.count].reverse()
    }
}
