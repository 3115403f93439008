import Engine
import JSON
import Postgres

/// WorkFlowEngine's job and task metrics, computed from history: per workflow, how many of
/// its jobs ran and completed and how long the completed ones took; per task (across
/// workflows, `global`, and per workflow task) how often it succeeded and erred and how long
/// its successes took. Only the jobs the caller may reach count. Each list pages with the
/// catalogue grammar (`equals`/`contains`/`startsWith` on `workflow.name`, `app`, `name`, …).
public struct ItentialMetrics {
    let connection: Connection

    public func jobs(_ query: ItentialCatalogQuery) throws -> ItentialSearch.Page<JSON> {
        try query.run(Self.jobPage, Self.jobCount, on: connection)
    }

    public func tasks(_ query: ItentialCatalogQuery) throws -> ItentialSearch.Page<JSON> {
        try query.run(Self.taskPage, Self.taskCount, on: connection)
    }

    // MARK: Statements

    static let visible = "($1::text[] IS NULL OR coalesce(j.document -> 'groups', '[]') = '[]' OR j.document -> 'groups' ?| $1::text[])"
    static func milliseconds(_ interval: String) -> String { "round(extract(epoch FROM \(interval)) * 1000)" }

    /// One row per workflow name (a deleted workflow's jobs keep theirs).
    static let jobMetrics = """
        SELECT min(j.id) AS id, jsonb_build_object(
            '_id', coalesce(max(w.public_id), j.name), 'workflow', jsonb_build_object('name', j.name),
            'jobsComplete', count(*) FILTER (WHERE j.status = 'complete'),
            'totalRunTime', coalesce(sum(\(milliseconds("j.finished_at - coalesce(j.started_at, j.created_at)"))) FILTER (WHERE j.status = 'complete'), 0),
            'metrics', jsonb_build_array(jsonb_build_object(
                'jobsTotal', count(*), 'jobsRunning', count(*) FILTER (WHERE j.status = 'running'),
                'jobsPaused', count(*) FILTER (WHERE j.status = 'paused'), 'jobsError', count(*) FILTER (WHERE j.status = 'error'),
                'jobsCanceled', count(*) FILTER (WHERE j.status = 'canceled'),
                'jobsComplete', count(*) FILTER (WHERE j.status = 'complete'), 'slaTargetsMissed', 0))) AS document
        FROM jobs j LEFT JOIN workflows w ON w.id = j.workflow_id
        WHERE j.surface = 'itential' AND \(visible)
        GROUP BY j.name
        """
    /// Each task's current iteration; the start and end markers are no tasks of their own.
    static let taskRuns = """
        SELECT t.id, j.name AS workflow, t.key, t.input ->> 'app' AS app, t.input ->> 'name' AS name,
            CASE WHEN t.automatic THEN 'automatic' ELSE 'manual' END AS task_type, t.status,
            \(milliseconds("t.finished_at - coalesce(t.started_at, t.ready_at)")) AS run_time
        FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE j.surface = 'itential' AND t.kind <> 'itential:marker' AND \(visible)
        """
    static let taskTotals = """
        jsonb_build_array(jsonb_build_object(
            'totalSuccesses', count(*) FILTER (WHERE status = 'succeeded'), 'totalErrors', count(*) FILTER (WHERE status = 'failed'),
            'totalSuccessRunTime', coalesce(sum(run_time) FILTER (WHERE status = 'succeeded'), 0)))
        """
    static let taskMetrics = """
        WITH runs AS (\(taskRuns))
        SELECT min(id) AS id, jsonb_build_object('_id', app || '/' || name || '/' || task_type, 'global', true, 'app', app, 'name', name,
            'taskType', task_type, 'workflow', NULL, 'metrics', \(taskTotals)) AS document
        FROM runs GROUP BY app, name, task_type
        UNION ALL
        SELECT min(id), jsonb_build_object('_id', workflow || '/' || key, 'global', false, 'app', app, 'name', name, 'taskType', task_type,
            'workflow', jsonb_build_object('name', workflow), 'taskId', key, 'metrics', \(taskTotals))
        FROM runs GROUP BY workflow, key, app, name, task_type
        """
    static let jobPage = ItentialCatalogQuery.page("itential_job_metrics_page", rows: jobMetrics)
    static let jobCount = ItentialCatalogQuery.count("itential_job_metrics_count", rows: jobMetrics)
    static let taskPage = ItentialCatalogQuery.page("itential_task_metrics_page", rows: taskMetrics)
    static let taskCount = ItentialCatalogQuery.count("itential_task_metrics_count", rows: taskMetrics)
}

extension ItentialMetrics: StatementCatalog {
    package static var statements: [Statement] { [jobPage.statement, jobCount.statement, taskPage.statement, taskCount.statement] }
}
