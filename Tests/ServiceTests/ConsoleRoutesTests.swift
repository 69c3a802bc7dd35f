import ApprovalStore
@testable import Callbacks
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Templates
import Testing

/// An authorizer whose credential a browser sends by itself (as a portal session is): its operator has a CSRF token,
/// which every console form must carry.
struct SessionLikeAuthorizer: ConsoleAuthorizing {
    func consoleOperator(for request: Request) async throws -> ConsoleOperator? {
        request.headers[.cookie] == "session=admin" ? ConsoleOperator(name: "admin@example.com", csrfToken: "csrf-123") : nil
    }
}

/// One pending request, nothing else.
struct OneRequestBackend: ConsoleBackend {
    let request = RequestStatusBody(
        requestId: "REQ-1", executionId: UUID(), status: .pending, amount: 12, currency: "USD", description: "Taxi",
        requester: "r@example.com", approvers: ["a@example.com"], submittedAt: Date(timeIntervalSince1970: 1_800_000_000),
        expiresAt: Date(timeIntervalSince1970: 1_800_086_400), decidedBy: nil, decidedAt: nil, channel: nil, comment: nil,
        completedAt: nil)

    func search(_ search: ConsoleSearch) async throws -> (requests: [RequestStatusBody], more: Bool) { ([request], false) }
    func consoleCounts() async throws -> ConsoleCounts { ConsoleCounts(pending: 1, decidedToday: 0, deliveriesFailing: 0) }
    func orchestratorLag() async throws -> Int64 { 0 }
    func status(requestId: String) async throws -> RequestStatusBody? { requestId == "REQ-1" ? request : nil }
    func decisionAttempts(requestId: String) async throws -> [DecisionAttempt] { [] }
    func history(requestId: String) async throws -> [HistoryEvent]? { [] }
    func deadLetters() async throws -> [DeadLetter] { [] }
    func replayDeadLetter(_ eventId: UUID) async throws -> DeadLetter {
        throw DeadLetterArchive.Failure(code: .notFound, message: "no dead letter with id \(eventId)")
    }
}

/// The console's own checks, run without the services: what the authorizer decides, and its CSRF check on every
/// form. (The pages and actions against the running services are `ConsoleTests`.)
struct ConsoleRoutesTests {
    func app(_ authorizer: any ConsoleAuthorizing, _ publisher: RecordingPublisher) throws -> some ApplicationProtocol {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        let templates = try TemplateLibrary()
        let links = LinkRoutes(
            tokens: FixedTokens(), publisher: publisher, publicURL: "https://approvals.example.com/", templates: templates)
        ConsoleRoutes(authorizer: authorizer, backend: OneRequestBackend(), publisher: publisher, templates: templates, links: links)
            .register(on: router)
        return Application(router: router)
    }

    static let session: HTTPFields = [.cookie: "session=admin", .contentType: "application/x-www-form-urlencoded"]

    /// A report that could not be recorded (an observation rolled back into the history) shows on the timeline, with why.
    @Test func anEventThatCouldNotBeAppliedShowsOnTheTimeline() {
        let discarded = HistoryEvent(
            id: 7, type: "SignalDiscarded", timestamp: Date(),
            details: ["Signal": .string("{}"), "Error": .string("PostgresError: value refused")])
        let entries = ConsoleTimeline.entries(history: [discarded], votes: [], attempts: [], engine: false)
        #expect(entries.map(\.kind) == ["failed"])
        #expect(entries.first?.detail == "PostgresError: value refused")
    }

    @Test func everyFormCarriesTheOperatorsCSRFTokenAndAPostWithoutItIsRefused() async throws {
        let publisher = RecordingPublisher()
        try await app(SessionLikeAuthorizer(), publisher).test(.router) { client in
            let page = try await client.execute(uri: "/console/requests/REQ-1", method: .get, headers: [.cookie: "session=admin"])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            // Both forms (resend and cancel) carry it.
            #expect(html.components(separatedBy: #"<input type="hidden" name="csrf" value="csrf-123">"#).count == 3)

            for (path, body) in [("resend", ""), ("cancel", "reason=dup")] {
                for refused in [body, body + "&csrf=wrong"] {
                    let response = try await client.execute(
                        uri: "/console/requests/REQ-1/\(path)", method: .post, headers: Self.session,
                        body: ByteBuffer(string: refused))
                    #expect(response.status == .forbidden, "\(path) with \(refused)")
                    #expect(String(buffer: response.body).contains("Form refused"))
                }
            }
            let replay = try await client.execute(
                uri: "/console/dead-letters/\(UUID())/replay", method: .post, headers: Self.session, body: ByteBuffer(string: ""))
            #expect(replay.status == .forbidden)
            #expect(publisher.events.withLock { $0.isEmpty })

            let cancel = try await client.execute(
                uri: "/console/requests/REQ-1/cancel", method: .post, headers: Self.session,
                body: ByteBuffer(string: "reason=Duplicate&csrf=csrf-123"))
            #expect(cancel.status == .seeOther)
            #expect(cancel.headers[.location] == "/console/requests/REQ-1?done=cancel")
            let events = publisher.events.withLock { $0 }
            let cancelled = try #require(events.first as? CancelRequested)
            #expect(cancelled.reason == "Duplicate" && cancelled.apiKey == "admin@example.com")
        }
    }

    @Test func withoutACredentialThePageSaysHowToSignIn() async throws {
        try await app(SessionLikeAuthorizer(), RecordingPublisher()).test(.router) { client in
            for uri in ["/console", "/console/counters", "/console/requests/REQ-1", "/console/dead-letters"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .unauthorized, "\(uri)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: response.body).contains("Sign in to the console"))
            }
        }
    }
}
