public import Foundation

/// A pipeline's `results.json` (contract `charter.run-results/1` or `/2`), checked on arrival: a
/// run whose results do not hold both arms and every listed metric fails rather than showing a
/// half-empty comparison. Version 2 adds each metric's `n` and 95% interval, the base model's
/// values, and the comparison table with paired-bootstrap intervals and Holm-corrected verdicts.
public struct RunResults: Decodable, Sendable, Equatable {
    public static let schemaName = "charter.run-results/2"
    public static let schemaNames: Set<String> = ["charter.run-results/1", "charter.run-results/2"]
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
    /// Version 2: the base model, evaluated by the same battery.
    public var base: Base?
    /// Version 2: the comparison table, as the pipeline's statistics decided it.
    public var comparisons: Comparisons?
    /// Version 2: how many processes trained each arm.
    public var distributed: Distributed?

    public struct Estimate: Decodable, Sendable, Equatable {
        public var value: Double?
        public var n: Int?
        public var ci95: [Double]?
        /// The value per training replicate.
        public var replicates: [Double?]?
    }

    public struct Base: Decodable, Sendable, Equatable {
        public var name: String?
        public var sha256: String?
        public var metrics: [String: Double?]?
        public var estimates: [String: Estimate]?
    }

    public struct Distributed: Decodable, Sendable, Equatable {
        public var worldSize: Int?
        public var backend: String?

        enum CodingKeys: String, CodingKey {
            case backend
            case worldSize = "world_size"
        }
    }

    public struct Comparisons: Decodable, Sendable, Equatable {
        public var method: String?
        public var alpha: Double?
        public var testedRows: Int?
        public var significantRows: Int?
        public var tooSmallToDetect: Bool?
        public var rows: [Row]

        public struct Row: Decodable, Sendable, Equatable {
            public var metric: String
            public var label: String?
            public var better: Better?
            public var a: String?
            public var b: String?
            public var valueA: Double?
            public var valueB: Double?
            public var difference: Double?
            public var differenceCI95: [Double]?
            public var n: Int?
            public var pValue: Double?
            public var pHolm: Double?
            public var tested: Bool?
            public var significant: Bool?
            public var verdict: String?
            public var circular: Bool?

            enum CodingKeys: String, CodingKey {
                case metric, label, better, a, b, difference, n, tested, significant, verdict, circular
                case valueA = "value_a"
                case valueB = "value_b"
                case differenceCI95 = "difference_ci95"
                case pValue = "p_value"
                case pHolm = "p_holm"
            }
        }

        enum CodingKeys: String, CodingKey {
            case method, alpha, rows
            case testedRows = "tested_rows"
            case significantRows = "significant_rows"
            case tooSmallToDetect = "too_small_to_detect"
        }
    }

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
        /// No better direction (stated views): a difference is reported, never a winner.
        case none
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
        /// Version 2.
        public var estimates: [String: Estimate]?
        /// Version 2: optimiser steps per training stage.
        public var optimizerSteps: [String: Int]?

        enum CodingKeys: String, CodingKey {
            case metrics, bbq, losses, timings, datasets, estimates
            case constitutionSHA256 = "constitution_sha256"
            case modelSHA256 = "model_sha256"
            case optimizerSteps = "optimizer_steps"
        }
    }

    enum CodingKeys: String, CodingKey {
        case schema, profile, pipeline, prompts, metrics, arms, base, comparisons, distributed
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
        guard schemaNames.contains(results.schema) else {
            throw Malformed(
                description:
                    "its schema is \"\(results.schema)\", not \(schemaNames.sorted().joined(separator: " or "))")
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

    /// The comparison table. From version 2, the pipeline's own rows (the arms against each other,
    /// and the judged rows) with their intervals and Holm-corrected verdicts; from version 1, each
    /// metric with both arms and the difference, and no verdict.
    public var comparison: [ComparisonRow] {
        let ccaiArm = arms["ccai"]
        let baselineArm = arms["baseline"]
        func estimate(_ arm: Arm?, _ name: String) -> Estimate? { arm?.estimates?[name] }
        guard let comparisons else {
            return metrics.map { metric in
                ComparisonRow(
                    name: metric.name, label: metric.label ?? metric.name, better: metric.better,
                    ccai: ccaiArm?.metrics[metric.name] ?? nil, baseline: baselineArm?.metrics[metric.name] ?? nil)
            }
        }
        let labels = Dictionary(metrics.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return comparisons.rows.filter { $0.a == "ccai" && $0.b == "baseline" }.map { row in
            var result = ComparisonRow(
                name: row.metric, label: row.label ?? labels[row.metric]?.label ?? row.metric,
                better: row.better ?? labels[row.metric]?.better ?? .none, ccai: row.valueA, baseline: row.valueB)
            result.base = base?.metrics?[row.metric] ?? nil
            result.ccaiCI = estimate(ccaiArm, row.metric)?.ci95
            result.baselineCI = estimate(baselineArm, row.metric)?.ci95
            result.n = row.n ?? estimate(ccaiArm, row.metric)?.n
            result.reportedDifference = row.difference
            result.differenceCI = row.differenceCI95
            result.pValue = row.pValue
            result.pHolm = row.pHolm
            result.significant = row.significant
            result.verdict = row.verdict
            result.circular = row.circular ?? false
            return result
        }
    }

    /// True when the pipeline says no row had enough items to detect a difference.
    public var tooSmallToDetect: Bool { comparisons?.tooSmallToDetect ?? false }
}

public struct ComparisonRow: Sendable, Equatable {
    public var name: String
    public var label: String
    public var better: RunResults.Better
    public var ccai: Double?
    public var baseline: Double?
    /// Version 2: the base model's value, the arms' 95% intervals and item count.
    public var base: Double?
    public var ccaiCI: [Double]?
    public var baselineCI: [Double]?
    public var n: Int?
    /// Version 2: the difference as the pipeline computed it (for judged rows, not ccai − baseline).
    public var reportedDifference: Double?
    public var differenceCI: [Double]?
    public var pValue: Double?
    public var pHolm: Double?
    public var significant: Bool?
    /// Version 2: "ccai better", "no detectable difference", "too few items to test", …
    public var verdict: String?
    /// A judged row whose judge used the principles that trained one arm.
    public var circular = false

    public init(name: String, label: String, better: RunResults.Better, ccai: Double?, baseline: Double?) {
        self.name = name
        self.label = label
        self.better = better
        self.ccai = ccai
        self.baseline = baseline
    }

    /// CCAI minus baseline.
    public var difference: Double? {
        if let reportedDifference { return reportedDifference }
        guard let ccai, let baseline else { return nil }
        return ccai - baseline
    }

    /// "ccai", "baseline" or "tie"; nil when an arm has no value, when the metric has no better
    /// direction, or when the pipeline's test found no detectable difference.
    public var winner: String? {
        if let significant, !significant { return nil }
        if let verdict {
            if verdict.hasPrefix("ccai better") { return "ccai" }
            if verdict.hasPrefix("baseline better") { return "baseline" }
            return nil
        }
        guard let ccai, let baseline else { return nil }
        let (a, b): (Double, Double)
        switch better {
        case .higher: (a, b) = (ccai, baseline)
        case .lower: (a, b) = (-ccai, -baseline)
        case .zero: (a, b) = (-abs(ccai), -abs(baseline))
        case .none: return nil
        }
        if abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) { return "tie" }
        return a > b ? "ccai" : "baseline"
    }
}
