import Foundation
import GreenlightTestSupport
import Testing

/// Each service refuses to start on a bad setting, naming the variable, before it touches anything.
struct StartupTests {
    @Test(arguments: ["greenlight-intake", "greenlight-orchestrator", "greenlight-notifier", "greenlight-callbacks"])
    func badSettingsStopTheServiceWithAMessageNamingTheVariable(executable: String) async throws {
        let log = NSTemporaryDirectory() + "startup-\(UUID().uuidString.prefix(8)).log"
        let process = try ChildProcess(
            name: executable, executable: "\(try ServiceStack.executableDirectory())/\(executable)",
            environment: ["GREENLIGHT_HTTP_PORT": "eighty", "GREENLIGHT_KAFKA_BROKERS": "no-port-here"], logPath: log)
        #expect(await process.waitForExit() == 78)
        let output = process.logTail()
        #expect(output.contains("GREENLIGHT_HTTP_PORT"))
        #expect(output.contains("GREENLIGHT_KAFKA_BROKERS"))
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
