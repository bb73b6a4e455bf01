import ArgumentParser
import CharterCompiler
import CharterDomain
import CharterHTTP
import CharterInput
import CharterMath
import CharterSQLite
import CharterServices
import CharterStore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import conversations from other platforms.", subcommands: [ImportPolis.self])
}

struct ImportPolis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polis",
        abstract: "Import a folder in the Polis open-data export format; prints the conversation's slug.",
        discussion: """
            Reads participants-votes.csv (required), comments.csv, votes.csv (the final vote per cell, when present)
            and summary.csv. Polis participant and comment ids are kept as source ids. Importing again adds nothing.
            """)

    @Argument(help: "The export folder.")
    var folder: String

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The slug of the conversation (default: from the folder name).")
    var slug: String?

    func run() async throws {
        let export = try PolisFolder.read(folder)
        let name = URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent
        let slug = slug ?? Slug.derived(from: name)
        let settings = export.conversationSettings(slug: slug, fallbackTitle: name)
        let store = try await database.open()
        do {
            let summary = try await store.importPolis(export, settings: settings, by: .system)
            FileHandle.standardError.write(
                Data(
                    ("\(summary.createdConversation ? "created" : "updated") \(summary.conversation.slug): "
                        + "\(summary.statementsAdded) statements, \(summary.participantsAdded) participants, "
                        + "\(summary.votesAdded) votes added\n").utf8))
            print(summary.conversation.slug)
        } catch let error as CharterError {
            throw ValidationError(error.message)
        }
    }
}

enum PolisFolder {
    /// The export in a folder, read by the same parser and limits as an upload.
    static func read(_ folder: String, limits: ImportLimits = ImportLimits()) throws -> PolisExport {
        let dir = URL(fileURLWithPath: folder)
        var files: [String: Data] = [:]
        for name in PolisArchive.fileNames {
            let url = dir.appendingPathComponent(name)
            if let size = try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize, size > limits.maxUncompressedBytes
            {
                throw ValidationError("\(folder)/\(name) is larger than \(limits.maxUncompressedBytes) bytes.")
            }
            if let data = try? Data(contentsOf: url) { files[name] = data }
        }
        guard files["participants-votes.csv"] != nil else {
            throw ValidationError("\(folder) has no readable participants-votes.csv.")
        }
        do {
            return try PolisArchive.export(files, limits: limits)
        } catch {
            throw ValidationError("\(folder): \(error)")
        }
    }
}

struct Analyze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a cold analysis of a conversation (or of a votes CSV) and print it.")

    @Argument(help: "The conversation's slug.")
    var slug: String?

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Analyse a CSV of participant,statement,vote lines instead of a stored conversation.")
    var votesCSV: String?

    @Flag(help: "Print the whole result as JSON.")
    var json = false

    @Flag(help: "With --votes-csv: time one PCA pass against a plain read of the same arrays, and stop.")
    var measurePasses = false

    func run() async throws {
        if measurePasses, let votesCSV {
            let measured = PassMeasurement.measure(try VotesCSV.read(votesCSV))
            print(
                "\(measured.votes) votes, \(measured.bytesPerPass) bytes a pass: plain pass "
                    + String(format: "%.1f ms (%.2f GB/s)", measured.plainPassMs, measured.plainGBPerSecond)
                    + ", PCA pass "
                    + String(format: "%.1f ms (%.2f GB/s)", measured.gramPassMs, measured.gramGBPerSecond))
            return
        }
        let result: AnalysisResult
        var timings: AnalysisTimings
        var sources: (participants: [Int64: String], statements: [Int64: String]) = ([:], [:])
        if let votesCSV {
            let clock = ContinuousClock()
            let started = clock.now
            let votes = try VotesCSV.read(votesCSV)
            let read = clock.now - started
            (result, timings) = Analyzer.analyze(columns: consume votes)
            timings.read = Double(read.components.seconds) * 1000 + Double(read.components.attoseconds) / 1e15
        } else {
            guard let slug else { throw ValidationError("Name a conversation's slug, or pass --votes-csv.") }
            let (store, conversation) = try await database.conversation(slug)
            (result, timings) = try await ConversationAnalysis.run(
                conversationID: conversation.id, store: store, warmStart: false)
            sources = try await store.sourceIDs(conversationID: conversation.id)
        }
        let report = AnalysisReport(
            result, participantSources: sources.participants, statementSources: sources.statements, timings: timings)
        if json {
            FileHandle.standardOutput.write(try report.jsonData())
            print()
            return
        }
        print(
            "\(result.participantCount) participants, \(result.statementCount) statements, \(result.voteCount) votes; "
                + "k = \(result.k) (silhouettes: "
                + result.silhouettes.map { "k=\($0.k): \(String(format: "%.3f", $0.silhouette))" }.joined(
                    separator: ", ")
                + "); \(Int(timings.total)) ms")
        for group in result.groups {
            print("group \(group.id): \(group.size) participants")
            for r in group.representative {
                let id = sources.statements[r.statement] ?? String(r.statement)
                print(
                    "  \(r.direction.rawValue) on statement \(id): \(Int((r.probability * 100).rounded()))% vs "
                        + "\(Int((r.othersProbability * 100).rounded()))% of others")
            }
        }
        let top = result.statements.filter { !$0.moderatedOut }.sorted { $0.gac > $1.gac }.prefix(10)
        print("highest group-aware consensus:")
        for s in top {
            print("  statement \(sources.statements[s.id] ?? String(s.id)): \(String(format: "%.4f", s.gac))")
        }
    }
}

private func readBytes(_ descriptor: Int32, _ into: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.read(descriptor, into, count)
    #else
        Darwin.read(descriptor, into, count)
    #endif
}

enum VotesCSV {
    /// `participant,statement,vote` lines; a first line that is not numbers is a header. Read in
    /// blocks of 32 MiB (the file is never whole in memory); the complete lines of a block are
    /// cut in two at a newline and the halves parsed at once on two cores by `VoteCSVReader`'s
    /// byte loop, the second half's votes appended after the first's.
    static func read(_ path: String) throws -> VoteColumns {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ValidationError("Cannot read \(path).") }
        defer { close(descriptor) }
        var status = stat()
        let size = fstat(descriptor, &status) == 0 ? Int(status.st_size) : 0
        var reader = VoteCSVReader(expectedBytes: size)
        let block = 1 << 25
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * block, alignment: 64)
        defer { buffer.deallocate() }
        var kept = 0
        do {
            while true {
                if kept == buffer.count {
                    throw ValidationError("\(path) line \(reader.line + 1) is longer than \(block) bytes.")
                }
                let got = readBytes(descriptor, buffer.baseAddress! + kept, min(block, buffer.count - kept))
                if got < 0 { throw ValidationError("Cannot read \(path): error \(errno).") }
                if got == 0 {
                    try reader.finish(UnsafeRawBufferPointer(rebasing: buffer[0..<kept]))
                    break
                }
                let filled = kept + got
                let used = try feedInHalves(&reader, UnsafeRawBufferPointer(rebasing: buffer[0..<filled]))
                kept = filled - used
                if used > 0, kept > 0 {
                    buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + used, byteCount: kept)
                }
            }
        } catch let bad as VoteCSVReader.BadLine {
            throw ValidationError("\(path) \(bad).")
        }
        let votes = reader.takeVotes()
        return VoteColumns(participants: votes.participants, statements: votes.statements, values: votes.values)
    }

    /// Feeds the complete lines of `bytes` to `reader`, the second half of them parsed by a
    /// second reader at the same time; returns the bytes used, as `VoteCSVReader.feed` does.
    static func feedInHalves(_ reader: inout VoteCSVReader, _ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 1 << 20 else {
            return try reader.feed(bytes)
        }
        var end = bytes.count
        while end > 0, base[end - 1] != 10 { end -= 1 }
        var cut = end / 2
        while cut < end, base[cut - 1] != 10 { cut += 1 }
        guard cut > 0, cut < end else { return try reader.feed(bytes) }
        // The second reader counts from line 2 (so that it takes no line for a header); its
        // line numbers are moved after the first reader's once that one is done.
        let linesBefore = 1
        let halves = [
            UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), UnsafeRawBufferPointer(rebasing: bytes[cut..<end]),
        ]
        let readers = UnsafeMutablePointer<VoteCSVReader>.allocate(capacity: 2)
        readers.initialize(to: reader)
        (readers + 1).initialize(to: VoteCSVReader(expectedBytes: end - cut, linesBefore: linesBefore))
        reader = VoteCSVReader()
        defer { readers.deinitialize(count: 2).deallocate() }
        let failures = UnsafeMutablePointer<VoteCSVReader.BadLine?>.allocate(capacity: 2)
        failures.initialize(repeating: nil, count: 2)
        defer { failures.deinitialize(count: 2).deallocate() }
        let shared = Unchecked(readers: readers, failures: failures, halves: halves)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            do throws(VoteCSVReader.BadLine) {
                _ = try shared.readers[half].feed(shared.halves[half])
            } catch {
                shared.failures[half] = error
            }
        }
        if let failure = failures[0] { throw failure }
        if let failure = failures[1] { throw VoteCSVReader.BadLine(line: readers[0].line + failure.line - linesBefore) }
        readers[0].append(&readers[1], linesBefore: linesBefore)
        reader = readers[0]
        return end
    }

    /// The two readers and their halves, each touched by one thread only.
    private struct Unchecked: @unchecked Sendable {
        let readers: UnsafeMutablePointer<VoteCSVReader>
        let failures: UnsafeMutablePointer<VoteCSVReader.BadLine?>
        let halves: [UnsafeRawBufferPointer]
    }
}

struct Compile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a conversation's constitution and print it in a format.",
        discussion: "With --publish the result is stored as the next immutable version.")

    @Argument(help: "The conversation's slug.")
    var slug: String

    @OptionGroup var database: DatabaseOptions

    @Option(help: "ccai, polis-gac or min-group.")
    var rule: String = "ccai"

    @Option(help: "The rule's threshold (default: 0.72 for ccai, 0.5 for polis-gac, 0.6 for min-group).")
    var threshold: Double?

    @Option(help: "Eligible statements need this many votes in every opinion group.")
    var minVotesPerGroup = 5

    @Option(help: "Leave out participants with fewer votes.")
    var minParticipantVotes = 0

    @Option(help: "Leave out participants who agreed (or disagreed) with everything over at least this many votes.")
    var straightLining: Int?

    @Option(help: "Merge statements at least this similar (TF-IDF cosine) whose votes agree.")
    var mergeSimilarity = 0.7

    @Option(help: "json, md, cai or txt.")
    var format = "md"

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    @Flag(help: "Leave out the participants flagged as possible ballot stuffing (see the admin page).")
    var excludeFlagged = false

    @Flag(help: "Weight participants to the demographic target shares (raking) before the rule reads the groups.")
    var weight = false

    @Option(help: "With --weight: the largest weight a participant gets, relative to the mean (1 to 100).")
    var weightCap = Weighting.defaultCap

    @Flag(help: "Store the result as the next published version.")
    var publish = false

    func run() async throws {
        guard let rule = SelectionRule(rawValue: rule) else {
            throw ValidationError("--rule must be ccai, polis-gac or min-group.")
        }
        guard let format = ConstitutionFormat(rawValue: format) else {
            throw ValidationError("--format must be json, md, cai or txt.")
        }
        guard Weighting.capRange.contains(weightCap) else {
            throw ValidationError("--weight-cap must be from 1 to 100.")
        }
        let parameters = CompileParameters(
            rule: rule, threshold: threshold, minimumVotesPerGroup: minVotesPerGroup,
            filters: ParticipantFilters(
                minimumVotes: minParticipantVotes, straightLiningVotes: straightLining,
                excludeFlagged: excludeFlagged ? true : nil),
            mergeSimilarity: mergeSimilarity, weighting: weight ? Weighting(cap: weightCap) : nil)
        let (store, conversation) = try await database.conversation(slug)
        let constitution: Constitution
        if publish {
            let published = try await ConstitutionBuilding.publish(
                conversation: conversation, store: store, parameters: parameters, by: .system)
            if !published.created {
                FileHandle.standardError.write(
                    Data(
                        "Nothing changed since version \(published.stored.version); no new version was published.\n"
                            .utf8))
            }
            constitution = published.constitution
        } else {
            constitution = try await ConstitutionBuilding.compile(
                conversation: conversation, store: store, parameters: parameters
            ).constitution.hashed()
        }
        if let report = constitution.report {
            FileHandle.standardError.write(
                Data(
                    ("\(report.participants) participants (\(report.removedForFewVotes) with too few votes and "
                        + "\(report.removedAsStraightLiners) straight-liners left out), \(report.votes) votes, "
                        + "\(report.groups) groups; \(report.statements) statements, \(report.eligible) eligible, "
                        + "\(report.selected) selected, \(report.principles) principles after merging\n").utf8))
            if let weighting = report.weighting {
                FileHandle.standardError.write(
                    Data(
                        ("weighted: effective sample size \(String(format: "%.1f", weighting.effectiveSampleSize)) of "
                            + "\(weighting.participants), largest weight \(String(format: "%.2f", weighting.maxWeight))"
                            + "\(weighting.converged ? "" : ", targets not met exactly")\n").utf8))
            }
        }
        let data = try await ConstitutionTranslations.rendered(
            constitution, format: format, conversationID: conversation.id, store: store)
        if let out {
            try data.write(to: URL(fileURLWithPath: out))
        } else {
            FileHandle.standardOutput.write(data)
        }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export conversations to other platforms' formats.", subcommands: [ExportPolis.self])
}

struct ExportPolis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "polis", abstract: "Write a conversation in the Polis open-data export format to a folder.")

    @Argument(help: "The conversation's slug.")
    var slug: String

    @Argument(help: "The folder to write (created if missing).")
    var folder: String

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let (store, conversation) = try await database.conversation(slug)
        let files = try await ConversationExport.polisFiles(conversation: conversation, store: store)
        let directory = URL(fileURLWithPath: folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            try Data(text.utf8).write(to: directory.appendingPathComponent(name))
        }
        print(directory.path)
    }
}

struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Render a constitution file (Charter's JSON format, e.g. seeds/baseline-constitution.json) in a format.")

    @Argument(help: "The constitution JSON file.")
    var file: String

    @Option(help: "json, md, cai or txt.")
    var format = "md"

    func run() async throws {
        guard let format = ConstitutionFormat(rawValue: format) else {
            throw ValidationError("--format must be json, md, cai or txt.")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("Cannot read \(file).")
        }
        let constitution: Constitution
        do {
            constitution = try Constitution.decode(data).hashed()
        } catch {
            throw ValidationError("\(file) is not a constitution in Charter's format: \(error)")
        }
        FileHandle.standardOutput.write(try constitution.rendered(format))
    }
}
