import CoreMetrics
import Engine
import Foundation
import HTTP
import Prometheus
import Synchronization

/// The metrics backend: every module counts through swift-metrics, and this process keeps the
/// counts in a Prometheus registry that `GET /flowgate/v1/metrics` renders. Each series carries
/// `flowgate_instance`, since nginx puts every instance behind one address. README lists them.
package enum Telemetry {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    /// Once per process (later calls do nothing), before any metric is made.
    package static func bootstrap(instance: String) {
        guard
            bootstrapped.withLock({ done in
                defer { done = true }
                return !done
            })
        else { return }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.nameAndLabelSanitizer = { name, labels in (name, labels + [("flowgate_instance", instance)]) }
        MetricsSystem.bootstrap(factory)
        RequestMetrics.forgetHandles()
    }

    /// What a scrape answers: the work as the database has it and this process's own figures,
    /// read now, then everything counted since the process started.
    package static func export(_ session: Session) throws -> [UInt8] {
        record(try WorkGauges.read(session.connection))
        ProcessFigures.read()?.record()
        return registry.emitToBuffer()
    }

    /// Job counts by surface and status; a pair seen before and now gone reads 0.
    private static let seenJobCounts = Mutex(Set<[String]>())

    static func record(_ work: WorkGauges) {
        let counts = Dictionary(work.jobs.map { ([$0.surface, $0.status], $0.count) }, uniquingKeysWith: +)
        let pairs = seenJobCounts.withLock { seen in
            seen.formUnion(counts.keys)
            return seen
        }
        for pair in pairs {
            Gauge(label: "flowgate_jobs", dimensions: [("surface", pair[0]), ("status", pair[1])]).record(counts[pair] ?? 0)
        }
        Gauge(label: "flowgate_runner_ready_tasks").record(work.queue.readyTasks)
        Gauge(label: "flowgate_runner_oldest_ready_task_age_seconds").record(work.queue.oldestReadySeconds)
        Gauge(label: "flowgate_runner_abandoned_tasks").record(work.queue.abandonedTasks)
    }
}

/// This process as Linux reports it in /proc/self (no swift-metrics package reads these on
/// Linux): memory, threads, descriptors, CPU time and start time, under Prometheus' usual names.
struct ProcessFigures {
    let residentBytes: Double
    let virtualBytes: Double
    let threads: Double
    let openDescriptors: Double
    let cpuSeconds: Double
    let startTimeSeconds: Double

    /// nil when /proc cannot be read (then the figures are left out, not made up).
    static func read() -> ProcessFigures? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let fields = parse(stat: stat),
            let boot = try? String(contentsOfFile: "/proc/stat", encoding: .utf8)
                .split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
                .flatMap({ Double($0.dropFirst(6)) }),
            let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        return ProcessFigures(
            residentBytes: fields.residentPages * page, virtualBytes: fields.virtualBytes, threads: fields.threads,
            openDescriptors: Double(descriptors.count), cpuSeconds: fields.cpuTicks / ticks,
            startTimeSeconds: boot + fields.startTicks / ticks)
    }

    /// The fields of /proc/self/stat after the command name (which may hold spaces and
    /// parentheses, so the split starts after its last `)`); see proc(5).
    static func parse(stat: String) -> (cpuTicks: Double, threads: Double, startTicks: Double, virtualBytes: Double, residentPages: Double)?
    {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is the first after the name; proc(5) numbers from 1.
        let fields = stat[stat.index(after: close)...].split(separator: " ").map { Double($0) }
        func field(_ number: Int) -> Double? { fields.indices.contains(number - 3) ? fields[number - 3] : nil }
        guard let user = field(14), let system = field(15), let threads = field(20), let start = field(22),
            let virtual = field(23), let resident = field(24)
        else { return nil }
        return (user + system, threads, start, virtual, resident)
    }

    /// CPU time is a counter: it grows by what was used since the last scrape.
    private static let countedCPUSeconds = Mutex(0.0)

    func record() {
        Gauge(label: "process_resident_memory_bytes").record(residentBytes)
        Gauge(label: "process_virtual_memory_bytes").record(virtualBytes)
        Gauge(label: "process_threads").record(threads)
        Gauge(label: "process_open_fds").record(openDescriptors)
        Gauge(label: "process_start_time_seconds").record(startTimeSeconds)
        let used = Self.countedCPUSeconds.withLock { counted in
            defer { counted = max(counted, cpuSeconds) }
            return max(0, cpuSeconds - counted)
        }
        FloatingPointCounter(label: "process_cpu_seconds_total").increment(by: used)
    }
}
