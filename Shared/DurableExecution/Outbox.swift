import GreenlightModels
import Postgres

/// The transactional outbox (`durable_outbox`): events written in the same transaction as the state they
/// describe, or — by intake and the callback receiver, when the broker does not acknowledge in time — on their
/// own, and published by the `OutboxRelay` once the broker takes them.
public enum Outbox {
    /// Queues a message on `connection` (sent with its next awaited statement, in its transaction); `trace` travels
    /// in its `traceparent` header, so the span that receives it is a child of the span that wrote it.
    public static func enqueue(topic: String, key: String, payload: String, trace: TraceContext?, on connection: PostgresConnection) {
        connection.queue(insert(topic: topic, key: key, payload: payload, trace: trace))
    }

    /// Writes a message now and returns once it is stored.
    public static func write(topic: String, key: String, payload: String, trace: TraceContext?, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(insert(topic: topic, key: key, payload: payload, trace: trace))
    }

    /// Whether a message with this key waits to be published to `topic`: one sent there directly now would overtake
    /// it. (Order is per topic and key; rows for other topics, such as the orchestrator's, do not hold it back.)
    public static func hasUnpublished(topic: String, key: String, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            "SELECT 1 FROM durable_outbox WHERE sent_at IS NULL AND topic = \(topic) AND message_key = \(key) LIMIT 1"
        ).count > 0
    }

    static func insert(topic: String, key: String, payload: String, trace: TraceContext?) -> PostgresQuery {
        """
        INSERT INTO durable_outbox (topic, message_key, payload, trace_parent)
        VALUES (\(topic), \(key), \(payload), \(trace?.traceparent))
        """
    }
}
