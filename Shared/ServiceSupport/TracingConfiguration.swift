import Foundation

/// Where trace spans go: OpenTelemetry's standard `OTEL_*` variables, which swift-otel applies. They are checked here
/// first because swift-otel logs a bad value and carries on with its default, and stops the process outright on a
/// propagator or sampler it lacks or on the gRPC protocol this build leaves out; Greenlight refuses to start instead,
/// naming the variable.
public struct TracingConfiguration: Sendable {
    /// The name spans are exported under (`OTEL_SERVICE_NAME`; the executable's name by default).
    public var serviceName: String
    /// Whether finished spans are exported over OTLP/HTTP. Without it spans still get ids, so `traceparent` still
    /// travels and log lines still carry trace ids, and nothing is recorded (`UnrecordedTracer`).
    public var exporting: Bool
    /// The exporter's extra headers (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`), parsed
    /// here: they often hold a credential, and swift-otel logs the values of the variables it reads.
    var headers: [(String, String)]
    /// The other settings, for swift-otel to read.
    var environment: [String: String]

    /// Settings swift-otel reads as they are, each with a check of its value.
    private static let passedOn: [(name: String, check: Check)] =
        [
            ("OTEL_RESOURCE_ATTRIBUTES", .keyValues),
            ("OTEL_TRACES_SAMPLER", .oneOf(Self.samplers)),
            ("OTEL_TRACES_SAMPLER_ARG", .ratio),
            ("OTEL_BSP_SCHEDULE_DELAY", .count(from: 0)),
            ("OTEL_BSP_EXPORT_TIMEOUT", .count(from: 0)),
            ("OTEL_BSP_MAX_QUEUE_SIZE", .count(from: 1)),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", .count(from: 1)),
        ] + exporterSetting("ENDPOINT", .url) + exporterSetting("PROTOCOL", .oneOf(["http/protobuf", "http/json"]))
        + exporterSetting("COMPRESSION", .oneOf(["gzip", "none"])) + exporterSetting("TIMEOUT", .count(from: 0))
        + exporterSetting("CERTIFICATE", .file) + exporterSetting("CLIENT_KEY", .file)
        + exporterSetting("CLIENT_CERTIFICATE", .file)

    static let samplers = [
        "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
        "parentbased_traceidratio",
    ]

    /// The shared variable and the one for traces alone, which wins when both are set.
    private static func exporterSetting(_ suffix: String, _ check: Check) -> [(name: String, check: Check)] {
        [("OTEL_EXPORTER_OTLP_\(suffix)", check), ("OTEL_EXPORTER_OTLP_TRACES_\(suffix)", check)]
    }

    private enum Check {
        case oneOf([String])
        case url
        case count(from: Int)
        case ratio
        case keyValues
        case file

        /// What is wrong with `value`, or nil.
        func problem(_ value: String) -> String? {
            switch self {
            case .oneOf(let values):
                if value == "grpc" {
                    return "must be http/protobuf or http/json: this build exports over OTLP/HTTP only "
                        + "(port 4318 of a collector), not gRPC"
                }
                return values.contains(value)
                    ? nil : "must be one of \(values.joined(separator: ", ")), not \"\(value)\""
            case .url:
                guard let url = URL(string: value), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    return "must be an http:// or https:// URL such as http://otel-collector:4318, not \"\(value)\""
                }
                return nil
            case .count(let minimum):
                return Int(value).map { $0 >= minimum } == true
                    ? nil : "must be a whole number from \(minimum), not \"\(value)\""
            case .ratio:
                return Double(value).map { (0...1).contains($0) } == true
                    ? nil : "must be a number from 0 to 1, not \"\(value)\""
            case .keyValues:
                return TracingConfiguration.keyValues(value) == nil ? "must be comma-separated key=value pairs" : nil
            case .file:
                return FileManager.default.isReadableFile(atPath: value)
                    ? nil : "names \"\(value)\", which cannot be read"
            }
        }
    }

    /// Reads the `OTEL_*` settings. Spans are exported when `OTEL_TRACES_EXPORTER` is `otlp`, or when it is unset and
    /// an endpoint is set; `OTEL_SDK_DISABLED=true` exports nothing whatever the rest says.
    static func read(_ reader: inout EnvironmentReader, service: String) -> TracingConfiguration {
        var environment: [String: String] = [:]
        for (name, check) in passedOn {
            guard let value = reader.optional(name) else { continue }
            if let problem = check.problem(value) { reader.report("\(name) \(problem)") }
            environment[name] = value
        }
        let disabled =
            reader.optional("OTEL_SDK_DISABLED").map { value in
                guard let disabled = Bool(value.lowercased()) else {
                    reader.report("OTEL_SDK_DISABLED must be true or false, not \"\(value)\"")
                    return false
                }
                return disabled
            } ?? false
        let exporter = reader.optional("OTEL_TRACES_EXPORTER")
        if let exporter, !["otlp", "none"].contains(exporter) {
            reader.report(
                "OTEL_TRACES_EXPORTER must be otlp or none (swift-otel has no other trace exporter), "
                    + "not \"\(exporter)\"")
        }
        if let propagators = reader.optional("OTEL_PROPAGATORS"), propagators != "tracecontext" {
            reader.report(
                "OTEL_PROPAGATORS must be tracecontext (W3C Trace Context, the only propagator swift-otel has) "
                    + "or unset, not \"\(propagators)\"")
        }
        if let level = reader.optional("OTEL_LOG_LEVEL"),
            !["error", "warning", "info", "debug", "trace"].contains(level)
        {
            reader.report("OTEL_LOG_LEVEL must be one of error, warning, info, debug, trace, not \"\(level)\"")
        }
        for prefix in ["OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"] {
            if (environment[prefix + "CLIENT_KEY"] == nil) != (environment[prefix + "CLIENT_CERTIFICATE"] == nil) {
                reader.report("\(prefix)CLIENT_KEY and \(prefix)CLIENT_CERTIFICATE must be set together (mutual TLS)")
            }
        }
        let shared = reader.optional("OTEL_EXPORTER_OTLP_HEADERS", secret: true)
        let own = reader.optional("OTEL_EXPORTER_OTLP_TRACES_HEADERS", secret: true)
        var headers: [(String, String)] = []
        for (name, value) in [("OTEL_EXPORTER_OTLP_HEADERS", shared), ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", own)] {
            guard let value else { continue }
            // The value is not quoted: it may be a credential.
            guard let pairs = keyValues(value) else {
                reader.report("\(name) must be comma-separated name=value pairs, such as Authorization=Bearer%20…")
                continue
            }
            headers = pairs
        }
        let endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        return TracingConfiguration(
            serviceName: reader.optional("OTEL_SERVICE_NAME") ?? service,
            exporting: !disabled && (exporter.map { $0 == "otlp" } ?? (endpoint != nil)),
            headers: headers, environment: environment)
    }

    /// `key=value,key=value` (W3C Baggage's form, which OpenTelemetry uses for headers and resource attributes), with
    /// values percent-decoded; nil when malformed.
    static func keyValues(_ text: String) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, let decoded = value.removingPercentEncoding else { return nil }
            pairs.append((key, decoded))
        }
        return pairs
    }
}
