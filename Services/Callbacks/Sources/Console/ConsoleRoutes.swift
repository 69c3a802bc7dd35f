import ApprovalStore
import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceSupport
import Templates

/// The operator console at `/console`, on the callback receiver's public side: the requests with search, filters
/// and live counters; one request's timeline with resend and cancel; the dead letters with replay. Every route asks
/// the authorizer first (401 page without a credential, 403 with one that may not), and every POST passes the
/// authorizer's form check and the same-origin check the link pages use.
public struct ConsoleRoutes: Sendable {
    let authorizer: any ConsoleAuthorizing
    let backend: any ConsoleBackend
    let publisher: any EventPublishing
    let templates: TemplateLibrary
    /// For the same-origin check every POST passes (the link pages' own).
    let links: LinkRoutes
    let now: @Sendable () -> Date

    public static let pageSize = 25
    /// How long a console page waits for the database: longer than an approver's page does (an operator's search
    /// may scan more, and a busy database should slow the console down rather than blank it).
    static let readBudget: Duration = .seconds(10)
    /// How long the counters wait for Kafka to say the orchestrator's lag; past it the lag shows as unknown.
    static let lagBudget: Duration = .seconds(3)

    public init(
        authorizer: any ConsoleAuthorizing, backend: any ConsoleBackend, publisher: any EventPublishing,
        templates: TemplateLibrary, links: LinkRoutes, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.authorizer = authorizer
        self.backend = backend
        self.publisher = publisher
        self.templates = templates
        self.links = links
        self.now = now
    }

    public func register(on router: Router<GreenlightRequestContext>) {
        router.get("console") { request, context in
            try await authorized(request, context) { consoleOperator in try await list(request, consoleOperator, context) }
        }
        router.get("console/counters") { request, context in
            try await authorized(request, context) { _ in try await counters(context) }
        }
        router.get("console/console.js") { _, _ in ConsoleScript.response }
        router.get("console/requests/:requestId") { request, context in
            try await authorized(request, context) { consoleOperator in
                try await show(try context.parameters.require("requestId"), request, consoleOperator, context)
            }
        }
        router.post("console/requests/:requestId/resend") { request, context in
            try await posted(request, context) { consoleOperator, _ in
                try await resend(try context.parameters.require("requestId"), request, consoleOperator, context)
            }
        }
        router.post("console/requests/:requestId/cancel") { request, context in
            try await posted(request, context) { consoleOperator, form in
                try await cancel(try context.parameters.require("requestId"), form: form, request, consoleOperator, context)
            }
        }
        router.get("console/dead-letters") { request, context in
            try await authorized(request, context) { consoleOperator in try await deadLetters(request, consoleOperator, context) }
        }
        router.post("console/dead-letters/:eventId/replay") { request, context in
            try await posted(request, context) { consoleOperator, _ in
                try await replay(try context.parameters.require("eventId"), consoleOperator, context)
            }
        }
    }

    // MARK: - Access

    /// Runs `body` for the request's operator; otherwise the page saying how to get in. A failure inside is a page
    /// too, never a stack or JSON.
    func authorized(
        _ request: Request, _ context: GreenlightRequestContext,
        _ body: (ConsoleOperator) async throws -> Response
    ) async throws -> Response {
        let consoleOperator: ConsoleOperator?
        do {
            consoleOperator = try await authorizer.consoleOperator(for: request)
        } catch let denied as ConsoleAccessDenied {
            context.logger.notice("Console access refused", metadata: ["reason": "\(denied.reason)"])
            var values = ConsoleValues()
            values.reason = denied.reason
            return page(.consoleSignIn, values, status: .forbidden)
        } catch {
            context.logger.error("Console access could not be checked", metadata: ["error": "\(error)"])
            return message(.serviceUnavailable, "Unavailable", "Who you are could not be checked just now. Retry shortly.")
        }
        guard let consoleOperator else {
            return page(.consoleSignIn, ConsoleValues(), status: .unauthorized)
        }
        do {
            return try await body(consoleOperator)
        } catch {
            context.logger.error("Console page failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return message(
                .serviceUnavailable, "Unavailable", "The database or the message broker did not answer in time. Retry shortly.")
        }
    }

    /// A POST: authorized, from our own origin, with a form the authorizer accepts (its CSRF check).
    func posted(
        _ request: Request, _ context: GreenlightRequestContext,
        _ body: (ConsoleOperator, [String: String]) async throws -> Response
    ) async throws -> Response {
        try await authorized(request, context) { consoleOperator in
            var request = request
            let text = String(buffer: try await request.collectBody(upTo: 16 * 1024))
            let form = (try? URLEncodedFormDecoder().decode([String: String].self, from: text))
            guard links.isSameOrigin(request), let form,
                authorizer.acceptsForm(form, from: consoleOperator, request: request)
            else {
                context.logger.notice("Console form refused", metadata: ["path": "\(request.uri.path)"])
                return message(
                    .forbidden, "Form refused",
                    "This form did not come from the console's own page. Open the page again and use its button.")
            }
            return try await body(consoleOperator, form)
        }
    }

    // MARK: - The list and its counters

    func list(_ request: Request, _ consoleOperator: ConsoleOperator, _ context: GreenlightRequestContext) async throws
        -> Response
    {
        let query = Self.formFields(ofQuery: request.uri.query)
        func field(_ name: String) -> String {
            String(query[name]?.trimmingCharacters(in: .whitespaces).prefix(200) ?? "")
        }
        var values = self.values(for: consoleOperator)
        var search = ConsoleSearch(pageSize: Self.pageSize)
        let status = field("status")
        if !status.isEmpty {
            if let known = ApprovalStatus(rawValue: status) {
                search.status = known
            } else {
                values.errors.append("Status: choose one from the list.")
            }
        }
        search.text = field("q").nonEmpty
        search.approver = field("approver").nonEmpty
        search.requester = field("requester").nonEmpty
        let (from, to) = (field("from"), field("to"))
        if !from.isEmpty {
            if let day = Self.day(from) {
                search.createdFrom = day
            } else {
                values.errors.append("Created from: give a date as YYYY-MM-DD.")
            }
        }
        if !to.isEmpty {
            if let day = Self.day(to) {
                search.createdBefore = day.addingTimeInterval(86_400)
            } else {
                values.errors.append("Created until: give a date as YYYY-MM-DD.")
            }
        }
        let pageNumber = max(1, min(Int(field("page")) ?? 1, 10_000))
        search.page = pageNumber - 1
        values.filter = ConsoleValues.Filter(
            text: field("q"), approver: field("approver"), requester: field("requester"), from: from, to: to,
            statuses: [ConsoleValues.Option(value: "", label: "any", selected: search.status == nil)]
                + ApprovalStatus.allCases.map {
                    ConsoleValues.Option(value: $0.rawValue, label: ConsoleValues.words($0), selected: $0 == search.status)
                })
        let backend = self.backend
        async let counted = currentCounts(context)
        let wanted = search
        let (found, more) = try await withDeadline(Self.readBudget, "Searching the requests") {
            try await backend.search(wanted)
        }
        values.counts = try await counted
        values.rows = found.map(ConsoleValues.Row.init)
        values.page = pageNumber
        let kept = ["q", "status", "approver", "requester", "from", "to"].compactMap { name in
            field(name).nonEmpty.map { (name, $0) }
        }
        if pageNumber > 1 { values.previous = Self.link("/console", kept + [("page", "\(pageNumber - 1)")]) }
        if more { values.next = Self.link("/console", kept + [("page", "\(pageNumber + 1)")]) }
        return page(.consoleList, values, status: values.errors.isEmpty ? .ok : .unprocessableContent)
    }

    /// The counters as JSON, for the list page's script: `{pending, decidedToday, deliveriesFailing, consumerLag}`
    /// (`consumerLag` null when Kafka did not say in time).
    func counters(_ context: GreenlightRequestContext) async throws -> Response {
        let counts = try await currentCounts(context)
        let lag: JSONValue = Int64(counts.lag).map { .number(Double($0)) } ?? .null
        let body: [String: JSONValue] = [
            "pending": .number(Double(counts.pending)), "decidedToday": .number(Double(counts.decidedToday)),
            "deliveriesFailing": .number(Double(counts.deliveriesFailing)), "consumerLag": lag,
            "at": .string(Timestamp.format(now())),
        ]
        return try Response.json(body, headers: [.cacheControl: "no-store"])
    }

    func currentCounts(_ context: GreenlightRequestContext) async throws -> ConsoleValues.Counts {
        let backend = self.backend
        async let lag = try? withDeadline(Self.lagBudget, "Measuring the orchestrator's consumer lag") {
            try await backend.orchestratorLag()
        }
        let counts = try await withDeadline(Self.readBudget, "Counting the requests") { try await backend.consoleCounts() }
        let measured = await lag
        if measured == nil { context.logger.debug("The orchestrator's consumer lag could not be measured in time") }
        return ConsoleValues.Counts(
            pending: counts.pending, decidedToday: counts.decidedToday, deliveriesFailing: counts.deliveriesFailing,
            lag: measured.map { "\($0)" } ?? "unknown")
    }

    // MARK: - Pages

    func values(for consoleOperator: ConsoleOperator) -> ConsoleValues {
        var values = ConsoleValues()
        values.operatorName = consoleOperator.name
        values.csrf = consoleOperator.csrfToken
        return values
    }

    func page(_ name: TemplateName, _ values: ConsoleValues, status: HTTPResponse.Status) -> Response {
        Self.response(templates.render(name, values), status: status)
    }

    func message(_ status: HTTPResponse.Status, _ heading: String, _ text: String) -> Response {
        var values = ConsoleValues()
        values.heading = heading
        values.message = text
        return page(.consoleMessage, values, status: status)
    }

    /// The console's headers: its own script and its own JSON only, nothing cached, never framed.
    static func response(_ html: String, status: HTTPResponse.Status, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; "
                + "frame-ancestors 'none'; base-uri 'none'",
            .referrerPolicy: "no-referrer",
            .xContentTypeOptions: "nosniff",
            .cacheControl: "no-store",
        ]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A 303 to a console page after a POST, so a reload does not post again.
    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    // MARK: - URLs

    /// A path segment: everything but unreserved characters percent-encoded.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func link(_ path: String, _ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return path }
        return path + "?" + query.map { "\(pathSegment($0.0))=\(pathSegment($0.1))" }.joined(separator: "&")
    }

    /// A GET form's fields (`a=1&b=x+y`): `+` is a space, as browsers write them; the first of a name given twice.
    static func formFields(ofQuery query: String?) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String? {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = parts.first.flatMap(decoded), let value = decoded(parts.count > 1 ? parts[1] : "") else {
                continue
            }
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Midnight UTC of a `YYYY-MM-DD` day.
    static func day(_ text: String) -> Date? {
        guard text.count == 10 else { return nil }
        return Timestamp.parse(text + "T00:00:00.000Z")
    }
}
