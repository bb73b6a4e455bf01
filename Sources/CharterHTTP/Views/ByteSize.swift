/// A file's size as people read it: "0 bytes", "1 byte", "999 bytes", "12 KB", "3.4 MB"
/// (powers of 1000, as file managers count; Foundation's formatter says "Zero KB" for nothing).
enum ByteSize {
    static func text(_ bytes: Int64) -> String {
        guard bytes >= 1000 || bytes <= -1000 else { return "\(bytes) byte\(bytes == 1 ? "" : "s")" }
        var value = Double(bytes)
        var unit = 0
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        while abs(value) >= 999.95, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        // Two or three significant digits: "3.4 MB", "12 KB", "340 KB".
        let digits = abs(value) < 10 ? 1 : 0
        var number = digits == 0 ? String(Int(value.rounded())) : String(format: "%.1f", value)
        if number.hasSuffix(".0") { number.removeLast(2) }
        return "\(number) \(units[unit])"
    }
}
