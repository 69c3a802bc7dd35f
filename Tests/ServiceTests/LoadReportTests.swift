import Foundation
import GreenlightModels
@testable import LoadGen
import Logging
import Testing

/// The load generator's own verification: a run with a missing, duplicated or wrong outcome fails.
struct LoadReportTests {
    func generator(_ count: Int) -> LoadGenerator {
        LoadGenerator(
            options: LoadOptions(
                intakeURL: "http://127.0.0.1:1", brokers: "127.0.0.1:1", smtpPort: 0, requests: count, rate: nil,
                concurrency: 1, approveShare: 0.5, mode: .approvals, deadlineSeconds: 1, waitSeconds: 1, services: [:],
                prefix: "T"),
            logger: Logger(label: "test"))
    }

    @Test func missingDuplicatedAndWrongOutcomesFailTheRun() async throws {
        let generator = generator(4)
        generator.state.entries.withLock { entries in
            for index in 0..<4 {
                var entry = LoadGenerator.Entry(index: index, expected: generator.expected(index))
                entry.accepted = true
                entries[generator.requestId(index)] = entry
            }
            entries["T-0"]?.outcomes = 1
            entries["T-1"]?.outcomes = 2
            entries["T-2"]?.outcomes = 1
            entries["T-2"]?.wrongKind = true
        }
        let report = generator.report(submitSeconds: 1, totalSeconds: 2)
        #expect(report.verification == Verification(missing: 1, duplicates: 1, wrongKind: 1))
        #expect(!report.verification.passed)
        #expect(report.table.contains("verification: FAILED"))
        #expect(report.completed == 3)
        try await generator.http.shutdown()
    }

    @Test func theShareOfApprovalsFollowsTheIndex() async throws {
        let generator = generator(100)
        #expect((0..<100).filter { generator.expected($0) == .approved }.count == 50)
        #expect(LoadGenerator.confirmField(in: #"<input type="hidden" name="confirm" value="abc123">"#) == "abc123")
        try await generator.http.shutdown()
    }
}
