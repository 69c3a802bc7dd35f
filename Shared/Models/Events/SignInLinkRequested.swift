import Foundation

/// Ask the notifier to email a person a link that signs them in to the inbox (`/inbox`). Topic
/// `approvals.notifications`, keyed `sign-in:<email>`; written by the callback receiver.
///
/// Like `NotificationRequested`, it carries no token: the notifier derives it from `tokenNonce` with the link secret
/// `linkKey` names (`SignInToken.derive`), and the callback receiver stores only its hash. A copy of the topic is not
/// a set of working sign-in links.
public struct SignInLinkRequested: GreenlightEvent {
    public static let eventType = "SignInLinkRequested"
    public static let topic = Topic.notifications

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    /// Who asked to sign in, as they typed it (the link goes there).
    public var email: String
    /// What the sign-in token is derived from.
    public var tokenNonce: UUID
    /// Which link secret the token is derived with (`LinkSecret.id`).
    public var linkKey: String
    public var requestedAt: Date
    /// When the link stops working; the notifier does not send it after that.
    public var expiresAt: Date

    /// Not a request's id: the key that keeps one person's sign-in emails in order.
    public var requestId: String { "sign-in:\(email.lowercased())" }

    public init(
        eventId: UUID = UUID(), email: String, tokenNonce: UUID, linkKey: String, requestedAt: Date, expiresAt: Date
    ) {
        self.eventId = eventId
        self.email = email
        self.tokenNonce = tokenNonce
        self.linkKey = linkKey
        self.requestedAt = requestedAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case eventId, type, version, email, tokenNonce, linkKey, requestedAt, expiresAt
    }
}
