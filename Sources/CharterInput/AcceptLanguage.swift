/// The language ranges of an `Accept-Language` header (RFC 9110 §12.5.4), best first. Ranges
/// with `q=0` are refused by the client and left out; a malformed part is skipped, never fatal.
public enum AcceptLanguage {
    public struct Range: Sendable, Equatable {
        /// Lower-cased, e.g. `pt-br` or `*`.
        public let tag: String
        public let quality: Double
    }

    public static func ranges(_ header: String) -> [Range] {
        var ranges: [(Range, Int)] = []
        for (position, part) in header.split(separator: ",", omittingEmptySubsequences: true).prefix(32).enumerated() {
            let pieces = part.split(separator: ";")
            guard let first = pieces.first else { continue }
            let tag = first.trimmingWhitespace().lowercased()
            guard !tag.isEmpty, tag.count <= 35,
                tag.allSatisfy({ $0 == "-" || $0 == "*" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
            else { continue }
            var quality = 1.0
            for parameter in pieces.dropFirst() {
                let pair = parameter.trimmingWhitespace()
                guard pair.lowercased().hasPrefix("q=") else { continue }
                guard let value = Double(pair.dropFirst(2)), value.isFinite, value >= 0, value <= 1 else {
                    quality = -1
                    break
                }
                quality = value
            }
            guard quality > 0 else { continue }
            ranges.append((Range(tag: tag, quality: quality), position))
        }
        // Stable: equal qualities keep the client's order.
        return ranges.sorted { $0.0.quality != $1.0.quality ? $0.0.quality > $1.0.quality : $0.1 < $1.1 }.map(\.0)
    }

    /// The first of `available` (lower-case primary codes such as `pt`) the header asks for,
    /// matching a range by its primary subtag (`pt-BR` asks for `pt`); nil when none is asked for.
    public static func best(_ header: String, available: Set<String>) -> String? {
        for range in ranges(header) {
            if range.tag == "*" { continue }
            let primary = range.tag.split(separator: "-").first.map(String.init) ?? range.tag
            if available.contains(range.tag) { return range.tag }
            if available.contains(primary) { return primary }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
