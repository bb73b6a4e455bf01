import CharterStore
import Foundation

/// A conversation's activity in time buckets sized by its span (hours for up to two days,
/// days for up to four months, weeks beyond), drawn as inline SVG on the server: presentation
/// attributes only (the CSP allows no inline styles), every text escaped, numbered ticks on
/// both axes, and a label and description for screen readers beside the data table the page
/// shows.
struct ActivityChart {
    enum Unit: Equatable {
        case hour, day, week

        var seconds: Int64 {
            switch self {
            case .hour: 3600
            case .day: 86_400
            case .week: 7 * 86_400
            }
        }

        var name: String {
            switch self {
            case .hour: "hour"
            case .day: "day"
            case .week: "week"
            }
        }
    }

    struct Bucket: Equatable {
        let start: Date
        let votes: Int
        let joined: Int
        /// Participants who had joined by the end of the bucket.
        let participants: Int
    }

    let unit: Unit
    let buckets: [Bucket]

    init(hours: [ActivityHour]) {
        guard let first = hours.first?.start, let last = hours.last?.start else {
            unit = .hour
            buckets = []
            return
        }
        let span = last.timeIntervalSince(first)
        let unit: Unit = span < 48 * 3600 ? .hour : span <= 120 * 86_400 ? .day : .week
        self.unit = unit
        // Weeks start on Monday: 1 January 1970 was a Thursday, three days after one.
        let offset: Int64 = unit == .week ? 3 * 86_400 : 0
        func index(_ date: Date) -> Int64 {
            let seconds = Int64(date.timeIntervalSince1970.rounded(.down)) + offset
            return seconds >= 0 ? seconds / unit.seconds : (seconds + 1) / unit.seconds - 1
        }
        var votes: [Int64: Int] = [:]
        var joined: [Int64: Int] = [:]
        for hour in hours {
            votes[index(hour.start), default: 0] += hour.voteEvents
            joined[index(hour.start), default: 0] += hour.participants
        }
        var total = 0
        buckets = (index(first)...index(last)).map { i in
            total += joined[i] ?? 0
            return Bucket(
                start: Date(timeIntervalSince1970: TimeInterval(i * unit.seconds - offset)), votes: votes[i] ?? 0,
                joined: joined[i] ?? 0, participants: total)
        }
    }

    // MARK: Labels

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func day(_ date: Date) -> String {
        let parts = calendar.dateComponents([.month, .day], from: date)
        return "\(parts.day ?? 1) \(months[((parts.month ?? 1) - 1 + 12) % 12])"
    }

    /// The bucket as the axis and the table name it: "14:00", "3 Mar", "week of 3 Mar".
    func label(_ bucket: Bucket, long: Bool = false) -> String {
        switch unit {
        case .hour:
            let hour = Self.calendar.component(.hour, from: bucket.start)
            let time = (hour < 10 ? "0" : "") + "\(hour):00"
            return long ? "\(Self.day(bucket.start)) \(time) UTC" : time
        case .day: return Self.day(bucket.start)
        case .week: return long ? "week of \(Self.day(bucket.start))" : Self.day(bucket.start)
        }
    }

    /// "3 Mar 14:00 UTC to 3 Mar 18:00 UTC", for the summaries.
    var rangeText: String {
        guard let first = buckets.first, let last = buckets.last else { return "" }
        return first == last ? label(first, long: true) : "\(label(first, long: true)) to \(label(last, long: true))"
    }

    // MARK: Drawing

    static let width = 640.0
    static let height = 220.0
    static let left = 60.0
    static let right = 12.0
    static let top = 12.0
    static let bottom = 48.0
    static var plotWidth: Double { width - left - right }
    static var plotHeight: Double { height - top - bottom }

    /// Votes per bucket as bars, one `rect class="bar"` each.
    func votesSVG(id: String) -> String {
        let values = buckets.map(\.votes)
        let peak = buckets.max { $0.votes < $1.votes }
        let title = "Votes per \(unit.name)"
        let description =
            "\(Self.count(values.reduce(0, +), "vote")) from \(rangeText)"
            + (peak.map { "; the most, \(Self.count($0.votes, "vote")), in \(label($0, long: true))" } ?? "") + "."
        var out = Self.open(id: id, title: title, description: description)
        let ticks = Self.ticks(max: values.max() ?? 0)
        out += yAxis(ticks)
        let slot = Self.plotWidth / Double(max(1, buckets.count))
        let gap = min(2, slot * 0.15)
        for (i, bucket) in buckets.enumerated() {
            let h = Double(bucket.votes) / Double(ticks.last ?? 1) * Self.plotHeight
            out +=
                ##"<rect class="bar" x="\##(Self.format(Self.left + Double(i) * slot + gap))" y="\##(Self.format(Self.top + Self.plotHeight - h))" width="\##(Self.format(max(1, slot - 2 * gap)))" height="\##(Self.format(h))" fill="#0b5cad"><title>\##(Self.escape("\(label(bucket, long: true)): \(Self.count(bucket.votes, "vote"))"))</title></rect>"##
        }
        out += xAxis()
        return out + "</svg>"
    }

    /// Participants who had joined by each bucket's end, as a line with one `circle` a bucket.
    func participantsSVG(id: String) -> String {
        let total = buckets.last?.participants ?? 0
        let title = "Participants over time, by \(unit.name)"
        let description = "\(Self.count(total, "participant")) by the end of \(rangeText)."
        var out = Self.open(id: id, title: title, description: description)
        let ticks = Self.ticks(max: total)
        out += yAxis(ticks)
        let points = buckets.enumerated().map { i, bucket in
            (
                x: Self.left + (Double(i) + 0.5) * Self.plotWidth / Double(max(1, buckets.count)),
                y: Self.top + Self.plotHeight - Double(bucket.participants) / Double(ticks.last ?? 1) * Self.plotHeight,
                bucket: bucket
            )
        }
        out +=
            ##"<polyline points="\##(points.map { "\(Self.format($0.x)),\(Self.format($0.y))" }.joined(separator: " "))" fill="none" stroke="#1a7f37" stroke-width="2"/>"##
        for point in points {
            let text = "\(label(point.bucket, long: true)): \(Self.count(point.bucket.participants, "participant"))"
            out +=
                ##"<circle cx="\##(Self.format(point.x))" cy="\##(Self.format(point.y))" r="3" fill="#1a7f37"><title>\##(Self.escape(text))</title></circle>"##
        }
        out += xAxis()
        return out + "</svg>"
    }

    private static func open(id: String, title: String, description: String) -> String {
        let id = escape(id)
        return
            ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \##(Int(width)) \##(Int(height))" role="img" aria-labelledby="\##(id)-title \##(id)-desc"><title id="\##(id)-title">\##(escape(title))</title><desc id="\##(id)-desc">\##(escape(description))</desc>"##
    }

    private func yAxis(_ ticks: [Int]) -> String {
        var out = ""
        for tick in ticks {
            let y = Self.top + Self.plotHeight - Double(tick) / Double(ticks.last ?? 1) * Self.plotHeight
            out +=
                ##"<line x1="\##(Self.format(Self.left))" y1="\##(Self.format(y))" x2="\##(Self.format(Self.width - Self.right))" y2="\##(Self.format(y))" stroke="\##(tick == 0 ? "#57606a" : "#d0d7de")" stroke-width="1"/>"##
            out +=
                ##"<text x="\##(Self.format(Self.left - 6))" y="\##(Self.format(y + 4))" text-anchor="end" font-size="16" fill="#57606a">\##(Self.number(tick))</text>"##
        }
        return out
    }

    /// At most six labelled ticks, evenly spaced over the buckets.
    private func xAxis() -> String {
        guard !buckets.isEmpty else { return "" }
        let step = max(1, Int((Double(buckets.count) / 6).rounded(.up)))
        let slot = Self.plotWidth / Double(buckets.count)
        var out = ""
        for i in stride(from: 0, to: buckets.count, by: step) {
            let x = Self.left + (Double(i) + 0.5) * slot
            let baseline = Self.top + Self.plotHeight
            out +=
                ##"<line x1="\##(Self.format(x))" y1="\##(Self.format(baseline))" x2="\##(Self.format(x))" y2="\##(Self.format(baseline + 5))" stroke="#57606a" stroke-width="1"/>"##
            out +=
                ##"<text x="\##(Self.format(x))" y="\##(Self.format(baseline + 22))" text-anchor="middle" font-size="16" fill="#57606a">\##(Self.escape(label(buckets[i])))</text>"##
        }
        if unit == .hour, let first = buckets.first {
            out +=
                ##"<text x="\##(Self.format(Self.left))" y="\##(Self.format(Self.height - 4))" font-size="16" fill="#57606a">\##(Self.escape("UTC, from \(Self.day(first.start))"))</text>"##
        }
        return out
    }

    /// Round tick values from 0 to at least `max`, at most six of them: steps of 1, 2 or 5 × 10ⁿ.
    static func ticks(max: Int) -> [Int] {
        guard max > 0 else { return [0, 1] }
        var magnitude = 1
        while true {
            for factor in [1, 2, 5] {
                let step = factor * magnitude
                let count = (max + step - 1) / step
                if count <= 5 { return (0...count).map { $0 * step } }
            }
            magnitude *= 10
        }
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// 1234567 → "1,234,567".
    static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// "1 vote", "2 votes".
    static func count(_ value: Int, _ noun: String) -> String {
        "\(number(value)) \(noun)\(value == 1 ? "" : "s")"
    }

    static func escape(_ text: String) -> String { OpinionMap.escape(text) }
}
