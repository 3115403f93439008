import CSpawn
import Foundation
import Glibc

/// How a child process ended.
public enum ChildOutcome: Sendable, Equatable {
    case exited(status: Int32, stdout: [UInt8], stderr: [UInt8])
    /// It outlived its deadline and was killed.
    case timedOut
    /// It wrote more than the output limit (stdout and stderr together) and was killed.
    case outputExceeded
    case couldNotStart(String)
}

/// Runs a program with posix_spawn, feeding it `input` and collecting its output under a byte
/// limit and a deadline. Written on posix_spawn rather than Foundation's `Process` or
/// swift-subprocess because the caller is a synchronous worker thread, and the child must get
/// exactly descriptors 0, 1 and 2 (closefrom), a clean signal mask, and a hard output cap.
public enum ChildProcess {
    public static func run(
        _ arguments: [String], environment: [String], input: [UInt8],
        timeoutSeconds: Double, outputLimit: Int
    ) -> ChildOutcome {
        guard let program = arguments.first else { return .couldNotStart("no program") }
        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        defer { (stdinPipe + stdoutPipe + stderrPipe).filter { $0 >= 0 }.forEach { close($0) } }
        guard flowgate_pipe_cloexec(&stdinPipe) == 0, flowgate_pipe_cloexec(&stdoutPipe) == 0,
            flowgate_pipe_cloexec(&stderrPipe) == 0
        else {
            return .couldNotStart("pipe: \(String(cString: strerror(errno)))")
        }

        let spawned = spawn(arguments, environment: environment, descriptors: [stdinPipe[0], stdoutPipe[1], stderrPipe[1]])
        guard case let .success(pid) = spawned else {
            if case let .failure(error) = spawned { return .couldNotStart(error.reason) }
            return .couldNotStart(program)
        }
        for end in [stdinPipe[0], stdoutPipe[1], stderrPipe[1]] { close(end) }
        stdinPipe[0] = -1
        stdoutPipe[1] = -1
        stderrPipe[1] = -1

        var exchange = Exchange(
            input: input, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0],
            outputLimit: outputLimit)
        stdinPipe[1] = -1  // the exchange closes it
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var ending = exchange.run(until: deadline)
        var status: Int32 = 0
        // A child may close its output and go on running: the deadline holds for its exit too.
        if ending == .drained, !exited(pid, &status, before: deadline) { ending = .deadline }
        if ending != .drained {
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        switch ending {
        case .drained: return .exited(status: status, stdout: exchange.stdoutBytes, stderr: exchange.stderrBytes)
        case .deadline: return .timedOut
        case .tooMuchOutput: return .outputExceeded
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "cannot start \(reason)" }
    }

    /// Starts `arguments[0]` with `descriptors` as its 0, 1, 2, … (an empty list keeps this
    /// process's 0–2) and no other descriptor, a clean signal mask and default dispositions.
    /// The caller reaps it.
    public static func spawn(_ arguments: [String], environment: [String], descriptors: [Int32]) -> Result<pid_t, SpawnError> {
        guard let program = arguments.first else { return .failure(SpawnError(reason: "no program")) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A close-on-exec descriptor already at its target would be closed by exec: hand over a
        // copy instead, which dup2 then clears of the flag.
        var copies: [Int32] = []
        defer { copies.forEach { close($0) } }
        for (target, source) in descriptors.enumerated() {
            var source = source
            if source == target {
                guard target > 2 else { continue }
                source = fcntl(source, F_DUPFD_CLOEXEC, Int32(descriptors.count))
                copies.append(source)
            }
            posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
        }
        // Whatever another thread opens meanwhile (an accepted connection, a libpq socket)
        // stays out of the child, CLOEXEC or not.
        flowgate_spawn_close_from(&actions, Int32(max(3, descriptors.count)))

        // The server blocks SIGTERM/SIGINT in every thread and ignores SIGPIPE; a child must not
        // inherit either.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        var defaults = sigset_t()
        sigemptyset(&emptyMask)
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard spawned == 0 else { return .failure(SpawnError(reason: "\(program): \(String(cString: strerror(spawned)))")) }
        return .success(pid)
    }

    /// Where a symbolic link points; nil when `path` is none.
    public static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let length = readlink(path, &buffer, buffer.count - 1)
        return length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// Reaps `pid` if it exits before `deadline`.
    private static func exited(_ pid: pid_t, _ status: inout Int32, before deadline: Date) -> Bool {
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { return true }
            if deadline.timeIntervalSinceNow <= 0 { return false }
            usleep(2_000)
        }
    }

    /// Writes stdin and reads stdout and stderr together with poll, so that neither side can
    /// block the other however large the input or output.
    struct Exchange {
        enum Ending { case drained, deadline, tooMuchOutput }

        let input: [UInt8]
        var written = 0
        var stdin: Int32
        let stdout: Int32
        let stderr: Int32
        let outputLimit: Int
        var stdoutBytes: [UInt8] = []
        var stderrBytes: [UInt8] = []

        init(input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32, outputLimit: Int) {
            self.input = input
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.outputLimit = outputLimit
            _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK)
        }

        mutating func run(until deadline: Date) -> Ending {
            defer { closeStdin() }
            if input.isEmpty { closeStdin() }
            var open = [stdout, stderr]
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !open.isEmpty {
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { return .deadline }
                var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                if stdin >= 0 { descriptors.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
                let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(min(remaining * 1000 + 1, 60_000)))
                if ready < 0 && errno != EINTR { return .deadline }
                for descriptor in descriptors where descriptor.revents != 0 {
                    if descriptor.fd == stdin {
                        writeSomeInput()
                        continue
                    }
                    let count = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                    if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if count <= 0 {
                        open.removeAll { $0 == descriptor.fd }
                    } else if descriptor.fd == stdout {
                        stdoutBytes += buffer[0..<count]
                    } else {
                        stderrBytes += buffer[0..<count]
                    }
                    if stdoutBytes.count + stderrBytes.count > outputLimit { return .tooMuchOutput }
                }
            }
            return .drained
        }

        private mutating func writeSomeInput() {
            let count = input.withUnsafeBytes { bytes in
                write(stdin, bytes.baseAddress! + written, bytes.count - written)
            }
            if count > 0 { written += count }
            // EPIPE: the child stopped reading; what it did with what it got is its answer.
            if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) { closeStdin() }
        }

        private mutating func closeStdin() {
            if stdin >= 0 { close(stdin) }
            stdin = -1
        }
    }
}
