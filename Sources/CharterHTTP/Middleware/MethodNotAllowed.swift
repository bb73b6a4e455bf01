import Foundation
import HTTPTypes
import Hummingbird

/// The API's paths and the methods each one has, read from the OpenAPI document, so that a
/// method the document does not declare on a path it does declare is answered 405 with an
/// `Allow` header (RFC 9110), not 404: a client learns the address is right and the verb is
/// wrong. The document is the one source, so an operation another change adds is covered too.
struct DeclaredMethods: Sendable {
    struct Template: Sendable {
        /// Literal segments, or nil for a `{parameter}`.
        let segments: [String?]
        let methods: Set<String>
    }

    let templates: [Template]

    init(openAPIDocument: String) throws {
        guard let document = try JSONSerialization.jsonObject(with: Data(openAPIDocument.utf8)) as? [String: Any],
            let paths = document["paths"] as? [String: Any]
        else { throw AppError(.internalServerError, code: "openapi", message: "openapi.json has no paths.") }
        let verbs: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        templates = paths.compactMap { path, item in
            guard let item = item as? [String: Any] else { return nil }
            let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { segment -> String? in
                segment.hasPrefix("{") && segment.hasSuffix("}") ? nil : String(segment)
            }
            return Template(segments: segments, methods: Set(item.keys.filter(verbs.contains).map { $0.uppercased() }))
        }
    }

    /// The methods declared for a request path; empty when no declared path matches it.
    func methods(forPath path: String) -> Set<String> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        // A literal segment wins over a parameter, as in the router: `/conversations/import` is
        // the import, not a conversation called "import".
        var best: (literals: Int, methods: Set<String>) = (-1, [])
        for template in templates where template.segments.count == segments.count {
            let matches = zip(template.segments, segments).allSatisfy { literal, segment in
                literal.map { $0 == segment } ?? !segment.isEmpty
            }
            guard matches else { continue }
            let literals = template.segments.count { $0 != nil }
            if literals > best.literals {
                best = (literals, template.methods)
            } else if literals == best.literals {
                best.methods.formUnion(template.methods)
            }
        }
        return best.methods
    }
}

struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let declared: DeclaredMethods
    let prefix: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // Only a request the router found nothing for can be a wrong method: looking it up
        // then, not on every request, keeps it off the vote path.
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard path.hasPrefix(prefix) else { throw error }
            let allowed = declared.methods(forPath: path)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            throw Self.methodNotAllowed(request.method, path: path, allowed: allowed)
        }
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allowed: Set<String>) -> AppError {
        let allow = allowed.sorted().joined(separator: ", ")
        return AppError(
            .methodNotAllowed, code: "method_not_allowed",
            message: "\(method.rawValue) is not an operation of \(path); it has \(allow).",
            headers: [.allow: allow])
    }
}
