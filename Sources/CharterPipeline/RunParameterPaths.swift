public import CharterDomain
import Foundation

/// Run parameters that name files are a way into the server's file system: a run could train
/// on any file the server can read, and an error that says "no such file" maps the disk. A path
/// parameter is therefore accepted only inside the folder configured for it, and every refusal
/// reads the same whether or not the path exists.
public enum RunParameterPaths {
    /// Parameter names that look like paths but have no configured folder are refused outright.
    static let pathSuffixes = ["_path", "_dir", "_directory", "_file"]

    /// The parameters with each path made absolute inside its root; throws for a path outside
    /// its root, for a path parameter without a root, or for a path inside that names nothing.
    public static func confined(_ parameters: [String: RunParameter], roots: [String: String?]) throws
        -> [String: RunParameter]
    {
        var result = parameters
        for (name, value) in parameters where pathSuffixes.contains(where: { name.hasSuffix($0) }) {
            guard let configured = roots[name], let rootPath = configured, !rootPath.isEmpty else {
                throw CharterError.invalid(
                    field: "parameters",
                    message:
                        "\(name) names a file on the server, and this server has no folder configured for it "
                        + "(an operator sets \(name == "model_path" ? "--models-directory" : name == "prompts_path" ? "--prompts-directory" : "none"))."
                )
            }
            guard case .string(let text) = value, !text.isEmpty else {
                throw CharterError.invalid(field: "parameters", message: "\(name) must be a path.")
            }
            let root = URL(fileURLWithPath: rootPath, isDirectory: true).standardizedFileURL.resolvingSymlinksInPath()
            let candidate =
                (text.hasPrefix("/")
                ? URL(fileURLWithPath: text) : root.appendingPathComponent(text)).standardizedFileURL
                .resolvingSymlinksInPath()
            let outside = CharterError.invalid(
                field: "parameters",
                message:
                    "\(name) must name something inside the folder the server keeps for it; \(text.prefix(200)) does not."
            )
            guard candidate.path.hasPrefix(root.path.hasSuffix("/") ? root.path : root.path + "/") else {
                throw outside
            }
            guard FileManager.default.fileExists(atPath: candidate.path) else {
                throw CharterError.invalid(
                    field: "parameters", message: "\(name): there is no \(text.prefix(200)) in the folder kept for it.")
            }
            result[name] = .string(candidate.path)
        }
        return result
    }
}
