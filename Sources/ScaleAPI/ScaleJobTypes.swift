import Engine
import HTTP
import JSON

/// `/v6/job-types/…` routes (so far: validation).
struct ScaleJobTypes: Sendable {
    /// `POST /v6/job-types/validation/` (spec §3.9): always 200 for a well-formed body, with at
    /// most one error. Nothing is written; any active user may call it.
    func validate(_ request: Request, _ session: Session) throws -> Response {
        _ = try ScaleAPI.authenticate(request, session, for: .read)
        let body = try ScaleAPI.objectBody(request)
        guard let manifestJSON = body["manifest"] else { throw HTTPError.badRequest("Missing required parameter: \"manifest\"") }
        guard case .object = manifestJSON else { throw HTTPError.badRequest("Parameter must be a valid JSON object: \"manifest\"") }

        let result: (errors: [ScaleIssue], warnings: [ScaleIssue])
        switch SeedManifest.validate(manifestJSON) {
        case let .failure(issue):
            result = ([issue], [])
        case let .success(manifest):
            switch JobConfiguration.parse(body["configuration"]) {
            case let .failure(issue):
                result = ([issue], manifest.warnings)
            case let .success(configuration):
                switch configuration.validate(against: manifest, workspace: try workspaceStates(configuration, session)) {
                case let .failure(issue): result = ([issue], manifest.warnings)
                case let .success(warnings): result = ([], manifest.warnings + warnings + manifest.nonstandardResourceWarnings)
                }
            }
        }
        return .json(["is_valid": .bool(result.errors.isEmpty), "errors": .array(result.errors.map(\.json)),
                      "warnings": .array(result.warnings.map(\.json))])
    }

    /// Looks up, in one query, the workspaces a configuration names.
    func workspaceStates(_ configuration: JobConfiguration, _ session: Session) throws -> (String) -> JobConfiguration.WorkspaceState? {
        let names = [configuration.defaultWorkspace] + configuration.outputWorkspaces.map(\.1)
        let active = try session.workspaces.activity(names: names.filter { !$0.isEmpty })
        return { name in active[name].map { $0 ? .active : .inactive } }
    }
}
