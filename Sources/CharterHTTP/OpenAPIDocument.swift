import Foundation

/// The OpenAPI 3.1 description of `/api/v1` (`openapi.json` beside this file), served at
/// `/api/v1/openapi.json`. A test checks it against the router's routes.
enum OpenAPIDocument {
    static func load() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw AppError(.internalServerError, code: "openapi", message: "openapi.json is missing from the bundle.")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
