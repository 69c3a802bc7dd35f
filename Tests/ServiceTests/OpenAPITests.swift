import Callbacks
import DurableExecution
import Foundation
import Hummingbird
import Intake
import Logging
import Postgres
import ServiceSupport
import Templates
import Testing
import Yams

/// deploy/openapi.yaml against the routes the intake and the callback receiver really register: every route is
/// documented under the service that answers it, and every documented route exists there.
struct OpenAPITests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../deploy/openapi.yaml").standardized

    /// The documented operations, by service: a path's own `servers` say which service answers it; a path
    /// without them (health, readiness, metrics) is answered by every service.
    func documented() throws -> [String: Set<String>] {
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(root["openapi"] as? String == "3.1.0")
        let paths = try #require(root["paths"] as? [String: Any])
        let services = ["http://127.0.0.1:8080": "intake", "http://127.0.0.1:8081": "callbacks"]
        var operations: [String: Set<String>] = ["intake": [], "callbacks": []]
        for (path, value) in paths {
            let item = value as? [String: Any] ?? [:]
            let servers = (item["servers"] as? [[String: Any]])?.compactMap { ($0["url"] as? String).flatMap { services[$0] } }
                ?? Array(services.values)
            for method in item.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                for service in servers { operations[service, default: []].insert("\(method.uppercased()) \(path)") }
            }
        }
        return operations
    }

    /// The routes each service registers.
    func registered() throws -> [String: Set<String>] {
        let intake = makeServiceRouter(checks: [])
        let intakeRoutes = IntakeRoutes(publisher: RecordingPublisher(), statuses: FixedStatuses(), defaultApprover: "a@example.com")
        intakeRoutes.register(on: intake)
        intakeRoutes.registerOutcome(on: intake, listener: try UnusedListener.make())
        intakeRoutes.registerDelegations(on: intake, reader: FixedDelegations())
        let callbacks = makeServiceRouter(checks: [])
        LinkRoutes(
            tokens: FixedTokens(), publisher: RecordingPublisher(), publicURL: "http://127.0.0.1:8081",
            templates: try TemplateLibrary()
        ).register(on: callbacks)
        CallbackAPIRoutes(callbacks: FixedCallbacks(), publisher: RecordingPublisher(), apiKeys: APIKeys([]))
            .register(on: callbacks)
        func operations(_ router: Router<GreenlightRequestContext>) -> Set<String> {
            Set(router.routes.map { route in
                let path = route.path.description
                return "\(route.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"
            })
        }
        return ["intake": operations(intake), "callbacks": operations(callbacks)]
    }

    /// Every operation has a unique `operationId` (what generated clients name their methods after) and tags from
    /// the document's own list (what documentation groups operations by).
    @Test func everyOperationHasAnOperationIdAndDeclaredTags() throws {
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        let declaredTags = Set(((root["tags"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
        #expect(!declaredTags.isEmpty, "the document declares no tags")
        let paths = try #require(root["paths"] as? [String: Any])
        var operationIds: [String: String] = [:]
        var operations = 0
        for (path, value) in paths {
            let item = value as? [String: Any] ?? [:]
            for method in ["get", "put", "post", "delete", "patch", "head", "options", "trace"] {
                guard let operation = item[method] as? [String: Any] else { continue }
                operations += 1
                let name = "\(method.uppercased()) \(path)"
                let operationId = operation["operationId"] as? String ?? ""
                #expect(!operationId.isEmpty, "\(name) has no operationId")
                if let other = operationIds[operationId], !operationId.isEmpty {
                    Issue.record("\(name) and \(other) share the operationId \(operationId)")
                }
                operationIds[operationId] = name
                let tags = operation["tags"] as? [String] ?? []
                #expect(!tags.isEmpty, "\(name) has no tags")
                #expect(Set(tags).isSubset(of: declaredTags), "\(name): tags \(tags) not all declared in the top-level tags")
            }
        }
        #expect(operations >= 22)
    }

    @Test func everyRouteIsDocumentedUnderItsServiceAndEveryDocumentedRouteExistsThere() throws {
        let documented = try documented()
        let registered = try registered()
        for service in ["intake", "callbacks"] {
            let (docs, routes) = (documented[service] ?? [], registered[service] ?? [])
            #expect(routes.subtracting(docs).isEmpty, "\(service), undocumented: \(routes.subtracting(docs).sorted())")
            #expect(docs.subtracting(routes).isEmpty, "\(service), documented but missing: \(docs.subtracting(routes).sorted())")
        }
    }
}

/// A listener that is never run: registering the long-poll route needs one.
enum UnusedListener {
    static func make() throws -> PostgresListener {
        PostgresListener(
            configuration: try PostgresConfiguration(url: "postgresql://127.0.0.1/unused"), channel: "unused",
            logger: Logger(label: "unused"))
    }
}
