import Crypto
import Foundation

/// Signing and verifying webhooks the Standard Webhooks way (https://www.standardwebhooks.com): three headers,
/// `webhook-id` (the message's id, the same on every attempt: receivers deduplicate on it), `webhook-timestamp`
/// (Unix seconds of this attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
/// `<id>.<timestamp>.<body>` under the secret's key; several, separated by spaces, while a secret is rotated).
public struct StandardWebhook: Sendable {
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"
    /// How far a timestamp may be from the verifier's clock, either way: an older message is a replay.
    public static let tolerance: TimeInterval = 5 * 60

    /// The key's bytes (a `SymmetricKey` is made for each use: it is not `Sendable`).
    let key: [UInt8]

    /// A signer/verifier for a `whsec_<base64>` secret; `setting` names where the secret came from (a variable such
    /// as `GREENLIGHT_CALLBACK_SECRET`, or a field such as `callbackSecret`) for the error.
    public init(secret: String, setting: String) throws(StandardWebhookSecretError) {
        key = try Self.keyBytes(secret, setting: setting)
    }

    /// The key bytes of a `whsec_<base64>` secret: 24 to 64 of them, as the specification recommends.
    static func keyBytes(_ secret: String, setting: String) throws(StandardWebhookSecretError) -> [UInt8] {
        guard secret.hasPrefix("whsec_") else {
            throw StandardWebhookSecretError(setting: setting, problem: "must start with whsec_ followed by the key in base64")
        }
        guard let bytes = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else {
            throw StandardWebhookSecretError(setting: setting, problem: "must be whsec_ followed by valid base64 (A–Z, a–z, 0–9, +, /, =)")
        }
        guard (24...64).contains(bytes.count) else {
            throw StandardWebhookSecretError(
                setting: setting, problem: "must hold 24 to 64 key bytes after whsec_ (it holds \(bytes.count)); 32 random bytes are usual")
        }
        return Array(bytes)
    }

    /// Whether `secret` is a usable `whsec_` secret.
    public static func isValidSecret(_ secret: String) -> Bool {
        (try? keyBytes(secret, setting: "")) != nil
    }

    /// `v1,<base64 signature>` for one attempt.
    public func signature(id: String, timestamp: Int64, body: Data) -> String {
        "v1," + Data(mac(id: id, timestamp: timestamp, body: body)).base64EncodedString()
    }

    /// The three headers of one attempt, signed at `at`.
    public func headers(id: String, at: Date, body: Data) -> [(name: String, value: String)] {
        let timestamp = Int64(at.timeIntervalSince1970.rounded(.down))
        return [
            (Self.idHeader, id), (Self.timestampHeader, String(timestamp)),
            (Self.signatureHeader, signature(id: id, timestamp: timestamp, body: body)),
        ]
    }

    /// Checks a received webhook: a timestamp within `tolerance` of `now` and, among the space-separated signatures,
    /// one `v1` that matches (compared in constant time). Other versions are skipped, as the specification says.
    public func verify(id: String, timestamp: String, signatures: String, body: Data, now: Date = Date())
        throws(StandardWebhookVerificationError)
    {
        guard let seconds = Int64(timestamp) else { throw .badTimestamp }
        guard abs(now.timeIntervalSince1970 - Double(seconds)) <= Self.tolerance else { throw .timestampOutOfTolerance }
        let expected = mac(id: id, timestamp: seconds, body: body)
        var found = false
        for candidate in signatures.split(separator: " ") {
            let parts = candidate.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let given = Data(base64Encoded: String(parts[1])) else { continue }
            // No early return: every candidate costs the same whichever matches.
            if Self.constantTimeEqual(Array(given), expected) { found = true }
        }
        guard found else { throw .noMatchingSignature }
    }

    func mac(id: String, timestamp: Int64, body: Data) -> [UInt8] {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        return Array(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key)))
    }

    /// True when both are equal, in a time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// A webhook secret that is not a `whsec_<base64>` key; names the setting or field, never the value.
public struct StandardWebhookSecretError: Error, Sendable, Equatable, CustomStringConvertible {
    public var setting: String
    public var problem: String
    public var description: String { "\(setting) \(problem)" }
}

/// Why a received webhook was not accepted.
public enum StandardWebhookVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case badTimestamp
    case timestampOutOfTolerance
    case noMatchingSignature

    public var description: String {
        switch self {
        case .badTimestamp: "webhook-timestamp is not a whole number of seconds since 1970"
        case .timestampOutOfTolerance: "webhook-timestamp is more than 5 minutes from now (a replay, or a clock to fix)"
        case .noMatchingSignature: "no v1 signature in webhook-signature matches the body with this secret"
        }
    }
}
