public import Foundation

/// One stored value, as a back end holds it, for copying a database from one back end to
/// another (`charter migrate-store`).
public enum StoreValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A database read table by table, in one consistent snapshot: what `migrate-store` copies from.
public protocol StoreTableSource: Sendable {
    /// Every table of the database that holds data (the back end's own bookkeeping left out).
    func dataTables() async throws -> [String]
    func columns(of table: String) async throws -> [String]
    func rowCount(of table: String) async throws -> Int
    /// Rows in a stable order (the primary key's), `limit` at a time.
    func rows(of table: String, offset: Int, limit: Int) async throws -> [[StoreValue]]
}

/// The tables `migrate-store` copies, parents before children, and those it leaves because the
/// target rebuilds them itself. A table in neither list stops the copy: data would be lost.
public enum StoreTables {
    public static let copied = [
        "conversation", "organiser", "participant", "statement", "vote_event", "vote", "api_token",
        "organiser_session", "audit_log", "setting", "analysis", "constitution", "principle_wording",
        "principle_grouping", "comparison_run", "participant_binding", "xid_allowed", "conversation_member",
        "participant_origin", "analysis_group_count", "statement_score", "statement_translation",
        "demographic_settings", "demographic_response", "demographic_answer",
    ]
    /// Derived: triggers on the target count every conversation's changes afresh.
    public static let rebuilt = ["conversation_revision"]
}
