import Foundation
import GreenlightModels
import Orchestrator
import ServiceSupport
import Testing

/// `GREENLIGHT_EVENT_FORMAT` and `GREENLIGHT_EVENT_SOURCE`: plain JSON by default, CloudEvents' headers on request.
struct EventFormatSettingsTests {
    static let secret = ["GREENLIGHT_LINK_SECRET": "event-format-tests-secret-0123456789"]

    func orchestrator(_ extra: [String: String]) throws -> OrchestratorConfiguration {
        try OrchestratorConfiguration.load(Self.secret.merging(extra) { _, new in new })
    }

    @Test func plainJSONUnlessCloudEventsAreAskedFor() throws {
        let plain = try orchestrator([:]).events
        #expect(plain.format == .json)
        #expect(plain.messageHeaders == nil)
        let completed = ApprovalCompleted(
            requestId: "REQ-1", executionId: UUID(), status: .rejected, decidedBy: nil, decidedAt: nil, channel: nil,
            comment: nil, completedAt: Date())
        #expect(plain.headers(for: completed).isEmpty)

        let standard = try orchestrator(["GREENLIGHT_EVENT_FORMAT": "cloudevents", "GREENLIGHT_EVENT_SOURCE": "urn:example:approvals"]).events
        #expect(standard.format == .cloudevents)
        let messageHeaders = try #require(standard.messageHeaders)
        let headers = messageHeaders(Topic.outcomes.rawValue, completed)
        #expect(headers == CloudEvent(completed, source: "urn:example:approvals").binaryHeaders)
        // Only outcomes and lifecycle events are CloudEvents; a notification (or anything else) gets no headers.
        #expect(standard.headers(for: ["not": "an event"]).isEmpty)
    }

    @Test func anUnknownFormatOrABadSourceIsRefusedByName() {
        #expect { try orchestrator(["GREENLIGHT_EVENT_FORMAT": "xml"]) } throws: { error in
            "\(error)".contains("GREENLIGHT_EVENT_FORMAT") && "\(error)".contains("json or cloudevents")
        }
        #expect { try orchestrator(["GREENLIGHT_EVENT_SOURCE": "not a uri"]) } throws: { error in
            "\(error)".contains("GREENLIGHT_EVENT_SOURCE")
        }
    }
}
