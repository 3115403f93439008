import Engine

/// The Scale domain's services on a thread's session.
extension Session {
    public var workspaces: Workspaces { Workspaces(connection: connection) }
    public var jobTypes: JobTypes { JobTypes(connection: connection) }
    public var scaleJobs: ScaleJobs { ScaleJobs(connection: connection, jobs: jobs) }
    public var scaleCounts: ScaleCounts { ScaleCounts(connection: connection) }
}
