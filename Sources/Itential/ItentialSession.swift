import Engine

/// The Itential domain's services on a thread's session.
extension Session {
    public var itentialWorkflows: ItentialWorkflows { ItentialWorkflows(connection: connection) }
    public var itentialJobs: ItentialJobs { ItentialJobs(connection: connection, jobs: jobs) }
    public var itentialManualTasks: ItentialManualTasks { ItentialManualTasks(connection: connection, surfaces: surfaces) }
}
