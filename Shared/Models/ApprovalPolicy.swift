import Foundation

/// How the approvers' decisions combine (per request). JSON: `"any"`, `"all"` or `{"quorum": N}`.
public enum ApprovalPolicy: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The first decision decides, either way (the default).
    case any
    /// Every approver must approve; any rejection rejects.
    case all
    /// N approvals approve; the request is rejected as soon as N can no longer be reached.
    case quorum(Int)

    /// Approvals needed out of `approvers`; nil for `any`, where the first decision decides.
    public func approvalsNeeded(of approvers: Int) -> Int? {
        switch self {
        case .any: return nil
        case .all: return approvers
        case .quorum(let count): return count
        }
    }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            switch text {
            case "any": self = .any
            case "all": self = .all
            default:
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "must be \"any\", \"all\" or {\"quorum\": N}"))
            }
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self = .quorum(try container.decode(Int.self, forKey: .quorum))
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .any:
            var container = encoder.singleValueContainer()
            try container.encode("any")
        case .all:
            var container = encoder.singleValueContainer()
            try container.encode("all")
        case .quorum(let count):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(count, forKey: .quorum)
        }
    }

    enum CodingKeys: String, CodingKey {
        case quorum
    }

    /// `any`, `all`, `quorum:2`: how the policy is stored.
    public var description: String {
        switch self {
        case .any: return "any"
        case .all: return "all"
        case .quorum(let count): return "quorum:\(count)"
        }
    }

    /// Reads `description`'s form back.
    public init?(storedAs text: String) {
        switch text {
        case "any": self = .any
        case "all": self = .all
        default:
            guard text.hasPrefix("quorum:"), let count = Int(text.dropFirst("quorum:".count)) else { return nil }
            self = .quorum(count)
        }
    }
}

/// One approver's decision, as the audit trail keeps it (one per approver's place: a delegate's vote fills the place of
/// the approver it is `onBehalfOf`): who (the approver the link was issued to, or the name
/// given through the API or Kafka), what, when, how, and with what comment; for link decisions, from which
/// client address and user agent.
public struct ApprovalVote: Codable, Sendable, Equatable {
    public var approver: String
    public var decision: Decision
    public var channel: DecisionChannel
    public var comment: String?
    public var decidedAt: Date
    public var clientAddress: String?
    public var userAgent: String?
    /// The name of the API key the vote came through, for votes made through a program API.
    public var apiKey: String?
    /// The vote's answers (the request's `responseSchema`).
    public var response: JSONValue?
    /// The approver whose place `approver` decided in, as their delegate ("B on behalf of A"); nil: their own.
    public var onBehalfOf: String?

    public init(
        approver: String, decision: Decision, channel: DecisionChannel, comment: String?, decidedAt: Date,
        clientAddress: String? = nil, userAgent: String? = nil, apiKey: String? = nil, response: JSONValue? = nil,
        onBehalfOf: String? = nil
    ) {
        self.onBehalfOf = onBehalfOf
        self.response = response
        self.apiKey = apiKey
        self.approver = approver
        self.decision = decision
        self.channel = channel
        self.comment = comment
        self.decidedAt = decidedAt
        self.clientAddress = clientAddress
        self.userAgent = userAgent
    }
}

/// Where a set of votes stands under a policy.
public enum PolicyTally: Sendable, Equatable {
    case approved
    case rejected
    /// Still waiting: `approvals` of `needed` so far.
    case waiting(approvals: Int, needed: Int)

    /// `approvers` is how many may vote; `votes` are theirs, one each.
    public init(policy: ApprovalPolicy, approvers: Int, votes: [ApprovalVote]) {
        let approvals = votes.filter { $0.decision == .approve }.count
        let rejections = votes.count - approvals
        guard let needed = policy.approvalsNeeded(of: approvers) else {
            self = votes.first.map { $0.decision == .approve ? .approved : .rejected } ?? .waiting(approvals: 0, needed: 1)
            return
        }
        if approvals >= needed {
            self = .approved
        } else if approvers - rejections < needed {
            self = .rejected
        } else {
            self = .waiting(approvals: approvals, needed: needed)
        }
    }
}
