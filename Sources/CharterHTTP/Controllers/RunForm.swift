import CharterDomain
import CharterPipeline
import CharterStore
import Foundation

/// The new-run form's pipeline parameters and profiles, built from the pipeline's own list
/// (`PipelineParameters`): one field per parameter, with its type, its default under each
/// profile and its allowed values, and each profile with how long its runs take.
enum RunForm {
    /// Parameter fields are named `param.<name>`; an empty one keeps the profile's default.
    static let prefix = "param."

    /// What a submitted form asks the pipeline for: the non-empty `param.<name>` fields, read
    /// by each parameter's type, and the `name=value` lines of a `parameters` field (scripts
    /// that post one). A value that does not read as its parameter's type is refused here, in
    /// the field it came from.
    static func parameters(_ fields: RunPages.MultipartFields, table: PipelineParameters?) throws -> [String:
        RunParameter]
    {
        var parameters = try lines(fields.text("parameters") ?? "", table: table)
        for (name, text) in entered(fields) {
            parameters[name] = try value(text, for: name, table: table)
        }
        return parameters
    }

    /// The non-empty parameter fields of a form, by parameter name, as typed.
    static func entered(_ fields: RunPages.MultipartFields) -> [String: String] {
        var entered: [String: String] = [:]
        for part in fields.parts where part.fileName == nil {
            guard let name = part.name, name.hasPrefix(prefix) else { continue }
            let text = String(decoding: part.data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { entered[String(name.dropFirst(prefix.count))] = text }
        }
        return entered
    }

    /// "name=value" lines, blank lines and `#` comments skipped.
    static func lines(_ text: String, table: PipelineParameters?) throws -> [String: RunParameter] {
        var parameters: [String: RunParameter] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let pair = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty else {
                throw CharterError.invalid(
                    field: "parameters",
                    message: "Write one parameter per line as name=value; \"\(trimmed.prefix(80))\" is not.")
            }
            parameters[pair[0]] = try value(pair[1], for: pair[0], table: table)
        }
        return parameters
    }

    /// A field's text as the value its parameter takes. Text that is not a number in a number
    /// field (or not true/false in a yes/no one) is refused with the parameter's own message.
    static func value(_ text: String, for name: String, table: PipelineParameters?) throws -> RunParameter {
        guard let parameter = table?.parameter(name) else { return RunParameter(parsing: text) }
        let value: RunParameter? =
            switch parameter.type {
            case .integer, .number: Double(text).flatMap { $0.isFinite ? RunParameter.number($0) : nil }
            case .boolean: text == "true" ? .bool(true) : text == "false" ? .bool(false) : nil
            case .string, .path: .string(text)
            }
        guard let value else {
            throw CharterError.invalid(
                field: "parameters.\(name)",
                message: parameter.problem(with: .string(text)) ?? "\(name) cannot be \(text.prefix(80)).")
        }
        return value
    }

    struct Choice {
        let value, label: String
        let selected: Bool
    }

    struct Field {
        /// The parameter's name as the pipeline and the API know it; `name` is the field's.
        let label, name, id, hintID: String
        let help, defaults: String
        let range: String?
        let value: String
        let fieldError: String?
        let isNumber, isSelect, isText: Bool
        let step: String
        let minimum: String?
        let choices: [Choice]
    }

    struct Section {
        let name: String
        let fields: [Field]
    }

    /// The form's parameter fields, section by section, with what was entered and the error
    /// of the field at fault.
    static func sections(
        _ table: PipelineParameters, entered: [String: String], errorField: String?, error: String?,
        promptsFolder: Bool = false
    ) -> [Section] {
        let prompts =
            promptsFolder
            ? [
                Section(
                    name: "Prompts",
                    fields: [
                        Field(
                            label: "prompts_path", name: prefix + "prompts_path", id: "param-prompts_path",
                            hintID: "param-prompts_path-hint",
                            help:
                                "a JSONL prompt file in the folder this server keeps for prompts, instead of the pipeline's own prompt set",
                            defaults: "the pipeline's own prompts", range: nil, value: entered["prompts_path"] ?? "",
                            fieldError: errorField == "parameters" && entered["prompts_path"] != nil ? error : nil,
                            isNumber: false, isSelect: false, isText: true, step: "any", minimum: nil, choices: [])
                    ])
            ] : []
        return prompts
            + table.sections.map { section in
                Section(
                    name: section.name,
                    fields: section.parameters.map { parameter in
                        let value = entered[parameter.name] ?? ""
                        let choices: [String]? =
                            parameter.type == .boolean ? ["true", "false"] : parameter.choices
                        return Field(
                            label: parameter.name, name: prefix + parameter.name, id: "param-\(parameter.name)",
                            hintID: "param-\(parameter.name)-hint", help: parameter.help, defaults: defaults(parameter),
                            range: parameter.range, value: value,
                            fieldError: errorField == "parameters.\(parameter.name)" ? error : nil,
                            isNumber: choices == nil && (parameter.type == .integer || parameter.type == .number),
                            isSelect: choices != nil,
                            isText: choices == nil && (parameter.type == .string || parameter.type == .path),
                            step: parameter.type == .integer ? "1" : "any",
                            minimum: parameter.excluded == nil
                                ? parameter.minimum.map { RunParameter.number($0).description }
                                : nil,
                            choices: [Choice(value: "", label: "the profile's default", selected: value.isEmpty)]
                                + (choices ?? []).map { Choice(value: $0, label: $0, selected: $0 == value) })
                    })
            }
    }

    /// A parameter's default under each profile: "8" when they agree, else
    /// "6 (smoke), 8 (small), 10000 (gpu)".
    static func defaults(_ parameter: PipelineParameters.Parameter) -> String {
        let values = RunProfile.allCases.map { ($0, parameter.defaultValue($0).description) }
        if Set(values.map(\.1)).count == 1 { return values[0].1 }
        return values.map { "\($0.1) (\($0.0.rawValue))" }.joined(separator: ", ")
    }

    struct ProfileView {
        let value, summary, duration: String
        let selected: Bool
    }

    /// Each profile with how long its runs take: measured on this server's finished runs of
    /// that profile when there are any, else the pipeline's documented estimate.
    static func profiles(_ table: PipelineParameters?, runs: [ComparisonRun], selected: RunProfile) -> [ProfileView] {
        RunProfile.allCases.map { profile in
            let documented = table?.profile(profile)
            let seconds = runs.filter { $0.request.profile == profile && $0.state == .succeeded }.compactMap {
                run -> Double? in
                guard let started = run.startedAt, let finished = run.finishedAt else { return nil }
                return finished.timeIntervalSince(started)
            }.sorted()
            let duration: String
            if let median = seconds.isEmpty ? nil : seconds[seconds.count / 2] {
                duration =
                    seconds.count == 1
                    ? "took \(describe(median)) in the one run that finished here"
                    : "took \(describe(median)) in the middle of the \(seconds.count) runs that finished here "
                        + "(from \(describe(seconds[0])) to \(describe(seconds[seconds.count - 1])))"
            } else {
                duration =
                    (documented?.estimate ?? fallbackEstimate(profile))
                    + " (the pipeline's estimate: no run of this profile has finished here yet)"
            }
            return ProfileView(
                value: profile.rawValue, summary: documented?.summary ?? fallbackSummary(profile), duration: duration,
                selected: profile == selected)
        }
    }

    static func fallbackSummary(_ profile: RunProfile) -> String {
        switch profile {
        case .smoke: "a tiny model built locally"
        case .small: "SmolLM2-135M-Instruct on a CPU"
        case .gpu: "a local model on GPUs (parameter model_path)"
        }
    }

    static func fallbackEstimate(_ profile: RunProfile) -> String {
        switch profile {
        case .smoke: "minutes on a CPU"
        case .small: "tens of minutes on a CPU"
        case .gpu: "hours, depending on the model"
        }
    }

    /// A duration as people say it: "26 s", "12 min", "3 h 5 min".
    static func describe(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole < 90 { return "\(whole) s" }
        let minutes = Int((seconds / 60).rounded())
        if minutes < 90 { return "\(minutes) min" }
        return "\(minutes / 60) h\(minutes % 60 == 0 ? "" : " \(minutes % 60) min")"
    }
}
