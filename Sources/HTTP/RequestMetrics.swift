import CoreMetrics
import Glibc

/// What the application records of every request, through swift-metrics: a count by surface,
/// route pattern, method and status, and the time it took by surface and route. Labels come from
/// the route table and a fixed method list, never from the raw path, so a client cannot make
/// new series.
public enum RequestMetrics {
    public static let requests = "flowgate_http_requests_total"
    public static let duration = "flowgate_http_request_duration_seconds"
    /// The route label of a request no route matched (404, 405, or refused before routing).
    public static let unmatched = "unmatched"

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    static func record(surface: String, route: String, method: String, status: Int, since started: UInt64) {
        let elapsed = Int64(clamping: now() &- started)
        Counter(
            label: requests,
            dimensions: [
                ("surface", surface), ("route", route), ("method", methods.contains(method) ? method : "other"),
                ("status", String(status)),
            ]
        ).increment()
        Timer(label: duration, dimensions: [("surface", surface), ("route", route)]).recordNanoseconds(elapsed)
    }

    /// A monotonic clock in nanoseconds.
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
