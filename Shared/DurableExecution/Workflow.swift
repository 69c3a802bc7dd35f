import Foundation
import GreenlightModels

/// A durable workflow: plain Swift run against a `DurableContext`. It is replayed from the top on every
/// invocation, so it must be deterministic: time, randomness and side effects go through the context.
///
/// Signals are typed messages to an execution by name (`DurableEngine.signal`), in the manner of Temporal's
/// signals: the workflow takes them, in arrival order, with `DurableContext.receive`. One that arrives before its
/// execution starts is kept and received once it does; one that arrives after it ended goes to `signalAfterEnd`.
/// A signal that changes nothing the workflow decides (a report to record, say) can be an observation instead
/// (`isObservation`): a running execution takes it as it arrives, with `signalObserved`, without being replayed —
/// ahead of any older signal still kept for a later `receive`.
public protocol Workflow: Sendable {
    associatedtype Input: Codable & Sendable
    associatedtype Output: Codable & Sendable
    associatedtype Signal: Codable & Sendable = Never
    /// Stored with each execution; the engine finds the workflow by it.
    static var name: String { get }
    func run(context: DurableContext, input: Input) async throws -> Output
    /// What a signal does that reaches an execution no longer running (or left over when it ended): whatever
    /// `step` writes commits with the event that carried the signal. Does nothing unless the workflow says.
    func signalAfterEnd(_ signal: Signal, status: ExecutionStatus, input: Input, step: StepContext) async throws
    /// Whether `signal` is an observation: something to record that no decision of the workflow depends on. A running
    /// execution then takes it with `signalObserved` as it arrives, and `receive` never sees it: no invocation, no
    /// replay, no checkpoint. (One kept until its execution starts is received as any other signal, so `run` still
    /// handles it; so does a replay of an execution that received it before it was an observation.) False for every
    /// signal unless the workflow says.
    func isObservation(_ signal: Signal) -> Bool
    /// What an observation (`isObservation`) does to a running execution: whatever `step` writes commits with the
    /// event that carried it, under the execution's lock. One that fails for a reason of its own is rolled back and
    /// in the history as `SignalDiscarded`; the event still commits.
    func signalObserved(_ signal: Signal, step: StepContext) async throws
    /// What the workflow leaves behind when its execution fails (an error it did not handle, code that no longer
    /// replays): whatever `step` writes commits with the failure. Does nothing unless the workflow says.
    func executionFailed(_ error: DurableError, input: Input, step: StepContext) async throws
}

extension Workflow {
    public func signalAfterEnd(_ signal: Signal, status: ExecutionStatus, input: Input, step: StepContext) async throws {}
    public func isObservation(_ signal: Signal) -> Bool { false }
    public func signalObserved(_ signal: Signal, step: StepContext) async throws {}
    public func executionFailed(_ error: DurableError, input: Input, step: StepContext) async throws {}
}

/// An error as the engine records it and workflows see it: a type and a message, as in Lambda durable functions
/// (`Callback.Timeout`, `Callback.Heartbeat`, or whatever a callback's failure or a step said).
public struct DurableError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var errorType: String
    public var errorMessage: String

    public init(errorType: String, errorMessage: String) {
        self.errorType = errorType
        self.errorMessage = errorMessage
    }

    public static let callbackTimeout = "Callback.Timeout"
    public static let callbackHeartbeat = "Callback.Heartbeat"
    public static let executionStopped = "Execution.Stopped"
    public static let nonDeterministic = "Workflow.NonDeterministic"

    public var isTimeout: Bool { Self.isTimeout(errorType) }

    /// Whether an error of this type is a callback's (or its heartbeat's) timeout.
    public static func isTimeout(_ errorType: String) -> Bool { errorType == callbackTimeout || errorType == callbackHeartbeat }

    public var description: String { "\(errorType): \(errorMessage)" }

    /// The type and message a thrown error is recorded with.
    static func from(_ error: any Error) -> DurableError {
        if let error = error as? DurableError { return error }
        return DurableError(errorType: String(describing: type(of: error)), errorMessage: "\(error)")
    }
}

/// Errors that retrying cannot fix; a step stops retrying when its body throws one.
public protocol NonRetryableError: Error {}

/// How a step retries when its body throws: up to `maxAttempts` in all, waiting as `backoff` says between them.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var backoff: Backoff

    public init(maxAttempts: Int, initialDelay: Duration = .milliseconds(100), backoffRate: Double = 2, maxDelay: Duration = .seconds(5)) {
        self.maxAttempts = max(1, maxAttempts)
        backoff = Backoff(initial: initialDelay, maximum: maxDelay, multiplier: backoffRate)
    }

    public static let none = RetryPolicy(maxAttempts: 1)

    func delay(afterAttempt attempt: Int) -> Duration { backoff.delay(afterAttempt: attempt) }
}

/// Thrown through the workflow when it reaches an operation whose result is not there yet; the engine catches
/// it and commits what the invocation did. Workflow code must let it pass (catch specific errors, not all).
struct Suspension: Error {}
