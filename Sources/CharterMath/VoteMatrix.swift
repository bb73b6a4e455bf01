/// Votes in three parallel arrays, the way a store or a CSV file hands them over: cell `e` is
/// participant `participants[e]`'s vote `values[e]` on statement `statements[e]`. Of two votes on
/// one cell the later wins (re-voting replaces). 17 bytes a vote, against 24 for `[AnalysisVote]`.
public struct VoteColumns: Sendable {
    public private(set) var participants: [Int64]
    public private(set) var statements: [Int64]
    public private(set) var values: [Int8]

    /// The three arrays must have the same length (else the shortest length is used).
    public init(participants: [Int64] = [], statements: [Int64] = [], values: [Int8] = []) {
        let count = min(participants.count, statements.count, values.count)
        self.participants = participants.count == count ? participants : Array(participants.prefix(count))
        self.statements = statements.count == count ? statements : Array(statements.prefix(count))
        self.values = values.count == count ? values : Array(values.prefix(count))
    }

    public init(_ votes: [AnalysisVote]) {
        self.init(
            participants: votes.map(\.participant), statements: votes.map(\.statement), values: votes.map(\.value))
    }

    public var count: Int { values.count }

    public mutating func reserveCapacity(_ n: Int) {
        participants.reserveCapacity(n)
        statements.reserveCapacity(n)
        values.reserveCapacity(n)
    }

    @inline(__always)
    public mutating func append(participant: Int64, statement: Int64, value: Int8) {
        participants.append(participant)
        statements.append(statement)
        values.append(value)
    }
}

/// The sorted distinct ids of a list and each id's position among them: a direct table when
/// the ids are dense (database keys, 0-based CSV ids), else a dictionary.
struct IDIndex {
    let ids: [Int64]
    private let low: Int64
    private let table: [Int32]
    private let dictionary: [Int64: Int32]

    init(_ list: [Int64]) {
        guard let low = list.min(), let high = list.max() else {
            (ids, self.low, table, dictionary) = ([], 0, [], [:])
            return
        }
        self.low = low
        // A table of up to one entry per two listed ids (or a few million) is cheap: 2 bytes a vote.
        let (span, overflow) = high.subtractingReportingOverflow(low)
        if !overflow, span < max(Int64(list.count / 2), 1 << 22) {
            var table = [Int32](repeating: -1, count: Int(span) + 1)
            table.withUnsafeMutableBufferPointer { t in
                list.withUnsafeBufferPointer { l in
                    for id in l { t[Int(id &- low)] = 0 }
                }
            }
            var ids: [Int64] = []
            var next: Int32 = 0
            for k in table.indices where table[k] == 0 {
                table[k] = next
                next += 1
                ids.append(low + Int64(k))
            }
            (self.ids, self.table, dictionary) = (ids, table, [:])
        } else {
            let ids = Array(Set(list)).sorted()
            var dictionary = [Int64: Int32](minimumCapacity: ids.count)
            for (k, id) in ids.enumerated() { dictionary[id] = Int32(k) }
            (self.ids, table, self.dictionary) = (ids, [], dictionary)
        }
    }

    /// The position of each id of `list` (the list the index was made from, or a part of it).
    func positions(_ list: [Int64], _ body: (Int, Int32) -> Void) {
        if table.isEmpty {
            for (e, id) in list.enumerated() { body(e, dictionary[id]!) }
            return
        }
        let low = self.low
        table.withUnsafeBufferPointer { t in
            list.withUnsafeBufferPointer { l in
                for e in 0..<l.count { body(e, t[Int(l[e] &- low)]) }
            }
        }
    }
}

/// The participant × statement vote matrix in compressed-row form (§1). Only voted cells are
/// stored, so memory and every pass cost O(votes), never O(participants × statements): 5 bytes a
/// cell (an `Int32` column and an `Int8` value) and 8 a row.
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

    init(votes: [AnalysisVote], moderatedOut modOut: Set<Int64>) {
        self.init(VoteColumns(votes), moderatedOut: modOut)
    }

    /// Builds the matrix from votes in any order; of two votes on one cell the later in the
    /// input wins (re-voting replaces).
    init(_ votes: VoteColumns, moderatedOut modOut: Set<Int64>) {
        let rowsOf = IDIndex(votes.participants)
        let columnsOf = IDIndex(votes.statements)
        let n = rowsOf.ids.count
        let total = votes.count

        // Counting sort by row keeps the input order within a row.
        var start = [Int](repeating: 0, count: n + 1)
        start.withUnsafeMutableBufferPointer { s in rowsOf.positions(votes.participants) { _, r in s[Int(r) + 1] += 1 }
        }
        for i in 0..<n { start[i + 1] += start[i] }
        var columns = [Int32](repeating: 0, count: total)
        var values = [Int8](repeating: 0, count: total)
        columns.withUnsafeMutableBufferPointer { cols in
            values.withUnsafeMutableBufferPointer { vals in
                votes.values.withUnsafeBufferPointer { input in
                    // Column indices in input order first (into `cols`, as scratch space) …
                    var columnOfVote = [Int32](repeating: 0, count: total)
                    columnOfVote.withUnsafeMutableBufferPointer { c in
                        columnsOf.positions(votes.statements) { e, j in c[e] = j }
                    }
                    // … then every vote to its row's next free cell.
                    var next = start
                    next.withUnsafeMutableBufferPointer { next in
                        columnOfVote.withUnsafeBufferPointer { c in
                            rowsOf.positions(votes.participants) { e, r in
                                let at = next[Int(r)]
                                next[Int(r)] = at + 1
                                cols[at] = c[e]
                                vals[at] = max(-1, min(1, input[e]))
                            }
                        }
                    }
                }
                // Sort each row by column (stable, so the later vote on a cell comes last) and
                // keep the last vote of each cell, compacting in place.
                var write = 0
                var keys: [UInt64] = []
                var scratch: [Int8] = []
                for i in 0..<n {
                    let lower = start[i]
                    let upper = start[i + 1]
                    start[i] = write
                    var sorted = true
                    if upper - lower > 1 {
                        for e in (lower + 1)..<upper where cols[e] <= cols[e - 1] {
                            sorted = false
                            break
                        }
                    }
                    if !sorted {
                        // Key: column, then position; sorting the keys is a stable sort by column.
                        keys.removeAll(keepingCapacity: true)
                        scratch.removeAll(keepingCapacity: true)
                        for e in lower..<upper {
                            keys.append(UInt64(UInt32(bitPattern: cols[e])) << 32 | UInt64(e - lower))
                            scratch.append(vals[e])
                        }
                        keys.sort()
                        for (k, key) in keys.enumerated() {
                            cols[lower + k] = Int32(truncatingIfNeeded: key >> 32)
                            vals[lower + k] = scratch[Int(key & 0xFFFF_FFFF)]
                        }
                    }
                    var e = lower
                    while e < upper {
                        var last = e
                        while last + 1 < upper, cols[last + 1] == cols[e] { last += 1 }
                        cols[write] = cols[last]
                        vals[write] = vals[last]
                        write += 1
                        e = last + 1
                    }
                }
                start[n] = write
            }
        }
        if start[n] < total {
            columns.removeLast(total - start[n])
            values.removeLast(total - start[n])
        }
        self.participants = rowsOf.ids
        self.statements = columnsOf.ids
        self.rowStart = start
        self.columns = columns
        self.values = values
        self.moderatedOut = columnsOf.ids.map { modOut.contains($0) }
    }

    /// Raw votes per row, before mod-out zeroing.
    func rowVoteCounts() -> [Int] {
        (0..<rowCount).map { rowStart[$0 + 1] - rowStart[$0] }
    }
}
