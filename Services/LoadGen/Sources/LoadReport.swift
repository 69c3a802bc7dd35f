import Foundation
import GreenlightModels
import Histogram

/// Latency percentiles in milliseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: UInt64
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double

    /// From a histogram of microseconds.
    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000).rounded(toPlaces: 2) }
        p50 = count == 0 ? 0 : ms(histogram.valueAtPercentile(50))
        p90 = count == 0 ? 0 : ms(histogram.valueAtPercentile(90))
        p99 = count == 0 ? 0 : ms(histogram.valueAtPercentile(99))
        max = count == 0 ? 0 : ms(histogram.max)
    }
}

/// Whether every request ended exactly once, the way it should have.
public struct Verification: Codable, Sendable, Equatable {
    /// Requests with no outcome event by the end of the run.
    public var missing: Int
    /// Outcome events beyond the first for a request.
    public var duplicates: Int
    /// Outcomes of another kind than expected (rejected for an approve click, say).
    public var wrongKind: Int

    public var passed: Bool { missing == 0 && duplicates == 0 && wrongKind == 0 }
}

/// When a timeouts run's deadlines fell due. The load generator asks for them all in the same second, but each
/// request's deadline counts from the moment the orchestrator started its workflow (`expiresAt`), so requests started
/// late, behind a backlog, fall due as late: this says how far they spread and how many came due together.
public struct DeadlineSpread: Codable, Sendable, Equatable {
    public var count: Int
    /// From the first deadline to the last.
    public var seconds: Double
    /// The most deadlines within any one second.
    public var mostInOneSecond: Int

    init(count: Int, seconds: Double, mostInOneSecond: Int) {
        self.count = count
        self.seconds = seconds
        self.mostInOneSecond = mostInOneSecond
    }

    init(_ deadlines: [Date]) {
        let times = deadlines.map(\.timeIntervalSince1970).sorted()
        count = times.count
        seconds = ((times.last ?? 0) - (times.first ?? 0)).rounded(toPlaces: 3)
        var most = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= 1 { start += 1 }
            most = max(most, end - start + 1)
        }
        mostInOneSecond = most
    }
}

/// What a run measured, as printed in JSON.
public struct LoadReport: Codable, Sendable {
    public var mode: String
    public var requests: Int
    public var accepted: Int
    public var completed: Int
    public var submitSeconds: Double
    public var totalSeconds: Double
    /// Requests accepted per second over the submission phase.
    public var acceptedPerSecond: Double
    /// Outcomes per second from the first submission to the last outcome (end to end).
    public var completedPerSecond: Double
    public var latencyMs: [String: LatencySummary]
    public var errors: [String: Int]
    public var verification: Verification
    /// Resident memory (VmRSS, kB) of each named service process at the end.
    public var residentKB: [String: Int]
    /// Timeouts mode: when the deadlines fell due.
    public var deadlines: DeadlineSpread?

    /// A table for people.
    public var table: String {
        var lines = [
            "mode \(mode): \(requests) requests, \(accepted) accepted, \(completed) completed",
            String(format: "accepted %.1f/s over %.2f s; completed end to end %.1f/s over %.2f s",
                acceptedPerSecond, submitSeconds, completedPerSecond, totalSeconds),
            "",
            "latency (ms)                 count       p50       p90       p99       max",
        ]
        for (name, summary) in latencyMs.sorted(by: { $0.key < $1.key }) {
            lines.append(
                name.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(format: " %9llu %9.2f %9.2f %9.2f %9.2f", summary.count, summary.p50, summary.p90, summary.p99, summary.max))
        }
        if let deadlines {
            lines.append(
                String(
                    format: "deadlines: %d fell due over %.2f s, at most %d in one second", deadlines.count, deadlines.seconds,
                    deadlines.mostInOneSecond))
        }
        lines.append("")
        lines.append("errors: " + (errors.isEmpty ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")))
        lines.append(
            "verification: \(verification.passed ? "passed" : "FAILED") (missing \(verification.missing), duplicates \(verification.duplicates), wrong kind \(verification.wrongKind))")
        if !residentKB.isEmpty {
            lines.append("resident memory: " + residentKB.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) kB" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let factor = Foundation.pow(10, Double(places))
        return (self * factor).rounded() / factor
    }
}
