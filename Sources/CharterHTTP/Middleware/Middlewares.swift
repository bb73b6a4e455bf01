import CharterDomain
import CharterInput
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// Turns every error into a response the client can read: JSON `{"error":{code,message}}` for
/// the API, an HTML page for people. A fault of ours is logged and becomes a 500 that reveals
/// nothing of the internals.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let views: Views

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let appError: AppError
            switch error {
            case let e as AppError: appError = e
            case let e as CharterError: appError = AppError(e)
            case let e as StorageUnavailable:
                context.logger.error("storage unavailable", metadata: ["reason": "\(e.reason)"])
                appError = AppError(
                    .serviceUnavailable, code: "storage_unavailable",
                    message: "Charter cannot save anything right now; nothing was saved. Please try again shortly.",
                    headers: [.retryAfter: "5"])
            case let e as HTTPError:
                appError = AppError(
                    e.status, code: e.status == .notFound ? "not_found" : "http_\(e.status.code)",
                    message: e.body
                        ?? (e.status == .notFound ? "There is nothing at this address." : e.status.reasonPhrase),
                    headers: e.headers)
            default:
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
                appError = AppError(
                    .internalServerError, code: "internal",
                    message: "Something went wrong on our side; it has been logged.")
            }
            return render(appError, for: request)
        }
    }

    func render(_ error: AppError, for request: Request) -> Response {
        if error.code == AppError.signIn.code, request.method == .get || request.method == .head {
            return Response.seeOther("/admin/login")
        }
        var response: Response
        if request.wantsJSON {
            struct Body: Encodable {
                struct Detail: Encodable {
                    let code: String
                    let message: String
                }
                let error: Detail
            }
            response = Response.json(Body(error: .init(code: error.code, message: error.message)), status: error.status)
        } else if request.uri.path.hasPrefix("/admin") {
            response = views.page(
                title: "\(error.status.code) \(error.status.reasonPhrase)",
                ErrorView(
                    status: error.status.code, reason: error.status.reasonPhrase, message: error.message,
                    backLink: "/", backText: "Back to the start"),
                status: error.status, admin: true)
        } else {
            // A participant's error page speaks their language and leads back to the
            // conversation it came from.
            let language = views.catalogue.language(for: request, conversationDefault: nil)
            let slug = ConversationPath.slug(request.uri.path)
            response = views.page(
                title: "\(error.status.code) \(language.text("error_title"))",
                ErrorView(
                    status: error.status.code, reason: language.text("error_title"),
                    message: language.message(for: error),
                    backLink: slug.map { "/c/\($0)" } ?? "/",
                    backText: language.text(slug == nil ? "error_back_home" : "error_back")),
                status: error.status, language: language)
        }
        for field in error.headers { response.headers.append(field) }
        return response
    }
}

struct ErrorView: PageTemplate {
    static let template = "error"
    let status: Int
    let reason: String
    let message: String
    let backLink: String
    let backText: String
}

/// The conversation a participant's address belongs to (`/c/{slug}/…`), when it names one.
enum ConversationPath {
    static func slug(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts.first == "c" else { return nil }
        let slug = String(parts[1])
        return Slug.isValid(slug) ? slug : nil
    }
}

extension Request {
    /// API clients get JSON, browsers get HTML.
    var wantsJSON: Bool {
        uri.path.hasPrefix("/api/") || uri.path == "/healthz"
    }
}

/// Refuses a body larger than the limit before anything reads it, from its Content-Length;
/// `RequestBodyReader` enforces the same limit on chunked bodies as they are read.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit,
            request.uri.path != ImportRoutes.path
        {
            throw AppError.tooLarge(limit: limit)
        }
        return try await next(request, context)
    }
}

/// Behind reverse proxies every request's peer is a proxy, and every client would share one
/// rate-limit bucket. With `--trusted-proxies`, the address those proxies forward (`Forwarded`,
/// else `X-Forwarded-For`) is the client's; from any other peer the headers are ignored, since
/// anyone can send them.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trusted: [CIDR]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard !trusted.isEmpty else { return try await next(request, context) }
        var context = context
        context.remoteIP = ForwardedFor.client(
            peer: context.remoteIP, forwarded: request.headers[values: HTTPField.Name("Forwarded")!],
            xForwardedFor: request.headers[values: HTTPField.Name("X-Forwarded-For")!], trusted: trusted)
        return try await next(request, context)
    }
}

struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil, !request.uri.path.hasPrefix("/static/") {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}

/// Request counts and latencies for `/metrics`, labelled by method and status class so the
/// number of series stays fixed whatever URLs clients send.
final class HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let votes: Counter
    let statements: Counter
    private let latency: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        votes = registry.makeCounter(
            descriptor: .init(
                namespace: "charter", metricName: "votes", unitName: "total", helpText: "Votes committed."))
        statements = registry.makeCounter(
            descriptor: .init(
                namespace: "charter", metricName: "statements_submitted", unitName: "total",
                helpText: "Statements submitted by participants."))
        latency = registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "charter", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                helpText: "Time to answer an HTTP request."),
            buckets: [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
            ])
    }

    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "charter", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests answered.")
    }

    /// The request counters already made, by method and status class. The registry's own lookup
    /// builds and hashes the labels on every call, which showed in the vote path's profile.
    private let requestCounters = Mutex([RequestSeries: Counter]())

    private struct RequestSeries: Hashable {
        let method: String
        let statusClass: Int
    }

    /// Clients choose the method: any other is counted as "OTHER", so a client cannot add series.
    private static let countedMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func recordRequest(method: String, status: Int, duration: Duration) {
        let series = RequestSeries(
            method: Self.countedMethods.contains(method) ? method : "OTHER", statusClass: min(max(status / 100, 1), 5))
        let counter = requestCounters.withLock { counters in
            if let known = counters[series] { return known }
            let made = registry.makeCounter(
                descriptor: Self.requests, labels: [("method", series.method), ("status", "\(series.statusClass)xx")])
            counters[series] = made
            return made
        }
        counter.increment()
        latency.record(duration)
    }
}

struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.recordRequest(
            method: request.method.rawValue, status: response.status.code, duration: ContinuousClock.now - start)
        return response
    }
}
