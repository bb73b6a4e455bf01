public import CharterDomain
public import Foundation
import ZIPFoundation

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
    public static func unzip(_ data: Data, limits: ImportLimits) throws(ImportReadError) -> [String: Data] {
        let archive: Archive
        do {
            archive = try Archive(data: data, accessMode: .read)
        } catch {
            throw .malformed("The body is not a readable zip archive.")
        }
        let wanted = archive.filter { entry in
            entry.type == .file && fileNames.contains(String(entry.path.split(separator: "/").last ?? ""))
        }
        let budget = UInt64(max(0, limits.maxUncompressedBytes))
        let ratio = UInt64(max(1, limits.maxCompressionRatio))
        var declared: UInt64 = 0
        for entry in wanted {
            let (sum, overflow) = declared.addingReportingOverflow(entry.uncompressedSize)
            declared = overflow ? .max : sum
            let (ratioLimit, ratioOverflow) = max(entry.compressedSize, 1).multipliedReportingOverflow(by: ratio)
            if !ratioOverflow, entry.uncompressedSize > ratioLimit {
                throw .tooLarge(
                    "\(entry.path) inflates more than \(ratio)-fold; the import refuses it as a possible zip bomb.")
            }
        }
        if declared > budget {
            throw .tooLarge("The zip's files come to more than \(budget) bytes uncompressed; the limit is \(budget).")
        }

        struct Exceeded: Error {
            var message: String
        }
        var files: [String: Data] = [:]
        var total: UInt64 = 0
        for entry in wanted {
            let name = String(entry.path.split(separator: "/").last ?? "")
            let (entryLimit, overflow) = max(entry.compressedSize, 1).multipliedReportingOverflow(by: ratio)
            let perEntry = overflow ? UInt64.max : entryLimit
            var content = Data()
            var written: UInt64 = 0
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    written += UInt64(chunk.count)
                    total += UInt64(chunk.count)
                    if written > perEntry {
                        throw Exceeded(message: "\(name) inflates more than \(ratio)-fold; the import refuses it.")
                    }
                    if total > budget {
                        throw Exceeded(message: "The zip's files come to more than \(budget) bytes uncompressed.")
                    }
                    content.append(chunk)
                }
            } catch let error as Exceeded {
                throw .tooLarge(error.message)
            } catch {
                throw .malformed("\(name) in the zip cannot be read.")
            }
            files[name] = content
        }
        return files
    }

    /// The export's files from a multipart body (one part per file, named by file name).
    public static func files(multipart body: Data, contentType: String) throws(ImportReadError) -> [String: Data] {
        do {
            return try Multipart.files(body, contentType: contentType).filter { fileNames.contains($0.key) }
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
