/// How long a text may be. People count characters (grapheme clusters), so limits are stated in
/// them; but one grapheme cluster can hold any number of combining marks, so a limit in
/// characters alone lets a "one-letter" text run to megabytes. A text also stays within 4×
/// the limit in Unicode scalars and 16× in UTF-8 bytes: room for Arabic with its vowel marks or
/// Devanagari with its matras, none for a flood of marks.
public enum TextLength {
    public static let scalarsPerCharacter = 4
    public static let bytesPerCharacter = 16

    /// Whether the text fits a limit of `characters` characters.
    public static func fits(_ text: String, characters limit: Int) -> Bool {
        // The cheap counts first, so a hostile text is refused before it is segmented.
        let (byteLimit, byteOverflow) = limit.multipliedReportingOverflow(by: bytesPerCharacter)
        if !byteOverflow, text.utf8.count > byteLimit { return false }
        let (scalarLimit, scalarOverflow) = limit.multipliedReportingOverflow(by: scalarsPerCharacter)
        if !scalarOverflow, text.unicodeScalars.count > scalarLimit { return false }
        return text.count <= limit
    }
}
