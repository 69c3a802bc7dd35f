import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The load generator against the running services (a small, bounded run): it delivers every email to its own
/// SMTP server, clicks every link, matches every outcome, and reports a passing verification in its JSON.
@Suite(.timeLimit(.minutes(3)))
struct LoadGenTests {
    struct Report: Decodable {
        struct Verification: Decodable {
            var missing: Int
            var duplicates: Int
            var wrongKind: Int
        }
        struct Latency: Decodable {
            var count: Int
            var p99: Double
        }
        var accepted: Int
        var completed: Int
        var verification: Verification
        var latencyMs: [String: Latency]
        var residentKB: [String: Int]
    }

    @Test func aSmallRunCompletesAndVerifies() async throws {
        let smtpPort = try freePort()
        // Every click comes from 127.0.0.1: 30 requests are 60 link-page hits, the per-address limit exactly, so one
        // 503 tried again (a busy machine) would turn a click into a 429 and a request into a missing one.
        try await ServiceStack.with(
            environment: ["GREENLIGHT_SMTP_URL": "smtp://127.0.0.1:\(smtpPort)", "GREENLIGHT_LINK_RATE_LIMIT": "0"]
        ) { stack in
            let log = "\(stack.logDirectory)/loadgen.json"
            let loadgen = try await ChildProcess(
                name: "loadgen", executable: "\(try ServiceStack.executableDirectory())/greenlight-loadgen",
                arguments: [
                    "--intake-url", stack.intakeURL, "--kafka-brokers", stack.cluster.bootstrapServers,
                    "--smtp-port", "\(smtpPort)", "--requests", "30", "--concurrency", "8", "--approve-share", "0.7",
                    "--wait-seconds", "60", "--service", "orchestrator=\(stack.processes["orchestrator"]!.pid)",
                    "--api-key", try #require(stack.apiSecret),
                ],
                logPath: log)
            let status = await loadgen.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "\(output)")
            let json = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
            let report = try GreenlightJSON.decode(Report.self, from: Data(json.utf8))
            #expect(report.accepted == 30)
            #expect(report.completed == 30)
            #expect(report.verification.missing == 0 && report.verification.duplicates == 0 && report.verification.wrongKind == 0)
            #expect(report.latencyMs["click → outcome"]?.count == 30)
            #expect(report.latencyMs["request → email"]?.count == 30)
            // Where each click's time went, by the services' timestamps: one sample per outcome in each part.
            for part in ["click → decided", "decided → outcome written", "outcome written → read"] {
                #expect(report.latencyMs[part]?.count == 30, "\(part): \(String(describing: report.latencyMs[part]))")
            }
            #expect((report.residentKB["orchestrator"] ?? 0) > 0)
            #expect(output.contains("verification: passed"))
            // About 70% approved (20 of these 30 request indexes), the rest rejected: both kinds of click happened.
            let ours = stack.outcomes.all.filter { $0.requestId.hasPrefix("LOAD-") }
            #expect(ours.filter { $0.status == .approved }.count == 20)
            #expect(ours.filter { $0.status == .rejected }.count == 10)
        }
    }
}
