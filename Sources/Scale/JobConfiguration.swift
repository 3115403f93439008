import Engine
import JSON

/// A job type configuration (spec §6.4–6.5): mounts, output workspaces, priority, settings,
/// with Scale's defaults filled in before the schema runs.
package struct JobConfiguration: Sendable {
    /// The configuration after defaults, as validated.
    package let json: JSON

    package init(json: JSON) {
        self.json = json
    }

    var mounts: [(String, JSON)] { json["mounts"]?.objectValue ?? [] }
    package var defaultWorkspace: String { json["output_workspaces"]?["default"]?.stringValue ?? "" }
    package var outputWorkspaces: [(String, String)] {
        (json["output_workspaces"]?["outputs"]?.objectValue ?? []).compactMap { name, value in value.stringValue.map { (name, $0) } }
    }
    var priority: Int { json["priority"]?.intValue ?? 100 }
    package var settings: [(String, JSON)] { json["settings"]?.objectValue ?? [] }

    /// A workspace as configuration validation needs it: does it exist, is it active.
    package enum WorkspaceState { case active, inactive }

    static let acceptedVersions: Set<String> = ["6", "7", "2.0"]

    /// Fills defaults, checks the version and the schema (`INVALID_VERSION`, `INVALID_CONFIGURATION`).
    package static func parse(_ given: JSON?) -> Result<JobConfiguration, ScaleIssue> {
        let configuration = given ?? [:]
        guard case .object = configuration else {
            return .failure(
                ScaleIssue(
                    name: "INVALID_CONFIGURATION",
                    description: "Invalid configuration: \(PythonRepr.of(configuration)) is not of type 'object'"))
        }
        if let version = configuration["version"], !(version.stringValue.map(acceptedVersions.contains) ?? false) {
            let shown = version.stringValue ?? version.serialized
            return .failure(ScaleIssue(name: "INVALID_VERSION", description: "Invalid configuration version: \(shown)"))
        }
        var filled = configuration
        for (key, value) in [("mounts", JSON.object([])), ("priority", 100), ("settings", JSON.object([]))] where filled[key] == nil {
            filled = filled.setting(key, to: value)
        }
        var workspaces = filled["output_workspaces"] ?? [:]
        if case .object = workspaces {
            if workspaces["default"] == nil { workspaces = workspaces.setting("default", to: "") }
            if workspaces["outputs"] == nil { workspaces = workspaces.setting("outputs", to: [:]) }
        }
        filled = filled.setting("output_workspaces", to: workspaces)
        if let mounts = filled["mounts"]?.objectValue {
            filled = filled.setting(
                "mounts",
                to: .object(
                    mounts.map { name, mount in
                        guard mount["type"] == "volume" else { return (name, mount) }
                        var volume = mount
                        if volume["driver"] == nil { volume = volume.setting("driver", to: "") }
                        if volume["driver_opts"] == nil { volume = volume.setting("driver_opts", to: [:]) }
                        return (name, volume)
                    }))
        }
        if let violation = ScaleSchemas.jobConfiguration.validate(filled).first {
            return .failure(ScaleIssue(name: "INVALID_CONFIGURATION", description: "Invalid configuration: \(violation.message)"))
        }
        return .success(JobConfiguration(json: filled))
    }

    /// Checks against a manifest and the workspace registry, in Scale's order. Returns the
    /// warnings, or the first error (which discards them).
    package func validate(against manifest: SeedManifest, workspace: (String) -> WorkspaceState?) -> Result<[ScaleIssue], ScaleIssue> {
        var warnings: [ScaleIssue] = []
        guard priority >= 1 else {
            return .failure(ScaleIssue(name: "INVALID_PRIORITY", description: "Priority must be a positive integer"))
        }
        let manifestMounts = manifest.mountNames
        for (name, mount) in mounts {
            if mount["type"] == "host", !(mount["host_path"]?.stringValue?.hasPrefix("/") ?? false) {
                return .failure(ScaleIssue(name: "HOST_ABSOLUTE_PATH", description: "Host mount \(name) must use an absolute host path"))
            }
            if !manifestMounts.contains(name) {
                warnings.append(ScaleIssue(name: "UNKNOWN_MOUNT", description: "Unknown mount '\(name)' ignored"))
            }
        }
        for name in manifestMounts where !mounts.contains(where: { $0.0 == name }) {
            warnings.append(ScaleIssue(name: "MISSING_MOUNT", description: "Missing configuration for mount '\(name)'"))
        }
        var used = outputWorkspaces.map(\.1)
        if !defaultWorkspace.isEmpty { used.insert(defaultWorkspace, at: 0) }
        var seen = Set<String>()
        for name in used where seen.insert(name).inserted {
            switch workspace(name) {
            case nil: return .failure(ScaleIssue(name: "INVALID_WORKSPACE", description: "No workspace named '\(name)'"))
            case .inactive?: warnings.append(ScaleIssue(name: "DEPRECATED_WORKSPACE", description: "Workspace '\(name)' is deprecated"))
            case .active?: break
            }
        }
        if defaultWorkspace.isEmpty {
            let configured = Set(outputWorkspaces.map(\.0))
            let missing = manifest.outputFileNames.filter { !configured.contains($0) }
            if !missing.isEmpty {
                return .failure(
                    ScaleIssue(name: "MISSING_WORKSPACE", description: "Missing workspace for outputs '\(missing.joined(separator: ", "))'")
                )
            }
        }
        let manifestSettings = manifest.settings.map(\.name)
        for (name, _) in settings where !manifestSettings.contains(name) {
            warnings.append(ScaleIssue(name: "UNKNOWN_SETTING", description: "Unknown setting '\(name)' ignored"))
        }
        for name in manifestSettings where !settings.contains(where: { $0.0 == name }) {
            warnings.append(ScaleIssue(name: "MISSING_SETTING", description: "Missing configuration for setting '\(name)'"))
        }
        return .success(warnings)
    }

    /// What GET shows: the `version` key stripped, values of secret settings removed
    /// (they live in their own table), `default` only when one is set.
    package func publicJSON(secretSettings: Set<String>) -> JSON {
        var workspaces: JSON = ["outputs": json["output_workspaces"]?["outputs"] ?? [:]]
        if !defaultWorkspace.isEmpty { workspaces = workspaces.setting("default", to: .string(defaultWorkspace)) }
        let mounts = self.mounts.map { name, mount -> (String, JSON) in
            guard mount["type"] == "volume", mount["driver"] == "" else { return (name, mount) }
            return (name, .object((mount.objectValue ?? []).filter { $0.0 != "driver" }))
        }
        return [
            "mounts": .object(mounts), "output_workspaces": workspaces, "priority": .number(priority),
            "settings": .object(settings.filter { !secretSettings.contains($0.0) }),
        ]
    }
}
