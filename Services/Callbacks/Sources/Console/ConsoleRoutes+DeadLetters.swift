import Foundation
import GreenlightModels
import Hummingbird
import ServiceSupport

extension ConsoleRoutes {
    /// Every letter in `approvals.dlq`, newest first, each with its replay button.
    func deadLetters(_ request: Request, _ consoleOperator: ConsoleOperator, _ context: GreenlightRequestContext) async throws
        -> Response
    {
        let backend = self.backend
        // Reading a topic to its end takes a few round trips to the broker: more than a database read's budget.
        let letters = try await withDeadline(.seconds(10), "Reading the dead letters") { try await backend.deadLetters() }
        var values = self.values(for: consoleOperator)
        values.notice = Self.notice(request.uri.queryParameters.get("done"))
        values.letters = letters.reversed().map { letter in
            ConsoleValues.Letter(
                id: letter.eventId.uuidString, when: ConsoleTimeline.when(letter.deadLetteredAt),
                source: "\(letter.topic)[\(letter.partition)]@\(letter.offset)", key: letter.key ?? "",
                reason: letter.reason,
                size: "\(letter.payloadSize ?? 0) bytes" + (letter.payloadTruncated == true ? ", truncated" : ""),
                replayAction: "/console/dead-letters/\(letter.eventId.uuidString)/replay")
        }
        return page(.consoleDeadLetters, values, status: .ok)
    }

    /// Publishes the letter's original message to its topic again (what `greenlight dlq replay` does).
    func replay(_ id: String, _ consoleOperator: ConsoleOperator, _ context: GreenlightRequestContext) async throws -> Response {
        guard let eventId = UUID(uuidString: id) else {
            return message(.notFound, "No such dead letter", "\(id) is not a dead letter's id.")
        }
        let backend = self.backend
        do {
            let letter = try await withDeadline(.seconds(15), "Replaying the dead letter") {
                try await backend.replayDeadLetter(eventId)
            }
            context.logger.notice(
                "Dead letter replayed from the console",
                metadata: ["eventId": "\(eventId)", "topic": "\(letter.topic)", "operator": "\(consoleOperator.name)"])
            return Self.seeOther("/console/dead-letters?done=replay")
        } catch let failure as DeadLetterArchive.Failure {
            switch failure.code {
            case .notFound: return message(.notFound, "Not replayed", failure.message)
            case .unreadable: return message(.unprocessableContent, "Not replayed", failure.message)
            case .unavailable: return message(.serviceUnavailable, "Not replayed", failure.message)
            }
        }
    }
}
