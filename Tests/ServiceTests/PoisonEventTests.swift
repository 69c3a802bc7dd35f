@testable import Orchestrator
import Postgres
import Testing

struct PoisonEventTests {
    @Test func connectionTroubleIsRetriedForeverOtherFailuresFiveTimes() {
        let lost = PostgresError(.connectionLost, "server closed the connection")
        let refused = PostgresError(.connectionFailed, "connection refused")
        let deadlock = PostgresError(.queryFailed, "deadlock detected", sqlState: "40P01")
        let broken = PostgresError(.queryFailed, "value too long", sqlState: "22001")
        #expect(!EventProcessor.isPoison(lost, attempt: 100))
        #expect(!EventProcessor.isPoison(refused, attempt: 100))
        #expect(!EventProcessor.isPoison(deadlock, attempt: 100))
        #expect(!EventProcessor.isPoison(broken, attempt: 4))
        #expect(EventProcessor.isPoison(broken, attempt: 5))
        #expect(EventProcessor.isPoison(CancellationError(), attempt: 5))
    }
}
