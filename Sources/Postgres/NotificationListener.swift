import CLibPQ
import Foundation
import Glibc
import Logging

/// A `NOTIFY` as it arrived: its channel and payload.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String

    public init(channel: String, payload: String) {
        self.channel = channel
        self.payload = payload
    }
}

/// A thread that holds one connection LISTENing on `channels` and hands each batch of
/// notifications to `deliver`. A lost connection is reopened with a growing pause; because
/// notifications sent meanwhile are gone, `resync` is called each time it listens (again), so
/// the receiver can re-read what it follows. A quiet connection is probed every 30 s, so that a
/// connection lost without a word (a half-open TCP link) is noticed.
public final class NotificationListener: @unchecked Sendable {
    private let conninfo: String
    private let channels: [String]
    private let deliver: @Sendable ([PostgresNotification]) -> Void
    private let resync: @Sendable () -> Void
    private let stopping = NSCondition()
    private var stopRequested = false
    private var thread: Thread?

    public init(
        conninfo: String, channels: [String], deliver: @escaping @Sendable ([PostgresNotification]) -> Void,
        resync: @escaping @Sendable () -> Void
    ) {
        precondition(
            channels.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 == "_" || ("a"..."z").contains($0) } },
            "channel names are plain lower-case identifiers")
        self.conninfo = conninfo
        self.channels = channels
        self.deliver = deliver
        self.resync = resync
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "notification-listener"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        stopping.lock()
        stopRequested = true
        stopping.broadcast()
        stopping.unlock()
    }

    public func waitUntilStopped() {
        while thread?.isFinished == false { usleep(10_000) }
    }

    private var isStopping: Bool {
        stopping.lock()
        defer { stopping.unlock() }
        return stopRequested
    }

    private func run() {
        var pauseSeconds = 0.1
        while !isStopping {
            do {
                let connection = try Connection(conninfo: conninfo)
                for channel in channels { try connection.run("LISTEN \(channel)") }
                resync()
                pauseSeconds = 0.1
                try listen(on: connection)
                connection.close()
            } catch {
                Connection.logger.info("notification listener lost its connection", metadata: ["error": "\(error)"])
                stopping.lock()
                if !stopRequested { _ = stopping.wait(until: Date(timeIntervalSinceNow: pauseSeconds)) }
                stopping.unlock()
                pauseSeconds = min(pauseSeconds * 2, 5)
            }
        }
    }

    /// Polls the socket until stop; a second at most between looks at the stop flag.
    private func listen(on connection: Connection) throws {
        var quietSeconds = 0
        while !isStopping {
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1000) > 0 else {
                quietSeconds += 1
                if quietSeconds >= 30 {
                    quietSeconds = 0
                    try connection.run("SELECT 1")
                }
                continue
            }
            quietSeconds = 0
            let notifications = try connection.drainNotifications()
            if !notifications.isEmpty { deliver(notifications) }
        }
    }
}
