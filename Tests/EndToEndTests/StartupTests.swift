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
}
