import Engine

/// The Scale domain's services on a thread's session.
extension Session {
    public var workspaces: Workspaces { Workspaces(connection: connection) }
    public var jobTypes: JobTypes { JobTypes(connection: connection) }
    public var scaleJobs: ScaleJobs { ScaleJobs(connection: connection, jobs: jobs) }
    public var scaleCounts: ScaleCounts { ScaleCounts(connection: connection) }
}

/// The runners' duty for Scale: claims whose worker stopped reporting go back to the queue, or
/// fail once their job has used its tries.
public struct ScaleClaimLeases: TimedDuty {
    public let name = "scale claim leases"

    public init() {}

    public func run(_ session: Session, owner: String) throws {
        try session.scaleJobs.expireLapsedClaims(by: owner)
    }
}
