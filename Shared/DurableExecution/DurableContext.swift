import Foundation
import GreenlightModels
import Logging
import Postgres

/// What a workflow does durably. Each call is an operation with a position in program order; on replay an
/// operation that has a checkpoint returns its recorded result instead of running again.
/// `@unchecked Sendable`: one invocation's task uses it, one operation at a time, and it never escapes that task.
public final class DurableContext: @unchecked Sendable {
    let store: DurableStore
    public let executionId: UUID
    /// The execution's name (for approvals, the request id).
    public let executionName: String
    let invocationTime: Date
    let logger: Logger
    /// The trace this execution belongs to; what it emits carries it.
    public let trace: TraceContext?
    /// Headers for what it emits, from the engine.
    let messageHeaders: MessageHeaders?
    var operations: [Int: OperationRecord]
    var callbacks: [UUID: CallbackRecord]
    /// Signals not received yet, oldest first.
    var signals: [PendingSignal]
    private var position = 0
    /// Set when the workflow reached something it must wait for, even if the workflow swallowed the error.
    var suspended = false

    init(
        store: DurableStore, execution: ExecutionRecord, invocationTime: Date, operations: [Int: OperationRecord],
        callbacks: [UUID: CallbackRecord], signals: [PendingSignal], logger: Logger, messageHeaders: MessageHeaders?
    ) {
        self.messageHeaders = messageHeaders
        self.signals = signals
        self.store = store
        executionId = execution.executionId
        executionName = execution.name
        trace = execution.trace
        self.invocationTime = invocationTime
        self.operations = operations
        self.callbacks = callbacks
        self.logger = logger
    }

    /// The next operation's position and its checkpoint, if any. A checkpoint of another kind or name means
    /// the workflow is not deterministic.
    private func nextOperation(_ kind: OperationKind, _ name: String) throws -> (Int, OperationRecord?) {
        position += 1
        guard let record = operations[position] else { return (position, nil) }
        guard record.kind == kind.rawValue, record.name == name else {
            throw DurableError(
                errorType: DurableError.nonDeterministic,
                errorMessage: "operation \(position) was \(record.kind) \"\(record.name)\" and is now \(kind.rawValue) \"\(name)\"")
        }
        return (position, record)
    }

    func queueHistory(_ type: String, _ details: [String: HistoryField]) {
        store.queueHistory(executionId: executionId, type: type, details: details, at: invocationTime)
    }

    private func queueSave(_ record: OperationRecord) {
        operations[record.position] = record
        store.queueOperation(record, executionId: executionId, at: invocationTime)
    }

    func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try GreenlightJSON.encode(value), as: UTF8.self)
    }

    func decode<T: Decodable>(_ text: String?, as type: T.Type = T.self) throws -> T {
        try GreenlightJSON.decode(T.self, from: Data((text ?? "null").utf8))
    }

    /// JSON text the engine encoded (an input, a result), for a history event's details.
    static func json(_ text: String?) -> HistoryField {
        text.map(HistoryField.raw) ?? .null
    }

    static func json(_ error: DurableError) -> HistoryField {
        .value(.object(["ErrorType": .string(error.errorType), "ErrorMessage": .string(error.errorMessage)]))
    }

    // MARK: - Steps

    /// Runs `body` once and checkpoints its result (or its final error). Whatever the body writes through its
    /// `StepContext` commits with the checkpoint; a body that throws has its writes rolled back. Thrown errors
    /// are retried as `retry` says, except `NonRetryableError`s.
    public func step<T: Codable & Sendable>(
        _ name: String, retry: RetryPolicy = .none, _ body: (StepContext) async throws -> T
    ) async throws -> T {
        let (position, record) = try nextOperation(.step, name)
        if let record {
            if record.status == .failed { throw record.error ?? DurableError(errorType: "Error", errorMessage: "") }
            return try decode(record.result)
        }
        queueHistory("StepStarted", ["Name": .string(name)])
        var attempt = 1
        while true {
            let savepoint = "step_\(position)"
            // What the body buffers (the events it records) and what it asks to happen after the commit (a metric
            // counted) go as its other writes do: kept with the savepoint, or dropped when it rolls back.
            let buffered = store.pending.snapshot()
            let actions = store.connection.afterCommitMark
            store.connection.queue(script: "SAVEPOINT \(savepoint)")
            do {
                let value = try await body(StepContext(connection: store.connection, context: self))
                let text = try encode(value)
                try await store.connection.execute(script: "RELEASE SAVEPOINT \(savepoint)")
                queueSave(OperationRecord(position: position, kind: OperationKind.step.rawValue, name: name, status: .succeeded, result: text))
                queueHistory("StepSucceeded", ["Name": .string(name), "Result": Self.json(text)])
                // Returned as a replay would return it.
                return try decode(text)
            } catch let error where !(error is Suspension) {
                // A lost connection, a deadlock or cancellation is not the step's failure: the whole invocation
                // rolls back and is retried, so nothing is checkpointed for them.
                if error is CancellationError || PostgresError.isTransient(error) { throw error }
                store.pending.restore(buffered)
                store.connection.dropAfterCommit(since: actions)
                try await store.connection.execute(script: "ROLLBACK TO SAVEPOINT \(savepoint)")
                let durable = DurableError.from(error)
                queueHistory(
                    "StepFailed", ["Name": .string(name), "Attempt": .number(Double(attempt)), "Error": Self.json(durable)])
                if attempt < retry.maxAttempts && !(error is any NonRetryableError) {
                    try await Task.sleep(for: retry.delay(afterAttempt: attempt))
                    attempt += 1
                    continue
                }
                queueSave(
                    OperationRecord(position: position, kind: OperationKind.step.rawValue, name: name, status: .failed, error: durable))
                throw durable
            }
        }
    }

    // MARK: - Callbacks

    /// Creates a callback that ends with a success, a failure, a general timeout (`Callback.Timeout`) or, when
    /// `heartbeatTimeout` is set and no heartbeat comes in time, a heartbeat timeout (`Callback.Heartbeat`).
    /// Its outcome surfaces only when the workflow asks for `result()`.
    public func createCallback(_ name: String, timeout: Duration, heartbeatTimeout: Duration? = nil) async throws
        -> CallbackHandle
    {
        let (position, record) = try nextOperation(.callback, name)
        if let record, let callbackId = UUID(uuidString: try decode(record.result, as: String.self)) {
            return CallbackHandle(callbackId: callbackId, context: self)
        }
        let callbackId = UUID()
        let timeoutAt = invocationTime.addingTimeInterval(TimeInterval(timeout.components.seconds))
        let heartbeatSeconds = heartbeatTimeout.map { Int($0.components.seconds) }
        let heartbeatDueAt = heartbeatSeconds.map { invocationTime.addingTimeInterval(TimeInterval($0)) }
        let callback = CallbackRecord(
            callbackId: callbackId, executionId: executionId, name: name, status: .started, timeoutAt: timeoutAt,
            heartbeatSeconds: heartbeatSeconds, heartbeatDueAt: heartbeatDueAt, startedAt: invocationTime)
        store.queueCallback(callback)
        callbacks[callbackId] = callback
        queueNewTimer(.callbackTimeout, dueAt: timeoutAt, callbackId: callbackId)
        if let heartbeatDueAt { queueNewTimer(.callbackHeartbeat, dueAt: heartbeatDueAt, callbackId: callbackId) }
        queueSave(
            OperationRecord(
                position: position, kind: OperationKind.callback.rawValue, name: name, status: .succeeded,
                result: try encode(callbackId.uuidString)))
        queueHistory(
            "CallbackStarted",
            [
                "Name": .string(name), "CallbackId": .string(callbackId.uuidString),
                "Timeout": .number(Double(timeout.components.seconds)),
                "HeartbeatTimeout": heartbeatSeconds.map { .number(Double($0)) } ?? .null,
            ])
        return CallbackHandle(callbackId: callbackId, context: self)
    }

    /// Ends a started callback with a success or failure; false if it had ended.
    func end(_ callbackId: UUID, with completion: CallbackCompletion) async throws -> Bool {
        let status: CallbackStatus
        let result: String?
        let error: DurableError?
        switch completion {
        case .success(let payload): (status, result, error) = (.succeeded, payload, nil)
        case .failure(let failure): (status, result, error) = (.failed, nil, failure)
        case .heartbeat: return false
        }
        guard try await store.endCallback(id: callbackId, status: status, result: result, error: error, at: invocationTime)
        else { return false }
        callbacks[callbackId]?.status = status
        callbacks[callbackId]?.result = result
        callbacks[callbackId]?.error = error
        callbacks[callbackId]?.endedAt = invocationTime
        store.queueTimerCancellation(callbackId: callbackId, at: invocationTime)
        if let error {
            queueHistory("CallbackFailed", ["CallbackId": .string(callbackId.uuidString), "Error": Self.json(error)])
        } else {
            queueHistory("CallbackSucceeded", ["CallbackId": .string(callbackId.uuidString), "Result": .checked(result)])
        }
        return true
    }

    func queueNewTimer(_ kind: TimerKind, dueAt: Date, callbackId: UUID? = nil, position: Int? = nil) {
        store.queueTimer(
            TimerRecord(timerId: UUID(), executionId: executionId, kind: kind, callbackId: callbackId, position: position, dueAt: dueAt))
    }

    /// Ends the workflow's own callback with a success (`result`) or a failure, as a command from outside would;
    /// nothing happens if it has ended already (on replay, say).
    public func end(_ callback: CallbackHandle, succeeding result: some Encodable) async throws {
        _ = try await end(callback.callbackId, with: .success(try encode(result)))
    }

    public func end(_ callback: CallbackHandle, failing error: DurableError) async throws {
        _ = try await end(callback.callbackId, with: .failure(error))
    }

    // MARK: - Signals

    /// What `receive` returned.
    public enum Received<Signal: Sendable>: Sendable {
        case signal(Signal)
        /// The callback given to `receive` ended (its outcome is read with `result()`).
        case callbackEnded
        /// The deadline given to `receive` passed first.
        case timeReached
    }

    /// What a receive's checkpoint holds: the signal taken (JSON text) or that the callback ended; neither when the
    /// deadline passed (its timer leaves no result).
    private struct ReceiveCheckpoint: Codable {
        var signal: String?
        var callbackEnded: Bool?
    }

    /// Takes the oldest signal not received yet; or, if there is none, reports that `callback` has ended or that
    /// `deadline` has passed; or else suspends until one of the three happens (a signal that arrives then invokes
    /// the workflow again, a timer fires at the deadline). What it returned is checkpointed, so replays take the
    /// same branch.
    public func receive<S: Decodable & Sendable>(
        _ type: S.Type, orEndOf callback: CallbackHandle? = nil, until deadline: Date? = nil, name: String
    ) async throws -> Received<S> {
        let (position, record) = try nextOperation(.receive, name)
        if let record, record.status != .started { return try received(record.result) }
        var checkpoint: ReceiveCheckpoint?
        while checkpoint == nil, !signals.isEmpty {
            let signal = signals.removeFirst()
            if let id = signal.id { try await store.deleteSignal(id: id) }
            do {
                _ = try decode(signal.payload, as: S.self)
                checkpoint = ReceiveCheckpoint(signal: signal.payload)
            } catch {
                // Not a signal this workflow knows (a kept row from another version, say): set aside, in the history,
                // so that it neither stops the workflow nor waits forever.
                logger.error(
                    "A signal the workflow cannot read was discarded",
                    metadata: ["execution": "\(executionName)", "error": "\(error)"])
                queueHistory(
                    "SignalDiscarded", ["Signal": .string(signal.payload), "Error": .string("\(DurableError.from(error).errorMessage)")])
            }
        }
        if checkpoint == nil, let callback, let state = callbacks[callback.callbackId], state.status != .started {
            checkpoint = ReceiveCheckpoint(callbackEnded: true)
        }
        if checkpoint == nil, record == nil, let deadline, deadline <= invocationTime {
            checkpoint = ReceiveCheckpoint()
        }
        guard let checkpoint else {
            if record == nil {
                queueSave(OperationRecord(position: position, kind: OperationKind.receive.rawValue, name: name, status: .started))
                if let deadline { queueNewTimer(.wait, dueAt: deadline, position: position) }
            }
            suspended = true
            throw Suspension()
        }
        let text = try encode(checkpoint)
        queueSave(
            OperationRecord(position: position, kind: OperationKind.receive.rawValue, name: name, status: .succeeded, result: text))
        if record != nil, deadline != nil { store.queueWaitTimerCancellation(executionId: executionId, position: position, at: invocationTime) }
        return try received(text)
    }

    private func received<S: Decodable>(_ text: String?) throws -> Received<S> {
        guard let text, let checkpoint = try? decode(text, as: ReceiveCheckpoint.self) else { return .timeReached }
        if let signal = checkpoint.signal { return .signal(try decode(signal)) }
        return checkpoint.callbackEnded == true ? .callbackEnded : .timeReached
    }

    // MARK: - Waits, time, randomness, events

    /// A durable sleep: the invocation ends here and a timer resumes the workflow after `duration`.
    public func wait(_ name: String, for duration: Duration) async throws {
        let (position, record) = try nextOperation(.wait, name)
        if let record {
            if record.status == .succeeded { return }
            suspended = true
            throw Suspension()
        }
        let end = invocationTime.addingTimeInterval(TimeInterval(duration.components.seconds))
        queueSave(OperationRecord(position: position, kind: OperationKind.wait.rawValue, name: name, status: .started))
        queueNewTimer(.wait, dueAt: end, position: position)
        queueHistory(
            "WaitStarted",
            ["Name": .string(name), "Duration": .number(Double(duration.components.seconds)),
                "ScheduledEndTimestamp": .string(Timestamp.format(end))])
        suspended = true
        throw Suspension()
    }

    /// Waits until `callback` has ended or `duration` has passed, whichever comes first: true when the callback
    /// ended first (or already had), false when the time ran out first. Either way the callback's outcome is
    /// still read with `result()`. The answer is recorded, so replays take the same branch; a callback that ends
    /// while the wait is pending resumes the workflow at once (its timer is retired).
    public func waitForCallback(_ callback: CallbackHandle, upTo duration: Duration, name: String) async throws -> Bool {
        let (position, record) = try nextOperation(.wait, name)
        let ended = callbacks[callback.callbackId].map { $0.status != .started } ?? false
        if let record {
            // Succeeded with a result: the callback ended first; without: the timer fired first.
            if record.status == .succeeded { return record.result != nil }
            guard ended else {
                suspended = true
                throw Suspension()
            }
            queueSave(
                OperationRecord(
                    position: position, kind: OperationKind.wait.rawValue, name: name, status: .succeeded,
                    result: try encode("callback")))
            store.queueWaitTimerCancellation(executionId: executionId, position: position, at: invocationTime)
            queueHistory("WaitSucceeded", ["Name": .string(name), "EndedBy": .string("callback")])
            return true
        }
        if ended {
            queueSave(
                OperationRecord(
                    position: position, kind: OperationKind.wait.rawValue, name: name, status: .succeeded,
                    result: try encode("callback")))
            return true
        }
        let end = invocationTime.addingTimeInterval(TimeInterval(duration.components.seconds))
        queueSave(OperationRecord(position: position, kind: OperationKind.wait.rawValue, name: name, status: .started))
        queueNewTimer(.wait, dueAt: end, position: position)
        queueHistory(
            "WaitStarted",
            ["Name": .string(name), "Duration": .number(Double(duration.components.seconds)),
                "ScheduledEndTimestamp": .string(Timestamp.format(end)), "CallbackId": .string(callback.callbackId.uuidString)])
        suspended = true
        throw Suspension()
    }

    /// The time — the database's clock when the invocation that first reached this point ran — recorded, so that
    /// replays see the same value.
    public func now() async throws -> Date {
        try await recorded(.now, "now") { invocationTime }
    }

    /// A random UUID, recorded the first time so that replays see the same value.
    public func randomUUID() async throws -> UUID {
        try await recorded(.uuid, "uuid") { UUID() }
    }

    private func recorded<T: Codable>(_ kind: OperationKind, _ name: String, _ make: () -> T) async throws -> T {
        let (position, record) = try nextOperation(kind, name)
        if let record { return try decode(record.result) }
        let text = try encode(make())
        queueSave(OperationRecord(position: position, kind: kind.rawValue, name: name, status: .succeeded, result: text))
        return try decode(text)
    }

    /// Publishes `event` on `topic` exactly once, through the transactional outbox, with `headers` and those the
    /// engine's `MessageHeaders` give it.
    public func emit<E: Encodable>(topic: String, key: String, event: E, headers: [String: String] = [:]) async throws {
        let (position, record) = try nextOperation(.emit, topic)
        if record != nil { return }
        try await enqueue(topic: topic, key: key, event: event, headers: headers)
        queueSave(OperationRecord(position: position, kind: OperationKind.emit.rawValue, name: topic, status: .succeeded))
    }

    func enqueue<E: Encodable>(topic: String, key: String, event: E, headers: [String: String]) async throws {
        let all = (messageHeaders?(topic, event) ?? [:]).merging(headers) { _, given in given }
        try await store.enqueue(topic: topic, key: key, payload: try encode(event), trace: trace, headers: all)
    }
}

/// What a step's body may touch: the invocation's transaction, and the outbox.
public struct StepContext: Sendable {
    /// The invocation's connection, inside its transaction: what the step writes commits with its checkpoint.
    public let connection: PostgresConnection
    let context: DurableContext

    /// Queues an event for publication, committed with the step, with `headers` and those the engine's
    /// `MessageHeaders` give it.
    public func emit<E: Encodable>(topic: String, key: String, event: E, headers: [String: String] = [:]) async throws {
        try await context.enqueue(topic: topic, key: key, event: event, headers: headers)
    }

    public var executionName: String { context.executionName }

    public var executionId: UUID { context.executionId }

    /// Queues an event for the execution's history, committed with the step (who decided, what was refused and why).
    public func record(_ type: String, _ details: [String: JSONValue]) {
        context.queueHistory(type, details.mapValues(HistoryField.value))
    }

    /// The invocation's time, from the database's clock: what a step dates what it writes with.
    public var now: Date { context.invocationTime }
}

/// A callback the workflow created.
public struct CallbackHandle: Sendable {
    public let callbackId: UUID
    let context: DurableContext

    /// The callback's success payload. Throws its failure (or `Callback.Timeout` / `Callback.Heartbeat`) as a
    /// `DurableError`; suspends the invocation while the callback is still waiting.
    public func result<T: Decodable>(as type: T.Type = T.self) async throws -> T {
        guard let callback = context.callbacks[callbackId] else {
            throw DurableError(errorType: "Callback.Unknown", errorMessage: "callback \(callbackId) is not in this execution")
        }
        switch callback.status {
        case .succeeded:
            do {
                return try context.decode(callback.result)
            } catch {
                throw DurableError(
                    errorType: "Callback.InvalidResult",
                    errorMessage: "the callback's result is not a \(T.self): \(DurableError.from(error).errorMessage)")
            }
        case .failed, .timedOut:
            throw callback.error ?? DurableError(errorType: "Callback.Failed", errorMessage: "")
        case .started:
            context.suspended = true
            throw Suspension()
        }
    }
}
