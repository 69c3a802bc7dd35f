import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// Two notifiers in one consumer group share the work: every email is delivered once, by one of them.
@Suite(.timeLimit(.minutes(3)))
struct ScaleOutTests {
    @Test func twoNotifiersDeliverEveryMessageOnce() async throws {
        try await ServiceStack.with { stack in
            let second = try await stack.startAnother("notifier", as: "notifier-2")
            let joined = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                second.logTail(200).contains("Kafka partitions assigned")
            }
            #expect(joined)
            try await Task.sleep(for: .seconds(2))

            let ids = (0..<24).map { "SCALE-\($0)-\(UUID().uuidString.prefix(6))" }
            for id in ids {
                #expect(try await stack.submit(#"{"requestId": "\#(id)", "amount": 1, "description": "Scale out"}"#).status == 202)
            }
            let all = try await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
                ids.allSatisfy { !stack.mails(forRequest: $0).isEmpty }
            }
            #expect(all)
            try await Task.sleep(for: .seconds(1))
            for id in ids { #expect(stack.mails(forRequest: id).count == 1, "\(id)") }

            let firstSent = stack.processes["notifier"]!.logTail(2000).components(separatedBy: "Approver notified").count - 1
            let secondSent = second.logTail(2000).components(separatedBy: "Approver notified").count - 1
            print("scale-out: notifier-1 sent \(firstSent), notifier-2 sent \(secondSent)")
            #expect(firstSent + secondSent == ids.count)
            #expect(firstSent > 0 && secondSent > 0)
        }
    }
}
