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
        for _ in 0..<max(1, maxIterations) {
            assign(xs: xs, ys: ys, centers: centers, into: &assignment)
            let moved = recenter(xs: xs, ys: ys, weights: weights, centers: centers, assignment: &assignment)
            let converged = Self.converged(old: centers, new: moved)
            centers = moved
            if converged { break }
        }
        assign(xs: xs, ys: ys, centers: centers, into: &assignment)
        return Outcome(centers: centers, assignment: assignment)
    }

    /// Nearest center by Euclidean distance; ties go to the lower cluster id.
    static func assign(xs: [Double], ys: [Double], centers: [Center], into assignment: inout [Int]) {
        let order = centers.indices.sorted { centers[$0].id < centers[$1].id }
        let cx = order.map { centers[$0].x }
        let cy = order.map { centers[$0].y }
        cx.withUnsafeBufferPointer { cx in
            cy.withUnsafeBufferPointer { cy in
                for i in xs.indices {
                    let x = xs[i]
                    let y = ys[i]
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
                    assignment[i] = order[best]
                }
            }
        }
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
