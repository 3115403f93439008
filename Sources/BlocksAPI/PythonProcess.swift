import Foundation
import Glibc
import JSON

/// Runs the Python helper in a subprocess: no network (a fresh network namespace through
/// `unshare -rn`), isolated mode, a time limit, one JSON request on stdin, one JSON answer on
/// stdout.
enum PythonProcess {
    static let python = "/usr/bin/python3"
    static let unshare = "/usr/bin/unshare"

    /// Why a run produced no answer, as a Python-style error line.
    static func run(_ request: JSON, timeoutSeconds: Int) -> Result<JSON, PythonError> {
        guard access(python, X_OK) == 0 else {
            return .failure(PythonError(type: "RuntimeError", message: "python3 is not installed on this Flowgate host"))
        }
        let sandboxed = access(unshare, X_OK) == 0
        let arguments = (sandboxed ? [unshare, "-rn"] : []) + [python, "-I", "-c", PythonHelper.script]
        guard let output = spawn(arguments, input: Array(request.serialized.utf8), timeoutSeconds: timeoutSeconds) else {
            return .failure(PythonError(type: "TimeoutError", message: "the block ran longer than \(timeoutSeconds) s"))
        }
        guard let answer = try? JSON.parse(output.stdout), case .object = answer else {
            let detail = String(decoding: output.stderr.suffix(400), as: UTF8.self)
            return .failure(PythonError(type: "RuntimeError", message: "the Python helper failed: \(detail)"))
        }
        return .success(answer)
    }

    /// Runs a program, feeding `input`; nil when it outlives the timeout (it is then killed).
    static func spawn(_ arguments: [String], input: [UInt8], timeoutSeconds: Int) -> (stdout: [UInt8], stderr: [UInt8])? {
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        for fd in stdinPipe + stdoutPipe + stderrPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = arguments.map { strdup($0) } + [nil]
        let environment: [String] = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        defer {
            close(stdoutPipe[0])
            close(stderrPipe[0])
        }
        guard spawned == 0 else {
            close(stdinPipe[1])
            return nil
        }
        // The helper reads all of stdin before it writes anything, so writing first cannot block.
        _ = input.withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
        close(stdinPipe[1])

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var open = [stdoutPipe[0], stderrPipe[0]]
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard remaining > 0, poll(&descriptors, nfds_t(descriptors.count), remaining) > 0 else {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                return nil
            }
            for descriptor in descriptors where descriptor.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                if n <= 0 {
                    open.removeAll { $0 == descriptor.fd }
                } else if descriptor.fd == stdoutPipe[0] {
                    stdout += buffer[0..<n]
                } else {
                    stderr += buffer[0..<n]
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (stdout, stderr)
    }
}
