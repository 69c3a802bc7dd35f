import CRdKafka

/// An error from the Kafka module: what failed, why, and (where librdkafka gave one) its error code.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// A configuration property was rejected; the reason names it.
        case configuration
        /// The client could not be created.
        case clientCreation
        /// The broker did not take a message (the reason says why).
        case deliveryFailed
        /// No broker acknowledged a message within `message.timeout.ms`.
        case messageTimedOut
        /// The broker did not acknowledge within the caller's deadline. The message may still reach it later:
        /// send it again only if its consumers deduplicate (by `eventId`).
        case unacknowledged
        /// The client hit an error it cannot recover from (an idempotent producer fenced or out of sequence, say):
        /// it sends nothing more, and the service must be restarted.
        case fatal
        /// Committing a consumer's offsets failed; the message will be delivered again.
        case commitFailed
        /// A consumer hit an error it cannot recover from.
        case consumerFailed
        /// An admin request (such as creating topics) failed.
        case adminFailed
        /// The client is shut down.
        case closed
        /// The embedded (mock) broker rejected a request.
        case mockCluster
    }

    public var code: Code
    public var reason: String
    /// librdkafka's `rd_kafka_resp_err_t` value, when there is one.
    public var rdkafkaCode: Int32?

    public init(_ code: Code, _ reason: String, rdkafkaCode: Int32? = nil) {
        self.code = code
        self.reason = reason
        self.rdkafkaCode = rdkafkaCode
    }

    init(_ code: Code, _ context: String, error: rd_kafka_resp_err_t) {
        self.init(code, "\(context): \(String(cString: rd_kafka_err2str(error)))", rdkafkaCode: error.rawValue)
    }

    /// Whether sending the same message again cannot succeed: the broker (or the producer, before sending) refused
    /// it for what it is — too large, malformed, or to a topic this client may not write — rather than because the
    /// broker was away.
    public var isPermanent: Bool {
        guard code == .deliveryFailed, let rdkafkaCode else { return false }
        return Self.permanentCodes.contains(rd_kafka_resp_err_t(rawValue: rdkafkaCode))
    }

    private static let permanentCodes: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
    ]

    public var description: String {
        switch code {
        case .messageTimedOut, .unacknowledged:
            return "Kafka \(code.rawValue): \(reason) (is GREENLIGHT_KAFKA_BROKERS right and the broker running?)"
        case .fatal:
            return "Kafka \(code.rawValue): \(reason) (the client cannot go on; restart the service)"
        default:
            return "Kafka \(code.rawValue): \(reason)"
        }
    }
}
