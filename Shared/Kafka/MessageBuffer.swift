import Foundation

/// A bounded hand-over from the consumer's poll thread to the one task iterating the messages. The poll thread
/// blocks when the buffer is full (back-pressure: librdkafka then stops fetching), never the async side.
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class MessageBuffer: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [KafkaMessage] = []
    private var head = 0
    private var waiter: CheckedContinuation<KafkaMessage?, any Error>?
    private var finished = false
    private var failure: (any Error)?
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Called on the poll thread. Returns false when the buffer has been finished.
    @discardableResult
    func push(_ message: KafkaMessage) -> Bool {
        condition.lock()
        while items.count - head >= capacity && !finished { condition.wait() }
        if finished {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: message)
            return true
        }
        items.append(message)
        condition.unlock()
        return true
    }

    /// Ends the sequence after the buffered messages (with `error`, if any).
    func finish(error: (any Error)? = nil) {
        condition.lock()
        finished = true
        if failure == nil { failure = error }
        let waiter = self.waiter
        self.waiter = nil
        let pendingFailure = items.count == head ? failure : nil
        condition.broadcast()
        condition.unlock()
        if let pendingFailure {
            waiter?.resume(throwing: pendingFailure)
        } else {
            waiter?.resume(returning: nil)
        }
    }


    func next() async throws -> KafkaMessage? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                condition.lock()
                if head < items.count {
                    let message = items[head]
                    head += 1
                    if head > 256 && head * 2 > items.count {
                        items.removeFirst(head)
                        head = 0
                    }
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: message)
                } else if finished {
                    let failure = self.failure
                    self.failure = nil
                    condition.unlock()
                    if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
                } else if Task.isCancelled {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            condition.lock()
            let waiter = self.waiter
            self.waiter = nil
            condition.unlock()
            waiter?.resume(returning: nil)
        }
    }
}
