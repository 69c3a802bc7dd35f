import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// Prometheus metrics for every service: swift-metrics records, this registry exposes them at `/metrics`.
public enum GreenlightMetrics {
    /// The registry `/metrics` serves.
    public static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics to the registry; call once, at start, from `main`.
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The text exposition of every metric.
    public static func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    static func register(on router: Router<GreenlightRequestContext>) {
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition())))
        }
    }
}
