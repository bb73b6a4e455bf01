import Synchronization

/// Slugs seen on the vote path and the conversation ids they named, so that a vote costs no
/// read before its write. The store checks the slug again inside the vote's transaction, which
/// is what keeps a renamed conversation from answering to its old name.
final class ConversationDirectory: Sendable {
    private let ids = Mutex([String: Int64]())

    subscript(slug: String) -> Int64? {
        get { ids.withLock { $0[slug] } }
        set { ids.withLock { $0[slug] = newValue } }
    }
}
