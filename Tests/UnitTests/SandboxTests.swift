import Foundation
import Glibc
import XCTest

@testable import Blocks
@testable import BlocksAPI
@testable import Sandbox

final class ChildProcessTests: XCTestCase {
    func run(_ script: String, input: [UInt8] = [], timeout: Double = 5, outputLimit: Int = 1 << 20) -> ChildOutcome {
        ChildProcess.run(
            ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"], input: input,
            timeoutSeconds: timeout, outputLimit: outputLimit)
    }

    func testLargeInputAndOutputPassWithoutDeadlock() {
        let input = (0..<(3 << 20)).map { UInt8($0 % 251) }
        guard case let .exited(status, stdout, stderr) = run("cat; echo done >&2", input: input, outputLimit: 4 << 20) else {
            return XCTFail("cat did not finish")
        }
        XCTAssertEqual(status, 0)
        XCTAssertEqual(stdout, input)
        XCTAssertEqual(stderr, Array("done\n".utf8))
    }

    func testOutputBeyondTheLimitKillsTheChild() {
        let started = Date()
        XCTAssertEqual(run("yes", outputLimit: 100_000), .outputExceeded)
        XCTAssertEqual(run("yes >&2", outputLimit: 100_000), .outputExceeded, "stderr counts too")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }

    func testTheDeadlineHoldsEvenAfterTheChildClosedItsOutput() {
        let started = Date()
        XCTAssertEqual(run("sleep 30", timeout: 0.3), .timedOut)
        XCTAssertEqual(run("exec >&- 2>&-; sleep 30", timeout: 0.3), .timedOut)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testTheChildGetsOnlyDescriptorsZeroToTwo() throws {
        // A descriptor this process opened without close-on-exec, as libfcgi's accept() does.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        XCTAssertGreaterThan(leaked, 2)
        guard case let .exited(_, stdout, _) = run("ls /proc/self/fd") else { return XCTFail("ls did not run") }
        // `ls` itself holds one more descriptor: the directory it lists.
        let listed = String(decoding: stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        XCTAssertEqual(listed.filter { $0 <= 2 }, [0, 1, 2])
        XCTAssertLessThanOrEqual(listed.count, 4, "\(listed)")
        guard case let .exited(status, _, _) = run("test -e /proc/$$/fd/\(leaked) && exit 7; exit 0") else { return XCTFail() }
        XCTAssertEqual(status >> 8, 0, "descriptor \(leaked) reached the child")
    }

    func testTheChildDoesNotInheritBlockedSignals() {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        guard case let .exited(status, _, _) = run("kill -TERM $$; sleep 2") else { return XCTFail() }
        XCTAssertEqual(status & 0x7f, SIGTERM, "the child ignored SIGTERM")
    }

    func testAMissingProgramIsReported() {
        guard
            case .couldNotStart = ChildProcess.run(
                ["/nonexistent/program"], environment: [], input: [],
                timeoutSeconds: 1, outputLimit: 10)
        else { return XCTFail() }
    }
}

final class SandboxTests: XCTestCase {
    let limits = SandboxLimits(
        wallSeconds: 5, cpuSeconds: 4, memoryBytes: 512 << 20, processes: 32, openFiles: 64,
        fileSizeBytes: 16 << 20, outputBytes: 16 << 20, scratchBytes: 64 << 20)

    func testTheCommandLineIsolatesEverythingAndLimitsInsideTheNamespace() {
        let line = Sandbox(bubblewrap: "/usr/bin/bwrap").commandLine(["/usr/bin/python3", "-c", "pass"], limits: limits)
        XCTAssertEqual(line.first, "/usr/bin/bwrap")
        for flag in [
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
            "--disable-userns", "--die-with-parent", "--new-session", "--clearenv",
        ] {
            XCTAssertTrue(line.contains(flag), flag)
        }
        XCTAssertEqual(Array(line.drop { $0 != "--uid" }.prefix(4)), ["--uid", "65534", "--gid", "65534"])
        let binds = zip(line, line.dropFirst()).filter { ["--ro-bind", "--bind", "--dev-bind"].contains($0.0) }.map(\.1)
        XCTAssertTrue(
            Set(binds).isSubset(of: ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache"]), "\(binds)")
        XCTAssertTrue(line.contains("--remount-ro"))
        XCTAssertEqual(Array(line.drop { $0 != "--size" }.prefix(4)), ["--size", String(64 << 20), "--tmpfs", "/work"])
        let afterBwrap = Array(line.drop { $0 != "/usr/bin/prlimit" })
        XCTAssertEqual(
            afterBwrap,
            [
                "/usr/bin/prlimit", "--cpu=4", "--as=\(512 << 20)", "--nproc=32", "--nofile=64",
                "--fsize=\(16 << 20)", "--core=0", "--", "/usr/bin/python3", "-c", "pass",
            ])
    }

    func testWithoutBubblewrapNothingRuns() {
        let outcome = Sandbox(bubblewrap: "/nonexistent/bwrap").run(["/bin/true"], input: [], limits: limits)
        XCTAssertEqual(outcome, .couldNotStart("bubblewrap is not installed at /nonexistent/bwrap"))
    }

    func testARootProcessRefusesToRunUntrustedCode() throws {
        guard geteuid() == 0 else { throw XCTSkip("only a root process can check this") }
        guard case let .couldNotStart(reason) = Sandbox(bubblewrap: "/bin/true").run(["/bin/true"], input: [], limits: limits) else {
            return XCTFail("ran as root")
        }
        XCTAssertTrue(reason.contains("root"), reason)
    }

    func testABlockWithoutSandboxFailsWithAClearError() {
        let runtime = ModuleRuntime(
            sandbox: Sandbox(bubblewrap: "/nonexistent/bwrap"), runLimits: limits, inspectSeconds: 5,
            archive: .init(entries: 10, fileBytes: 1 << 20, totalBytes: 1 << 20))
        for command in [PythonProcess.Command.inspect, .run(module: "M", type: "B", data: [])] {
            guard case let .failure(error) = PythonProcess.run(command, archive: [], runtime) else { return XCTFail("it ran") }
            XCTAssertEqual(error.line, "RuntimeError: no sandbox for module code: bubblewrap is not installed at /nonexistent/bwrap")
        }
    }

    func testTheImportAtUploadHasTheShorterDeadline() {
        let runtime = ModuleRuntime(
            sandbox: Sandbox(), runLimits: limits, inspectSeconds: 2,
            archive: .init(entries: 10, fileBytes: 1 << 20, totalBytes: 1 << 20))
        XCTAssertEqual(runtime.inspectLimits.wallSeconds, 2)
        XCTAssertEqual(runtime.inspectLimits.cpuSeconds, 2)
        XCTAssertEqual(runtime.inspectLimits.memoryBytes, limits.memoryBytes)
    }
}
