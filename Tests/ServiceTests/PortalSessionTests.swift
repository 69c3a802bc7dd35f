import ApprovalStore
import Callbacks
import Foundation
import GreenlightModels
import GreenlightTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import ServiceSupport
import Templates
import Testing

/// The inbox's sign-in and sessions against a real Postgres: a magic link signs in once, by its button, before it
/// expires; sessions are fresh at every sign-in, expire idle and at their end, rotate, and end at sign-out; every
/// signed-in form needs the session's CSRF token and our own origin.
struct PortalSessionTests {
    static let secret = LinkSecret("portal-test-secret-0123456789abcdef0123")!
    static let sameOrigin: HTTPFields = [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("Sec-Fetch-Site")!: "same-origin"]

    /// A migrated database and the inbox's routes over it, as the callback receiver runs them.
    struct Portal {
        let pool: PostgresPool
        let publisher = RecordingPublisher()
        let app: Application<RouterResponder<GreenlightRequestContext>>

        init(
            settings: PortalSettings = PortalSettings(linkSecret: PortalSessionTests.secret, adminEmails: ["a@example.com"]),
            publicURL: String = "https://approvals.example.com"
        ) async throws {
            let database = try await TestDatabase.create("portal")
            pool = try database.pool()
            let logger = TestEnvironment.logger("portal")
            try await GreenlightDatabase.migrate(pool, logger: logger)
            try await PortalSchema.prepare(pool, logger: logger)
            let router = Router(context: GreenlightRequestContext.self)
            router.add(middleware: ProblemMiddleware())
            PortalRoutes(
                sessions: PortalSessions(pool: pool, settings: settings, publicURL: publicURL),
                reader: ApprovalReader(pool: pool), publisher: publisher, templates: try TemplateLibrary(),
                verdictWait: .milliseconds(100)
            ).register(on: router)
            app = Application(router: router)
        }

        /// Asks for a link for `email` and returns the token the notifier would email (derived from the event's
        /// nonce), or nil when no link was sent.
        func requestLink(_ client: some TestClientProtocol, email: String = "a@example.com") async throws -> String? {
            let before = publisher.published(SignInLinkRequested.self).count
            let response = try await client.execute(
                uri: "/inbox/sign-in", method: .post, headers: PortalSessionTests.sameOrigin,
                body: ByteBuffer(string: "email=\(email.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"))
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("Check your email"))
            let events = publisher.published(SignInLinkRequested.self)
            guard events.count > before, let event = events.last else { return nil }
            return SignInToken.derive(secret: PortalSessionTests.secret, nonce: event.tokenNonce)
        }

        /// Presses the link's button; returns the response (a 303 to /inbox with the session cookie when it worked).
        func useLink(_ client: some TestClientProtocol, _ token: String, cookie: String? = nil) async throws -> TestResponse {
            var headers = PortalSessionTests.sameOrigin
            if let cookie { headers[.cookie] = "greenlight_session=\(cookie)" }
            return try await client.execute(uri: "/inbox/sign-in/\(token)", method: .post, headers: headers)
        }

        /// Signs in `email` and returns the session id its cookie carries.
        func signIn(_ client: some TestClientProtocol, email: String = "a@example.com") async throws -> String {
            let token = try #require(try await requestLink(client, email: email))
            let response = try await useLink(client, token)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/inbox")
            return try #require(PortalSessionTests.sessionCookie(response)?.value)
        }

        func inbox(_ client: some TestClientProtocol, session: String) async throws -> TestResponse {
            try await client.execute(uri: "/inbox", method: .get, headers: [.cookie: "greenlight_session=\(session)"])
        }

        /// The CSRF token on the session's inbox page.
        func csrf(_ client: some TestClientProtocol, session: String) async throws -> String {
            let page = String(buffer: try await inbox(client, session: session).body)
            let marker = try #require(page.range(of: #"name="csrf" value=""#))
            return String(page[marker.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// The `greenlight_session` cookie a response sets, with its attributes.
    static func sessionCookie(_ response: TestResponse) -> (value: String, attributes: [String])? {
        for header in response.headers[values: .setCookie] where header.hasPrefix("greenlight_session=") {
            let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return (String(parts[0].dropFirst("greenlight_session=".count)), Array(parts.dropFirst()))
        }
        return nil
    }

    @Test func aMagicLinkSignsInOnceByItsButtonWithASecureCookie() async throws {
        let portal = try await Portal()
        try await portal.app.test(.router) { client in
            let token = try #require(try await portal.requestLink(client))
            // The event carries the nonce, never the token; the database keeps only the token's hash.
            let event = try #require(portal.publisher.published(SignInLinkRequested.self).last)
            #expect(!String(decoding: try GreenlightJSON.encode(event), as: UTF8.self).contains(token))
            #expect(event.linkKey == Self.secret.id)
            let stored = try await portal.pool.query("SELECT token_hash, used_at IS NULL FROM portal_sign_in_links")
                .decode((String, Bool).self)
            #expect(stored.count == 1 && stored[0].0 == LinkToken.hash(token) && stored[0].1)

            // Opening the link (as a mail scanner would) shows the button and uses nothing.
            let page = try await client.execute(uri: "/inbox/sign-in/\(token)", method: .get)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains(#"<form method="post" action="/inbox/sign-in/\#(token)">"#))
            #expect(Self.sessionCookie(page) == nil)
            #expect(try await portal.pool.query("SELECT count(*) FROM portal_sign_in_links WHERE used_at IS NULL").column(Int.self) == [1])

            let signedIn = try await portal.useLink(client, token)
            #expect(signedIn.status == .seeOther)
            let cookie = try #require(Self.sessionCookie(signedIn))
            #expect(cookie.value.count == 43)
            for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
                #expect(cookie.attributes.contains(attribute), "\(attribute) missing from \(cookie.attributes)")
            }
            // Only the id's hash is stored.
            #expect(try await portal.pool.query("SELECT id_hash FROM portal_sessions").column(String.self) == [LinkToken.hash(cookie.value)])
            let inbox = try await portal.inbox(client, session: cookie.value)
            #expect(inbox.status == .ok)
            #expect(String(buffer: inbox.body).contains("Signed in as a@example.com."))

            // The same link again: refused, whether opened or pressed.
            #expect(try await portal.useLink(client, token).status == .gone)
            #expect(try await client.execute(uri: "/inbox/sign-in/\(token)", method: .get).status == .gone)
            #expect(try await portal.pool.query("SELECT count(*) FROM portal_sessions").column(Int.self) == [1])
        }
    }

    @Test func aCookieIsSecureOnlyWithAnHTTPSPublicURL() async throws {
        let portal = try await Portal(publicURL: "http://127.0.0.1:8081")
        try await portal.app.test(.router) { client in
            let token = try #require(try await portal.requestLink(client))
            let cookie = try #require(Self.sessionCookie(try await portal.useLink(client, token)))
            #expect(!cookie.attributes.contains("Secure"))
            #expect(cookie.attributes.contains("HttpOnly") && cookie.attributes.contains("SameSite=Lax"))
        }
    }

    @Test func anExpiredOrUnknownMagicLinkIsRefused() async throws {
        let portal = try await Portal()
        try await portal.app.test(.router) { client in
            let token = try #require(try await portal.requestLink(client))
            try await portal.pool.query("UPDATE portal_sign_in_links SET expires_at = now() - interval '1 second'")
            #expect(try await client.execute(uri: "/inbox/sign-in/\(token)", method: .get).status == .gone)
            let refused = try await portal.useLink(client, token)
            #expect(refused.status == .gone)
            #expect(String(buffer: refused.body).contains("This sign-in link does not work"))
            #expect(Self.sessionCookie(refused) == nil)
            let unknown = LinkToken.derive(secret: Self.secret, nonce: UUID())
            #expect(try await portal.useLink(client, unknown).status == .gone)
            #expect(try await portal.useLink(client, "not-a-token").status == .notFound)
            #expect(try await portal.pool.query("SELECT count(*) FROM portal_sessions").column(Int.self) == [0])
        }
    }

    @Test func anAddressWithNothingWaitingGetsTheSamePageAndNoLink() async throws {
        let portal = try await Portal()
        try await portal.app.test(.router) { client in
            #expect(try await portal.requestLink(client, email: "nobody@example.com") == nil)
            #expect(try await portal.pool.query("SELECT count(*) FROM portal_sign_in_links").column(Int.self) == [0])
            // A cross-site form asks for nothing either.
            let crossSite = try await client.execute(
                uri: "/inbox/sign-in", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("Sec-Fetch-Site")!: "cross-site"],
                body: ByteBuffer(string: "email=a%40example.com"))
            #expect(crossSite.status == .forbidden)
            #expect(portal.publisher.published(SignInLinkRequested.self).isEmpty)
        }
    }

    @Test func aCookieSetBeforeSignInIsNeverPromoted() async throws {
        let portal = try await Portal(
            settings: PortalSettings(linkSecret: Self.secret, adminEmails: ["a@example.com", "mallory@example.com"]))
        try await portal.app.test(.router) { client in
            // An id planted in the victim's browser, made up or the attacker's own session.
            let planted = String(repeating: "A", count: 43)
            let attackers = try await portal.signIn(client, email: "mallory@example.com")
            for fixed in [planted, attackers] {
                let token = try #require(try await portal.requestLink(client))
                let response = try await portal.useLink(client, token, cookie: fixed)
                let issued = try #require(Self.sessionCookie(response)?.value)
                #expect(issued != fixed)
                #expect(String(buffer: try await portal.inbox(client, session: issued).body).contains("Signed in as a@example.com."))
                // The planted id signs nobody in: not the victim, and no longer the attacker.
                let withPlanted = try await portal.inbox(client, session: fixed)
                #expect(withPlanted.status == .seeOther)
                #expect(withPlanted.headers[.location] == "/inbox/sign-in")
            }
        }
    }

    @Test func aSessionEndsWhenIdleAndAtItsEnd() async throws {
        let portal = try await Portal(settings: PortalSettings(linkSecret: Self.secret, sessionIdle: 600, adminEmails: ["a@example.com"]))
        try await portal.app.test(.router) { client in
            let idle = try await portal.signIn(client)
            #expect(try await portal.inbox(client, session: idle).status == .ok)
            try await portal.pool.query(
                "UPDATE portal_sessions SET last_seen_at = now() - interval '601 seconds' WHERE id_hash = \(LinkToken.hash(idle))")
            #expect(try await portal.inbox(client, session: idle).headers[.location] == "/inbox/sign-in")

            let ended = try await portal.signIn(client)
            #expect(try await portal.inbox(client, session: ended).status == .ok)
            try await portal.pool.query(
                "UPDATE portal_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = \(LinkToken.hash(ended))")
            #expect(try await portal.inbox(client, session: ended).headers[.location] == "/inbox/sign-in")
        }
    }

    @Test func anOldSessionGetsANewIdAndKeepsItsEnd() async throws {
        let portal = try await Portal(settings: PortalSettings(linkSecret: Self.secret, sessionRotate: 300, adminEmails: ["a@example.com"]))
        try await portal.app.test(.router) { client in
            let old = try await portal.signIn(client)
            // Young: no new cookie.
            #expect(Self.sessionCookie(try await portal.inbox(client, session: old)) == nil)
            let end = try await portal.pool.query(
                "SELECT expires_at FROM portal_sessions WHERE id_hash = \(LinkToken.hash(old))").column(Date.self)
            try await portal.pool.query(
                "UPDATE portal_sessions SET created_at = now() - interval '301 seconds' WHERE id_hash = \(LinkToken.hash(old))")
            let rotated = try await portal.inbox(client, session: old)
            #expect(rotated.status == .ok)
            let new = try #require(Self.sessionCookie(rotated)?.value)
            #expect(new != old)
            // The new id keeps the sign-in's end and names the one it replaced, which ends within its grace minute.
            let rows = try await portal.pool.query(
                """
                SELECT n.rotated_from = o.id_hash, n.expires_at, o.expires_at <= now() + interval '60 seconds'
                FROM portal_sessions n, portal_sessions o
                WHERE n.id_hash = \(LinkToken.hash(new)) AND o.id_hash = \(LinkToken.hash(old))
                """
            ).decode((Bool, Date, Bool).self)
            #expect(rows.count == 1 && rows[0].0 && rows[0].2)
            #expect(rows.map(\.1) == end)
            // The new id works and is not rotated again; the CSRF token carries over.
            let again = try await portal.inbox(client, session: new)
            #expect(again.status == .ok && Self.sessionCookie(again) == nil)
            #expect(try await portal.csrf(client, session: new) == (try await portal.csrf(client, session: old)))
            // The old id stops after its grace minute.
            try await portal.pool.query("UPDATE portal_sessions SET expires_at = now() WHERE id_hash = \(LinkToken.hash(old))")
            #expect(try await portal.inbox(client, session: old).headers[.location] == "/inbox/sign-in")
        }
    }

    /// A session that cannot be looked up (the database is away) is answered "unavailable" on every page and form:
    /// a signed-in person is not sent to sign in again, and nothing is decided.
    @Test func aSessionThatCannotBeLookedUpIsUnavailableNotSignedOut() async throws {
        let portal = try await Portal()
        try await portal.app.test(.router) { client in
            let session = try await portal.signIn(client)
            let csrf = try await portal.csrf(client, session: session)
            try await portal.pool.query("ALTER TABLE portal_sessions RENAME TO portal_sessions_away")
            let cookie: HTTPFields = [.cookie: "greenlight_session=\(session)"]
            for path in ["/inbox", "/inbox/requests/REQ-1", "/inbox/delegation"] {
                let page = try await client.execute(uri: path, method: .get, headers: cookie)
                #expect(page.status == .serviceUnavailable, "GET \(path)")
            }
            var headers = Self.sameOrigin
            headers.append(contentsOf: cookie)
            for path in ["/inbox/bulk", "/inbox/requests/REQ-1", "/inbox/delegation", "/inbox/delegation/clear", "/inbox/sign-out"] {
                let body = ByteBuffer(string: "csrf=\(csrf)&decision=approve&id=REQ-1&delegate=b%40example.com&mode=also")
                let answer = try await client.execute(uri: path, method: .post, headers: headers, body: body)
                #expect(answer.status == .serviceUnavailable, "POST \(path)")
            }
            #expect(portal.publisher.published(DecisionSubmitted.self).isEmpty)
            #expect(portal.publisher.published(DelegationSet.self).isEmpty)
        }
    }

    @Test func everySignedInFormRefusesAPostWithoutTheSessionsCSRFTokenOrFromAnotherSite() async throws {
        let portal = try await Portal()
        try await portal.app.test(.router) { client in
            let session = try await portal.signIn(client)
            let csrf = try await portal.csrf(client, session: session)
            #expect(csrf.count == 43)
            let cookie: HTTPFields = [.cookie: "greenlight_session=\(session)"]
            let forms = [
                ("/inbox/sign-out", ""), ("/inbox/bulk", "decision=approve&id=REQ-1"),
                ("/inbox/requests/REQ-1", "decision=approve&comment=ok"),
                ("/inbox/delegation", "delegate=b%40example.com&mode=also"), ("/inbox/delegation/clear", ""),
            ]
            for (path, fields) in forms {
                let attempts: [(String, String?)] = [
                    ("same-origin", nil), ("same-origin", "wrong"), ("same-origin", String(csrf.dropLast()) + "x"),
                    ("cross-site", csrf),
                ]
                for (site, token) in attempts {
                    var headers = Self.sameOrigin
                    headers[HTTPField.Name("Sec-Fetch-Site")!] = site
                    headers.append(contentsOf: cookie)
                    let body = [fields, token.map { "csrf=\($0)" }].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "&")
                    let response = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
                    #expect(response.status == .forbidden, "\(path) with \(site) and csrf \(token ?? "none")")
                    #expect(String(buffer: response.body).contains("Form not accepted"))
                }
            }
            #expect(portal.publisher.published(DecisionSubmitted.self).isEmpty)
            #expect(portal.publisher.published(DelegationSet.self).isEmpty)
            #expect(portal.publisher.published(DelegationCleared.self).isEmpty)
            // Still signed in; with the token, sign-out ends the session.
            #expect(try await portal.inbox(client, session: session).status == .ok)
            var headers = Self.sameOrigin
            headers.append(contentsOf: cookie)
            let out = try await client.execute(
                uri: "/inbox/sign-out", method: .post, headers: headers, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(out.status == .seeOther)
            #expect(Self.sessionCookie(out)?.value == "")
            #expect(try await portal.inbox(client, session: session).headers[.location] == "/inbox/sign-in")
            #expect(try await portal.pool.query("SELECT count(*) FROM portal_sessions").column(Int.self) == [0])
        }
    }

    @Test func signInIsLimitedPerClientAndPerAddress() async throws {
        let portal = try await Portal(
            settings: PortalSettings(linkSecret: Self.secret, signInRateLimit: 3, signInEmailRateLimit: 1, adminEmails: ["a@example.com"]))
        try await portal.app.test(.router) { client in
            #expect(try await portal.requestLink(client) != nil)
            // The same address again within the hour: the same page, no second email.
            #expect(try await portal.requestLink(client) == nil)
            _ = try await portal.requestLink(client, email: "b@example.com")
            let limited = try await client.execute(
                uri: "/inbox/sign-in", method: .post, headers: Self.sameOrigin, body: ByteBuffer(string: "email=c%40example.com"))
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
        }
    }

    @Test func withoutTheLinkSecretTheInboxIsOff() async throws {
        let portal = try await Portal(settings: PortalSettings(linkSecret: nil))
        try await portal.app.test(.router) { client in
            let page = try await client.execute(uri: "/inbox", method: .get)
            #expect(page.status == .notFound)
            #expect(String(buffer: page.body).contains("The inbox is not enabled here"))
        }
    }
}
