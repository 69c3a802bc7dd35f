import Foundation
import GreenlightModels
import Kafka
import Logging

/// The dead-letter topic as operators use it: list its letters and replay one (publish its original bytes to its
/// original topic again, with the same eventId, so an event that was in fact handled is not handled twice). What
/// `greenlight dlq` and the operator console both do.
public struct DeadLetterArchive: Sendable {
    let configuration: KafkaConfiguration
    let logger: Logger

    public init(configuration: KafkaConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Why a dead letter cannot be listed or replayed; the message says what to do.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Code: Sendable, Equatable {
            /// The broker cannot be read or written: retry once it is reachable.
            case unavailable
            /// No such letter, or its original is no longer on its topic.
            case notFound
            /// The letter carries nothing that can be replayed.
            case unreadable
        }

        public var code: Code
        public var message: String
        public var description: String { message }

        public init(code: Code, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// Every letter now in the topic, oldest first.
    public func letters() async throws(Failure) -> [DeadLetter] {
        let messages: [KafkaMessage]
        do {
            messages = try await KafkaTopicReader.readAll(
                topic: Topic.deadLetters.rawValue, configuration: configuration, logger: logger)
        } catch {
            throw Failure(
                code: .unavailable,
                message: "cannot read \(Topic.deadLetters.rawValue) from \(configuration.bootstrapServers) (\(error)); "
                    + "check GREENLIGHT_KAFKA_BROKERS")
        }
        return messages.compactMap { try? GreenlightJSON.decode(DeadLetter.self, from: Data($0.value)) }
            .sorted { $0.deadLetteredAt < $1.deadLetteredAt }
    }

    /// Publishes the letter's original message to its topic again, marked `greenlight-replayed-from: <letter id>`;
    /// returns the letter.
    @discardableResult
    public func replay(_ eventId: UUID, with producer: KafkaProducer) async throws(Failure) -> DeadLetter {
        guard let letter = try await letters().first(where: { $0.eventId == eventId }) else {
            throw Failure(code: .notFound, message: "no dead letter with id \(eventId) in \(Topic.deadLetters.rawValue)")
        }
        let original = try await originalMessage(of: letter)
        do {
            try await producer.send(
                topic: letter.topic, key: original.key, value: original.value,
                headers: [KafkaHeader(name: "greenlight-replayed-from", string: eventId.uuidString)])
        } catch {
            throw Failure(code: .unavailable, message: "could not publish to \(letter.topic): \(error)")
        }
        logger.notice(
            "Dead letter replayed", metadata: ["eventId": "\(eventId)", "topic": "\(letter.topic)", "key": "\(letter.key ?? "")"])
        return letter
    }

    /// The original bytes: the letter's own payload, or, when it kept only part of it, the message still on its
    /// topic at its partition and offset (checked against the letter's size and digest).
    public func originalMessage(of letter: DeadLetter) async throws(Failure) -> (key: String?, value: [UInt8]) {
        if letter.payloadTruncated != true {
            guard let payload = Data(base64Encoded: letter.payloadBase64) else {
                throw Failure(code: .unreadable, message: "dead letter \(letter.eventId) carries no readable payload")
            }
            return (letter.key, Array(payload))
        }
        let found: KafkaMessage?
        do {
            found = try await KafkaTopicReader.message(
                topic: letter.topic, partition: letter.partition, offset: letter.offset, configuration: configuration,
                logger: logger)
        } catch {
            throw Failure(
                code: .unavailable, message: "cannot read the original from \(letter.topic)[\(letter.partition)]: \(error)")
        }
        guard let found, letter.isOriginal(found.value) else {
            throw Failure(
                code: .notFound,
                message: "dead letter \(letter.eventId) kept only the first bytes of its \(letter.payloadSize ?? 0)-byte "
                    + "payload, and \(letter.topic)[\(letter.partition)] no longer holds the original at offset "
                    + "\(letter.offset) (its retention has passed); it cannot be replayed")
        }
        return (found.keyString, found.value)
    }
}
