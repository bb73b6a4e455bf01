import CharterDomain
import CharterInput
import Foundation

// One libFuzzer entry point for every reader of outside input; `CHARTER_FUZZ_TARGET` picks the
// reader (polis-folder, polis-zip, multipart, form, vote-json). A reader may refuse any input
// with an error; it must never trap, and never take more memory or time than the input's size
// warrants (libFuzzer's -rss_limit_mb and -timeout catch that).
//
// Built two ways: with `-sanitize=fuzzer,address -D FUZZING` (scripts/fuzz), where libFuzzer
// supplies `main`; and plainly, as part of the package, where `main` replays corpus files so the
// ordinary test run checks the seed corpus too.

enum FuzzTarget: String, CaseIterable {
    case polisFolder = "polis-folder"
    case polisZip = "polis-zip"
    case multipart
    case form
    case voteJSON = "vote-json"

    static var current: FuzzTarget {
        ProcessInfo.processInfo.environment["CHARTER_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:)) ?? .polisFolder
    }

    /// Small limits, so the fuzzer explores the limit checks instead of running out of memory.
    static let limits = ImportLimits(
        maxUncompressedBytes: 4 * 1024 * 1024, maxCompressionRatio: 50, csv: CSV.Limits(rows: 20_000, columns: 2_000))

    func run(_ data: Data) {
        switch self {
        case .polisFolder:
            // The input is split into the four files at NUL bytes.
            let parts = data.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
            var files: [String: Data] = [:]
            for (name, part) in zip(PolisArchive.fileNames, parts) { files[name] = Data(part) }
            _ = try? PolisArchive.export(files, limits: Self.limits)
        case .polisZip:
            if let files = try? PolisArchive.unzip(data, limits: Self.limits) {
                _ = try? PolisArchive.export(files, limits: Self.limits)
            }
        case .multipart:
            // The first line is the content type, the rest the body.
            let newline = data.firstIndex(of: 0x0A) ?? data.endIndex
            let contentType = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
            let body = newline < data.endIndex ? Data(data[data.index(after: newline)...]) : Data()
            _ = try? Multipart.parts(body, contentType: contentType)
            _ = try? PolisArchive.files(multipart: body, contentType: contentType)
        case .form:
            if let form = URLEncodedForm(urlEncoded: String(decoding: data, as: UTF8.self)) {
                _ = form["csrf"]
                _ = form.all("statement")
            }
        case .voteJSON:
            let vote = PlainVoteJSON.read(Array(data))
            // What the plain reader accepts, JSONDecoder must read the same way.
            if let vote {
                struct Wire: Decodable {
                    let statement: Int64
                    let vote: String
                }
                let decoded = try? JSONDecoder().decode(Wire.self, from: data)
                precondition(decoded?.statement == vote.statement && decoded?.vote == vote.vote)
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    FuzzTarget.current.run(Data(bytes: data, count: size))
    return 0
}

#if FUZZING
    // SwiftPM gives an executable its own entry point, so libFuzzer's `main` is not the one that
    // runs; this one hands the command line to libFuzzer's driver instead.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @main
    enum FuzzMain {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
        }
    }
#else
    /// Replays corpus files (or every file in the folders given) through a target.
    @main
    enum Replay {
        static func main() {
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
                let files =
                    isDirectory.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map {
                        "\(path)/\($0)"
                    } : [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    FuzzTarget.current.run(data)
                    count += 1
                }
            }
            print("replayed \(count) inputs through \(FuzzTarget.current.rawValue)")
        }
    }
#endif
