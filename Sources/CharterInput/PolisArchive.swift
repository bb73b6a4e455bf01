public import CharterDomain
public import Foundation

/// How much an import may unpack. The upload limit bounds what arrives, these bound what it
/// becomes: a zip can inflate a thousandfold, so the total uncompressed size and each entry's
/// ratio are checked before anything is extracted (from the archive's directory) and again
/// while it is (a directory can lie).
public struct ImportLimits: Sendable, Equatable {
    /// All files of an import together, uncompressed.
    public var maxUncompressedBytes: Int
    /// Uncompressed bytes per compressed byte, per entry. CSV exports compress 5–15×.
    public var maxCompressionRatio: Int
    public var csv: CSV.Limits

    public init(
        maxUncompressedBytes: Int = 256 * 1024 * 1024, maxCompressionRatio: Int = 50, csv: CSV.Limits = .init()
    ) {
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxCompressionRatio = maxCompressionRatio
        self.csv = csv
    }
}

/// Why an import's files could not be read.
public enum ImportReadError: Error, Equatable, CustomStringConvertible {
    /// The body is not something this reader understands (not a zip, malformed multipart,
    /// not UTF-8).
    case malformed(String)
    /// The files are read but are not a valid export (a missing file or column, a bad value).
    case invalid(String)
    /// The import is bigger than the limits allow.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .malformed(let message), .invalid(let message), .tooLarge(let message): message
        }
    }
}

/// A Polis export's files, read from an uploaded zip or multipart body, and parsed.
public enum PolisArchive {
    /// The files Charter reads from a Polis export folder.
    public static let fileNames = ["participants-votes.csv", "comments.csv", "votes.csv", "summary.csv"]

    /// The export's files from a zip, by file name wherever they sit in it.
    ///
    /// The zip's directory is read here, with checked access, and each entry is inflated with
    /// ZIPFoundation's deflate over exactly its stored bytes: ZIPFoundation's own archive reader
    /// traps on an entry offset past the end of the data, loops forever on a deflate stream cut
    /// short, and leaks when opening fails (all three found by scripts/fuzz).
    public static func unzip(_ data: Data, limits: ImportLimits) throws(ImportReadError) -> [String: Data] {
        let bytes = [UInt8](data)
        let entries = try ZipDirectory.entries(bytes)
        let wanted = entries.filter { entry in
            !entry.name.hasSuffix("/") && fileNames.contains(String(entry.name.split(separator: "/").last ?? ""))
        }
        let budget = max(0, limits.maxUncompressedBytes)
        let ratio = max(1, limits.maxCompressionRatio)
        var declared = 0
        for entry in wanted {
            let (sum, overflow) = declared.addingReportingOverflow(entry.uncompressedSize)
            declared = overflow ? .max : sum
            if entry.uncompressedSize / ratio > max(entry.compressedSize, 1) {
                throw .tooLarge(
                    "\(entry.name) inflates more than \(ratio)-fold; the import refuses it as a possible zip bomb.")
            }
        }
        if declared > budget {
            throw .tooLarge("The zip's files come to more than \(budget) bytes uncompressed; the limit is \(budget).")
        }
        var files: [String: Data] = [:]
        var total = 0
        for entry in wanted {
            let name = String(entry.name.split(separator: "/").last ?? "")
            // A directory can understate sizes, so what comes out is counted as it comes.
            let perEntry = max(entry.compressedSize, 1).multipliedReportingOverflow(by: ratio)
            let entryLimit = perEntry.overflow ? Int.max : perEntry.partialValue
            let content = try ZipDirectory.inflate(
                entry, in: bytes, limit: min(entryLimit, budget - total), name: name)
            total += content.count
            files[name] = content
        }
        return files
    }

    /// The export's files from a multipart body (one part per file, named by file name).
    public static func files(multipart body: Data, contentType: String) throws(ImportReadError) -> [String: Data] {
        do {
            // A part is named by its field name or its file name, whichever is one of the export's
            // files: clients name the field, browsers send the file's own name.
            var files: [String: Data] = [:]
            for part in try Multipart.parts(body, contentType: contentType) where part.fileName?.isEmpty != true {
                if let name = [part.name, part.fileName].compactMap({ $0 }).first(where: fileNames.contains) {
                    files[name] = part.data
                }
            }
            return files
        } catch {
            throw .malformed(error.description)
        }
    }

    /// Parses the files of an export.
    public static func export(_ files: [String: Data], limits: ImportLimits) throws(ImportReadError) -> PolisExport {
        func text(_ name: String) throws(ImportReadError) -> String? {
            guard let bytes = files[name] else { return nil }
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw .malformed("\(name) is not UTF-8 text.")
            }
            return string
        }
        guard let matrix = try text("participants-votes.csv") else {
            throw .invalid("The export needs participants-votes.csv.")
        }
        let comments = try text("comments.csv")
        let votes = try text("votes.csv")
        let summary = try text("summary.csv")
        do throws(PolisExport.ParseError) {
            return try PolisExport.parse(
                participantsVotes: matrix, comments: comments, votes: votes, summary: summary, limits: limits.csv)
        } catch {
            if case .tooLarge = error { throw .tooLarge("\(error); the import refuses it.") }
            throw .invalid("The export is malformed: \(error)")
        }
    }
}
