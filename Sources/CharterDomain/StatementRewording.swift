/// The rules for a moderator's rewording of a statement. Every back end reads the votes inside
/// its transaction and asks these, so all decide and audit alike.
public enum StatementRewording {
    /// A statement someone other than its author has voted on keeps the words they voted on.
    public static func checkEditable(othersVoted: Bool) throws(CharterError) {
        guard !othersVoted else {
            throw .conflict(
                "This statement already has votes, so its wording stays as it is; accept a reworded copy instead.")
        }
    }

    /// The audit entry of a rewording, with the words before it.
    public static func auditDetail(from old: String, to new: String) -> String {
        "reworded from “\(old)” to “\(new)”"
    }

    /// The audit entry of a reworded copy, which names the statement it rewords and its words.
    public static func copyAuditDetail(of id: Int64, from old: String, to new: String) -> String {
        "reworded copy of #\(id) “\(old)”: “\(new)”"
    }
}
