import Blocks
import BlocksAPI
import Engine
import HTTP
import Itential
import ItentialAPI
import NativeAPI
import Scale
import ScaleAPI
import WorkflowManager
import WorkflowManagerAPI

/// Everything an instance serves, put together from its configuration: the surfaces' rules for
/// the core, the HTTP application, and the runners. The executable and the in-process test
/// harness both build from here.
package enum Wiring {
    /// How each surface's jobs move on as their tasks finish, and the statuses they take.
    package static let surfaces = SurfaceRegistry([
        BlockJobs.rules, ScaleSurface.rules, WorkflowManagerSurface.rules, ItentialSurface.rules,
    ])

    package static func application(_ configuration: Configuration) -> Application<Session> {
        let native = NativeAPI.surface(
            .init(
                instance: configuration.instance, version: Configuration.version,
                tokenLifetimeSeconds: configuration.tokenLifetimeSeconds, metricsFromLoopback: configuration.metricsFromLoopback,
                metrics: Telemetry.export))
        let blocks = BlocksAPI.surface(
            .init(
                tokenLifetimeSeconds: configuration.tokenLifetimeSeconds, modules: configuration.modules,
                registrationOpen: configuration.blocksRegistrationOpen))
        let itential = ItentialAPI.surface(
            .init(tokenLifetimeSeconds: configuration.tokenLifetimeSeconds, version: Configuration.version))
        // Workflow Manager comes last: its paths begin with two parameters (/{orgId}/{itemId}).
        return Application(
            surfaces: [
                native, blocks, ScaleAPI.surface(), itential,
                WorkflowManagerAPI.portalSurface(
                    organisationId: configuration.portalOrganisationId, tokenLifetimeSeconds: configuration.tokenLifetimeSeconds),
                WorkflowManagerAPI.surface(),
            ],
            origins: configuration.origins, idempotentWrites: IdempotentRequests.writes)
    }

    /// The built-in task kinds' runner (which also fires Itential schedules and lets lapsed Scale claims go), and the sandboxed blocks' runner with its per-user limit.
    package static func runners(_ configuration: Configuration) -> [Runner] {
        let conninfo = configuration.conninfo
        let builtin = Runner(
            .init(
                conninfo: conninfo, owner: "runner:\(configuration.instance)", threads: configuration.runners,
                leaseSeconds: configuration.taskLeaseSeconds,
                pollIntervalMilliseconds: configuration.runnerPollMilliseconds),
            kinds: TaskKindRegistry(BlockJobs.taskKinds + ItentialTasks.kinds(configuration.childJobs)), surfaces: surfaces,
            duties: [ItentialSchedules(), ScaleClaimLeases()])
        let sandboxed = Runner(
            .init(
                conninfo: conninfo, owner: "sandbox:\(configuration.instance)",
                threads: configuration.sandboxRunners, leaseSeconds: configuration.taskLeaseSeconds,
                pollIntervalMilliseconds: configuration.runnerPollMilliseconds,
                runsPerOwner: configuration.sandboxRunsPerUser),
            kinds: TaskKindRegistry(BlockJobs.sandboxedTaskKinds(configuration.modules)), surfaces: surfaces)
        return [builtin, sandboxed]
    }
}
