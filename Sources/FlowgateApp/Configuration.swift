import Blocks
import BlocksAPI
import FastCGI
import Glibc
import HTTP
import Itential
import ItentialAPI
import Sandbox
import WebSocketServer

/// Everything the process reads from its environment, read once at start-up.
package struct Configuration: Sendable {
    package static let version = "0.1.0"

    package var databaseURL: String
    package var listen: ListenAddress
    /// Where WebSocket clients reach this instance (through nginx); nil serves none.
    package var webSocketListen: ListenAddress?
    package var webSocketLimits: WebSocketServer.Limits
    package var workers: Int
    package var runners: Int
    /// Runner threads for blocks of uploaded modules, and how many of one user's run at once.
    package var sandboxRunners: Int
    package var sandboxRunsPerUser: Int
    package var taskLeaseSeconds: Int
    package var runnerPollMilliseconds: Int32
    package var bodyLimit: Int
    package var instance: String
    package var statementTimeoutMs: Int
    /// How long a request or runner waits for a database that went away before it fails.
    package var databaseRetrySeconds: Double
    package var tokenLifetimeSeconds: Int
    package var sqlDirectory: String
    package var logLevel: String
    package var modules: ModuleRuntime
    package var childJobs: ChildJobLimits
    package var origins: Origins
    package var blocksRegistrationOpen: Bool
    /// The Portal's organisation id: Workflow Manager clients that sign in through `/sharing`
    /// address its items as `/{portalOrganisationId}/{itemId}`.
    package var portalOrganisationId: String
    /// `FLOWGATE_METRICS_ACCESS=loopback`: clients on this host read the metrics without a
    /// token; otherwise (`admin`, the default) only an admin's token does.
    package var metricsFromLoopback: Bool

    package static func fromEnvironment() -> Configuration {
        func env(_ name: String) -> String? {
            guard let value = getenv(name) else { return nil }
            let text = String(cString: value)
            return text.isEmpty ? nil : text
        }
        func int(_ name: String, _ fallback: Int) -> Int { env(name).flatMap { Int($0) } ?? fallback }
        /// A size given in MiB, as bytes; within 1 MiB … 1 TiB, so no product can overflow.
        func mebibytes(_ name: String, _ fallback: Int) -> Int { min(max(1, int(name, fallback)), 1 << 20) << 20 }
        let blockSeconds = min(max(1, int("FLOWGATE_BLOCK_TIMEOUT_SECONDS", 30)), 24 * 3600)
        let modules = ModuleRuntime(
            sandbox: Sandbox(bubblewrap: env("FLOWGATE_BUBBLEWRAP") ?? "/usr/bin/bwrap"),
            runLimits: SandboxLimits(
                wallSeconds: Double(blockSeconds),
                cpuSeconds: min(max(1, int("FLOWGATE_SANDBOX_CPU_SECONDS", blockSeconds)), blockSeconds),
                memoryBytes: mebibytes("FLOWGATE_SANDBOX_MEMORY_MB", 512),
                processes: min(max(2, int("FLOWGATE_SANDBOX_PROCESSES", 32)), 4096),
                openFiles: min(max(16, int("FLOWGATE_SANDBOX_OPEN_FILES", 64)), 65536),
                fileSizeBytes: mebibytes("FLOWGATE_SANDBOX_FILE_MB", 16),
                outputBytes: mebibytes("FLOWGATE_SANDBOX_OUTPUT_MB", 16),
                scratchBytes: mebibytes("FLOWGATE_SANDBOX_SCRATCH_MB", 64)),
            inspectSeconds: Double(min(max(1, int("FLOWGATE_UPLOAD_TIMEOUT_SECONDS", 5)), 600)),
            concurrentUploads: min(max(1, int("FLOWGATE_UPLOAD_CONCURRENCY", 2)), 64),
            archive: .init(
                entries: min(max(1, int("FLOWGATE_ZIP_MAX_ENTRIES", 1000)), 1_000_000),
                fileBytes: mebibytes("FLOWGATE_ZIP_MAX_FILE_MB", 16),
                totalBytes: mebibytes("FLOWGATE_ZIP_MAX_TOTAL_MB", 32)))
        let listen: ListenAddress
        if let socket = env("FLOWGATE_SOCKET") {
            listen = .unixSocket(socket)
        } else {
            listen = .tcp(env("FLOWGATE_LISTEN") ?? "127.0.0.1:9000")
        }
        let webSocketListen: ListenAddress? =
            env("FLOWGATE_WS_SOCKET").map { .unixSocket($0) } ?? env("FLOWGATE_WS_LISTEN").map { .tcp($0) }
        var webSocketLimits = WebSocketServer.Limits()
        webSocketLimits.maxConnections = min(max(1, int("FLOWGATE_WS_MAX_CONNECTIONS", 1000)), 100_000)
        webSocketLimits.idleSeconds = Int64(min(max(10, int("FLOWGATE_WS_IDLE_SECONDS", 120)), 24 * 3600))
        webSocketLimits.pingSeconds = max(1, webSocketLimits.idleSeconds / 4)
        webSocketLimits.maxMessageBytes = min(max(1024, int("FLOWGATE_WS_MAX_MESSAGE_BYTES", 64 * 1024)), 16 << 20)
        func list(_ name: String, _ fallback: String) -> [String] {
            (env(name) ?? fallback).split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        }
        return Configuration(
            databaseURL: env("FLOWGATE_DATABASE_URL") ?? "dbname=flowgate",
            listen: listen,
            webSocketListen: webSocketListen,
            webSocketLimits: webSocketLimits,
            workers: max(1, int("FLOWGATE_WORKERS", 8)),
            runners: max(0, int("FLOWGATE_RUNNERS", 2)),
            sandboxRunners: min(max(0, int("FLOWGATE_SANDBOX_RUNNERS", 2)), 64),
            sandboxRunsPerUser: min(max(1, int("FLOWGATE_SANDBOX_RUNS_PER_USER", 1)), 64),
            taskLeaseSeconds: max(1, int("FLOWGATE_TASK_LEASE_SECONDS", 30)),
            runnerPollMilliseconds: Int32(max(10, int("FLOWGATE_RUNNER_POLL_MS", 1000))),
            bodyLimit: max(1024, int("FLOWGATE_BODY_LIMIT", 1 << 20)),
            instance: env("FLOWGATE_INSTANCE") ?? "flowgate-\(getpid())",
            statementTimeoutMs: max(100, int("FLOWGATE_STATEMENT_TIMEOUT_MS", 5000)),
            databaseRetrySeconds: Double(min(max(0, int("FLOWGATE_DB_RETRY_SECONDS", 5)), 60)),
            tokenLifetimeSeconds: max(60, int("FLOWGATE_TOKEN_TTL_SECONDS", 24 * 3600)),
            sqlDirectory: env("FLOWGATE_SQL_DIR") ?? "sql",
            logLevel: env("FLOWGATE_LOG_LEVEL") ?? "info",
            modules: modules,
            childJobs: ChildJobLimits(
                depth: min(max(1, int("FLOWGATE_ITENTIAL_CHILD_DEPTH", 10)), 1000),
                childrenPerTask: min(max(1, int("FLOWGATE_ITENTIAL_CHILDREN_PER_TASK", 100)), 100_000)),
            origins: Origins(
                publicURL: env("FLOWGATE_PUBLIC_URL"),
                serverNames: list("FLOWGATE_SERVER_NAMES", "localhost,127.0.0.1,[::1]"),
                allowedOrigins: Set(list("FLOWGATE_ALLOWED_ORIGINS", ""))),
            blocksRegistrationOpen: env("FLOWGATE_BLOCKS_REGISTRATION") != "closed",
            portalOrganisationId: env("FLOWGATE_PORTAL_ORG_ID") ?? "flowgate",
            metricsFromLoopback: env("FLOWGATE_METRICS_ACCESS") == "loopback")
    }

    /// The database URL with Flowgate's session settings added as libpq `options`.
    package var conninfo: String {
        let options = "options='-c statement_timeout=\(statementTimeoutMs) -c application_name=\(instance)'"
        if databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://") {
            let separator = databaseURL.contains("?") ? "&" : "?"
            return databaseURL + separator + "options=-c%20statement_timeout%3D\(statementTimeoutMs)"
                + "%20-c%20application_name%3D\(instance)&application_name=\(instance)"
        }
        return databaseURL + " " + options
    }
}
