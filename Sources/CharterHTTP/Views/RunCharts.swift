import CharterPipeline
import Foundation

/// The run page's charts as SVG, drawn on the server with presentation attributes only (the CSP
/// allows no inline styles) and every label escaped.
enum RunCharts {
    static let armColors = ["ccai": "#1f6feb", "baseline": "#d4731a"]
    static let arms = ["ccai", "baseline"]

    /// BBQ bias score per category in one context ("ambig" or "disambig"), both arms side by
    /// side, on the paper's −100…100 scale with zero in the middle.
    static func bbqBias(_ results: RunResults, context: String, title: String) -> String? {
        let categories = Set(arms.flatMap { results.arms[$0]?.bbq?.keys.map { $0 } ?? [] }).sorted()
        guard !categories.isEmpty else { return nil }
        let rowHeight = 30.0
        let left = 170.0
        let width = 640.0
        let plot = width - left - 20
        let top = 50.0
        let height = top + rowHeight * Double(categories.count) + 40
        let zero = left + plot / 2
        func x(_ bias: Double) -> Double { zero + max(-100, min(100, bias)) / 100 * plot / 2 }
        var out = header(width: width, height: height, title: title)
        out += legend(x: left, y: 34)
        for tick in [-100.0, -50, 0, 50, 100] {
            let tx = format(x(tick))
            out +=
                ##"<line x1="\##(tx)" y1="\##(format(top - 4))" x2="\##(tx)" y2="\##(format(height - 34))" stroke="\##(tick == 0 ? "#333" : "#ddd")" stroke-width="1"/>"##
            out +=
                ##"<text x="\##(tx)" y="\##(format(height - 18))" text-anchor="middle" font-size="11" fill="#555">\##(Int(tick))</text>"##
        }
        for (row, category) in categories.enumerated() {
            let y = top + Double(row) * rowHeight
            out +=
                ##"<text x="\##(format(left - 8))" y="\##(format(y + 18))" text-anchor="end" font-size="12" fill="#222">\##(escape(category.replacingOccurrences(of: "_", with: " ")))</text>"##
            for (index, arm) in arms.enumerated() {
                guard let bias = results.arms[arm]?.bbq?[category]?[context]?.bias else { continue }
                let barY = y + 4 + Double(index) * 11
                let from = min(x(bias), zero)
                let length = max(abs(x(bias) - zero), 1)
                out +=
                    ##"<rect x="\##(format(from))" y="\##(format(barY))" width="\##(format(length))" height="10" fill="\##(armColors[arm] ?? "#888")"><title>\##(escape(category)) · \##(arm): \##(String(format: "%.1f", bias))</title></rect>"##
            }
        }
        return out + "</svg>"
    }

    /// Training losses of one stage, both arms.
    static func losses(_ results: RunResults, stage: String, title: String) -> String? {
        let series = arms.compactMap { arm in
            results.arms[arm]?.losses?[stage].map { (arm, $0.filter { $0.count >= 2 }) }
        }
        .filter { !$0.1.isEmpty }
        guard !series.isEmpty else { return nil }
        let points = series.flatMap(\.1)
        let minX = points.map { $0[0] }.min() ?? 0
        let maxX = points.map { $0[0] }.max() ?? 1
        let minY = min(points.map { $0[1] }.min() ?? 0, 0)
        let maxY = points.map { $0[1] }.max() ?? 1
        let width = 640.0
        let height = 260.0
        let left = 50.0
        let top = 50.0
        let plotWidth = width - left - 20
        let plotHeight = height - top - 40
        func sx(_ value: Double) -> Double { left + (value - minX) / max(maxX - minX, 1e-9) * plotWidth }
        func sy(_ value: Double) -> Double { top + plotHeight - (value - minY) / max(maxY - minY, 1e-9) * plotHeight }
        var out = header(width: width, height: height, title: title)
        out += legend(x: left, y: 22)
        out +=
            ##"<line x1="\##(format(left))" y1="\##(format(top + plotHeight))" x2="\##(format(left + plotWidth))" y2="\##(format(top + plotHeight))" stroke="#333"/>"##
        out +=
            ##"<line x1="\##(format(left))" y1="\##(format(top))" x2="\##(format(left))" y2="\##(format(top + plotHeight))" stroke="#333"/>"##
        for value in [minY, (minY + maxY) / 2, maxY] {
            out +=
                ##"<text x="\##(format(left - 6))" y="\##(format(sy(value) + 4))" text-anchor="end" font-size="11" fill="#555">\##(String(format: "%.2f", value))</text>"##
        }
        out +=
            ##"<text x="\##(format(left + plotWidth / 2))" y="\##(format(height - 8))" text-anchor="middle" font-size="11" fill="#555">step</text>"##
        for (arm, curve) in series {
            let path = curve.map { "\(format(sx($0[0]))),\(format(sy($0[1])))" }.joined(separator: " ")
            out +=
                ##"<polyline points="\##(path)" fill="none" stroke="\##(armColors[arm] ?? "#888")" stroke-width="2"\##(arm == "baseline" ? #" stroke-dasharray="6 4""# : "")><title>\##(arm) \##(escape(stage)) loss</title></polyline>"##
        }
        return out + "</svg>"
    }

    static func header(width: Double, height: Double, title: String) -> String {
        ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \##(Int(width)) \##(Int(height))" role="img" aria-label="\##(escape(title))"><text x="0" y="14" font-size="13" font-weight="bold" fill="#222">\##(escape(title))</text>"##
    }

    static func legend(x: Double, y: Double) -> String {
        var out = ""
        for (index, arm) in arms.enumerated() {
            let lx = x + Double(index) * 110
            out +=
                ##"<rect x="\##(format(lx))" y="\##(format(y - 9))" width="10" height="10" fill="\##(armColors[arm] ?? "#888")"/>"##
            out +=
                ##"<text x="\##(format(lx + 14))" y="\##(format(y))" font-size="12" fill="#222">\##(arm == "ccai" ? "CCAI" : "baseline")</text>"##
        }
        return out
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String { OpinionMap.escape(text) }
}
