import Engine
import FastCGI
import Postgres
import WebSocketServer
import WorkflowManagerAPI

/// The instance's WebSocket endpoints on their listener, fed from history: Workflow Manager's
/// notificationWs, with a LISTEN connection that hears every instance's step changes.
package final class LiveNotifications: @unchecked Sendable {
    private let listener: Listener
    private let server: WebSocketServer
    private let feed: NotificationListener

    package init(_ configuration: Configuration, listener: Listener) {
        self.listener = listener
        let hub = WMNotificationHub(session: Session(connectingLater: configuration.conninfo, surfaces: Wiring.surfaces))
        server = WebSocketServer(endpoints: [hub], limits: configuration.webSocketLimits)
        feed = NotificationListener(
            conninfo: configuration.conninfo, channels: [WMNotificationHub.channel],
            deliver: { notifications in hub.deliver(notifications.map(\.payload)) }, resync: hub.resync)
    }

    package func start() throws {
        feed.start()
        try server.start(listeningDescriptor: listener.descriptor)
    }

    package func stop() { feed.stop() }

    package func waitUntilStopped() {
        server.stop()
        feed.waitUntilStopped()
    }
}
