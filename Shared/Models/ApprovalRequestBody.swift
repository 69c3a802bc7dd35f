import Foundation

/// The body of `POST /v1/requests`, as sent. Every field is optional here so that validation can name each
/// missing one; `validate` turns it into a `ValidatedApprovalRequest` or a list of field errors.
public struct ApprovalRequestBody: Codable, Sendable {
    public var requestId: String?
    public var amount: Double?
    public var currency: String?
    public var description: String?
    public var requester: String?
    public var approvers: [String]?
    public var timeoutSeconds: Int?
    public var heartbeatTimeoutSeconds: Int?
    public var onTimeout: TimeoutPolicy?
    public var policy: ApprovalPolicy?
    public var remindAfterSeconds: Int?
    public var escalateAfterSeconds: Int?
    public var escalateTo: [String]?
    public var notify: NotificationChannel?
    /// A heading for the request (the description is its text).
    public var title: String?
    /// Any facts the approver should see, as a JSON object: shown as a table.
    public var details: JSONValue?
    public var links: [RequestLink]?
    /// A JSON object of the requester's own, echoed in the outcome and every lifecycle event.
    public var metadata: JSONValue?
    /// The typed answers a decision gives (a JSON Schema subset; see `ResponseSchema`).
    public var responseSchema: ResponseSchema?
    /// Which decisions must give their reason (`comment`).
    public var requireReason: ReasonRequirement?
    /// An agent's tool call to approve: shown exactly, and bound to the outcome by `actionDigest`.
    public var action: AgentAction?
    /// Where the outcome is POSTed, signed (Standard Webhooks), when the request ends.
    public var callbackUrl: String?
    /// The request's own webhook signing secret (`whsec_<base64>`), instead of the deployment's.
    public var callbackSecret: String?
    /// Also POST each lifecycle event to `callbackUrl`.
    public var callbackLifecycle: Bool?

    public init(
        requestId: String?, amount: Double? = nil, currency: String? = nil, description: String?, requester: String? = nil,
        approvers: [String]? = nil, timeoutSeconds: Int? = nil, heartbeatTimeoutSeconds: Int? = nil,
        onTimeout: TimeoutPolicy? = nil, policy: ApprovalPolicy? = nil, remindAfterSeconds: Int? = nil,
        escalateAfterSeconds: Int? = nil, escalateTo: [String]? = nil, notify: NotificationChannel? = nil,
        title: String? = nil, details: JSONValue? = nil, links: [RequestLink]? = nil, metadata: JSONValue? = nil,
        responseSchema: ResponseSchema? = nil, requireReason: ReasonRequirement? = nil, action: AgentAction? = nil,
        callbackUrl: String? = nil, callbackSecret: String? = nil, callbackLifecycle: Bool? = nil
    ) {
        self.title = title
        self.details = details
        self.links = links
        self.metadata = metadata
        self.responseSchema = responseSchema
        self.requireReason = requireReason
        self.action = action
        self.callbackUrl = callbackUrl
        self.callbackSecret = callbackSecret
        self.callbackLifecycle = callbackLifecycle
        self.notify = notify
        self.policy = policy
        self.remindAfterSeconds = remindAfterSeconds
        self.escalateAfterSeconds = escalateAfterSeconds
        self.escalateTo = escalateTo
        self.requestId = requestId
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.approvers = approvers
        self.timeoutSeconds = timeoutSeconds
        self.heartbeatTimeoutSeconds = heartbeatTimeoutSeconds
        self.onTimeout = onTimeout
    }
}

/// An approval request that passed validation.
public struct ValidatedApprovalRequest: Sendable, Equatable {
    public var requestId: String
    public var amount: Double?
    public var currency: String?
    public var description: String
    public var requester: String?
    public var approvers: [String]
    public var timeoutSeconds: Int
    public var heartbeatTimeoutSeconds: Int?
    public var onTimeout: TimeoutPolicy
    public var policy: ApprovalPolicy
    public var remindAfterSeconds: Int?
    public var escalateAfterSeconds: Int?
    public var escalateTo: [String]
    public var notify: NotificationChannel = .email
    public var content = RequestContent()
    public var callbackUrl: String?
    public var callbackSecret: String?
    public var callbackLifecycle = false

    public func event(eventId: UUID = UUID(), submittedAt: Date) -> ApprovalRequested {
        var event = ApprovalRequested(
            eventId: eventId, requestId: requestId, amount: amount, currency: currency, description: description,
            requester: requester, approvers: approvers, timeoutSeconds: timeoutSeconds,
            heartbeatTimeoutSeconds: heartbeatTimeoutSeconds, onTimeout: onTimeout,
            policy: policy == .any ? nil : policy, remindAfterSeconds: remindAfterSeconds,
            escalateAfterSeconds: escalateAfterSeconds, escalateTo: escalateTo.isEmpty ? nil : escalateTo,
            notify: notify == .email ? nil : notify, submittedAt: submittedAt)
        event.content = content
        event.callbackUrl = callbackUrl
        event.callbackSecret = callbackSecret
        event.callbackLifecycle = callbackLifecycle ? true : nil
        return event
    }
}

/// The limits every approval request must respect.
public enum ApprovalLimits {
    public static let requestIdMaxLength = 128
    public static let descriptionMaxLength = 2000
    public static let maxApprovers = 20
    public static let defaultTimeoutSeconds = 86_400
    /// 30 days.
    public static let maxTimeoutSeconds = 2_592_000
    public static let maxAmount = 1e15
}

extension ApprovalRequestBody {
    /// Checks every field; `defaultApprover` is used when the body names no approvers, `defaultChannel` when it
    /// names no channel.
    public func validate(defaultApprover: String, defaultChannel: NotificationChannel = .email)
        -> Result<ValidatedApprovalRequest, Problem>
    {
        var errors: [Problem.FieldError] = []
        func fail(_ field: String, _ message: String) { errors.append(.init(field: field, message: message)) }
        // Rules between fields (422), which the OpenAPI schema cannot state; single-field rules are 400s.
        var conflicts: [Problem.FieldError] = []
        func conflict(_ field: String, _ message: String) { conflicts.append(.init(field: field, message: message)) }

        let requestId = self.requestId ?? ""
        if self.requestId == nil {
            fail("requestId", "is required")
        } else if requestId.isEmpty || requestId.count > ApprovalLimits.requestIdMaxLength
            || !requestId.unicodeScalars.allSatisfy(Self.isRequestIdCharacter)
        {
            fail(
                "requestId",
                "must be 1 to \(ApprovalLimits.requestIdMaxLength) characters of letters, digits, '.', '_', ':' or '-'"
            )
        }

        if let amount, !amount.isFinite || amount < 0 || amount > ApprovalLimits.maxAmount {
            fail("amount", "must be a finite number from 0 to \(Int(ApprovalLimits.maxAmount))")
        }

        // An amount is in dollars unless it says otherwise; a request without one has a currency only if it names one.
        // Three ASCII letters in either case, checked as sent (upper-casing first let "ıſa" through as "ISA").
        let sentCurrency = self.currency ?? (amount == nil ? nil : "USD")
        let currency = sentCurrency?.uppercased()
        if let letters = sentCurrency?.unicodeScalars,
            letters.count != 3 || !letters.allSatisfy({ $0.isASCII && $0.properties.isAlphabetic })
        {
            fail("currency", "must be a three-letter ISO 4217 code such as USD")
        }

        let description = (self.description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let sentLength = (self.description ?? "").unicodeScalars.count
        if self.description == nil {
            fail("description", "is required")
        } else if description.isEmpty || sentLength > ApprovalLimits.descriptionMaxLength {
            fail("description", "must be 1 to \(ApprovalLimits.descriptionMaxLength) characters, not all blank")
        }

        if let requester, requester.unicodeScalars.count > 200 || requester.contains(where: \.isNewline) {
            fail("requester", "must be at most 200 characters on one line")
        }

        var approvers = self.approvers ?? []
        if self.approvers != nil && approvers.isEmpty {
            fail("approvers", "must name at least one approver, or be left out to use the default approver")
        }
        if approvers.count > ApprovalLimits.maxApprovers {
            fail("approvers", "must name at most \(ApprovalLimits.maxApprovers) approvers")
        }
        for (index, approver) in approvers.enumerated() where !EmailAddress.isValid(approver) {
            fail("approvers[\(index)]", "must be an email address such as a@example.com")
        }
        if self.approvers == nil { approvers = [defaultApprover] }
        var seen = Set<String>()
        approvers = approvers.filter { seen.insert($0.lowercased()).inserted }

        let timeoutSeconds = self.timeoutSeconds ?? ApprovalLimits.defaultTimeoutSeconds
        let maxTimeout = ApprovalLimits.maxTimeoutSeconds
        if !(1...maxTimeout).contains(timeoutSeconds) {
            fail("timeoutSeconds", "must be an integer from 1 to \(maxTimeout) (30 days)")
        }

        // Each bound alone first (a timeout out of range leaves nothing to compare with), then against the timeout.
        if let heartbeat = heartbeatTimeoutSeconds {
            if !(1...maxTimeout).contains(heartbeat) {
                fail("heartbeatTimeoutSeconds", "must be from 1 to \(maxTimeout), and at most timeoutSeconds")
            } else if heartbeat > timeoutSeconds {
                conflict("heartbeatTimeoutSeconds", "must be at most timeoutSeconds (\(timeoutSeconds))")
            }
        }

        if let remind = remindAfterSeconds {
            if !(1..<maxTimeout).contains(remind) {
                fail("remindAfterSeconds", "must be from 1 to \(maxTimeout - 1), and less than timeoutSeconds")
            } else if remind >= timeoutSeconds {
                conflict("remindAfterSeconds", "must be less than timeoutSeconds (\(timeoutSeconds))")
            }
        }
        var escalateTo = self.escalateTo ?? []
        if escalateTo.count > ApprovalLimits.maxApprovers {
            fail("escalateTo", "must name at most \(ApprovalLimits.maxApprovers) addresses")
        }
        for (index, address) in escalateTo.enumerated() where !EmailAddress.isValid(address) {
            fail("escalateTo[\(index)]", "must be an email address such as boss@example.com")
        }
        escalateTo = escalateTo.filter { address in !approvers.contains { $0.lowercased() == address.lowercased() } }
        var seenEscalation = Set<String>()
        escalateTo = escalateTo.filter { seenEscalation.insert($0.lowercased()).inserted }
        if let escalate = escalateAfterSeconds {
            if !(1..<maxTimeout).contains(escalate) {
                fail("escalateAfterSeconds", "must be from 1 to \(maxTimeout - 1), and less than timeoutSeconds")
            } else if escalate >= timeoutSeconds {
                conflict("escalateAfterSeconds", "must be less than timeoutSeconds (\(timeoutSeconds))")
            }
            if escalateTo.isEmpty {
                conflict(
                    "escalateTo", "must name at least one address (not already an approver) when escalateAfterSeconds is set")
            }
        } else if self.escalateTo?.isEmpty == false {
            conflict("escalateAfterSeconds", "is required with escalateTo: when to escalate, in seconds")
        }
        if approvers.count + escalateTo.count > ApprovalLimits.maxApprovers {
            conflict(
                "escalateTo", "approvers and escalateTo together may name at most \(ApprovalLimits.maxApprovers) addresses")
        }

        if case .quorum(let count) = policy {
            if !(1...ApprovalLimits.maxApprovers).contains(count) {
                fail("policy", "quorum must be from 1 to \(ApprovalLimits.maxApprovers), and at most the number of approvers")
            } else if count > approvers.count {
                conflict("policy", "quorum must be from 1 to the number of approvers (\(approvers.count))")
            }
        }

        // A webhook posts to one channel: every link sent there can be used by anyone who reads it, so it can
        // carry only one approver's, or all and quorum would be decided by one reader.
        let channel = notify ?? defaultChannel
        if channel == .webhook, approvers.count + escalateTo.count > 1 {
            let source = notify == nil ? "the default channel (GREENLIGHT_DEFAULT_CHANNEL) is webhook, which" : "webhook"
            conflict(
                "notify",
                "\(source) posts every link to one shared destination, so it can carry one approver only; name a single approver and no escalateTo, or set notify to \"email\"")
        }

        errors += checkContent()
        // A response schema's keywords each valid but not fitting together (a minimum above the maximum, a required
        // field it does not list, a length on a number): refused as the 422 of fields that do not fit.
        if let responseSchema { conflicts += responseSchema.problems() }
        if callbackSecret != nil || callbackLifecycle == true, callbackUrl == nil {
            conflict("callbackUrl", "is required with callbackSecret or callbackLifecycle: where to POST")
        }

        guard errors.isEmpty else { return .failure(.validation(errors + conflicts)) }
        guard conflicts.isEmpty else { return .failure(.inconsistent(conflicts)) }
        let content = RequestContent(
            title: title.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 },
            details: details, links: links.flatMap { $0.isEmpty ? nil : $0 }, metadata: metadata,
            responseSchema: responseSchema, requireReason: requireReason, action: action)
        return .success(
            ValidatedApprovalRequest(
                requestId: requestId, amount: amount, currency: currency, description: description,
                requester: requester.flatMap { $0.isEmpty ? nil : $0 }, approvers: approvers,
                timeoutSeconds: timeoutSeconds, heartbeatTimeoutSeconds: heartbeatTimeoutSeconds,
                onTimeout: onTimeout ?? .reject, policy: policy ?? .any, remindAfterSeconds: remindAfterSeconds,
                escalateAfterSeconds: escalateAfterSeconds, escalateTo: escalateTo, notify: channel, content: content,
                callbackUrl: callbackUrl, callbackSecret: callbackSecret, callbackLifecycle: callbackLifecycle ?? false))
    }

    /// The checks of what a request carries beyond its core fields: sizes, shapes and URLs.
    func checkContent() -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        func fail(_ field: String, _ message: String) { errors.append(.init(field: field, message: message)) }
        if let title, title.unicodeScalars.count > ContentLimits.titleMaxLength || title.contains(where: \.isNewline) {
            fail("title", "must be at most \(ContentLimits.titleMaxLength) characters on one line")
        }
        if let details { errors += ContentLimits.checkObject(details, field: "details", maxBytes: ContentLimits.detailsMaxBytes) }
        if let metadata {
            errors += ContentLimits.checkObject(metadata, field: "metadata", maxBytes: ContentLimits.metadataMaxBytes)
        }
        if let links {
            if links.count > ContentLimits.maxLinks { fail("links", "must list at most \(ContentLimits.maxLinks) links") }
            for (index, link) in links.enumerated() {
                if !Self.isWebURL(link.url) {
                    fail("links[\(index)].url", "must be an http or https URL of at most \(ContentLimits.urlMaxLength) characters")
                }
                if let label = link.label, label.unicodeScalars.count > ContentLimits.labelMaxLength || label.contains(where: \.isNewline) {
                    fail("links[\(index)].label", "must be at most \(ContentLimits.labelMaxLength) characters on one line")
                }
            }
        }
        if let action {
            let tool = action.tool.trimmingCharacters(in: .whitespaces)
            if tool.isEmpty || action.tool.unicodeScalars.count > ContentLimits.toolMaxLength || action.tool.contains(where: \.isNewline) {
                fail("action.tool", "must name the tool in 1 to \(ContentLimits.toolMaxLength) characters on one line")
            }
            errors += ContentLimits.checkObject(action.arguments, field: "action.arguments", maxBytes: ContentLimits.actionMaxBytes)
        }
        if let callbackUrl, !Self.isWebURL(callbackUrl) {
            fail("callbackUrl", "must be an http or https URL of at most \(ContentLimits.urlMaxLength) characters")
        }
        if let callbackSecret, !StandardWebhook.isValidSecret(callbackSecret) {
            fail("callbackSecret", "must be a Standard Webhooks secret: whsec_ followed by base64 of 24 to 64 random bytes")
        }
        return errors
    }

    /// An absolute http or https URL with a host.
    static func isWebURL(_ text: String) -> Bool {
        guard text.unicodeScalars.count <= ContentLimits.urlMaxLength, let url = URLComponents(string: text),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else { return false }
        return true
    }

    static func isRequestIdCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", ":", "-": return true
        default: return false
        }
    }
}

/// A deliberately simple email address check: one `@`, a non-empty local part, a dotted domain, no spaces or
/// angle brackets (the address ends up in SMTP commands and mail headers).
public enum EmailAddress {
    public static func isValid(_ text: String) -> Bool {
        guard text.count <= 254, !text.contains(where: { $0.isWhitespace || "<>\"(),;:\\[]".contains($0) }) else {
            return false
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].count >= 3 else { return false }
        let domain = parts[1]
        return domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".") && !domain.contains("..")
    }
}

/// The answer to an accepted `POST /v1/requests`.
public struct RequestAccepted: Codable, Sendable, Equatable {
    public var message: String
    public var requestId: String
    public var statusUrl: String
    /// True when the message broker was unreachable: the event is stored and is published (and acted on) as soon
    /// as the broker is back. Absent otherwise.
    public var queued: Bool?

    public init(message: String, requestId: String, statusUrl: String, queued: Bool? = nil) {
        self.message = message
        self.requestId = requestId
        self.statusUrl = statusUrl
        self.queued = queued
    }
}

/// The answer to `GET /v1/requests/{requestId}`.
public struct RequestStatusBody: Codable, Sendable, Equatable {
    public var requestId: String
    public var executionId: UUID
    public var status: ApprovalStatus
    public var amount: Double?
    public var currency: String?
    public var description: String
    public var requester: String?
    public var approvers: [String]
    public var submittedAt: Date
    public var expiresAt: Date
    public var decidedBy: String?
    /// The approver whose place `decidedBy` decided in, as their delegate.
    public var onBehalfOf: String?
    public var decidedAt: Date?
    public var channel: DecisionChannel?
    public var comment: String?
    public var completedAt: Date?
    public var errorType: String?
    public var errorMessage: String?
    /// The request's callback ids; shown only to callers with an API key.
    public var callbackIds: [UUID]?
    /// How the approvers' decisions combine; absent for `any`.
    public var policy: ApprovalPolicy?
    /// The approvers' decisions so far, in order.
    public var votes: [ApprovalVote]?
    /// How each notification fared, latest report first per message.
    public var notifications: [NotificationStatus]?
    /// How each outcome webhook fared (the latest report per webhook); nil when there were none.
    public var webhooks: [WebhookStatus]?
    public var title: String?
    public var details: JSONValue?
    public var links: [RequestLink]?
    public var metadata: JSONValue?
    public var responseSchema: ResponseSchema?
    public var requireReason: ReasonRequirement?
    public var action: AgentAction?
    /// The SHA-256 of the action's RFC 8785 canonical JSON (see `AgentAction.digest`).
    public var actionDigest: String?
    /// The answers of the decision that settled the request (`responseSchema`).
    public var response: JSONValue?

    /// What the request carries beyond its core fields.
    public var content: RequestContent {
        get {
            var content = RequestContent(
                title: title, details: details, links: links, metadata: metadata, responseSchema: responseSchema,
                requireReason: requireReason, action: action)
            content.actionDigest = actionDigest
            return content
        }
        set {
            title = newValue.title
            details = newValue.details
            links = newValue.links
            metadata = newValue.metadata
            responseSchema = newValue.responseSchema
            requireReason = newValue.requireReason
            action = newValue.action
            actionDigest = newValue.actionDigest
        }
    }

    public init(
        requestId: String, executionId: UUID, status: ApprovalStatus, amount: Double?, currency: String?,
        description: String, requester: String?, approvers: [String], submittedAt: Date, expiresAt: Date,
        decidedBy: String?, decidedAt: Date?, channel: DecisionChannel?, comment: String?, completedAt: Date?,
        errorType: String? = nil, errorMessage: String? = nil, callbackIds: [UUID]? = nil, policy: ApprovalPolicy? = nil,
        votes: [ApprovalVote]? = nil
    ) {
        self.policy = policy
        self.votes = votes
        self.requestId = requestId
        self.executionId = executionId
        self.status = status
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.approvers = approvers
        self.submittedAt = submittedAt
        self.expiresAt = expiresAt
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.channel = channel
        self.comment = comment
        self.completedAt = completedAt
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.callbackIds = callbackIds
    }
}

/// One notification's delivery, as the status shows it.
public struct NotificationStatus: Codable, Sendable, Equatable {
    public var approver: String
    public var kind: NotificationKind
    public var result: NotificationDelivery.Result
    public var attempts: Int
    public var error: String?
    public var at: Date

    public init(
        approver: String, kind: NotificationKind, result: NotificationDelivery.Result, attempts: Int, error: String?, at: Date
    ) {
        self.approver = approver
        self.kind = kind
        self.result = result
        self.attempts = attempts
        self.error = error
        self.at = at
    }
}

/// The optional body of `POST /v1/requests/{requestId}/resend`.
public struct ResendRequestBody: Codable, Sendable, Equatable {
    /// One approver; absent for every approver who has not decided.
    public var approver: String?

    public init(approver: String?) {
        self.approver = approver
    }
}

/// The answer to `GET /v1/requests?status=pending`: oldest first.
public struct RequestListBody: Codable, Sendable, Equatable {
    public var requests: [RequestStatusBody]

    public init(requests: [RequestStatusBody]) {
        self.requests = requests
    }
}

/// The body of `POST /v1/requests/{requestId}/decision`: a decision made by someone with an API key (an
/// operator, another program), recorded with the name given in `decidedBy`.
public struct DecisionRequestBody: Codable, Sendable, Equatable {
    public var decision: Decision
    public var decidedBy: String
    /// The reason: required when the request's `requireReason` says so.
    public var comment: String?
    /// The answers the request's `responseSchema` asks for.
    public var response: JSONValue?

    public init(decision: Decision, decidedBy: String, comment: String?, response: JSONValue? = nil) {
        self.response = response
        self.decision = decision
        self.decidedBy = decidedBy
        self.comment = comment
    }
}

/// The optional body of `POST /v1/requests/{requestId}/cancel`.
public struct CancelRequestBody: Codable, Sendable, Equatable {
    public var reason: String?

    public init(reason: String?) {
        self.reason = reason
    }
}
