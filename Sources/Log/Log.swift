import Glibc
import JSON

/// Line-oriented logging to stderr. Each line goes out in one `write(2)`, so lines from several
/// threads never interleave; Swift 6 rejects the C `stderr` global, and one syscall is all we need.
public enum Log {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var label: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    /// Set once at start-up, before any thread is spawned.
    public nonisolated(unsafe) static var minimumLevel: Level = .info
    public nonisolated(unsafe) static var instance = ""

    /// `message` plus `key=value` metadata, one line whatever the values hold.
    public static func write(_ level: Level, _ message: String, _ metadata: [(String, String)] = []) {
        guard level >= minimumLevel else { return }
        var line = "\(timestamp()) \(level.label) instance=\(escaped(instance)) \(message)"
        for (key, value) in metadata { line += " \(key)=\(escaped(value))" }
        line += "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    public static func debug(_ message: String, _ metadata: [(String, String)] = []) { write(.debug, message, metadata) }
    public static func info(_ message: String, _ metadata: [(String, String)] = []) { write(.info, message, metadata) }
    public static func warning(_ message: String, _ metadata: [(String, String)] = []) { write(.warning, message, metadata) }
    public static func error(_ message: String, _ metadata: [(String, String)] = []) { write(.error, message, metadata) }

    /// A value as it appears after `key=`: bare when it is plain, else a JSON string (quotes,
    /// backslashes and control characters escaped), so that no value can end the line or forge
    /// a field.
    static func escaped(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.value > 0x20 && scalar.value != 0x7f && scalar != "\"" && scalar != "\\" && scalar != "="
            }
        return plain ? value : JSON.string(value).serialized
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
