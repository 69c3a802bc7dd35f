import Foundation

/// The guard against server-side request forgery for outcome webhooks: a `callbackUrl` must not make Greenlight POST
/// into its own network — loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata
/// address, fe80::/10), CGNAT (100.64/10), unspecified, multicast or reserved addresses — unless the deployment says
/// so (`GREENLIGHT_CALLBACK_ALLOW_PRIVATE`). Intake checks what it can see (a literal address, `localhost`); the
/// notifier checks every address the host resolves to, right before each POST.
public enum CallbackAddress {
    /// Why `url` cannot be a callback URL, or nil when it can (as far as its text tells).
    public static func refusal(url: String, allowPrivate: Bool) -> String? {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else { return "must be an absolute http:// or https:// URL such as https://example.com/hooks/greenlight" }
        if parsed.user != nil || parsed.password != nil { return "must not carry a user name or password" }
        if allowPrivate { return nil }
        return refusal(host: host)
    }

    /// Why a host (a name, or a literal address with or without IPv6 brackets) is refused, or nil. Names are refused
    /// only when they mean this machine (`localhost` and `*.localhost`); what a name resolves to is checked with
    /// `refusal(address:)`.
    public static func refusal(host: String) -> String? {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") { return "names this machine (\(name))" }
        return refusal(address: name)
    }

    /// Why a literal IPv4 or IPv6 address is refused, or nil (also nil for text that is not an address).
    public static func refusal(address: String) -> String? {
        if let v4 = IPv4(address) { return v4.refusal.map { "is a \($0) address (\(address))" } }
        if let v6 = IPv6(address) { return v6.refusal.map { "is a \($0) address (\(address))" } }
        return nil
    }

    /// An IPv4 address, read as the resolver reads it: dotted decimal, and also the shorter, octal and hexadecimal
    /// forms (`127.1`, `0177.0.0.1`, `0x7f000001`, `2130706433`) that reach the same address.
    struct IPv4 {
        var value: UInt32

        init?(_ text: String) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...4).contains(parts.count) else { return nil }
            var numbers: [UInt64] = []
            for part in parts {
                guard let number = Self.number(part) else { return nil }
                numbers.append(number)
            }
            var value: UInt64 = 0
            for (index, number) in numbers.enumerated() {
                if index == numbers.count - 1 {
                    // The last part fills all the bytes that are left.
                    guard number < (UInt64(1) << (8 * UInt64(4 - index))) else { return nil }
                    value = (value << (8 * UInt64(4 - index))) | number
                } else {
                    guard number < 256 else { return nil }
                    value = (value << 8) | number
                }
            }
            self.value = UInt32(value)
        }

        static func number(_ part: Substring) -> UInt64? {
            let lower = part.lowercased()
            if lower.hasPrefix("0x") { return lower.count > 2 ? UInt64(lower.dropFirst(2), radix: 16) : 0 }
            if lower.count > 1, lower.hasPrefix("0") { return UInt64(lower.dropFirst(), radix: 8) }
            return lower.isEmpty ? nil : UInt64(lower, radix: 10)
        }

        func within(_ base: UInt32, _ prefix: UInt32) -> Bool {
            let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
            return value & mask == base & mask
        }

        var refusal: String? {
            let a = value >> 24
            if within(0x0000_0000, 8) { return "\(value == 0 ? "unspecified" : "reserved (0/8)")" }
            if a == 127 { return "loopback" }
            if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return "private (RFC 1918)" }
            if within(0xA9FE_0000, 16) { return "link-local (including cloud metadata)" }
            if within(0x6440_0000, 10) { return "shared (CGNAT, 100.64/10)" }
            if within(0xC000_0000, 24) { return "reserved (IETF, 192.0.0/24)" }
            if within(0xC612_0000, 15) { return "reserved (benchmarking, 198.18/15)" }
            if a >= 224 { return a < 240 ? "multicast" : "reserved (240/4)" }
            return nil
        }
    }

    /// An IPv6 address (`::1`, `fe80::1%eth0`, `::ffff:10.0.0.1`…).
    struct IPv6 {
        var bytes: [UInt8]

        init?(_ text: String) {
            // A zone (`%eth0`) names an interface: only link-local addresses have one, and the bytes decide.
            let address = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
            guard address.contains(":") else { return nil }
            var groups: [UInt16] = []
            var tail: [UInt16] = []
            let halves = address.components(separatedBy: "::")
            guard halves.count <= 2 else { return nil }
            func read(_ half: String) -> [UInt16]? {
                guard !half.isEmpty else { return [] }
                var result: [UInt16] = []
                let pieces = half.split(separator: ":", omittingEmptySubsequences: false)
                for (index, piece) in pieces.enumerated() {
                    if index == pieces.count - 1, piece.contains(".") {
                        guard let v4 = IPv4(String(piece)), piece.split(separator: ".").count == 4 else { return nil }
                        result.append(UInt16(v4.value >> 16))
                        result.append(UInt16(v4.value & 0xFFFF))
                    } else {
                        guard (1...4).contains(piece.count), let group = UInt16(piece, radix: 16) else { return nil }
                        result.append(group)
                    }
                }
                return result
            }
            guard let head = read(halves[0]) else { return nil }
            groups = head
            if halves.count == 2 {
                guard let rest = read(halves[1]), groups.count + rest.count < 8 else { return nil }
                tail = rest
                groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail
            }
            guard groups.count == 8 else { return nil }
            bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }

        /// The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or NAT64
        /// (`64:ff9b::a.b.c.d`) address carries.
        var embeddedIPv4: IPv4? {
            let last = bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
            let compatible = bytes[0..<12].allSatisfy { $0 == 0 } && last > 1
            let nat64 = bytes[0..<12] == [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]
            guard mapped || compatible || nat64 else { return nil }
            return IPv4("\(last)")
        }

        var refusal: String? {
            if bytes.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return "loopback" }
            if let v4 = embeddedIPv4, let reason = v4.refusal { return reason }
            if bytes[0] & 0xFE == 0xFC { return "private (unique local, fc00::/7)" }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "link-local (fe80::/10)" }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return "site-local (fec0::/10)" }
            if bytes[0] == 0xFF { return "multicast" }
            return nil
        }
    }
}
