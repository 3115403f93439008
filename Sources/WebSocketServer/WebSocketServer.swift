import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A WebSocket listener beside the FastCGI one: FastCGI cannot carry a connection that stays
/// open, so nginx proxies the WebSocket paths here. SwiftNIO does the protocol (upgrade,
/// framing, masking, fragments); this module only bounds it and hands text messages to the
/// endpoint that serves the path. It knows nothing of what the messages mean.
public final class WebSocketServer: Sendable {
    public struct Limits: Sendable {
        /// The largest message a client may send, after its fragments are joined.
        public var maxMessageBytes = 64 * 1024
        /// Open connections per instance; beyond, the upgrade is refused with 503.
        public var maxConnections = 1000
        /// A connection that sends nothing (not even a pong) for this long is closed.
        public var idleSeconds: Int64 = 120
        /// A ping after this long without writing, which keeps proxies from timing out.
        public var pingSeconds: Int64 = 30
        /// Unread output held for a client; a client that falls further behind is closed.
        public var maxPendingOutputBytes = 1024 * 1024

        public init() {}
    }

    private let group: MultiThreadedEventLoopGroup
    private let endpoints: [any WebSocketEndpoint]
    private let limits: Limits
    private let connections = NIOLockedValueBox(0)
    private let listening = NIOLockedValueBox<(any Channel)?>(nil)

    public init(endpoints: [any WebSocketEndpoint], limits: Limits = Limits(), threads: Int = 1) {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.endpoints = endpoints
        self.limits = limits
    }

    /// Serves on a listening socket opened by someone else (the supervisor); returns at once.
    public func start(listeningDescriptor: Int32) throws {
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(
                .writeBufferWaterMark,
                value: ChannelOptions.Types.WriteBufferWaterMark(low: limits.maxPendingOutputBytes / 2, high: limits.maxPendingOutputBytes)
            )
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
            .withBoundSocket(listeningDescriptor).wait()
        listening.withLockedValue { $0 = channel }
    }

    public func stop() {
        let channel = listening.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// HTTP first; an upgrade on a path an endpoint serves replaces it with WebSocket framing.
    private func configure(_ channel: any Channel) throws {
        let refusal = RefusalHandler(served: { [endpoints] path in endpoints.contains { $0.serves(path: path) } })
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: limits.maxMessageBytes,
            shouldUpgrade: { [self] channel, head in
                guard admit(head) else { return channel.eventLoop.makeSucceededFuture(nil) }
                // The slot is given back when the connection closes, however far it got.
                channel.closeFuture.whenComplete { [self] _ in connections.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
            },
            upgradePipelineHandler: { [self] channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let path = String(head.uri.prefix { $0 != "?" })
                    guard let endpoint = endpoints.first(where: { $0.serves(path: path) }) else { throw ChannelError.inputClosed }
                    let peer = WebSocketPeer(channel: channel, path: path, query: String(head.uri.drop { $0 != "?" }.dropFirst()))
                    let handlers: [any ChannelHandler] = [
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 64,
                            maxAccumulatedFrameSize: limits.maxMessageBytes),
                        IdleStateHandler(
                            readTimeout: .seconds(limits.idleSeconds), writeTimeout: .seconds(limits.pingSeconds)),
                        FrameHandler(peer: peer, endpoint: endpoint),
                    ]
                    try channel.pipeline.syncOperations.addHandlers(handlers)
                }
            })
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(refusal, promise: nil)
                }
            ))
        try channel.pipeline.syncOperations.addHandler(refusal)
    }

    /// Whether an upgrade of `head` is admitted (and then counted).
    private func admit(_ head: HTTPRequestHead) -> Bool {
        let path = String(head.uri.prefix { $0 != "?" })
        guard endpoints.contains(where: { $0.serves(path: path) }) else { return false }
        return connections.withLockedValue { count in
            guard count < limits.maxConnections else { return false }
            count += 1
            return true
        }
    }
}

/// What serves the messages of one kind of WebSocket path. Called on the connection's event
/// loop: an endpoint must hand slow work (the database) to its own thread.
public protocol WebSocketEndpoint: Sendable {
    func serves(path: String) -> Bool
    func opened(_ peer: WebSocketPeer)
    func received(_ text: String, from peer: WebSocketPeer)
    func closed(_ peer: WebSocketPeer)
}

/// One open connection. Safe to use from any thread; compared by identity.
public final class WebSocketPeer: Sendable, Hashable {
    private let channel: any Channel
    public let path: String
    /// The query string of the upgrade request, without `?`.
    public let query: String

    init(channel: any Channel, path: String, query: String) {
        self.channel = channel
        self.path = path
        self.query = query
    }

    /// Sends a text message; a client that has stopped reading is disconnected instead.
    public func send(_ text: String) {
        guard channel.isActive else { return }
        // A client that stopped reading cannot read a close frame either: it is cut off.
        guard channel.isWritable else { return channel.close(promise: nil) }
        let frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
        channel.writeAndFlush(frame, promise: nil)
    }

    public func close(code: WebSocketErrorCode = .normalClosure, reason: String = "") {
        var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        channel.writeAndFlush(frame).whenComplete { [channel] _ in channel.close(promise: nil) }
    }

    public static func == (left: WebSocketPeer, right: WebSocketPeer) -> Bool { left === right }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// A request that was not an admitted upgrade: 400 for a plain HTTP request, 404 for a path no
/// endpoint serves, 503 when the instance is full.
private final class RefusalHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let served: @Sendable (String) -> Bool

    init(served: @escaping @Sendable (String) -> Bool) { self.served = served }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case let .head(head) = unwrapInboundIn(data) else { return }
        let (status, message): (HTTPResponseStatus, String) =
            if head.headers["upgrade"].isEmpty {
                (.badRequest, "WebSocket upgrade required")
            } else if served(String(head.uri.prefix { $0 != "?" })) {
                (.serviceUnavailable, "Too many WebSocket connections")
            } else {
                (.notFound, "No WebSocket here")
            }
        let body = context.channel.allocator.buffer(string: "{\"error\":{\"code\":\(status.code),\"message\":\"\(message)\"}}")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Text messages to the endpoint; pings answered, pongs and idleness watched, close echoed.
private final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let peer: WebSocketPeer
    let endpoint: any WebSocketEndpoint

    init(peer: WebSocketPeer, endpoint: any WebSocketEndpoint) {
        self.peer = peer
        self.endpoint = endpoint
    }

    /// The endpoint hears of the close however the connection ends, even if it ended already.
    func handlerAdded(context: ChannelHandlerContext) {
        endpoint.opened(peer)
        context.channel.closeFuture.whenComplete { [peer, endpoint] _ in endpoint.closed(peer) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            var data = frame.unmaskedData
            endpoint.received(data.readString(length: data.readableBytes) ?? "", from: peer)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            peer.close()
        case .binary:
            peer.close(code: .unacceptableData, reason: "text messages only")
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? IdleStateHandler.IdleStateEvent {
        case .read?:
            peer.close(code: .goingAway, reason: "idle")
        case .write?:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0))), promise: nil
            )
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
