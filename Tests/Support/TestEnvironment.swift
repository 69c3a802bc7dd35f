import Foundation
import Logging

/// Shared helpers for tests: loggers, unique names, and the servers the test script starts.
public enum TestEnvironment {
    /// A logger that stays quiet unless `GREENLIGHT_TEST_LOG_LEVEL` asks for more.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["GREENLIGHT_TEST_LOG_LEVEL"] ?? "")
            ?? .critical
        return logger
    }

    /// A name no other test uses (topics, groups, databases, request ids).
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Where tests write their scratch files (each stack's service logs, certificates, a browser's profile):
    /// `GREENLIGHT_TEST_SCRATCH`, a directory of its own that scripts/test and scripts/faults remove when the run
    /// passes and keep when it fails; else the system's temporary directory. Processes a test starts get it as
    /// their TMPDIR.
    public static let scratchDirectory: String = {
        if let scratch = ProcessInfo.processInfo.environment["GREENLIGHT_TEST_SCRATCH"], !scratch.isEmpty {
            return scratch.hasSuffix("/") ? scratch : scratch + "/"
        }
        return NSTemporaryDirectory()
    }()

    /// `name` in `scratchDirectory`.
    public static func scratchPath(_ name: String) -> String { scratchDirectory + name }
    public static func scratchURL(_ name: String) -> URL { URL(fileURLWithPath: scratchPath(name)) }

    /// An environment variable the test script sets; a missing one fails the test with a message saying how to
    /// run it, instead of skipping.
    public static func required(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw MissingTestServer(variable: name)
        }
        return value
    }
}

public struct MissingTestServer: Error, CustomStringConvertible {
    public var variable: String
    public var description: String {
        "\(variable) is not set: run the tests with scripts/test, which starts a throwaway Postgres and sets it"
    }
}

/// Polls `condition` until it holds or `timeout` passes, and says which: for a test that asserts on the answer.
public func eventually(
    timeout: Duration = .seconds(20), interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Polls `condition` until it holds; throws `WaitTimedOut` (which fails the test, naming this call) if it still does
/// not after `timeout`. For a test that must not go on without it.
public func waitUntil(
    timeout: Duration = .seconds(20), interval: Duration = .milliseconds(50), fileID: String = #fileID, line: Int = #line,
    _ condition: () async throws -> Bool
) async throws {
    guard try await eventually(timeout: timeout, interval: interval, condition) else {
        throw WaitTimedOut(timeout: timeout, location: "\(fileID):\(line)")
    }
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public var timeout: Duration
    public var location: String
    public var description: String { "the condition awaited at \(location) did not hold within \(timeout)" }
}
