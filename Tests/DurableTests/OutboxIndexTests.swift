import Foundation
import GreenlightTestSupport
import Postgres
import Testing

@testable import DurableExecution

@Suite(.timeLimit(.minutes(1)))
struct OutboxIndexTests {
    /// Intake and the callback receiver look for an unpublished event with the same key (or on the same topic) before
    /// each event they send.
    /// Under load the relay's index of unpublished rows holds thousands of entries (rows waiting, and rows sent but
    /// not yet vacuumed) while the statistics, taken when it was nearly empty, say it holds none: the look-up must
    /// still go by key, not filter every entry of the relay's index (0.4–1.8 ms a look-up in the benchmark).
    @Test func theKeyLookUpGoesByKeyWhenTheStatisticsSayNothingIsUnsent() async throws {
        let harness = try await EngineHarness.make()
        try await harness.pool.query(
            """
            INSERT INTO durable_outbox (topic, message_key, payload, sent_at)
            SELECT 'approvals.decisions', 'sent-' || i, '{}', now() FROM generate_series(1, 5000) i
            """)
        try await harness.pool.query("VACUUM ANALYZE durable_outbox")
        try await harness.pool.query(
            """
            INSERT INTO durable_outbox (topic, message_key, payload)
            SELECT 'approvals.notifications', 'waiting-' || i, '{}' FROM generate_series(1, 3000) i
            """)
        let lookUp = try await harness.plan(Outbox.unpublishedQuery(topic: "approvals.decisions", key: "REQ-1"))
        #expect(lookUp.contains("durable_outbox_unsent_key"), "\(lookUp)")
        // The callback receiver's look-up for the whole topic (it runs beside the link's, before the key is known)
        // goes by topic the same way, not through the orchestrator's waiting rows of another topic.
        let topicLookUp = try await harness.plan(Outbox.unpublishedQuery(topic: "approvals.decisions", key: nil))
        #expect(topicLookUp.contains("durable_outbox_unsent_key"), "\(topicLookUp)")
        // The relay still reads the oldest unpublished rows from its own index, not by scanning those already sent,
        // and starts in it above its floor.
        let batch = try await harness.plan(OutboxRelay.batchQuery(limit: 500))
        #expect(batch.contains("durable_outbox_relay"), "\(batch)")
        #expect(!batch.contains("Seq Scan"), "\(batch)")
        let above = try await harness.plan(OutboxRelay.batchQuery(limit: 500, after: 5_000))
        #expect(above.contains("Index Scan using durable_outbox_relay"), "\(above)")
        #expect(above.contains("Index Cond: (id > "), "\(above)")
    }
}
