import ApprovalStore
import Callbacks
import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import Testing

struct FixedTokens: LinkTokenReading {
    var records: [String: LinkTokenRecord] = [:]
    var failing = false

    func linkToken(hash: String) async throws -> LinkTokenRecord? {
        if failing { throw CancellationError() }
        return records[hash]
    }
}

struct LinkRoutesTests {
    let token = LinkToken.derive(secret: LinkSecret(String(repeating: "s", count: 32))!, nonce: UUID())
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func record(status: ApprovalStatus = .pending, usedAt: Date? = nil, expiresIn: TimeInterval = 3600) -> LinkTokenRecord {
        LinkTokenRecord(
            tokenHash: LinkToken.hash(token), requestId: "REQ-7", approver: "a@example.com",
            expiresAt: now.addingTimeInterval(expiresIn), usedAt: usedAt, status: status, amount: 5000, currency: "USD",
            description: "New <b>server</b>", requester: nil, submittedAt: now, decidedBy: usedAt == nil ? nil : "a@example.com",
            decidedAt: usedAt)
    }

    func app(_ tokens: FixedTokens, _ publisher: RecordingPublisher) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        LinkRoutes(tokens: tokens, publisher: publisher, now: { [now] in now }).register(on: router)
        return Application(router: router)
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
                #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                #expect(response.headers[.cacheControl] == "no-store")
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func postPublishesTheDecisionForTheTokensApprover() async throws {
        let publisher = RecordingPublisher()
        let tokens = FixedTokens(records: [LinkToken.hash(token): record()])
        try await app(tokens, publisher).test(.router) { client in
            try await client.execute(
                uri: "/reject/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "decision=reject&comment=Too+expensive%21")
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Request Rejected!"))
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

    @Test func spentExpiredUnknownAndUnavailableEachGetTheirOwnPage() async throws {
        let publisher = RecordingPublisher()
        let cases: [(FixedTokens, HTTPResponse.Status, String)] = [
            (FixedTokens(records: [LinkToken.hash(token): record(usedAt: now)]), .conflict, "already"),
            (FixedTokens(records: [LinkToken.hash(token): record(status: .rejected)]), .conflict, "already rejected"),
            (FixedTokens(records: [LinkToken.hash(token): record(expiresIn: -1)]), .gone, "expired"),
            (FixedTokens(), .notFound, "not recognised"),
            (FixedTokens(failing: true), .serviceUnavailable, "Temporarily unavailable"),
        ]
        for (tokens, status, text) in cases {
            try await app(tokens, publisher).test(.router) { client in
                try await client.execute(
                    uri: "/approve/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "decision=approve")
                ) { response in
                    #expect(response.status == status)
                    #expect(String(buffer: response.body).contains(text), "\(status)")
                    if status == .serviceUnavailable { #expect(response.headers[.retryAfter] == "30") }
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
                body: ByteBuffer(string: "decision=reject")
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func tokensAreDerivedFromTheSecretAndTheNonceAndStoredHashed() {
        let secret = LinkSecret("link-routes-tests-secret-0123456789abc")!
        let nonces = (0..<1000).map { _ in UUID() }
        let tokens = nonces.map { LinkToken.derive(secret: secret, nonce: $0) }
        #expect(Set(tokens).count == 1000)
        // The same nonce and secret give the same token; another secret gives another.
        #expect(LinkToken.derive(secret: secret, nonce: nonces[0]) == tokens[0])
        #expect(LinkToken.derive(secret: LinkSecret("another-secret-0123456789abcdefghijkl")!, nonce: nonces[0]) != tokens[0])
        #expect(LinkSecret("too short") == nil)
        #expect("\(secret)" == "LinkSecret(***)")
        #expect(tokens.allSatisfy { $0.count == 22 && LinkToken.isWellFormed($0) })
        #expect(LinkToken.hash(tokens[0]).count == 64)
        #expect(!LinkToken.isWellFormed("../../../etc/passwd!!!"))
    }
}
