import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import Metrics
import ServiceSupport

extension PortalRoutes {
    /// `POST /inbox/sign-in`: emails a sign-in link to the address, if it belongs to someone with requests waiting (or
    /// an admin), and answers the same "check your email" page whatever the address — the page tells nobody who
    /// has an account. Limited per client address (429) and per address asked for (the page, no email).
    func requestLink(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let client = clientAddress(request, context) ?? "unknown"
        if let wait = addressLimiter?.acquire(client) {
            context.logger.notice("Sign-in requests rate-limited", metadata: ["client": "\(client)", "retryAfter": "\(wait)"])
            Counter(label: "greenlight_rate_limited_total", dimensions: [("limit", "sign-in")]).increment()
            return PortalPages.page(
                linkPages.tooManyRequests(retryAfter: wait), status: .tooManyRequests, extra: [.retryAfter: "\(wait)"])
        }
        guard LinkRoutes.isSameOrigin(request, publicOrigin: sessions.publicOrigin) else {
            return PortalPages.page(pages.formRefused, status: .forbidden)
        }
        var request = request
        let body = try await request.collectBody(upTo: 4 * 1024)
        let email = FormFields(String(buffer: body))?.value("email")?.trimmingCharacters(in: .whitespaces) ?? ""
        guard EmailAddress.isValid(email) else {
            return PortalPages.page(pages.signIn(notice: "Enter an email address such as name@example.com.", email: email), status: .badRequest)
        }
        let checkEmail = PortalPages.page(pages.checkEmail(email, minutes: settings.signInLinkTTL / 60), status: .ok)
        if emailLimiter?.acquire(email.lowercased()) != nil {
            context.logger.notice("Sign-in emails to one address rate-limited; none sent")
            Counter(label: "greenlight_rate_limited_total", dimensions: [("limit", "sign-in-email")]).increment()
            return checkEmail
        }
        do {
            try await sendLink(to: email, trace: request.trace, context: context)
        } catch {
            context.logger.error("Could not send a sign-in link", metadata: ["error": "\(error)"])
            return unavailable
        }
        return checkEmail
    }

    /// Stores a new link's hash and asks the notifier to email the link (the event carries its nonce, never the
    /// token), when the address is someone's the inbox serves.
    func sendLink(to email: String, trace: TraceContext, context: GreenlightRequestContext) async throws {
        guard let secret = settings.linkSecret else { return }
        let (reader, store) = (self.reader, sessions.store)
        let known = try await withDeadline(AnswerBudget.read, "Looking up the address") {
            try await reader.hasPendingRequests(approver: email)
        }
        guard known || sessions.isAdmin(email) else {
            context.logger.info("Sign-in asked for an address with nothing waiting; no link sent")
            return
        }
        let nonce = LinkToken.newNonce()
        let token = SignInToken.derive(secret: secret, nonce: nonce)
        let ttl = settings.signInLinkTTL
        let stored = try await withDeadline(AnswerBudget.read, "Storing the sign-in link") {
            try await store.createLink(hash: LinkToken.hash(token), email: email, ttl: ttl)
        }
        let event = SignInLinkRequested(
            email: email, tokenNonce: nonce, linkKey: secret.id, requestedAt: stored.now, expiresAt: stored.expiresAt)
        try await publisher.publish(event, trace: trace)
        context.logger.info("Sign-in link requested", metadata: ["eventId": "\(event.eventId)"])
        // Old links and sessions go now and then, with no service of their own to do it.
        try? await store.prune()
    }

    /// `GET /inbox/sign-in/{token}`: the link's page, with a button; it changes nothing (mail scanners open links).
    func showLink(_ token: String, context: GreenlightRequestContext) async throws -> Response {
        guard SignInToken.isWellFormed(token) else { return PortalPages.page(pages.linkSpent, status: .notFound) }
        let store = sessions.store
        let usable: Bool?
        do {
            usable = try await withDeadline(AnswerBudget.read, "Looking up the sign-in link") {
                try await store.linkIsUsable(hash: LinkToken.hash(token))
            }
        } catch {
            context.logger.error("Sign-in link look-up failed", metadata: ["error": "\(error)"])
            return unavailable
        }
        guard let usable else { return PortalPages.page(pages.linkSpent, status: .notFound) }
        guard usable else { return PortalPages.page(pages.linkSpent, status: .gone) }
        return PortalPages.page(pages.confirm(token: token), status: .ok)
    }

    /// `POST /inbox/sign-in/{token}`: uses the link up (once, before it expires) and starts a new session — never the
    /// one a cookie sent with this request named — then goes to the inbox.
    func useLink(_ token: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let client = clientAddress(request, context) ?? "unknown"
        if let wait = addressLimiter?.acquire(client) {
            return PortalPages.page(
                linkPages.tooManyRequests(retryAfter: wait), status: .tooManyRequests, extra: [.retryAfter: "\(wait)"])
        }
        guard LinkRoutes.isSameOrigin(request, publicOrigin: sessions.publicOrigin) else {
            return PortalPages.page(pages.formRefused, status: .forbidden)
        }
        guard SignInToken.isWellFormed(token) else { return PortalPages.page(pages.linkSpent, status: .notFound) }
        let sessions = self.sessions
        do {
            let email = try await withDeadline(AnswerBudget.read, "Using the sign-in link") {
                try await sessions.store.consumeLink(hash: LinkToken.hash(token))
            }
            guard let email else { return PortalPages.page(pages.linkSpent, status: .gone) }
            let cookie = try await withDeadline(AnswerBudget.read, "Starting the session") {
                try await sessions.start(for: email, replacing: request)
            }
            context.logger.info("Signed in to the inbox by emailed link")
            Counter(label: "greenlight_inbox_sign_ins_total").increment()
            return PortalPages.redirect(to: "/inbox", cookie: cookie)
        } catch {
            context.logger.error("Sign-in failed", metadata: ["error": "\(error)"])
            return unavailable
        }
    }

    /// `POST /inbox/sign-out`: ends the session (with its CSRF token, like every signed-in form).
    func signOut(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let posted = try await signedInForm(request, context: context)
        guard case .form = posted else { return posted.answer }
        do {
            let cookie = try await sessions.end(request)
            return PortalPages.redirect(to: "/inbox/sign-in", cookie: cookie)
        } catch {
            context.logger.error("Sign-out failed", metadata: ["error": "\(error)"])
            return unavailable
        }
    }
}

extension SignInToken {
    /// Whether `text` has a sign-in token's shape (a link token's); anything else is answered without a look-up.
    static func isWellFormed(_ text: String) -> Bool {
        LinkToken.isWellFormed(text)
    }
}
