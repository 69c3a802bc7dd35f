import Callbacks
import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import Intake
import ServiceSupport
import Templates
import Testing

/// A method a path does not have is a 405 with `Allow` and a problem body, on both services' routers (built by
/// `makeServiceRouter` as the services build theirs); a path no route has stays a 404.
struct MethodNotAllowedTests {
    func intake() -> some ApplicationProtocol {
        let router = makeServiceRouter(checks: [])
        IntakeRoutes(
            publisher: RecordingPublisher(), statuses: FixedStatuses(), defaultApprover: "a@example.com",
            apiKeys: APIKeys([], open: true)
        ).register(on: router)
        return Application(router: router)
    }

    func callbacks() throws -> some ApplicationProtocol {
        let router = makeServiceRouter(checks: [])
        LinkRoutes(
            tokens: FixedTokens(), publisher: RecordingPublisher(), publicURL: "http://127.0.0.1:8081",
            templates: try TemplateLibrary()
        ).register(on: router)
        CallbackAPIRoutes(callbacks: FixedCallbacks(), publisher: RecordingPublisher(), apiKeys: APIKeys([], open: true))
            .register(on: router)
        return Application(router: router)
    }

    static func expect405(_ response: TestResponse, allow: String) throws {
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers[.allow] == allow)
        #expect(response.headers[.contentType] == Problem.mediaType)
        let problem = try JSONDecoder().decode(Problem.self, from: Data(buffer: response.body))
        #expect(problem.status == 405)
        #expect(problem.detail.contains(allow))
    }

    @Test func intakeAnswers405WithTheMethodsThePathHas() async throws {
        try await intake().test(.router) { client in
            try await client.execute(uri: "/v1/requests", method: .delete) { try Self.expect405($0, allow: "GET, POST") }
            try await client.execute(uri: "/requests", method: .get) { try Self.expect405($0, allow: "POST") }
            try await client.execute(uri: "/v1/requests/REQ-1", method: .put) { try Self.expect405($0, allow: "GET") }
            try await client.execute(uri: "/v1/requests/REQ-1/decision", method: .get) { try Self.expect405($0, allow: "POST") }
            try await client.execute(uri: "/healthz", method: .trace) { try Self.expect405($0, allow: "GET") }
            try await client.execute(uri: "/metrics", method: .options) { try Self.expect405($0, allow: "GET") }
            // The routes themselves still answer, a missing request included; an unknown path is still a 404.
            try await client.execute(uri: "/v1/requests/REQ-1", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.allow] == nil)
            }
            try await client.execute(uri: "/v1/nothing-here", method: .delete) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.allow] == nil)
                #expect(response.headers[.contentType] == Problem.mediaType)
            }
        }
    }

    @Test func theCallbackReceiverAnswers405Too() async throws {
        try await callbacks().test(.router) { client in
            let token = "8r4KwaVVHiSMjhJivNEG5g"
            try await client.execute(uri: "/approve/\(token)", method: .delete) { try Self.expect405($0, allow: "GET, POST") }
            try await client.execute(uri: "/r/\(token)", method: .post) { try Self.expect405($0, allow: "GET") }
            try await client.execute(uri: "/v1/callbacks/\(UUID())/success", method: .get) {
                try Self.expect405($0, allow: "POST")
            }
            try await client.execute(uri: "/approve/\(token)/more", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
