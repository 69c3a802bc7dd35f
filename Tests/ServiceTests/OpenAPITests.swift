import Callbacks
import DurableExecution
import Foundation
import Hummingbird
import Intake
import ServiceSupport
import Testing
import Yams

/// deploy/openapi.yaml against the routes the intake and the callback receiver really register: every route is
/// documented and every documented route exists.
struct OpenAPITests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../deploy/openapi.yaml").standardized

    func documented() throws -> Set<String> {
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(root["openapi"] as? String == "3.1.0")
        let paths = try #require(root["paths"] as? [String: Any])
        var operations: Set<String> = []
        for (path, value) in paths {
            for method in (value as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    func registered() -> Set<String> {
        let intake = makeServiceRouter(checks: [])
        IntakeRoutes(publisher: RecordingPublisher(), statuses: FixedStatuses(), defaultApprover: "a@example.com")
            .register(on: intake)
        let callbacks = makeServiceRouter(checks: [])
        LinkRoutes(tokens: FixedTokens(), publisher: RecordingPublisher(), publicURL: "http://127.0.0.1:8081").register(on: callbacks)
        CallbackAPIRoutes(callbacks: FixedCallbacks(), publisher: RecordingPublisher(), apiKeys: APIKeys([]))
            .register(on: callbacks)
        let routes = intake.routes + callbacks.routes
        return Set(routes.map { route in
            let path = route.path.description
            return "\(route.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"
        })
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() throws {
        let documented = try documented()
        let registered = registered()
        #expect(registered.subtracting(documented).isEmpty, "undocumented: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but missing: \(documented.subtracting(registered).sorted())")
    }
}
