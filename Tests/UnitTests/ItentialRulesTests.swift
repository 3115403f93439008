import HTTP
import JSON
import XCTest

@testable import Engine
@testable import Itential
@testable import ItentialAPI

/// The Itential rules without a database: the flow over transitions, the built-in tasks, the
/// workflow checks and the search grammar.
final class ItentialFlowTests: XCTestCase {
    static let success: JSON = ["type": "standard", "state": "success"]
    static let failure: JSON = ["type": "standard", "state": "failure"]

    /// Tasks in the given order, all pending, with ids 1…n.
    func snapshots(_ keys: [String], _ states: [String: (TaskStatus, String?)] = [:]) -> [TaskSnapshot] {
        keys.enumerated().map { index, key in
            let state = states[key] ?? (.pending, nil)
            return TaskSnapshot(id: Int64(index + 1), key: key, position: index, status: state.0, automatic: true, finishState: state.1)
        }
    }

    func id(_ key: String, in tasks: [TaskSnapshot]) -> Int64 { tasks.first { $0.key == key }!.id }

    let fork: JSON = [
        "transitions": [
            "workflow_start": ["a": success, "b": success],
            "a": ["join": success], "b": ["join": success],
            "join": ["workflow_end": success],
        ]
    ]

    func testStartCompletesTheStartMarkerAndForksEveryBranch() {
        let tasks = snapshots(["workflow_start", "a", "b", "join", "workflow_end"])
        let decisions = ItentialFlow().start(tasks, job: fork)
        XCTAssertEqual(
            decisions,
            [.complete(taskId: 1, finishState: "success"), .makeReady(taskId: id("a", in: tasks)), .makeReady(taskId: id("b", in: tasks))])
    }

    func testAJoinWaitsForEveryBranchThenTheEndCompletesTheJob() {
        let done: (TaskStatus, String?) = (.succeeded, "success")
        let halfway = snapshots(
            ["workflow_start", "a", "b", "join", "workflow_end"], ["workflow_start": done, "a": done, "b": (.running, nil)])
        XCTAssertEqual(ItentialFlow().after(halfway[1], error: nil, tasks: halfway, job: fork), [], "b is still running")
        let both = snapshots(["workflow_start", "a", "b", "join", "workflow_end"], ["workflow_start": done, "a": done, "b": done])
        XCTAssertEqual(ItentialFlow().after(both[2], error: nil, tasks: both, job: fork), [.makeReady(taskId: 4)])
        let joined = snapshots(
            ["workflow_start", "a", "b", "join", "workflow_end"], ["workflow_start": done, "a": done, "b": done, "join": done])
        XCTAssertEqual(
            ItentialFlow().after(joined[3], error: nil, tasks: joined, job: fork),
            [.complete(taskId: 5, finishState: "success"), .finishJob(status: "complete", error: nil)])
    }

    func testATransitionNotTakenKillsItsPathAndAStallEndsInError() {
        let job: JSON = [
            "transitions": [
                "workflow_start": ["a": Self.success], "a": ["ok": Self.success, "recover": Self.failure],
                "ok": ["workflow_end": Self.success], "recover": ["workflow_end": Self.success],
            ]
        ]
        let tasks = snapshots(
            ["workflow_start", "a", "ok", "recover", "workflow_end"],
            ["workflow_start": (.succeeded, "success"), "a": (.succeeded, "success")])
        XCTAssertEqual(ItentialFlow().after(tasks[1], error: nil, tasks: tasks, job: job), [.makeReady(taskId: 3), .skip(taskId: 4)])

        let dead = snapshots(
            ["workflow_start", "a", "workflow_end"], ["workflow_start": (.succeeded, "success"), "a": (.failed, "error")])
        let stalled = ItentialFlow().after(
            dead[1], error: "boom", tasks: dead,
            job: ["transitions": ["workflow_start": ["a": Self.success], "a": ["workflow_end": Self.success]]])
        guard case let .finishJob(status, message)? = stalled.last else { return XCTFail("\(stalled)") }
        XCTAssertEqual(status, "error")
        XCTAssertTrue(message?.hasPrefix("Job has no available transitions. a could have led") ?? false, message ?? "")
    }

    func testARevertTransitionRunsTheJobAgainFromItsTarget() {
        let job: JSON = [
            "transitions": [
                "workflow_start": ["a": Self.success], "a": ["b": Self.success],
                "b": ["workflow_end": Self.success, "a": ["type": "revert", "state": "failure"]],
            ]
        ]
        let tasks = snapshots(
            ["workflow_start", "a", "b", "workflow_end"],
            ["workflow_start": (.succeeded, "success"), "a": (.succeeded, "success"), "b": (.failed, "failure")])
        let decisions = ItentialFlow().after(tasks[2], error: nil, tasks: tasks, job: job)
        XCTAssertEqual(decisions.prefix(3), [.reset(taskId: 2), .reset(taskId: 3), .makeReady(taskId: 2)])
    }
}

final class ItentialTaskTests: XCTestCase {
    /// Runs a built-in task kind on `incoming`, with job variables and upstream outputs.
    func run(_ name: String, _ incoming: JSON, job: JSON = [:], upstream: [String: JSON] = [:]) -> TaskOutcome {
        let kind = ItentialTasks.kinds(.defaults).first { $0.name == "itential:" + name }!
        return kind.run(
            TaskContext(
                input: ["variables": ["incoming": incoming, "outgoing": ["value": "$var.job.copy"]]],
                upstream: upstream, jobVariables: job))
    }

    func testReferencesResolveFromTheJobAndUpstreamTasks() {
        XCTAssertEqual(
            run("newVariable", ["name": "x", "value": "$var.job.source"], job: ["source": 42]),
            .succeeded(["value": 42], files: [], finishState: "success", jobVariables: ["x": 42, "copy": 42]))
        XCTAssertEqual(
            run("newVariable", ["name": "y", "value": "$var.a1.result#/list/1"], upstream: ["a1": ["result": ["list": [1, 2]]]]),
            .succeeded(["value": 2], files: [], finishState: "success", jobVariables: ["y": 2, "copy": 2]))
        XCTAssertEqual(
            run("newVariable", ["name": "z", "value": "$var.a1.result#/missing"], upstream: ["a1": ["result": [:]]]),
            .failed("Query failed for task incoming variables: value"))
    }

    func testStubQueryMergeAndEvaluation() {
        XCTAssertEqual(
            run("stub", ["type": "failure", "response": "no"]),
            .succeeded(["response": "no"], files: [], finishState: "failure", jobVariables: ["copy": nil]),
            "an output it lacks maps as null")
        guard case let .succeeded(found, _, state, _) = run("query", ["obj": ["a": [["b": 7]]], "query": "a[0].b"]) else {
            return XCTFail()
        }
        XCTAssertEqual(found["return_data"], 7)
        XCTAssertEqual(state, "success")
        guard
            case let .succeeded(merged, _, _, _) = run(
                "merge", ["data_to_merge": [["key": "k", "value": ["task": "static", "variable": 1]]]])
        else { return XCTFail() }
        XCTAssertEqual(merged["merged_object"], ["k": 1])
        let evaluation: JSON = [
            "all_true_flag": true,
            "evaluation_groups": [
                [
                    "all_true_flag": false,
                    "evaluations": [
                        [
                            "operand_1": ["task": "static", "variable": 3], "operator": ">",
                            "operand_2": ["task": "static", "variable": 5],
                        ],
                        [
                            "operand_1": ["task": "static", "variable": "abc"], "operator": "contains",
                            "operand_2": ["task": "static", "variable": "b"],
                        ],
                    ],
                ]
            ],
        ]
        guard case let .succeeded(result, _, finish, _) = run("evaluation", evaluation) else { return XCTFail() }
        XCTAssertEqual(result["return_value"], true)
        XCTAssertEqual(finish, "success")
    }

    func testACostlyContainsPatternIsTakenLiterally() {
        XCTAssertEqual(ItentialTasks.compare("aaaa(a+)+$", "contains", "(a+)+$"), true)
        XCTAssertEqual(ItentialTasks.compare(.string(String(repeating: "a", count: 40) + "!"), "contains", "(a+)+$"), false)
        XCTAssertNil(ItentialTasks.compare(1, "~", 1), "an unknown operator")
    }
}

final class WorkflowGraphTests: XCTestCase {
    let start: JSON = ["name": "workflow_start", "groups": []]
    let end: JSON = ["name": "workflow_end", "groups": []]

    func graph(_ tasks: [(String, JSON)], _ transitions: JSON) -> WorkflowGraph {
        WorkflowGraph(["tasks": .object([("workflow_start", start)] + tasks + [("workflow_end", end)]), "transitions": transitions])
    }

    func testAWellFormedWorkflowHasNoErrors() {
        let stub: JSON = ["name": "stub", "description": "a stub", "type": "automatic", "app": "WorkFlowEngine"]
        let valid = graph(
            [("a1", stub)], ["workflow_start": ["a1": ItentialFlowTests.success], "a1": ["workflow_end": ItentialFlowTests.success]])
        XCTAssertEqual(valid.errors, [])
        XCTAssertEqual(valid.transitions.count, 2)
    }

    func testEveryKindOfMistakeIsReportedNotGuessed() {
        let stub: JSON = ["name": "stub", "description": "a stub", "type": "automatic", "app": "WorkFlowEngine"]
        let broken = graph(
            [("a1", stub), ("a2", stub)],
            [
                "workflow_start": ["a1": ItentialFlowTests.success, "ghost": ItentialFlowTests.success],
                "a1": ["a2": ["type": "sideways", "state": "success"], "workflow_end": ItentialFlowTests.success],
                "a2": ["a1": ItentialFlowTests.success],
                "nobody": ["a1": ItentialFlowTests.success],
            ])
        XCTAssertEqual(
            broken.errors.map(\.message),
            [
                "Transition from workflow_start to unknown task ghost",
                "Transition from a1 to a2 needs type standard|revert and state success|failure|error|loop",
                "Transition from unknown task nobody",
            ])
        let cycle = graph(
            [("a1", stub), ("a2", stub)],
            [
                "workflow_start": ["a1": ItentialFlowTests.success], "a1": ["a2": ItentialFlowTests.success],
                "a2": ["a1": ItentialFlowTests.success, "workflow_end": ItentialFlowTests.success],
            ])
        XCTAssertTrue(cycle.errors.contains { $0.message.hasPrefix("Standard transitions form a cycle") }, "\(cycle.errors)")
        let unreachable = graph([], ["workflow_start": [:]])
        XCTAssertFalse(unreachable.errors.isEmpty, "no path from start to end")
        let manual = graph(
            [("b1", ["name": "ViewData", "description": "look", "type": "manual"])],
            ["workflow_start": ["b1": ItentialFlowTests.success], "b1": ["workflow_end": ItentialFlowTests.success]])
        XCTAssertEqual(manual.errors.map(\.message), ["Manual Tasks require 'view' key with path to task view"])
    }

    func testTheJobDocumentGroupsTransitionsByState() {
        let grouped = ItentialJobDocument.groupedTransitions([
            "a": ["b": ItentialFlowTests.success, "c": ItentialFlowTests.failure, "a": ["type": "standard", "state": "loop"]]
        ])
        XCTAssertEqual(
            grouped["a"],
            [
                "success": [["task": "b", "type": "standard"]], "failure": [["task": "c", "type": "standard"]], "error": [],
                "loop": [["task": "a", "type": "loop"]],
            ])
    }
}

final class ItentialSearchQueryTests: XCTestCase {
    let user = User([
        "id": 1, "username": "ann", "account_id": "000000000000000000000001", "active": true, "roles": ["apiread"],
        "group_accounts": [["name": "crew", "id": "000000000000000000000002"]],
    ])!

    func query(_ text: String, body: String = "") throws -> ItentialSearchQuery {
        try ItentialSearchQuery(
            try Request(method: "GET", target: "/operations-manager/jobs?" + text, headers: [:], body: Array(body.utf8)),
            caller: user)
    }

    func testTheGrammar() throws {
        let parsed = try query(
            "limit=5&skip=2&sort=name&order=-1&equals[status]=running&gt[metrics.start_time]=2021-11-18&bogus[x]=1&include=name,_id")
        XCTAssertEqual(parsed.search.limit, 5)
        XCTAssertEqual(parsed.search.skip, 2)
        XCTAssertEqual(parsed.search.sortPath, ["name"])
        XCTAssertTrue(parsed.search.descending)
        XCTAssertEqual(parsed.search.filters.map(\.op), [.equals, .gt], "unknown operators are ignored")
        XCTAssertEqual(parsed.search.filters.last?.path, ["metrics", "start_time"])
        XCTAssertEqual(parsed.search.filters.last?.number, 1_637_193_600_000, "a date as epoch milliseconds")
        XCTAssertEqual(parsed.include, [["name"], ["_id"]])
        XCTAssertEqual(parsed.search.visibleGroups, ["000000000000000000000002", "crew"], "an ordinary caller sees its groups' jobs")
    }

    func testIapSdksBodyIsReadWhenThereIsNoQueryString() throws {
        let parsed = try query("", body: #"{"queryParameters": {"limit": 3, "in": {"status": "running,paused"}}}"#)
        XCTAssertEqual(parsed.search.limit, 3)
        XCTAssertEqual(parsed.search.filters.map(\.op), [.isIn])
    }

    func testBadValuesAreRefused() {
        for bad in ["limit=-1", "skip=x", "order=up", "include=name&exclude=status"] {
            XCTAssertThrowsError(try query(bad), bad)
        }
        XCTAssertEqual(try query("limit=0").search.limit, ItentialSearchQuery.maxLimit)
    }
}

/// When schedule triggers fire, what a trigger definition accepts, and how the legacy
/// Mongo-style queries map onto the search.
final class ItentialTriggerRulesTests: XCTestCase {
    let minute = 60_000.0

    func testAScheduleFiresItsLatestDueTimeOnceAndStaysOnItsGrid() {
        // Not yet due.
        XCTAssertEqual(ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 999, missedRuns: "none").fire, nil)
        // Due just now: fires, next one interval on.
        let onTime = ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 1_500, missedRuns: "none")
        XCTAssertEqual(onTime.fire, 1_000)
        XCTAssertEqual(onTime.next, 61_000)
        // Three due times passed: only the latest fires, and it was on time.
        let caughtUp = ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 181_500, missedRuns: "none")
        XCTAssertEqual(caughtUp.fire, 181_000)
        XCTAssertEqual(caughtUp.next, 241_000)
        // An hourly run missed by ten minutes: `none` skips it, `last` fires it.
        let hour = 3_600_000.0
        XCTAssertEqual(ItentialSchedule.plan(nextRunAt: 0, interval: hour, now: 600_000, missedRuns: "none").fire, nil)
        XCTAssertEqual(ItentialSchedule.plan(nextRunAt: 0, interval: hour, now: 600_000, missedRuns: "none").next, hour)
        XCTAssertEqual(ItentialSchedule.plan(nextRunAt: 0, interval: hour, now: 600_000, missedRuns: "last").fire, 0)
        // A one-off is done after its run.
        let once = ItentialSchedule.plan(nextRunAt: 5_000, interval: nil, now: 5_100, missedRuns: "none")
        XCTAssertEqual(once.fire, 5_000)
        XCTAssertNil(once.next)
        // stopRunningAt: the last due time at or before it fires, none after it.
        let lastRun = ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 121_500, missedRuns: "none", stop: 121_000)
        XCTAssertEqual(lastRun.fire, 121_000)
        XCTAssertNil(lastRun.next, "the next due time would be after the stop")
        let stopped = ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 300_000, missedRuns: "last", stop: 90_000)
        XCTAssertEqual(stopped.fire, 61_000, "a missed run processed late is still one from before the stop")
        XCTAssertNil(stopped.next)
        XCTAssertEqual(ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 500, missedRuns: "none", stop: 1_000).next, 1_000)
        XCTAssertNil(ItentialSchedule.plan(nextRunAt: 1_000, interval: minute, now: 500, missedRuns: "none", stop: 999).next)
    }

    func testTriggerDefinitionsAreCheckedPerType() throws {
        let schedule = try ItentialTriggerDefinition(
            ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 1_000, "repeatUnit": "hour", "repeatFrequency": 2])
        XCTAssertEqual(schedule.firstRunAt, 1_000)
        XCTAssertEqual(schedule.document["repeatInterval"], 7_200_000)
        XCTAssertEqual(schedule.document["processMissedRuns"], "none")
        XCTAssertEqual(schedule.document["stopRunningAt"], .null)
        let ending = try ItentialTriggerDefinition(
            [
                "name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 1_000, "repeatUnit": "hour", "repeatFrequency": 1,
                "stopRunningAt": 7_201_000,
            ])
        XCTAssertEqual(ending.document["stopRunningAt"], 7_201_000)
        let refused: [JSON] = [999, "soon", .number(1_000.5)]
        for stop in refused {
            XCTAssertThrowsError(
                try ItentialTriggerDefinition(
                    ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 1_000, "stopRunningAt": stop]), "\(stop)")
        }
        let endpoint = try ItentialTriggerDefinition(["name": "e", "type": "endpoint", "actionId": "a", "routeName": "run-it"])
        XCTAssertEqual(endpoint.routeName, "run-it")
        XCTAssertEqual(endpoint.document["schema"]?["additionalProperties"], true, "any object by default")
        for refused: JSON in [
            ["name": "s", "type": "schedule", "actionId": "a"],
            ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 0, "repeatInterval": 1_000],
            [
                "name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 0, "repeatUnit": "day", "repeatFrequency": 1,
                "repeatInterval": 5,
            ],
            ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 0, "repeatUnit": "fortnight", "repeatFrequency": 1],
            ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": .number(1e300)],
            ["name": "s", "type": "schedule", "actionId": "a", "firstRunAt": 0, "processMissedRuns": "all"],
            ["name": "e", "type": "endpoint", "actionId": "a", "routeName": "a/b"],
            ["name": "e", "type": "endpoint", "actionId": "a", "routeName": "r", "verb": "GET"],
            ["name": "e", "type": "endpoint", "actionId": "a", "routeName": "r", "jst": "5f0c"],
            ["name": "e", "type": "endpoint", "actionId": "a", "routeName": "r", "formData": [:]],
            ["name": "m", "type": "manual", "actionId": "a", "formData": "x"],
            ["name": "m", "type": "manual"], ["name": "", "type": "manual", "actionId": "a"],
            ["name": "m", "type": "eventSystem", "actionId": "a"],
            ["name": "m", "type": "webhook", "actionId": "a"], ["name": "m", "type": "manual", "actionId": "a", "enabled": "yes"],
        ] {
            XCTAssertThrowsError(try ItentialTriggerDefinition(refused), "\(refused)")
        }
    }

    func testLegacyQueriesMapOntoTheSearchOrAreRefused() throws {
        let filters = try ItentialLegacyQuery.filters(
            ["status": ["$in": ["running", "paused"]], "name": ["$regex": "^net"], "metrics.start_time": ["$gte": 5], "_id": "abc"])
        XCTAssertEqual(filters.map(\.op), [.isIn, .startsWith, .gte, .equals])
        XCTAssertEqual(filters.map(\.path), [["status"], ["name"], ["metrics", "start_time"], ["_id"]])
        XCTAssertEqual(filters[0].value, "running,paused")
        XCTAssertEqual(filters[2].number, 5)
        XCTAssertEqual(try ItentialLegacyQuery.filters(["name": ["$regex": "x$"]]).map(\.op), [.endsWith])
        XCTAssertEqual(try ItentialLegacyQuery.filters(["name": ["$regex": "mid"]]).map(\.op), [.contains])
        for refused: JSON in [
            ["$or": []], ["name": ["$regex": "(a|b)"]], ["name": ["$in": ["a,b"]]], ["name": ["$exists": 1]], ["a": ["b": 1]],
        ] {
            XCTAssertThrowsError(try ItentialLegacyQuery.filters(refused), "\(refused)")
        }
        XCTAssertEqual(try ItentialLegacyQuery.projection(["name": 1, "_id": 0]).include, [["name"]])
        XCTAssertThrowsError(try ItentialLegacyQuery.projection(["name": 1, "tasks": 0]))
        XCTAssertEqual(try ItentialLegacyQuery.sort(["name": -1])?.descending, true)
    }
}
