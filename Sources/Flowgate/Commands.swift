import Engine
import FastCGI
import FlowgateApp
import Glibc
import Log
import Postgres

/// The `flowgate` subcommands. Each returns the process exit status.
enum Commands {
    static let usage = """
        usage: flowgate COMMAND
          serve                      run the FastCGI server in a worker process that is restarted when it
                                     dies (refuses while migrations are pending)
          migrate                    apply pending migrations, refresh report views, create the history
                                     partitions of the months ahead
          prune --before DATE [--surface S] [--events keep|detach|drop]
                                     delete jobs that ended before DATE (YYYY-MM-DD, UTC, or ISO time) with
                                     their tasks and holds; their events are kept (default), or the month
                                     partitions before DATE are detached as tables or dropped
          user add NAME --password P [--email E] [--role R]... [--privilege P]... [--group G]...
          ensure-admin               create user 'admin' with every role and privilege if no admin exists
                                     (password from FLOWGATE_ADMIN_PASSWORD, default 'admin')
          token issue NAME           print a new token for user NAME
          statement NAME             print the SQL of a benchmarked route, for ops/bench
                                     (authenticate, scale-job-types-page, scale-claim)
          version
        configuration comes from FLOWGATE_* environment variables (see README.md)
        """

    static func run(_ arguments: [String], _ configuration: Configuration) -> Int32 {
        do {
            switch arguments.first {
            case "serve": return try serve(configuration)
            case "migrate": return try migrate(configuration)
            case "prune": return try prune(Array(arguments.dropFirst()), configuration)
            case "user" where arguments.dropFirst().first == "add": return try addUser(Array(arguments.dropFirst(2)), configuration)
            case "ensure-admin": return try ensureAdmin(configuration)
            case "token" where arguments.dropFirst().first == "issue" && arguments.count == 3:
                return try issueToken(arguments[2], configuration)
            case "statement" where arguments.count == 2:
                guard let statement = BenchmarkedStatements.all.first(where: { $0.name == arguments[1] }) else {
                    print(usage)
                    return 2
                }
                print(statement.sql + ";")
                return 0
            case "version":
                print(Configuration.version)
                return 0
            default:
                print(usage)
                return 2
            }
        } catch let error as EngineError {
            Log.error("refused", [("reason", error.message)])
            return 1
        } catch {
            Log.error("failed", [("error", "\(error)")])
            return 1
        }
    }

    static func migrator(_ configuration: Configuration) throws -> Migrator {
        try Migrator(
            migrationsDirectory: configuration.sqlDirectory + "/migrations",
            reportsDirectory: configuration.sqlDirectory + "/reports")
    }

    static func migrate(_ configuration: Configuration) throws -> Int32 {
        let connection = try Connection(conninfo: configuration.conninfo)
        let applied = try migrator(configuration).migrate(on: connection)
        let partitions = try History.ensurePartitions(on: connection)
        Log.info(
            applied.isEmpty ? "database is up to date" : "migrations applied",
            [("applied", applied.joined(separator: ",")), ("history_partitions_created", String(partitions))])
        return 0
    }

    static func prune(_ arguments: [String], _ configuration: Configuration) throws -> Int32 {
        var before: Double?
        var surface: SurfaceName?
        var events = History.EventPolicy.keep
        var index = 0
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--before":
                before = Timestamp.parse(value.count == 10 ? value + "T00:00:00Z" : value)
            case "--surface":
                // A misspelt surface would prune nothing and say it succeeded.
                guard (try? Wiring.surfaces.lifecycle(for: SurfaceName(rawValue: value))) != nil else {
                    print("unknown surface '\(value)'")
                    return usageError()
                }
                surface = SurfaceName(rawValue: value)
            case "--events":
                guard let policy = History.EventPolicy(rawValue: value) else { return usageError() }
                events = policy
            default: return usageError()
            }
            index += 2
        }
        guard let before, index == arguments.count else { return usageError() }
        let connection = try Connection(conninfo: configuration.conninfo)
        let result = try History.prune(before: before, surface: surface, events: events, on: connection)
        Log.info(
            "pruned",
            [
                ("jobs", String(result.jobs)), ("events", events.rawValue),
                ("partitions", result.partitions.joined(separator: ",")),
            ])
        return 0
    }

    private static func usageError() -> Int32 {
        print(usage)
        return 2
    }

    /// The supervisor (checks migrations, opens the socket, keeps a worker running), or, when
    /// started by one, the worker: the FastCGI server and the runner on the inherited socket.
    static func serve(_ configuration: Configuration) throws -> Int32 {
        if let descriptor = getenv(Supervisor.listenDescriptorVariable).flatMap({ Int32(String(cString: $0)) }) {
            Supervisor.bindToSupervisor()
            return try serveWorker(configuration, listener: .inherited(descriptor))
        }
        let connection = try Connection(conninfo: configuration.conninfo)
        let pending = try migrator(configuration).pending(on: connection)
        guard pending.isEmpty else {
            Log.error(
                "refusing to serve: migrations are pending; run `flowgate migrate` first",
                [("pending", pending.map(\.fileStem).joined(separator: ","))])
            return 3
        }
        connection.close()
        return try Supervisor(address: configuration.listen, webSocketAddress: configuration.webSocketListen).run()
    }

    static func serveWorker(_ configuration: Configuration, listener: Listener) throws -> Int32 {
        Connection.defaultPatience = configuration.databaseRetrySeconds
        let application = Wiring.application(configuration)
        let conninfo = configuration.conninfo
        let server = FastCGIServer(
            listener: listener, workerCount: configuration.workers,
            bodyLimit: configuration.bodyLimit
        ) { _ in
            // Connect lazily: a worker that starts while the database is down answers 503s.
            HTTPBridge(application: application, session: Session(connectingLater: conninfo, surfaces: Wiring.surfaces))
        }
        var services: [any Service] = [server, HistoryMaintenance(conninfo: conninfo)] + Wiring.runners(configuration)
        if let descriptor = getenv(Supervisor.webSocketDescriptorVariable).flatMap({ Int32(String(cString: $0)) }) {
            services.append(LiveNotifications(configuration, listener: .inherited(descriptor)))
        }
        return try Lifecycle.run(services: services) {
            Log.info(
                "serving",
                [
                    ("listen", "\(configuration.listen)"), ("workers", String(configuration.workers)),
                    ("runners", String(configuration.runners)), ("version", Configuration.version),
                ])
            Supervisor.reportServing()
        }
    }

    static func addUser(_ arguments: [String], _ configuration: Configuration) throws -> Int32 {
        guard let name = arguments.first, !name.hasPrefix("--") else {
            print(usage)
            return 2
        }
        var new = NewUser(username: name, password: "")
        var index = 1
        while index < arguments.count {
            guard index + 1 < arguments.count else {
                print(usage)
                return 2
            }
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--password": new.password = value
            case "--email": new.email = value
            case "--role": new.roles.append(value)
            case "--privilege": new.privileges.append(value)
            case "--group": new.groups.append(value)
            default:
                print(usage)
                return 2
            }
            index += 2
        }
        let session = try Session(conninfo: configuration.conninfo)
        let user = try session.accounts.create(new)
        print("created user \(user.username) (account \(user.accountId))")
        return 0
    }

    static func ensureAdmin(_ configuration: Configuration) throws -> Int32 {
        let session = try Session(conninfo: configuration.conninfo)
        if try session.accounts.anyActiveAdminExists() {
            print("an admin user exists")
            return 0
        }
        let password = getenv("FLOWGATE_ADMIN_PASSWORD").map { String(cString: $0) } ?? "admin"
        _ = try session.accounts.create(
            NewUser(
                username: "admin", password: password.isEmpty ? "admin" : password,
                roles: AccessNames.roles, privileges: AccessNames.privileges))
        print("created user admin")
        return 0
    }

    static func issueToken(_ name: String, _ configuration: Configuration) throws -> Int32 {
        let session = try Session(conninfo: configuration.conninfo)
        guard let issued = try session.accounts.issueToken(username: name, lifetimeSeconds: configuration.tokenLifetimeSeconds) else {
            Log.error("no active user", [("username", name)])
            return 1
        }
        print(issued.token)
        return 0
    }
}
