/// What a server learns from the other servers on the same database. A back end that several
/// servers can share (PostgreSQL) has it; SQLite, one server to a file, does not need it.
public protocol ServerCoordination: Sendable {
    /// Runs until cancelled. Keeps trying to be the one server that runs the analysis and says
    /// whenever that changes (`leading`); reports each conversation another server (or this
    /// one) changed (`changed`) and each analysis any server stored (`analysed`). After a lost
    /// connection it says `leading(false)`, reconnects and, leading again, says so afresh.
    func coordinate(
        leading: @escaping @Sendable (Bool) -> Void, changed: @escaping @Sendable (Int64) -> Void,
        analysed: @escaping @Sendable (Int64) -> Void
    ) async
}
