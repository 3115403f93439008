import Engine
import FastCGI
import FlowgateApp
import Glibc
import Logging

/// The executable's own lines: start-up, supervision, commands. (A global is made on first
/// use, after main has bootstrapped logging.)
let log = Logger(label: "flowgate")

/// Something that runs on its own threads until told to stop.
protocol Service: AnyObject {
    func start() throws
    /// Begin stopping; must return at once and be safe to call from the signal-waiting thread.
    func stop()
    func waitUntilStopped()
}

extension FastCGIServer: Service {}
extension Runner: Service {}
extension HistoryMaintenance: Service {}
extension LiveNotifications: Service {}

/// Starts services and stops them on SIGTERM or SIGINT.
///
/// libfcgi installs a SIGTERM handler that only sets a flag, so threads blocked in accept()
/// would never notice. Instead the signals are blocked before any thread exists (threads inherit
/// the mask) and the calling thread waits for them with sigwait.
enum Lifecycle {
    static func run(services: [any Service], started: () -> Void) throws -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        for service in services { try service.start() }
        started()
        var received: Int32 = 0
        sigwait(&signals, &received)
        log.notice("stopping", metadata: ["signal": "\(received == SIGTERM ? "SIGTERM" : "SIGINT")"])
        for service in services { service.stop() }
        for service in services { service.waitUntilStopped() }
        log.notice("stopped")
        return 0
    }
}
