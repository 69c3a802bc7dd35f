import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// Kafka delivers at least once: the outbox relay publishes a notification again after a crash between the
/// broker's acknowledgement and marking it sent, and a notifier killed before committing its offset receives it
/// again. Either way the approver gets the email once.
@Suite(.timeLimit(.minutes(2)))
struct RedeliveryTests {
    @Test func aNotificationDeliveredTwiceIsEmailedOnce() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REDELIVER")
            #expect(try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 1, "description": "Delivered twice", "approvers": ["a@example.com"]}"#
            ).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            let kafka = KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers)
            let original = try #require(
                try await KafkaTopicReader.readAll(
                    topic: Topic.notifications.rawValue, configuration: kafka, logger: TestEnvironment.logger("redeliver")
                ).first { $0.keyString == requestId })

            // The same message again, as a relay that crashed before marking it sent would publish it; then a
            // new notification on the same partition, whose email shows that the one before it was handled.
            let producer = try KafkaProducer(configuration: kafka, logger: TestEnvironment.logger("redeliver"))
            try await producer.send(topic: Topic.notifications.rawValue, key: requestId, value: original.value)
            var witness = try GreenlightJSON.decode(NotificationRequested.self, from: Data(original.value))
            witness.eventId = UUID()
            witness.approver = "witness@example.com"
            try await producer.send(topic: Topic.notifications.rawValue, key: requestId, value: Array(try GreenlightJSON.encode(witness)))
            await producer.shutdown()

            let witnessed = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                stack.mails(forRequest: requestId).contains { $0.header("To") == "witness@example.com" }
            }
            #expect(witnessed)
            #expect(stack.mails(forRequest: requestId).filter { $0.header("To") == "a@example.com" }.count == 1)
        }
    }
}
