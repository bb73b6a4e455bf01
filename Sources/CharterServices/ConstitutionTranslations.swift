public import CharterCompiler
public import CharterStore
public import Foundation

/// The translations a constitution's Markdown export lists beside its principles: those of each
/// principle's lead statement, read from the store when the file is made, so adding one never
/// changes a published version or its hash.
public enum ConstitutionTranslations {
    /// Lead statement id → language → text, for the principles whose lead has translations.
    public static func of(_ constitution: Constitution, conversationID: Int64, store: any TranslationStore)
        async throws -> [Int64: [String: String]]
    {
        let leads = Set(constitution.principles.compactMap { $0.sources?.first?.statement })
        guard !leads.isEmpty else { return [:] }
        var texts: [Int64: [String: String]] = [:]
        for (statement, translations) in try await store.translations(conversationID: conversationID)
        where leads.contains(statement) {
            texts[statement] = Dictionary(translations.map { ($0.language, $0.text) }) { first, _ in first }
        }
        return texts
    }

    /// The constitution in `format`; Markdown with the translations of its principles.
    public static func rendered(
        _ constitution: Constitution, format: ConstitutionFormat, conversationID: Int64,
        store: any TranslationStore
    ) async throws -> Data {
        guard format == .md else { return try constitution.rendered(format) }
        return try constitution.rendered(
            format, translations: try await of(constitution, conversationID: conversationID, store: store))
    }
}
