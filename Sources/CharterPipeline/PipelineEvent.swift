import Foundation

/// One line a pipeline prints on stdout, when it is one of the contract's JSON events.
public enum PipelineEvent: Sendable, Equatable {
    case progress(arm: String?, stage: String, step: Int, of: Int)
    case metric(arm: String?, stage: String?, name: String, step: Int?, value: Double)
    case log(String)
    case done(results: String?)

    /// The event a line carries; nil for any other output, which is only logged.
    public static func parse(_ line: some StringProtocol) -> PipelineEvent? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("{"),
            let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
            let kind = object["event"] as? String
        else { return nil }
        let arm = object["arm"] as? String
        func integer(_ key: String) -> Int? {
            guard let number = object[key] as? NSNumber, number.doubleValue.isFinite else { return nil }
            return number.intValue
        }
        func number(_ key: String) -> Double? {
            guard let number = object[key] as? NSNumber, !(object[key] is Bool) else { return nil }
            return number.doubleValue.isFinite ? number.doubleValue : nil
        }
        switch kind {
        case "progress":
            guard let stage = object["stage"] as? String, !stage.isEmpty else { return nil }
            if let step = integer("step"), let of = integer("of"), of > 0, step >= 0 {
                return .progress(arm: arm, stage: stage, step: min(step, of), of: of)
            }
            // design.md's shorter form: a fraction.
            if let fraction = number("progress"), (0...1).contains(fraction) {
                return .progress(arm: arm, stage: stage, step: Int((fraction * 1000).rounded()), of: 1000)
            }
            return nil
        case "metric":
            guard let name = object["name"] as? String, let value = number("value") else { return nil }
            return .metric(arm: arm, stage: object["stage"] as? String, name: name, step: integer("step"), value: value)
        case "log":
            return (object["message"] as? String).map(PipelineEvent.log)
        case "done":
            return .done(results: object["results"] as? String)
        default:
            return nil
        }
    }
}
