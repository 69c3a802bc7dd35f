import GreenlightModels
import Kafka
import Logging
import Postgres
import Templates

/// The settings every service reads, under the same names everywhere.
public struct CommonConfiguration: Sendable {
    public var serviceName: String
    public var kafka: KafkaConfiguration
    public var httpHost: String
    public var httpPort: Int
    public var logLevel: Logger.Level
    public var logFormat: GreenlightLogging.Format
    /// Where trace spans go (the `OTEL_*` settings).
    public var tracing: TracingConfiguration
    /// Partitions and replicas for topics the service creates when they are missing.
    public var topicPartitions: Int
    public var topicReplicationFactor: Int

    /// Reads `GREENLIGHT_KAFKA_BROKERS`, `GREENLIGHT_HTTP_HOST`, `GREENLIGHT_HTTP_PORT`, `GREENLIGHT_LOG_LEVEL`,
    /// `GREENLIGHT_LOG_FORMAT`, `GREENLIGHT_KAFKA_PARTITIONS`, `GREENLIGHT_KAFKA_REPLICATION_FACTOR`, `GREENLIGHT_KAFKA_FETCH_WAIT_MS`,
    /// `GREENLIGHT_KAFKA_SESSION_TIMEOUT_MS`, the Kafka security settings (`KafkaClientSettings`) and the tracing ones
    /// (`TracingConfiguration`).
    public static func read(_ reader: inout EnvironmentReader, service: String, defaultPort: Int) -> CommonConfiguration {
        let brokers = reader.string("GREENLIGHT_KAFKA_BROKERS", default: "127.0.0.1:9092")
        if brokers.split(separator: ",").contains(where: { !$0.contains(":") }) {
            reader.report("GREENLIGHT_KAFKA_BROKERS must be a comma-separated list of host:port, not \"\(brokers)\"")
        }
        let host = reader.string("GREENLIGHT_HTTP_HOST", default: "127.0.0.1")
        let port = reader.int("GREENLIGHT_HTTP_PORT", default: defaultPort, range: 0...65535)
        let levelText = reader.string("GREENLIGHT_LOG_LEVEL", default: "info")
        let level = Logger.Level(rawValue: levelText.lowercased())
        if level == nil {
            reader.report(
                "GREENLIGHT_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical, not \"\(levelText)\"")
        }
        let formatText = reader.string("GREENLIGHT_LOG_FORMAT", default: "json")
        let format = GreenlightLogging.Format(rawValue: formatText.lowercased())
        if format == nil { reader.report("GREENLIGHT_LOG_FORMAT must be json or text, not \"\(formatText)\"") }
        if reader.optional("GREENLIGHT_TRACING") != nil {
            reader.report(
                "GREENLIGHT_TRACING is gone: spans no longer go to the log; set OTEL_EXPORTER_OTLP_ENDPOINT to export "
                    + "them to an OpenTelemetry collector (see README, Operations), and unset GREENLIGHT_TRACING")
        }
        let partitions = reader.int("GREENLIGHT_KAFKA_PARTITIONS", default: 6, range: 1...1000)
        let replicas = reader.int("GREENLIGHT_KAFKA_REPLICATION_FACTOR", default: 1, range: 1...10)
        // How long a consumer's fetch may wait for data (librdkafka's fetch.wait.max.ms). Real brokers answer as
        // soon as data arrives; the embedded one holds every empty fetch this long, so it bounds each hop's delay.
        let fetchWait = reader.int("GREENLIGHT_KAFKA_FETCH_WAIT_MS", default: 50, range: 1...10_000)
        // How soon a consumer that died without leaving (kill -9, a lost host) is noticed and its partitions given to
        // the others. 6 s is the least a Kafka broker accepts by default (group.min.session.timeout.ms).
        let session = reader.int("GREENLIGHT_KAFKA_SESSION_TIMEOUT_MS", default: 6000, range: 1000...300_000)
        let security = KafkaClientSettings.read(&reader)
        let tracing = TracingConfiguration.read(&reader, service: service)
        return CommonConfiguration(
            serviceName: service,
            kafka: KafkaConfiguration(
                bootstrapServers: brokers, clientId: service, properties: security,
                consumerProperties: [
                    "fetch.wait.max.ms": String(fetchWait), "session.timeout.ms": String(session),
                    "heartbeat.interval.ms": String(max(250, session / 6)),
                ]),
            httpHost: host, httpPort: port, logLevel: level ?? .info, logFormat: format ?? .json, tracing: tracing,
            topicPartitions: partitions,
            topicReplicationFactor: replicas)
    }
}

/// Reads `GREENLIGHT_LINK_SECRET` (required, masked in the banner): the orchestrator and the notifiers derive link
/// tokens with it, so all of them must have the same value.
public func readLinkSecret(_ reader: inout EnvironmentReader) -> LinkSecret? {
    let text = reader.string("GREENLIGHT_LINK_SECRET", default: "", secret: true)
    guard let secret = LinkSecret(text) else {
        reader.report(
            "GREENLIGHT_LINK_SECRET must be set to a random string of at least \(LinkSecret.minimumLength) characters "
                + "(e.g. the output of `openssl rand -hex 32`), the same for the orchestrator and every notifier")
        return nil
    }
    return secret
}

/// Reads the notifier's link keyring: `GREENLIGHT_LINK_SECRET` (the current secret, the orchestrator's) and
/// `GREENLIGHT_LINK_SECRETS_PREVIOUS`, secrets separated by commas or line breaks, that links already sent were made with (kept until the
/// last request made under them has ended; see README's rotation procedure).
public func readLinkKeyring(_ reader: inout EnvironmentReader) -> LinkKeyring? {
    let current = readLinkSecret(&reader)
    let text = reader.string("GREENLIGHT_LINK_SECRETS_PREVIOUS", default: "", secret: true)
    // Commas or line breaks between them (a file with one secret per line, say).
    let previous = text.split(whereSeparator: { $0 == "," || $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
    let secrets = previous.compactMap(LinkSecret.init)
    if secrets.count != previous.count {
        reader.report(
            "GREENLIGHT_LINK_SECRETS_PREVIOUS must be comma-separated secrets of at least \(LinkSecret.minimumLength) characters each")
    }
    return current.map { LinkKeyring(current: $0, previous: secrets) }
}

/// Reads `GREENLIGHT_INBOX_RETENTION_HOURS`: how long a service remembers the ids of the events it consumed (the
/// orchestrator's inbox, the notifier's delivered messages). Longer than the topics keep a message, so that one
/// delivered again (offsets reset, a replay) is still recognised; 8 days by default, over Kafka's 7.
public func readInboxRetention(_ reader: inout EnvironmentReader) -> Duration {
    .seconds(reader.int("GREENLIGHT_INBOX_RETENTION_HOURS", default: 192, range: 1...87_600) * 3600)
}

/// Reads `GREENLIGHT_DATABASE_URL`.
public func readDatabaseConfiguration(_ reader: inout EnvironmentReader) -> PostgresConfiguration? {
    reader.parse(
        "GREENLIGHT_DATABASE_URL", default: "postgresql://greenlight@127.0.0.1:5432/greenlight",
        masked: { $0.maskedURL }, { try PostgresConfiguration(url: $0) })
}

/// Reads `GREENLIGHT_FOUR_EYES` (true by default): a request's `requester` may neither be one of its approvers (intake
/// refuses it) nor decide it (the orchestrator refuses the decision, by link, API or Kafka, and records why).
public func readFourEyes(_ reader: inout EnvironmentReader) -> Bool {
    reader.bool("GREENLIGHT_FOUR_EYES", default: true)
}

/// Reads `GREENLIGHT_TEMPLATE_DIR`: a directory whose `NAME.mustache` files replace the built-in templates of the
/// same name (the callback receiver's pages, the notifier's emails); unset, the built-in ones alone. A directory that
/// does not exist, or a template in it that does not parse, is refused here, at start.
public func readTemplates(_ reader: inout EnvironmentReader) -> TemplateLibrary? {
    reader.parse("GREENLIGHT_TEMPLATE_DIR", default: "", masked: \.summary) {
        try TemplateLibrary(overrides: $0.isEmpty ? nil : $0)
    }
}
