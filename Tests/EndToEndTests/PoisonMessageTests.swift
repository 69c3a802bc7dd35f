import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

extension FaultInjection {
    /// Input that cannot be applied never holds up what comes after it: a message at the broker's size limit goes to
    /// the dead-letter topic within seconds (the letter keeps its size, digest and where it came from, and only the
    /// first bytes of the payload), and the requests and decisions behind it on the same partitions go on.
    @Suite(.timeLimit(.minutes(3)))
    struct PoisonMessageTests {
        @Test func aMessageAtTheSizeLimitIsDeadLetteredAndItsPartitionKeepsFlowing() async throws {
            try await ServiceStack.with { stack in
                let kafka = KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers)
                let producer = try KafkaProducer(configuration: kafka, logger: TestEnvironment.logger("poison"))
                // The largest value a producer with default settings sends: 1,000,000 bytes less the record overhead.
                let key = "REQ-HUGE"
                let filler = String(repeating: "x", count: 999_900)
                let huge = Array(#"{"type":"DecisionSubmitted","version":1,"comment":"\#(filler)"}"#.utf8)
                let report = try await producer.send(topic: Topic.decisions.rawValue, key: key, value: huge)

                // Requests submitted after it, and a decision for each on Kafka: some share the huge message's
                // partition number on both topics, which today's lanes share.
                let prefix = TestEnvironment.uniqueName("BIG")
                let ids = (0..<24).map { "\(prefix)-\($0)" }
                for id in ids {
                    #expect(try await stack.submit(
                        #"{"requestId": "\#(id)", "amount": 1, "description": "Behind a huge message", "approvers": ["a@example.com"]}"#
                    ).status == 202)
                }
                var samePartition = 0
                for id in ids {
                    let decision = DecisionSubmitted(
                        requestId: id, decision: .approve, decidedBy: "system@example.com", channel: .kafka, comment: nil,
                        decidedAt: Date(), tokenHash: nil)
                    let sent = try await producer.send(
                        topic: Topic.decisions.rawValue, key: id, value: Array(try GreenlightJSON.encode(decision)))
                    if sent.partition == report.partition { samePartition += 1 }
                }
                #expect(samePartition > 0, "no decision shares the huge message's partition; pick more ids")

                let allApproved = try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                    Set(stack.outcomes.all.filter { $0.status == .approved }.map(\.requestId)).isSuperset(of: ids)
                }
                #expect(allApproved, "\(Set(stack.outcomes.all.map(\.requestId)).intersection(ids).count) of \(ids.count) decided")

                var letter: DeadLetter?
                try await waitUntil(timeout: .seconds(20), interval: .milliseconds(200)) {
                    letter = try await KafkaTopicReader.readAll(
                        topic: Topic.deadLetters.rawValue, configuration: kafka, logger: TestEnvironment.logger("dlq")
                    ).compactMap { try? GreenlightJSON.decode(DeadLetter.self, from: Data($0.value)) }
                        .first { $0.key == key }
                    return letter != nil
                }
                let dead = try #require(letter)
                #expect(dead.topic == Topic.decisions.rawValue)
                #expect(dead.partition == report.partition && dead.offset == report.offset)
                #expect(dead.payloadTruncated == true)
                #expect(dead.payloadSize == huge.count)
                #expect(dead.isOriginal(huge))
                #expect(Data(base64Encoded: dead.payloadBase64)?.count == DeadLetter.truncatedPayloadBytes)
                #expect(dead.reason.contains("cannot read event"))

                // The orchestrator's lanes are not stuck.
                let ready = try await HTTP.get("http://127.0.0.1:\(stack.ports["orchestrator"]!)/readyz")
                #expect(ready.status == 200, "\(ready.body)")
                #expect(ready.body.contains(#""events":"ok""#))
                await producer.shutdown()
            }
        }
    }
}
