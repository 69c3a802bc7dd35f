import Synchronization

/// The operation did not finish within its time: what an HTTP handler answers with when a dependency hangs.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var what: String
    public var limit: Duration
    public var description: String { "\(what) did not finish within \(limit)" }
}

/// Runs `body` and returns its result, or throws `DeadlineExceeded` once `limit` has passed, whichever comes first:
/// an answer within a bounded time even when what `body` waits on (a blocking libpq call on its own queue, say)
/// cannot be interrupted. On the deadline `body`'s task is cancelled, and whatever it still does is abandoned.
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation) {
                Task {
                    do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                }
            } timer: {
                Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    race.finish(.failure(DeadlineExceeded(what: what, limit: limit)))
                }
            }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The work and the timer of one `withDeadline`: whichever finishes first resumes the caller and cancels the other.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        var finished: Result<T, any Error>?
    }

    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>, work: () -> Task<Void, Never>, timer: () -> Task<Void, Never>
    ) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let finished = state.finished { return finished }
            state.continuation = continuation
            return nil
        }
        if let early { return continuation.resume(with: early) }
        let tasks = [work(), timer()]
        let finished = state.withLock { state -> Bool in
            state.tasks = tasks
            return state.continuation == nil
        }
        if finished { tasks.forEach { $0.cancel() } }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.finished == nil else { return (nil, []) }
            state.finished = result
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        continuation?.resume(with: result)
        tasks.forEach { $0.cancel() }
    }
}

/// How the 5 seconds an HTTP answer may take at most are shared out, whatever is down.
public enum AnswerBudget {
    /// A database read the answer needs (a link's token, a request's status).
    public static let read: Duration = .seconds(2)
    /// A read the answer can do without (whether a submitted request id is known already).
    public static let optionalRead: Duration = .seconds(1)
    /// Whether an earlier event with the same key waits in the outbox (then the new one goes behind it).
    public static let outboxCheck: Duration = .milliseconds(500)
    /// The broker's acknowledgement of an event, before it goes to the outbox instead.
    public static let broker: Duration = .milliseconds(1500)
    /// Storing the event in the outbox.
    public static let outbox: Duration = .milliseconds(800)
}
