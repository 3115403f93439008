import Dispatch
import Engine
import Foundation
import HTTP
import JSON
import WebSocketServer
import WorkflowManager

/// Workflow Manager's WebSocket Message API at `/{orgId}/{itemId}/notificationWs`: a client
/// subscribes to jobs with its token and is told of every step change, whichever instance made
/// it. Changes arrive from history (migration 0019 sends each Workflow Manager event on
/// `flowgate_wm_events`); this hub turns them into messages for the connections that follow
/// the job. All of its state lives on one serial queue, which also owns its database session.
public final class WMNotificationHub: WebSocketEndpoint, @unchecked Sendable {
    public static let channel = "flowgate_wm_events"
    /// Jobs one connection may follow at once.
    public static let maxSubscriptions = 100
    /// Messages of one connection waiting for the queue; a client that sends faster is closed.
    static let maxPendingMessages = 32
    /// How long a connection may stay without a token.
    static let tokenDeadlineSeconds = 10.0

    private let queue = DispatchQueue(label: "wm-notifications")
    private let session: Session
    private var connections: [WebSocketPeer: Follower] = [:]
    private var followers: [String: Set<WebSocketPeer>] = [:]
    /// Messages received but not yet handled, per connection (touched on the event loops).
    private let pendingLock = NSLock()
    private var pending: [WebSocketPeer: Int] = [:]

    /// One connection: the item of its path (looked up once, at open), who it is once a token
    /// was checked, what it follows.
    private struct Follower {
        let itemKey: Int64
        var user: User?
        var jobIds: Set<String> = []
    }

    public init(session: Session) {
        self.session = session
    }

    // MARK: WebSocketEndpoint (called on the event loop: hand everything to the queue)

    public func serves(path: String) -> Bool { Self.item(of: path) != nil }

    public func opened(_ peer: WebSocketPeer) {
        queue.async { [self] in open(peer) }
    }

    public func received(_ text: String, from peer: WebSocketPeer) {
        let waiting = pendingLock.withLock {
            pending[peer, default: 0] += 1
            return pending[peer] ?? 0
        }
        guard waiting <= Self.maxPendingMessages else { return peer.close(code: .policyViolation, reason: "too many messages") }
        queue.async { [self] in
            receive(text, from: peer)
            pendingLock.withLock {
                if let count = pending[peer] { pending[peer] = count > 1 ? count - 1 : nil }
            }
        }
    }

    public func closed(_ peer: WebSocketPeer) {
        pendingLock.withLock { pending[peer] = nil }
        queue.async { [self] in forget(peer) }
    }

    // MARK: From history (called on the listener's thread)

    /// The payloads of `channel`'s notifications, in commit order.
    public func deliver(_ payloads: [String]) {
        let notices = payloads.compactMap { WMNotice(payload: $0) }
        queue.async { [self] in
            for notice in notices { publish(notice) }
        }
    }

    /// Notifications may have been missed while the listener reconnected: every followed job's
    /// state is sent again.
    public func resync() {
        queue.async { [self] in
            for (jobId, peers) in followers {
                for peer in peers { sendState(of: jobId, to: peer) }
            }
        }
    }

    // MARK: On the queue

    private func open(_ peer: WebSocketPeer) {
        guard let (orgId, itemId) = Self.item(of: peer.path) else { return peer.close(code: .policyViolation) }
        var user: User?
        if let token = Self.queryToken(peer.query) {
            guard let known = authenticate(token, peer) else { return }
            user = known
        }
        let item: WorkflowItem
        do {
            try session.reconnectIfNeeded()
            guard let found = try session.workflowItems.item(orgId: orgId, itemId: itemId) else {
                return refuse(peer, "Workflow item '\(itemId)' does not exist.", code: "400")
            }
            item = found
        } catch {
            return refuse(peer, "The database is unavailable.", code: "503")
        }
        var follower = Follower(itemKey: item.key)
        follower.user = user
        connections[peer] = follower
        peer.send(JSON.object([("connected", true)]).serialized)
        if follower.user == nil {
            queue.asyncAfter(deadline: .now() + Self.tokenDeadlineSeconds) { [self] in
                if let follower = connections[peer], follower.user == nil { refuse(peer, "Token required.", code: "401") }
            }
        }
    }

    private func receive(_ text: String, from peer: WebSocketPeer) {
        guard var follower = connections[peer] else { return }
        guard let message = try? JSON.parse(text), case .object = message, let type = message["msgType"]?.stringValue else {
            return report(peer, "A message must be a JSON object with a msgType.", code: "400")
        }
        guard type == "subscribe" || type == "unsubscribe" else {
            return report(peer, "Unknown msgType '\(type)': expected subscribe or unsubscribe.", code: "400")
        }
        if let token = message["token"]?.stringValue {
            guard let user = authenticate(token, peer) else { return }
            follower.user = user
        }
        guard follower.user != nil else { return refuse(peer, "Token required.", code: "401") }
        let jobIds = (message["jobIds"]?.arrayValue ?? []).compactMap(\.stringValue)
        if type == "unsubscribe" {
            let dropped = message["all"]?.boolValue == true ? follower.jobIds : follower.jobIds.intersection(jobIds)
            follower.jobIds.subtract(dropped)
            for jobId in dropped { unfollow(jobId, peer) }
            connections[peer] = follower
            return
        }
        var asked: [String] = []
        for jobId in jobIds where !asked.contains(jobId) { asked.append(jobId) }
        let new = asked.filter { !follower.jobIds.contains($0) }
        guard follower.jobIds.count + new.count <= Self.maxSubscriptions else {
            connections[peer] = follower
            return report(peer, "A connection follows at most \(Self.maxSubscriptions) jobs.", code: "400")
        }
        connections[peer] = follower
        // The reply to a subscribe is the state of each job asked for (clients wait for it); only
        // jobs of the connection's item are followed.
        for jobId in asked {
            do {
                guard let job = try job(jobId, in: follower) else {
                    report(peer, "Job '\(jobId)' does not exist.", code: "400", jobId: jobId)
                    continue
                }
                if follower.jobIds.insert(jobId).inserted { followers[jobId, default: []].insert(peer) }
                peer.send(WMNotificationMessages.jobState(job, now: Date()).serialized)
            } catch {
                report(peer, "The database is unavailable.", code: "503", jobId: jobId)
            }
        }
        connections[peer] = follower
    }

    private func forget(_ peer: WebSocketPeer) {
        guard let follower = connections.removeValue(forKey: peer) else { return }
        for jobId in follower.jobIds { unfollow(jobId, peer) }
    }

    private func unfollow(_ jobId: String, _ peer: WebSocketPeer) {
        followers[jobId]?.remove(peer)
        if followers[jobId]?.isEmpty == true { followers[jobId] = nil }
    }

    /// Job ids are unique among Workflow Manager jobs, and a connection follows only jobs of its
    /// own item: every follower of a job is in its item, and the job is read once per row.
    private func publish(_ notice: WMNotice) {
        guard let peers = followers[notice.jobId], let first = peers.first, let follower = connections[first] else { return }
        let job = WMNotificationMessages.needsJob(notice) ? try? job(notice.jobId, in: follower) : nil
        let messages = WMNotificationMessages.messages(for: notice, job: job).map(\.serialized)
        for peer in peers {
            for message in messages { peer.send(message) }
        }
    }

    private func sendState(of jobId: String, to peer: WebSocketPeer) {
        guard let follower = connections[peer], let job = try? job(jobId, in: follower) else { return }
        peer.send(WMNotificationMessages.jobState(job, now: Date()).serialized)
    }

    private func job(_ jobId: String, in follower: Follower) throws -> StepJob? {
        try session.reconnectIfNeeded()
        return try session.stepJobs.job(item: follower.itemKey, id: jobId)
    }

    /// The token's user, or nil after telling the client and closing.
    private func authenticate(_ token: String, _ peer: WebSocketPeer) -> User? {
        do {
            try session.reconnectIfNeeded()
            return try WorkflowManagerAPI.user(token: token, session)
        } catch let error as HTTPError {
            refuse(peer, error.message, code: String(error.status))
        } catch {
            refuse(peer, "The database is unavailable.", code: "503")
        }
        return nil
    }

    private func report(_ peer: WebSocketPeer, _ text: String, code: String, jobId: String? = nil) {
        peer.send(WMNotificationMessages.error(text, code: code, jobId: jobId, now: Date()).serialized)
    }

    private func refuse(_ peer: WebSocketPeer, _ text: String, code: String) {
        report(peer, text, code: code)
        peer.close(code: .policyViolation, reason: String(text.utf8.prefix(100)) ?? "")
        forget(peer)
    }

    // MARK: Paths and tokens

    /// `/{orgId}/{itemId}/notificationWs` → its two ids.
    static func item(of path: String) -> (String, String)? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 4, segments[0].isEmpty, segments[3] == "notificationWs", !segments[1].isEmpty, !segments[2].isEmpty
        else { return nil }
        return (String(segments[1]), String(segments[2]))
    }

    static func queryToken(_ query: String) -> String? {
        for pair in query.split(separator: "&") where pair.hasPrefix("token=") {
            let value = String(pair.dropFirst(6))
            let decoded = value.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? value
            return decoded.isEmpty ? nil : decoded
        }
        return nil
    }
}
