import ArgumentParser
import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List and replay the events in approvals.dlq.",
        subcommands: [List.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every dead letter, oldest first.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingErrors {
                let letters = try await readDeadLetters(connection)
                if output.json {
                    return print(String(decoding: try GreenlightJSON.encode(letters), as: UTF8.self))
                }
                guard !letters.isEmpty else { return print("No dead letters.") }
                var table = Table("ID", "WHEN", "FROM", "KEY", "REASON")
                for letter in letters {
                    let size = letter.payloadTruncated == true ? " (\(letter.payloadSize ?? 0) bytes, truncated)" : ""
                    table.add(
                        letter.eventId.uuidString, timestamp(letter.deadLetteredAt),
                        "\(letter.topic)[\(letter.partition)]@\(letter.offset)", letter.key ?? "-",
                        (letter.reason.count > 100 ? String(letter.reason.prefix(99)) + "…" : letter.reason) + size)
                }
                print(table.rendered)
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a dead letter's original bytes to its original topic again.",
            discussion: """
                Use it once the cause is fixed (a bad setting, a service that was down). The event keeps its \
                original eventId, so an event that was in fact handled is not handled twice.
                """)

        @Argument(help: "The dead letter's id (the ID column of `greenlight dlq list`).") var id: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await reportingErrors {
                guard let eventId = UUID(uuidString: id) else {
                    throw CLIError(.notFound, "\(id) is not a dead letter id (a UUID from `greenlight dlq list`)")
                }
                let kafka = try connection.kafka
                let producer: KafkaProducer
                do {
                    producer = try KafkaProducer(configuration: kafka, logger: cliLogger)
                } catch {
                    throw CLIError(.unavailable, "cannot reach Kafka at \(kafka.bootstrapServers): \(error)")
                }
                let letter: DeadLetter
                do {
                    letter = try await DeadLetterArchive(configuration: kafka, logger: cliLogger).replay(eventId, with: producer)
                } catch let failure as DeadLetterArchive.Failure {
                    await producer.shutdown()
                    throw CLIError(failure)
                } catch {
                    await producer.shutdown()
                    throw CLIError(.unavailable, "could not replay dead letter \(eventId): \(error)")
                }
                await producer.shutdown()
                print("Replayed dead letter \(eventId) to \(letter.topic) (key \(letter.key ?? "none")).")
            }
        }
    }
}

/// Every dead letter now in the topic, oldest first.
func readDeadLetters(_ connection: ConnectionOptions) async throws -> [DeadLetter] {
    do {
        return try await DeadLetterArchive(configuration: try connection.kafka, logger: cliLogger).letters()
    } catch let failure as DeadLetterArchive.Failure {
        throw CLIError(failure)
    }
}

extension CLIError {
    init(_ failure: DeadLetterArchive.Failure) {
        switch failure.code {
        case .unavailable: self.init(.unavailable, failure.message)
        case .notFound: self.init(.notFound, failure.message)
        case .unreadable: self.init(.failed, failure.message)
        }
    }
}

/// librdkafka's own log lines, warnings and worse only, on standard error.
let cliLogger: Logger = {
    var logger = Logger(label: "greenlight-cli") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .error
    return logger
}()
