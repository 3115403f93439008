/// An API dialect the engine serves (`jobs.surface`); each keeps its own job statuses and
/// public ids. The core knows none by name: each vendor's domain module declares its own
/// (`extension SurfaceName { static let … }`) with its rules (`SurfaceRules`).
public struct SurfaceName: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
}

/// What the core needs to know of one surface: the statuses its jobs take, and how its jobs
/// move on as their tasks finish.
public struct SurfaceRules: Sendable {
    public let surface: SurfaceName
    public let lifecycle: JobLifecycle
    public let flow: any JobFlow
    /// The sequence a job's public id is the next number of, when its creator gives none;
    /// nil: 24 random hex digits.
    public let publicIdSequence: String?

    public init(surface: SurfaceName, lifecycle: JobLifecycle, flow: any JobFlow, publicIdSequence: String? = nil) {
        self.surface = surface
        self.lifecycle = lifecycle
        self.flow = flow
        self.publicIdSequence = publicIdSequence
    }
}

/// The rules of every surface a process serves, handed to the sessions and runners.
public struct SurfaceRegistry: Sendable {
    private let rules: [SurfaceName: SurfaceRules]

    public init(_ rules: [SurfaceRules]) {
        self.rules = Dictionary(rules.map { ($0.surface, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func flow(for surface: SurfaceName) throws -> any JobFlow { try self.rules(for: surface).flow }
    public func lifecycle(for surface: SurfaceName) throws -> JobLifecycle { try self.rules(for: surface).lifecycle }
    func publicIdSequence(for surface: SurfaceName) throws -> String? { try self.rules(for: surface).publicIdSequence }

    /// Each surface's statuses in which a job has stopped without ending (see `JobLifecycle`).
    var stalled: (surfaces: [String], statuses: [String]) {
        let pairs = rules.values.flatMap { rule in rule.lifecycle.stalled.map { (rule.surface.rawValue, $0) } }.sorted { $0 < $1 }
        return (pairs.map(\.0), pairs.map(\.1))
    }

    private func rules(for surface: SurfaceName) throws -> SurfaceRules {
        guard let found = rules[surface] else { throw EngineError(.invalid, "No rules for surface \(surface.rawValue)") }
        return found
    }
}
