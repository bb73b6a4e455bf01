public import CharterCompiler
public import CharterDomain
public import Foundation

/// A run's folder: `manifest.json`, each arm's constitution in every format the pipeline
/// reads, the pipeline's logs, and its `output/`.
public struct RunWorkspace: Sendable {
    public let directory: URL

    public init(runsDirectory: URL, runID: Int64) {
        directory = runsDirectory.appendingPathComponent(String(runID), isDirectory: true)
    }

    public init(directory: URL) {
        self.directory = directory
    }

    public var manifest: URL { directory.appendingPathComponent("manifest.json") }
    public var output: URL { directory.appendingPathComponent("output", isDirectory: true) }
    public var results: URL { output.appendingPathComponent("results.json") }

    /// The formats each arm's constitution is written in.
    static let formats: [ConstitutionFormat] = [.json, .cai, .txt]

    /// Writes the folder for a run and returns its manifest. A folder left from an earlier
    /// database with the same run id is moved aside, never overwritten.
    public func prepare(
        run: ComparisonRun, ccai: Constitution, baseline: Constitution, bbqDirectory: String?, createdAt: Date = Date()
    ) throws -> RunManifest {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: directory.path) {
            let aside = directory.deletingLastPathComponent().appendingPathComponent(
                "\(directory.lastPathComponent).old-\(Int(createdAt.timeIntervalSince1970))")
            try fileManager.moveItem(at: directory, to: aside)
        }
        try fileManager.createDirectory(at: output, withIntermediateDirectories: true)
        var arms: [RunManifest.Arm] = []
        for (name, constitution, sha256) in [
            ("ccai", ccai, run.ccaiSHA256), ("baseline", baseline, run.request.baselineSHA256),
        ] {
            let folder = directory.appendingPathComponent(name, isDirectory: true)
            try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
            var files: [String: String] = [:]
            for format in Self.formats {
                let file = folder.appendingPathComponent(format.fileName)
                try constitution.rendered(format).write(to: file, options: .atomic)
                files[format.rawValue] = file.path
            }
            arms.append(
                RunManifest.Arm(
                    name: name,
                    constitution: RunManifest.ArmConstitution(
                        name: constitution.name, version: constitution.version, kind: constitution.kind,
                        sha256: sha256, files: files)))
        }
        var parameters = run.request.parameters
        let prompts = parameters.removeValue(forKey: "prompts_path").map(\.description)
        let formatter = ISO8601DateFormatter()
        let manifest = RunManifest(
            schema: RunManifest.schemaName, runID: String(run.id), createdAt: formatter.string(from: run.createdAt),
            profile: run.request.profile.rawValue, seed: run.request.seed, parameters: parameters,
            promptsPath: prompts, bbqDir: bbqDirectory, outputDir: output.path, arms: arms,
            charter: RunManifest.CharterInfo(version: CharterVersion.current))
        try manifest.encoded().write(to: self.manifest, options: .atomic)
        return manifest
    }

    /// The files a researcher may download: everything in the folder but the model weights,
    /// by path relative to the folder.
    public func artefacts() -> [(path: String, bytes: Int)] {
        let fileManager = FileManager.default
        guard
            let enumerator = fileManager.enumerator(
                at: directory, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey, .isSymbolicLinkKey])
        else { return [] }
        let root = directory.standardizedFileURL.path + "/"
        var found: [(String, Int)] = []
        for case let url as URL in enumerator {
            guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey, .isSymbolicLinkKey]),
                values.isRegularFile == true, values.isSymbolicLink != true
            else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(root) else { continue }
            let relative = String(path.dropFirst(root.count))
            guard Self.isArtefact(relative) else { continue }
            found.append((relative, values.fileSize ?? 0))
        }
        return found.sorted { $0.0 < $1.0 }
    }

    static func isArtefact(_ relative: String) -> Bool {
        let weights = [".safetensors", ".bin", ".pt", ".gguf", ".pth", ".ckpt"]
        return !weights.contains { relative.hasSuffix($0) } && !relative.contains("/checkpoint-")
    }

    /// The last lines of a log, for the run page.
    public func tail(_ name: String, lines: Int = 40, maxBytes: Int = 16 * 1024) -> [String] {
        let file = directory.appendingPathComponent(name)
        guard let handle = try? FileHandle(forReadingFrom: file) else { return [] }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return [] }
        let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var text = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        if start > 0, !text.isEmpty { text.removeFirst() }
        if text.last == "" { text.removeLast() }
        return Array(text.suffix(lines))
    }
}
