public import Foundation

/// A pipeline's `results.json` (contract `charter.run-results/1`), checked on arrival: a run
/// whose results do not hold both arms and every listed metric fails rather than showing a
/// half-empty comparison.
public struct RunResults: Decodable, Sendable, Equatable {
    public static let schemaName = "charter.run-results/1"
    public static let arms = ["ccai", "baseline"]

    public var schema: String
    public var profile: String?
    public var pipeline: [String: String]?
    public var baseModel: BaseModel?
    public var prompts: Prompts?
    public var wallSeconds: Double?
    public var peakRSSBytes: Double?
    public var metrics: [Metric]
    public var arms: [String: Arm]

    public struct BaseModel: Decodable, Sendable, Equatable {
        public var name: String?
        public var sha256: String?
    }

    public struct Prompts: Decodable, Sendable, Equatable {
        public var train: Int?
        public var heldOut: Int?
        public var sha256: String?

        enum CodingKeys: String, CodingKey {
            case train, sha256
            case heldOut = "held_out"
        }
    }

    public enum Better: String, Decodable, Sendable {
        case higher, lower, zero
    }

    public struct Metric: Decodable, Sendable, Equatable {
        public var name: String
        public var label: String?
        public var better: Better
    }

    public struct BBQCell: Decodable, Sendable, Equatable {
        public var n: Int?
        public var accuracy: Double?
        public var bias: Double?
    }

    public struct Dataset: Decodable, Sendable, Equatable {
        public var path: String
        public var rows: Int?
        public var sha256: String?
    }

    public struct Arm: Decodable, Sendable, Equatable {
        public var constitutionSHA256: String?
        public var metrics: [String: Double?]
        /// Category → "ambig"/"disambig" → scores.
        public var bbq: [String: [String: BBQCell]]?
        /// Stage → (step, loss) pairs.
        public var losses: [String: [[Double]]]?
        public var timings: [String: Double]?
        public var modelSHA256: String?
        public var datasets: [String: Dataset]?

        enum CodingKeys: String, CodingKey {
            case metrics, bbq, losses, timings, datasets
            case constitutionSHA256 = "constitution_sha256"
            case modelSHA256 = "model_sha256"
        }
    }

    enum CodingKeys: String, CodingKey {
        case schema, profile, pipeline, prompts, metrics, arms
        case baseModel = "base_model"
        case wallSeconds = "wall_seconds"
        case peakRSSBytes = "peak_rss_bytes"
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses and checks a results file.
    public static func parse(_ data: Data) throws -> RunResults {
        let results: RunResults
        do {
            results = try JSONDecoder().decode(RunResults.self, from: data)
        } catch let error as DecodingError {
            throw Malformed(description: Self.describe(error))
        } catch {
            throw Malformed(description: "it is not JSON")
        }
        guard results.schema == schemaName else {
            throw Malformed(description: "its schema is \"\(results.schema)\", not \"\(schemaName)\"")
        }
        guard !results.metrics.isEmpty else { throw Malformed(description: "it lists no metrics") }
        for arm in Self.arms {
            guard let values = results.arms[arm] else { throw Malformed(description: "it has no \(arm) arm") }
            for metric in results.metrics where values.metrics.index(forKey: metric.name) == nil {
                throw Malformed(description: "the \(arm) arm has no value for the metric \(metric.name)")
            }
        }
        return results
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(
                separator: ".")
            return joined.isEmpty ? "the top level" : joined
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context)) has no \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "it is not JSON" : "\(path(context)) is invalid"
        @unknown default:
            return "it does not match the contract"
        }
    }

    public var pipelineVersion: String? { pipeline?["version"] }

    /// The comparison table: each metric, both arms, the difference and which arm is better.
    public var comparison: [ComparisonRow] {
        metrics.map { metric in
            let ccai = arms["ccai"]?.metrics[metric.name] ?? nil
            let baseline = arms["baseline"]?.metrics[metric.name] ?? nil
            return ComparisonRow(
                name: metric.name, label: metric.label ?? metric.name, better: metric.better, ccai: ccai,
                baseline: baseline)
        }
    }
}

public struct ComparisonRow: Sendable, Equatable {
    public var name: String
    public var label: String
    public var better: RunResults.Better
    public var ccai: Double?
    public var baseline: Double?

    /// CCAI minus baseline.
    public var difference: Double? {
        guard let ccai, let baseline else { return nil }
        return ccai - baseline
    }

    /// "ccai", "baseline" or "tie"; nil when an arm has no value.
    public var winner: String? {
        guard let ccai, let baseline else { return nil }
        let (a, b) =
            switch better {
            case .higher: (ccai, baseline)
            case .lower: (-ccai, -baseline)
            case .zero: (-abs(ccai), -abs(baseline))
            }
        if abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) { return "tie" }
        return a > b ? "ccai" : "baseline"
    }
}
