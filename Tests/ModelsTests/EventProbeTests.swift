import Foundation
import GreenlightModels
import Testing

struct EventProbeTests {
    func probe(_ text: String) -> (type: String, version: Int?)? {
        EventProbe.typeAndVersion(Array(text.utf8))
    }

    @Test func readsTheTopLevelTypeAndVersionPastAnythingNested() throws {
        let text = #"""
             { "payload": {"type": "inner", "list": [1, {"version": 7}, "}]\"{"]}, "note": "a \"type\": \"no\" \\",
              "n": -1.5e3, "ok": true, "none": null, "type" : "ApprovalRequested", "version": 1 }
            """#
        let found = try #require(probe(text))
        #expect(found.type == "ApprovalRequested")
        #expect(found.version == 1)
        #expect(probe(#"{"type":"DecisionSubmitted"}"#)?.version == nil)
        #expect(probe(#"{"type":"DecisionSubmitted"}"#)?.type == "DecisionSubmitted")
    }

    /// What it does not read plainly it leaves to the decoder (nil), rather than guess.
    @Test(arguments: [
        #"{"type": "Approval\u0052equested"}"#, #"{"type": "A", "type": "B"}"#, #"{"type": "A", "version": "1"}"#,
        #"{"type": "A", "version": 1.5}"#, #"{"type": "A", "version": null}"#, #"{"type": "A", "version": -1}"#,
        #"{"type": "A"} x"#, #"[{"type": "A"}]"#, #"{"kind": "A"}"#, #"{"type": 5}"#, "", "{}", #"{"type": "A""#,
        #"{"type": "A", "version": 1, "version": 2}"#,
    ])
    func leavesAnythingElseToTheDecoder(_ text: String) {
        #expect(probe(text) == nil)
    }

    /// Every event the services publish reads the same through the probe as through a decoder.
    @Test func agreesWithTheDecoderOnPublishedEvents() throws {
        struct Probe: Decodable {
            var type: String
            var version: Int?
        }
        let events: [any Encodable] = [
            DecisionSubmitted(
                requestId: "REQ-\"1\"", decision: .approve, decidedBy: "a@example.com", channel: .link,
                comment: "looks {fine} [to me]", decidedAt: Date(timeIntervalSince1970: 1_800_000_000), tokenHash: nil),
            CancelRequested(requestId: "R-2", reason: "no \\ longer", requestedAt: Date(timeIntervalSince1970: 1_800_000_000)),
        ]
        for event in events {
            let bytes = Array(try GreenlightJSON.encode(event))
            let decoded = try JSONDecoder().decode(Probe.self, from: Data(bytes))
            let probed = try #require(EventProbe.typeAndVersion(bytes))
            #expect(probed.type == decoded.type)
            #expect(probed.version == decoded.version)
        }
    }

    /// Text that is not JSON is still refused as the decoder's probe refuses it, even where the probe read a type.
    @Test func malformedJSONIsStillRefusedAsNotAnObject() {
        for text in [#"{"type": "DecisionSubmitted", "x": }"#, #"{"type": "Nope", "x": }"#, #"{"type": "A", "version": 2, "x": }"#] {
            do {
                _ = try InboundEvent.decode(Array(text.utf8), topic: "approvals.decisions")
                Issue.record("decoded \(text)")
            } catch {
                #expect("\(error)".contains("not a JSON object"), "\(error)")
            }
        }
    }
}
