import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Metrics
import NIOCore
import Postgres

/// Turns every error that reaches the HTTP edge, unknown routes included, into an `application/problem+json`
/// answer. Unexpected errors are logged and answered 500 without their details.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    /// A path fit for a log line: a link token (22 characters of base64url) in it is replaced by `***`.
    static func redacted(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            LinkToken.isWellFormed(String(segment)) ? "***" : String(segment)
        }.joined(separator: "/")
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            switch problem.status {
            // Every 503 says when to try again.
            case 503: return .problem(problem, headers: [.retryAfter: "5"])
            case 401: return .problem(problem, headers: [.wwwAuthenticate: #"Bearer realm="greenlight""#])
            default: return .problem(problem)
            }
        } catch let limited as RateLimited {
            return .problem(limited.problem, headers: [.retryAfter: "\(limited.retryAfter)"])
        } catch let error as HTTPError {
            let status = Int(error.status.code)
            let detail: String
            switch error.status {
            case .notFound: detail = "No route matches \(request.method) \(request.uri.path)."
            case .methodNotAllowed: detail = "\(request.method) is not allowed on \(request.uri.path)."
            case .contentTooLarge: detail = error.body ?? "The request body is too large."
            default: detail = error.body ?? error.status.reasonPhrase
            }
            return .problem(Problem(title: error.status.reasonPhrase, status: status, detail: detail))
        } catch is NIOTooManyBytesError {
            return .problem(Problem(title: "Content Too Large", status: 413, detail: "The request body is too large."))
        } catch {
            context.logger.error("Request failed", metadata: ["error": "\(error)", "path": "\(Self.redacted(request.uri.path))"])
            return .problem(
                Problem(
                    title: "Internal Server Error", status: 500,
                    detail: "The request could not be completed; it is safe to retry."))
        }
    }
}

/// A 429 answer: the problem says which limit and what to do, `Retry-After` when to try again.
public struct RateLimited: Error, Sendable {
    public var problem: Problem
    public var retryAfter: Int

    /// Counts the refusal (`greenlight_rate_limited_total{limit}`) as it is made.
    public init(limit: String, retryAfter: Int, detail: String) {
        problem = Problem(
            type: "https://greenlight.dev/problems/rate-limited", title: "Too Many Requests", status: 429,
            detail: detail + " Retry after \(retryAfter) s.")
        self.retryAfter = retryAfter
        Counter(label: "greenlight_rate_limited_total", dimensions: [("limit", limit)]).increment()
    }
}

extension Response {
    /// A problem-details response.
    public static func problem(_ problem: Problem, headers extra: HTTPFields = [:]) -> Response {
        let body = (try? GreenlightJSON.encode(problem)) ?? Data()
        var headers: HTTPFields = [.contentType: Problem.mediaType]
        headers.append(contentsOf: extra)
        return Response(
            status: HTTPResponse.Status(code: problem.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A JSON response encoded the Greenlight way.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:])
        throws -> Response
    {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return Response(
            status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try GreenlightJSON.encode(value))))
    }
}

/// `/healthz` (the process is alive) and `/readyz` (its dependencies answer: each check names one).
public struct HealthRoutes: Sendable {
    public typealias Check = @Sendable () async -> Bool
    let checks: [(name: String, check: Check)]

    public init(checks: [(name: String, check: Check)]) {
        self.checks = checks
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("healthz") { _, _ in
            try Response.json(["status": "ok"])
        }
        router.get("readyz") { _, _ in
            var results: [String: String] = [:]
            for (name, check) in checks {
                results[name] = await check() ? "ok" : "unavailable"
            }
            let ready = results.values.allSatisfy { $0 == "ok" }
            return try Response.json(
                ["status": ready ? "ready" : "not ready"].merging(results) { a, _ in a },
                status: ready ? .ok : .serviceUnavailable)
        }
    }
}

/// Builds the HTTP server every service runs (health endpoints at least).
public func makeHTTPServer(
    router: Router<GreenlightRequestContext>, host: String, port: Int, serviceName: String, logger: Logger,
    listening: Logger.Message = "HTTP server listening",
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serviceName),
        onServerRunning: { channel in
            let bound = channel.localAddress?.port ?? port
            // With GREENLIGHT_HTTP_PORT=0 the kernel picks the port; this line says which (tests read it).
            logger.info(listening, metadata: ["host": "\(host)", "port": "\(bound)"])
            await onServerRunning(bound)
        },
        logger: logger)
}

/// The router every service starts from: request metrics (Hummingbird's `MetricsMiddleware`: requests by
/// method, route and status, with durations), a trace span per request (`ServerSpanMiddleware`), problem-details
/// errors, the health endpoints and `/metrics`.
public func makeServiceRouter(checks: [(name: String, check: HealthRoutes.Check)]) -> Router<GreenlightRequestContext> {
    let router = makePublicRouter()
    HealthRoutes(checks: checks).register(on: router)
    GreenlightMetrics.register(on: router)
    return router
}

/// A router for a public port that serves no operational endpoints (no health, no `/metrics`): the same request
/// metrics, spans and problem-details errors as `makeServiceRouter`, and a 405 with `Allow` for a method a path
/// does not have.
public func makePublicRouter() -> Router<GreenlightRequestContext> {
    let router = Router(context: GreenlightRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ServerSpanMiddleware())
    router.add(middleware: ProblemMiddleware())
    let routes = RouterReference()
    routes.attach(router)
    router.add(middleware: MethodNotAllowedMiddleware(routes: routes))
    return router
}

/// Readiness checks shared by the services.
public enum ReadinessCheck {
    public static func kafka(_ producer: KafkaProducer) -> (name: String, check: HealthRoutes.Check) {
        ("kafka", { await producer.isConnected() })
    }

    public static func kafka(_ consumer: KafkaConsumer) -> (name: String, check: HealthRoutes.Check) {
        ("kafka", { await consumer.isConnected() })
    }

    public static func postgres(_ pool: PostgresPool) -> (name: String, check: HealthRoutes.Check) {
        ("postgres", { (try? await pool.query("SELECT 1")) != nil })
    }
}
