import GreenlightModels
import Hummingbird

/// The API keys programs present as `Authorization: Bearer <key>` (from `GREENLIGHT_API_KEYS`, comma-separated).
public struct APIKeys: Sendable {
    let keys: [[UInt8]]

    public init(_ keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Reads `GREENLIGHT_API_KEYS`; each key must be at least 16 characters.
    public static func read(_ reader: inout EnvironmentReader) -> APIKeys {
        let text = reader.string("GREENLIGHT_API_KEYS", default: "", secret: true)
        let keys = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if keys.contains(where: { $0.count < 16 }) {
            reader.report("GREENLIGHT_API_KEYS must be comma-separated keys of at least 16 characters each")
        }
        return APIKeys(keys)
    }

    /// Whether the request carries one of the keys. Compares every byte of every key, whatever matches, so the
    /// time taken does not tell how much of a guess was right.
    public func allows(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let presented = Array(header.dropFirst("Bearer ".count).utf8)
        var matched = false
        for key in keys {
            var difference = UInt8(key.count == presented.count ? 0 : 1)
            for index in 0..<key.count {
                difference |= key[index] ^ (index < presented.count ? presented[index] : 0)
            }
            matched = matched || difference == 0
        }
        return matched
    }

    /// Throws a 401 problem unless the request carries a valid key.
    public func require(_ request: Request) throws {
        guard allows(request) else {
            throw Problem(
                title: "Unauthorized", status: 401,
                detail: keys.isEmpty
                    ? "The API is disabled: no keys are configured (GREENLIGHT_API_KEYS)."
                    : "Send a valid API key as Authorization: Bearer <key>.")
        }
    }
}
