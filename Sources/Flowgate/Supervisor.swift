import CSpawn
import FastCGI
import Foundation
import Glibc
import Logging
import Sandbox

/// `flowgate serve` as the instance's supervisor: it opens the FastCGI socket once and runs the
/// server in a worker process (this executable again, handed the socket as descriptor 3), and
/// starts a new worker when one dies. Connections that arrive meanwhile wait in the socket's
/// backlog, so a crash costs the requests in flight and nothing else. SIGHUP replaces the worker
/// without a failed request: a new one (from the executable now on disk) starts on the same
/// sockets, says it is serving, and only then is the old one sent SIGTERM, which finishes its
/// requests and runner tasks in flight while the new one accepts. The supervisor itself holds
/// no database connection and parses no request.
struct Supervisor {
    /// Tells a worker which descriptor is its listener, and which process to die with.
    static let listenDescriptorVariable = "FLOWGATE_LISTEN_FD"
    /// The WebSocket listener's descriptor, when the instance serves WebSockets.
    static let webSocketDescriptorVariable = "FLOWGATE_WS_LISTEN_FD"
    static let supervisorVariable = "FLOWGATE_SUPERVISOR_PID"
    /// The descriptor a worker writes one byte to once it serves.
    static let readyDescriptorVariable = "FLOWGATE_READY_FD"
    /// How long a replacement worker may take to start serving before it is given up.
    static let readySeconds = 60.0
    /// How long a stopping worker may take to finish requests and tasks in flight.
    static let stopGraceSeconds = 60.0

    let address: ListenAddress
    let webSocketAddress: ListenAddress?

    func run() throws -> Int32 {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGCHLD, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let listener = try Listener.open(address)
        let webSocketListener = try webSocketAddress.map(Listener.open)
        defer {
            listener.close()
            webSocketListener?.close()
        }
        var restarts = Backoff()
        var retiring = RetiringWorkers()
        var started = Date()
        var worker = try startWorker(listener, webSocketListener).pid
        log.notice("worker started", metadata: ["pid": "\(worker)"])
        while true {
            switch wait(for: worker, retiring: &retiring, signals: &signals) {
            case let .stopRequested(signal):
                log.notice("stopping", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
                kill(worker, SIGTERM)
                retiring.add(worker)
                retiring.waitForAll()
                log.notice("stopped")
                return 0
            case .replaceRequested:
                switch replace(worker, listener, webSocketListener) {
                case let .success(successor):
                    log.notice(
                        "worker replaced; the old one finishes what it serves", metadata: ["old": "\(worker)", "pid": "\(successor)"])
                    kill(worker, SIGTERM)
                    retiring.add(worker)
                    (worker, started) = (successor, Date())
                case let .failure(problem):
                    log.error("worker not replaced; the old one serves on", metadata: ["pid": "\(worker)", "error": "\(problem.message)"])
                }
            case let .exited(status):
                log.error("worker exited; starting another", metadata: ["pid": "\(worker)", "cause": "\(Self.describe(status))"])
                usleep(restarts.delayMicroseconds(afterRunning: Date().timeIntervalSince(started)))
                started = Date()
                worker = try startWorker(listener, webSocketListener).pid
                log.notice("worker started", metadata: ["pid": "\(worker)"])
            }
        }
    }

    /// A worker on the same sockets, and the read end of the pipe it says "serving" on.
    private func startWorker(_ listener: Listener, _ webSocketListener: Listener?) throws -> (pid: pid_t, ready: Int32) {
        var environment = ProcessInfo.processInfo.environment
        environment[Self.listenDescriptorVariable] = "3"
        var descriptors = [0, 1, 2, listener.descriptor]
        if let webSocketListener {
            environment[Self.webSocketDescriptorVariable] = "4"
            descriptors.append(webSocketListener.descriptor)
        }
        var ready: [Int32] = [-1, -1]
        guard flowgate_pipe_cloexec(&ready) == 0 else { throw SupervisorError("pipe: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(ready[1]) }
        environment[Self.readyDescriptorVariable] = String(descriptors.count)
        descriptors.append(ready[1])
        environment[Self.supervisorVariable] = String(getpid())
        // The runtime's crash report should not delay the restart by symbolicating at length.
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=yes,symbolicate=fast" }
        do {
            let pid = try ChildProcess.spawn(
                [Self.executable, "serve"], environment: environment.map { "\($0.key)=\($0.value)" }, descriptors: descriptors
            ).get()
            return (pid, ready[0])
        } catch {
            Glibc.close(ready[0])
            throw error
        }
    }

    /// Starts the successor of `worker` and waits until it serves; on failure it is stopped and
    /// the old worker stays.
    private func replace(_ worker: pid_t, _ listener: Listener, _ webSocketListener: Listener?) -> Result<pid_t, SupervisorError> {
        let successor: (pid: pid_t, ready: Int32)
        do {
            successor = try startWorker(listener, webSocketListener)
        } catch {
            return .failure(SupervisorError("\(error)"))
        }
        defer { Glibc.close(successor.ready) }
        let deadline = Date().addingTimeInterval(Self.readySeconds)
        var descriptor = pollfd(fd: successor.ready, events: Int16(POLLIN), revents: 0)
        while Date() < deadline {
            if poll(&descriptor, 1, 100) > 0 {
                var byte: UInt8 = 0
                if read(successor.ready, &byte, 1) == 1 { return .success(successor.pid) }
                break  // the pipe closed unwritten: the successor died starting
            }
        }
        var retired = RetiringWorkers()
        kill(successor.pid, SIGTERM)
        retired.add(successor.pid)
        retired.waitForAll()
        return .failure(SupervisorError("the new worker did not start serving"))
    }

    /// In a worker: tells the supervisor it serves (a replacement waits for this).
    static func reportServing() {
        guard let descriptor = ProcessInfo.processInfo.environment[readyDescriptorVariable].flatMap({ Int32($0) }) else { return }
        var byte: UInt8 = 1
        _ = write(descriptor, &byte, 1)
        Glibc.close(descriptor)
    }

    /// This program's file, resolved once: exec of /proc/self/exe itself is refused to a process
    /// that changed its uid before exec (setpriv), which is not dumpable.
    static let executable: String = {
        if let path = ChildProcess.linkTarget("/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }()

    enum Event {
        case stopRequested(Int32)
        case replaceRequested
        case exited(Int32)
    }

    /// Waits for the worker to exit or a signal, reaping retired workers meanwhile.
    private func wait(for worker: pid_t, retiring: inout RetiringWorkers, signals: inout sigset_t) -> Event {
        while true {
            var status: Int32 = 0
            if waitpid(worker, &status, WNOHANG) == worker { return .exited(status) }
            retiring.reap()
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let signal = sigtimedwait(&signals, nil, &timeout)
            if signal == SIGTERM || signal == SIGINT { return .stopRequested(signal) }
            if signal == SIGHUP { return .replaceRequested }
        }
    }

    /// Workers sent SIGTERM: each gets the grace period to finish, then SIGKILL.
    struct RetiringWorkers {
        private var deadlines: [pid_t: Date] = [:]

        mutating func add(_ pid: pid_t) { deadlines[pid] = Date().addingTimeInterval(Supervisor.stopGraceSeconds) }

        /// Collects those that exited; kills those past their grace period.
        mutating func reap() {
            for (pid, deadline) in deadlines {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    deadlines[pid] = nil
                    log.notice("old worker finished", metadata: ["pid": "\(pid)", "cause": "\(Supervisor.describe(status))"])
                } else if Date() > deadline {
                    log.warning("worker ignored SIGTERM; killing", metadata: ["pid": "\(pid)"])
                    kill(pid, SIGKILL)
                }
            }
        }

        mutating func waitForAll() {
            while !deadlines.isEmpty {
                reap()
                if !deadlines.isEmpty { usleep(20_000) }
            }
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

struct SupervisorError: Error {
    let message: String

    init(_ message: String) { self.message = message }
}
