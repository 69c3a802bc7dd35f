import CRdKafka
import Dispatch
import Logging

/// Where the brokers are and any librdkafka properties to set (see librdkafka's CONFIGURATION.md).
public struct KafkaConfiguration: Sendable {
    /// Comma-separated `host:port` list.
    public var bootstrapServers: String
    public var clientId: String
    /// Extra librdkafka properties; they override Greenlight's defaults.
    public var properties: [String: String]
    /// Extra properties for consumers only (producers would warn about them), applied after `properties`.
    public var consumerProperties: [String: String]

    public init(
        bootstrapServers: String, clientId: String = "greenlight", properties: [String: String] = [:],
        consumerProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.properties = properties
        self.consumerProperties = consumerProperties
    }

    /// The properties librdkafka gets: base ones, then the role's defaults, then the caller's overrides.
    func merged(with defaults: [String: String]) -> [String: String] {
        var all = [
            "bootstrap.servers": bootstrapServers,
            "client.id": clientId,
            "log.connection.close": "false",
            "socket.keepalive.enable": "true",
            // TCP_NODELAY, as Kafka's own clients and brokers set it (librdkafka's default leaves Nagle's algorithm
            // on). A producer sends one request per partition: with Nagle on, a request written while the one before
            // it is unacknowledged waits for that acknowledgement (3-4 ms more at the median of click -> outcome in
            // the benchmark; see bench/README.md).
            "socket.nagle.disable": "true",
            // After an outage, reconnect within two seconds of the broker's return (librdkafka's default backs off
            // up to ten), and give up on a request a vanished broker never answers after ten (the default, sixty,
            // is how long a client may then sit idle after the broker is back).
            "reconnect.backoff.max.ms": "2000",
            "socket.timeout.ms": "10000",
        ]
        all.merge(defaults) { _, new in new }
        all.merge(properties) { _, new in new }
        return all
    }
}

extension KafkaConfiguration {
    /// Whether librdkafka accepts `value` for the property `name`: nil when it does, its reason when it does not (an
    /// unknown property, a value out of range, a feature this build of librdkafka lacks). Checked at start, so that a
    /// bad setting stops the service with the setting's name rather than failing the first client.
    public static func problem(withProperty name: String, value: String) -> String? {
        do {
            rd_kafka_conf_destroy(try RDKafkaConf.make([name: value]))
            return nil
        } catch let error as KafkaError {
            return error.reason
        } catch {
            return "\(error)"
        }
    }
}

/// Builds an `rd_kafka_conf_t`. Ownership passes to `rd_kafka_new` on success; `RDKafkaClient` handles both cases.
enum RDKafkaConf {
    static func make(_ properties: [String: String]) throws -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = errorText.withUnsafeMutableBufferPointer {
                rd_kafka_conf_set(conf, name, value, $0.baseAddress, $0.count)
            }
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError(.configuration, "property \(name): \(reason)")
            }
        }
        return conf
    }
}

/// What librdkafka's callbacks reach through the `opaque` pointer: the logger, for producers the table of
/// callers waiting for delivery reports, and the client's fatal error once it has had one.
final class RDKafkaContext: Sendable {
    let logger: Logger
    let deliveries = DeliveryTable()
    let fatal = FatalErrorLatch()

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaContext? {
        opaque.map { Unmanaged<RDKafkaContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// librdkafka's errors: a fatal one (the client can send nothing more) is latched with its reason; the others are
/// transient (a broker down, a connection refused), retried by librdkafka itself, and logged.
let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, code, reason, opaque in
    guard let context = RDKafkaContext.from(opaque) else { return }
    let text = reason.map { String(cString: $0) } ?? ""
    guard code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle else {
        context.logger.warning("Kafka client error", metadata: ["error": "\(text)"])
        return
    }
    var buffer = [CChar](repeating: 0, count: 512)
    let original = buffer.withUnsafeMutableBufferPointer { rd_kafka_fatal_error(handle, $0.baseAddress, $0.count) }
    let detail = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let error = KafkaError(.fatal, detail.isEmpty ? text : detail, error: original)
    context.logger.critical("Kafka client hit a fatal error", metadata: ["error": "\(error)"])
    context.fatal.set(error)
}

/// librdkafka's log lines go to swift-log, at the matching level.
let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, text in
    guard let handle, let context = RDKafkaContext.from(rd_kafka_opaque(handle)) else { return }
    let message = text.map { String(cString: $0) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    let swiftLevel: Logger.Level
    switch level {
    case 0...3: swiftLevel = .error
    case 4: swiftLevel = .warning
    case 5, 6: swiftLevel = .info
    default: swiftLevel = .debug
    }
    context.logger.log(level: swiftLevel, "\(message)", metadata: ["rdkafka.facility": "\(facilityName)"])
}

/// Carries a handle to the destroy queue. `@unchecked Sendable`: nothing else uses it by then.
private struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Owns one `rd_kafka_t` and the context its callbacks use.
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as thread-safe, and the handle never changes.
final class RDKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let context: RDKafkaContext

    /// Takes ownership of `conf` in every case.
    init(type: rd_kafka_type_t, conf: OpaquePointer, logger: Logger, configure: (OpaquePointer) -> Void = { _ in })
        throws
    {
        let context = RDKafkaContext(logger: logger)
        // Retained until deinit, after rd_kafka_destroy has stopped every callback.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passRetained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        let handle = errorText.withUnsafeMutableBufferPointer { rd_kafka_new(type, conf, $0.baseAddress, $0.count) }
        guard let handle else {
            rd_kafka_conf_destroy(conf)
            Unmanaged.passUnretained(context).release()
            let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(.clientCreation, reason)
        }
        self.handle = handle
        self.context = context
    }

    /// The value this client uses for a configuration property (ours, an override, or librdkafka's default), or nil
    /// for a property librdkafka does not know.
    func property(_ name: String) -> String? {
        let conf = rd_kafka_conf(handle)
        var size = 0
        guard rd_kafka_conf_get(conf, name, nil, &size) == RD_KAFKA_CONF_OK else { return nil }
        var value = [CChar](repeating: 0, count: size + 1)
        guard rd_kafka_conf_get(conf, name, &value, &size) == RD_KAFKA_CONF_OK else { return nil }
        return String(decoding: value.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// rd_kafka_destroy blocks until librdkafka's threads have stopped, so it runs on a queue of its own rather
    /// than on whatever (possibly cooperative) thread drops the last reference.
    private static let destroyQueue = DispatchQueue(label: "greenlight.kafka.destroy")

    deinit {
        let handle = UncheckedHandle(pointer: handle)
        let context = Unmanaged.passUnretained(self.context)
        Self.destroyQueue.async {
            rd_kafka_destroy(handle.pointer)
            context.release()
        }
    }
}
