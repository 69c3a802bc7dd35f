import Foundation
import GreenlightModels
import Hummingbird
import Postgres

/// A signed-in person, as the inbox (and the operator's pages) see them.
public struct PortalSession: Sendable, Equatable {
    public var email: String
    /// The email is one of `GREENLIGHT_ADMIN_EMAILS`.
    public var isAdmin: Bool
    /// What every form of the session carries in its hidden `csrf` field.
    public var csrfToken: String
}

/// Sessions of people signed in by emailed link: the `greenlight_session` cookie holds 256 random bits, stored only
/// as their SHA-256. The cookie is `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` when the public URL is https.
/// A session ends after `sessionIdle` seconds without a request and `sessionMax` after sign-in; it gets a new id
/// once older than `sessionRotate`; every sign-in starts a new one (a cookie set before is never promoted).
public struct PortalSessions: Sendable {
    public static let cookieName = "greenlight_session"

    let store: PortalStore
    let settings: PortalSettings
    /// Whether cookies are `Secure`: the public URL is https.
    let secureCookies: Bool
    /// The origin pages are served from (`GREENLIGHT_PUBLIC_URL`'s): a POST from any other is refused.
    let publicOrigin: String

    public init(pool: PostgresPool, settings: PortalSettings, publicURL: String) {
        store = PortalStore(pool: pool)
        self.settings = settings
        secureCookies = publicURL.lowercased().hasPrefix("https://")
        publicOrigin = LinkRoutes.origin(of: publicURL) ?? publicURL
    }

    /// The person the request's cookie signs in, if any (no rotation: for pages that do not set cookies).
    public func current(_ request: Request) async throws -> PortalSession? {
        try await resume(request)?.session
    }

    /// Whether a form POSTed by a signed-in person is theirs: it came from our own pages (the same check as the
    /// link pages') and carries the session's CSRF token. Every POST of a signed-in page must pass this.
    public func isGenuineForm(_ request: Request, csrf: String?, session: PortalSession) -> Bool {
        guard LinkRoutes.isSameOrigin(request, publicOrigin: publicOrigin), let csrf else { return false }
        // Constant time: the comparison says nothing about how much of a guess was right.
        let given = Array(csrf.utf8)
        let expected = Array(session.csrfToken.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The session, and the cookie to set when its id was rotated.
    func resume(_ request: Request) async throws -> (session: PortalSession, cookie: Cookie?)? {
        guard let id = request.cookies[Self.cookieName]?.value, Self.isWellFormedId(id) else { return nil }
        let hash = LinkToken.hash(id)
        guard let stored = try await store.touchSession(idHash: hash, idle: settings.sessionIdle, rotateAfter: settings.sessionRotate)
        else { return nil }
        let session = PortalSession(email: stored.email, isAdmin: isAdmin(stored.email), csrfToken: stored.csrfToken)
        guard stored.dueForRotation else { return (session, nil) }
        let newId = Self.newSecret()
        guard let left = try await store.rotateSession(from: hash, to: LinkToken.hash(newId)) else { return (session, nil) }
        return (session, cookie(newId, maxAge: left))
    }

    /// Starts a new session for `email` (a sign-in), ending the one the request's cookie named, if any. Returns the
    /// cookie that carries it.
    func start(for email: String, replacing request: Request) async throws -> Cookie {
        if let old = request.cookies[Self.cookieName]?.value, Self.isWellFormedId(old) {
            try await store.deleteSession(idHash: LinkToken.hash(old))
        }
        let id = Self.newSecret()
        try await store.createSession(
            idHash: LinkToken.hash(id), email: email, csrfToken: Self.newSecret(), maxAge: settings.sessionMax)
        return cookie(id, maxAge: settings.sessionMax)
    }

    /// Ends the request's session; returns the cookie that clears it in the browser.
    func end(_ request: Request) async throws -> Cookie {
        if let id = request.cookies[Self.cookieName]?.value, Self.isWellFormedId(id) {
            try await store.deleteSession(idHash: LinkToken.hash(id))
        }
        return cookie("", maxAge: 0)
    }

    func isAdmin(_ email: String) -> Bool {
        settings.adminEmails.contains(email.lowercased())
    }

    func cookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: Self.cookieName, value: value, maxAge: maxAge, path: "/", secure: secureCookies, httpOnly: true,
            sameSite: .lax)
    }

    /// 256 bits from the system's cryptographic generator, in base64url (43 characters).
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (0..<4).map { _ in generator.next() as UInt64 }
        return LinkToken.base64URL(words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } })
    }

    /// A session id has `newSecret`'s shape; anything else is no session, without a look-up.
    static func isWellFormedId(_ text: String) -> Bool {
        LinkToken.isWellFormed(text, length: 43)
    }
}
