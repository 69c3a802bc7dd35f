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
import Synchronization
import Templates
import Testing

struct FixedTokens: LinkTokenReading {
    var records: [String: LinkTokenRecord] = [:]
    var failing = false
    /// The orchestrator's verdict on any decision (by default: it settled the request, approved); nil: it has not
    /// taken it yet.
    var verdict: DecisionVerdict? = DecisionVerdict(
        accepted: true, reason: nil, status: .approved, decidedBy: "a@example.com", decidedAt: nil)
    /// Runs before each link look-up answers.
    var reading: @Sendable () async -> Void = {}

    func linkToken(hash: String) async throws -> LinkTokenRecord? {
        await reading()
        if failing { throw CancellationError() }
        return records[hash]
    }

    func verdict(requestId: String, eventId: UUID) async throws -> DecisionVerdict? { verdict }
}

/// Tokens with a verdict that comes when the test says, counting the looks for it.
final class LateVerdict: LinkTokenReading {
    let records: [String: LinkTokenRecord]
    private let state = Mutex((looks: 0, verdict: DecisionVerdict?.none))

    init(records: [String: LinkTokenRecord]) {
        self.records = records
    }

    var looks: Int { state.withLock { $0.looks } }
    func settle(_ verdict: DecisionVerdict) { state.withLock { $0.verdict = verdict } }

    func linkToken(hash: String) async throws -> LinkTokenRecord? { records[hash] }

    func verdict(requestId: String, eventId: UUID) async throws -> DecisionVerdict? {
        state.withLock { state in
            state.looks += 1
            return state.verdict
        }
    }
}

struct LinkRoutesTests {
    let token = LinkToken.derive(secret: LinkSecret(String(repeating: "s", count: 32))!, nonce: UUID())
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func record(status: ApprovalStatus = .pending, usedAt: Date? = nil, expiresIn: TimeInterval = 3600, byDeadline: Bool = false)
        -> LinkTokenRecord
    {
        LinkTokenRecord(
            tokenHash: LinkToken.hash(token), requestId: "REQ-7", approver: "a@example.com",
            expiresAt: now.addingTimeInterval(expiresIn), usedAt: usedAt, status: status, amount: 5000, currency: "USD",
            description: "New <b>server</b>", requester: nil, submittedAt: now, decidedBy: usedAt == nil ? nil : "a@example.com",
            decidedAt: usedAt, endedByDeadline: byDeadline, readAt: now)
    }

    func app(
        _ tokens: some LinkTokenReading, _ publisher: RecordingPublisher, limiter: RateLimiter? = nil, trustForwardedFor: Bool = false,
        verdictWait: Duration = .milliseconds(300), verdicts: PostgresListener? = nil, verdictLookInterval: Duration = .milliseconds(500),
        templates: TemplateLibrary? = nil
    ) throws -> some ApplicationProtocol {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        LinkRoutes(
            tokens: tokens, publisher: publisher, publicURL: "https://approvals.example.com/",
            templates: try templates ?? TemplateLibrary(), limiter: limiter, trustForwardedFor: trustForwardedFor,
            verdictWait: verdictWait, verdicts: verdicts, verdictLookInterval: verdictLookInterval
        ).register(on: router)
        return Application(router: router)
    }

    /// The headers every page must carry: the token is in the URL, so no referrer and no caching; nothing
    /// loads from anywhere, and forms post only to us.
    func expectPageHeaders(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.headers[.contentType] == "text/html; charset=utf-8", sourceLocation: sourceLocation)
        let csp = response.headers[.contentSecurityPolicy] ?? ""
        for directive in ["default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
            #expect(csp.contains(directive), "CSP \(csp)", sourceLocation: sourceLocation)
        }
        #expect(!csp.contains("script-src"), sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", sourceLocation: sourceLocation)
        #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
    }

    /// The form body the review page's button sends.
    func form(_ decision: Decision, comment: String? = nil) -> ByteBuffer {
        var body = "decision=\(decision.rawValue)&confirm=\(LinkToken.formProof(for: token))"
        if let comment { body += "&comment=\(comment)" }
        return ByteBuffer(string: body)
    }

    @Test func getShowsAReviewPageAndDecidesNothing() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        try await app(tokens, publisher).test(.router) { client in
            try await client.execute(uri: "/approve/\(token)", method: .get) { response in
                #expect(response.status == .ok)
                let html = String(buffer: response.body)
                #expect(html.contains("Approve this request?"))
                #expect(html.contains("New &lt;b&gt;server&lt;/b&gt;"))
                #expect(html.contains(#"<form method="post" action="/approve/\#(token)">"#))
                expectPageHeaders(response)
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    /// The link's look-up and what the publisher reads before it sends (the outbox, for the decisions topic: the
    /// request is not known before the link is) run together: each waits here until the other has begun.
    @Test func theLinkAndThePublishersPlanAreReadTogether() async throws {
        // As long as a loaded machine may need to start both, yet short of the link look-up's own budget, so that
        // the look-up still answers when they never meet.
        let both = Rendezvous(within: AnswerBudget.read * 3 / 4)
        let publisher = RecordingPublisher(planning: { await both.arrive("plan") ? .checkKey : .direct })
        var tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        tokens.reading = { _ = await both.arrive("link") }
        try await app(tokens, publisher).test(.router) { client in
            try await client.execute(
                uri: "/approve/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: form(.approve)
            ) { #expect($0.status == .ok) }
        }
        #expect(publisher.plannedKeys.withLock { $0 } == [nil])
        #expect(publisher.plans.withLock { $0 } == [.checkKey])
        #expect(publisher.published(DecisionSubmitted.self).map(\.requestId) == ["REQ-7"])
    }

    @Test func postPublishesTheDecisionForTheTokensApprover() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(
            records: [LinkToken.hash(token): record()],
            verdict: DecisionVerdict(accepted: true, reason: nil, status: .rejected, decidedBy: "a@example.com", decidedAt: now))
        try await app(tokens, publisher).test(.router) { client in
            try await client.execute(
                uri: "/reject/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: form(.reject, comment: "Too+expensive%21")
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Request Rejected!"))
                // The X icon, and the line that says what the decision did, as the orchestrator reported it.
                #expect(String(buffer: response.body).contains(#"<div class="icon bad" aria-hidden="true">&#10008;</div>"#))
                #expect(String(buffer: response.body).contains("Your decision settled REQ-7: it is rejected."))
                expectPageHeaders(response)
            }
        }
        let decisions = publisher.published(DecisionSubmitted.self)
        #expect(decisions.count == 1)
        #expect(decisions.first?.decision == .reject)
        #expect(decisions.first?.decidedBy == "a@example.com")
        #expect(decisions.first?.channel == .link)
        #expect(decisions.first?.comment == "Too expensive!")
        #expect(decisions.first?.tokenHash == LinkToken.hash(token))
    }

    /// The page after a click says what the orchestrator made of it, never more: a settled request, a vote kept
    /// with the tally, a race lost to someone else (who and when), the requester refused, any other refusal with
    /// its reason — or, when no verdict comes within the wait, that the decision was received and the page will
    /// look again.
    @Test func theClickSaysWhatTheOrchestratorMadeOfIt() async throws {
        let cases: [(DecisionVerdict?, HTTPResponse.Status, [String])] = [
            (DecisionVerdict(accepted: true, reason: "vote recorded: 1 of 2 approvals (all)", status: .pending, decidedBy: nil, decidedAt: nil),
             .ok, ["Your vote is recorded", "1 of 2 approvals so far"]),
            (DecisionVerdict(accepted: true, reason: nil, status: .approved, decidedBy: "a@example.com", decidedAt: now),
             .ok, ["Request Approved!"]),
            (DecisionVerdict(
                accepted: false, reason: "the request was already decided (callback SUCCEEDED)", status: .rejected,
                decidedBy: "b@example.com", decidedAt: now),
             .conflict, ["already rejected", "by b@example.com on \(HumanFormat.utc(now))"]),
            (DecisionVerdict(
                accepted: false, reason: "four eyes: a@example.com requested this approval and cannot decide it",
                status: .pending, decidedBy: nil, decidedAt: nil),
             .forbidden, ["You cannot decide your own request"]),
            (DecisionVerdict(accepted: false, reason: "the link token had expired", status: .pending, decidedBy: nil, decidedAt: nil),
             .conflict, ["Your decision was not applied", "the link token had expired"]),
            (nil, .accepted, ["Decision received", "Do not click again", "the result will be emailed to a@example.com"]),
        ]
        for (verdict, status, phrases) in cases {
            let tokens = FixedTokens(records: [LinkToken.hash(token): record()], verdict: verdict)
            let started = ContinuousClock.now
            try await app(tokens, RecordingPublisher()).test(.router) { client in
                let response = try await client.execute(
                    uri: "/approve/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: form(.approve))
                let html = String(buffer: response.body)
                #expect(response.status == status, "\(String(describing: verdict))")
                for phrase in phrases { #expect(html.contains(phrase), "\(phrase) missing for \(String(describing: verdict))") }
                if verdict?.status != .approved { #expect(!html.contains("Request Approved!")) }
                expectPageHeaders(response)
            }
            // Without a verdict the page waited its full time before saying so; with one, it did not wait for nothing.
            if verdict == nil { #expect(ContinuousClock.now - started >= .milliseconds(300)) }
        }
    }

    /// With the verdicts' notifications, a waiting page looks when the orchestrator says the verdict is recorded, not on a
    /// schedule of its own: here 1.2 s after the click, so a page looking by itself would have looked six times (and
    /// one that looks only every 10 s, as here without the notification, would have answered after its whole wait).
    @Test func aWaitingPageLooksWhenItsVerdictIsNotified() async throws {
        let database = try await TestDatabase.create("verdicts")
        let pool = try database.pool()
        defer { pool.close() }
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: database.url), channels: [VerdictChannel.name, OutcomeChannel.name],
            logger: TestEnvironment.logger("verdicts"))
        let listening = Task { await listener.run() }
        defer { listening.cancel() }
        try await waitUntil(timeout: .seconds(10)) { listener.isListening }

        let tokens = LateVerdict(records: [LinkToken.hash(token): record()])
        let publisher = RecordingPublisher()
        let orchestrator = Task {
            try await waitUntil(timeout: .seconds(10)) { !publisher.published(DecisionSubmitted.self).isEmpty }
            try await Task.sleep(for: .milliseconds(1200))
            tokens.settle(DecisionVerdict(accepted: true, reason: nil, status: .approved, decidedBy: "a@example.com", decidedAt: now))
            try await pool.query("SELECT pg_notify(\(VerdictChannel.name), 'REQ-7')")
        }
        let clicked = ContinuousClock.now
        try await app(tokens, publisher, verdictWait: .seconds(8), verdicts: listener, verdictLookInterval: .seconds(10))
            .test(.router) { client in
                let response = try await post(client, .approve, body: form(.approve))
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Request Approved!"))
            }
        let answered = ContinuousClock.now - clicked
        try await orchestrator.value
        #expect(answered < .seconds(6), "answered after \(answered)")
        #expect(tokens.looks <= 2, "looked \(tokens.looks) times")
    }

    @Test func spentExpiredUnknownAndUnavailableEachGetTheirOwnPage() async throws {
        let publisher = RecordingPublisher()
        let cases: [(FixedTokens, HTTPResponse.Status, String)] = [
            (FixedTokens(records: [LinkToken.hash(token): record(status: .approved, usedAt: now)]), .conflict,
             "was already approved by a@example.com on \(HumanFormat.utc(now))"),
            (FixedTokens(records: [LinkToken.hash(token): record(status: .rejected)]), .conflict, "already rejected"),
            (FixedTokens(records: [LinkToken.hash(token): record(expiresIn: -1)]), .gone, "expired"),
            // Ended by its deadline: expired, with what the deadline made of it; cancelled is not expired.
            (FixedTokens(records: [LinkToken.hash(token): record(status: .timedOut, expiresIn: -1, byDeadline: true)]),
             .gone, "rejected automatically"),
            (FixedTokens(records: [LinkToken.hash(token): record(status: .approved, expiresIn: -1, byDeadline: true)]),
             .gone, "approved automatically"),
            (FixedTokens(records: [LinkToken.hash(token): record(status: .cancelled, expiresIn: -1)]), .conflict, "already cancelled"),
            (FixedTokens(), .notFound, "not recognised"),
            (FixedTokens(failing: true), .serviceUnavailable, "Temporarily unavailable"),
        ]
        for (tokens, status, text) in cases {
            try await app(tokens, publisher).test(.router) { client in
                try await client.execute(
                    uri: "/approve/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: form(.approve)
                ) { response in
                    #expect(response.status == status)
                    #expect(String(buffer: response.body).contains(text), "\(status)")
                    if status == .serviceUnavailable { #expect(response.headers[.retryAfter] == "30") }
                    expectPageHeaders(response)
                }
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func aFormForTheOtherDecisionIsRefused() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        try await app(tokens, publisher).test(.router) { client in
            try await client.execute(
                uri: "/approve/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: form(.reject)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func tokensAreDerivedFromTheSecretAndTheNonceAndStoredHashed() {
        let secret = LinkSecret("link-routes-tests-secret-0123456789abc")!
        let nonces = (0..<1000).map { _ in LinkToken.newNonce() }
        let tokens = nonces.map { LinkToken.derive(secret: secret, nonce: $0) }
        #expect(Set(tokens).count == 1000)
        #expect(Set(nonces).count == 1000)
        // Every bit of a nonce is random: the six a version-4 UUID fixes (version nibble, variant bits) vary too.
        let versionNibbles = Set(nonces.map { $0.uuid.6 >> 4 })
        let variantBits = Set(nonces.map { $0.uuid.8 >> 6 })
        #expect(versionNibbles.count > 8)
        #expect(variantBits.count == 4)
        // The same nonce and secret give the same token; another secret gives another.
        #expect(LinkToken.derive(secret: secret, nonce: nonces[0]) == tokens[0])
        #expect(LinkToken.derive(secret: LinkSecret("another-secret-0123456789abcdefghijkl")!, nonce: nonces[0]) != tokens[0])
        #expect(LinkSecret("too short") == nil)
        // Printed, a secret shows only its id: 12 hex digits of a hash, different for another secret.
        #expect("\(secret)" == "LinkSecret(\(secret.id))" && secret.id.count == 12)
        let other = LinkSecret("another-secret-0123456789abcdefghijkl")!
        #expect(other.id != secret.id)
        // A keyring finds a secret by its id; nil is the current one (events from before ids were carried).
        let keyring = LinkKeyring(current: other, previous: [secret])
        #expect(keyring.secret(id: secret.id)?.id == secret.id)
        #expect(keyring.secret(id: nil)?.id == other.id)
        #expect(keyring.secret(id: "000000000000") == nil)
        #expect(tokens.allSatisfy { $0.count == 22 && LinkToken.isWellFormed($0) })
        #expect(LinkToken.hash(tokens[0]).count == 64)
        #expect(!LinkToken.isWellFormed("../../../etc/passwd!!!"))
    }

    func post(_ client: some TestClientProtocol, _ decision: Decision, body: ByteBuffer, headers: HTTPFields = [:]) async throws
        -> TestResponse
    {
        var all: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        all.append(contentsOf: headers)
        return try await client.execute(uri: "/\(decision.rawValue)/\(token)", method: .post, headers: all, body: body)
    }

    @Test func theFormCarriesAFieldBoundToTheTokenAndAPostWithoutItDecidesNothing() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        try await app(tokens, publisher).test(.router) { client in
            let page = try await client.execute(uri: "/approve/\(token)", method: .get)
            #expect(String(buffer: page.body).contains(#"name="confirm" value="\#(LinkToken.formProof(for: token))""#))
            #expect(try await post(client, .approve, body: ByteBuffer(string: "decision=approve")).status == .badRequest)
            let other = LinkToken.formProof(for: "AAAAAAAAAAAAAAAAAAAAAA")
            #expect(
                try await post(client, .approve, body: ByteBuffer(string: "decision=approve&confirm=\(other)")).status
                    == .badRequest)
            // A form that does not decode gets the same page: a field twice, bad percent-encoding, a field as a list.
            let proof = LinkToken.formProof(for: token)
            for body in [
                "decision=approve&decision=reject&confirm=\(proof)", "decision=approve&confirm=\(proof)&comment=%ZZ",
                "decision[]=approve&confirm=\(proof)",
            ] {
                let refused = try await post(client, .approve, body: ByteBuffer(string: body))
                #expect(refused.status == .badRequest, "\(body)")
                #expect(String(buffer: refused.body).contains("Form not accepted"))
                expectPageHeaders(refused)
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func aPostFromAnotherSiteIsRefused() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        try await app(tokens, publisher).test(.router) { client in
            let crossSite = try await post(client, .approve, body: form(.approve), headers: [.origin: "https://evil.example"])
            #expect(crossSite.status == .forbidden)
            #expect(String(buffer: crossSite.body).contains("Form not accepted"))
            expectPageHeaders(crossSite)
            #expect(
                try await post(client, .approve, body: form(.approve), headers: [.referer: "https://evil.example/page"]).status
                    == .forbidden)
            // "null" is what any page can make its browser send: refused unless the browser says same-origin.
            let fetchSite = HTTPField.Name("Sec-Fetch-Site")!
            #expect(try await post(client, .approve, body: form(.approve), headers: [.origin: "null"]).status == .forbidden)
            #expect(
                try await post(client, .approve, body: form(.approve), headers: [.origin: "null", fetchSite: "cross-site"])
                    .status == .forbidden)
            #expect(
                try await post(client, .approve, body: form(.approve), headers: [.origin: "null", fetchSite: "same-site"])
                    .status == .forbidden)
            #expect(
                try await post(
                    client, .approve, body: form(.approve),
                    headers: [.origin: "https://evil.example", fetchSite: "same-origin"]
                ).status == .forbidden)
            #expect(publisher.events.withLock { $0.isEmpty })
            // Our own origin; the "null" origin our own page's form sends under Referrer-Policy: no-referrer, with
            // Sec-Fetch-Site: same-origin; and a program that names no origin at all.
            #expect(
                try await post(client, .approve, body: form(.approve), headers: [.origin: "https://approvals.example.com"])
                    .status == .ok)
            #expect(
                try await post(
                    client, .approve, body: form(.approve),
                    headers: [.origin: "null", fetchSite: "same-origin", .userAgent: "TestBrowser/1.0"]
                ).status == .ok)
            #expect(try await post(client, .approve, body: form(.approve)).status == .ok)
        }
        #expect(publisher.published(DecisionSubmitted.self).map(\.userAgent) == [nil, "TestBrowser/1.0", nil])
    }

    @Test func tokenPagesAreRateLimitedPerClient() async throws {
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        // A stopped clock: however long the requests take, no refill happens between them.
        let frozen = ContinuousClock.now
        let limiter = RateLimiter(perMinute: 3, clock: { frozen })
        try await app(tokens, RecordingPublisher(), limiter: limiter).test(.router) { client in
            for _ in 1...3 {
                #expect(try await client.execute(uri: "/approve/\(token)", method: .get).status == .ok)
            }
            let limited = try await client.execute(uri: "/r/\(token)", method: .get)
            #expect(limited.status == .tooManyRequests)
            // One request's worth of refill at 3 a minute: 20 s.
            #expect(limited.headers[.retryAfter] == "20")
            #expect(String(buffer: limited.body).contains("Too many requests"))
            expectPageHeaders(limited)
            // Other routes are not limited.
            #expect(try await client.execute(uri: "/healthz", method: .get).status != .tooManyRequests)
        }
    }

    @Test func rateLimiterRefillsAndForgetsIdleClients() {
        let start = ContinuousClock.now
        let elapsed = Mutex(Duration.zero)
        let limiter = RateLimiter(perMinute: 2, maxKeys: 2, clock: { start + elapsed.withLock { $0 } })
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("a") == 30)
        elapsed.withLock { $0 = .seconds(31) }
        #expect(limiter.acquire("a") == nil)
        #expect(limiter.acquire("b") == nil)
        // A third client: the table stays within two entries, dropping idle (refilled) ones first.
        elapsed.withLock { $0 = .seconds(200) }
        #expect(limiter.acquire("c") == nil)
        #expect(limiter.keyCount <= 2)
    }

    @Test func theReviewPageForBothDecisionsAndThePolicyNote() async throws {
        var all = record()
        all.policy = .all
        all.approverCount = 3
        let tokens = FixedTokens(records: [LinkToken.hash(token): all])
        try await app(tokens, RecordingPublisher()).test(.router) { client in
            let page = try await client.execute(uri: "/r/\(token)", method: .get)
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("Review this request"))
            #expect(html.contains(#"action="/approve/\#(token)""#))
            #expect(html.contains(#"action="/reject/\#(token)""#))
            #expect(html.contains("Every approver (3) must approve this request"))
            #expect(html.contains(#"<label for="approve-comment">"#) && html.contains(#"id="approve-comment""#))
        }
    }

    @Test func behindAProxyTheClientIsTheAddressTheProxyAdded() async throws {
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        for trust in [true, false] {
            let publisher = RecordingPublisher()
            try await app(tokens, publisher, trustForwardedFor: trust).test(.router) { client in
                // The client wrote the first entry itself; the proxy appended the last.
                let forwarded: HTTPFields = [.xForwardedFor: "6.6.6.6, 203.0.113.7"]
                let response = try await post(client, .approve, body: form(.approve), headers: forwarded)
                #expect(response.status == .ok)
            }
            #expect(publisher.published(DecisionSubmitted.self).first?.clientAddress == (trust ? "203.0.113.7" : nil))
        }
    }
}
