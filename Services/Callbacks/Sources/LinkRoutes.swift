import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import Metrics
import Postgres
import ServiceSupport
import Templates

/// What the pages show about a token and its request.
typealias TokenView = LinkTokenRecord

/// Where the receiver looks tokens up (by hash).
public protocol LinkTokenReading: Sendable {
    func linkToken(hash: String) async throws -> LinkTokenRecord?
    /// What the orchestrator made of a decision event; nil until it has taken it.
    func verdict(requestId: String, eventId: UUID) async throws -> DecisionVerdict?
}

extension ApprovalReader: LinkTokenReading {}

/// `GET /approve/{token}`, `GET /reject/{token}` and `GET /r/{token}` show a review page and change nothing (mail
/// scanners fetch links); the page's form POSTs to `/approve/{token}` or `/reject/{token}`, which publishes the
/// decision. Every token route is rate-limited per client address.
public struct LinkRoutes: Sendable {
    let tokens: any LinkTokenReading
    let publisher: any EventPublishing
    /// The origin the pages are served from (`GREENLIGHT_PUBLIC_URL`'s scheme, host and port): a POST from any
    /// other origin is refused.
    let publicOrigin: String
    let limiter: RateLimiter?
    let trustForwardedFor: Bool
    /// How long a click waits for the orchestrator's verdict before the page says the decision was received and
    /// its result is not known yet.
    let verdictWait: Duration
    /// Notifications of verdicts and outcomes (`VerdictChannel`, `OutcomeChannel`), by request id: a waiting page
    /// looks as soon as one is recorded. Without it (or while it is not listening) a page looks from time to time.
    let verdicts: PostgresListener?
    /// How often a page with notifications looks all the same, should one be lost with the listener's connection.
    let verdictLookInterval: Duration
    let pages: Pages

    public init(
        tokens: any LinkTokenReading, publisher: any EventPublishing, publicURL: String, templates: TemplateLibrary,
        limiter: RateLimiter? = nil, trustForwardedFor: Bool = false, verdictWait: Duration = .seconds(2),
        verdicts: PostgresListener? = nil, verdictLookInterval: Duration = .milliseconds(500)
    ) {
        self.verdictWait = verdictWait
        self.verdicts = verdicts
        self.verdictLookInterval = verdictLookInterval
        pages = Pages(templates: templates)
        self.tokens = tokens
        self.publisher = publisher
        publicOrigin = Self.origin(of: publicURL) ?? publicURL
        self.limiter = limiter
        self.trustForwardedFor = trustForwardedFor
    }

    public func register(on router: Router<GreenlightRequestContext>) {
        let links = router.group().add(middleware: RateLimitMiddleware(routes: self))
        for decision in Decision.allCases {
            let path = RouterPath("\(decision.rawValue)/:token")
            links.get(path) { request, context in
                try await review(decision, token: context.parameters.require("token"), context: context)
            }
            links.post(path) { request, context in
                try await submit(decision, token: context.parameters.require("token"), request: request, context: context)
            }
        }
        links.get("r/:token") { request, context in
            try await review(nil, token: context.parameters.require("token"), context: context)
        }
    }

    /// `scheme://host[:port]` of a URL, lowercased, as browsers write it in `Origin`.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased()
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        return components.port.map { $0 == defaultPort ? "\(scheme)://\(host)" : "\(scheme)://\(host):\($0)" }
            ?? "\(scheme)://\(host)"
    }

    /// Whether a POST comes from our own review page. Pages are served with `Referrer-Policy: no-referrer`,
    /// under which browsers send `Origin: null` and no `Referer` even for the page's own form, and any other
    /// page can make its browser send `null` too; so `Sec-Fetch-Site`, which browsers set whatever the referrer
    /// policy, decides when it is there: only `same-origin` passes. Without it (an older browser, a program),
    /// a named `Origin` or `Referer` must be ours, `Origin: null` is refused, and a request that names neither
    /// is let through (no browser sends a cross-site POST without saying where it comes from). The form's
    /// token-bound `confirm` field has to match either way.
    func isSameOrigin(_ request: Request) -> Bool {
        Self.isSameOrigin(request, publicOrigin: publicOrigin)
    }

    /// The same, for any page served from `publicOrigin` (the inbox's forms too).
    static func isSameOrigin(_ request: Request, publicOrigin: String) -> Bool {
        let origin = request.headers[.origin]
        if let origin, origin != "null", origin.lowercased() != publicOrigin { return false }
        if let site = request.headers[.secFetchSite] { return site.lowercased() == "same-origin" }
        if origin == "null" { return false }
        if origin == nil, let referer = request.headers[.referer] {
            return Self.origin(of: referer) == publicOrigin
        }
        return true
    }

    private enum Lookup {
        case usable(LinkTokenRecord)
        case page(Response)
    }

    /// Finds the token and checks it may still decide; otherwise the page that says why not.
    private func lookUp(_ token: String, context: GreenlightRequestContext) async -> Lookup {
        guard LinkToken.isWellFormed(token) else { return .page(Pages.response(pages.unknown, status: .notFound)) }
        let record: LinkTokenRecord?
        let tokens = self.tokens
        do {
            // Bounded, like every answer: a database that hangs gets the approver a page that says so.
            record = try await withDeadline(AnswerBudget.read, "Looking up the link") {
                try await tokens.linkToken(hash: LinkToken.hash(token))
            }
        } catch {
            context.logger.error("Token look-up failed", metadata: ["error": "\(error)"])
            return .page(Pages.response(pages.unavailable, status: .serviceUnavailable, extra: [.retryAfter: "30"]))
        }
        guard let record else { return .page(Pages.response(pages.unknown, status: .notFound)) }
        switch record.unusable {
        case .expired?: return .page(Pages.response(pages.expired(record), status: .gone))
        case .alreadyDecided?: return .page(Pages.response(pages.alreadyDecided(record), status: .conflict))
        case nil: return .usable(record)
        }
    }

    /// The review page: for one decision (`/approve`, `/reject`), or both (`/r`, decision nil).
    func review(_ decision: Decision?, token: String, context: GreenlightRequestContext) async throws -> Response {
        switch await lookUp(token, context: context) {
        case .page(let response): return response
        case .usable(let record):
            return Pages.response(pages.review(decision, token: record, plainToken: token), status: .ok)
        }
    }

    func submit(_ decision: Decision, token: String, request: Request, context: GreenlightRequestContext) async throws
        -> Response
    {
        guard isSameOrigin(request) else {
            context.logger.notice(
                "Cross-site decision form refused",
                metadata: [
                    "origin": "\(request.headers[.origin] ?? "")", "secFetchSite": "\(request.headers[.secFetchSite] ?? "")",
                    "referer": "\(request.headers[.referer].flatMap(Self.origin(of:)) ?? "")",
                ])
            return Pages.response(pages.formRefused, status: .forbidden)
        }
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024)
        // What publishing reads first (the outbox) is read beside the link, for the decisions topic (the request is
        // not known before the link is): one round trip's wait, not two, unless decisions wait in the outbox (a
        // broker outage), when the key is looked up as the decision is published.
        let plan = publisher.planAhead(DecisionSubmitted.self, key: nil)
        // The link first: an unknown, spent or expired one gets its own page whatever the form says.
        let record: LinkTokenRecord
        switch await lookUp(token, context: context) {
        case .page(let response): return response
        case .usable(let found): record = found
        }
        // A form that does not decode (a field missing or given twice, bad percent-encoding) is refused like one
        // for the other decision or without the token's proof: the page says to use the link's own button.
        let text = String(buffer: body)
        guard let form = try? URLEncodedFormDecoder().decode(DecisionForm.self, from: text),
            let entered = try? URLEncodedFormDecoder().decode([String: String].self, from: text),
            form.decision == decision.rawValue, form.confirm == LinkToken.formProof(for: token)
        else {
            return Pages.response(pages.formRefused, status: .badRequest)
        }
        let comment = form.comment.map { String($0.prefix(1000)) }.flatMap { $0.isEmpty ? nil : $0 }
        // The request's rules (its reason rule and typed answers) are checked here so the approver can put the form
        // right; the orchestrator checks them again, as it does for every decision.
        let (response, problems) = record.content.answers(to: decision, comment: comment, form: entered)
        if !problems.isEmpty {
            let sentences = problems.map { Pages.sentence($0, content: record.content) }
            let page = pages.review(decision, token: record, plainToken: token, errors: sentences, entered: entered)
            return Pages.response(page, status: .unprocessableContent)
        }
        let event = DecisionSubmitted(
            requestId: record.requestId, decision: decision, decidedBy: record.approver, channel: .link,
            comment: comment, decidedAt: record.readAt, tokenHash: record.tokenHash,
            clientAddress: context.clientAddress(of: request, trustForwardedFor: trustForwardedFor),
            userAgent: request.headers[.userAgent].map { String($0.prefix(300)) }, response: response)
        let publishing = await plan.value
        // The click joins the trace of the request it decides, so the request's whole path is one trace: the
        // decision is published in a span whose parent is the one that started the request's workflow (the
        // click's own HTTP span, with no trace from the browser, starts a trace of its own).
        return await inSpan("decide by link", continuing: record.trace ?? request.trace) { trace in
            // Listening before the decision is out, so that its verdict cannot be notified before anyone listens.
            await withVerdictWakeUps(for: record.requestId) { wakeUps in
                let publication: Publication
                do {
                    publication = try await publisher.publish(event, trace: trace, plan: publishing)
                } catch {
                    context.logger.error(
                        "Could not publish DecisionSubmitted", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
                    return Pages.response(pages.unavailable, status: .serviceUnavailable, extra: [.retryAfter: "30"])
                }
                context.logger.info(
                    "Decision submitted by link",
                    metadata: [
                        "requestId": "\(record.requestId)", "eventId": "\(event.eventId)", "decision": "\(decision.rawValue)",
                        "queued": "\(publication == .queued)",
                    ])
                if publication == .queued {
                    let emailed = await askForReceipt(of: event, approver: record.approver, channel: record.channel, trace: trace, context: context)
                    return Pages.response(pages.received(decision, token: record, stored: true, emailed: emailed), status: .accepted)
                }
                return await outcomePage(of: event, token: record, wakeUps: wakeUps, trace: trace, context: context)
            }
        }
    }
}

extension LinkRoutes {
    /// The page for a click once its decision is with the broker: what the orchestrator made of it, waited for up
    /// to `verdictWait`. Never more than happened — a vote is a vote, a click that lost a race is told who won,
    /// and a verdict still to come is said to be still to come.
    func outcomePage(
        of event: DecisionSubmitted, token record: LinkTokenRecord, wakeUps: PostgresSubscription?, trace: TraceContext,
        context: GreenlightRequestContext
    ) async -> Response {
        let deadline = ContinuousClock.now + verdictWait
        let tokens = self.tokens
        /// Whether the request's state has yet to catch up with the verdict: no verdict yet, or one that settled
        /// (or found settled) a request whose outcome is not written yet.
        func unsettled(_ verdict: DecisionVerdict?) -> Bool {
            verdict?.awaitsRequestState ?? true
        }
        var verdict: DecisionVerdict?
        var wakeUps = wakeUps
        // Without notifications: soon at first (a verdict usually takes a few tens of milliseconds), then less often,
        // so that a slow orchestrator is not made slower by the clicks waiting on it.
        var pause = Duration.milliseconds(50)
        // A wait of zero asks for no verdict at all: every click is answered "received" and emailed its result.
        // Each look comes after a wake-up or a pause (nothing can be there the instant the decision is published).
        while verdictWait > .zero, unsettled(verdict), ContinuousClock.now < deadline, !Task.isCancelled {
            let left = deadline - ContinuousClock.now
            if let subscription = wakeUps {
                // When the verdict or the outcome is recorded (or another click on the request is), and every
                // `verdictLookInterval` all the same.
                if await subscription.next(timeout: min(left, verdictLookInterval)) == .closed {
                    wakeUps = nil
                    continue
                }
            } else {
                try? await Task.sleep(for: min(pause, left))
                pause = min(pause * 2, .milliseconds(400))
            }
            do {
                // Within what is left of the wait (a database that hangs does not hold the page past it).
                let left = max(deadline - ContinuousClock.now, .milliseconds(200))
                verdict = try await withDeadline(min(left, AnswerBudget.read), "Reading the decision's verdict") {
                    try await tokens.verdict(requestId: event.requestId, eventId: event.eventId)
                }
            } catch {
                context.logger.warning("Verdict look-up failed", metadata: ["requestId": "\(event.requestId)", "error": "\(error)"])
            }
        }
        guard let verdict else {
            let emailed = await askForReceipt(of: event, approver: record.approver, channel: record.channel, trace: trace, context: context)
            return Pages.response(
                pages.received(event.decision, token: record, stored: false, emailed: emailed), status: .accepted)
        }
        var after = record
        after.status = verdict.status
        after.decidedBy = verdict.decidedBy
        after.decidedAt = verdict.decidedAt
        if verdict.accepted {
            if let tally = verdict.tally {
                return Pages.response(pages.voteRecorded(event.decision, token: after, tally: tally), status: .ok)
            }
            switch verdict.status {
            case .approved: return Pages.response(pages.decided(.approve, token: after), status: .ok)
            case .rejected: return Pages.response(pages.decided(.reject, token: after), status: .ok)
            default:
                let emailed = await askForReceipt(of: event, approver: record.approver, channel: record.channel, trace: trace, context: context)
                return Pages.response(
                    pages.received(event.decision, token: after, stored: false, emailed: emailed), status: .accepted)
            }
        }
        let reason = verdict.reason ?? "it was not applied"
        if verdict.isFourEyesRefusal { return Pages.response(pages.fourEyes(after), status: .forbidden) }
        if verdict.status != .pending || verdict.cameTooLate || reason.contains("already used") {
            return Pages.response(pages.alreadyDecided(after), status: .conflict)
        }
        return Pages.response(pages.notApplied(after, reason: reason), status: .conflict)
    }

    /// Runs `body` with a subscription to the request's verdicts and outcome, or with none when there is no listener,
    /// it is not listening now, the page waits for no verdict, or too many pages are waiting already (then the page
    /// looks from time to time instead).
    func withVerdictWakeUps(for requestId: String, _ body: (PostgresSubscription?) async -> Response) async -> Response {
        guard let verdicts, verdictWait > .zero, verdicts.isListening else { return await body(nil) }
        do {
            return try await verdicts.withSubscription(to: requestId) { await body($0) }
        } catch {
            return await body(nil)
        }
    }

    /// Asks the orchestrator to email the approver what became of their decision (the page cannot say yet);
    /// whether the ask is with the broker or stored for it — only then does the page promise an email.
    func askForReceipt(
        of event: DecisionSubmitted, approver: String, channel: NotificationChannel, trace: TraceContext,
        context: GreenlightRequestContext
    ) async -> Bool {
        // A webhook request's links went to a shared destination: there is no one address to tell.
        guard channel == .email else { return false }
        let ask = DecisionReceiptRequested(
            requestId: event.requestId, decisionEventId: event.eventId, approver: approver, decision: event.decision,
            requestedAt: event.decidedAt)
        do {
            _ = try await publisher.publish(ask, trace: trace)
            return true
        } catch {
            context.logger.warning(
                "Could not ask for the decision's receipt", metadata: ["requestId": "\(event.requestId)", "error": "\(error)"])
            return false
        }
    }
}

/// Answers 429 (with `Retry-After`) to a client address that has used up its token requests.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = GreenlightRequestContext
    let routes: LinkRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let limiter = routes.limiter else { return try await next(request, context) }
        let client = context.clientAddress(of: request, trustForwardedFor: routes.trustForwardedFor) ?? "unknown"
        if let wait = limiter.acquire(client) {
            context.logger.notice("Link requests rate-limited", metadata: ["client": "\(client)", "retryAfter": "\(wait)"])
            Counter(label: "greenlight_rate_limited_total", dimensions: [("limit", "link")]).increment()
            return Pages.response(routes.pages.tooManyRequests(retryAfter: wait), status: .tooManyRequests, extra: [.retryAfter: "\(wait)"])
        }
        return try await next(request, context)
    }
}

/// The fields the review page's form posts (`application/x-www-form-urlencoded`).
struct DecisionForm: Decodable {
    var decision: String
    /// Bound to the token (`LinkToken.formProof`): a form not made by the link's own page lacks it.
    var confirm: String
    var comment: String?
}
