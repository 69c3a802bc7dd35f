import Foundation
import GreenlightModels
import Hummingbird

/// Answers 405 Method Not Allowed, with an `Allow` header and a problem body, to a method a path does not have
/// (RFC 9110 §15.5.6); Hummingbird's router answers 404 to anything it has no route for. A path no route matches
/// stays a 404.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = GreenlightRequestContext
    let routes: RouterReference

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // Only the router throws HTTPError(.notFound) (handlers throw a Problem): no route has this path and
            // method. Does one have the path?
            let allowed = routes.methods(forPath: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return .problem(
                Problem(
                    title: "Method Not Allowed", status: 405,
                    detail: "\(request.method) is not allowed on \(request.uri.path); use \(list)."),
                headers: [.allow: list])
        }
    }
}

/// The routes a `MethodNotAllowedMiddleware` answers from: its router's, taken at the first look-up (every route
/// is registered before a router serves), after which the router is let go (it holds the middleware).
/// `@unchecked Sendable`: its state is read and written under its lock only.
final class RouterReference: @unchecked Sendable {
    private let lock = NSLock()
    private var router: Router<GreenlightRequestContext>?
    private var routes: [(path: RouterPath, method: HTTPRequest.Method)]?

    init() {}

    func attach(_ router: Router<GreenlightRequestContext>) {
        lock.withLock { self.router = router }
    }

    /// The methods of the routes whose path matches `path` (a request's path, captures matching any segment).
    func methods(forPath path: String) -> Set<HTTPRequest.Method> {
        let routes = lock.withLock {
            if self.routes == nil {
                self.routes = router?.routes.map { (path: $0.path, method: $0.method) } ?? []
                router = nil
            }
            return self.routes ?? []
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = Set<HTTPRequest.Method>()
        for route in routes where route.path.components.count == segments.count {
            if zip(route.path.components, segments).allSatisfy({ element, segment in element ~= segment }) {
                methods.insert(route.method)
            }
        }
        return methods
    }
}
