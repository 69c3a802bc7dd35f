import Foundation
import GreenlightModels
import Kafka
import Postgres

/// The transactional outbox (`durable_outbox`): events written in the same transaction as the state they
/// describe, or — by intake and the callback receiver, when the broker does not acknowledge in time — on their
/// own, and published by the `OutboxRelay` once the broker takes them.
public enum Outbox {
    /// Queues a message on `connection` (sent with its next awaited statement, in its transaction); `trace` travels
    /// in its `traceparent` header, so the span that receives it is a child of the span that wrote it, and `headers`
    /// beside it.
    public static func enqueue(
        topic: String, key: String, payload: String, trace: TraceContext?, headers: [String: String] = [:],
        on connection: PostgresConnection
    ) {
        connection.queue(insert(topic: topic, key: key, payload: payload, trace: trace, headers: headers))
    }

    /// Writes a message now and returns once it is stored.
    public static func write(
        topic: String, key: String, payload: String, trace: TraceContext?, headers: [String: String] = [:],
        on connection: PostgresConnection
    ) async throws {
        try await connection.query(insert(topic: topic, key: key, payload: payload, trace: trace, headers: headers))
    }

    /// Whether a message with this key (nil: any message) waits to be published to `topic`: one sent there directly
    /// now would overtake it. (Order is per topic and key; rows for other topics, such as the orchestrator's, do not
    /// hold it back.)
    public static func hasUnpublished(topic: String, key: String?, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(unpublishedQuery(topic: topic, key: key)).count > 0
    }

    /// `hasUnpublished`'s statement.
    static func unpublishedQuery(topic: String, key: String?) -> PostgresQuery {
        guard let key else { return "SELECT 1 FROM durable_outbox WHERE sent_at IS NULL AND topic = \(topic) LIMIT 1" }
        return "SELECT 1 FROM durable_outbox WHERE sent_at IS NULL AND topic = \(topic) AND message_key = \(key) LIMIT 1"
    }

    /// One message as a row of `durable_outbox`, before it is inserted.
    struct Row {
        var topic: String
        var key: String
        var payload: String
        var traceparent: String?
        /// The headers as a JSON object, or nil for none.
        var headers: String?

        init(topic: String, key: String, payload: String, trace: TraceContext?, headers: [String: String]) {
            self.topic = topic
            self.key = key
            self.payload = payload
            self.traceparent = trace?.traceparent
            self.headers = headers.isEmpty ? nil : (try? GreenlightJSON.encode(headers)).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    static func insert(topic: String, key: String, payload: String, trace: TraceContext?, headers: [String: String])
        -> PostgresQuery
    {
        insert([Row(topic: topic, key: key, payload: payload, trace: trace, headers: headers)])
    }

    /// Inserts `rows` in one statement, whatever their number; their ids (the relay's order) follow the array's.
    static func insert(_ rows: [Row]) -> PostgresQuery {
        """
        INSERT INTO durable_outbox (topic, message_key, payload, trace_parent, headers)
        SELECT t, k, p, tp, h::jsonb
        FROM unnest(\(PostgresArray(rows.map(\.topic)))::text[], \(PostgresArray(rows.map(\.key)))::text[],
                    \(PostgresArray(rows.map(\.payload)))::text[], \(PostgresArray(rows.map(\.traceparent)))::text[],
                    \(PostgresArray(rows.map(\.headers)))::text[]) WITH ORDINALITY AS o (t, k, p, tp, h, n)
        ORDER BY n
        """
    }

    /// The Kafka headers of an outbox row: its `traceparent`, then its other headers by name.
    static func kafkaHeaders(traceparent: String?, headers json: String?) -> [KafkaHeader] {
        let extra = json.flatMap { try? GreenlightJSON.decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        return (traceparent.map { [KafkaHeader(name: TraceContext.headerName, string: $0)] } ?? [])
            + extra.sorted { $0.key < $1.key }.map { KafkaHeader(name: $0.key, string: $0.value) }
    }
}
