/// The participant × statement vote matrix in compressed-row form (§1). Only voted cells are
/// stored, so memory and every pass cost O(votes), never O(participants × statements).
struct VoteMatrix {
    /// Participant ids, ascending: row i is `participants[i]`.
    let participants: [Int64]
    /// Statement ids with at least one vote, ascending: column j is `statements[j]`.
    let statements: [Int64]
    /// Row i's cells are `rowStart[i] ..< rowStart[i + 1]`, columns ascending.
    let rowStart: [Int]
    let columns: [Int32]
    let values: [Int8]
    /// Columns whose statement is rejected or meta: zero for every row in the math.
    let moderatedOut: [Bool]

    var rowCount: Int { participants.count }
    var columnCount: Int { statements.count }
    var voteCount: Int { values.count }

    /// Builds the matrix from votes in any order; of two votes on one cell the later in the
    /// array wins (re-voting replaces).
    init(votes: [AnalysisVote], moderatedOut modOut: Set<Int64>) {
        let participants = Array(Set(votes.map(\.participant))).sorted()
        let statements = Array(Set(votes.map(\.statement))).sorted()
        var rowOf = [Int64: Int32](minimumCapacity: participants.count)
        for (i, p) in participants.enumerated() { rowOf[p] = Int32(i) }
        var columnOf = [Int64: Int32](minimumCapacity: statements.count)
        for (j, s) in statements.enumerated() { columnOf[s] = Int32(j) }

        // Counting sort by row keeps the input order within a row.
        var counts = [Int](repeating: 0, count: participants.count + 1)
        var rows = [Int32](repeating: 0, count: votes.count)
        for (e, vote) in votes.enumerated() {
            let r = rowOf[vote.participant]!
            rows[e] = r
            counts[Int(r) + 1] += 1
        }
        for i in 0..<participants.count { counts[i + 1] += counts[i] }
        var next = counts
        var order = [Int32](repeating: 0, count: votes.count)
        for e in 0..<votes.count {
            let r = Int(rows[e])
            order[next[r]] = Int32(e)
            next[r] += 1
        }

        var rowStart = [Int](repeating: 0, count: participants.count + 1)
        var columns: [Int32] = []
        var values: [Int8] = []
        columns.reserveCapacity(votes.count)
        values.reserveCapacity(votes.count)
        var cells: [(column: Int32, sequence: Int32, value: Int8)] = []
        for i in 0..<participants.count {
            cells.removeAll(keepingCapacity: true)
            for k in counts[i]..<counts[i + 1] {
                let e = Int(order[k])
                cells.append((columnOf[votes[e].statement]!, Int32(k), votes[e].value))
            }
            cells.sort { $0.column != $1.column ? $0.column < $1.column : $0.sequence < $1.sequence }
            var k = 0
            while k < cells.count {
                var last = k
                while last + 1 < cells.count, cells[last + 1].column == cells[k].column { last += 1 }
                columns.append(cells[last].column)
                values.append(max(-1, min(1, cells[last].value)))
                k = last + 1
            }
            rowStart[i + 1] = columns.count
        }
        self.participants = participants
        self.statements = statements
        self.rowStart = rowStart
        self.columns = columns
        self.values = values
        self.moderatedOut = statements.map { modOut.contains($0) }
    }

    /// Raw votes per row, before mod-out zeroing.
    func rowVoteCounts() -> [Int] {
        (0..<rowCount).map { rowStart[$0 + 1] - rowStart[$0] }
    }
}
