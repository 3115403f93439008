import Engine
import JSON

/// An error or warning in Scale's validation vocabulary (`{"name", "description"}`).
package struct ScaleIssue: Sendable, Equatable, Error {
    let name: String
    package let description: String

    package var json: JSON { ["name": .string(name), "description": .string(description)] }
}

/// A Seed 1.0.0 manifest that passed Scale's checks (spec §6.1–6.3), with the defaults Scale
/// writes into the stored manifest filled in.
package struct SeedManifest: Sendable {
    /// The manifest as stored and returned: defaults filled, missing error names derived.
    package let json: JSON
    /// Warnings from accepting it (`MISSING_ERROR_NAME`, the seed document's examples).
    package let warnings: [ScaleIssue]

    package var job: JSON { json["job"] ?? [:] }
    package var name: String { job["name"]?.stringValue ?? "" }
    package var jobVersion: String { job["jobVersion"]?.stringValue ?? "" }
    var interface: JSON { job["interface"] ?? [:] }
    var mountNames: [String] { (interface["mounts"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }
    package var settings: [(name: String, secret: Bool)] {
        (interface["settings"]?.arrayValue ?? []).compactMap { setting in
            setting["name"]?.stringValue.map { ($0, setting["secret"]?.boolValue ?? false) }
        }
    }
    var outputFileNames: [String] {
        (interface["outputs"]?["files"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }
    var scalarResourceNames: [String] {
        (job["resources"]?["scalar"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    /// The resources Scale's scheduler knows (compared lower-cased).
    static let standardResources: Set<String> = ["cpus", "mem", "disk", "gpus", "sharedmem"]

    /// `NONSTANDARD_RESOURCE` warnings, which only the validation endpoint reports.
    package var nonstandardResourceWarnings: [ScaleIssue] {
        scalarResourceNames.filter { !SeedManifest.standardResources.contains($0.lowercased()) }.map {
            ScaleIssue(
                name: "NONSTANDARD_RESOURCE", description: "'\($0)' is not a standard resouce. This job type might not be schedulable.")
        }
    }

    /// Checks in Scale's order; the first failure is the one error reported.
    package static func validate(_ manifest: JSON) -> Result<SeedManifest, ScaleIssue> {
        let (named, warnings) = deriveMissingErrorNames(manifest)
        if let violation = ScaleSchemas.seedManifest.validate(named).first {
            return .failure(ScaleIssue(name: "JSON_VALIDATION_ERROR", description: "Error validating against schema: \(violation.message)"))
        }
        let job = named["job"] ?? [:]
        for scalar in job["resources"]?["scalar"]?.arrayValue ?? [] where scalar["name"]?.stringValue?.lowercased() == "gpus" {
            if let value = scalar["value"]?.doubleValue, value != value.rounded() {
                return .failure(
                    ScaleIssue(
                        name: "JSON_VALIDATION_ERROR",
                        description: "Error validating against schema: gpu resource not set to whole number"))
            }
        }
        let interface = job["interface"] ?? [:]
        func names(_ list: JSON?) -> [String] { (list?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }
        let environment =
            ["OUTPUT_DIR"] + names(interface["settings"]) + names(interface["inputs"]?["files"])
            + names(interface["inputs"]?["json"]) + names(job["resources"]?["scalar"]).map { "ALLOCATED_" + $0 }
        let normalised = environment.map { $0.uppercased().replacing("-", with: "_") }
        if Set(normalised).count != normalised.count {
            return .failure(
                ScaleIssue(
                    name: "NAME_COLLISION_ERROR",
                    description: "Collisions are not allowed between reserved keywords, resources, settingsand input names."))
        }
        let mounts = interface["mounts"]?.arrayValue ?? []
        if Set(names(interface["mounts"])).count != mounts.count {
            return .failure(ScaleIssue(name: "DUPLICATE_MOUNT_NAMES", description: "Mount names must be unique."))
        }
        let errorNames = names(job["errors"])
        if Set(errorNames).count != errorNames.count {
            return .failure(ScaleIssue(name: "DUPLICATE_ERROR_NAMES", description: "Error names must be unique."))
        }
        for mount in mounts where !(mount["path"]?.stringValue?.hasPrefix("/") ?? false) {
            return .failure(
                ScaleIssue(
                    name: "INVALID_MOUNT_PATH",
                    description: "\(mount["name"]?.stringValue ?? "") mount must have an absolute path"))
        }
        return .success(SeedManifest(json: withDefaults(named), warnings: warnings))
    }

    /// The seed document's own examples leave out `errors[].name`, which the schema requires:
    /// such errors are named `error-<code>`, with a warning (decision D3).
    static func deriveMissingErrorNames(_ manifest: JSON) -> (JSON, [ScaleIssue]) {
        guard let job = manifest["job"], let errors = job["errors"]?.arrayValue else { return (manifest, []) }
        var warnings: [ScaleIssue] = []
        let named = errors.map { error -> JSON in
            guard case .object = error, error["name"] == nil, let code = error["code"]?.intValue else { return error }
            warnings.append(
                ScaleIssue(name: "MISSING_ERROR_NAME", description: "Error code \(code) has no name; it is named 'error-\(code)'"))
            return error.setting("name", to: .string("error-\(code)"))
        }
        return (manifest.setting("job", to: job.setting("errors", to: .array(named))), warnings)
    }

    /// What Scale fills in before storing (§6.3); the user's casing of resource names is kept.
    static func withDefaults(_ manifest: JSON) -> JSON {
        func filling(_ list: JSON?, _ defaults: [(String, JSON)]) -> JSON? {
            guard let items = list?.arrayValue else { return list }
            return .array(items.map { item in defaults.reduce(item) { $0[$1.0] == nil ? $0.setting($1.0, to: $1.1) : $0 } })
        }
        guard var job = manifest["job"] else { return manifest }
        if var interface = job["interface"] {
            if let mounts = filling(interface["mounts"], [("mode", "ro")]) { interface = interface.setting("mounts", to: mounts) }
            if let settings = filling(interface["settings"], [("secret", false)]) {
                interface = interface.setting("settings", to: settings)
            }
            if var inputs = interface["inputs"] {
                if let files = filling(inputs["files"], [("required", true), ("mediaTypes", []), ("multiple", false), ("partial", false)]) {
                    inputs = inputs.setting("files", to: files)
                }
                if let json = filling(inputs["json"], [("required", true)]) { inputs = inputs.setting("json", to: json) }
                interface = interface.setting("inputs", to: inputs)
            }
            if var outputs = interface["outputs"] {
                if let files = filling(
                    outputs["files"], [("mediaType", "application/octet-stream"), ("multiple", false), ("required", true)])
                {
                    outputs = outputs.setting("files", to: files)
                }
                if let json = filling(outputs["json"], [("required", true)]) { outputs = outputs.setting("json", to: json) }
                interface = interface.setting("outputs", to: outputs)
            }
            job = job.setting("interface", to: interface)
        }
        if let errors = job["errors"]?.arrayValue {
            job = job.setting(
                "errors",
                to: .array(
                    errors.map { error in
                        let categorised = error["category"] == nil ? error.setting("category", to: "job") : error
                        return categorised["title"] == nil ? categorised.setting("title", to: categorised["name"] ?? "") : categorised
                    }))
        }
        return manifest.setting("job", to: job)
    }
}
