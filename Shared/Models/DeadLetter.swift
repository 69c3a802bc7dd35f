import Crypto
import Foundation

/// An event that could not be handled, with the reason and the original bytes. Topic `approvals.dlq`.
///
/// A letter always fits in a Kafka message, whatever it carries: a payload up to `maxWholePayloadBytes` is kept
/// whole; a larger one keeps its first `truncatedPayloadBytes` bytes with its size and SHA-256, and the original
/// stays on its topic at `partition`/`offset` (for that topic's retention), where `greenlight dlq replay` reads
/// it. Keys, headers and reasons are capped the same way.
public struct DeadLetter: Codable, Sendable, Equatable {
    public var type: String = "DeadLetter"
    public var version: Int = 1
    public var eventId: UUID
    public var reason: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: String?
    /// The original message value, base64: whole, or only its first bytes when `payloadTruncated`.
    public var payloadBase64: String
    /// The original value's size in bytes.
    public var payloadSize: Int?
    /// The SHA-256 of the original value, lowercase hex.
    public var payloadSHA256: String?
    /// True when `payloadBase64` holds only the first bytes of the value (or none).
    public var payloadTruncated: Bool?
    /// The original message's headers (as many as fit in `maxHeaderBytes`).
    public var headers: [Header]?
    public var deadLetteredAt: Date

    /// One header of the original message.
    public struct Header: Codable, Sendable, Equatable {
        public var name: String
        /// The value, base64; nil for a header without one.
        public var valueBase64: String?

        public init(name: String, value: [UInt8]?) {
            self.name = name
            valueBase64 = value.map { Data($0).base64EncodedString() }
        }
    }

    /// Payloads up to this size are kept whole (base64 makes them a third larger, still far below the 1 MB a
    /// Kafka message may have by default).
    public static let maxWholePayloadBytes = 256 * 1024
    /// How much of a larger payload is kept.
    public static let truncatedPayloadBytes = 64 * 1024
    /// Reasons, keys and headers are capped too: none of them may make the letter too large to publish.
    public static let maxReasonCharacters = 2000
    public static let maxKeyBytes = 1024
    public static let maxHeaderBytes = 16 * 1024

    public init(
        eventId: UUID = UUID(), reason: String, topic: String, partition: Int32, offset: Int64, key: String?,
        payload: [UInt8], headers: [(name: String, value: [UInt8]?)] = [], deadLetteredAt: Date
    ) {
        self.eventId = eventId
        self.reason = reason.count > Self.maxReasonCharacters ? String(reason.prefix(Self.maxReasonCharacters - 1)) + "…" : reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key.map { Self.capped($0, bytes: Self.maxKeyBytes) }
        let truncated = payload.count > Self.maxWholePayloadBytes
        payloadBase64 = Data(truncated ? payload.prefix(Self.truncatedPayloadBytes) : payload[...]).base64EncodedString()
        payloadSize = payload.count
        payloadSHA256 = Hex.encode(SHA256.hash(data: payload))
        payloadTruncated = truncated
        var kept: [Header] = []
        var room = Self.maxHeaderBytes
        for header in headers {
            let size = header.name.utf8.count + (header.value?.count ?? 0)
            guard size <= room else { break }
            room -= size
            kept.append(Header(name: header.name, value: header.value))
        }
        self.headers = kept.isEmpty ? nil : kept
        self.deadLetteredAt = deadLetteredAt
    }

    /// The same letter without any of the payload: what is sent when even the capped letter cannot be published.
    public func withoutPayload() -> DeadLetter {
        var letter = self
        letter.payloadBase64 = ""
        letter.payloadTruncated = true
        letter.headers = nil
        return letter
    }

    /// Whether `value` is the original payload this letter describes (by size and digest).
    public func isOriginal(_ value: [UInt8]) -> Bool {
        (payloadSize == nil || payloadSize == value.count) && payloadSHA256 == Hex.encode(SHA256.hash(data: value))
    }

    /// The longest prefix of `text` that fits in `bytes` UTF-8 bytes, cut at a character boundary.
    static func capped(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            guard used + size <= bytes else { break }
            used += size
            result.append(character)
        }
        return result
    }
}
