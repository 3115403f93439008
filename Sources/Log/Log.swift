import Glibc
import JSON
import Logging

/// Flowgate's swift-log backend: one line per event on stderr,
/// `timestamp level instance=… message key=value…`, metadata keys sorted. Each line goes out in
/// one `write(2)`, so lines from several threads never interleave (Swift 6 rejects the C
/// `stderr` global, and one syscall is all a line needs).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let instance: String

    public init(instance: String, logLevel: Logger.Level) {
        self.instance = instance
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var bytes = Array(line(event.level, event.message.description, event.metadata).utf8)
        bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// One event's line, newline included: the logger's metadata and the event's, sorted by key
    /// (the event's value wins).
    func line(_ level: Logger.Level, _ message: String, _ given: Logger.Metadata?) -> String {
        var line = "\(LineLogHandler.timestamp()) \(level.rawValue) instance=\(LineLogHandler.escaped(instance)) \(message)"
        let fields = metadata.merging(given ?? [:]) { _, given in given }
        for key in fields.keys.sorted() { line += " \(key)=\(LineLogHandler.escaped(fields[key].map { "\($0)" } ?? ""))" }
        return line + "\n"
    }

    /// A value as it appears after `key=`: bare when it is plain, else a JSON string (quotes,
    /// backslashes and control characters escaped), so that no value can end the line or forge
    /// a field.
    public static func escaped(_ value: String) -> String {
        // Byte-wise (every line checks every value): a non-ASCII character's bytes are all
        // above 0x7f, so it stays plain as before.
        let plain =
            !value.isEmpty
            && value.utf8.allSatisfy { byte in
                byte > 0x20 && byte != 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "=")
            }
        return plain ? value : JSON.string(value).serialized
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // strftime into one buffer: this runs for every line, and string interpolation of
        // padded numbers allocated a string per field.
        var text = [UInt8](repeating: 0, count: 32)
        let length = text.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { strftime($0.baseAddress, $0.count, "%Y-%m-%dT%H:%M:%S", &parts) }
        }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        text[length...] = [
            UInt8(ascii: "."), UInt8(ascii: "0") + UInt8(milliseconds / 100), UInt8(ascii: "0") + UInt8(milliseconds / 10 % 10),
            UInt8(ascii: "0") + UInt8(milliseconds % 10), UInt8(ascii: "Z"),
        ]
        return String(decoding: text, as: UTF8.self)
    }
}

public enum Log {
    /// Makes every `Logger` of the process write Flowgate's lines at `level` (swift-log's names:
    /// trace, debug, info, notice, warning, error, critical; anything else is info). Once, at
    /// start-up, before any thread logs.
    public static func bootstrap(instance: String, level: String) {
        let minimum = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { _ in LineLogHandler(instance: instance, logLevel: minimum) }
    }
}
