import Crypto
import Foundation

/// Ask the notifier to email a person the day's digest of what waits on them, with a link to their inbox. Topic
/// `approvals.notifications`, keyed `digest:<email>`; written by the callback receiver once a day
/// (`GREENLIGHT_DIGEST_HOUR`).
///
/// Its id is derived from the day and the address (`eventId(day:email:)`): a run that is repeated (its instance died
/// half-way, two instances raced) publishes the same ids again, and the notifier keeps each id once, so a person gets
/// one digest a day.
public struct DigestRequested: GreenlightEvent {
    public static let eventType = "DigestRequested"
    public static let topic = Topic.notifications

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    /// Who it goes to (lower case).
    public var email: String
    /// The day it is for (`YYYY-MM-DD`, UTC).
    public var day: String
    /// What waits on them, nearest deadline first; at most `DigestRequested.maximumItems`.
    public var items: [Item]
    /// How many wait in all (more than `items` when the list was cut), counted up to 200.
    public var total: Int
    public var requestedAt: Date
    /// After this the digest is stale and not sent (the next day's replaces it).
    public var expiresAt: Date

    /// The most requests one digest lists; the rest are counted and are in the inbox.
    public static let maximumItems = 25

    /// One request waiting on the person.
    public struct Item: Codable, Sendable, Equatable {
        public var requestId: String
        public var title: String?
        public var description: String
        public var amount: Double?
        public var currency: String?
        public var requester: String?
        public var expiresAt: Date
        /// Approvals so far and needed in all; nil when the first decision decides.
        public var approvals: Int?
        public var needed: Int?

        public init(
            requestId: String, title: String?, description: String, amount: Double?, currency: String?, requester: String?,
            expiresAt: Date, approvals: Int?, needed: Int?
        ) {
            self.requestId = requestId
            self.title = title
            self.description = description
            self.amount = amount
            self.currency = currency
            self.requester = requester
            self.expiresAt = expiresAt
            self.approvals = approvals
            self.needed = needed
        }
    }

    /// Not a request's id: the key that keeps one person's digests in order.
    public var requestId: String { "digest:\(email)" }

    public init(email: String, day: String, items: [Item], total: Int, requestedAt: Date, expiresAt: Date) {
        self.email = email.lowercased()
        eventId = Self.eventId(day: day, email: email)
        self.day = day
        self.items = items
        self.total = total
        self.requestedAt = requestedAt
        self.expiresAt = expiresAt
    }

    /// The one id of `email`'s digest for `day`: the first 16 bytes of SHA-256 over both, marked as a version-8 UUID.
    public static func eventId(day: String, email: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Data("greenlight-digest\u{0}\(day)\u{0}\(email.lowercased())".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
            bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    enum CodingKeys: String, CodingKey {
        case eventId, type, version, email, day, items, total, requestedAt, expiresAt
    }
}
