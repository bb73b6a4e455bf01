import CharterCompiler
import CharterMath
import Foundation

/// The participants' opinion map (`/c/{slug}/results`): one dot per participant coloured by
/// opinion group, each group's area and its letter at its centre (so no group is told apart
/// by colour alone), and the reader's own position circled and labelled. One image with a text
/// alternative (`role="img"`, a `<title>` and a `<desc>`); the page's table lists the groups.
/// Presentation attributes only (the CSP allows no inline styles), every text escaped with the
/// organisers' map's escaper. Small enough to fit a phone: the view box is scaled to the width.
enum ResultsMap {
    static let width = 400.0
    static let height = 280.0
    static let pad = 22.0
    /// Up to this many participants each is drawn as a dot; beyond it the groups' areas stand
    /// for them, so the page stays small.
    static let dotLimit = 250
    static let unclusteredColor = "#8c959f"
    static let background = "#fbfcfd"
    static let white = "#fff"
    static let black = "#000"
    static let ink = "#1b1f24"

    struct Texts {
        let title: String
        let description: String
        /// The label of the reader's own position ("You").
        let you: String
    }

    static func svg(_ result: AnalysisResult, you: Int64?, texts: Texts) -> String {
        let points = result.participants
        let minX = points.map(\.x).min() ?? -1
        let maxX = points.map(\.x).max() ?? 1
        let minY = points.map(\.y).min() ?? -1
        let maxY = points.map(\.y).max() ?? 1
        // One scale for both axes (the two components are alike), the points centred: a
        // conversation whose second component is flat draws a line across the middle, not
        // along an edge.
        let scale = min((width - 2 * pad) / max(maxX - minX, 1e-9), (height - 2 * pad) / max(maxY - minY, 1e-9))
        let left = (width - (maxX - minX) * scale) / 2
        let bottom = (height - (maxY - minY) * scale) / 2
        func sx(_ x: Double) -> Double { left + (x - minX) * scale }
        func sy(_ y: Double) -> Double { height - bottom - (y - minY) * scale }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        func color(_ group: Int?) -> String {
            group.map { AnalysisRoutes.palette[$0 % AnalysisRoutes.palette.count] } ?? unclusteredColor
        }

        var out =
            #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(Int(width)) \#(Int(height))" width="100%" role="img" aria-labelledby="results-map-title results-map-desc" focusable="false">"#
        out += #"<title id="results-map-title">\#(OpinionMap.escape(texts.title))</title>"#
        out += #"<desc id="results-map-desc">\#(OpinionMap.escape(texts.description))</desc>"#
        out += #"<rect width="\#(Int(width))" height="\#(Int(height))" fill="\#(background)"/>"#

        // Each group's area: the convex hull of its members.
        for group in result.groups {
            let members = points.filter { $0.group == group.id }.map { (sx($0.x), sy($0.y)) }
            let hull = convexHull(members)
            guard hull.count >= 3 else { continue }
            let c = color(group.id)
            out +=
                #"<polygon points="\#(hull.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " "))" fill="\#(c)" fill-opacity="0.12" stroke="\#(c)" stroke-width="1.5" stroke-linejoin="round"/>"#
        }

        // The participants, one group of dots per colour.
        if points.count <= dotLimit {
            let byGroup = Dictionary(grouping: points, by: \.group)
            for group in ([nil] + result.groups.map { Optional($0.id) }) {
                guard let members = byGroup[group], !members.isEmpty else { continue }
                out += #"<g fill="\#(color(group))" fill-opacity="0.75">"#
                for p in members {
                    out += #"<circle cx="\#(n(sx(p.x)))" cy="\#(n(sy(p.y)))" r="3.5"/>"#
                }
                out += "</g>"
            }
        }

        // Each group's letter at its centre, dark on white whatever the group's colour.
        var centres: [(x: Double, y: Double)] = []
        for group in result.groups {
            guard let (cx, cy) = OpinionMap.centre(of: group.id, in: result) else { continue }
            centres.append((sx(cx), sy(cy)))
            let x = n(sx(cx))
            let y = n(sy(cy))
            out +=
                #"<circle cx="\#(x)" cy="\#(y)" r="13" fill="\#(white)" stroke="\#(color(group.id))" stroke-width="3"/>"#
            out +=
                #"<text x="\#(x)" y="\#(y)" dy="5.5" text-anchor="middle" font-size="16" font-weight="bold" fill="\#(ink)">\#(OpinionMap.escape(ConstitutionCompiler.groupLetter(group.id)))</text>"#
        }

        // The reader: a black ring with a white one under it, around a group's letter when
        // they stand on it, and "You" beside it, on the side away from the nearer edge.
        if let you, let point = points.first(where: { $0.id == you }) {
            let x = sx(point.x)
            let y = sy(point.y)
            let onALetter = centres.contains { (($0.x - x) * ($0.x - x) + ($0.y - y) * ($0.y - y)).squareRoot() < 18 }
            let r = onALetter ? 18.0 : 9.0
            let right = x < width * 0.7
            out +=
                #"<circle cx="\#(n(x))" cy="\#(n(y))" r="\#(n(r))" fill="none" stroke="\#(white)" stroke-width="5"/>"#
            out +=
                #"<circle cx="\#(n(x))" cy="\#(n(y))" r="\#(n(r))" fill="none" stroke="\#(black)" stroke-width="2.5"/>"#
            out +=
                #"<text x="\#(n(x + (right ? r + 4 : -r - 4)))" y="\#(n(min(max(y, 14), height - 4)))" dy="5" text-anchor="\#(right ? "start" : "end")" font-size="15" font-weight="bold" fill="\#(black)" stroke="\#(white)" stroke-width="4" stroke-linejoin="round" paint-order="stroke">\#(OpinionMap.escape(texts.you))</text>"#
        }
        return out + "</svg>"
    }

    /// Andrew's monotone chain; the hull's corners in order, without repeating the first.
    static func convexHull(_ points: [(Double, Double)]) -> [(Double, Double)] {
        let sorted = points.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        guard sorted.count >= 3 else { return sorted }
        func cross(_ o: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Double {
            (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
        }
        var lower: [(Double, Double)] = []
        for p in sorted {
            while lower.count >= 2, cross(lower[lower.count - 2], lower[lower.count - 1], p) <= 0 { lower.removeLast() }
            lower.append(p)
        }
        var upper: [(Double, Double)] = []
        for p in sorted.reversed() {
            while upper.count >= 2, cross(upper[upper.count - 2], upper[upper.count - 1], p) <= 0 { upper.removeLast() }
            upper.append(p)
        }
        return Array(lower.dropLast()) + Array(upper.dropLast())
    }
}
