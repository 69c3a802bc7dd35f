import ArgumentParser
import Foundation
import GreenlightModels
import Kafka
import Logging

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
                guard let letter = try await readDeadLetters(connection).first(where: { $0.eventId == eventId }) else {
                    throw CLIError(.notFound, "no dead letter with id \(eventId) in \(Topic.deadLetters.rawValue)")
                }
                let original = try await originalMessage(of: letter)
                let kafka = try connection.kafka
                do {
                    let producer = try KafkaProducer(configuration: kafka, logger: cliLogger)
                    try await producer.send(
                        topic: letter.topic, key: original.key, value: original.value,
                        headers: [KafkaHeader(name: "greenlight-replayed-from", string: eventId.uuidString)])
                    await producer.shutdown()
                } catch {
                    throw CLIError(.unavailable, "could not publish to \(letter.topic): \(error)")
                }
                print("Replayed dead letter \(eventId) to \(letter.topic) (key \(letter.key ?? "none")).")
            }
        }

        /// The original bytes: the letter's own payload, or, when it kept only part of it, the message still on
        /// its topic at its partition and offset (checked against the letter's size and digest).
        func originalMessage(of letter: DeadLetter) async throws -> (key: String?, value: [UInt8]) {
            if letter.payloadTruncated != true {
                guard let payload = Data(base64Encoded: letter.payloadBase64) else {
                    throw CLIError(.failed, "dead letter \(letter.eventId) carries no readable payload")
                }
                return (letter.key, Array(payload))
            }
            let found: KafkaMessage?
            let kafka = try connection.kafka
            do {
                found = try await KafkaTopicReader.message(
                    topic: letter.topic, partition: letter.partition, offset: letter.offset, configuration: kafka,
                    logger: cliLogger)
            } catch {
                throw CLIError(.unavailable, "cannot read the original from \(letter.topic)[\(letter.partition)]: \(error)")
            }
            guard let found, letter.isOriginal(found.value) else {
                throw CLIError(
                    .notFound,
                    "dead letter \(letter.eventId) kept only the first bytes of its \(letter.payloadSize ?? 0)-byte payload, and "
                        + "\(letter.topic)[\(letter.partition)] no longer holds the original at offset \(letter.offset) (its retention "
                        + "has passed); it cannot be replayed")
            }
            return (found.keyString, found.value)
        }
    }
}

/// Every dead letter now in the topic, oldest first.
func readDeadLetters(_ connection: ConnectionOptions) async throws -> [DeadLetter] {
    let messages: [KafkaMessage]
    let kafka = try connection.kafka
    do {
        messages = try await KafkaTopicReader.readAll(topic: Topic.deadLetters.rawValue, configuration: kafka, logger: cliLogger)
    } catch {
        throw CLIError(
            .unavailable,
            "cannot read \(Topic.deadLetters.rawValue) from \(kafka.bootstrapServers) (\(error)); check --kafka-brokers or GREENLIGHT_KAFKA_BROKERS")
    }
    return messages.compactMap { try? GreenlightJSON.decoder().decode(DeadLetter.self, from: Data($0.value)) }
        .sorted { $0.deadLetteredAt < $1.deadLetteredAt }
}

/// librdkafka's own log lines, warnings and worse only, on standard error.
let cliLogger: Logger = {
    var logger = Logger(label: "greenlight-cli") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .error
    return logger
}()
