import Foundation
import GreenlightModels

extension Date {
    /// The time without its fraction of a millisecond, the precision workflows record times with (`now()`
    /// round-trips through JSON): a deadline computed from the invocation's time and one computed from the
    /// recorded `now()` are then the same instant. Truncated, never rounded up: an invocation never runs at a
    /// time later than the database's.
    var wholeMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}

/// The state of an execution.
public enum ExecutionStatus: String, Codable, Sendable {
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case stopped = "STOPPED"
}

/// The state of a callback.
public enum CallbackStatus: String, Codable, Sendable {
    case started = "STARTED"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case timedOut = "TIMED_OUT"
}

enum OperationKind: String, Sendable {
    case step = "STEP"
    case callback = "CALLBACK"
    case wait = "WAIT"
    case now = "NOW"
    case uuid = "UUID"
    case emit = "EMIT"
    case receive = "RECEIVE"
}

enum OperationStatus: String, Sendable {
    case started = "STARTED"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
}

struct OperationRecord: Sendable {
    var position: Int
    var kind: String
    var name: String
    var status: OperationStatus
    var result: String?
    var error: DurableError?
}

/// A callback as stored.
public struct CallbackRecord: Sendable, Equatable {
    public var callbackId: UUID
    public var executionId: UUID
    public var name: String
    public var status: CallbackStatus
    public var timeoutAt: Date
    public var heartbeatSeconds: Int?
    public var heartbeatDueAt: Date?
    /// The success payload (JSON text).
    public var result: String?
    public var error: DurableError?
    public var startedAt: Date
    public var endedAt: Date?

    public init(
        callbackId: UUID, executionId: UUID, name: String, status: CallbackStatus, timeoutAt: Date,
        heartbeatSeconds: Int? = nil, heartbeatDueAt: Date? = nil, result: String? = nil, error: DurableError? = nil,
        startedAt: Date, endedAt: Date? = nil
    ) {
        self.callbackId = callbackId
        self.executionId = executionId
        self.name = name
        self.status = status
        self.timeoutAt = timeoutAt
        self.heartbeatSeconds = heartbeatSeconds
        self.heartbeatDueAt = heartbeatDueAt
        self.result = result
        self.error = error
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

struct ExecutionRecord: Sendable {
    var executionId: UUID
    var workflow: String
    var name: String
    var status: ExecutionStatus
    var input: String
    /// The trace the execution belongs to (from the event that started it), if any.
    var trace: TraceContext?
    /// The database's time (`now()`) in the transaction that read the record: the time an invocation runs at.
    var clock: Date
}

/// How a callback ends, or is kept alive.
public enum CallbackCompletion: Sendable, Equatable {
    /// Success with a JSON payload.
    case success(String)
    case failure(DurableError)
    /// Resets the heartbeat deadline (and nothing else).
    case heartbeat
}

/// What sending something to a callback did.
public enum CallbackCommandResult: Sendable, Equatable {
    case accepted
    /// The callback had already ended: nothing changed. Carries its final state.
    case alreadyEnded(CallbackRecord)
    /// No callback has this id.
    case notFound
}

/// Where a signal went.
public enum SignalResult: Sendable, Equatable {
    /// To the running execution, which was invoked with it.
    case delivered
    /// To the running execution's workflow, which took it as an observation (`Workflow.signalObserved`) without an
    /// invocation.
    case observed
    /// No execution has the name yet: the signal is kept, and the execution receives it when it starts.
    case buffered
    /// The execution had ended: the workflow's `signalAfterEnd` handled it.
    case afterEnd(ExecutionStatus)
}

/// A signal waiting for its execution to receive it: kept in `durable_signals` (`id`), or just arrived (no id).
struct PendingSignal: Sendable {
    var id: Int64?
    var payload: String
}

/// An execution's checkpoints, callbacks and the signals it has not received yet.
struct ExecutionState: Sendable {
    var operations: [Int: OperationRecord] = [:]
    var callbacks: [UUID: CallbackRecord] = [:]
    var signals: [PendingSignal] = []
}

enum TimerKind: String, Sendable {
    case callbackTimeout = "CALLBACK_TIMEOUT"
    case callbackHeartbeat = "CALLBACK_HEARTBEAT"
    case wait = "WAIT"
}

struct TimerRecord: Sendable {
    var timerId: UUID
    var executionId: UUID
    var kind: TimerKind
    var callbackId: UUID?
    var position: Int?
    var dueAt: Date
    /// Times it failed to fire so far.
    var attempts = 0
}

/// One entry of an execution's history, named as in Lambda durable functions' execution history.
public struct HistoryEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var type: String
    public var timestamp: Date
    public var details: [String: JSONValue]

    public init(id: Int64, type: String, timestamp: Date, details: [String: JSONValue]) {
        self.id = id
        self.type = type
        self.timestamp = timestamp
        self.details = details
    }
}
