import Engine

/// The Itential domain's services on a thread's session.
extension Session {
    public var itentialWorkflows: ItentialWorkflows { ItentialWorkflows(connection: connection) }
    public var itentialJobs: ItentialJobs { ItentialJobs(connection: connection, jobs: jobs) }
    public var itentialAutomations: ItentialAutomations { ItentialAutomations(connection: connection) }
    public var itentialTriggers: ItentialTriggers { ItentialTriggers(connection: connection, surfaces: surfaces) }
    public var itentialMetrics: ItentialMetrics { ItentialMetrics(connection: connection) }
    public var itentialManualTasks: ItentialManualTasks { ItentialManualTasks(connection: connection, surfaces: surfaces) }
}
