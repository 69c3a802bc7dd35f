import Crypto
import Foundation

/// Link tokens: 128 bits, written as 22 characters of base64url, stored only as `hash(_:)`.
///
/// A token is derived, not drawn: `HMAC-SHA256(secret, nonce)`, first 16 bytes, where the nonce is 128 random
/// bits (`newNonce()`, written as a UUID) the orchestrator puts in the `NotificationRequested` event and the secret is `GREENLIGHT_LINK_SECRET`,
/// known to the orchestrator (which stores the token's hash) and the notifier (which puts the token in the
/// email). So the plain token exists only in the email: not in Postgres, not in the outbox, not on Kafka — a
/// copy of the database or the topic is not a set of working links.
public enum LinkToken {
    public static let length = 22

    /// A new nonce: all 128 bits from the system's cryptographic generator (a version-4 `UUID()` would fix six of
    /// them), so a token's unpredictability does not rest on the secret alone.
    public static func newNonce() -> UUID {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        func byte(_ word: UInt64, _ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: word >> (8 * index)) }
        return UUID(uuid: (
            byte(high, 0), byte(high, 1), byte(high, 2), byte(high, 3), byte(high, 4), byte(high, 5), byte(high, 6),
            byte(high, 7), byte(low, 0), byte(low, 1), byte(low, 2), byte(low, 3), byte(low, 4), byte(low, 5),
            byte(low, 6), byte(low, 7)))
    }

    /// The token for `nonce` under `secret`.
    public static func derive(secret: LinkSecret, nonce: UUID) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("greenlight-link-token-v1:\(nonce.uuidString)".utf8), using: secret.key)
        return base64URL(Array(mac).prefix(16))
    }

    /// Unpadded base64url, as tokens are written (RFC 4648 §5, written byte by byte: every email derives a token).
    public static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        func append(_ group: UInt32, characters: Int) {
            for index in 0..<characters { out.append(base64URLAlphabet[Int(group >> (18 - 6 * UInt32(index)) & 63)]) }
        }
        var start = 0
        while start + 3 <= input.count {
            append(UInt32(input[start]) << 16 | UInt32(input[start + 1]) << 8 | UInt32(input[start + 2]), characters: 4)
            start += 3
        }
        switch input.count - start {
        case 1: append(UInt32(input[start]) << 16, characters: 2)
        case 2: append(UInt32(input[start]) << 16 | UInt32(input[start + 1]) << 8, characters: 3)
        default: break
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Whether `text` has a token's shape (unpadded base64url of `length` characters); anything else is answered
    /// 404 without a look-up.
    public static func isWellFormed(_ text: String, length: Int = LinkToken.length) -> Bool {
        text.utf8.count == length
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    return true
                default:
                    return false
                }
            }
    }

    /// The value of the review form's hidden `confirm` field: bound to the token, so a form can only be posted
    /// for the link whose page it came from.
    public static func formProof(for token: String) -> String {
        String(hash("greenlight-form-v1:" + token).prefix(32))
    }

    /// Hex SHA-256 of the token.
    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }
}

/// The key link tokens are derived with (`GREENLIGHT_LINK_SECRET`): at least 32 characters, the same for the
/// orchestrator and every notifier.
public struct LinkSecret: Sendable, CustomStringConvertible {
    public static let minimumLength = 32
    private let bytes: Data

    var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// Nil when `text` is shorter than `minimumLength`.
    public init?(_ text: String) {
        guard text.utf8.count >= Self.minimumLength else { return nil }
        bytes = Data(text.utf8)
    }

    /// A name for the secret that does not reveal it: the first 12 hex digits of a hash of it. Events carry it so
    /// that a notifier knows which secret a link was made with.
    public var id: String {
        String(Hex.encode(SHA256.hash(data: Data("greenlight-link-key-id-v1:".utf8) + bytes)).prefix(12))
    }

    /// Never the secret itself.
    public var description: String { "LinkSecret(\(id))" }
}

/// The link secrets a notifier knows: the current one (`GREENLIGHT_LINK_SECRET`), which the orchestrator makes new
/// links with, and the previous ones (`GREENLIGHT_LINK_SECRETS_PREVIOUS`), with which links made before a rotation
/// are sent again (reminders, resends) unchanged.
public struct LinkKeyring: Sendable {
    public let current: LinkSecret
    public let previous: [LinkSecret]

    public init(current: LinkSecret, previous: [LinkSecret] = []) {
        self.current = current
        self.previous = previous
    }

    /// The secret with this id; the current one for nil (an event from before ids were carried). Nil when unknown.
    public func secret(id: String?) -> LinkSecret? {
        guard let id else { return current }
        return ([current] + previous).first { $0.id == id }
    }
}
