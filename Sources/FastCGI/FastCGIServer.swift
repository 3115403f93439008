import CFastCGI
import CoreMetrics
import Foundation
import Glibc

/// What nginx handed over for one request: the FastCGI parameters and the body.
public struct RawRequest {
    public let params: [String: String]
    public let body: [UInt8]
    /// Why the body was not read as declared; `body` is then empty or short.
    public let bodyProblem: BodyProblem?

    public enum BodyProblem: Sendable, Equatable {
        /// CONTENT_LENGTH was above the server's limit; nothing was read.
        case tooLarge(limit: Int)
        /// CONTENT_LENGTH was negative or not a number.
        case invalidLength
        /// The stream ended before CONTENT_LENGTH bytes arrived.
        case incomplete
    }
}

/// What goes back: a status, headers and a body. `Status:` is written as a CGI header.
public struct RawResponse {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Handles requests on one worker thread. Created inside that thread, so it may own things that
/// are not thread-safe (its PostgreSQL connection).
public protocol RequestHandler: AnyObject {
    func handle(_ request: RawRequest) -> RawResponse
}

/// Where the FastCGI listener binds: a unix socket path, or `:port` / `host:port`.
public enum ListenAddress: Sendable, CustomStringConvertible {
    case unixSocket(String)
    case tcp(String)

    public var description: String {
        switch self {
        case let .unixSocket(path): path
        case let .tcp(hostPort): hostPort
        }
    }
}

/// A listening FastCGI socket. The supervisor opens it once and hands it to each worker process
/// it starts, so that connections wait in its backlog while a crashed worker is replaced.
public struct Listener: Sendable {
    public let descriptor: Int32
    /// The socket file and its inode, for a unix socket this process created.
    private let socketFile: (path: String, inode: ino_t)?

    /// A socket another process opened and passed down (see `FLOWGATE_LISTEN_FD`).
    public static func inherited(_ descriptor: Int32) -> Listener {
        FastCGIServer.closeOnExec(descriptor)
        return Listener(descriptor: descriptor, socketFile: nil)
    }

    public static func open(_ address: ListenAddress) throws -> Listener {
        let descriptor = FCGX_OpenSocket(address.description, 1024)
        guard descriptor >= 0 else { throw FastCGIError("cannot listen on \(address): \(String(cString: strerror(errno)))") }
        FastCGIServer.closeOnExec(descriptor)
        guard case let .unixSocket(path) = address else { return Listener(descriptor: descriptor, socketFile: nil) }
        // nginx's workers run as another user in this process's group; nobody else may connect.
        chmod(path, 0o660)
        var info = stat()
        guard stat(path, &info) == 0 else { return Listener(descriptor: descriptor, socketFile: nil) }
        return Listener(descriptor: descriptor, socketFile: (path, info.st_ino))
    }

    /// Closes the socket and removes its file if it is still ours (a newer instance may already
    /// have replaced it at the same path).
    public func close() {
        Glibc.close(descriptor)
        guard let socketFile else { return }
        var info = stat()
        if stat(socketFile.path, &info) == 0, info.st_ino == socketFile.inode { unlink(socketFile.path) }
    }
}

/// A threaded libfcgi server: N workers each accept and serve one request at a time.
///
/// Shutdown is driven from outside (`stop()`), because libfcgi installs its own SIGTERM handler
/// that only sets a flag: the process blocks the signals, waits for them in one thread, and then
/// calls `stop()`. Workers blocked in `accept` are woken with SIGUSR1, libfcgi's own graceful
/// stop (its handler sets the shutdown flag and, installed without SA_RESTART, makes accept
/// return), one thread at a time and only while it waits in accept. The listening socket itself
/// is left alone, so a worker process that replaces this one keeps accepting on it.
public final class FastCGIServer: @unchecked Sendable {
    public let listener: Listener
    public let workerCount: Int
    public let bodyLimit: Int
    private let makeHandler: @Sendable (Int) -> any RequestHandler
    private var listenFD: Int32 { listener.descriptor }
    private let finished = DispatchGroup()
    private let accepting = AcceptingThreads()
    // Written once by stop() and read by workers between requests; a torn read is impossible for
    // a Bool and a late read only means one more accept, which then fails.
    private nonisolated(unsafe) var stopping = false

    public init(
        listener: Listener, workerCount: Int, bodyLimit: Int,
        makeHandler: @escaping @Sendable (Int) -> any RequestHandler
    ) {
        self.listener = listener
        self.workerCount = workerCount
        self.bodyLimit = bodyLimit
        self.makeHandler = makeHandler
    }

    /// Starts the workers on the listener; returns at once.
    public func start() throws {
        guard FCGX_Init() == 0 else { throw FastCGIError("FCGX_Init failed") }
        // What libfcgi installs too, unless a handler was there first: SIGUSR1 sets its shutdown
        // flag, without SA_RESTART, so that accept returns.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in FCGX_ShutdownPending() }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR1, &action, nil)
        Gauge(label: "flowgate_fastcgi_workers").record(workerCount)
        for index in 0..<workerCount {
            finished.enter()
            let thread = Thread { [self] in
                serve(worker: index)
                finished.leave()
            }
            thread.name = "fcgi-\(index)"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    /// Stops accepting; requests in flight finish. Safe to call from any thread, more than once.
    /// The listener stays open and listening (its owner closes it).
    public func stop() {
        guard !stopping else { return }
        stopping = true
        FCGX_ShutdownPending()
    }

    /// Blocks until every worker thread has returned, waking those still in accept. A signal can
    /// land just before a thread enters accept, so it is sent again every 20 ms.
    public func waitUntilStopped() {
        while finished.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if stopping { accepting.interrupt() }
        }
    }

    /// Workers serving a request now. Each worker owns its database connection, so a request
    /// never waits for one: the wait to watch is for a free worker (all of them busy).
    static let busy = Meter(label: "flowgate_fastcgi_busy_workers")

    private func serve(worker index: Int) {
        let handler = makeHandler(index)
        // libfcgi keeps a pointer back to the request: it must not move.
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listenFD, 0)
        while !stopping, accepting.during({ FCGX_Accept_r(request) }) >= 0 {
            // libfcgi accepts without SOCK_CLOEXEC. (Child processes close every descriptor
            // above 2 anyway; this is the second line.)
            Self.closeOnExec(request.pointee.ipcFd)
            Self.busy.increment()
            let raw = read(request)
            let response = handler.handle(raw)
            write(response, to: request)
            FCGX_Finish_r(request)
            Self.busy.decrement()
        }
        FCGX_Free(request, 1)
    }

    /// The worker threads waiting in accept, which alone may be interrupted: a signal during a
    /// request would fail its reads and writes with EINTR. A thread leaves the set under the lock
    /// before its first read, so a signal sent under the lock arrives while it still waits.
    final class AcceptingThreads: @unchecked Sendable {
        private let lock = NSLock()
        private var threads: [pthread_t] = []

        func during(_ accept: () -> Int32) -> Int32 {
            let me = pthread_self()
            lock.withLock { threads.append(me) }
            defer { lock.withLock { threads.removeAll { pthread_equal($0, me) != 0 } } }
            return accept()
        }

        func interrupt() {
            lock.withLock {
                for thread in threads { pthread_kill(thread, SIGUSR1) }
            }
        }
    }

    static func closeOnExec(_ descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFD, fcntl(descriptor, F_GETFD) | FD_CLOEXEC)
    }

    private func read(_ request: UnsafeMutablePointer<FCGX_Request>) -> RawRequest {
        var params: [String: String] = [:]
        params.reserveCapacity(32)
        if var cursor = request.pointee.envp {
            while let entry = cursor.pointee {
                // Split on the bytes: the hot path of every request, and Character-wise search
                // of a String costs several times more.
                let text = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
                if let equals = text.firstIndex(of: UInt8(ascii: "=")) {
                    params[String(decoding: text[..<equals], as: UTF8.self)] = String(decoding: text[(equals + 1)...], as: UTF8.self)
                }
                cursor += 1
            }
        }
        let declared = params["CONTENT_LENGTH"] ?? ""
        guard let length = declared.isEmpty ? 0 : Int(declared), length >= 0 else {
            return RawRequest(params: params, body: [], bodyProblem: .invalidLength)
        }
        guard length <= bodyLimit else { return RawRequest(params: params, body: [], bodyProblem: .tooLarge(limit: bodyLimit)) }
        var body = [UInt8](repeating: 0, count: length)
        var received = 0
        while received < length {
            let n = body.withUnsafeMutableBufferPointer { buffer in
                FCGX_GetStr(
                    UnsafeMutableRawPointer(buffer.baseAddress! + received).assumingMemoryBound(to: CChar.self),
                    Int32(length - received), request.pointee.in)
            }
            if n <= 0 { break }
            received += Int(n)
        }
        guard received == length else { return RawRequest(params: params, body: [], bodyProblem: .incomplete) }
        return RawRequest(params: params, body: body, bodyProblem: nil)
    }

    private func write(_ response: RawResponse, to request: UnsafeMutablePointer<FCGX_Request>) {
        var head = "Status: \(response.status) \(FastCGIServer.reasonPhrase(response.status))\r\n"
        // A header carrying a line break would start another header: such a header is dropped.
        for (name, value) in response.headers where !(name + value).utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) {
            head += "\(name): \(value)\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: response.body)
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.pointee.out)
            }
        }
    }
}

extension FastCGIServer {
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

public struct FastCGIError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
