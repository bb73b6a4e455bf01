import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Cuts clients that send a request too slowly (slowloris). The idle timeout only notices a
/// connection that sends nothing; one that trickles a byte now and then would hold it forever.
/// So a request's head must arrive whole within `headTimeout` of the connection opening or of
/// the previous response, and its body within `bodyTimeout` of the head, plus one second for
/// every `minimumBodyRate` bytes received, so a large upload at an honest pace is never cut.
/// While a request is being answered no deadline runs: that time is ours, not the client's.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var headTimeout: TimeAmount
        var bodyTimeout: TimeAmount
        /// Bytes a second that earn a body one more second.
        var minimumBodyRate: Int
    }

    private let limits: Limits
    private let logger: Logger
    /// When the client must have finished what it is sending; nil while we answer.
    private var deadline: NIODeadline?
    private var check: Scheduled<Void>?
    private var checkAt: NIODeadline?
    private var requestsReceived = 0
    private var responsesSent = 0

    init(limits: Limits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { expect(.now() + limits.headTimeout, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        expect(.now() + limits.headTimeout, context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        (check, checkAt) = (nil, nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            expect(.now() + limits.bodyTimeout, context: context)
        case .body(let buffer):
            if let deadline {
                let credit = Int64(buffer.readableBytes) * 1_000_000_000 / Int64(max(1, limits.minimumBodyRate))
                self.deadline = deadline + .nanoseconds(credit)
            }
        case .end:
            requestsReceived += 1
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responsesSent += 1
            // Pipelined requests already read are still ours to answer.
            if responsesSent >= requestsReceived { expect(.now() + limits.headTimeout, context: context) }
        }
        context.write(data, promise: promise)
    }

    private func expect(_ newDeadline: NIODeadline, context: ChannelHandlerContext) {
        deadline = newDeadline
        if let checkAt, checkAt <= newDeadline { return }
        check?.cancel()
        schedule(at: newDeadline, context: context)
    }

    /// One check is scheduled at a time, never later than the deadline; a deadline moved later
    /// is honoured when the check fires.
    private func schedule(at time: NIODeadline, context: ChannelHandlerContext) {
        checkAt = time
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: time) { [self] in
            (check, checkAt) = (nil, nil)
            guard let deadline else { return }
            if deadline > .now() {
                schedule(at: deadline, context: context)
            } else {
                logger.info("closing a connection whose request did not arrive in time")
                context.close(promise: nil)
            }
        }
    }
}
