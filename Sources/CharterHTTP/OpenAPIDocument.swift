/// The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json`.
enum OpenAPIDocument {
    static let json = "{}"
}
