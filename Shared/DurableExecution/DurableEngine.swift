import Foundation
import GreenlightModels
import Logging
import Postgres

/// Runs workflows durably. Every method works inside the caller's transaction (`connection`), so that what an
/// invocation does commits together with the inbox row of the event that caused it, or not at all.
///
/// Time is the database's: a method's `now` is nil in production, and the transaction's `now()` — read with the
/// execution's lock, never a host's clock — dates every deadline, timer and history event, so an instance whose
/// clock is wrong can neither fire a timer early nor set one late. Tests pass a `now` to move time themselves.
public struct DurableEngine: Sendable {
    private let runners: [String: WorkflowRunner]
    let logger: Logger
    /// Headers for every message a workflow emits (nil: only the trace's).
    let messageHeaders: MessageHeaders?

    public init(workflows: [any Workflow], logger: Logger, messageHeaders: MessageHeaders? = nil) {
        var runners: [String: WorkflowRunner] = [:]
        for workflow in workflows { runners[type(of: workflow).name] = WorkflowRunner(workflow) }
        self.runners = runners
        self.logger = logger
        self.messageHeaders = messageHeaders
    }

    /// What starting an execution did.
    public enum StartResult: Sendable, Equatable {
        case started(UUID)
        /// An execution with this name exists; nothing was started.
        case alreadyExists
    }

    /// Starts an execution named `name` (unique) and runs its first invocation. `trace` (the context of the
    /// event that started it) is kept with the execution: every message it emits, now or when resumed later,
    /// carries it.
    @discardableResult
    public func start<W: Workflow>(
        _ workflow: W, name: String, input: W.Input, trace: TraceContext? = nil, on connection: PostgresConnection,
        now: Date? = nil
    ) async throws -> StartResult {
        let store = DurableStore(connection: connection)
        store.queueNameLock(name)
        let executionId = UUID()
        let inputText = String(decoding: try GreenlightJSON.encode(input), as: UTF8.self)
        guard
            let now = try await store.insertExecution(
                id: executionId, workflow: W.name, name: name, input: inputText, trace: trace, at: now)
        else {
            return .alreadyExists
        }
        store.queueHistory(
            executionId: executionId, type: "ExecutionStarted",
            details: ["Name": .string(name), "Workflow": .string(W.name), "Input": DurableContext.json(inputText)], at: now)
        // Just inserted (so locked by this transaction), with nothing checkpointed yet: no need to read it back. The
        // signals that arrived before it are its first, in arrival order.
        let execution = ExecutionRecord(
            executionId: executionId, workflow: W.name, name: name, status: .running, input: inputText, trace: trace,
            clock: now)
        let early = try await store.signals(named: name)
        for signal in early {
            store.queueHistory(
                executionId: executionId, type: "SignalReceived",
                details: ["Signal": DurableContext.json(signal.payload), "KeptUntilStart": .bool(true)], at: now)
        }
        try await invoke(execution, store: store, now: now, state: ExecutionState(signals: early))
        return .started(executionId)
    }

    /// Replays the execution from the top: checkpointed operations return their results, new ones run, and the
    /// invocation ends at the first thing still pending, or with the workflow's end.
    @discardableResult
    public func invoke(executionId: UUID, on connection: PostgresConnection, now: Date? = nil) async throws -> Invocation {
        let store = DurableStore(connection: connection)
        guard let execution = try await store.lockExecution(id: executionId), execution.status == .running else {
            return Invocation(status: nil)
        }
        return try await invoke(execution, store: store, now: now ?? execution.clock)
    }

    /// What an invocation ended with.
    public struct Invocation: Sendable {
        /// nil while the execution is still running (suspended).
        public var status: ExecutionStatus?
    }

    /// `state` is the execution's checkpoints, callbacks and kept signals when the caller knows them; they are read
    /// otherwise. `signal`, one that just arrived, is received after the kept ones; if the workflow does not take it,
    /// it is kept for the next invocation (or, when the execution ended, goes to `signalAfterEnd`). An invocation that
    /// suspends leaves the execution's row alone: its history page dates it.
    @discardableResult
    func invoke(
        _ execution: ExecutionRecord, store: DurableStore, now: Date, state: ExecutionState? = nil,
        signal: PendingSignal? = nil
    ) async throws -> Invocation {
        let runner = try runner(for: execution)
        var state = if let state { state } else { try await store.state(of: execution) }
        if let signal { state.signals.append(signal) }
        let context = DurableContext(
            store: store, execution: execution, invocationTime: now, operations: state.operations,
            callbacks: state.callbacks, signals: state.signals, logger: logger, messageHeaders: messageHeaders)
        var status: ExecutionStatus?
        do {
            let output = try await runner.run(context, execution.input)
            if context.suspended {
                context.queueHistory("InvocationCompleted", ["Suspended": .bool(true)])
            } else {
                context.queueHistory("InvocationCompleted", ["Suspended": .bool(false)])
                store.queueFinish(id: execution.executionId, status: .succeeded, output: output, error: nil, at: now)
                context.queueHistory("ExecutionSucceeded", ["Result": DurableContext.json(output)])
                try await endOpenCallbacks(of: execution.executionId, context: context, store: store, now: now)
                status = .succeeded
            }
        } catch is Suspension {
            context.queueHistory("InvocationCompleted", ["Suspended": .bool(true)])
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as PostgresError {
            // Infrastructure trouble is not the workflow's failure: the caller rolls back and retries.
            throw error
        } catch {
            if context.suspended {
                context.queueHistory("InvocationCompleted", ["Suspended": .bool(true)])
            } else {
                let durable = DurableError.from(error)
                context.queueHistory("InvocationCompleted", ["Suspended": .bool(false)])
                store.queueFinish(id: execution.executionId, status: .failed, output: nil, error: durable, at: now)
                context.queueHistory("ExecutionFailed", ["Error": DurableContext.json(durable)])
                try await endOpenCallbacks(of: execution.executionId, context: context, store: store, now: now)
                status = .failed
                // The workflow's own account of the failure (an approval writes its `failed` outcome), guarded like
                // any after-the-end work: what it cannot do is in the history, and the failure still commits.
                try await guarded("WorkflowFailureHandlerFailed", context: context, store: store) {
                    try await runner.failed(StepContext(connection: store.connection, context: context), execution.input, durable)
                }
            }
        }
        if let status {
            // Signals the workflow did not take before it ended are handled as any signal after the end is.
            for left in context.signals {
                if let id = left.id { try await store.deleteSignal(id: id) }
                try await guarded("SignalDiscarded", context: context, store: store, signal: left.payload) {
                    try await runner.afterEnd(StepContext(connection: store.connection, context: context), execution.input, left.payload, status)
                }
            }
        } else if let fresh = context.signals.first(where: { $0.id == nil }) {
            try await store.bufferSignal(executionName: execution.name, payload: fresh.payload, at: now)
        }
        store.flushWrites()
        return Invocation(status: status)
    }

    /// Runs work beside an invocation (a signal's handler after the end, an observation, a failure's account) in a
    /// savepoint of its own: one that fails for a reason of its own (not the database's, not cancellation) is rolled
    /// back and written to the history as `type`, and the transaction it is part of goes on — a request's start or a
    /// timer is never lost to it.
    private func guarded(
        _ type: String, context: DurableContext, store: DurableStore, signal: String? = nil, _ body: () async throws -> Void
    ) async throws {
        do {
            try await store.withSavepoint("beside_invocation") { try await body() }
        } catch let error where !(error is CancellationError) && !PostgresError.isTransient(error) {
            logger.error(
                "Work beside an execution's invocation failed (a signal's handler, a failure's account); it is in the history",
                metadata: ["execution": "\(context.executionName)", "type": "\(type)", "error": "\(error)"])
            var details: [String: HistoryField] = ["Error": .string(DurableError.from(error).description)]
            if let signal { details["Signal"] = .string(signal) }
            context.queueHistory(type, details)
        }
        store.flushWrites()
    }

    private func runner(for execution: ExecutionRecord) throws -> WorkflowRunner {
        guard let runner = runners[execution.workflow] else {
            throw DurableError(errorType: "Workflow.Unknown", errorMessage: "no workflow named \(execution.workflow) is registered")
        }
        return runner
    }

    /// A finished execution's callbacks that nobody awaited end too, so nothing shows them as still waiting.
    /// `context` knows every callback of the execution and its current state (it read them and ended or created
    /// them itself since).
    private func endOpenCallbacks(of executionId: UUID, context: DurableContext, store: DurableStore, now: Date) async throws {
        let ended = DurableError(errorType: "Execution.Ended", errorMessage: "the execution ended before the callback")
        for callback in context.callbacks.values where callback.status == .started {
            _ = try await store.endCallback(id: callback.callbackId, status: .failed, result: nil, error: ended, at: now)
        }
        store.queueTimerCancellation(executionId: executionId, at: now)
    }

    // MARK: - Callbacks

    /// Sends a success, failure or heartbeat to a callback by id. Success and failure resume the workflow;
    /// a heartbeat only moves the heartbeat deadline (no history event, the general timeout unchanged).
    public func send(_ completion: CallbackCompletion, toCallback callbackId: UUID, on connection: PostgresConnection, now: Date? = nil)
        async throws -> CallbackCommandResult
    {
        let store = DurableStore(connection: connection)
        guard let found = try await store.callback(id: callbackId) else { return .notFound }
        guard let execution = try await store.lockExecution(id: found.executionId) else { return .notFound }
        // Read again under the execution's lock: another transaction may have ended it meanwhile.
        guard let callback = try await store.callback(id: callbackId), callback.status == .started,
            execution.status == .running
        else {
            return .alreadyEnded(try await store.callback(id: callbackId) ?? found)
        }
        return try await complete(callback, of: execution, with: completion, store: store, now: now ?? execution.clock)
    }

    /// Applies a completion to a started callback of a running execution, both read under the execution's lock.
    private func complete(
        _ callback: CallbackRecord, of execution: ExecutionRecord, with completion: CallbackCompletion, store: DurableStore,
        now: Date
    ) async throws -> CallbackCommandResult {
        if completion == .heartbeat {
            if let seconds = callback.heartbeatSeconds {
                store.queueHeartbeatExtension(callbackId: callback.callbackId, dueAt: now.addingTimeInterval(TimeInterval(seconds)))
            }
            return .accepted
        }
        let context = DurableContext(
            store: store, execution: execution, invocationTime: now, operations: [:],
            callbacks: [callback.callbackId: callback], signals: [], logger: logger, messageHeaders: messageHeaders)
        _ = try await context.end(callback.callbackId, with: completion)
        try await invoke(execution, store: store, now: now)
        return .accepted
    }

    // MARK: - Signals

    /// Sends `signal` to the execution named `name`, under that execution's lock (and its name's, so that it is
    /// serialised with `start`): a running execution is invoked with it, and receives it when its workflow next
    /// calls `receive`, unless the workflow takes it as an observation (`Workflow.isObservation`), handled at once
    /// without an invocation; before the execution exists, the signal is kept for it; after it ended, the workflow's
    /// `signalAfterEnd` handles it. Each signal an execution gets is in its history (`SignalReceived`).
    @discardableResult
    public func signal<W: Workflow>(
        _ signal: W.Signal, to workflow: W.Type, executionNamed name: String, on connection: PostgresConnection,
        now: Date? = nil
    ) async throws -> SignalResult {
        let store = DurableStore(connection: connection)
        store.queueNameLock(name)
        let payload = String(decoding: try GreenlightJSON.encode(signal), as: UTF8.self)
        guard let execution = try await store.lockExecution(named: name) else {
            try await store.bufferSignal(executionName: name, payload: payload, at: now)
            return .buffered
        }
        let now = now ?? execution.clock
        store.queueHistory(
            executionId: execution.executionId, type: "SignalReceived", details: ["Signal": DurableContext.json(payload)],
            at: now)
        let runner = try runner(for: execution)
        // Without an invocation (a signal after the end, an observation), the work runs on a context with nothing read.
        let bare = {
            DurableContext(
                store: store, execution: execution, invocationTime: now, operations: [:], callbacks: [:], signals: [],
                logger: logger, messageHeaders: messageHeaders)
        }
        guard execution.status == .running else {
            let context = bare()
            try await guarded("SignalDiscarded", context: context, store: store, signal: payload) {
                try await runner.afterEnd(StepContext(connection: connection, context: context), execution.input, payload, execution.status)
            }
            return .afterEnd(execution.status)
        }
        if let observe = runner.observation(signal) {
            let context = bare()
            try await guarded("SignalDiscarded", context: context, store: store, signal: payload) {
                try await observe(StepContext(connection: connection, context: context))
            }
            return .observed
        }
        try await invoke(execution, store: store, now: now, signal: PendingSignal(id: nil, payload: payload))
        return .delivered
    }

    /// A callback by id, with its current state.
    public func callback(_ callbackId: UUID, on connection: PostgresConnection) async throws -> CallbackRecord? {
        try await DurableStore(connection: connection).callback(id: callbackId)
    }

    /// The callbacks of the execution named `name`.
    public func callbacks(ofExecution name: String, on connection: PostgresConnection) async throws -> [CallbackRecord] {
        let store = DurableStore(connection: connection)
        guard let id = try await store.executionId(named: name) else { return [] }
        return try await store.callbacks(of: id).values.sorted { $0.startedAt < $1.startedAt }
    }

    // MARK: - Stopping

    /// Stops a running execution (like StopDurableExecution): its callbacks end failed with
    /// `Execution.Stopped`, its timers are cancelled, the workflow does not run again. False if it was not running.
    /// `details` go into the `ExecutionStopped` history event beside the error (who stopped it, say).
    public func stop(
        executionNamed name: String, reason: String, details: [String: JSONValue] = [:], on connection: PostgresConnection,
        now: Date? = nil
    ) async throws -> Bool {
        let store = DurableStore(connection: connection)
        guard let execution = try await store.lockExecution(named: name), execution.status == .running else { return false }
        let now = now ?? execution.clock
        let id = execution.executionId
        let error = DurableError(errorType: DurableError.executionStopped, errorMessage: reason)
        for callback in try await store.callbacks(of: id).values where callback.status == .started {
            _ = try await store.endCallback(id: callback.callbackId, status: .failed, result: nil, error: error, at: now)
        }
        store.queueTimerCancellation(executionId: id, at: now)
        store.queueFinish(id: id, status: .stopped, output: nil, error: error, at: now)
        store.queueHistory(
            executionId: id, type: "ExecutionStopped",
            details: details.mapValues(HistoryField.value).merging(["Error": DurableContext.json(error)]) { _, engine in engine },
            at: now)
        store.flushWrites()
        return true
    }

    // MARK: - Timers

    /// Claims and fires up to `limit` due timers: callback timeouts, heartbeat timeouts and waits. The claim locks each
    /// timer's execution with it; a timer whose execution another transaction holds is not claimed (no wait, no
    /// lock-order deadlock) and takes no place in the batch: a later one fires it.
    ///
    /// Each timer fires in a savepoint of its own, and is marked fired once that is released: a timer that cannot be fired (its
    /// workflow is not registered in this build, say) is not consumed but set aside — due again after a back-off
    /// (`retryDelay`), its attempts and last error kept on the row and reported in `failed` — while the others in
    /// the batch still fire. Trouble with the database itself rolls the whole batch back, to be claimed again.
    ///
    /// With `writesTogether` the batch's history, checkpoints and messages are written at its end, one statement of
    /// each kind for all of its timers (a timer's invocation would otherwise send three of its own), and the timers are
    /// marked fired in one statement. Those writes are then outside each timer's savepoint, and one that fails
    /// (a checkpoint Postgres cannot hold) fails the batch: `fireDueTimers(limit:in:now:)` then fires it again without.
    public func fireDueTimers(
        limit: Int, on connection: PostgresConnection, now: Date? = nil, writesTogether: Bool = false
    ) async throws -> FiredTimers {
        let store = DurableStore(connection: connection, defersWrites: writesTogether)
        var fired = FiredTimers()
        let (timers, clock) = try await store.claimDueTimers(now: now, limit: limit)
        let now = now ?? clock
        fired.claimed = timers.count
        // Each timer fires on its execution as its claim read it. An execution's second timer in the batch is left for
        // the next one, which reads the execution again: the first may have ended it.
        var executions: Set<UUID> = []
        // Marked fired together at the end, each once its invocation's savepoint is released (one that rolled back is
        // postponed instead).
        var firedIds: [UUID] = []
        for (timer, execution) in timers {
            guard executions.insert(execution.executionId).inserted else { continue }
            do {
                let finished = try await store.withSavepoint("fire_timer") { () -> ExecutionStatus? in
                    guard execution.status == .running else { return nil }
                    return try await fire(timer, execution: execution, store: store, now: now)
                }
                firedIds.append(timer.timerId)
                fired.count += 1
                fired.lateness.append(now.timeIntervalSince(timer.dueAt))
                if let finished { fired.finished.append((execution.name, finished)) }
            } catch let error where !(error is CancellationError) && !PostgresError.isTransient(error) {
                let attempts = timer.attempts + 1
                let delay = Self.retryDelay(afterAttempt: attempts)
                store.queuePostponement(timer.timerId, until: now.addingTimeInterval(delay), attempts: attempts, error: "\(error)")
                fired.failed.append((execution.name, "\(error)"))
                logger.error(
                    "Timer could not be fired; it will be tried again",
                    metadata: [
                        "timerId": "\(timer.timerId)", "execution": "\(execution.name)", "attempt": "\(attempts)",
                        "retryInSeconds": "\(Int(delay))", "error": "\(error)",
                    ])
            }
        }
        store.queueTimersFired(firedIds, at: now)
        store.flushDeferredWrites()
        return fired
    }

    /// Fires a batch of due timers in a transaction of its own on `pool` (see `fireDueTimers(limit:on:now:)`). When the
    /// batch fails for a reason other than the database's trouble or cancellation — its invocations' writes, sent
    /// together, could not all be made — it is fired again in a new transaction with each timer's writes inside its
    /// own savepoint, so that only the timer at fault is set aside and the others fire.
    public func fireDueTimers(limit: Int, in pool: PostgresPool, now: Date? = nil) async throws -> FiredTimers {
        do {
            return try await pool.transaction { try await fireDueTimers(limit: limit, on: $0, now: now, writesTogether: true) }
        } catch let error where !(error is CancellationError) && !PostgresError.isTransient(error) {
            logger.warning(
                "A batch of timers could not write its invocations together; firing it again with each timer's writes on their own",
                metadata: ["error": "\(error)"])
            return try await pool.transaction { try await fireDueTimers(limit: limit, on: $0, now: now, writesTogether: false) }
        }
    }

    /// How long a timer that failed to fire waits before it is tried again: 1 s, doubling, at most 5 minutes, with
    /// jitter (timers that failed together are not all tried again together).
    static let timerBackoff = Backoff(initial: .seconds(1), maximum: .seconds(300))

    static func retryDelay(afterAttempt attempt: Int) -> TimeInterval { timerBackoff.delaySeconds(afterAttempt: attempt) }

    /// Applies one due timer to its (locked, running) execution and resumes it; returns the execution's final
    /// status when the invocation ended it.
    private func fire(_ timer: TimerRecord, execution: ExecutionRecord, store: DurableStore, now: Date) async throws
        -> ExecutionStatus?
    {
        let context = DurableContext(
            store: store, execution: execution, invocationTime: now, operations: [:], callbacks: [:], signals: [],
            logger: logger, messageHeaders: messageHeaders)
        switch timer.kind {
        case .callbackTimeout, .callbackHeartbeat:
            guard let callbackId = timer.callbackId else { return nil }
            let error =
                timer.kind == .callbackTimeout
                ? DurableError(errorType: DurableError.callbackTimeout, errorMessage: "no result within the callback's timeout")
                : DurableError(errorType: DurableError.callbackHeartbeat, errorMessage: "no heartbeat within the heartbeat timeout")
            // Ended and read in one round trip: the invocation below starts from the state after the callback's end.
            guard let state = try await store.endCallback(id: callbackId, status: .timedOut, error: error, at: now, thenStateOf: execution)
            else { return nil }
            store.queueTimerCancellation(callbackId: callbackId, at: now)
            context.queueHistory("CallbackTimedOut", ["CallbackId": .string(callbackId.uuidString), "Error": DurableContext.json(error)])
            return try await invoke(execution, store: store, now: now, state: state).status
        case .wait:
            guard let position = timer.position else { return nil }
            // Read once: the invocation below starts from this state, the wait now succeeded.
            var state = try await store.state(of: execution)
            guard var operation = state.operations[position], operation.status == .started else { return nil }
            operation.status = .succeeded
            store.queueOperation(operation, executionId: execution.executionId, at: now)
            context.queueHistory("WaitSucceeded", ["Name": .string(operation.name)])
            state.operations[position] = operation
            return try await invoke(execution, store: store, now: now, state: state).status
        }
    }

    public struct FiredTimers: Sendable {
        /// Timers the batch claimed: a full batch means more may be due at once. (An execution's second timer in the
        /// batch is claimed but left to the next one.)
        public var claimed = 0
        public var count = 0
        /// Seconds between each timer's due time and its firing.
        public var lateness: [Double] = []
        public var finished: [(name: String, status: ExecutionStatus)] = []
        /// Timers that could not be fired, by execution, with why: each is due again after a back-off.
        public var failed: [(name: String, error: String)] = []
    }

    /// Takes the name locks of several executions at once, in one order (the names sorted), queued with the next
    /// statement: a transaction about several executions (a batch of events) takes these first, so that two such
    /// transactions about some of the same executions wait for each other instead of deadlocking. The executions'
    /// own locks follow as usual, each under its name's.
    public func queueNameLocks(executionsNamed names: [String], on connection: PostgresConnection) {
        DurableStore(connection: connection).queueNameLocks(names)
    }

    /// Locks the name `name` (as `start` does, so the two are serialised) and the execution of that name, until
    /// the transaction ends; returns whether the execution exists. Code that touches its own tables before
    /// calling the engine takes this first, so that every transaction about an execution — an event's, a
    /// timer's — locks the execution before anything else, and none deadlocks another. While the caller holds
    /// it, an execution found missing cannot be started by another transaction.
    @discardableResult
    public func lock(executionNamed name: String, on connection: PostgresConnection) async throws -> Bool {
        let store = DurableStore(connection: connection)
        store.queueNameLock(name)
        return try await store.lockExecution(named: name) != nil
    }

    /// When the earliest pending timer is due.
    public func nextDueTime(on connection: PostgresConnection) async throws -> Date? {
        try await DurableStore(connection: connection).nextDueTime()
    }

    /// Runs `body`, whose engine calls on `connection` (a batch of events in one transaction) buffer what their
    /// invocations write — history pages, checkpoint pages, outbox messages — and queues it all at the end, one
    /// statement of each kind for the batch, instead of one of each per call. Each execution still gets a page of its
    /// own, its events in order; messages keep the order they were written in. Those writes then fail, if they do,
    /// with the batch's commit rather than inside any one call's savepoint: a caller that must isolate a failing
    /// event handles the events again one by one without it (`EventProcessor` does). An engine call that throws leaves
    /// what it buffered in the batch's buffer, so `body` must not catch an engine call's error and go on: the error
    /// must end the batch (its transaction rolls back).
    public func writingTogether<T: Sendable>(
        on connection: PostgresConnection, _ body: () async throws -> T
    ) async throws -> T {
        let shared = SharedWrites(connection: connection)
        let result = try await SharedWrites.$current.withValue(shared) { try await body() }
        DurableStore(connection: connection).flush(shared.pending)
        return result
    }

    // MARK: - Inbox and outbox

    /// Records a consumed event by id; false when it was handled before (a redelivery).
    public func recordInbox(eventId: UUID, topic: String, on connection: PostgresConnection) async throws -> Bool {
        try await DurableStore(connection: connection).recordInbox(eventId: eventId, topic: topic)
    }

    /// Records several consumed events by id in one statement; returns the ids recorded now (those not handled before),
    /// each once however often it is among `events`.
    public func recordInbox(_ events: [(eventId: UUID, topic: String)], on connection: PostgresConnection) async throws
        -> Set<UUID>
    {
        try await DurableStore(connection: connection).recordInbox(events)
    }

    /// Queues an event for the outbox relay, outside any workflow (for example a dead letter).
    public func enqueue(
        topic: String, key: String, payload: String, trace: TraceContext? = nil, on connection: PostgresConnection
    ) async throws {
        Outbox.enqueue(topic: topic, key: key, payload: payload, trace: trace, on: connection)
    }
}

/// Runs one workflow type from and to JSON text.
struct WorkflowRunner: Sendable {
    let run: @Sendable (DurableContext, String) async throws -> String
    /// A signal (JSON text) for an execution (its input as JSON text) that ended with the given status.
    let afterEnd: @Sendable (StepContext, String, String, ExecutionStatus) async throws -> Void
    /// The workflow's account of its execution's failure.
    let failed: @Sendable (StepContext, String, DurableError) async throws -> Void
    /// What a signal does to a running execution when the workflow takes it as an observation; nil when the workflow
    /// receives it (or it is not this workflow's kind of signal: `receive` discards it into the history).
    let observation: @Sendable (any Sendable) -> (@Sendable (StepContext) async throws -> Void)?

    init<W: Workflow>(_ workflow: W) {
        run = { context, inputText in
            let input = try GreenlightJSON.decode(W.Input.self, from: Data(inputText.utf8))
            let output = try await workflow.run(context: context, input: input)
            return String(decoding: try GreenlightJSON.encode(output), as: UTF8.self)
        }
        afterEnd = { step, inputText, signalText, status in
            let input = try GreenlightJSON.decode(W.Input.self, from: Data(inputText.utf8))
            let signal = try GreenlightJSON.decode(W.Signal.self, from: Data(signalText.utf8))
            try await workflow.signalAfterEnd(signal, status: status, input: input, step: step)
        }
        failed = { step, inputText, error in
            let input = try GreenlightJSON.decode(W.Input.self, from: Data(inputText.utf8))
            try await workflow.executionFailed(error, input: input, step: step)
        }
        observation = { value in
            guard let signal = value as? W.Signal, workflow.isObservation(signal) else { return nil }
            return { step in try await workflow.signalObserved(signal, step: step) }
        }
    }
}
