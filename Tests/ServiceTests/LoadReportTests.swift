import Foundation
import GreenlightModels
@testable import LoadGen
import Logging
import Testing

/// The load generator's own verification: a run with a missing, duplicated or wrong outcome fails.
struct LoadReportTests {
    func generator(_ count: Int, mode: LoadOptions.Mode = .approvals) -> LoadGenerator {
        LoadGenerator(
            options: LoadOptions(
                intakeURL: "http://127.0.0.1:1", brokers: "127.0.0.1:1", smtpPort: 0, requests: count, rate: nil,
                concurrency: 1, approveShare: 0.5, mode: mode, deadlineSeconds: 1, waitSeconds: 1, services: [:],
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

    /// The timeline has a row per request in the order submitted, each stage in Unix-epoch milliseconds: this
    /// process's instants set against the run's wall-clock start, the services' times as they are; a stage that did not
    /// happen is empty.
    @Test func theTimelineHasEachRequestsStagesInEpochMilliseconds() async throws {
        let generator = generator(2)
        let start = ContinuousClock.now
        let wallStart = Date(timeIntervalSince1970: 1_800_000_000)
        generator.state.entries.withLock { entries in
            var first = LoadGenerator.Entry(index: 0, expected: .approved)
            first.submitted = start + .milliseconds(10)
            first.answered = start + .milliseconds(15)
            first.emailed = start + .milliseconds(40)
            first.clicked = start + .milliseconds(50)
            first.clickAnswered = start + .milliseconds(70)
            first.completedAt = wallStart.addingTimeInterval(0.065)
            first.writtenAt = wallStart.addingTimeInterval(0.072)
            first.received = start + .milliseconds(80)
            first.outcomes = 1
            entries[generator.requestId(0)] = first
            var second = LoadGenerator.Entry(index: 1, expected: .rejected)
            second.submitted = start + .seconds(1)
            entries[generator.requestId(1)] = second
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("timeline-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try generator.writeTimeline(to: file, start: start, wallStart: wallStart)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == [
            "request,submitted,accepted,emailed,clicked,clickAnswered,decided,written,received,outcomes",
            "T-0,1800000000010.0,1800000000015.0,1800000000040.0,1800000000050.0,1800000000070.0,1800000000065.0,1800000000072.0,1800000000080.0,1",
            "T-1,1800000001000.0,,,,,,,,0",
        ])
        try await generator.http.shutdown()
    }

    /// A timeouts run says when its deadlines fell due: from the first to the last, and the most within one second
    /// (they are asked for in one second, but count from each workflow's start).
    @Test func aTimeoutsRunReportsHowItsDeadlinesSpread() async throws {
        let offsets = [0, 0.2, 0.5, 0.99, 1.0, 3.0]
        let generator = generator(offsets.count, mode: .timeouts)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        generator.state.entries.withLock { entries in
            for (index, offset) in offsets.enumerated() {
                var entry = LoadGenerator.Entry(index: index, expected: .timedOut)
                entry.accepted = true
                entry.outcomes = 1
                entry.expiresAt = start.addingTimeInterval(offset)
                entries[generator.requestId(index)] = entry
            }
        }
        let report = generator.report(submitSeconds: 1, totalSeconds: 2)
        #expect(report.deadlines == DeadlineSpread(count: 6, seconds: 3, mostInOneSecond: 4))
        #expect(report.table.contains("deadlines: 6 fell due over 3.00 s, at most 4 in one second"))
        try await generator.http.shutdown()
        let approvals = self.generator(1)
        #expect(approvals.report(submitSeconds: 1, totalSeconds: 1).deadlines == nil)
        try await approvals.http.shutdown()
    }
}
