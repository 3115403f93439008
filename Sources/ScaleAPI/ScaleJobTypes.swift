import Engine
import HTTP
import JSON
import Scale

/// `/v6/job-types/…` and `/v6/job-type-names/` (spec §3).
struct ScaleJobTypes: Sendable {
    /// Names the fixed routes shadow; a job type may not take them (decision D7).
    static let reservedNames: Set<String> = ["validation", "status", "pending", "running", "system-failures"]
    static let createFields = [
        "docker_image", "manifest", "configuration", "icon_code", "is_published", "max_scheduled",
        "auto_update", "is_active", "is_paused",
    ]

    // MARK: Lists

    func names(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let filter = try ScaleQuery.jobTypeFilter(request)
        let order = try ScaleQuery.order(request)
        return try Pagination(request).page(
            request, fetch: { try session.jobTypes.names(filter, order: order, limit: $0, offset: $1) },
            render: { ScaleRender.jobTypeName($0.0, versions: $0.1) })
    }

    func list(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let filter = try ScaleQuery.jobTypeFilter(request)
        let order = try ScaleQuery.order(request)
        return try Pagination(request).page(
            request, fetch: { try session.jobTypes.list(filter, order: order, limit: $0, offset: $1) },
            render: ScaleRender.jobType)
    }

    func versions(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let active = try ScaleQuery.boolean(request, "is_active")
        let name = request.parameter("name")
        return try Pagination(request).page(
            request, fetch: { try session.jobTypes.versions(name: name, isActive: active, limit: $0, offset: $1) },
            render: ScaleRender.jobType)
    }

    func details(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        return .json(ScaleRender.details(try existing(request, session)))
    }

    func revisions(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let jobType = try existing(request, session)
        return try Pagination(request).page(
            request, fetch: { try session.jobTypes.revisions(jobTypeId: jobType.id, limit: $0, offset: $1) },
            render: { ScaleRender.revision($0, of: jobType, details: false) })
    }

    func revision(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let jobType = try existing(request, session)
        guard let number = Int(request.parameter("revision")),
            let revision = try session.jobTypes.revision(jobTypeId: jobType.id, number: number)
        else { throw ScaleAPI.notFound }
        return .json(ScaleRender.revision(revision, of: jobType, details: true))
    }

    private func existing(_ request: Request, _ session: Session) throws -> JobTypeRecord {
        guard let jobType = try session.jobTypes.find(name: request.parameter("name"), version: request.parameter("version")) else {
            throw ScaleAPI.notFound
        }
        return jobType
    }

    // MARK: Writes

    /// `POST /v6/job-types/`: a new (name, version) → 201 with the details; an existing one → a
    /// new revision, 200 `{"is_valid": true, …}` (spec §3.5, checks in Scale's order).
    func create(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let body = try ScaleAPI.objectBody(request)
        var changes = try ScaleQuery.flags(body)
        guard let image = body["docker_image"] else { throw HTTPError.badRequest("Missing required parameter: \"docker_image\"") }
        guard let imageText = image.stringValue, !imageText.isEmpty, imageText.count <= 500 else {
            throw HTTPError.badRequest("Parameter must be a non-empty string of at most 500 characters: \"docker_image\"")
        }
        changes.dockerImage = imageText
        guard let manifestJSON = body["manifest"] else { throw HTTPError.badRequest("Missing required parameter: \"manifest\"") }
        let manifest = try Self.manifest(manifestJSON)
        let configuration = try Self.configuration(body["configuration"])
        try ScaleAPI.refuseUnknownFields(body, allowed: Self.createFields)
        guard !Self.reservedNames.contains(manifest.name) else {
            throw HTTPError.badRequest("Unable to create job type named \"\(manifest.name)\"")
        }
        let warnings = manifest.warnings + (try Self.check(configuration, against: manifest, session))
        Self.store(manifest, configuration, into: &changes)
        let saved = try ScaleEngineCall.run {
            try session.jobTypes.createOrEdit(name: manifest.name, version: manifest.jobVersion, changes)
        }
        guard case .created = saved, let jobType = try session.jobTypes.find(name: manifest.name, version: manifest.jobVersion) else {
            return Self.valid(warnings: warnings)
        }
        var response = Response.json(ScaleRender.details(jobType), status: 201)
        response.headers.append(("Location", "\(request.origin)/v6/job-types/\(manifest.name)/\(manifest.jobVersion)/"))
        return response
    }

    /// `PATCH /v6/job-types/{name}/{version}/` (spec §3.6).
    func edit(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let body = try ScaleAPI.objectBody(request)
        let (name, version) = (request.parameter("name"), request.parameter("version"))
        var changes = try ScaleQuery.flags(body)
        if let image = body["docker_image"], !image.isNull {
            guard let text = image.stringValue, text.count <= 500 else {
                throw HTTPError.badRequest("Parameter must be a string of at most 500 characters: \"docker_image\"")
            }
            changes.dockerImage = text
        }
        var manifest: SeedManifest?
        if let given = body["manifest"], given != [:] {
            let parsed = try Self.manifest(given)
            guard parsed.name == name else {
                throw HTTPError.badRequest("Manifest name \(parsed.name) does not match current Job Type name \(name).")
            }
            guard parsed.jobVersion == version else {
                throw HTTPError.badRequest("Manifest version \(parsed.jobVersion) does not match current Job Type version \(version).")
            }
            manifest = parsed
        }
        let configuration = try body["configuration"].map { try Self.configuration($0) }
        guard let stored = try session.jobTypes.find(name: name, version: version) else { throw ScaleAPI.notFound }
        try ScaleAPI.refuseUnknownFields(body, allowed: Self.createFields)
        let manifestInEffect = try manifest ?? Self.manifest(stored.manifest)
        let configurationInEffect = configuration ?? JobConfiguration(json: stored.configuration)
        let warnings = (manifest?.warnings ?? []) + (try Self.check(configurationInEffect, against: manifestInEffect, session))
        let validatesConfiguration = manifest != nil || configuration != nil
        if validatesConfiguration {
            Self.store(manifestInEffect, configuration, into: &changes, manifestChanged: manifest != nil)
        }
        guard try ScaleEngineCall.run({ try session.jobTypes.edit(name: name, version: version, changes) }) != nil else {
            throw ScaleAPI.notFound
        }
        return Self.valid(warnings: validatesConfiguration ? warnings : [])
    }

    /// An edit's answer: failures are 400s, so it is valid, with the warnings of the manifest and
    /// configuration it was given (Flowgate has no recipes, so never `DEPRECATED_RECIPES`).
    static func valid(warnings: [ScaleIssue]) -> Response {
        .json(["is_valid": true, "errors": [], "warnings": .array(warnings.map(\.json))])
    }

    // MARK: Validation shared by POST, PATCH and /validation/

    static func manifest(_ json: JSON) throws -> SeedManifest {
        guard case .object = json else { throw HTTPError.badRequest("Parameter must be a valid JSON object: \"manifest\"") }
        switch SeedManifest.validate(json) {
        case let .success(manifest): return manifest
        case let .failure(issue): throw HTTPError.badRequest("Seed Manifest invalid: \(issue.description)")
        }
    }

    static func configuration(_ json: JSON?) throws -> JobConfiguration {
        switch JobConfiguration.parse(json) {
        case let .success(configuration): return configuration
        case let .failure(issue): throw HTTPError.badRequest("Job type configuration invalid: \(issue.description)")
        }
    }

    /// The configuration's warnings in Scale's order; its first error is a 400.
    static func check(_ configuration: JobConfiguration, against manifest: SeedManifest, _ session: Session) throws -> [ScaleIssue] {
        switch configuration.validate(against: manifest, workspace: try workspaceStates(configuration, session)) {
        case let .success(warnings): return warnings
        case let .failure(issue): throw HTTPError.badRequest("Job type configuration invalid: \(issue.description)")
        }
    }

    /// Puts a manifest and/or configuration into the changes: secret setting values go to their
    /// own table, the stored configuration keeps the rest.
    static func store(
        _ manifest: SeedManifest, _ configuration: JobConfiguration?, into changes: inout JobTypeChanges,
        manifestChanged: Bool = true
    ) {
        if manifestChanged {
            changes.manifest = manifest.json
            changes.versionKey = SemVer(manifest.jobVersion)?.sortKey
            changes.tags = manifest.job["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        guard let configuration else { return }
        let secretNames = Set(manifest.settings.filter(\.secret).map(\.name))
        changes.configuration = configuration.publicJSON(secretSettings: secretNames)
        changes.secrets = configuration.settings.compactMap { name, value in
            secretNames.contains(name) ? value.stringValue.map { (name, $0) } : nil
        }
    }

    /// Looks up, in one query, the workspaces a configuration names.
    static func workspaceStates(_ configuration: JobConfiguration, _ session: Session) throws -> (String) -> JobConfiguration
        .WorkspaceState?
    {
        let names = [configuration.defaultWorkspace] + configuration.outputWorkspaces.map(\.1)
        let active = try session.workspaces.activity(names: names.filter { !$0.isEmpty })
        return { name in active[name].map { $0 ? .active : .inactive } }
    }

    /// `POST /v6/job-types/validation/` (spec §3.9): always 200 for a well-formed body, with at
    /// most one error. Nothing is written; any active user may call it.
    func validate(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
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
                switch configuration.validate(against: manifest, workspace: try Self.workspaceStates(configuration, session)) {
                case let .failure(issue): result = ([issue], manifest.warnings)
                case let .success(warnings): result = ([], manifest.warnings + warnings + manifest.nonstandardResourceWarnings)
                }
            }
        }
        return .json([
            "is_valid": .bool(result.errors.isEmpty), "errors": .array(result.errors.map(\.json)),
            "warnings": .array(result.warnings.map(\.json)),
        ])
    }
}
