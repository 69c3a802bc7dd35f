import Foundation

/// The success payload of an approval's callback: how a decision resumes the workflow.
public struct ApprovalDecisionPayload: Codable, Sendable, Equatable {
    /// Written `approved` or `rejected` (`approve` and `reject` are read too); anything else is not a decision, and
    /// a payload carrying it fails to decode rather than count as either.
    public var decision: Decision
    public var approver: String?
    public var comment: String?
    public var channel: DecisionChannel?
    public var decidedAt: Date?
    /// The votes that led to this decision (every policy but `any` collects several).
    public var votes: [ApprovalVote]?
    /// The API key of the decision, when it came through a program API.
    public var apiKey: String?
    /// The answers the request's `responseSchema` asks for.
    public var response: JSONValue?
    /// The approver whose place `approver` decided in, as their delegate.
    public var onBehalfOf: String?

    public init(
        decision: Decision, approver: String?, comment: String?, channel: DecisionChannel?, decidedAt: Date?,
        votes: [ApprovalVote]? = nil, apiKey: String? = nil, response: JSONValue? = nil, onBehalfOf: String? = nil
    ) {
        self.onBehalfOf = onBehalfOf
        self.response = response
        self.apiKey = apiKey
        self.votes = votes
        self.decision = decision
        self.approver = approver
        self.comment = comment
        self.channel = channel
        self.decidedAt = decidedAt
    }

    private enum CodingKeys: String, CodingKey {
        case decision, approver, comment, channel, decidedAt, votes, apiKey, response, onBehalfOf
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let word = try container.decode(String.self, forKey: .decision)
        switch word {
        case "approved", "approve": decision = .approve
        case "rejected", "reject": decision = .reject
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .decision, in: container, debugDescription: "\"\(word)\" is not a decision: use \"approved\" or \"rejected\"")
        }
        approver = try container.decodeIfPresent(String.self, forKey: .approver)
        comment = try container.decodeIfPresent(String.self, forKey: .comment)
        channel = try container.decodeIfPresent(DecisionChannel.self, forKey: .channel)
        decidedAt = try container.decodeIfPresent(Date.self, forKey: .decidedAt)
        votes = try container.decodeIfPresent([ApprovalVote].self, forKey: .votes)
        apiKey = try container.decodeIfPresent(String.self, forKey: .apiKey)
        response = try container.decodeIfPresent(JSONValue.self, forKey: .response)
        onBehalfOf = try container.decodeIfPresent(String.self, forKey: .onBehalfOf)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(decision == .approve ? "approved" : "rejected", forKey: .decision)
        try container.encodeIfPresent(approver, forKey: .approver)
        try container.encodeIfPresent(comment, forKey: .comment)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(decidedAt, forKey: .decidedAt)
        try container.encodeIfPresent(votes, forKey: .votes)
        try container.encodeIfPresent(apiKey, forKey: .apiKey)
        try container.encodeIfPresent(response, forKey: .response)
        try container.encodeIfPresent(onBehalfOf, forKey: .onBehalfOf)
    }
}
