import ArgumentParser
import Engine
import FastCGI
import FlowgateApp
import Glibc
import Logging
import Postgres

/// The `flowgate` command line (swift-argument-parser: `--help` on every command, options
/// checked before anything runs, usage errors exit 64). Each subcommand's work is a
/// `Commands` function returning the exit status.
struct FlowgateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowgate", abstract: "Flowgate, a job and workflow server behind nginx (FastCGI) on PostgreSQL.",
        discussion: "Configuration comes from FLOWGATE_* environment variables (see README.md).",
        version: Configuration.version,
        subcommands: [
            Serve.self, Migrate.self, Prune.self, UserCommand.self, EnsureAdmin.self, TokenCommand.self, StatementCommand.self,
            VersionCommand.self,
        ])

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the FastCGI server in a worker process that is restarted when it dies.",
            discussion: "Refuses (exit 3) while migrations are pending. SIGHUP replaces the worker, SIGTERM stops.")

        func run() throws { try Commands.exit { try Commands.serve($0) } }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply pending migrations, refresh the report views, create the history partitions of the months ahead.")

        func run() throws { try Commands.exit { try Commands.migrate($0) } }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete jobs that ended before a date, with their tasks and holds.",
            discussion: "Their events are kept (default), or the month partitions before the date are detached as tables or dropped.")

        @Option(help: "A date (YYYY-MM-DD, UTC) or an ISO-8601 time.") var before: String
        @Option(help: "Only this surface's jobs.") var surface: String?
        @Option(help: "What becomes of their events: keep, detach or drop.") var events: History.EventPolicy = .keep

        var cutoff: Double? { Timestamp.parse(before.count == 10 ? before + "T00:00:00Z" : before) }

        func validate() throws {
            guard cutoff != nil else { throw ValidationError("--before must be a date (YYYY-MM-DD) or an ISO-8601 time") }
            // A misspelt surface would prune nothing and say it succeeded.
            if let surface, (try? Wiring.surfaces.lifecycle(for: SurfaceName(rawValue: surface))) == nil {
                throw ValidationError("unknown surface '\(surface)'")
            }
        }

        func run() throws {
            try Commands.exit {
                try Commands.prune(before: cutoff ?? 0, surface: surface.map(SurfaceName.init(rawValue:)), events: events, $0)
            }
        }
    }

    struct UserCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage users.", subcommands: [Add.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a user.")

            @Argument(help: "The username.") var name: String
            @Option(help: "The password.") var password: String
            @Option(help: "The e-mail address.") var email: String?
            @Option(name: .customLong("role"), help: "A role (repeatable).") var roles: [String] = []
            @Option(name: .customLong("privilege"), help: "A Workflow Manager privilege (repeatable).") var privileges: [String] = []
            @Option(name: .customLong("group"), help: "A group (repeatable).") var groups: [String] = []

            func run() throws {
                var new = NewUser(username: name, password: password)
                (new.email, new.roles, new.privileges, new.groups) = (email, roles, privileges, groups)
                try Commands.exit { try Commands.addUser(new, $0) }
            }
        }
    }

    struct EnsureAdmin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create user 'admin' with every role and privilege if no admin exists.",
            discussion: "The password comes from FLOWGATE_ADMIN_PASSWORD (default 'admin').")

        func run() throws { try Commands.exit { try Commands.ensureAdmin($0) } }
    }

    struct TokenCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage tokens.", subcommands: [Issue.self])

        struct Issue: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print a new token for a user.")

            @Argument(help: "The username.") var name: String

            func run() throws { try Commands.exit { try Commands.issueToken(name, $0) } }
        }
    }

    struct StatementCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "statement", abstract: "Print the SQL of a benchmarked route, for ops/bench.",
            discussion: "Names: " + BenchmarkedStatements.all.map(\.name).joined(separator: ", "))

        @Argument(help: "The statement's name.") var name: String

        func validate() throws {
            guard BenchmarkedStatements.all.contains(where: { $0.name == name }) else { throw ValidationError("no statement '\(name)'") }
        }

        func run() throws {
            if let statement = BenchmarkedStatements.all.first(where: { $0.name == name }) { print(statement.sql + ";") }
        }
    }

    struct VersionCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

        func run() throws { print(Configuration.version) }
    }
}

extension History.EventPolicy: ExpressibleByArgument {}

/// What the subcommands do, given the configuration from the environment.
enum Commands {
    /// Runs `body` and exits with its status; a refusal or failure is logged and exits 1.
    static func exit(_ body: (Configuration) throws -> Int32) throws {
        let status: Int32
        do {
            status = try body(Configuration.fromEnvironment())
        } catch let error as EngineError {
            log.error("refused", metadata: ["reason": "\(error.message)"])
            status = 1
        } catch {
            log.error("failed", metadata: ["error": "\(error)"])
            status = 1
        }
        if status != 0 { throw ExitCode(status) }
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
        log.notice(
            applied.isEmpty ? "database is up to date" : "migrations applied",
            metadata: ["applied": "\(applied.joined(separator: ","))", "history_partitions_created": "\(partitions)"])
        return 0
    }

    static func prune(before: Double, surface: SurfaceName?, events: History.EventPolicy, _ configuration: Configuration) throws
        -> Int32
    {
        let connection = try Connection(conninfo: configuration.conninfo)
        let result = try History.prune(before: before, surface: surface, events: events, on: connection)
        log.notice(
            "pruned",
            metadata: [
                "jobs": "\(result.jobs)", "events": "\(events.rawValue)", "partitions": "\(result.partitions.joined(separator: ","))",
            ])
        return 0
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
            log.error(
                "refusing to serve: migrations are pending; run `flowgate migrate` first",
                metadata: ["pending": "\(pending.map(\.fileStem).joined(separator: ","))"])
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
            log.notice(
                "serving",
                metadata: [
                    "listen": "\(configuration.listen)", "workers": "\(configuration.workers)", "runners": "\(configuration.runners)",
                    "version": "\(Configuration.version)",
                ])
            Supervisor.reportServing()
        }
    }

    static func addUser(_ new: NewUser, _ configuration: Configuration) throws -> Int32 {
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
            log.error("no active user", metadata: ["username": "\(name)"])
            return 1
        }
        print(issued.token)
        return 0
    }
}
