import Engine
import HTTP
import Itential
import JSON

/// A job's `groups` (spec §2.1) restrict every read of and action on it, as on the platform:
/// admins reach every job; anyone else, jobs without groups and jobs of a group they belong to.
/// Searches leave out what the caller cannot reach; a direct request answers 403.
enum ItentialAccess {
    /// The group ids and names a search is limited to; nil for an admin (no limit).
    static func visibleGroups(_ user: User) -> [String]? {
        user.hasRole("admin") ? nil : user.groupAccounts.flatMap { [$0.id, $0.name] }
    }

    static func mayReach(_ jobDocument: JSON, _ user: User) -> Bool {
        guard let mine = visibleGroups(user) else { return true }
        let groups = jobDocument["groups"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return groups.isEmpty || !Set(groups).isDisjoint(with: mine)
    }

    static func require(_ jobDocument: JSON, id: String, _ user: User) throws {
        guard mayReach(jobDocument, user) else {
            throw HTTPError.forbidden("User \(user.username) is not authorized to access job \(id) (not in the job's groups)")
        }
    }

    /// Before an action on several jobs: every one that exists must be reachable (missing ones
    /// are left to the action, which reports them).
    static func requireAll(_ ids: [String], _ user: User, _ session: Session) throws {
        guard visibleGroups(user) != nil else { return }
        for job in try session.itentialJobs.jobs(ids: ids) { try require(job.document, id: job.id, user) }
    }
}
