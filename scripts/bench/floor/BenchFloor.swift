// The floor under Charter's vote benchmark (scripts/bench/votes): how many requests a second the HTTP
// stack itself answers on this machine when the vote route does no work at all. The same wrk script
// drives it, so the difference to Charter's figures is what Charter's own code costs.
//
//   charter-bench-floor hummingbird PORT   Hummingbird 2, the framework Charter is built on, with one
//                                          route that reads the body and answers 201.
//   charter-bench-floor nio PORT           SwiftNIO's HTTP/1 pipeline under Hummingbird, with a
//                                          handler that answers 201 on the event loop: no framework.
//
// Both answer every request with the same small JSON body and listen on 127.0.0.1 only.
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix

let answer = #"{"floor":true}"#

@main
struct BenchFloor {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count == 2, let stack = arguments.first, let port = Int(arguments.last!),
            stack == "hummingbird" || stack == "nio"
        else {
            StandardError.print("usage: charter-bench-floor hummingbird|nio PORT\n")
            exit(64)
        }
        if stack == "hummingbird" {
            try await serveHummingbird(port: port)
        } else {
            try await serveNIO(port: port)
        }
    }

    static func serveHummingbird(port: Int) async throws {
        let router = Router()
        router.on("/api/v1/conversations/:slug/votes", method: .post) { request, _ -> Response in
            var request = request
            _ = try await request.collectBody(upTo: 16_384)
            return Response(
                status: .created, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        router.get("/healthz") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }

    static func serveNIO(port: Int) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AnswerEveryRequest())
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        try await channel.closeFuture.get()
    }
}

/// Answers each request with 201 once its end arrives; the body is read and dropped. It keeps every
/// connection open whatever the client asks (`Connection: close`, HTTP/1.0): enough for wrk, which
/// keeps its connections alive, and nothing else talks to it.
final class AnswerEveryRequest: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let body = ByteBuffer(string: answer)
    private let headers: HTTPHeaders = [
        "content-type": "application/json", "content-length": "\(answer.utf8.count)",
    ]

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let head = HTTPResponseHead(version: .http1_1, status: .created, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

enum StandardError {
    static func print(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
