import Engine
import JSON
import JSONSchema
import Postgres

/// Triggers start an automation's jobs: `manual` on request (with form data), `endpoint` by a
/// POST to its route (the body, checked against its schema, becomes the job variables) and
/// `schedule` at its due times, fired by the runners of whichever instance comes first. Every
/// firing is a row of `itential_trigger_firings`, written in the transaction that starts the job.
public struct ItentialTriggers {
    let connection: Connection
    let surfaces: SurfaceRegistry

    /// A stored trigger with its automation.
    public struct Trigger: Sendable {
        public let rowId: Int64
        public let document: JSON
        public let automation: ItentialAutomations.Automation
    }

    public func create(_ body: JSON, by user: User, mayWrite: (ItentialAutomations.Automation) -> Bool) throws -> JSON {
        try connection.transaction { tx in try Self.create(body, by: user, mayWrite: mayWrite, on: tx) }
    }

    /// Triggers as exported, all or none, each for the automation its `actionId` names.
    public func importAll(_ triggers: [JSON], by user: User, mayWrite: (ItentialAutomations.Automation) -> Bool) throws -> [JSON] {
        guard triggers.count <= ItentialAutomations.importLimit else {
            throw EngineError(.invalid, "At most \(ItentialAutomations.importLimit) triggers at once")
        }
        return try connection.transaction { tx in
            try triggers.enumerated().map { index, trigger in
                try Self.naming("triggers[\(index)]") { try Self.create(trigger, by: user, mayWrite: mayWrite, on: tx) }
            }
        }
    }

    /// A refusal of one item of an import, saying which.
    static func naming<T>(_ item: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            throw EngineError(error.kind, "\(item): \(error.message)")
        }
    }

    static func create(
        _ body: JSON, by user: User, mayWrite: (ItentialAutomations.Automation) -> Bool, on tx: Connection
    ) throws -> JSON {
        let definition = try ItentialTriggerDefinition(body)
        guard let automation = try tx.first(ItentialAutomations.lock, definition.actionId) else {
            throw EngineError(.invalid, "No automation has the id \(definition.actionId)")
        }
        guard mayWrite(automation) else {
            throw EngineError(.forbidden, "Not in a group that may change automation \(definition.actionId)")
        }
        let id = ItentialNewJob.objectId()
        try Self.writing(definition) {
            try tx.run(
                Self.insert, id, automation.rowId, definition.name, definition.type, definition.enabled, definition.routeName,
                definition.document.serialized, definition.firstRunAt, user.id)
        }
        guard let created = try tx.first(Self.byId, id) else { throw EngineError(.conflict, "Trigger \(id) could not be read back") }
        return created.document
    }

    public func trigger(id: String) throws -> Trigger? {
        try connection.first(Self.byId, id)
    }

    /// Changes the members `body` names (the others keep their value); a changed schedule is
    /// due next at its (new) first run time. Nil when there is no such trigger.
    public func update(id: String, _ body: JSON, by user: User, mayWrite: (ItentialAutomations.Automation) -> Bool) throws -> JSON? {
        guard let changes = body.objectValue else { throw EngineError(.invalid, "The body must be a JSON object") }
        return try connection.transaction { tx in
            guard let current = try tx.first(Self.lock, id) else { return nil }
            guard mayWrite(current.automation) else { throw EngineError(.forbidden, "Not in a group that may change trigger \(id)") }
            var merged = current.document
            for (key, value) in changes { merged = merged.setting(key, to: value) }
            let definition = try ItentialTriggerDefinition(merged)
            guard let automation = try tx.first(ItentialAutomations.lock, definition.actionId) else {
                throw EngineError(.invalid, "No automation has the id \(definition.actionId)")
            }
            guard mayWrite(automation) else {
                throw EngineError(.forbidden, "Not in a group that may change automation \(definition.actionId)")
            }
            let schedule = ItentialTriggerDefinition.scheduleMembers
            let rescheduled = changes.contains { schedule.contains($0.0) } || current.document["type"] != merged["type"]
            try Self.writing(definition) {
                try tx.run(
                    Self.update, current.rowId, automation.rowId, definition.name, definition.type, definition.enabled,
                    definition.routeName, definition.document.serialized, rescheduled, definition.firstRunAt, user.id)
            }
            return try tx.first(Self.byId, id)?.document
        }
    }

    /// False when there is no such trigger.
    public func delete(id: String, mayWrite: (ItentialAutomations.Automation) -> Bool) throws -> Bool {
        try connection.transaction { tx in
            guard let current = try tx.first(Self.lock, id) else { return false }
            guard mayWrite(current.automation) else { throw EngineError(.forbidden, "Not in a group that may change trigger \(id)") }
            try tx.run(Self.deleteRow, current.rowId)
            return true
        }
    }

    /// Deletes every trigger of the automation; nil when there is no such automation.
    public func deleteAll(ofAutomation id: String, mayWrite: (ItentialAutomations.Automation) -> Bool) throws -> Int? {
        try connection.transaction { tx in
            guard let automation = try tx.first(ItentialAutomations.lock, id) else { return nil }
            guard mayWrite(automation) else { throw EngineError(.forbidden, "Not in a group that may change automation \(id)") }
            return try tx.run(Self.deleteOfAutomation, automation.rowId)
        }
    }

    public func list(_ query: ItentialCatalogQuery) throws -> ItentialSearch.Page<JSON> {
        try query.run(Self.page, Self.count, on: connection)
    }

    // MARK: Firing

    /// Why a request could not run a trigger.
    public enum RunRefusal: Error, Equatable {
        case noSuchTrigger
        case disabled
        case hidden
        /// The body does not match the endpoint's schema: one line per violation.
        case bodyRefused([String])
        /// The automation cannot start a job (no workflow, a draft, refused variables).
        case cannotStart(String)
    }

    /// Runs the enabled endpoint trigger on `routeName` with `body` as the job's variables.
    public func runEndpoint(routeName: String, body: JSON, by user: User, visibleGroups: [String]?) throws -> Result<
        ItentialJob, RunRefusal
    > {
        try run(Self.lockByRoute, routeName, by: user, visibleGroups: visibleGroups) { trigger in
            let schema = trigger.document["schema"] ?? [:]
            let violations = JSONSchema(schema).validate(body).map(\.description)
            return violations.isEmpty ? .success(body) : .failure(.bodyRefused(violations))
        }
    }

    /// Runs the manual trigger `id` with its form data (wrapped as `formData` for a legacy form).
    public func runManual(id: String, formData: JSON, by user: User, visibleGroups: [String]?) throws -> Result<ItentialJob, RunRefusal> {
        try run(Self.lockManual, id, by: user, visibleGroups: visibleGroups) { trigger in
            .success(trigger.document["legacyWrapper"]?.boolValue == true ? ["formData": formData] : formData)
        }
    }

    private func run(
        _ find: Query<String, Trigger>, _ key: String, by user: User, visibleGroups: [String]?,
        variables: (Trigger) -> Result<JSON, RunRefusal>
    ) throws -> Result<ItentialJob, RunRefusal> {
        try connection.transaction { tx in
            guard let trigger = try tx.first(find, key) else { return .failure(.noSuchTrigger) }
            guard trigger.automation.isVisible(to: visibleGroups) else { return .failure(.hidden) }
            guard trigger.document["enabled"]?.boolValue == true else { return .failure(.disabled) }
            let chosen: JSON
            switch variables(trigger) {
            case let .success(value): chosen = value
            case let .failure(refusal): return .failure(refusal)
            }
            switch try Self.startJob(trigger, variables: chosen, by: user, on: tx, surfaces: surfaces) {
            case let .success(job):
                try tx.run(Self.recordFiring, trigger.rowId, trigger.document["_id"]?.stringValue ?? "", nil, user.username, job.id, nil)
                return .success(job)
            case let .failure(failure): return .failure(.cannotStart(failure.message))
            }
        }
    }

    struct StartFailure: Error {
        let message: String
    }

    /// Starts a job of the trigger's automation in `tx`, or says why it cannot.
    static func startJob(
        _ trigger: Trigger, variables: JSON, by user: User, on tx: Connection, surfaces: SurfaceRegistry
    ) throws -> Result<ItentialJob, StartFailure> {
        let automationName = trigger.automation.document["name"]?.stringValue ?? ""
        guard let workflowName = trigger.automation.document["componentName"]?.stringValue,
            let (rowId, workflow) = try tx.first(ItentialWorkflows.byName, workflowName)
        else { return .failure(StartFailure(message: "Automation \(automationName) has no workflow to run")) }
        guard case .object = variables else { return .failure(StartFailure(message: "Job variables must be a JSON object")) }
        if let refusal = ItentialNewJob.refusal(workflow, name: workflowName, variables: variables) {
            return .failure(StartFailure(message: refusal.message))
        }
        let options: JSON = ["type": "automation", "description": trigger.automation.document["description"] ?? ""]
        let job = ItentialNewJob.make(
            id: ItentialNewJob.objectId(), workflowRowId: rowId, workflow: workflow, options: options, variables: variables,
            initiator: .init(accountId: user.accountId, username: user.username))
        return .success(try ItentialJobs.start(job, by: user, on: tx, surfaces: surfaces))
    }

    /// Fires every due schedule once per due time (see `ItentialSchedule.plan`): each in its own
    /// transaction that locks the trigger, starts the job (or records why it could not), and
    /// moves the next due time on. Runners of other instances skip a locked trigger.
    public func fireDueSchedules(by owner: String, accounts: Accounts) throws {
        for _ in 0..<Self.firingsPerRound {
            let fired = try connection.transaction { tx -> Bool in
                guard let due = try tx.first(Self.lockDue) else { return false }
                let plan = ItentialSchedule.plan(
                    nextRunAt: due.nextRunAt, interval: due.trigger.document["repeatInterval"]?.doubleValue, now: due.now,
                    missedRuns: due.trigger.document["processMissedRuns"]?.stringValue ?? "none",
                    stop: due.trigger.document["stopRunningAt"]?.doubleValue)
                if let dueAt = plan.fire {
                    let publicId = due.trigger.document["_id"]?.stringValue ?? ""
                    var jobId: String?
                    var failure: String?
                    if let user = try due.updaterAccountId.flatMap({ try accounts.user(accountId: $0) }), user.active {
                        switch try Self.startJob(
                            due.trigger, variables: Self.formVariables(due.trigger), by: user, on: tx, surfaces: surfaces)
                        {
                        case let .success(job): jobId = job.id
                        case let .failure(refusal): failure = refusal.message
                        }
                    } else {
                        failure = "The user who scheduled trigger \(publicId) no longer exists or is inactive"
                    }
                    try tx.run(Self.recordFiring, due.trigger.rowId, publicId, dueAt, owner, jobId, failure)
                }
                try tx.run(Self.advance, due.trigger.rowId, plan.next)
                return true
            }
            if !fired { return }
        }
    }

    /// Schedules bound what one round fires, so that a backlog does not starve the next round's check.
    static let firingsPerRound = 100

    static func formVariables(_ trigger: Trigger) -> JSON {
        let formData = trigger.document["formData"] ?? [:]
        return trigger.document["legacyWrapper"]?.boolValue == true ? ["formData": formData] : formData
    }

    /// A unique route or a bad stored value, in the caller's terms.
    static func writing(_ definition: ItentialTriggerDefinition, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "An endpoint trigger with the route \(definition.routeName ?? "") already exists")
        }
    }

    // MARK: Statements

    static let decode: @Sendable (Row) throws -> Trigger = { row in
        Trigger(
            rowId: try row.value("id"), document: try row.json("document"),
            automation: try ItentialAutomations.decode(row, id: "automation_row", document: "automation"))
    }
    /// The trigger as the platform shows it: its type's members and the common ones.
    static let document = """
        t.document || jsonb_build_object(
            '_id', t.public_id, 'name', t.name, 'type', t.type, 'enabled', t.enabled, 'actionType', 'automations',
            'actionId', a.public_id, 'lastExecuted', (extract(epoch FROM t.last_executed) * 1000)::bigint,
            'created', \(ItentialCatalogQuery.iso("t.created_at")), 'createdBy', tc.account_id,
            'lastUpdated', \(ItentialCatalogQuery.iso("t.updated_at")), 'lastUpdatedBy', tu.account_id, 'migrationVersion', 3)
        || CASE WHEN t.type = 'schedule' THEN jsonb_build_object('nextRunAt', (extract(epoch FROM t.next_run_at) * 1000)::bigint)
           ELSE '{}'::jsonb END
        """
    static let columns = """
        t.id, \(document) AS document, a.id AS automation_row, \(ItentialAutomations.document) AS automation,
        to_jsonb(a.gbac_write) AS gbac_write, to_jsonb(a.gbac_read) AS gbac_read
        """
    static let from = """
        itential_triggers t JOIN \(ItentialAutomations.from) ON a.id = t.automation_id
        LEFT JOIN users tc ON tc.id = t.created_by LEFT JOIN users tu ON tu.id = t.updated_by
        """
    static let byId = Query(
        "itential_trigger_by_id", "SELECT \(columns) FROM \(from) WHERE t.public_id = $1", binding: String.self, reading: decode)
    static let lock = Query(
        "itential_trigger_lock", "SELECT \(columns) FROM \(from) WHERE t.public_id = $1 FOR UPDATE OF t", binding: String.self,
        reading: decode)
    static let lockByRoute = Query(
        "itential_trigger_lock_route", "SELECT \(columns) FROM \(from) WHERE t.route_name = $1 FOR UPDATE OF t", binding: String.self,
        reading: decode)
    static let lockManual = Query(
        "itential_trigger_lock_manual", "SELECT \(columns) FROM \(from) WHERE t.public_id = $1 AND t.type = 'manual' FOR UPDATE OF t",
        binding: String.self, reading: decode)
    /// The first due schedule no other runner holds, and the database's clock (all instances share it).
    static let lockDue = Query(
        "itential_trigger_lock_due",
        """
        SELECT \(columns), extract(epoch FROM t.next_run_at) * 1000 AS next_run_at, extract(epoch FROM now()) * 1000 AS now,
            tu.account_id::text AS updater
        FROM \(from)
        WHERE t.type = 'schedule' AND t.enabled AND t.next_run_at IS NOT NULL AND t.next_run_at <= now()
        ORDER BY t.next_run_at LIMIT 1 FOR UPDATE OF t SKIP LOCKED
        """,
        reading: { row in
            (
                trigger: try decode(row), nextRunAt: try row.value("next_run_at", as: Double.self),
                now: try row.value("now", as: Double.self), updaterAccountId: try row.optional("updater", as: String.self)
            )
        })
    static let insert = Query(
        "itential_trigger_insert",
        """
        INSERT INTO itential_triggers (public_id, automation_id, name, type, enabled, route_name, document, next_run_at, created_by, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, to_timestamp($8::double precision / 1000), $9, $9)
        """, binding: String.self, Int64.self, String.self, String.self, Bool.self, String?.self, String.self, Double?.self, Int64.self)
    /// `$8`: the schedule changed, so it is next due at its first run time `$9`.
    static let update = Query(
        "itential_trigger_update",
        """
        UPDATE itential_triggers SET automation_id = $2, name = $3, type = $4, enabled = $5, route_name = $6, document = $7::jsonb,
            next_run_at = CASE WHEN $8 THEN to_timestamp($9::double precision / 1000) ELSE next_run_at END, updated_by = $10, updated_at = now()
        WHERE id = $1
        """, binding: Int64.self, Int64.self, String.self, String.self, Bool.self, String?.self, String.self, Bool.self, Double?.self,
        Int64.self)
    static let deleteRow = Query("itential_trigger_delete", "DELETE FROM itential_triggers WHERE id = $1", binding: Int64.self)
    static let deleteOfAutomation = Query(
        "itential_trigger_delete_of_automation", "DELETE FROM itential_triggers WHERE automation_id = $1", binding: Int64.self)
    static let recordFiring = Query(
        "itential_trigger_record_firing",
        """
        WITH fired AS (
            INSERT INTO itential_trigger_firings (trigger_id, trigger_public_id, due_at, fired_by, job_id, error)
            VALUES ($1, $2, to_timestamp($3::double precision / 1000), $4, (SELECT id FROM jobs WHERE surface = 'itential' AND public_id = $5), $6)
        )
        UPDATE itential_triggers SET last_executed = now() WHERE id = $1
        """, binding: Int64.self, String.self, Double?.self, String.self, String?.self, String?.self)
    static let advance = Query(
        "itential_trigger_advance", "UPDATE itential_triggers SET next_run_at = to_timestamp($2::double precision / 1000) WHERE id = $1",
        binding: Int64.self, Double?.self)
    static let rows = "SELECT t.id, \(document) AS document FROM \(from) WHERE \(ItentialAutomations.visible)"
    static let page = ItentialCatalogQuery.page("itential_trigger_page", rows: rows)
    static let count = ItentialCatalogQuery.count("itential_trigger_count", rows: rows)
}

extension ItentialTriggers: StatementCatalog {
    package static var statements: [Statement] {
        [
            byId.statement, lock.statement, lockByRoute.statement, lockManual.statement, lockDue.statement, insert.statement,
            update.statement, deleteRow.statement, deleteOfAutomation.statement, recordFiring.statement, advance.statement,
            page.statement, count.statement,
        ]
    }
}

/// The runners' duty of firing due schedules.
public struct ItentialSchedules: TimedDuty {
    public let name = "itential schedules"

    public init() {}

    public func run(_ session: Session, owner: String) throws {
        try session.itentialTriggers.fireDueSchedules(by: owner, accounts: session.accounts)
    }
}
