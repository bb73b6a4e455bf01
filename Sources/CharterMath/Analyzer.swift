import Foundation

/// Polis' opinion-group analysis (analysis-spec.md), deterministic: the same votes and the same
/// previous state give byte-identical results.
public enum Analyzer {
    public static func analyze(
        votes: [AnalysisVote], moderatedOut: Set<Int64> = [], meta: Set<Int64> = [], previous: AnalysisState? = nil,
        options: AnalysisOptions = AnalysisOptions()
    ) -> (result: AnalysisResult, timings: AnalysisTimings) {
        analyze(
            columns: VoteColumns(votes), moderatedOut: moderatedOut, meta: meta, previous: previous, options: options)
    }

    /// The same from votes in columns (17 bytes a vote). The columns are consumed: once the
    /// matrix is built they are released, if the caller kept no other reference to them.
    public static func analyze(
        columns votes: consuming VoteColumns, moderatedOut: Set<Int64> = [], meta: Set<Int64> = [],
        previous: AnalysisState? = nil, options: AnalysisOptions = AnalysisOptions()
    ) -> (result: AnalysisResult, timings: AnalysisTimings) {
        var timings = AnalysisTimings()
        let clock = ContinuousClock()
        let started = clock.now
        var mark = started
        func lap() -> Double {
            let now = clock.now
            let elapsed = now - mark
            mark = now
            return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        }

        // The initializer takes the columns over: they are freed when it returns.
        let matrix = VoteMatrix(votes, moderatedOut: moderatedOut.union(meta))
        let n = matrix.rowCount
        let m = matrix.columnCount
        let rawCounts = matrix.rowVoteCounts()
        timings.matrix = lap()

        // §3 PCA and §4 projections.
        let centered = PrincipalComponents.centered(matrix)
        let center = centered.center
        let start = previous.map { state -> [[Double]] in
            var index = [Int64: Int](minimumCapacity: state.componentStatements.count)
            for (j, id) in state.componentStatements.enumerated() { index[id] = j }
            return state.components.map { component in
                matrix.statements.map { id in index[id].map { component[$0] } ?? 0 }
            }
        }
        let pca = PrincipalComponents.compute(
            matrix, centered: centered, start: start, tolerance: options.pcaTolerance,
            maxIterations: options.pcaMaxIterations)
        let pc1 = pca.components[0]
        let pc2 = pca.components[1]
        timings.pcaPasses = pca.iterations
        let (xs, ys) = projections(matrix, centered: centered, pc1: pc1, pc2: pc2)
        timings.pca = lap()

        // §2 who is clustered.
        let inConv = inConversation(matrix: matrix, rawCounts: rawCounts, previous: previous?.inConv ?? [])
        let inConvRows = (0..<n).filter { inConv[$0] }

        // §5 base clusters, then groups.
        let clustering = cluster(
            rows: inConvRows, matrix: matrix, xs: xs, ys: ys, previous: previous, options: options)
        timings.clustering = lap()

        // Group numbering: by descending size, ties to the lower cluster id.
        let groupIDs = clustering.groups.indices.sorted {
            let a = clustering.groups[$0]
            let b = clustering.groups[$1]
            return a.rows.count != b.rows.count ? a.rows.count > b.rows.count : a.id < b.id
        }
        var groupOfRow = [Int](repeating: -1, count: n)
        for (number, index) in groupIDs.enumerated() {
            for row in clustering.groups[index].rows { groupOfRow[row] = number }
        }
        let k = groupIDs.count

        // §6 counts per group (in-conv members, votes before mod-out zeroing) and overall.
        let counts = voteCounts(matrix, groupOfRow: groupOfRow, groups: k)
        let (groupAgree, groupDisagree, groupVotes) = (counts.groupAgree, counts.groupDisagree, counts.groupVotes)
        let (agree, disagree, total) = (counts.agree, counts.disagree, counts.total)

        var statements: [AnalysisResult.StatementStats] = []
        statements.reserveCapacity(m)
        let sqrtM = Double(m).squareRoot()
        for j in 0..<m {
            let px = sqrtM * (1 - center[j]) * pc1[j]
            let py = sqrtM * (1 - center[j]) * pc2[j]
            let extremity = (px * px + py * py).squareRoot()
            let perGroup = (0..<k).map {
                AnalysisResult.GroupVotes(
                    agree: groupAgree[$0][j], disagree: groupDisagree[$0][j], votes: groupVotes[$0][j])
            }
            let ccai =
                k == 0 ? 0 : perGroup.reduce(1.0) { $0 * ($1.votes == 0 ? 0 : Double($1.agree) / Double($1.votes)) }
            let summedAgree = perGroup.reduce(0) { $0 + $1.agree }
            let summedDisagree = perGroup.reduce(0) { $0 + $1.disagree }
            let summedVotes = perGroup.reduce(0) { $0 + $1.votes }
            statements.append(
                AnalysisResult.StatementStats(
                    id: matrix.statements[j], x: px, y: py, extremity: extremity, moderatedOut: matrix.moderatedOut[j],
                    agree: agree[j], disagree: disagree[j], votes: total[j], groupVotes: perGroup,
                    gac: PolisStatistics.groupAwareConsensus(perGroup.map { ($0.agree, $0.votes) }),
                    gacDisagree: PolisStatistics.groupAwareConsensus(perGroup.map { ($0.disagree, $0.votes) }),
                    ccaiAgreeProduct: ccai,
                    priority: PolisStatistics.priority(
                        agree: summedAgree, disagree: summedDisagree, votes: summedVotes, extremity: extremity,
                        isMeta: meta.contains(matrix.statements[j]))))
        }

        // §7 representative statements, §8 consensus.
        var groups: [AnalysisResult.OpinionGroup] = []
        for g in 0..<k {
            let rows = clustering.groups[groupIDs[g]].rows
            let representative = Representativeness.select(
                statements: matrix.statements, moderatedOut: matrix.moderatedOut,
                group: (groupAgree[g], groupDisagree[g], groupVotes[g]),
                others: (
                    (0..<m).map { j in (0..<k).reduce(0) { $0 + ($1 == g ? 0 : groupAgree[$1][j]) } },
                    (0..<m).map { j in (0..<k).reduce(0) { $0 + ($1 == g ? 0 : groupDisagree[$1][j]) } },
                    (0..<m).map { j in (0..<k).reduce(0) { $0 + ($1 == g ? 0 : groupVotes[$1][j]) } }
                ))
            groups.append(
                AnalysisResult.OpinionGroup(
                    id: g, size: rows.count, members: rows.map { matrix.participants[$0] },
                    representative: representative))
        }
        let consensus = Representativeness.consensus(
            statements: matrix.statements, moderatedOut: matrix.moderatedOut, agree: agree, disagree: disagree,
            votes: total)
        timings.statistics = lap()

        let participants = (0..<n).map { i in
            AnalysisResult.ParticipantPoint(
                id: matrix.participants[i], x: xs[i], y: ys[i], voteCount: rawCounts[i], inConv: inConv[i],
                baseCluster: clustering.baseOfRow[i], group: groupOfRow[i] >= 0 ? groupOfRow[i] : nil)
        }
        let state = AnalysisState(
            inConv: inConvRows.map { matrix.participants[$0] }, componentStatements: matrix.statements,
            components: pca.components, baseClusters: clustering.baseClusters,
            groupClusters: clustering.groupClusterings,
            k: clustering.smoothedK, kCandidate: clustering.kCandidate, kCandidateStreak: clustering.kCandidateStreak)
        let result = AnalysisResult(
            participantCount: n, statementCount: m, voteCount: matrix.voteCount, k: k,
            silhouettes: clustering.silhouettes, participants: participants, groups: groups, consensus: consensus,
            statements: statements, statementOrder: matrix.statements, center: center, components: pca.components,
            state: state)
        timings.total =
            Double((clock.now - started).components.seconds) * 1000
            + Double((clock.now - started).components.attoseconds) / 1e15
        return (result, timings)
    }

    /// §2: a participant with this many votes (or votes on every statement, when there are
    /// fewer) is clustered into an opinion group.
    public static let votesToBeClustered = 7

    /// §4: each participant's position, from its own cells only; rows in parallel (each row is
    /// computed alone, in cell order, so the result does not depend on the split).
    static func projections(
        _ matrix: VoteMatrix, centered: PrincipalComponents.Centered, pc1: [Double], pc2: [Double]
    ) -> (xs: [Double], ys: [Double]) {
        let n = matrix.rowCount
        let m = matrix.columnCount
        let modOutCount = matrix.moderatedOut.filter { $0 }.count
        var xs = [Double](repeating: 0, count: n)
        var ys = [Double](repeating: 0, count: n)
        let chunks = Parallel.rowChunks(rowStart: matrix.rowStart)
        xs.withUnsafeMutableBufferPointer { xs in
            ys.withUnsafeMutableBufferPointer { ys in
                matrix.moderatedOut.withUnsafeBufferPointer { modOut in
                    centered.table.withUnsafeBufferPointer { t in
                        pc1.withUnsafeBufferPointer { pc1 in
                            pc2.withUnsafeBufferPointer { pc2 in
                                matrix.columns.withUnsafeBufferPointer { cols in
                                    matrix.values.withUnsafeBufferPointer { vals in
                                        matrix.rowStart.withUnsafeBufferPointer { starts in
                                            Parallel.forEach(chunks.count) { c in
                                                for i in chunks[c] {
                                                    var x = 0.0
                                                    var y = 0.0
                                                    var counted = modOutCount
                                                    for e in starts[i]..<starts[i + 1] {
                                                        let j = Int(cols[e])
                                                        if !modOut[j] { counted += 1 }
                                                        let cell = t[3 * j + Int(vals[e]) + 1]
                                                        x += cell * pc1[j]
                                                        y += cell * pc2[j]
                                                    }
                                                    let scale = (Double(m) / Double(max(1, counted))).squareRoot()
                                                    xs[i] = x * scale
                                                    ys[i] = y * scale
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (xs, ys)
    }

    struct VoteCounts {
        var groupAgree: [[Int]]
        var groupDisagree: [[Int]]
        var groupVotes: [[Int]]
        var agree: [Int]
        var disagree: [Int]
        var total: [Int]
    }

    /// §6: agrees, disagrees and votes per statement, overall and per group (in-conv members,
    /// votes before mod-out zeroing). Row chunks count in parallel; integer sums in any order
    /// are exact.
    static func voteCounts(_ matrix: VoteMatrix, groupOfRow: [Int], groups k: Int) -> VoteCounts {
        let m = matrix.columnCount
        // Per chunk and column: agree, disagree, votes, overall then for each group.
        let stride = 3 * (k + 1)
        let chunks = Parallel.rowChunks(rowStart: matrix.rowStart)
        var partial = [Int](repeating: 0, count: max(1, chunks.count) * m * stride)
        partial.withUnsafeMutableBufferPointer { out in
            groupOfRow.withUnsafeBufferPointer { groupOf in
                matrix.columns.withUnsafeBufferPointer { cols in
                    matrix.values.withUnsafeBufferPointer { vals in
                        matrix.rowStart.withUnsafeBufferPointer { starts in
                            Parallel.forEach(chunks.count) { c in
                                let base = out.baseAddress! + c * m * stride
                                for i in chunks[c] {
                                    let g = groupOf[i]
                                    for e in starts[i]..<starts[i + 1] {
                                        let cell = base + Int(cols[e]) * stride
                                        let v = vals[e]
                                        let kind = v > 0 ? 0 : v < 0 ? 1 : -1
                                        cell[2] += 1
                                        if kind >= 0 { cell[kind] += 1 }
                                        guard g >= 0 else { continue }
                                        let group = cell + 3 * (g + 1)
                                        group[2] += 1
                                        if kind >= 0 { group[kind] += 1 }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var counts = VoteCounts(
            groupAgree: [[Int]](repeating: [Int](repeating: 0, count: m), count: k), groupDisagree: [], groupVotes: [],
            agree: [Int](repeating: 0, count: m), disagree: [], total: [])
        counts.groupDisagree = counts.groupAgree
        counts.groupVotes = counts.groupAgree
        counts.disagree = counts.agree
        counts.total = counts.agree
        for c in 0..<max(1, chunks.count) {
            for j in 0..<m {
                let cell = c * m * stride + j * stride
                counts.agree[j] += partial[cell]
                counts.disagree[j] += partial[cell + 1]
                counts.total[j] += partial[cell + 2]
                for g in 0..<k {
                    counts.groupAgree[g][j] += partial[cell + 3 * (g + 1)]
                    counts.groupDisagree[g][j] += partial[cell + 3 * (g + 1) + 1]
                    counts.groupVotes[g][j] += partial[cell + 3 * (g + 1) + 2]
                }
            }
        }
        return counts
    }

    /// §2: the previous set, everyone with min(7, m) votes, and at least 15 in all.
    static func inConversation(matrix: VoteMatrix, rawCounts: [Int], previous: [Int64]) -> [Bool] {
        let n = matrix.rowCount
        var inConv = [Bool](repeating: false, count: n)
        let previousSet = Set(previous)
        let threshold = min(votesToBeClustered, matrix.columnCount)
        var count = 0
        for i in 0..<n where previousSet.contains(matrix.participants[i]) || rawCounts[i] >= threshold {
            inConv[i] = true
            count += 1
        }
        if count < 15 {
            let others = (0..<n).filter { !inConv[$0] }.sorted {
                rawCounts[$0] != rawCounts[$1] ? rawCounts[$0] > rawCounts[$1] : $0 < $1
            }
            for i in others.prefix(15 - count) { inConv[i] = true }
        }
        return inConv
    }

    struct Clustering {
        struct Group {
            var id: Int
            var rows: [Int]
        }
        var baseOfRow: [Int?]
        var baseClusters: [AnalysisState.Cluster]
        var groupClusterings: [AnalysisState.GroupClustering]
        var silhouettes: [AnalysisResult.KScore]
        var groups: [Group]
        var smoothedK: Int
        var kCandidate: Int
        var kCandidateStreak: Int
    }

    static func cluster(
        rows: [Int], matrix: VoteMatrix, xs allXs: [Double], ys allYs: [Double], previous: AnalysisState?,
        options: AnalysisOptions
    ) -> Clustering {
        var baseOfRow = [Int?](repeating: nil, count: matrix.rowCount)
        let xs = rows.map { allXs[$0] }
        let ys = rows.map { allYs[$0] }
        guard !rows.isEmpty else {
            return Clustering(
                baseOfRow: baseOfRow, baseClusters: [], groupClusterings: [], silhouettes: [], groups: [], smoothedK: 0,
                kCandidate: 0, kCandidateStreak: 0)
        }

        // Base clusters.
        let baseStart: [KMeans.Center]
        if let previous, !previous.baseClusters.isEmpty {
            var rowIndex = [Int64: Int](minimumCapacity: rows.count)
            for (index, row) in rows.enumerated() { rowIndex[matrix.participants[row]] = index }
            baseStart = WarmStart.centers(
                previous: previous.baseClusters.map { ($0.id, $0.members.compactMap { rowIndex[$0] }) }, xs: xs, ys: ys,
                weights: nil, k: options.baseClusterCount)
        } else {
            baseStart = KMeans.firstDistinct(xs: xs, ys: ys, k: options.baseClusterCount)
        }
        let base = KMeans.run(xs: xs, ys: ys, start: baseStart, maxIterations: options.baseIterations)
        var baseMembers = [[Int]](repeating: [], count: base.centers.count)
        for (index, c) in base.assignment.enumerated() { baseMembers[c].append(index) }
        for (index, c) in base.assignment.enumerated() { baseOfRow[rows[index]] = base.centers[c].id }
        let baseClusters = base.centers.enumerated().map { c, center in
            AnalysisState.Cluster(
                id: center.id, members: baseMembers[c].map { matrix.participants[rows[$0]] }, x: center.x, y: center.y)
        }

        // Groups over the base centers, weighted by their member counts.
        let bx = base.centers.map(\.x)
        let by = base.centers.map(\.y)
        let weights = baseMembers.map { Double($0.count) }
        var baseIndex = [Int: Int]()
        for (index, center) in base.centers.enumerated() { baseIndex[center.id] = index }
        let maxK = max(2, min(options.maxGroups, 2 + base.centers.count / 12))
        var clusterings: [AnalysisState.GroupClustering] = []
        var silhouettes: [AnalysisResult.KScore] = []
        var outcomes: [Int: KMeans.Outcome] = [:]
        for k in 2...maxK {
            let start: [KMeans.Center]
            if let previousGroups = previous?.groupClusters.first(where: { $0.k == k }) {
                start = WarmStart.centers(
                    previous: previousGroups.clusters.map { ($0.id, $0.baseClusters.compactMap { baseIndex[$0] }) },
                    xs: bx,
                    ys: by, weights: weights, k: k)
            } else {
                start = KMeans.firstDistinct(xs: bx, ys: by, k: k)
            }
            let outcome = KMeans.run(
                xs: bx, ys: by, weights: weights, start: start, maxIterations: options.groupIterations)
            outcomes[k] = outcome
            silhouettes.append(
                .init(
                    k: k,
                    silhouette: KMeans.silhouette(
                        xs: bx, ys: by, assignment: outcome.assignment, clusterCount: outcome.centers.count)))
            var members = [[Int]](repeating: [], count: outcome.centers.count)
            for (b, c) in outcome.assignment.enumerated() { members[c].append(base.centers[b].id) }
            clusterings.append(
                .init(
                    k: k,
                    clusters: outcome.centers.enumerated().map {
                        .init(id: $0.element.id, baseClusters: members[$0.offset])
                    }
                ))
        }
        // Ties go to the larger k.
        var best = silhouettes[0]
        for score in silhouettes.dropFirst() where score.silhouette >= best.silhouette { best = score }

        // A k whose clustering lost clusters is really the smaller k: the smoother and the next
        // warm start count the clusters there are, so a tie won by a collapsed k does not turn
        // into an extra group later.
        let bestK = outcomes[best.k]!.centers.count
        // The k smoother: a new best k must win several analyses in a row.
        var chosen = best.k
        var smoothedK = bestK
        let candidate = bestK
        var streak = 0
        if let previous, previous.k >= 2, options.kSmoothing > 1, let held = outcomes[previous.k],
            held.centers.count == previous.k, bestK != previous.k
        {
            streak = previous.kCandidate == bestK ? previous.kCandidateStreak + 1 : 1
            if streak >= options.kSmoothing {
                streak = 0
            } else {
                chosen = previous.k
                smoothedK = previous.k
            }
        }
        let outcome = outcomes[chosen]!
        var groups = outcome.centers.map { Clustering.Group(id: $0.id, rows: []) }
        for (index, row) in rows.enumerated() {
            groups[outcome.assignment[base.assignment[index]]].rows.append(row)
        }
        return Clustering(
            baseOfRow: baseOfRow, baseClusters: baseClusters, groupClusterings: clusterings, silhouettes: silhouettes,
            groups: groups.filter { !$0.rows.isEmpty }, smoothedK: smoothedK, kCandidate: candidate,
            kCandidateStreak: streak)
    }
}

/// Starting centers from the previous analysis' clusters (§5, warm start).
enum WarmStart {
    static func centers(
        previous: [(id: Int, members: [Int])], xs: [Double], ys: [Double], weights: [Double]?, k: Int
    ) -> [KMeans.Center] {
        var centers: [KMeans.Center] = []
        var seen = Set<KMeans.Point>()
        for cluster in previous.sorted(by: { $0.id < $1.id }) where !cluster.members.isEmpty {
            var sx = 0.0
            var sy = 0.0
            var sw = 0.0
            for i in cluster.members {
                let w = weights?[i] ?? 1
                sx += w * xs[i]
                sy += w * ys[i]
                sw += w
            }
            let center = KMeans.Center(id: cluster.id, x: sx / max(sw, 1e-300), y: sy / max(sw, 1e-300))
            // Clusters that landed on the same spot are one.
            if seen.insert(KMeans.Point(x: center.x, y: center.y)).inserted { centers.append(center) }
        }
        var nextID = (previous.map(\.id).max() ?? -1) + 1
        let distinct = Set(xs.indices.map { KMeans.Point(x: xs[$0], y: ys[$0]) }).count
        while centers.count < min(k, distinct) {
            // Split off the point farthest from its nearest center as a new cluster.
            var farthest = -1
            var farthestDistance = -1.0
            for i in xs.indices {
                var nearest = Double.infinity
                for c in centers {
                    let dx = xs[i] - c.x
                    let dy = ys[i] - c.y
                    nearest = min(nearest, dx * dx + dy * dy)
                }
                if nearest > farthestDistance {
                    farthestDistance = nearest
                    farthest = i
                }
            }
            guard farthest >= 0, farthestDistance > 0 else { break }
            centers.append(KMeans.Center(id: nextID, x: xs[farthest], y: ys[farthest]))
            nextID += 1
        }
        return centers
    }
}

/// For benchmarks (`charter analyze --votes-csv FILE --measure-passes`): the time of one PCA
/// pass (DᵀD times a block of eight vectors) against a plain pass that only reads the same
/// arrays, the memory-bandwidth floor.
public struct PassMeasurement: Sendable, Codable {
    public var votes: Int
    /// Bytes a pass reads from the cell arrays (an Int32 column and an Int8 value a cell).
    public var bytesPerPass: Int
    public var plainPassMs: Double
    public var gramPassMs: Double
    public var plainGBPerSecond: Double { Double(bytesPerPass) / (plainPassMs / 1000) / 1e9 }
    public var gramGBPerSecond: Double { Double(bytesPerPass) / (gramPassMs / 1000) / 1e9 }

    public static func measure(_ votes: consuming VoteColumns, repeats: Int = 5) -> PassMeasurement {
        let matrix = VoteMatrix(votes, moderatedOut: [])
        let centered = PrincipalComponents.centered(matrix)
        let block: [[Double]] = (0..<8).map { (b: Int) -> [Double] in
            (0..<matrix.columnCount).map { (j: Int) -> Double in
                let step: Int = (j * (b + 3) + b * 7) % 17
                return 1 + Double(step) / 17
            }
        }
        let clock = ContinuousClock()
        func best(_ body: () -> Void) -> Double {
            var fastest = Double.infinity
            for _ in 0..<max(1, repeats) {
                let start = clock.now
                body()
                let elapsed = clock.now - start
                fastest = min(
                    fastest,
                    Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            return fastest
        }
        var sink = 0
        let plain = best { sink &+= PrincipalComponents.plainPass(matrix) }
        let gram = best { sink &+= PrincipalComponents.gramProduct(matrix, centered: centered, block).count }
        precondition(sink != Int.min)
        return PassMeasurement(
            votes: matrix.voteCount, bytesPerPass: matrix.voteCount * 5 + matrix.rowStart.count * 8,
            plainPassMs: plain, gramPassMs: gram)
    }
}
