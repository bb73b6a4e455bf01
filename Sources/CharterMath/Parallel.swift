import Dispatch

/// Work split over rows in chunks fixed by the data alone (never by the number of cores or by
/// timing), run on every core, with partial results combined in chunk order: the results are
/// the same bytes on every run and every machine.
enum Parallel {
    /// Row ranges of about `cellsPerChunk` cells each (at most `maxChunks`), from the row
    /// starts of a compressed-row matrix. One chunk for a small matrix, so that small inputs
    /// give exactly what a plain loop gives.
    static func rowChunks(rowStart: [Int], cellsPerChunk: Int = 1 << 18, maxChunks: Int = 16) -> [Range<Int>] {
        let rows = rowStart.count - 1
        guard rows > 0 else { return [] }
        let cells = rowStart[rows] - rowStart[0]
        let count = max(1, min(maxChunks, rows, cells / max(1, cellsPerChunk)))
        var chunks: [Range<Int>] = []
        var lower = 0
        for c in 1...count {
            var upper = rows
            if c < count {
                // The first row whose start reaches c/count of the cells.
                let target = rowStart[0] + Int((Double(cells) * Double(c) / Double(count)).rounded(.down))
                var lo = lower
                var hi = rows
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if rowStart[mid] < target { lo = mid + 1 } else { hi = mid }
                }
                upper = lo
            }
            if upper > lower {
                chunks.append(lower..<upper)
                lower = upper
            }
        }
        if lower < rows {
            if let last = chunks.popLast() { chunks.append(last.lowerBound..<rows) } else { chunks.append(0..<rows) }
        }
        return chunks
    }

    /// Even ranges of `0..<count` for work whose items cost the same (at least `minimum` each).
    static func evenChunks(_ count: Int, minimum: Int = 1 << 14, maxChunks: Int = 16) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let chunks = max(1, min(maxChunks, count / max(1, minimum)))
        return (0..<chunks).map { c in (count * c / chunks)..<(count * (c + 1) / chunks) }
    }

    /// Runs `body(0) … body(count − 1)`, concurrently when there is more than one.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            if count == 1 { body(0) }
            return
        }
        // Every caller's iterations write disjoint memory (their own chunk's rows or partial
        // sums), which is what makes sharing the closure between threads safe.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(value: body)
            DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
        }
    }

    private struct UncheckedSendable<Value>: @unchecked Sendable {
        let value: Value
    }
}
