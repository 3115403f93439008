import Foundation
import Glibc

/// What a sandboxed program may use. Every limit is per run.
public struct SandboxLimits: Sendable, Equatable {
    /// Wall-clock time; at the deadline the whole process tree is killed.
    public var wallSeconds: Double
    public var cpuSeconds: Int
    /// Address space per process (RLIMIT_AS).
    public var memoryBytes: Int
    /// Processes and threads of the sandbox's user (RLIMIT_NPROC, counted inside its namespace).
    public var processes: Int
    public var openFiles: Int
    /// Largest file it may write (RLIMIT_FSIZE).
    public var fileSizeBytes: Int
    /// stdout and stderr together; beyond it the run is killed.
    public var outputBytes: Int
    /// Size of its private tmpfs working directory.
    public var scratchBytes: Int

    public init(
        wallSeconds: Double, cpuSeconds: Int, memoryBytes: Int, processes: Int, openFiles: Int,
        fileSizeBytes: Int, outputBytes: Int, scratchBytes: Int
    ) {
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.processes = processes
        self.openFiles = openFiles
        self.fileSizeBytes = fileSizeBytes
        self.outputBytes = outputBytes
        self.scratchBytes = scratchBytes
    }
}

/// Runs untrusted programs under bubblewrap: an unprivileged uid in new user, pid, network,
/// IPC, UTS and cgroup namespaces, a read-only `/usr`, a fresh `/proc`, a minimal `/dev`, and a
/// private tmpfs as working directory (`/work`, gone with the sandbox), nothing else of the host.
/// Resource limits are set by `prlimit` inside the new user namespace, so the process limit
/// counts only the sandbox's own processes. When the outer bwrap dies (it is killed at the
/// deadline), `--die-with-parent` takes the sandbox's pid 1 with it, and with it every process
/// of its pid namespace: nothing outlives a run.
public struct Sandbox: Sendable {
    public let bubblewrap: String
    static let prlimit = "/usr/bin/prlimit"
    /// The working directory inside the sandbox.
    public static let workDirectory = "/work"
    static let nobody = "65534"

    public init(bubblewrap: String = "/usr/bin/bwrap") {
        self.bubblewrap = bubblewrap
    }

    /// Runs `program` (an absolute path and its arguments) with `input` on stdin.
    /// `.couldNotStart` means no sandbox could be set up; the program then never ran.
    public func run(_ program: [String], input: [UInt8], limits: SandboxLimits) -> ChildOutcome {
        guard access(bubblewrap, X_OK) == 0 else { return .couldNotStart("bubblewrap is not installed at \(bubblewrap)") }
        // As root, bwrap's "unprivileged" uid would still be root outside the namespace.
        guard geteuid() != 0 else {
            return .couldNotStart("refusing to run untrusted code from a root process; run Flowgate as an unprivileged user")
        }
        let outcome = ChildProcess.run(
            commandLine(program, limits: limits), environment: [], input: input,
            timeoutSeconds: limits.wallSeconds, outputLimit: limits.outputBytes)
        // bwrap reports its own failures (no user namespaces, a mount refused) as "bwrap: …".
        if case let .exited(status, stdout, stderr) = outcome, status != 0, stdout.isEmpty,
            let line = String(decoding: stderr, as: UTF8.self).split(separator: "\n").first, line.hasPrefix("bwrap: ")
        {
            return .couldNotStart(String(line))
        }
        return outcome
    }

    /// The full command line: bwrap's options, then prlimit, then the program.
    public func commandLine(_ program: [String], limits: SandboxLimits) -> [String] {
        var arguments = [
            bubblewrap,
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
            "--disable-userns", "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--uid", Self.nobody, "--gid", Self.nobody, "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
        ]
        arguments += Self.systemLinks
        arguments += [
            "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
            "--size", String(limits.scratchBytes), "--tmpfs", Self.workDirectory, "--chdir", Self.workDirectory,
            "--remount-ro", "/",
            "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "HOME", Self.workDirectory, "--setenv", "TMPDIR", Self.workDirectory,
            "--", Self.prlimit,
            "--cpu=\(limits.cpuSeconds)", "--as=\(limits.memoryBytes)", "--nproc=\(limits.processes)",
            "--nofile=\(limits.openFiles)", "--fsize=\(limits.fileSizeBytes)", "--core=0", "--",
        ]
        return arguments + program
    }

    /// `/bin`, `/lib`, … as the host has them: symlinks into `/usr` (merged /usr) are recreated,
    /// real directories are bound read-only. The loader's cache comes along if there is one.
    static let systemLinks: [String] = {
        var arguments: [String] = []
        for path in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = ChildProcess.linkTarget(path) {
                arguments += ["--symlink", target, path]
            } else if access(path, F_OK) == 0 {
                arguments += ["--ro-bind", path, path]
            }
        }
        if access("/etc/ld.so.cache", R_OK) == 0 { arguments += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"] }
        return arguments
    }()
}
