import Foundation

/// The Prometheus text a service's `/metrics` answers, read into series: `name{label="value",…} number`.
public struct PrometheusText: Sendable, CustomStringConvertible {
    public struct Series: Sendable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public let series: [Series]
    public let description: String

    public init(_ text: String) {
        description = text
        series = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { return nil }
            let head = line[..<space]
            guard let brace = head.firstIndex(of: "{") else { return Series(name: String(head), labels: [:], value: value) }
            var labels: [String: String] = [:]
            // Label values here never contain `",` (routes, statuses, group names), so a plain split is enough.
            for pair in head[head.index(after: brace)...].dropLast().components(separatedBy: "\",") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].drop { $0 == "\"" }.prefix { $0 != "\"" })
            }
            return Series(name: String(head[..<brace]), labels: labels, value: value)
        }
    }

    /// The value of the series `name` whose labels include `labels`; the sum when several match, nil when none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = series.filter { series in
            series.name == name && labels.allSatisfy { series.labels[$0.key] == $0.value }
        }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}

extension ServiceStack {
    /// What `service` answers on `/metrics` now.
    public func metrics(_ service: String) async throws -> PrometheusText {
        PrometheusText(try await HTTP.get("http://127.0.0.1:\(ports[service]!)/metrics").body)
    }
}
