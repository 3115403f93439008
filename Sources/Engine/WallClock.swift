import Glibc

/// The wall clock in seconds since the epoch (for times written into documents, and for
/// checking that a requested time lies in the future).
public enum WallClock {
    public static var now: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
