import CSpawn
import FastCGI
import Foundation
import Glibc
import Log
import Sandbox

/// `flowgate serve` as the instance's supervisor: it opens the FastCGI socket once and runs the
/// server in a worker process (this executable again, handed the socket as descriptor 3), and
/// starts a new worker when one dies. Connections that arrive meanwhile wait in the socket's
/// backlog, so a crash costs the requests in flight and nothing else. The supervisor itself
/// holds no database connection and parses no request.
struct Supervisor {
    /// Tells a worker which descriptor is its listener, and which process to die with.
    static let listenDescriptorVariable = "FLOWGATE_LISTEN_FD"
    /// The WebSocket listener's descriptor, when the instance serves WebSockets.
    static let webSocketDescriptorVariable = "FLOWGATE_WS_LISTEN_FD"
    static let supervisorVariable = "FLOWGATE_SUPERVISOR_PID"
    /// How long a stopping worker may take to finish requests and tasks in flight.
    static let stopGraceSeconds = 60.0

    let address: ListenAddress
    let webSocketAddress: ListenAddress?

    func run() throws -> Int32 {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGCHLD] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var listener = try Listener.open(address)
        var webSocketListener = try webSocketAddress.map(Listener.open)
        defer {
            listener.close()
            webSocketListener?.close()
        }
        var restarts = Backoff()
        while true {
            let started = Date()
            let worker = try startWorker(listener, webSocketListener)
            Log.info("worker started", [("pid", String(worker))])
            switch wait(for: worker, signals: &signals) {
            case let .stopRequested(signal):
                Log.info("stopping", [("signal", signal == SIGTERM ? "SIGTERM" : "SIGINT")])
                stop(worker)
                Log.info("stopped")
                return 0
            case let .exited(status):
                let clean = (status & 0x7f) == 0 && (status >> 8) & 0xff == 0
                Log.error("worker exited; starting another", [("pid", String(worker)), ("cause", Self.describe(status))])
                // A worker that stopped on its own shut the shared sockets down: open new ones.
                if clean {
                    listener.close()
                    listener = try Listener.open(address)
                    webSocketListener?.close()
                    webSocketListener = try webSocketAddress.map(Listener.open)
                }
                usleep(restarts.delayMicroseconds(afterRunning: Date().timeIntervalSince(started)))
            }
        }
    }

    private func startWorker(_ listener: Listener, _ webSocketListener: Listener?) throws -> pid_t {
        var environment = ProcessInfo.processInfo.environment
        environment[Self.listenDescriptorVariable] = "3"
        var descriptors = [0, 1, 2, listener.descriptor]
        if let webSocketListener {
            environment[Self.webSocketDescriptorVariable] = "4"
            descriptors.append(webSocketListener.descriptor)
        }
        environment[Self.supervisorVariable] = String(getpid())
        // The runtime's crash report should not delay the restart by symbolicating at length.
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=yes,symbolicate=fast" }
        return try ChildProcess.spawn(
            [Self.executable, "serve"], environment: environment.map { "\($0.key)=\($0.value)" },
            descriptors: descriptors
        ).get()
    }

    /// This program's file, resolved once: exec of /proc/self/exe itself is refused to a process
    /// that changed its uid before exec (setpriv), which is not dumpable.
    static let executable: String = {
        if let path = ChildProcess.linkTarget("/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }()

    enum Event {
        case stopRequested(Int32)
        case exited(Int32)
    }

    private func wait(for worker: pid_t, signals: inout sigset_t) -> Event {
        while true {
            var status: Int32 = 0
            if waitpid(worker, &status, WNOHANG) == worker { return .exited(status) }
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let signal = sigtimedwait(&signals, nil, &timeout)
            if signal == SIGTERM || signal == SIGINT { return .stopRequested(signal) }
        }
    }

    /// SIGTERM, then the grace period, then SIGKILL.
    private func stop(_ worker: pid_t) {
        kill(worker, SIGTERM)
        let deadline = Date().addingTimeInterval(Self.stopGraceSeconds)
        var status: Int32 = 0
        while waitpid(worker, &status, WNOHANG) == 0 {
            if Date() > deadline {
                Log.warning("worker ignored SIGTERM; killing", [("pid", String(worker))])
                kill(worker, SIGKILL)
                waitpid(worker, &status, 0)
                return
            }
            usleep(20_000)
        }
    }

    /// A wait status in words: "exit status 3", "signal 11 (Segmentation fault)".
    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        guard signal != 0 else { return "exit status \((status >> 8) & 0xff)" }
        return "signal \(signal) (\(String(cString: strsignal(signal))))"
    }

    /// Restarts at once after a worker that ran a while; doubling delays, up to 5 s, for one
    /// that keeps dying as it starts.
    struct Backoff {
        private var quickDeaths = 0

        mutating func delayMicroseconds(afterRunning seconds: TimeInterval) -> UInt32 {
            quickDeaths = seconds < 10 ? quickDeaths + 1 : 0
            return UInt32(min(5.0, 0.05 * pow(2, Double(max(0, quickDeaths - 1)))) * 1_000_000)
        }
    }

    /// In a worker: die with the supervisor (also when it is SIGKILLed).
    static func bindToSupervisor() {
        guard let parent = ProcessInfo.processInfo.environment[supervisorVariable].flatMap({ Int32($0) }) else { return }
        if flowgate_die_with_parent(SIGKILL, parent) != 0 { exit(1) }
    }
}
