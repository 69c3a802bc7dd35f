import Kafka
import Logging
import Metrics

/// Publishes a consumer's lag as `greenlight_kafka_consumer_lag{group,topic,partition}` (messages written but not
/// yet committed by the group), refreshed every `interval`. A partition this member no longer holds drops out of
/// the exposition, so the member that holds it now is the only one reporting it.
public struct ConsumerLagGauge: Sendable {
    public static let label = "greenlight_kafka_consumer_lag"

    let consumer: KafkaConsumer
    let interval: Duration
    let logger: Logger

    public init(consumer: KafkaConsumer, interval: Duration = .seconds(5), logger: Logger) {
        self.consumer = consumer
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var reported: [String: Gauge] = [:]
        while !Task.isCancelled {
            do {
                var current: [String: Gauge] = [:]
                for lag in try await consumer.lag() {
                    let key = "\(lag.topic)/\(lag.partition)"
                    let gauge = reported[key] ?? Gauge(
                        label: Self.label,
                        dimensions: [("group", consumer.groupId), ("topic", lag.topic), ("partition", "\(lag.partition)")])
                    gauge.record(lag.lag)
                    current[key] = gauge
                }
                for (key, gauge) in reported where current[key] == nil { gauge.destroy() }
                reported = current
            } catch {
                logger.debug("Could not measure the consumer lag", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: interval)
        }
    }
}
