import Foundation
import GreenlightTestSupport
import Testing

/// Each service refuses to start on a bad setting, naming the variable, before it touches anything.
struct StartupTests {
    @Test(arguments: ["greenlight-intake", "greenlight-orchestrator", "greenlight-notifier", "greenlight-callbacks"])
    func badSettingsStopTheServiceWithAMessageNamingTheVariable(executable: String) async throws {
        let log = TestEnvironment.scratchPath("startup-\(UUID().uuidString.prefix(8)).log")
        let process = try await ChildProcess(
            name: executable, executable: "\(try ServiceStack.executableDirectory())/\(executable)",
            environment: [
                "GREENLIGHT_HTTP_PORT": "eighty", "GREENLIGHT_KAFKA_BROKERS": "no-port-here",
                "GREENLIGHT_KAFKA_PROPERTY_sasl_mechanismz": "PLAIN",
            ], logPath: log)
        #expect(await process.waitForExit() == 78)
        let output = process.logTail()
        #expect(output.contains("GREENLIGHT_HTTP_PORT"))
        #expect(output.contains("GREENLIGHT_KAFKA_BROKERS"))
        #expect(output.contains("GREENLIGHT_KAFKA_PROPERTY_sasl_mechanismz: librdkafka refuses it"))
    }

    /// The tracing settings too: gRPC (which swift-otel would stop the process on with a crash, since this build has
    /// no gRPC exporter), and a client certificate that is not one (which only swift-otel finds).
    @Test func anUnusableTraceExporterStopsTheServiceWithAMessage() async throws {
        let notPEM = TestEnvironment.scratchPath("not-a-certificate-\(UUID().uuidString.prefix(8)).pem")
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: notPEM))
        let cases: [([String: String], String)] = [
            (["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"], "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json"),
            (
                [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:1", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM,
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY": notPEM,
                ], "the trace exporter cannot start (check the OTEL_EXPORTER_OTLP_* settings)"
            ),
        ]
        for (environment, message) in cases {
            let process = try await ChildProcess(
                name: "intake", executable: "\(try ServiceStack.executableDirectory())/greenlight-intake",
                environment: environment.merging(["GREENLIGHT_API_KEYS": ServiceStack.apiKeys]) { a, _ in a },
                logPath: TestEnvironment.scratchPath("otel-startup-\(UUID().uuidString.prefix(8)).log"))
            let exited = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { process.hasExited }
            if !exited { process.signal(SIGKILL) }
            #expect(exited, "intake kept running with \(environment)")
            #expect(await process.waitForExit() == 78)
            let output = process.logTail()
            #expect(output.contains(message), "\(output)")
            #expect(!output.contains("Fatal error"))
        }
    }

    /// A port already taken is a setting to change, said once with the variable's name: not a crash.
    @Test func aTakenPortStopsTheServiceWithAMessageNamingTheSetting() async throws {
        let (taken, port) = try listeningOnLoopback(backlog: 1)
        defer { close(taken) }
        let log = TestEnvironment.scratchPath("taken-port-\(UUID().uuidString.prefix(8)).log")
        let database = try await TestDatabase.create("taken_port")
        let process = try await ChildProcess(
            name: "notifier", executable: "\(try ServiceStack.executableDirectory())/greenlight-notifier",
            environment: [
                "GREENLIGHT_HTTP_PORT": "\(port)", "GREENLIGHT_KAFKA_BROKERS": "127.0.0.1:1",
                "GREENLIGHT_LINK_SECRET": String(repeating: "s", count: 32), "GREENLIGHT_DATABASE_URL": database.url,
            ],
            logPath: log)
        let exited = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { process.hasExited }
        if !exited { process.signal(SIGKILL) }
        #expect(exited, "the notifier kept running on a taken port")
        #expect(await process.waitForExit() == 1)
        let output = process.logTail()
        #expect(output.contains("cannot listen on 127.0.0.1:\(port)"), "\(output)")
        #expect(output.contains("set GREENLIGHT_HTTP_PORT to a free port"))
        #expect(!output.contains("Fatal error"))
    }

    /// `/readyz` follows the dependencies of the running services: 503 naming Postgres (which every service uses)
    /// while the database is down, naming Kafka while the broker is, and ready again once they are back;
    /// `/healthz` stays 200 throughout (the process is alive, so it must not be restarted for an outage).
    @Test(.timeLimit(.minutes(6))) func readinessFollowsPostgresAndKafka() async throws {
        try await ServiceStack.with { stack in
            let services = ["intake", "orchestrator", "notifier", "callbacks"]
            func probe(_ service: String, _ path: String = "/readyz") async throws -> HTTP.Response {
                try await HTTP.get("http://127.0.0.1:\(stack.ports[service]!)\(path)")
            }
            func waitUntil(
                _ services: [String], _ what: String, timeout: Duration = .seconds(40),
                _ condition: @escaping @Sendable (HTTP.Response) -> Bool
            ) async throws {
                let deadline = ContinuousClock.now + timeout
                for service in services {
                    var last: HTTP.Response?
                    let reached = try await eventually(timeout: max(deadline - ContinuousClock.now, .seconds(1)), interval: .milliseconds(250)) {
                        last = try await probe(service)
                        return condition(last!)
                    }
                    #expect(
                        reached,
                        "\(service) never became \(what): \(last.map { "\($0.status) \($0.body)" } ?? "")\n\(stack.diagnostics())")
                }
            }
            try await waitUntil(services, "ready") { $0.status == 200 }

            try await stack.database.setAcceptingConnections(false)
            // Every service uses Postgres (the notifier for its delivery queue).
            try await waitUntil(services, "unready for Postgres") {
                $0.status == 503 && $0.body.contains(#""postgres":"unavailable""#) && $0.body.contains(#""kafka":"ok""#)
            }
            for service in services { #expect(try await probe(service, "/healthz").status == 200) }
            try await stack.database.setAcceptingConnections(true)
            try await waitUntil(services, "ready again after Postgres") { $0.status == 200 }

            try await stack.cluster.setBrokerDown(1)
            try await waitUntil(services, "unready for Kafka") {
                $0.status == 503 && $0.body.contains(#""kafka":"unavailable""#) && $0.body.contains(#""status":"not ready""#)
            }
            for service in services { #expect(try await probe(service, "/healthz").status == 200) }
            try await stack.cluster.setBrokerUp(1)
            // The embedded broker leaves a request that reached it while down unanswered, so a client may wait out
            // socket.timeout.ms (10 s) before it reconnects.
            try await waitUntil(services, "ready again after Kafka", timeout: .seconds(40)) { $0.status == 200 }

        }
    }

    /// SIGTERM (what `docker stop` and Kubernetes send) ends every service cleanly, with status 0, after it has
    /// done some work: its loops stop without the shutdown being mistaken for a failure.
    @Test func everyServiceShutsDownCleanlyOnSIGTERM() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(#"{"requestId": "\#(requestId)", "amount": 1, "description": "Shutdown"}"#).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            // Long enough for the periodic loops (consumer lag, gauges) to be asleep when the signal comes.
            try await Task.sleep(for: .seconds(6))
            let statuses = await stack.stop()
            #expect(statuses == ["intake": 0, "orchestrator": 0, "notifier": 0, "callbacks": 0], "\(stack.diagnostics())")
        }
    }
}
