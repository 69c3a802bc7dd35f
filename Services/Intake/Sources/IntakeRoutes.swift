import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import NIOCore
import ServiceSupport

/// Where intake reads a request's status.
public protocol ApprovalStatusReading: Sendable {
    func status(requestId: String) async throws -> RequestStatusBody?
}

extension ApprovalReader: ApprovalStatusReading {}

/// The intake HTTP API: submit a request, read its status. Shared by `main` and the tests.
public struct IntakeRoutes: Sendable {
    /// Bodies larger than this are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    let publisher: any EventPublishing
    let statuses: any ApprovalStatusReading
    let defaultApprover: String
    let now: @Sendable () -> Date

    public init(
        publisher: any EventPublishing, statuses: any ApprovalStatusReading, defaultApprover: String,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.publisher = publisher
        self.statuses = statuses
        self.defaultApprover = defaultApprover
        self.now = now
    }

    public func register(on router: Router<BasicRequestContext>) {
        // `/requests` is the path of the pattern Greenlight replaces; `/v1/requests` is ours.
        for prefix in ["v1/requests", "requests"] {
            router.post(RouterPath(prefix)) { request, context in try await submit(request, context: context) }
            router.get(RouterPath("\(prefix)/:requestId")) { _, context in
                try await status(context.parameters.require("requestId"), context: context)
            }
        }
    }

    func submit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw Problem(
                title: "Unsupported Media Type", status: 415,
                detail: "Send the request as JSON with Content-Type: application/json.")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Problem(
                title: "Content Too Large", status: 413,
                detail: "The body is larger than \(Self.maxBodyBytes) bytes; shorten the description.")
        }
        let validated = try Self.parse(Data(buffer: body), defaultApprover: defaultApprover)

        let statusPath = "/v1/requests/\(validated.requestId)"
        do {
            if try await statuses.status(requestId: validated.requestId) != nil {
                return try .json(
                    RequestAccepted(
                        message: "Request already accepted", requestId: validated.requestId, statusUrl: statusPath),
                    status: .ok, headers: [.location: statusPath])
            }
        } catch {
            // The orchestrator also ignores a request id it has seen, so publishing is still safe.
            context.logger.warning("Status look-up failed; publishing anyway", metadata: ["error": "\(error)"])
        }

        let event = validated.event(submittedAt: now())
        do {
            try await publisher.publish(event)
        } catch {
            context.logger.error(
                "Could not publish ApprovalRequested",
                metadata: ["requestId": "\(validated.requestId)", "error": "\(error)"])
            throw Problem(
                title: "Service Unavailable", status: 503,
                detail: "The request could not be queued (the message broker did not acknowledge it). Retry shortly.")
        }
        context.logger.info(
            "Request accepted", metadata: ["requestId": "\(validated.requestId)", "eventId": "\(event.eventId)"])
        return try .json(
            RequestAccepted(message: "Request accepted", requestId: validated.requestId, statusUrl: statusPath),
            status: .accepted, headers: [.location: statusPath])
    }

    func status(_ requestId: String, context: BasicRequestContext) async throws -> Response {
        let found: RequestStatusBody?
        do {
            found = try await statuses.status(requestId: requestId)
        } catch {
            context.logger.error("Status look-up failed", metadata: ["requestId": "\(requestId)", "error": "\(error)"])
            throw Problem(
                title: "Service Unavailable", status: 503, detail: "The status store is not reachable. Retry shortly.")
        }
        guard let found else {
            throw Problem(
                title: "Not Found", status: 404,
                detail: "No request with id \(requestId). A request accepted moments ago may take a moment to appear.")
        }
        return try .json(found)
    }

    /// Decodes and validates a submission; throws a `Problem` naming each bad field.
    static func parse(_ data: Data, defaultApprover: String) throws -> ValidatedApprovalRequest {
        let body: ApprovalRequestBody
        do {
            body = try GreenlightJSON.decoder().decode(ApprovalRequestBody.self, from: data)
        } catch let error as DecodingError {
            let description = DecodingErrorDescription(error)
            if description.field.isEmpty {
                throw Problem(
                    type: "https://greenlight.dev/problems/malformed-json", title: "Malformed JSON", status: 400,
                    detail: "The body must be a JSON object such as {\"requestId\": \"REQ-001\", \"amount\": 5000, "
                        + "\"description\": \"New server purchase\"}.")
            }
            throw Problem.validation([.init(field: description.field, message: description.problem)])
        }
        switch body.validate(defaultApprover: defaultApprover) {
        case .success(let validated): return validated
        case .failure(let problem): throw problem
        }
    }
}
