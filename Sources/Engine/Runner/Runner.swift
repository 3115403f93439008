import CoreMetrics
import Foundation
import Glibc
import JSON
import Logging
import Postgres

/// Runs automatic tasks in the background of every Flowgate instance.
///
/// Each thread has its own connection and loops: lease a task (`FOR UPDATE SKIP LOCKED`, so any
/// number of runners in any number of instances share the queue without running a task twice),
/// run it outside any transaction, then commit its result and move its job on. A lease that
/// expires (its instance died mid-task) makes the task runnable again for another runner. Idle
/// threads sleep until `NOTIFY flowgate_tasks` or the polling interval, whichever comes first.
public final class Runner: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var conninfo: String
        /// Names the runner in leases and history, e.g. `runner:flowgate-1`.
        public var owner: String
        public var threads: Int
        public var leaseSeconds: Int
        public var pollIntervalMilliseconds: Int32
        /// At most this many tasks of one job owner run at once on runners of these kinds.
        public var runsPerOwner: Int?

        public init(
            conninfo: String, owner: String, threads: Int = 2, leaseSeconds: Int = 30,
            pollIntervalMilliseconds: Int32 = 1000, runsPerOwner: Int? = nil
        ) {
            self.conninfo = conninfo
            self.owner = owner
            self.threads = threads
            self.leaseSeconds = leaseSeconds
            self.pollIntervalMilliseconds = pollIntervalMilliseconds
            self.runsPerOwner = runsPerOwner
        }
    }

    public let configuration: Configuration
    private let kinds: TaskKindRegistry
    private let surfaces: SurfaceRegistry
    private let duties: [any TimedDuty]
    private let running = RunningTasks()
    private let finished = DispatchGroup()
    // Written once by stop(); threads re-read it at least every poll interval.
    private nonisolated(unsafe) var stopping = false

    private let logger: Logger
    private let counts: TaskCounts

    public init(_ configuration: Configuration, kinds: TaskKindRegistry, surfaces: SurfaceRegistry, duties: [any TimedDuty] = []) {
        self.configuration = configuration
        self.kinds = kinds
        self.surfaces = surfaces
        self.duties = duties
        var logger = Logger(label: "flowgate.runner")
        logger[metadataKey: "runner"] = "\(configuration.owner)"
        self.logger = logger
        counts = TaskCounts(runner: String(configuration.owner.prefix { $0 != ":" }))
    }

    /// What the runner did with tasks, by kind of runner (`runner`, `sandbox`; README lists them).
    struct TaskCounts {
        let leased: Counter
        let takenOver: Counter
        let succeeded: Counter
        let failed: Counter
        let waiting: Counter
        let discarded: Counter

        init(runner: String) {
            leased = Counter(label: "flowgate_runner_tasks_leased_total", dimensions: [("runner", runner)])
            takenOver = Counter(label: "flowgate_runner_tasks_taken_over_total", dimensions: [("runner", runner)])
            func finished(_ outcome: String) -> Counter {
                Counter(label: "flowgate_runner_tasks_finished_total", dimensions: [("runner", runner), ("outcome", outcome)])
            }
            (succeeded, failed, waiting, discarded) = (
                finished("succeeded"), finished("failed"), finished("waiting"), finished("discarded")
            )
        }

        func finished(_ outcome: TaskOutcome, kept: Bool) {
            guard kept else { return discarded.increment() }
            switch outcome {
            case .succeeded: succeeded.increment()
            case .failed: failed.increment()
            case .spawned, .sleeping: waiting.increment()
            }
        }
    }

    public func start() {
        for index in 0..<configuration.threads {
            finished.enter()
            let thread = Thread { [self] in
                loop(thread: index)
                finished.leave()
            }
            thread.name = "runner-\(index)"
            thread.start()
        }
        // A runner without threads (an instance that only serves requests) does no duties either.
        guard configuration.threads > 0 else { return }
        finished.enter()
        let heartbeat = Thread { [self] in
            renewLeases()
            finished.leave()
        }
        heartbeat.name = "runner-leases"
        heartbeat.start()
        guard !duties.isEmpty else { return }
        finished.enter()
        let timer = Thread { [self] in
            runDuties()
            finished.leave()
        }
        timer.name = "runner-duties"
        timer.start()
    }

    public func stop() { stopping = true }

    public func waitUntilStopped() { finished.wait() }

    private func loop(thread index: Int) {
        var connection: Connection?
        while !stopping {
            do {
                if connection == nil {
                    let fresh = try Connection(conninfo: configuration.conninfo)
                    try fresh.keep("LISTEN flowgate_tasks")
                    connection = fresh
                }
                guard let connection else { continue }
                while !stopping, try runNextTask(on: connection) {}
                wait(on: connection)
            } catch {
                logger.info("runner error; reconnecting", metadata: ["thread": "\(index)", "error": "\(error)"])
                connection?.close()
                connection = nil
                usleep(UInt32(configuration.pollIntervalMilliseconds) * 1000)
            }
        }
        connection?.close()
    }

    /// Renews the leases of running tasks three times per lease period, on a connection of its
    /// own (the runner threads' connections are busy while their tasks run).
    private func renewLeases() {
        let interval = max(0.1, Double(configuration.leaseSeconds) / 3)
        var connection: Connection?
        var next = Date()
        // Runner threads finish their current task after stop(): their leases stay renewed.
        while !stopping || !running.snapshot.isEmpty {
            if Date() >= next {
                next = Date().addingTimeInterval(interval)
                let tasks = running.snapshot
                if !tasks.isEmpty {
                    do {
                        if connection == nil { connection = try Connection(conninfo: configuration.conninfo) }
                        // A transaction, so that a lost connection renews on a new one at once.
                        try connection?.transaction { tx in
                            try tx.run(
                                JobQueries.renewLeases, configuration.owner, configuration.leaseSeconds,
                                "{" + tasks.map { String($0.id) }.joined(separator: ",") + "}",
                                "{" + tasks.map { String($0.attempt) }.joined(separator: ",") + "}")
                        }
                    } catch {
                        logger.info("lease renewal failed", metadata: ["error": "\(error)"])
                        connection?.close()
                        connection = nil
                    }
                }
            }
            // Short sleeps, so that stop() is noticed quickly.
            usleep(UInt32(min(interval, 0.1) * 1_000_000))
        }
        connection?.close()
    }

    /// Does the timed duties' due work every poll interval, on a session of its own; a lost
    /// connection is reopened at the next round.
    private func runDuties() {
        var session: Session?
        while !stopping {
            for duty in duties {
                do {
                    if session == nil { session = try Session(conninfo: configuration.conninfo, surfaces: surfaces) }
                    if let session { try duty.run(session, owner: configuration.owner) }
                } catch {
                    logger.info("\(duty.name) failed; reconnecting", metadata: ["error": "\(error)"])
                    session?.connection.close()
                    session = nil
                }
            }
            var slept: Int32 = 0
            while !stopping, slept < configuration.pollIntervalMilliseconds {
                usleep(UInt32(min(100, configuration.pollIntervalMilliseconds - slept)) * 1000)
                slept += 100
            }
        }
        session?.connection.close()
    }

    /// Sleeps until a notification arrives or the poll interval passes.
    private func wait(on connection: Connection) {
        var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, configuration.pollIntervalMilliseconds) > 0 {
            _ = try? connection.drainNotifications()
        }
    }

    /// Leases, runs and finishes one task; false when nothing was runnable.
    @discardableResult
    public func runNextTask(on connection: Connection) throws -> Bool {
        let owner = configuration.owner
        guard
            let task = try connection.transaction({ tx in
                try StateMachine(tx, surfaces: surfaces).leaseNextTask(
                    kinds: kinds.names, owner: owner, leaseSeconds: configuration.leaseSeconds,
                    runsPerOwner: configuration.runsPerOwner)
            })
        else { return false }
        counts.leased.increment()
        if task.takenOverFrom != nil { counts.takenOver.increment() }
        var logger = logger
        logger[metadataKey: "task"] = "\(task.id)"
        logger[metadataKey: "job"] = "\(task.jobId)"
        logger.debug("task leased", metadata: ["kind": "\(task.kind)", "attempt": "\(task.attempt)"])
        connection.logger = logger
        defer { connection.logger = Connection.logger }
        running.insert(task)
        defer { running.remove(task) }
        let outcome = try run(task, on: connection)
        let kept = try connection.transaction { tx in
            try StateMachine(tx, surfaces: surfaces).recordingTogether {
                try $0.finishLeasedTask(task, owner: owner, outcome: outcome, surfaces: surfaces)
            }
        }
        counts.finished(outcome, kept: kept)
        if !kept { logger.warning("lease lost; result discarded") }
        return true
    }

    /// Runs a leased task's code without holding a transaction open.
    func run(_ task: LeasedTask, on connection: Connection) throws -> TaskOutcome {
        guard let kind = kinds.kind(named: task.kind) else { return .failed("Unknown task kind \(task.kind)") }
        var upstream: [String: JSON] = [:]
        for (key, output) in try connection.rows(JobQueries.upstreamOutputs, task.jobId) { upstream[key] = output }
        let job = try connection.first(JobQueries.jobOfTask, task.jobId)
        let surface = job?.job.surface
        let document = job?.document ?? [:]
        let files = Files(connection: connection)
        var context = TaskContext(input: task.input, upstream: upstream, jobVariables: document["variables"] ?? [:]) { name in
            guard let surface else { return nil }
            return try files.module(surface: surface, name: name)
        }
        context.task.key = task.key
        context.task.iteration = task.iteration
        context.task.pastIterations = task.pastIterations
        context.task.job = document
        context.task.woken = task.woken
        if task.waitedForChildren {
            context.task.children = try connection.rows(JobQueries.childJobs, task.id)
        }
        context.task.workflow = { name in
            guard let surface else { return nil }
            return try connection.first(JobQueries.workflowByName, surface.rawValue, name)
        }
        return kind.run(context)
    }
}

/// The tasks an instance's runner threads hold leases on right now.
final class RunningTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var attempts: [Int64: Int] = [:]

    func insert(_ task: LeasedTask) {
        lock.withLock { attempts[task.id] = task.attempt }
    }

    func remove(_ task: LeasedTask) {
        lock.withLock { _ = attempts.removeValue(forKey: task.id) }
    }

    var snapshot: [(id: Int64, attempt: Int)] {
        lock.withLock { attempts.map { ($0.key, $0.value) } }
    }
}
