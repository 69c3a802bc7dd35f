import ArgumentParser
import Foundation

/// Why a command failed, with the exit status that says so to scripts:
///
/// | status | meaning |
/// |---|---|
/// | 0 | done |
/// | 1 | failed for another reason (an unexpected answer) |
/// | 2 | not found (no such request or dead letter) |
/// | 3 | conflict (the request is no longer pending; someone else decided first) |
/// | 4 | a service is unavailable or unreachable (intake, Kafka) — retry later |
/// | 64 | wrong usage (ArgumentParser's own) |
/// | 77 | not allowed: the API key is missing or wrong |
public struct CLIError: Error, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case failed = 1
        case notFound = 2
        case conflict = 3
        case unavailable = 4
        case unauthorised = 77
        /// A setting (an environment variable) is unusable; the message names it.
        case misconfigured = 78
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Runs a command's body; a `CLIError` is printed to standard error and becomes the process's exit status.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("greenlight: \(error.message)\n".utf8))
        throw ExitCode(error.kind.rawValue)
    }
}
