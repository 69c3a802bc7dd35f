import ApprovalStore
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// The callback receiver's link pages are public; with `GREENLIGHT_INTERNAL_PORT` its metrics, health and the
/// callback API are served on another port only, so exposing the public one shows nothing operational.
@Suite(.timeLimit(.minutes(2)))
struct InternalPortTests {
    @Test func operationsAndTheProgramAPIStayOffThePublicPort() async throws {
        let database = try await TestDatabase.create("internal-port")
        // The orchestrator owns the schema; the callback receiver waits for it.
        let pool = try database.pool()
        try await GreenlightDatabase.migrate(pool, logger: TestEnvironment.logger("internal-port"))
        pool.close()
        let cluster = try KafkaMockCluster()
        for topic in Topic.allCases { try cluster.createTopic(topic.rawValue, partitions: 1) }
        let log = TestEnvironment.scratchPath("internal-port-\(UUID().uuidString.prefix(8)).log")
        let callbacks = try await ChildProcess(
            name: "callbacks", executable: "\(try ServiceStack.executableDirectory())/greenlight-callbacks",
            environment: [
                "GREENLIGHT_KAFKA_BROKERS": cluster.bootstrapServers, "GREENLIGHT_DATABASE_URL": database.url,
                "GREENLIGHT_HTTP_HOST": "127.0.0.1", "GREENLIGHT_HTTP_PORT": "0", "GREENLIGHT_INTERNAL_PORT": "0",
                "GREENLIGHT_API_KEYS": "internal-port-key-0123456789",
            ], logPath: log)
        defer { Task { _ = await callbacks.stop() } }
        let publicPort = try await ServiceStack.listeningPort(of: callbacks)
        var internalPort: Int?
        try await waitUntil(timeout: .seconds(30)) {
            let line = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .first { $0.contains("Internal port listening") }
            internalPort = line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .flatMap { ($0["port"] as? String).flatMap(Int.init) }
            return internalPort != nil
        }
        let operations = "http://127.0.0.1:\(try #require(internalPort))"
        let exposed = "http://127.0.0.1:\(publicPort)"
        #expect(operations != exposed)

        let ready = try await eventually(timeout: .seconds(30)) { try await HTTP.get("\(operations)/readyz").status == 200 }
        #expect(ready)
        let metrics = try await HTTP.get("\(operations)/metrics")
        #expect(metrics.status == 200 && metrics.body.contains("# TYPE"), "\(metrics.body.prefix(300))")
        // The callback API is there (it asks for a key)…
        let heartbeat = "/v1/callbacks/\(UUID())/heartbeat"
        #expect(try await HTTP.post("\(operations)\(heartbeat)", body: "", contentType: "application/json").status == 401)
        // …and on the public port it is not, nor is anything operational: the link pages only.
        #expect(try await HTTP.post("\(exposed)\(heartbeat)", body: "", contentType: "application/json").status == 404)
        for path in ["/metrics", "/readyz", "/healthz"] {
            #expect(try await HTTP.get("\(exposed)\(path)").status == 404, "\(path)")
        }
        let link = try await HTTP.get("\(exposed)/approve/\(String(repeating: "A", count: LinkToken.length))")
        #expect(link.status == 404 && link.body.contains("<html"), "\(link.body.prefix(200))")
        #expect(try await HTTP.get("\(operations)/approve/\(String(repeating: "A", count: LinkToken.length))").status == 404)
        _ = await callbacks.stop()
    }
}
