import Foundation
import GreenlightModels
import Testing

/// Greenlight's events as CloudEvents 1.0: the binary-mode headers for Kafka, the structured-mode JSON for webhooks.
struct CloudEventTests {
    let completed = ApprovalCompleted(
        eventId: UUID(uuidString: "6F1E2C3A-1B2C-4D5E-8F90-0123456789AB")!, requestId: "REQ-7",
        executionId: UUID(), status: .approved, decidedBy: "a@example.com", decidedAt: nil, channel: .api,
        comment: nil, completedAt: Date(timeIntervalSince1970: 1_795_000_000.25))

    @Test func binaryModeHeadersNameTheEventAndLeaveTheValueAlone() throws {
        let event = CloudEvent(completed, source: "/greenlight/test")
        #expect(event.binaryHeaders == [
            "ce_specversion": "1.0",
            "ce_id": "6F1E2C3A-1B2C-4D5E-8F90-0123456789AB",
            "ce_source": "/greenlight/test",
            "ce_type": "io.greenlight.approval.completed",
            "ce_subject": "REQ-7",
            "ce_time": "2026-11-18T11:06:40.250Z",
            "content-type": "application/json",
        ])
        // ce_id is the eventId exactly as the event's JSON has it (what consumers dedupe on).
        let json = try #require(try JSONSerialization.jsonObject(with: GreenlightJSON.encode(completed)) as? [String: Any])
        #expect(json["eventId"] as? String == event.binaryHeaders["ce_id"])
        #expect(CloudEvent(completed).source == "/greenlight")
    }

    @Test func lifecycleEventsHaveATypePerStageAndTheirOwnTime() {
        let at = Date(timeIntervalSince1970: 1_795_000_123)
        let decided = ApprovalLifecycle(requestId: "REQ-8", executionId: UUID(), stage: .decided, at: at)
        let event = CloudEvent(decided)
        #expect(event.type == "io.greenlight.approval.lifecycle.decided")
        #expect(event.time == at)
        #expect(event.subject == "REQ-8")
        #expect(event.id == decided.eventId.uuidString)
        #expect(Set(ApprovalLifecycle.Stage.allCases.map { CloudEvent(ApprovalLifecycle(requestId: "r", executionId: UUID(), stage: $0, at: at)).type }).count
            == ApprovalLifecycle.Stage.allCases.count)
    }

    @Test func structuredModeIsOneEnvelopeWithTheEventAsData() throws {
        let data = try CloudEvent(completed, source: "https://approvals.example.com").structuredJSON()
        let envelope = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(envelope.keys) == ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"])
        #expect(envelope["specversion"] as? String == "1.0")
        #expect(envelope["id"] as? String == "6F1E2C3A-1B2C-4D5E-8F90-0123456789AB")
        #expect(envelope["source"] as? String == "https://approvals.example.com")
        #expect(envelope["type"] as? String == "io.greenlight.approval.completed")
        #expect(envelope["subject"] as? String == "REQ-7")
        #expect(envelope["time"] as? String == "2026-11-18T11:06:40.250Z")
        #expect(envelope["datacontenttype"] as? String == "application/json")
        // `data` is the event itself, as it travels everywhere else.
        let inner = try JSONSerialization.data(withJSONObject: try #require(envelope["data"]))
        #expect(try GreenlightJSON.decode(ApprovalCompleted.self, from: inner) == completed)
        #expect(CloudEvent.structuredContentType == "application/cloudevents+json")
    }
}
