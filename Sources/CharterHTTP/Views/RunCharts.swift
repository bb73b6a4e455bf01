import CharterPipeline
import Foundation

/// The run page's charts as SVG, drawn on the server with presentation attributes only (the CSP
/// allows no inline styles) and every label escaped. Each chart's title is the page's caption
/// above it (so it wraps on a phone and never meets the legend, which is the chart's first
/// row); the SVG is as wide as its container and scales with its viewBox. Axes carry numbered
/// ticks, a missing value is drawn as a hatched "n/a" mark that cannot be mistaken for a zero
/// bar, and category names read as words.
enum RunCharts {
    static let armColors = ["ccai": "#1f6feb", "baseline": "#c2570c"]
    static let arms = ["ccai", "baseline"]
    static let armNames = ["ccai": "CCAI", "baseline": "Baseline"]

    /// A chart and the caption it is shown under.
    struct Chart {
        let title: String
        let svg: String
    }

    static let width = 560.0
    /// The legend's row: swatches from `legendTop`, `legendHeight` high.
    static let legendTop = 6.0
    static let legendHeight = 12.0
    /// The plot starts this far below the legend's row.
    static let plotTop = 40.0

    /// BBQ bias score per category in one context ("ambig" or "disambig"), both arms side by
    /// side, on the paper's −100…100 scale with zero in the middle.
    static func bbqBias(_ results: RunResults, context: String, title: String) -> Chart? {
        let categories = Set(arms.flatMap { results.arms[$0]?.bbq?.keys.map { $0 } ?? [] }).sorted()
        guard !categories.isEmpty else { return nil }
        let id = "bbq-\(identifier(context))"
        let rowHeight = 34.0
        let left = 150.0
        let right = 44.0
        let plot = width - left - right
        let top = plotTop
        let bottom = top + rowHeight * Double(categories.count)
        let height = bottom + 44
        let zero = left + plot / 2
        func x(_ bias: Double) -> Double { zero + max(-100, min(100, bias)) / 100 * plot / 2 }
        var missing = false
        var rows = ""
        for (row, category) in categories.enumerated() {
            let y = top + Double(row) * rowHeight
            let name = words(category)
            rows +=
                ##"<text x="\##(f(left - 8))" y="\##(f(y + 20))" text-anchor="end" font-size="13" fill="#222">\##(escape(name))</text>"##
            for (index, arm) in arms.enumerated() {
                let barY = y + 5 + Double(index) * 12
                let armName = armNames[arm] ?? arm
                guard let bias = results.arms[arm]?.bbq?[category]?[context]?.bias, bias.isFinite else {
                    // No value: a hatched box with "n/a", never a bar of length zero.
                    missing = true
                    rows +=
                        ##"<rect x="\##(f(zero - 14))" y="\##(f(barY))" width="28" height="10" fill="url(#\##(id)-hatch)" stroke="#6e7781" stroke-width="1" stroke-dasharray="2 2" data-missing="true"><title>\##(escape(name)) · \##(armName): no value</title></rect>"##
                    rows +=
                        ##"<text x="\##(f(zero + 18))" y="\##(f(barY + 9))" font-size="11" font-style="italic" fill="#57606a">n/a</text>"##
                    continue
                }
                let end = x(bias)
                let color = armColors[arm] ?? "#888"
                let label = String(format: "%.1f", bias)
                if abs(end - zero) < 1.5 {
                    // Zero (or next to it): a tick on the zero line, and its value.
                    rows +=
                        ##"<rect x="\##(f(zero - 1.5))" y="\##(f(barY - 1))" width="3" height="12" fill="\##(color)"><title>\##(escape(name)) · \##(armName): \##(label)</title></rect>"##
                } else {
                    rows +=
                        ##"<rect x="\##(f(min(end, zero)))" y="\##(f(barY))" width="\##(f(abs(end - zero)))" height="10" fill="\##(color)"><title>\##(escape(name)) · \##(armName): \##(label)</title></rect>"##
                }
                let outward = bias < 0
                rows +=
                    ##"<text x="\##(f(outward ? min(end, zero - 1.5) - 4 : max(end, zero + 1.5) + 4))" y="\##(f(barY + 9))" text-anchor="\##(outward ? "end" : "start")" font-size="11" fill="#222">\##(label)</text>"##
            }
        }
        var out = header(id: id, height: bottom + 44, title: title, hatch: missing)
        out += legend(missing: missing, id: id)
        // Ticks and grid.
        for tick in [-100.0, -50, 0, 50, 100] {
            let tx = f(x(tick))
            out +=
                ##"<line x1="\##(tx)" y1="\##(f(top - 4))" x2="\##(tx)" y2="\##(f(bottom))" stroke="\##(tick == 0 ? "#444" : "#d0d7de")" stroke-width="1"/>"##
            out +=
                ##"<line x1="\##(tx)" y1="\##(f(bottom))" x2="\##(tx)" y2="\##(f(bottom + 5))" stroke="#444" stroke-width="1" data-tick="x"/>"##
            out +=
                ##"<text x="\##(tx)" y="\##(f(bottom + 18))" text-anchor="middle" font-size="12" fill="#444">\##(Int(tick))</text>"##
        }
        out +=
            ##"<line x1="\##(f(left))" y1="\##(f(bottom))" x2="\##(f(left + plot))" y2="\##(f(bottom))" stroke="#444" stroke-width="1"/>"##
        out +=
            ##"<text x="\##(f(zero))" y="\##(f(height - 6))" text-anchor="middle" font-size="12" fill="#444">bias score (−100 to 100; 0 is unbiased)</text>"##
        return Chart(title: title, svg: out + rows + "</svg>")
    }

    /// Training losses of one stage, both arms, with a marker at every logged step.
    static func losses(_ results: RunResults, stage: String, title: String) -> Chart? {
        let series = arms.compactMap { arm in
            results.arms[arm]?.losses?[stage].map {
                (arm, $0.filter { $0.count >= 2 && $0[0].isFinite && $0[1].isFinite })
            }
        }
        .filter { !$0.1.isEmpty }
        guard !series.isEmpty else { return nil }
        let id = "loss-\(identifier(stage))"
        let points = series.flatMap(\.1)
        let (xTicks, minX, maxX) = ticks(points.map { $0[0] }.min() ?? 0, points.map { $0[0] }.max() ?? 1, whole: true)
        let (yTicks, minY, maxY) = ticks(
            min(points.map { $0[1] }.min() ?? 0, 0), points.map { $0[1] }.max() ?? 1, whole: false)
        let height = 300.0
        let left = 64.0
        let right = 18.0
        let top = plotTop
        let plotWidth = width - left - right
        let plotHeight = height - top - 56
        let bottom = top + plotHeight
        func sx(_ value: Double) -> Double { left + (value - minX) / max(maxX - minX, 1e-9) * plotWidth }
        func sy(_ value: Double) -> Double { bottom - (value - minY) / max(maxY - minY, 1e-9) * plotHeight }
        let absent = arms.filter { arm in !series.contains { $0.0 == arm } }
        var out = header(id: id, height: height, title: title, hatch: false)
        out += legend(missing: false, id: id, absent: absent)
        for value in yTicks {
            let y = f(sy(value))
            out +=
                ##"<line x1="\##(f(left))" y1="\##(y)" x2="\##(f(left + plotWidth))" y2="\##(y)" stroke="#eaeef2" stroke-width="1"/>"##
            out +=
                ##"<line x1="\##(f(left - 5))" y1="\##(y)" x2="\##(f(left))" y2="\##(y)" stroke="#444" stroke-width="1" data-tick="y"/>"##
            out +=
                ##"<text x="\##(f(left - 8))" y="\##(f(sy(value) + 4))" text-anchor="end" font-size="12" fill="#444">\##(tickLabel(value, ticks: yTicks))</text>"##
        }
        for value in xTicks {
            let x = f(sx(value))
            out +=
                ##"<line x1="\##(x)" y1="\##(f(bottom))" x2="\##(x)" y2="\##(f(bottom + 5))" stroke="#444" stroke-width="1" data-tick="x"/>"##
            out +=
                ##"<text x="\##(x)" y="\##(f(bottom + 18))" text-anchor="middle" font-size="12" fill="#444">\##(tickLabel(value, ticks: xTicks))</text>"##
        }
        out +=
            ##"<line x1="\##(f(left))" y1="\##(f(bottom))" x2="\##(f(left + plotWidth))" y2="\##(f(bottom))" stroke="#444"/>"##
        out +=
            ##"<line x1="\##(f(left))" y1="\##(f(top))" x2="\##(f(left))" y2="\##(f(bottom))" stroke="#444"/>"##
        out +=
            ##"<text x="\##(f(left + plotWidth / 2))" y="\##(f(height - 10))" text-anchor="middle" font-size="12" fill="#444">optimiser step</text>"##
        out +=
            ##"<text x="14" y="\##(f(top + plotHeight / 2))" text-anchor="middle" font-size="12" fill="#444" transform="rotate(-90 14 \##(f(top + plotHeight / 2)))">loss</text>"##
        for (arm, curve) in series {
            let color = armColors[arm] ?? "#888"
            let name = armNames[arm] ?? arm
            let path = curve.map { "\(f(sx($0[0]))),\(f(sy($0[1])))" }.joined(separator: " ")
            out +=
                ##"<polyline points="\##(path)" fill="none" stroke="\##(color)" stroke-width="2"\##(arm == "baseline" ? #" stroke-dasharray="6 4""# : "")><title>\##(name) \##(escape(words(stage))) loss</title></polyline>"##
            for point in curve {
                out +=
                    ##"<circle cx="\##(f(sx(point[0])))" cy="\##(f(sy(point[1])))" r="3" fill="\##(color)"><title>\##(name), step \##(tickLabel(point[0], ticks: [1])): \##(String(format: "%.3f", point[1]))</title></circle>"##
            }
        }
        return Chart(title: title, svg: out + "</svg>")
    }

    static func header(id: String, height: Double, title: String, hatch: Bool) -> String {
        var out =
            ##"<svg xmlns="http://www.w3.org/2000/svg" id="\##(id)" viewBox="0 0 \##(Int(width)) \##(Int(height.rounded(.up)))" width="100%" role="img" aria-label="\##(escape(title))"><title>\##(escape(title))</title>"##
        if hatch {
            out +=
                ##"<defs><pattern id="\##(id)-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6e7781" stroke-width="2"/></pattern></defs>"##
        }
        return out
    }

    /// The arms' swatches on the chart's first row (and the n/a mark when the chart has one);
    /// an arm without any value is named with "no values".
    static func legend(missing: Bool, id: String, absent: [String] = []) -> String {
        var out = ""
        var x = 8.0
        let text = legendTop + legendHeight - 2
        for arm in arms {
            let name = (armNames[arm] ?? arm) + (absent.contains(arm) ? " (no values)" : "")
            out +=
                ##"<rect x="\##(f(x))" y="\##(f(legendTop))" width="\##(f(legendHeight))" height="\##(f(legendHeight))" fill="\##(absent.contains(arm) ? "#ffffff" : armColors[arm] ?? "#888")" stroke="\##(armColors[arm] ?? "#888")" data-legend="\##(arm)"/>"##
            out +=
                ##"<text x="\##(f(x + legendHeight + 5))" y="\##(f(text))" font-size="13" fill="#222">\##(name)</text>"##
            x += 24 + Double(name.count) * 7.5
        }
        if missing {
            out +=
                ##"<rect x="\##(f(x))" y="\##(f(legendTop))" width="\##(f(legendHeight * 2))" height="\##(f(legendHeight))" fill="url(#\##(id)-hatch)" stroke="#6e7781" stroke-dasharray="2 2" data-legend="missing"/>"##
            out +=
                ##"<text x="\##(f(x + legendHeight * 2 + 5))" y="\##(f(text))" font-size="13" fill="#222">n/a: no value</text>"##
        }
        return out
    }

    /// Round tick values covering `low…high` (steps of 1, 2, 2.5 or 5 times a power of ten;
    /// whole numbers only when `whole`), with the domain widened to the outer ticks.
    static func ticks(_ low: Double, _ high: Double, whole: Bool, count: Int = 5) -> ([Double], Double, Double) {
        var low = low
        var high = high
        if high <= low {
            low -= whole ? 1 : 0.5
            high += whole ? 1 : 0.5
        }
        let raw = (high - low) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw * 0.999 } ?? raw
        if whole { step = max(1, step.rounded(.up)) }
        let first = (low / step).rounded(.down) * step
        let last = (high / step).rounded(.up) * step
        var values: [Double] = []
        var value = first
        while value <= last + step / 1000, values.count < 50 {
            values.append(abs(value) < step / 1e6 ? 0 : value)
            value += step
        }
        return (values, first, last)
    }

    /// A tick's number with as many decimals as the step between ticks needs.
    static func tickLabel(_ value: Double, ticks: [Double]) -> String {
        let step = ticks.count > 1 ? abs(ticks[1] - ticks[0]) : 1
        var decimals = 0
        while decimals < 6, abs(step * pow(10, Double(decimals)) - (step * pow(10, Double(decimals))).rounded()) > 1e-6
        {
            decimals += 1
        }
        return String(format: "%.\(decimals)f", value)
    }

    /// A category or stage name as words: `harmless_base` → "Harmless base",
    /// `Race_x_SES` → "Race x SES", `sft` → "SFT".
    static func words(_ name: String) -> String {
        let known = ["sft": "SFT", "dpo": "DPO", "sl": "SL", "ses": "SES", "bbq": "BBQ", "hhh": "HHH"]
        let parts = name.split(whereSeparator: { $0 == "_" || $0 == "-" }).map(String.init)
        guard !parts.isEmpty else { return name }
        return parts.enumerated().map { index, part in
            if let acronym = known[part.lowercased()], part == part.lowercased() || part == acronym { return acronym }
            if part.count > 1, part == part.uppercased() { return part }
            let lower = index == 0 ? part : part.lowercased()
            return index == 0 ? lower.prefix(1).uppercased() + lower.dropFirst() : lower
        }.joined(separator: " ")
    }

    /// Labels the pipeline wrote, with any snake_case names in them read as words
    /// ("BBQ accuracy, ambiguous contexts, Disability_status" → "…, Disability status").
    static func readable(_ label: String) -> String {
        label.split(separator: " ", omittingEmptySubsequences: false).map { token in
            let core = token.trimmingCharacters(in: CharacterSet(charactersIn: ",;:()"))
            guard core.contains("_"), !core.contains("."), !core.isEmpty else { return String(token) }
            return token.replacingOccurrences(of: core, with: words(core))
        }.joined(separator: " ")
    }

    /// A name fit for an SVG id.
    static func identifier(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String { OpinionMap.escape(text) }
}
