import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import Metrics
import ServiceSupport
import Templates

/// The approver inbox on the callback receiver's public side: sign-in by emailed link (`/inbox/sign-in`), the list
/// of what waits on the signed-in person (`/inbox`), one request's decision forms (`/inbox/requests/{id}`), and
/// deciding several at once (`/inbox/bulk`). Every decision is the person's own vote, published as
/// `DecisionSubmitted` on the `inbox` channel; the orchestrator counts it only from an approver of the request.
/// Out of office: `/inbox/delegation`, where the person sets or clears their own delegate.
public struct PortalRoutes: Sendable {
    let sessions: PortalSessions
    let reader: ApprovalReader
    let publisher: any EventPublishing
    let settings: PortalSettings
    let pages: PortalPages
    let linkPages: Pages
    /// Sign-in requests per client address, and sign-in emails per address asked for.
    let addressLimiter: RateLimiter?
    let emailLimiter: RateLimiter?
    let trustForwardedFor: Bool
    /// How long the page after a decision waits for the orchestrator's verdicts.
    let verdictWait: Duration

    public init(
        sessions: PortalSessions, reader: ApprovalReader, publisher: any EventPublishing, templates: TemplateLibrary,
        trustForwardedFor: Bool = false, verdictWait: Duration = .seconds(2)
    ) {
        self.sessions = sessions
        self.reader = reader
        self.publisher = publisher
        settings = sessions.settings
        pages = PortalPages(templates: templates)
        linkPages = Pages(templates: templates)
        addressLimiter = settings.signInRateLimit > 0 ? RateLimiter(perMinute: settings.signInRateLimit) : nil
        emailLimiter =
            settings.signInEmailRateLimit > 0 ? RateLimiter(settings.signInEmailRateLimit, per: .seconds(3600)) : nil
        self.trustForwardedFor = trustForwardedFor
        self.verdictWait = verdictWait
    }

    public func register(on router: Router<GreenlightRequestContext>) {
        guard settings.linkSecret != nil else {
            for path in ["inbox", "inbox/sign-in"] {
                router.get(RouterPath(path)) { _, _ in PortalPages.page(pages.disabled, status: .notFound) }
            }
            return
        }
        router.get("inbox/sign-in") { _, _ in PortalPages.page(pages.signIn(), status: .ok) }
        router.post("inbox/sign-in") { request, context in try await requestLink(request, context: context) }
        router.get("inbox/sign-in/:token") { _, context in
            try await showLink(context.parameters.require("token"), context: context)
        }
        router.post("inbox/sign-in/:token") { request, context in
            try await useLink(context.parameters.require("token"), request: request, context: context)
        }
        router.post("inbox/sign-out") { request, context in try await signOut(request, context: context) }
        router.get("inbox") { request, context in try await list(request, context: context) }
        router.get("inbox/requests/:id") { request, context in
            try await showRequest(context.parameters.require("id"), request: request, context: context)
        }
        router.post("inbox/requests/:id") { request, context in
            try await decideOne(context.parameters.require("id"), request: request, context: context)
        }
        router.post("inbox/bulk") { request, context in try await decideMany(request, context: context) }
        registerDelegation(on: router)
    }

    // MARK: - Shared by the pages

    /// The signed-in person, or the answer for someone who is not: a redirect to sign-in, or the "unavailable" page
    /// when the session could not be looked up (a database outage does not sign anyone out).
    enum SignedIn {
        case session(PortalSession, cookie: Cookie?)
        case page(Response)

        /// The answer to give instead of the page asked for.
        var answer: Response {
            if case .page(let page) = self { return page }
            return PortalPages.redirect(to: "/inbox")
        }
    }

    /// A signed-in POST: the person and their form once it passes the same-origin and CSRF checks; otherwise the
    /// answer to give (sign-in, unavailable, or the 403 page).
    enum SignedInForm {
        case form(FormFields, session: PortalSession, cookie: Cookie?)
        case page(Response)

        /// The answer to give instead of the page asked for.
        var answer: Response {
            if case .page(let page) = self { return page }
            return PortalPages.redirect(to: "/inbox")
        }
    }

    func signedInForm(_ request: Request, context: GreenlightRequestContext) async throws -> SignedInForm {
        let visitor = await signedIn(request, context: context)
        guard case .session(let session, let cookie) = visitor else { return .page(visitor.answer) }
        switch try await genuineForm(request, session: session, context: context) {
        case .failure(let refused): return .page(refused.response)
        case .success(let form): return .form(form, session: session, cookie: cookie)
        }
    }

    func signedIn(_ request: Request, context: GreenlightRequestContext) async -> SignedIn {
        do {
            let sessions = self.sessions
            let found = try await withDeadline(AnswerBudget.read, "Looking up the session") { try await sessions.resume(request) }
            guard let found else {
                let signIn = "/inbox/sign-in"
                return .page(PortalPages.redirect(to: signIn))
            }
            return .session(found.session, cookie: found.cookie)
        } catch {
            context.logger.error("Session look-up failed", metadata: ["error": "\(error)"])
            return .page(unavailable)
        }
    }

    var unavailable: Response {
        PortalPages.page(linkPages.unavailable, status: .serviceUnavailable, extra: [.retryAfter: "30"])
    }

    /// A signed-in POST's form: its fields once it passes the same-origin and CSRF checks, otherwise the 403 page.
    private func genuineForm(_ request: Request, session: PortalSession, context: GreenlightRequestContext) async throws
        -> Result<FormFields, RefusedForm>
    {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        guard let form = FormFields(String(buffer: body)),
            sessions.isGenuineForm(request, csrf: form.value("csrf"), session: session)
        else {
            context.logger.notice(
                "Inbox form refused (not from our page, or without the session's CSRF token)",
                metadata: ["secFetchSite": "\(request.headers[.secFetchSite] ?? "")"])
            return .failure(RefusedForm(response: PortalPages.page(pages.formRefused, status: .forbidden)))
        }
        return .success(form)
    }

    struct RefusedForm: Error {
        var response: Response
    }

    func clientAddress(_ request: Request, _ context: GreenlightRequestContext) -> String? {
        context.clientAddress(of: request, trustForwardedFor: trustForwardedFor)
    }
}

/// A form's fields as posted (`application/x-www-form-urlencoded`), in order; a name may repeat (the bulk form's
/// `id`). Nil when the body is not such a form.
struct FormFields: Sendable {
    var pairs: [(name: String, value: String)]

    init?(_ body: String) {
        var pairs: [(String, String)] = []
        for part in body.split(separator: "&", omittingEmptySubsequences: true) {
            let halves = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(halves[0]), let value = Self.decode(halves.count > 1 ? halves[1] : "") else {
                return nil
            }
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The field's value; nil when it is absent or given more than once.
    func value(_ name: String) -> String? {
        let values = pairs.filter { $0.name == name }
        return values.count == 1 ? values[0].value : nil
    }

    func values(_ name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// Every field given once, by name (what `ResponseSchema.answers(fromForm:)` reads).
    var single: [String: String] {
        var counts: [String: Int] = [:]
        for pair in pairs { counts[pair.name, default: 0] += 1 }
        return Dictionary(pairs.filter { counts[$0.name] == 1 }, uniquingKeysWith: { first, _ in first })
    }
}
