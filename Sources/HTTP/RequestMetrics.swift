import CoreMetrics
import Glibc
import Synchronization

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
        let series = Series(surface: surface, route: route, method: methods.contains(method) ? method : "other", status: status)
        let handles = Self.handles.withLock { made in
            if let known = made[series] { return known }
            let new = Handles(
                count: Counter(
                    label: requests,
                    dimensions: [("surface", surface), ("route", route), ("method", series.method), ("status", String(status))]),
                duration: Timer(label: duration, dimensions: [("surface", surface), ("route", route)]))
            made[series] = new
            return new
        }
        handles.count.increment()
        handles.duration.recordNanoseconds(elapsed)
    }

    /// One series of the request counter (its labels).
    private struct Series: Hashable {
        let surface: String
        let route: String
        let method: String
        let status: Int
    }

    private struct Handles: Sendable {
        let count: Counter
        let duration: Timer
    }

    /// Each series' handles, made once: making them goes through the metrics factory (its
    /// registry's lock, label checks and lookups), which on every request cost more than the
    /// count itself. The labels are bounded (see above), and so is this.
    private static let handles = Mutex<[Series: Handles]>([:])

    /// Forgets the handles made so far, for when the metrics system was just bootstrapped: those
    /// went to the factory before it.
    package static func forgetHandles() { handles.withLock { $0 = [:] } }

    /// A monotonic clock in nanoseconds.
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
