import Engine
import Foundation
import Glibc
import HTTP
import Itential
import JSON

/// The platform's own routes that clients and CLIs probe: applications, adapters and health.
/// They describe Flowgate truthfully: the three Itential applications it serves (one process,
/// so restarting one restarts nothing), no adapters, health from the database and the runners'
/// queue, and this host's figures in the shapes of the platform's Node.js `os` and `process`.
enum ItentialPlatform {
    static let release = "2023.2.0"

    static let applications: [(id: String, package: String, prefix: String, description: String)] = [
        ("WorkFlowEngine", "@itential/app-workflow_engine", "workflow_engine", "Runs jobs of workflows"),
        ("OperationsManager", "@itential/app-operations_manager", "operations-manager", "Jobs, tasks, automations and triggers"),
        ("AutomationStudio", "@itential/app-automation_studio", "automation-studio", "Workflows"),
    ]

    static func routes(_ configuration: ItentialAPI.Configuration) -> [Route<Session>] {
        let signedIn = ItentialAPI.access(ItentialAPI.Roles.read + ["operations"])
        return [
            Route("GET", "/health/status") { request, session in status(request, session) },
            Route("GET", "/health/applications", signedIn) { request, session, _ in
                let health = try health(session)
                return list(applications.map { applicationHealth($0, health) }, request)
            },
            Route("GET", "/health/applications/{name}", signedIn) { request, session, _ in
                let health = try health(session)
                guard let app = applications.first(where: { $0.id == request.parameter("name") }) else {
                    throw HTTPError.notFound("Application \(request.parameter("name")) not found")
                }
                return .json(applicationHealth(app, health))
            },
            Route("GET", "/health/adapters", signedIn) { request, _, _ in list([], request) },
            Route("GET", "/health/adapters/{name}", signedIn) { request, _, _ in
                throw HTTPError.notFound("Adapter \(request.parameter("name")) not found: Flowgate has no adapters")
            },
            Route("GET", "/health/server", signedIn) { _, _, _ in .json(server(configuration)) },
            Route("GET", "/health/system", signedIn) { _, _, _ in .json(system()) },
            Route("GET", "/applications", signedIn) { request, _, _ in list(applications.map(application), request) },
            Route("GET", "/applications/{name}", signedIn) { request, _, _ in
                .json(application(try known(request.parameter("name"))))
            },
            Route("PUT", "/applications/{name}/restart", ItentialAPI.access(["admin"])) { request, _, _ in
                let app = try known(request.parameter("name"))
                return .json([
                    "status": "success",
                    "message": .string("\(app.id) keeps no state of its own in Flowgate: there was nothing to restart"),
                ])
            },
            Route("GET", "/adapters", signedIn) { request, _, _ in list([], request) },
            Route("GET", "/adapters/{name}", signedIn) { request, _, _ in
                throw HTTPError.notFound("Adapter \(request.parameter("name")) not found: Flowgate has no adapters")
            },
        ]
    }

    static func known(_ name: String) throws -> (id: String, package: String, prefix: String, description: String) {
        guard let app = applications.first(where: { $0.id == name }) else { throw HTTPError.notFound("Application \(name) not found") }
        return app
    }

    /// `{results, total}`, filtered by `equals` + `equalsField` (default `id`) and capped by `limit`.
    static func list(_ items: [JSON], _ request: Request) -> Response {
        var results = items
        if let value = request.queryValue("equals") {
            let path = (request.queryValue("equalsField") ?? "id").split(separator: ".").map(String.init)
            results = results.filter { item in path.reduce(Optional(item)) { $0?[$1] }?.stringValue == value }
        }
        let total = results.count
        if let limit = request.queryValue("limit").flatMap(Int.init), limit > 0 { results = Array(results.prefix(limit)) }
        return .json(["results": .array(results), "total": .number(total)])
    }

    struct Health {
        let database: Bool
        let runners: Bool
    }

    /// The database answers, and the runners keep up (`RunnerQueue.keepsUp`): no runnable task
    /// waited, and no task lay abandoned by a dead runner, more than a minute.
    static func health(_ session: Session) throws -> Health {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        guard session.databaseIsReachable(now: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)) else {
            return Health(database: false, runners: false)
        }
        return Health(database: true, runners: try RunnerQueue.read(session.connection).keepsUp)
    }

    /// Needs no session, as on the platform: load balancers probe it. 503 when degraded.
    static func status(_ request: Request, _ session: Session) -> Response {
        let health = (try? health(session)) ?? Health(database: false, runners: false)
        let healthy = health.database && health.runners
        let body: JSON = [
            "host": .string(hostName), "serverId": .string(serverId), "serverName": .null,
            "services": [
                ["service": "postgresql", "status": health.database ? "running" : "failed"],
                ["service": "runners", "status": health.runners ? "running" : "failed"],
            ],
            "timestamp": .number((WallClock.now * 1000).rounded()), "apps": healthy ? "running" : "degraded", "adapters": "running",
        ]
        return .json(body, status: healthy ? 200 : 503)
    }

    static let hostName: String = {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// A stable id for this host and instance.
    static let serverId: String = {
        let seed = hostName + (ProcessInfo.processInfo.environment["FLOWGATE_INSTANCE"] ?? "")
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }()

    static func applicationHealth(_ app: (id: String, package: String, prefix: String, description: String), _ health: Health) -> JSON {
        let running = health.database && (app.id != "WorkFlowEngine" || health.runners)
        return [
            "id": .string(app.id), "package_id": .string(app.package), "version": .string(release), "type": "Application",
            "description": .string(app.description), "routePrefix": .string(app.prefix), "state": running ? "RUNNING" : "DEAD",
            "connection": ["state": running ? "ONLINE" : "OFFLINE"], "uptime": .number(processUptime()),
            "pid": .number(Int(getpid())), "timestamp": .number((WallClock.now * 1000).rounded()),
        ]
    }

    static func application(_ app: (id: String, package: String, prefix: String, description: String)) -> JSON {
        [
            "metadata": ["isActive": true, "activeSync": true],
            "data": [
                "name": .string(app.id), "model": .string(app.package), "type": "Application", "properties": [:], "isEncrypted": false,
                "loggerProps": ["description": "Logging", "log_level": "info", "console_level": "info"],
            ],
        ]
    }

    // MARK: This process and host

    /// Seconds since this process started: the host's uptime less the process's start time
    /// (field 22 of /proc/self/stat, in clock ticks since boot, after the parenthesised name).
    static func processUptime() -> Double {
        let stat = proc("self/stat")
        let fields = stat[(stat.lastIndex(of: ")").map { stat.index(after: $0) } ?? stat.startIndex)...].split(separator: " ")
        let startTicks = fields.count > 19 ? Double(fields[19]) ?? 0 : 0
        let hostUptime = proc("uptime").split(separator: " ").first.flatMap { Double($0) } ?? 0
        return max(0, ((hostUptime - startTicks / Double(max(1, sysconf(Int32(_SC_CLK_TCK))))) * 100).rounded() / 100)
    }

    static func server(_ configuration: ItentialAPI.Configuration) -> JSON {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let microseconds = { (time: timeval) in Double(time.tv_sec) * 1_000_000 + Double(time.tv_usec) }
        return [
            "version": .string(configuration.version), "release": .string(release), "arch": .string(machine()), "platform": "linux",
            "versions": ["flowgate": .string(configuration.version)],
            "memoryUsage": ["rss": .number(residentBytes())],
            "cpuUsage": ["user": .number(microseconds(usage.ru_utime)), "system": .number(microseconds(usage.ru_stime))],
            "uptime": .number(processUptime()), "pid": .number(Int(getpid())),
            "dependencies": .object(applications.map { ($0.package, .string(release)) }),
        ]
    }

    static func system() -> JSON {
        var names = utsname()
        uname(&names)
        let memory = Dictionary(
            proc("meminfo").split(separator: "\n").compactMap { line -> (String, Double)? in
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kilobytes = Double(parts[1]) else { return nil }
                return (String(parts[0].dropLast()), kilobytes * 1024)
            }, uniquingKeysWith: { first, _ in first })
        let numbers = { (file: String) in proc(file).split(separator: " ").compactMap { Double($0) } }
        return [
            "arch": .string(machine()), "release": .string(field(&names.release)), "uptime": .number(numbers("uptime").first ?? 0),
            "freemem": .number(memory["MemAvailable"] ?? 0), "totalmem": .number(memory["MemTotal"] ?? 0),
            "loadavg": .array(numbers("loadavg").prefix(3).map { .number($0) }), "cpus": .array(cpus()),
        ]
    }

    static func proc(_ file: String) -> String {
        (try? String(contentsOfFile: "/proc/" + file, encoding: .utf8)) ?? ""
    }

    /// Node's names for the machine: `x64`, `arm64`.
    static func machine() -> String {
        var names = utsname()
        uname(&names)
        switch field(&names.machine) {
        case "x86_64": return "x64"
        case "aarch64": return "arm64"
        case let other: return other
        }
    }

    /// A NUL-terminated C string field of a struct (utsname's).
    static func field<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func residentBytes() -> Double {
        let pages = proc("self/statm").split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Each CPU's model and times (milliseconds), from /proc as Node's `os.cpus()` reads them.
    static func cpus() -> [JSON] {
        let model =
            proc("cpuinfo").split(separator: "\n")
            .first { $0.hasPrefix("model name") }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let tick = 1000 / Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return proc("stat").split(separator: "\n").filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }.map { line in
            let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            let time = { (index: Int) in JSON.number(index < ticks.count ? ticks[index] * tick : 0) }
            return [
                "model": .string(model), "speed": 0,
                "times": ["user": time(0), "nice": time(1), "sys": time(2), "idle": time(3), "irq": time(5)],
            ]
        }
    }
}
