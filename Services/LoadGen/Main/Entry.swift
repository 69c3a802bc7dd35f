import ArgumentParser
import Foundation
import GreenlightModels
import LoadGen
import Logging

@main
struct LoadGenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenlight-loadgen",
        abstract: "Drive a running Greenlight through its public interfaces and measure it.",
        discussion: """
            Runs its own SMTP server on --smtp-port (point the notifier's GREENLIGHT_SMTP_URL at it), submits \
            requests to intake, clicks every emailed link (GET, then the form's POST), and matches the outcomes on \
            approvals.outcomes. Prints one JSON document on standard output and a table on standard error; exits 1 \
            when a request did not end exactly once the way it should have.
            """)

    @Option(help: "Intake's base URL.") var intakeURL = "http://127.0.0.1:8080"
    @Option(help: "Kafka bootstrap servers.") var kafkaBrokers = "127.0.0.1:9092"
    @Option(help: "How long the outcome consumer's fetches may wait for data, in ms (fetch.wait.max.ms).")
    var kafkaFetchWaitMs = 50
    @Option(help: "The port of the load generator's SMTP server.") var smtpPort = 2525
    @Option(help: "How many requests.") var requests = 1000
    @Option(help: "Requests per second (open loop); without it, --concurrency requests in flight.") var rate: Double?
    @Option(help: "Requests (and clicks) in flight.") var concurrency = 32
    @Option(help: "The share of clicks that approve, 0 to 1.") var approveShare = 0.5
    @Option(help: "approvals or timeouts.") var mode = "approvals"
    @Option(help: "Timeouts mode: seconds from the start to every request's deadline.") var deadlineSeconds = 20
    @Option(help: "Seconds to wait for the last outcomes after submitting.") var waitSeconds = 60
    @Option(help: "A service process to report the memory of, as name=pid (repeatable).") var service: [String] = []
    @Option(help: "Request id prefix (default: a new one per run).") var prefix: String?
    @Option(help: "The secret of an intake API key with the submit and read scopes (default: $GREENLIGHT_API_KEY).")
    var apiKey: String?
    @Option(help: "Write each request's timeline here: CSV, when each of its stages happened, in Unix-epoch ms.")
    var timeline: String?

    func run() async throws {
        guard let mode = LoadOptions.Mode(rawValue: mode) else {
            throw ValidationError("--mode must be approvals or timeouts")
        }
        var services: [String: Int32] = [:]
        for entry in service {
            let parts = entry.split(separator: "=")
            guard parts.count == 2, let pid = Int32(parts[1]) else { throw ValidationError("--service takes name=pid, not \(entry)") }
            services[String(parts[0])] = pid
        }
        var logger = Logger(label: "greenlight-loadgen") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let options = LoadOptions(
            intakeURL: intakeURL, brokers: kafkaBrokers, fetchWaitMs: kafkaFetchWaitMs, smtpPort: smtpPort, requests: requests, rate: rate,
            concurrency: concurrency, approveShare: approveShare, mode: mode, deadlineSeconds: deadlineSeconds,
            waitSeconds: waitSeconds, services: services, prefix: prefix ?? "LOAD-\(UUID().uuidString.prefix(8))",
            apiKey: apiKey ?? ProcessInfo.processInfo.environment["GREENLIGHT_API_KEY"].flatMap { $0.isEmpty ? nil : $0 },
            timelinePath: timeline)
        let report = try await LoadGenerator(options: options, logger: logger).run()
        FileHandle.standardError.write(Data((report.table + "\n").utf8))
        print(String(decoding: try GreenlightJSON.encode(report), as: UTF8.self))
        if !report.verification.passed { throw ExitCode(1) }
    }
}
