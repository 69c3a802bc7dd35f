import CRdKafka
import Foundation
import Logging
import Synchronization

/// A consumer-group member. Messages arrive through `messages` (an `AsyncSequence`); the caller commits each
/// message's offset after it has processed it (`commit`), so delivery is at least once. Rebalances are handled
/// (partitions assigned and revoked as the group changes); `close()` leaves the group cleanly.
public final class KafkaConsumer: Sendable {
    private let client: RDKafkaClient
    private let buffer: MessageBuffer
    private let pollThread: PollThread
    private let blockingQueue = DispatchQueue(label: "greenlight.kafka.consumer.blocking")
    /// Lag queries ask the brokers; they get their own queue so they never hold up a commit.
    private let lagQueue = DispatchQueue(label: "greenlight.kafka.consumer.lag")
    private let logger: Logger
    public let groupId: String

    public static let defaultProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": "10000",
        "heartbeat.interval.ms": "1000",
        "partition.assignment.strategy": "range,roundrobin",
        // How long a fetch waits for data: bounds the delay on brokers (like the embedded one) that do not answer
        // a waiting fetch as soon as data arrives.
        "fetch.wait.max.ms": "50",
    ]

    public init(
        configuration: KafkaConfiguration, groupId: String, topics: [String], logger: Logger, bufferCapacity: Int = 512
    ) throws {
        var properties = configuration.merged(with: Self.defaultProperties)
        properties.merge(configuration.consumerProperties) { _, new in new }
        properties["group.id"] = groupId
        let conf = try RDKafkaConf.make(properties)
        let client = try RDKafkaClient(type: RD_KAFKA_CONSUMER, conf: conf, logger: logger) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            rd_kafka_conf_set_offset_commit_cb(conf, commitCallback)
        }
        // Route the main queue to the consumer queue so one poll serves messages, rebalances and errors.
        rd_kafka_poll_set_consumer(client.handle)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let error = rd_kafka_subscribe(client.handle, list)
        rd_kafka_topic_partition_list_destroy(list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumerFailed, "cannot subscribe to \(topics.joined(separator: ", "))", error: error)
        }

        self.client = client
        self.groupId = groupId
        self.logger = logger
        let buffer = MessageBuffer(capacity: bufferCapacity)
        self.buffer = buffer
        pollThread = PollThread(
            name: "greenlight.kafka.consumer.poll",
            body: { Self.pollOnce(handle: client.handle, buffer: buffer, logger: logger) },
            finally: {
                // Leaves the group (revoking partitions) before the handle is destroyed.
                rd_kafka_consumer_close(client.handle)
                buffer.finish()
            })
    }

    /// The consumed messages, in order per partition. One task iterates them.
    public var messages: KafkaMessages { KafkaMessages(buffer: buffer) }

    /// Handles each message in turn, then commits its offset (at least once). A commit that fails is reported
    /// to `commitFailed` and not retried: after a rebalance the partition belongs to another member, which
    /// reads from the last committed offset, so the message comes again rather than being lost.
    public func forEachMessage(
        _ handle: (KafkaMessage) async throws -> Void, commitFailed: (KafkaMessage, any Error) -> Void
    ) async throws {
        for try await message in messages {
            try await handle(message)
            do {
                try await commit(message)
            } catch {
                commitFailed(message, error)
            }
        }
    }

    /// Like `forEachMessage`, but the partitions are handled concurrently: each partition's messages in order,
    /// one at a time, each committed after it is handled; different partitions side by side. Records with the
    /// same key share a partition, so they are still handled in order. At most `maxInFlight` messages are
    /// taken from the consumer and not yet handled. Returns when the consumer closes and every message taken
    /// has been handled. `lane` names the sequence a message belongs to (by default its topic and partition);
    /// messages of one lane are handled one at a time, in the order they were consumed.
    public func forEachMessageByPartition(
        maxInFlight: Int = 256, lane: @escaping @Sendable (KafkaMessage) -> String = { "\($0.topic)/\($0.partition)" },
        _ handle: @escaping @Sendable (KafkaMessage) async throws -> Void,
        commitFailed: @escaping @Sendable (KafkaMessage, any Error) -> Void
    ) async throws {
        try await forEachBatchByPartition(
            maxBatch: 1, maxInFlight: maxInFlight, lane: lane, { try await handle($0[0]) },
            commitFailed: { messages, error in for message in messages { commitFailed(message, error) } })
    }

    /// Like `forEachMessageByPartition`, but a lane is handed every message waiting for it at once (up to
    /// `maxBatch`, in the order consumed), so that the caller can apply them together — in one transaction, say —
    /// and their offsets are committed together afterwards. A lane that keeps up gets batches of one; one that
    /// falls behind catches up in larger batches.
    public func forEachBatchByPartition(
        maxBatch: Int, maxInFlight: Int = 256,
        lane: @escaping @Sendable (KafkaMessage) -> String = { "\($0.topic)/\($0.partition)" },
        _ handle: @escaping @Sendable ([KafkaMessage]) async throws -> Void,
        commitFailed: @escaping @Sendable ([KafkaMessage], any Error) -> Void
    ) async throws {
        let permits = Permits(maxInFlight)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var lanes: [String: LaneQueue] = [:]
            defer { for lane in lanes.values { lane.finish() } }
            for try await message in messages {
                // A lane that failed (cancellation) stops the whole loop, rather than holding its permits.
                try await permits.acquire()
                let key = lane(message)
                if lanes[key] == nil {
                    let queue = LaneQueue()
                    lanes[key] = queue
                    group.addTask {
                        while let batch = await queue.next(max: max(1, maxBatch)) {
                            do {
                                try await handle(batch)
                            } catch {
                                await permits.fail(error)
                                throw error
                            }
                            do {
                                try await self.commit(batch)
                            } catch {
                                commitFailed(batch, error)
                            }
                            await permits.release(batch.count)
                        }
                    }
                }
                lanes[key]?.push(message)
            }
            for lane in lanes.values { lane.finish() }
            try await group.waitForAll()
        }
    }

    /// Commits `message`'s offset (the next one to read is `offset + 1`) and waits for the coordinator.
    public func commit(_ message: KafkaMessage) async throws {
        try await commit([message])
    }

    /// Commits the highest offset of each partition among `messages`, asynchronously: the request is on its way
    /// when this returns, and a failure is logged when the broker answers (`offset_commit_cb`). Waiting for the
    /// answer here could deadlock: a commit during a rebalance waits for the rebalance, the rebalance needs the
    /// poll thread, and the poll thread waits for room in the buffer that the waiting handlers would make. The
    /// guarantee is unchanged — an offset is committed only after its message was handled, and an offset that
    /// never gets committed means the message comes again — and closing the consumer waits for commits in flight.
    public func commit(_ messages: [KafkaMessage]) async throws {
        var highest: [String: [Int32: Int64]] = [:]
        for message in messages {
            highest[message.topic, default: [:]][message.partition] = max(
                highest[message.topic]?[message.partition] ?? -1, message.offset)
        }
        guard !highest.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(messages.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topic, partitions) in highest {
            for (partition, offset) in partitions {
                rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset + 1
            }
        }
        // With async = 1 this only queues the request; it does not block.
        let error = rd_kafka_commit(client.handle, list, 1)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.commitFailed, "cannot commit offsets; the messages will be delivered again", error: error)
        }
    }

    /// The partitions this member holds right now.
    public func assignment() async throws -> [(topic: String, partition: Int32)] {
        let client = self.client
        return try await blockingQueue.run {
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let error = rd_kafka_assignment(client.handle, &list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
                throw KafkaError(.consumerFailed, "cannot read the assignment", error: error)
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return (0..<Int(list.pointee.cnt)).map { index in
                let element = list.pointee.elems[index]
                return (String(cString: element.topic), element.partition)
            }
        }
    }

    /// How far behind the group's committed offsets are, for each partition this member holds: the partition's
    /// high watermark minus the committed offset (from the start of the log when nothing is committed yet).
    public func lag(timeout: Duration = .seconds(5)) async throws -> [PartitionLag] {
        let client = self.client
        let milliseconds = timeout.milliseconds
        return try await lagQueue.run {
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let error = rd_kafka_assignment(client.handle, &list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
                throw KafkaError(.consumerFailed, "cannot read the assignment", error: error)
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return try PartitionLag.measure(list, handle: client.handle, timeoutMilliseconds: milliseconds)
        }
    }

    /// Whether the brokers answer a metadata request within `timeout`.
    public func isConnected(timeout: Duration = .seconds(2)) async -> Bool {
        await client.isReachable(timeout: timeout, queue: blockingQueue)
    }

    /// Leaves the group and stops; the message sequence ends.
    public func close() async {
        buffer.finish()
        await pollThread.stop()
    }

    private static func pollOnce(handle: OpaquePointer, buffer: MessageBuffer, logger: Logger) {
        guard let message = rd_kafka_consumer_poll(handle, 100) else { return }
        defer { rd_kafka_message_destroy(message) }
        let error = message.pointee.err
        if error == RD_KAFKA_RESP_ERR_NO_ERROR {
            buffer.push(KafkaMessage(copying: message))
        } else if error == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            return
        } else if error == RD_KAFKA_RESP_ERR__FATAL {
            logger.critical("Kafka consumer hit a fatal error", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
            buffer.finish(error: KafkaError(.consumerFailed, "fatal consumer error", error: error))
        } else {
            // Transient: librdkafka retries by itself (broker down, transport errors...).
            logger.warning("Kafka consumer error", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
        }
    }
}

/// A counting semaphore for tasks: `acquire` waits while every permit is taken, and throws once a holder has
/// failed.
actor Permits {
    private var available: Int
    private var waiting: [CheckedContinuation<Void, any Error>] = []
    private var failure: (any Error)?

    init(_ count: Int) {
        available = max(1, count)
    }

    func acquire() async throws {
        if let failure { throw failure }
        if available > 0 {
            available -= 1
            return
        }
        try await withCheckedThrowingContinuation { waiting.append($0) }
    }

    func release(_ count: Int = 1) {
        for _ in 0..<count {
            if waiting.isEmpty {
                available += 1
            } else {
                waiting.removeFirst().resume()
            }
        }
    }

    /// A holder failed: every waiter, now and later, gets its error.
    func fail(_ error: any Error) {
        failure = failure ?? error
        for waiter in waiting { waiter.resume(throwing: error) }
        waiting = []
    }
}

/// The messages waiting for one lane. One task takes them (`next`), everything waiting at once; the consuming
/// loop adds them (`push`).
final class LaneQueue: Sendable {
    private struct State {
        var items: [KafkaMessage] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func push(_ message: KafkaMessage) {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(message)
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    /// No more messages: `next` returns what is left, then nil.
    func finish() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    /// Up to `max` waiting messages, waiting for one if there are none; nil once finished and empty.
    func next(max: Int) async -> [KafkaMessage]? {
        while true {
            let taken: [KafkaMessage]?? = state.withLock { state in
                if !state.items.isEmpty {
                    let count = min(max, state.items.count)
                    defer { state.items.removeFirst(count) }
                    return .some(Array(state.items.prefix(count)))
                }
                return state.finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if !state.items.isEmpty || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}

/// One partition's consumer lag.
public struct PartitionLag: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// The group's committed offset (the next message it will read); nil when it has committed nothing yet.
    public var committed: Int64?
    public var highWatermark: Int64
    /// Messages written but not yet committed by the group.
    public var lag: Int64

    public init(topic: String, partition: Int32, committed: Int64?, highWatermark: Int64, lag: Int64) {
        self.topic = topic
        self.partition = partition
        self.committed = committed
        self.highWatermark = highWatermark
        self.lag = lag
    }

    /// The lag of each partition in `list` for the group `handle` was made with: its committed offsets (asked of the
    /// group's coordinator) against each partition's high watermark. Blocks: call it on a queue of its own.
    static func measure(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, handle: OpaquePointer, timeoutMilliseconds: Int32
    ) throws -> [PartitionLag] {
        guard list.pointee.cnt > 0 else { return [] }
        let committedError = rd_kafka_committed(handle, list, timeoutMilliseconds)
        guard committedError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumerFailed, "cannot read the committed offsets", error: committedError)
        }
        var lags: [PartitionLag] = []
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            let topic = String(cString: element.topic)
            let (low, high) = try KafkaTopicReader.watermarks(
                of: topic, partition: element.partition, handle: handle, timeout: timeoutMilliseconds)
            let committed = element.offset >= 0 ? element.offset : nil
            lags.append(
                PartitionLag(
                    topic: topic, partition: element.partition, committed: committed,
                    highWatermark: high, lag: max(0, high - (committed ?? low))))
        }
        return lags
    }
}

/// The messages of a `KafkaConsumer`.
public struct KafkaMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaMessage
    let buffer: MessageBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MessageBuffer
        public mutating func next() async throws -> KafkaMessage? { try await buffer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// Runs on the poll thread, inside rd_kafka_consumer_poll, when the group assigns or revokes partitions.
/// Reports how asynchronous commits ended (served by the consumer's poll). A failed one is not retried: the
/// messages come again, to this member or to the one that holds the partition now.
private let commitCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?)
        -> Void = { _, error, _, opaque in
            guard error != RD_KAFKA_RESP_ERR_NO_ERROR, error != RD_KAFKA_RESP_ERR__NO_OFFSET else { return }
            RDKafkaContext.from(opaque)?.logger.warning(
                "Offsets not committed; the messages will be delivered again",
                metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
        }

private let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = { handle, error, partitions, opaque in
        guard let handle else { return }
        let context = RDKafkaContext.from(opaque)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        var names: [String] = []
        if let partitions {
            for index in 0..<Int(partitions.pointee.cnt) {
                let element = partitions.pointee.elems[index]
                names.append("\(String(cString: element.topic))[\(element.partition)]")
            }
        }
        if error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            context?.logger.info("Kafka partitions assigned", metadata: ["partitions": "\(names.joined(separator: ","))"])
            if cooperative {
                rd_kafka_error_destroy(rd_kafka_incremental_assign(handle, partitions))
            } else {
                rd_kafka_assign(handle, partitions)
            }
        } else {
            context?.logger.info("Kafka partitions revoked", metadata: ["partitions": "\(names.joined(separator: ","))"])
            if cooperative {
                rd_kafka_error_destroy(rd_kafka_incremental_unassign(handle, partitions))
            } else {
                rd_kafka_assign(handle, nil)
            }
        }
    }
