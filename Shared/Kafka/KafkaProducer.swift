import CRdKafka
import Foundation
import Logging
import Synchronization

/// An idempotent producer (`enable.idempotence=true`, `acks=all`). `send` returns only once the broker has the
/// message, as its delivery report says, and throws a `KafkaError` otherwise; it never waits longer than
/// `message.timeout.ms`.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let pollThread: PollThread
    private let blockingQueue = DispatchQueue(label: "greenlight.kafka.producer.blocking")
    private let logger: Logger

    /// Greenlight's producer defaults; `KafkaConfiguration.properties` may override them.
    public static let defaultProperties: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        // Every send waits for its acknowledgement (an HTTP answer, a relay pass): a message goes out at once, and
        // the messages that queue while earlier requests are in flight still go out together.
        "linger.ms": "0",
        "message.timeout.ms": "30000",
        "compression.type": "lz4",
    ]

    /// The value the producer uses for a librdkafka configuration property, or nil for one librdkafka does not know.
    public func property(_ name: String) -> String? {
        client.property(name)
    }

    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        let conf = try RDKafkaConf.make(configuration.merged(with: Self.defaultProperties))
        client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, conf: conf, logger: logger) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        self.logger = logger
        let client = self.client
        // rd_kafka_poll serves delivery reports; it blocks up to 100 ms, so it gets a thread of its own.
        pollThread = PollThread(name: "greenlight.kafka.producer.poll") { rd_kafka_poll(client.handle, 100) }
    }

    /// Sends one message and waits for the broker's acknowledgement: at most `deadline` when one is given (then
    /// `KafkaError.unacknowledged` — the message may still reach the broker later), else up to
    /// `message.timeout.ms`. Cancelling the calling task stops the wait (with `CancellationError`) the same way.
    /// After a fatal error the producer sends nothing and every call throws `KafkaError.fatal`.
    @discardableResult
    public func send(
        topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = [], deadline: Duration? = nil
    ) async throws -> KafkaDeliveryReport {
        let keyBytes = key.map { Array($0.utf8) }
        let deliveries = client.context.deliveries
        while true {
            if let fatal = client.context.fatal.error { throw fatal }
            let registered = Mutex<UInt?>(nil)
            let outcome: DeliveryOutcome = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    guard let id = deliveries.register(.single(continuation)) else {
                        continuation.resume(throwing: KafkaError(.closed, "the producer is shut down"))
                        return
                    }
                    registered.withLock { $0 = id }
                    if Task.isCancelled {
                        deliveries.take(id)?.fail(CancellationError())
                        return
                    }
                    let error = produce(topic: topic, key: keyBytes, value: value, headers: headers, id: id)
                    if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                        if let deadline {
                            let expired = KafkaError(
                                .unacknowledged, "the broker did not acknowledge the message to \(topic) within \(deadline)")
                            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(deadline.milliseconds))) {
                                deliveries.take(id)?.fail(expired)
                            }
                        }
                        return
                    }
                    guard let waiter = deliveries.take(id) else { return }
                    if error == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                        waiter.resume(with: .success(.queueFull))
                    } else if error == RD_KAFKA_RESP_ERR__FATAL, let fatal = client.context.fatal.error {
                        waiter.fail(fatal)
                    } else {
                        waiter.resume(with: .failure(KafkaError(.deliveryFailed, "cannot enqueue to \(topic)", error: error)))
                    }
                }
            } onCancel: {
                // A cancelled caller stops waiting; a report that comes later finds no one and is dropped.
                if let id = registered.withLock({ $0 }) { deliveries.take(id)?.fail(CancellationError()) }
            }
            switch outcome {
            case .delivered(let report):
                return report
            case .queueFull:
                // librdkafka's local queue is full: wait for deliveries to drain it.
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// The fatal error this producer hit, if any: it then sends nothing more and the service must restart.
    public var fatalError: KafkaError? { client.context.fatal.error }

    /// Returns when the producer hits a fatal error (never, normally); nil when the waiting task is cancelled.
    public func waitForFatalError() async -> KafkaError? {
        await client.context.fatal.wait()
    }

    /// Enqueues every message in order (so messages with the same key keep their order) and waits for all of
    /// their delivery reports. Each result says whether that message reached the broker. Cancelling the calling task
    /// stops the wait: each message not acknowledged by then fails with `KafkaError.unacknowledged` (it may still
    /// reach the broker, which a producer whose `message.timeout.ms` is 0 keeps trying for ever).
    public func send(batch messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        let deliveries = client.context.deliveries
        let registered = Mutex<[UInt]>([])
        let stopped = KafkaError(
            .unacknowledged, "the sender stopped waiting (its task was cancelled) before the broker acknowledged")
        let stopWaiting: @Sendable () -> Void = {
            for id in registered.withLock({ $0 }) { deliveries.take(id)?.fail(stopped) }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let collector = BatchCollector(count: messages.count, continuation: continuation)
                for (index, message) in messages.enumerated() {
                    // A caller already cancelled sends nothing more (a task stays cancelled, so only a tail of the
                    // batch is left out and a key's messages keep their order).
                    if Task.isCancelled {
                        collector.complete(index, with: .failure(stopped))
                        continue
                    }
                    guard let id = deliveries.register(.batch(collector, index: index)) else {
                        collector.complete(index, with: .failure(KafkaError(.closed, "the producer is shut down")))
                        continue
                    }
                    registered.withLock { $0.append(id) }
                    let error = produce(
                        topic: message.topic, key: message.key.map { Array($0.utf8) }, value: message.value,
                        headers: message.headers, id: id)
                    if error != RD_KAFKA_RESP_ERR_NO_ERROR, let entry = deliveries.take(id) {
                        entry.resume(with: .failure(KafkaError(.deliveryFailed, "cannot enqueue to \(message.topic)", error: error)))
                    }
                }
                // Cancelled while enqueueing: the handler below saw only the messages registered before it ran.
                if Task.isCancelled { stopWaiting() }
            }
        } onCancel: {
            // A report that comes later finds no one waiting and is dropped.
            stopWaiting()
        }
    }

    /// How many sent messages wait for their delivery report.
    public var unacknowledgedCount: Int { client.context.deliveries.count }

    /// Waits up to `timeout` for outstanding messages, then stops; later sends fail with `.closed`.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        let client = self.client
        let milliseconds = timeout.milliseconds
        let remaining = try? await blockingQueue.run { rd_kafka_flush(client.handle, milliseconds) }
        if let remaining, remaining != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka producer shut down with messages not yet acknowledged")
        }
        for waiter in client.context.deliveries.close() {
            waiter.resume(with: .failure(KafkaError(.closed, "the producer shut down before the broker acknowledged")))
        }
        await pollThread.stop()
    }

    /// Whether the producer can send: no fatal error, and its brokers answer a metadata request within `timeout`.
    public func isConnected(timeout: Duration = .seconds(2)) async -> Bool {
        guard client.context.fatal.error == nil else { return false }
        return await client.isReachable(timeout: timeout, queue: blockingQueue)
    }

    private func produce(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], id: UInt)
        -> rd_kafka_resp_err_t
    {
        let list: OpaquePointer? = headers.isEmpty ? nil : rd_kafka_headers_new(headers.count)
        for header in headers {
            if let bytes = header.value {
                bytes.withUnsafeBytes { _ = rd_kafka_header_add(list, header.name, -1, $0.baseAddress, $0.count) }
            } else {
                _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
            }
        }
        let opaque = UnsafeMutableRawPointer(bitPattern: id)
        let error = value.withUnsafeBytes { valueBuffer in
            if let key {
                return key.withUnsafeBytes { keyBuffer in
                    greenlight_rd_kafka_produce(
                        client.handle, topic, valueBuffer.baseAddress, valueBuffer.count, keyBuffer.baseAddress,
                        keyBuffer.count, list, opaque)
                }
            }
            return greenlight_rd_kafka_produce(
                client.handle, topic, valueBuffer.baseAddress, valueBuffer.count, nil, 0, list, opaque)
        }
        // On failure librdkafka did not take the headers.
        if error != RD_KAFKA_RESP_ERR_NO_ERROR, let list { rd_kafka_headers_destroy(list) }
        return error
    }
}

/// Runs on the producer's poll thread, inside rd_kafka_poll.
private let deliveryReportCallback:
    @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
        _, message, opaque in
        guard let message, let context = RDKafkaContext.from(opaque) else { return }
        let m = message.pointee
        let id = UInt(bitPattern: m._private)
        guard let waiter = context.deliveries.take(id) else { return }
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            waiter.resume(with: .success(.delivered(KafkaDeliveryReport(topic: topic, partition: m.partition, offset: m.offset))))
        } else if m.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT {
            waiter.resume(with: .failure(KafkaError(.messageTimedOut, "no broker acknowledged the message to \(topic)", error: m.err)))
        } else {
            waiter.resume(with: .failure(KafkaError(.deliveryFailed, "the broker refused the message to \(topic)", error: m.err)))
        }
    }

extension RDKafkaClient {
    /// Asks the cluster for metadata; true when it answers within `timeout`.
    func isReachable(timeout: Duration, queue: DispatchQueue) async -> Bool {
        let milliseconds = timeout.milliseconds
        let ok = try? await queue.run { [self] () -> Bool in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(handle, 0, nil, &metadata, milliseconds)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return error == RD_KAFKA_RESP_ERR_NO_ERROR
        }
        return ok ?? false
    }
}
