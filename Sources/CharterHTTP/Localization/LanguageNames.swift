import Foundation

extension Views {
    /// A language's name as a page in `page` says it ("Englisch" on a German page): the
    /// platform's name for it, else the catalogue's own name for the language, else its tag.
    func languageName(_ code: String, in page: Language) -> String {
        if let name = Locale(identifier: page.code).localizedString(forIdentifier: code), !name.isEmpty,
            name.lowercased() != code
        {
            return name
        }
        return catalogue.language(code)?.name ?? code
    }
}
