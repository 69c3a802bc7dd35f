import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import ServiceSupport

/// What the pages show about a token and its request.
typealias TokenView = LinkTokenRecord

/// Where the receiver looks tokens up (by hash).
public protocol LinkTokenReading: Sendable {
    func linkToken(hash: String) async throws -> LinkTokenRecord?
}

extension ApprovalReader: LinkTokenReading {}

/// `GET /approve/{token}` and `GET /reject/{token}` show a review page and change nothing (mail scanners fetch
/// links); the page's form POSTs to the same path, which publishes the decision.
public struct LinkRoutes: Sendable {
    let tokens: any LinkTokenReading
    let publisher: any EventPublishing
    let now: @Sendable () -> Date

    public init(tokens: any LinkTokenReading, publisher: any EventPublishing, now: @escaping @Sendable () -> Date = Date.init) {
        self.tokens = tokens
        self.publisher = publisher
        self.now = now
    }

    public func register(on router: Router<BasicRequestContext>) {
        for decision in Decision.allCases {
            let path = RouterPath("\(decision.rawValue)/:token")
            router.get(path) { request, context in
                try await review(decision, token: context.parameters.require("token"), context: context)
            }
            router.post(path) { request, context in
                try await submit(decision, token: context.parameters.require("token"), request: request, context: context)
            }
        }
    }

    private enum Lookup {
        case usable(LinkTokenRecord)
        case page(Response)
    }

    /// Finds the token and checks it may still decide; otherwise the page that says why not.
    private func lookUp(_ token: String, context: BasicRequestContext) async -> Lookup {
        guard LinkToken.isWellFormed(token) else { return .page(Page.response(Page.unknown, status: .notFound)) }
        let record: LinkTokenRecord?
        do {
            record = try await tokens.linkToken(hash: LinkToken.hash(token))
        } catch {
            context.logger.error("Token look-up failed", metadata: ["error": "\(error)"])
            return .page(Page.response(Page.unavailable, status: .serviceUnavailable, extra: [.retryAfter: "30"]))
        }
        guard let record else { return .page(Page.response(Page.unknown, status: .notFound)) }
        if record.usedAt != nil || record.status != .pending {
            return .page(Page.response(Page.alreadyDecided(record), status: .conflict))
        }
        if record.expiresAt <= now() { return .page(Page.response(Page.expired(record), status: .gone)) }
        return .usable(record)
    }

    func review(_ decision: Decision, token: String, context: BasicRequestContext) async throws -> Response {
        switch await lookUp(token, context: context) {
        case .page(let response): return response
        case .usable(let record):
            return Page.response(Page.confirm(decision, token: record, path: "/\(decision.rawValue)/\(token)"), status: .ok)
        }
    }

    func submit(_ decision: Decision, token: String, request: Request, context: BasicRequestContext) async throws
        -> Response
    {
        var request = request
        let form = FormBody.parse(try await request.collectBody(upTo: 16 * 1024))
        guard form["decision"] == decision.rawValue else {
            return Page.response(
                Page.layout(
                    title: "Form not accepted",
                    body: "<h1>Form not accepted</h1><p>Open the link from the email again and use its button.</p>"),
                status: .badRequest)
        }
        let record: LinkTokenRecord
        switch await lookUp(token, context: context) {
        case .page(let response): return response
        case .usable(let found): record = found
        }
        let comment = form["comment"].map { String($0.prefix(1000)) }.flatMap { $0.isEmpty ? nil : $0 }
        let event = DecisionSubmitted(
            requestId: record.requestId, decision: decision, decidedBy: record.approver, channel: .link,
            comment: comment, decidedAt: now(), tokenHash: record.tokenHash)
        // The click joins the trace of the request it decides, so the request's whole path is one trace.
        let trace = record.trace?.child() ?? request.trace
        do {
            try await publisher.publish(event, trace: trace)
        } catch {
            context.logger.error(
                "Could not publish DecisionSubmitted", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
            return Page.response(Page.unavailable, status: .serviceUnavailable, extra: [.retryAfter: "30"])
        }
        context.logger.info(
            "Decision submitted by link",
            metadata: [
                "requestId": "\(record.requestId)", "eventId": "\(event.eventId)", "decision": "\(decision.rawValue)",
                "traceId": "\(trace.traceId)",
            ])
        return Page.response(Page.decided(decision, token: record), status: .ok)
    }
}

/// `application/x-www-form-urlencoded` fields.
enum FormBody {
    static func parse(_ buffer: ByteBuffer) -> [String: String] {
        let text = String(buffer: buffer)
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }
}
