import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/healthz` for orchestrators and `/metrics` for Prometheus.
struct OperationsRoutes: Sendable {
    let services: AppServices

    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("/", use: home)
            .get("healthz", use: health)
            .get("metrics", use: metrics)
    }

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Item {
            let slug, title, question: String
        }
        struct Home: PageTemplate {
            static let template = "home"
            let conversations: [Item]
            let t: [String: String]
        }
        let now = Date()
        let open = try await services.store.conversations().filter { $0.isOpen(at: now) }.map {
            Item(slug: $0.slug, title: $0.settings.title, question: $0.settings.question)
        }
        let language = services.language(request, conversation: nil)
        var response = services.views.page(
            title: "Charter", Home(conversations: open, t: language.texts), language: language,
            languageSwitch: services.views.languageSwitch(language, action: "/", hidden: []))
        services.rememberLanguage(request, language, in: &response)
        return response
    }

    @Sendable func health(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Health: Encodable {
            let status: String
            let conversations: Int
            let votes: Int
            /// Whether this server runs the analysis (one of the servers sharing a database does).
            let analysisLeader: Bool
            let analysesComputed: Int
        }
        // Reading the database proves it is reachable, not merely that the process is up.
        let counts = try await services.store.counts()
        let analysis = services.analysis.statistics
        return Response.json(
            Health(
                status: "ok", conversations: counts.conversations, votes: counts.votes,
                analysisLeader: analysis.leading, analysesComputed: analysis.computed))
    }

    @Sendable func metrics(_ request: Request, context: AppRequestContext) async throws -> Response {
        let counts = try await services.store.counts()
        var text: [UInt8] = []
        services.metrics.registry.emit(into: &text)
        text += Array(
            """
            # HELP charter_stored_votes Current votes stored.
            # TYPE charter_stored_votes gauge
            charter_stored_votes \(counts.votes)
            # HELP charter_stored_participants Participants stored.
            # TYPE charter_stored_participants gauge
            charter_stored_participants \(counts.participants)

            """.utf8)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
}

/// Serves the CSS and images under `/static/`, from the public directory.
struct StaticFiles: Sendable {
    let directory: String

    static let types = [
        "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    ]

    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("static/{file}", use: file)
    }

    @Sendable func file(_ request: Request, context: AppRequestContext) async throws -> Response {
        let name = try context.parameters.require("file")
        let ext = String(name.split(separator: ".").last ?? "")
        guard !name.hasPrefix("."), !name.contains("/"), let type = Self.types[ext],
            let data = FileManager.default.contents(atPath: "\(directory)/\(name)")
        else { throw HTTPError(.notFound) }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
