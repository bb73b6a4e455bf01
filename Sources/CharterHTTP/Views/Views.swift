import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// A page's view model: the values its template shows, and the template's name.
protocol PageTemplate {
    static var template: String { get }
}

/// The HTML templates (Mustache, escaped by default), loaded once at start-up. Every page is
/// rendered into the shared layout.
public struct Views: Sendable {
    let library: MustacheLibrary
    /// The participant pages' languages.
    let catalogue: Catalogue

    public static func load() async throws -> Views {
        guard let directory = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw AppError(
                .internalServerError, code: "templates", message: "HTML templates are missing from the bundle.")
        }
        let library = try await MustacheLibrary(directory: directory.path)
        for name in ["layout", "error"] where library.getTemplate(named: name) == nil {
            throw AppError(.internalServerError, code: "templates", message: "HTML template \(name) is missing.")
        }
        guard let catalogues = Bundle.module.url(forResource: "Catalogues", withExtension: nil) else {
            throw AppError(
                .internalServerError, code: "catalogues", message: "Language catalogues are missing from the bundle.")
        }
        return Views(library: library, catalogue: try Catalogue.load(directory: catalogues))
    }

    struct Layout {
        /// The document's title: the page's, then the site's ("Moderation · Charter"); the site's
        /// own home page is plain "Charter".
        let title: String
        let content: String
        let bodyClass: String
        /// Seconds after which the browser reloads the page (a live run's page), without JS.
        let refresh: Int?
        let lang: String
        let dir: String
        let t: [String: String]
        /// The participant pages' language switch: a plain GET form back to the same page.
        let languageSwitch: LanguageSwitch?
    }

    struct LanguageOption {
        let code: String
        let name: String
        let selected: Bool
    }

    struct LanguageSwitch {
        let action: String
        /// The page's own query values (a participant's xid and signature) the switch keeps.
        let hidden: [HiddenField]
        let options: [LanguageOption]
    }

    struct HiddenField {
        let name: String
        let value: String
    }

    func languageSwitch(_ language: Language, action: String, hidden: [HiddenField]) -> LanguageSwitch? {
        guard catalogue.languages.count > 1 else { return nil }
        return LanguageSwitch(
            action: action, hidden: hidden,
            options: catalogue.sorted.map { LanguageOption(code: $0.code, name: $0.name, selected: $0 == language) })
    }

    /// The rendered template, or nil when there is no such template.
    func render(_ template: String, _ object: Any) -> String? {
        library.render(object, withTemplate: template)
    }

    /// Whether a template of this name was loaded.
    func has(_ template: String) -> Bool {
        library.getTemplate(named: template) != nil
    }

    /// A page: the view's own template inside the layout. A view whose template is missing is a
    /// fault of ours and answers 500 with a page that says so, never an empty 200.
    func page<View: PageTemplate>(
        title: String, _ view: View, status: HTTPResponse.Status = .ok, admin: Bool = false, refresh: Int? = nil,
        language: Language? = nil, languageSwitch: LanguageSwitch? = nil
    ) -> Response {
        let language = language ?? catalogue.fallback
        guard let content = render(View.template, view),
            let html = render(
                "layout",
                Layout(
                    title: title == "Charter" ? title : "\(title) · Charter", content: content,
                    bodyClass: admin ? "admin" : "participant", refresh: refresh, lang: language.code,
                    dir: language.direction, t: language.texts, languageSwitch: languageSwitch))
        else {
            return Response(
                status: .internalServerError, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string:
                            "<!doctype html><title>500</title><p>This page's template (\(View.template)) is missing.</p>"
                    )))
        }
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

extension Response {
    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A value that cannot be encoded (a NaN, say) is our fault: the client gets a 500 that
    /// says so, never a 200 with an empty body.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data: Data
        do {
            data = try jsonEncoder.encode(value)
        } catch {
            return Response(
                status: .internalServerError, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: #"{"error":{"code":"internal","message":"The answer could not be encoded."}}"#)))
        }
        return json(encoded: ByteBuffer(bytes: data), status: status)
    }

    static func json(encoded body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }

    /// Post/Redirect/Get: a form's answer is a 303 to the page that shows its result.
    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
