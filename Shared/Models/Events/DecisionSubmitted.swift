import Foundation

/// A decision on a request, from a link click, the API or another system. Topic `approvals.decisions`.
public struct DecisionSubmitted: GreenlightEvent {
    public static let eventType = "DecisionSubmitted"
    public static let topic = Topic.decisions

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var decision: Decision
    public var decidedBy: String
    public var channel: DecisionChannel
    public var comment: String?
    public var decidedAt: Date
    /// Hex SHA-256 of the link token used, for decisions made through a link.
    public var tokenHash: String?
    /// For link decisions: the address the form was posted from, and the browser's User-Agent.
    public var clientAddress: String?
    public var userAgent: String?
    /// For decisions made through a program API: the name of the API key the caller presented (who answers for
    /// it, next to the `decidedBy` the caller named).
    public var apiKey: String?
    /// The answers the request's `responseSchema` asks for: a JSON object.
    public var response: JSONValue?

    public init(
        eventId: UUID = UUID(), requestId: String, decision: Decision, decidedBy: String, channel: DecisionChannel,
        comment: String?, decidedAt: Date, tokenHash: String?, clientAddress: String? = nil, userAgent: String? = nil,
        apiKey: String? = nil, response: JSONValue? = nil
    ) {
        self.response = response
        self.apiKey = apiKey
        self.clientAddress = clientAddress
        self.userAgent = userAgent
        self.eventId = eventId
        self.requestId = requestId
        self.decision = decision
        self.decidedBy = decidedBy
        self.channel = channel
        self.comment = comment
        self.decidedAt = decidedAt
        self.tokenHash = tokenHash
    }
}
