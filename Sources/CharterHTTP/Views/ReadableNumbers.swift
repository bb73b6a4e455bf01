import Foundation

/// Numbers as people read them on the pages: percentages and two or three significant digits.
/// The exact value stays in the API and in the `title` of the element that shows the rounded one.
enum ReadableNumbers {
    /// `value` with `digits` significant digits, without trailing zeros after the point
    /// ("0.72", "0.0031", "12.3", "1,240"); "–" for a missing or non-finite value.
    static func significant(_ value: Double?, digits: Int = 3) -> String {
        guard let value, value.isFinite else { return "–" }
        if value == 0 { return "0" }
        let magnitude = Int(floor(log10(abs(value))))
        let decimals = max(0, digits - 1 - magnitude)
        let scale = pow(10, Double(decimals))
        let rounded = (value * scale).rounded() / scale
        let formatter = NumberFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.numberStyle = .decimal
        formatter.minimumFractionDigits = 0
        formatter.maximumFractionDigits = decimals
        return formatter.string(from: NSNumber(value: rounded)) ?? String(rounded)
    }

    /// A share between 0 and 1 as a whole percentage ("92%"); below 1% but above 0, "<1%".
    static func percent(_ share: Double?) -> String {
        guard let share, share.isFinite else { return "–" }
        if share > 0, share < 0.005 { return "<1%" }
        if share < 1, share > 0.995 { return ">99%" }
        return "\(Int((share * 100).rounded()))%"
    }

    /// The exact value for a `title`: every digit Swift needs to give it back.
    static func exact(_ value: Double?) -> String {
        guard let value else { return "no value" }
        return "\(value)"
    }
}
