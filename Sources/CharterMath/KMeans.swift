/// Polis' k-means primitive (§5): deterministic, drops clusters that lose every member, and
/// stops when no center moves by 0.01 or more.
struct KMeans {
    struct Center: Equatable {
        var id: Int
        var x: Double
        var y: Double
    }

    struct Outcome {
        var centers: [Center]
        /// For each point, the index into `centers` of its cluster.
        var assignment: [Int]
    }

    /// The first `k` distinct points, in order, as centers with ids 0…
    static func firstDistinct(xs: [Double], ys: [Double], k: Int) -> [Center] {
        var seen = Set<Point>()
        var centers: [Center] = []
        for i in xs.indices where centers.count < k {
            if seen.insert(Point(x: xs[i], y: ys[i])).inserted {
                centers.append(Center(id: centers.count, x: xs[i], y: ys[i]))
            }
        }
        return centers
    }

    struct Point: Hashable {
        var x: Double
        var y: Double
    }

    static func run(
        xs: [Double], ys: [Double], weights: [Double]? = nil, start: [Center], maxIterations: Int
    ) -> Outcome {
        var centers = start
        var assignment = [Int](repeating: 0, count: xs.count)
        guard !xs.isEmpty, !centers.isEmpty else { return Outcome(centers: [], assignment: assignment) }
        var bounds = Bounds(count: xs.count)
        var last: [Center]? = nil
        for _ in 0..<max(1, maxIterations) {
            boundedAssign(xs: xs, ys: ys, centers: centers, last: last, bounds: &bounds, into: &assignment)
            last = centers
            let moved = recenter(xs: xs, ys: ys, weights: weights, centers: centers, assignment: &assignment)
            let converged = Self.converged(old: centers, new: moved)
            centers = moved
            if converged { break }
        }
        boundedAssign(xs: xs, ys: ys, centers: centers, last: last, bounds: &bounds, into: &assignment)
        return Outcome(centers: centers, assignment: assignment)
    }

    /// Hamerly's bounds: for each point an upper bound on the distance to its center and a lower
    /// bound on the distance to every other center, kept up to date by how far the centers
    /// moved. A point whose upper bound is clearly below its lower bound keeps its center without
    /// a search: that center is then strictly the nearest, so the full scan would pick it too.
    struct Bounds {
        var upper: [Double]
        var lower: [Double]
        init(count: Int) {
            upper = [Double](repeating: .infinity, count: count)
            lower = [Double](repeating: 0, count: count)
        }
    }

    /// `assign`, with the bounds: `last` are the centers of the previous assignment (nil for
    /// the first), whose ids include every current center's; `assignment` indexes `centers`.
    static func boundedAssign(
        xs: [Double], ys: [Double], centers: [Center], last: [Center]?, bounds: inout Bounds,
        into assignment: inout [Int]
    ) {
        let order = centers.indices.sorted { centers[$0].id < centers[$1].id }
        let cx = order.map { centers[$0].x }
        let cy = order.map { centers[$0].y }
        let k = cx.count
        let byX = (0..<k).sorted { cx[$0] != cx[$1] ? cx[$0] < cx[$1] : $0 < $1 }
        let sortedX = byX.map { cx[$0] }
        // How far each center (by index into `centers`) moved since the last assignment.
        var moved = [Double](repeating: .infinity, count: centers.count)
        if let last {
            var before: [Int: (x: Double, y: Double)] = [:]
            for c in last { before[c.id] = (c.x, c.y) }
            for (index, c) in centers.enumerated() {
                if let b = before[c.id] {
                    let dx = c.x - b.x
                    let dy = c.y - b.y
                    moved[index] = (dx * dx + dy * dy).squareRoot()
                }
            }
        }
        // The largest move, and the largest but that center's own (a point's other centers
        // moved at most that far).
        var farthestIndex = -1
        var farthest = -Double.infinity
        var runnerUp = -Double.infinity
        for (index, d) in moved.enumerated() {
            if d > farthest {
                runnerUp = farthest
                farthest = d
                farthestIndex = index
            } else if d > runnerUp {
                runnerUp = d
            }
        }
        if moved.isEmpty { farthest = .infinity }
        if moved.count < 2 { runnerUp = 0 }
        let chunks = Parallel.evenChunks(xs.count, minimum: 1 << 13)
        let count = min(xs.count, ys.count, assignment.count, bounds.upper.count)
        assignment.withUnsafeMutableBufferPointer { out in
            bounds.upper.withUnsafeMutableBufferPointer { upper in
                bounds.lower.withUnsafeMutableBufferPointer { lower in
                    xs.withUnsafeBufferPointer { xs in
                        ys.withUnsafeBufferPointer { ys in
                            cx.withUnsafeBufferPointer { cx in
                                cy.withUnsafeBufferPointer { cy in
                                    byX.withUnsafeBufferPointer { byX in
                                        sortedX.withUnsafeBufferPointer { sortedX in
                                            moved.withUnsafeBufferPointer { moved in
                                                Parallel.forEach(chunks.count) { c in
                                                    for i in chunks[c] where i < count {
                                                        let a = out[i]
                                                        if a >= 0, a < moved.count, moved[a].isFinite,
                                                            farthest.isFinite
                                                        {
                                                            let u = upper[i] + moved[a]
                                                            let l =
                                                                lower[i] - (a == farthestIndex ? runnerUp : farthest)
                                                            upper[i] = u
                                                            lower[i] = l
                                                            // A margin far above the rounding of
                                                            // the bounds' sums.
                                                            if u + 1e-9 * (abs(u) + abs(l)) < l { continue }
                                                        }
                                                        let (best, first, second) = nearestTwo(
                                                            xs[i], ys[i], cx: cx, cy: cy, byX: byX, sortedX: sortedX)
                                                        out[i] = order[best]
                                                        upper[i] = first.squareRoot()
                                                        lower[i] = second.squareRoot()
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
        }
    }

    /// The nearest center (as `nearestByScan` picks it: ties to the lower index) with its squared
    /// distance, and the squared distance to the next nearest (infinity when there is none), by
    /// a sweep out from the point's x over the centers sorted by x.
    @inline(__always)
    static func nearestTwo(
        _ x: Double, _ y: Double, cx: UnsafeBufferPointer<Double>, cy: UnsafeBufferPointer<Double>,
        byX: UnsafeBufferPointer<Int>, sortedX: UnsafeBufferPointer<Double>
    ) -> (index: Int, distance: Double, second: Double) {
        let k = cx.count
        var lo = 0
        var hi = k
        while lo < hi {
            let mid = (lo + hi) / 2
            if sortedX[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        var best = Int.max
        var bestDistance = Double.infinity
        var second = Double.infinity
        var left = lo - 1
        var right = lo
        while left >= 0 || right < k {
            // One step right, then one left; a side stops once its x distance alone is beyond
            // the second-best distance.
            for side in 0..<2 {
                let c: Int
                if side == 0 {
                    guard right < k else { continue }
                    c = byX[right]
                } else {
                    guard left >= 0 else { continue }
                    c = byX[left]
                }
                let dx = x - cx[c]
                if dx * dx > second {
                    if side == 0 { right = k } else { left = -1 }
                    continue
                }
                if side == 0 { right += 1 } else { left -= 1 }
                let dy = y - cy[c]
                let d = dx * dx + dy * dy
                if d < bestDistance || (d == bestDistance && c < best) {
                    second = min(second, bestDistance)
                    bestDistance = d
                    best = c
                } else {
                    second = min(second, d)
                }
            }
        }
        if best == Int.max {
            // No comparable distance (a NaN point): the full scan keeps the first center.
            return (0, .nan, .nan)
        }
        return (best, bestDistance, second)
    }

    /// Nearest center by Euclidean distance; ties go to the lower cluster id. Points in parallel
    /// chunks (each point alone: the split changes nothing). With many centers the search starts
    /// at the point's x among the centers sorted by x and stops on each side once the x distance
    /// alone exceeds the best distance: the same distances, compared the same way, as the full
    /// scan, so the same answer.
    static func assign(xs: [Double], ys: [Double], centers: [Center], into assignment: inout [Int]) {
        let order = centers.indices.sorted { centers[$0].id < centers[$1].id }
        let cx = order.map { centers[$0].x }
        let cy = order.map { centers[$0].y }
        let k = cx.count
        let byX = (0..<k).sorted { cx[$0] != cx[$1] ? cx[$0] < cx[$1] : $0 < $1 }
        let sortedX = byX.map { cx[$0] }
        let chunks = Parallel.evenChunks(xs.count, minimum: 1 << 13)
        let count = min(xs.count, ys.count, assignment.count)
        assignment.withUnsafeMutableBufferPointer { out in
            xs.withUnsafeBufferPointer { xs in
                ys.withUnsafeBufferPointer { ys in
                    cx.withUnsafeBufferPointer { cx in
                        cy.withUnsafeBufferPointer { cy in
                            byX.withUnsafeBufferPointer { byX in
                                sortedX.withUnsafeBufferPointer { sortedX in
                                    Parallel.forEach(chunks.count) { c in
                                        for i in chunks[c] where i < count {
                                            let best =
                                                k < 8
                                                ? nearestByScan(xs[i], ys[i], cx: cx, cy: cy)
                                                : nearestBySweep(
                                                    xs[i], ys[i], cx: cx, cy: cy, byX: byX, sortedX: sortedX)
                                            out[i] = order[best]
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

    @inline(__always)
    static func nearestByScan(
        _ x: Double, _ y: Double, cx: UnsafeBufferPointer<Double>, cy: UnsafeBufferPointer<Double>
    ) -> Int {
        var best = 0
        var bestDistance = Double.infinity
        for c in 0..<cx.count {
            let dx = x - cx[c]
            let dy = y - cy[c]
            let d = dx * dx + dy * dy
            if d < bestDistance {
                bestDistance = d
                best = c
            }
        }
        return best
    }

    @inline(__always)
    static func nearestBySweep(
        _ x: Double, _ y: Double, cx: UnsafeBufferPointer<Double>, cy: UnsafeBufferPointer<Double>,
        byX: UnsafeBufferPointer<Int>, sortedX: UnsafeBufferPointer<Double>
    ) -> Int {
        let k = cx.count
        var lo = 0
        var hi = k
        while lo < hi {
            let mid = (lo + hi) / 2
            if sortedX[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        var best = Int.max
        var bestDistance = Double.infinity
        var left = lo - 1
        var right = lo
        while left >= 0 || right < k {
            if right < k {
                let dx = x - cx[byX[right]]
                if dx * dx > bestDistance {
                    right = k
                } else {
                    let c = byX[right]
                    let dy = y - cy[c]
                    let d = dx * dx + dy * dy
                    if d < bestDistance || (d == bestDistance && c < best) {
                        bestDistance = d
                        best = c
                    }
                    right += 1
                }
            }
            if left >= 0 {
                let dx = x - cx[byX[left]]
                if dx * dx > bestDistance {
                    left = -1
                } else {
                    let c = byX[left]
                    let dy = y - cy[c]
                    let d = dx * dx + dy * dy
                    if d < bestDistance || (d == bestDistance && c < best) {
                        bestDistance = d
                        best = c
                    }
                    left -= 1
                }
            }
        }
        // No finite distance (a NaN point): the full scan keeps the first center.
        return best == Int.max ? 0 : best
    }

    /// New centers as the (weighted) means of their members; clusters without members are
    /// dropped and the assignment re-indexed.
    static func recenter(
        xs: [Double], ys: [Double], weights: [Double]?, centers: [Center], assignment: inout [Int]
    ) -> [Center] {
        var sx = [Double](repeating: 0, count: centers.count)
        var sy = [Double](repeating: 0, count: centers.count)
        var sw = [Double](repeating: 0, count: centers.count)
        var members = [Int](repeating: 0, count: centers.count)
        for i in xs.indices {
            let c = assignment[i]
            let w = weights?[i] ?? 1
            sx[c] += w * xs[i]
            sy[c] += w * ys[i]
            sw[c] += w
            members[c] += 1
        }
        var result: [Center] = []
        var newIndex = [Int](repeating: -1, count: centers.count)
        for c in centers.indices where members[c] > 0 {
            newIndex[c] = result.count
            let w = sw[c] > 0 ? sw[c] : 1
            result.append(Center(id: centers[c].id, x: sx[c] / w, y: sy[c] / w))
        }
        for i in assignment.indices { assignment[i] = newIndex[assignment[i]] }
        return result
    }

    static func converged(old: [Center], new: [Center]) -> Bool {
        guard old.count == new.count else { return false }
        let byPosition: (Center, Center) -> Bool = { $0.x != $1.x ? $0.x < $1.x : $0.y < $1.y }
        for (a, b) in zip(old.sorted(by: byPosition), new.sorted(by: byPosition)) {
            let dx = a.x - b.x
            let dy = a.y - b.y
            if (dx * dx + dy * dy).squareRoot() >= 0.01 { return false }
        }
        return true
    }

    /// The mean silhouette over points, on unweighted Euclidean distances; a point alone in
    /// its cluster scores 0, and so does every point when there is one cluster.
    static func silhouette(xs: [Double], ys: [Double], assignment: [Int], clusterCount: Int) -> Double {
        let n = xs.count
        guard n > 0, clusterCount > 1 else { return 0 }
        var members = [Int](repeating: 0, count: clusterCount)
        for c in assignment { members[c] += 1 }
        var total = 0.0
        for i in 0..<n {
            var sums = [Double](repeating: 0, count: clusterCount)
            for j in 0..<n where j != i {
                let dx = xs[i] - xs[j]
                let dy = ys[i] - ys[j]
                sums[assignment[j]] += (dx * dx + dy * dy).squareRoot()
            }
            let own = assignment[i]
            guard members[own] > 1 else { continue }
            let a = sums[own] / Double(members[own] - 1)
            var b = Double.infinity
            for c in 0..<clusterCount where c != own && members[c] > 0 {
                b = min(b, sums[c] / Double(members[c]))
            }
            guard b.isFinite else { continue }
            let denominator = max(a, b)
            total += denominator > 0 ? (b - a) / denominator : 0
        }
        return total / Double(n)
    }
}
