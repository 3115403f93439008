import Engine
import FlowgateApp
import Itential
import JSON
import Scale
import WorkflowManager

/// The SQL behind the routes `ops/bench` measures, so that pgbench runs exactly what Flowgate
/// runs (`flowgate statement NAME`; the placeholders are for the caller to fill).
public enum BenchmarkedStatements {
    public static let all: [(name: String, purpose: String, sql: String)] = [
        ("authenticate", "whoami: $1 = token", AccountQueries.userByToken.sql),
        (
            "scale-job-types-page", "GET /v6/job-types/: $1-$4 filters (NULL), $5 limit, $6 offset",
            (try? JobTypes.listSQL(order: JobTypes.defaultOrder)) ?? ""
        ),
        ("scale-claim", "POST /v6/jobs/claim/: $1 = worker name", ScaleJobQueries.claim.sql),
        ("wm-item", "job action: $1 = org id, $2 = item id", WorkflowItems.itemById.sql),
        ("wm-lock", "job action: $1 = item key, $2 = job id", StepQueries.lockJob.sql),
        ("wm-read", "job action: $1 = item key, $2 = job id", StepQueries.readJob.sql),
        (
            "wm-apply-run", "Run on a one-step loop: $1 = job key, $3/$4 = actor id/name, $5 = job id",
            StepQueries.applyingPlan(of: .run, after: .ready)
        ),
        ("wm-apply-finish", "Finish on a one-step loop: same placeholders", StepQueries.applyingPlan(of: .finish, after: .running)),
        ("itential-claim", "claimJob: $1 = job id, $2 = claimant, $3/$4/$5 = caller id, name, account id", ItentialJobs.claim.sql),
        // jobs/start, in the order the route runs them (see ops/bench).
        ("itential-workflow", "jobs/start: $1 = workflow name", ItentialWorkflows.byName.sql),
        ("job-insert", "jobs/start: see JobQueries.insertJob", JobQueries.insertJob.sql),
        ("event-insert", "history rows: $1 = the events as a JSON array (see JobEvent)", JobEvents.insert.sql),
        ("tasks-insert", "$1 = job key, $2 = tasks as JSON", JobQueries.insertTasks.sql),
        ("task-set-finish-state", "$1 = task key, $2 = finish state", JobQueries.setFinishState.sql),
        ("task-lock", "$1 = task key, $2 = job key", JobQueries.lockTask.sql),
        ("task-set-status", "$1 = task key, $2 = status", JobQueries.setTaskStatus.sql),
        ("notify-runners", "a task became ready", JobQueries.notifyRunners.sql),
        ("itential-job-read", "$1 = job ids", ItentialJobs.read.sql),
    ]
}
