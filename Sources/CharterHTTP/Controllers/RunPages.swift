import CharterCompiler
import CharterDomain
import CharterInput
import CharterPipeline
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The researcher's pages for comparison runs: queue a run of a published constitution against
/// a baseline, watch its progress (the page refreshes itself while the run is going, no
/// JavaScript needed), and read the comparison of the two arms with its charts.
struct RunPages: Sendable {
    let services: AppServices

    /// Any organiser sees the run list and queues a run (on a constitution they own, checked
    /// on the form).
    var organiserPages: RouteCollection<AdminContext> {
        RouteCollection(context: AdminContext.self)
            .get("runs", use: list)
            .post("runs", use: create)
    }

    var readerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("runs/{id}", use: show)
            .get("runs/{id}/artefact", use: artefact)
    }

    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("runs/{id}/cancel", use: cancel)
            .post("runs/{id}/retry", use: retry)
    }

    @Sendable func list(_ request: Request, context: AdminContext) async throws -> Response {
        try await listPage(
            organiser: context.organiser, csrf: context.csrf,
            form: Entered(constitution: request.query["constitution"].flatMap { Int64($0) }), status: .ok)
    }

    @Sendable func create(_ request: Request, context: AdminContext) async throws -> Response {
        let organiser = context.organiser
        let fields = try await multipartForm(request, context: context)
        do {
            guard let constitution = fields.text("constitution_id").flatMap({ Int64($0) }) else {
                throw CharterError.invalid(
                    field: "constitution_id", message: "Choose the constitution to train on.")
            }
            let baseline: BaselineChoice
            switch fields.text("baseline") ?? "charter" {
            case "charter": baseline = .charter
            case "upload":
                guard let (name, data) = fields.file("baseline_file") else {
                    throw CharterError.invalid(
                        field: "baseline_file", message: "Choose the constitution file to upload.")
                }
                baseline = .uploaded(data, name: name)
            case let choice:
                guard let id = Int64(choice) else {
                    throw CharterError.invalid(field: "baseline", message: "Choose a baseline.")
                }
                baseline = .constitution(id)
            }
            let seedText = fields.text("seed")?.trimmingCharacters(in: .whitespaces) ?? ""
            let seed: Int64? = seedText.isEmpty ? nil : Int64(seedText)
            if !seedText.isEmpty, seed == nil {
                throw CharterError.invalid(field: "seed", message: "The seed must be a whole number.")
            }
            let profile = try RunRoutes.profile(fields.text("profile"))
            // Checked against the pipeline's list before anything else is looked at, and
            // again by the run service before it queues the run.
            let table = try services.runs.pipelineParameters()
            let parameters = try RunForm.parameters(fields, table: table)
            try services.runs.checkParameters(parameters, profile: profile)
            try await services.requireRunRights(organiser, constitutionID: constitution, baseline: baseline)
            let run = try await services.runs.enqueue(
                constitutionID: constitution, baseline: baseline, profile: profile, seed: seed,
                parameters: parameters, by: Actor(organiser))
            return Response.seeOther("/admin/runs/\(run.id)")
        } catch let error as CharterError {
            var field: String?
            if case .invalid(let name, _) = error { field = name }
            return try await listPage(
                organiser: organiser, csrf: context.csrf,
                form: Entered(
                    constitution: fields.text("constitution_id").flatMap { Int64($0) },
                    baseline: fields.text("baseline"), profile: fields.text("profile").flatMap(RunProfile.init),
                    seed: fields.text("seed") ?? "", parameters: RunForm.entered(fields),
                    parameterLines: fields.text("parameters") ?? "", error: error.message, errorField: field),
                status: AppError(error).status)
        }
    }

    @Sendable func show(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let run = try await RunRoutes(services: services).run(context)
        return try await runPage(run, organiser: context.organiser, csrf: context.csrf)
    }

    @Sendable func cancel(_ request: Request, context: AdminConversationContext) async throws -> Response {
        _ = try await context.submittedForm(request, reader: services.body)
        let run = try await RunRoutes(services: services).run(context)
        _ = try await services.runs.cancel(id: run.id, by: Actor(context.organiser))
        return Response.seeOther("/admin/runs/\(run.id)")
    }

    @Sendable func retry(_ request: Request, context: AdminConversationContext) async throws -> Response {
        _ = try await context.submittedForm(request, reader: services.body)
        let run = try await RunRoutes(services: services).run(context)
        let again = try await services.runs.retry(id: run.id, by: Actor(context.organiser))
        return Response.seeOther("/admin/runs/\(again.id)")
    }

    @Sendable func artefact(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await RunRoutes(services: services).artefact(request, context: context)
    }

    struct MultipartFields {
        let parts: [Multipart.Part]

        func text(_ name: String) -> String? {
            parts.first { $0.name == name && $0.fileName == nil }.map { String(decoding: $0.data, as: UTF8.self) }
        }

        func file(_ name: String) -> (String, Data)? {
            guard let part = parts.first(where: { $0.name == name }), let fileName = part.fileName, !fileName.isEmpty,
                !part.data.isEmpty
            else { return nil }
            return (fileName, part.data)
        }
    }

    /// The new-run form comes as multipart (it may carry a constitution file); its CSRF token
    /// is checked like every other admin form's.
    func multipartForm(_ request: Request, context: AdminContext) async throws -> MultipartFields {
        let contentType = request.headers[.contentType] ?? ""
        let fields: MultipartFields
        if request.mediaType == "multipart/form-data" {
            let body = Data(try await services.body.bytes(request).readableBytesView)
            do {
                fields = MultipartFields(parts: try Multipart.parts(body, contentType: contentType))
            } catch {
                throw AppError.badRequest(error.description)
            }
        } else {
            let form = try await services.body.form(request)
            fields = MultipartFields(
                parts: form.fields.map { Multipart.Part(name: $0.name, fileName: nil, data: Data($0.value.utf8)) })
        }
        try context.checkCSRF(fields.text("csrf"))
        return fields
    }

    struct Option {
        let value, label: String
        let selected: Bool
    }

    struct RunRow {
        let id: Int64
        let state, constitution, baseline, profile, created: String
    }

    /// What the new-run form was sent with, to show it again with the error.
    struct Entered {
        var constitution: Int64?
        var baseline: String?
        var profile: RunProfile?
        var seed = ""
        var parameters: [String: String] = [:]
        var parameterLines = ""
        var error: String?
        var errorField: String?
    }

    func listPage(organiser: Organiser, csrf: String, form: Entered, status: HTTPResponse.Status) async throws
        -> Response
    {
        let selected = form.constitution
        var constitutions: [Option] = []
        var labels: [Int64: String] = [:]
        for conversation in try await services.store.conversations() {
            for stored in try await services.store.constitutions(conversationID: conversation.id) {
                let label = "\(conversation.settings.title) v\(stored.version) (\(stored.sha256.prefix(12)))"
                labels[stored.id] = label
                constitutions.append(
                    Option(value: String(stored.id), label: label, selected: stored.id == selected))
            }
        }
        let recent = try await services.store.runs(offset: 0, limit: 200).items
        let runs = recent.prefix(100).map {
            RunRow(
                id: $0.id, state: $0.state.rawValue,
                constitution: labels[$0.request.ccaiConstitutionID] ?? "constitution \($0.request.ccaiConstitutionID)",
                baseline: $0.request.baselineSource, profile: $0.request.profile.rawValue,
                created: Self.date($0.createdAt))
        }
        struct View: PageTemplate {
            static let template = "admin_runs"
            let organiserEmail, csrf: String
            let error: String?
            let constitutions: [Option]
            let baselineCharter, baselineUpload: Bool
            let baselines: [Option]
            let profiles: [RunForm.ProfileView]
            let seed: String
            let sections: [RunForm.Section]
            /// No list of the pipeline's parameters: one name=value per line instead.
            let freeParameters: Bool
            let parameterLines: String
            let parametersOpen: Bool
            let runs: [RunRow]
            let hasConstitutions: Bool
        }
        // A list that cannot be read is said at the top; the form then takes name=value lines.
        var error = form.error
        let table: PipelineParameters?
        do {
            table = try services.runs.pipelineParameters()
        } catch let failure as CharterError {
            table = nil
            error = [error, failure.message].compactMap { $0 }.joined(separator: " ")
        }
        let promptsFolder = await services.runs.configuration.promptsDirectory != nil
        let sections =
            table.map {
                RunForm.sections(
                    $0, entered: form.parameters, errorField: form.errorField, error: form.error,
                    promptsFolder: promptsFolder)
            } ?? []
        return services.views.page(
            title: "Comparison runs",
            View(
                organiserEmail: organiser.email, csrf: csrf, error: error, constitutions: constitutions,
                baselineCharter: form.baseline == nil || form.baseline == "charter",
                baselineUpload: form.baseline == "upload",
                baselines: constitutions.map {
                    Option(value: $0.value, label: $0.label, selected: $0.value == form.baseline)
                },
                profiles: RunForm.profiles(table, runs: recent, selected: form.profile ?? .small), seed: form.seed,
                sections: sections, freeParameters: table == nil || !form.parameterLines.isEmpty,
                parameterLines: form.parameterLines,
                parametersOpen: !form.parameters.isEmpty || !form.parameterLines.isEmpty
                    || form.errorField?.hasPrefix("parameters") == true,
                runs: runs, hasConstitutions: !constitutions.isEmpty),
            status: status, admin: true)
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    struct StageView {
        let label: String
        let step, of, percent: Int
    }

    struct ComparisonView {
        let label, better, base, ccai, baseline, difference, winner: String
        let ccaiWins, baselineWins: Bool
        /// The exact values and the test, on hover and focus.
        let detail: String
    }

    struct ArtefactView {
        let path, size, url: String
    }

    func runPage(_ run: ComparisonRun, organiser: Organiser, csrf: String) async throws -> Response {
        let summary = try await RunSummary.make(run, services: services)
        let results = run.results.flatMap { try? RunResults.parse($0) }
        let stored = try await services.store.constitution(id: run.request.ccaiConstitutionID)
        var conversation: Conversation?
        if let stored { conversation = try await services.store.conversation(id: stored.conversationID) }
        struct View: PageTemplate {
            static let template = "admin_run"
            let organiserEmail, csrf: String
            let id: Int64
            let state, profile, seed: String
            let parameters: String?
            let constitution, constitutionSha256, baseline, baselineSha256: String
            let pipelineCommand, pipelineVersion, created, createdBy, started, finished: String
            let failure, lastMessage: String?
            let retryOf: Int64?
            let live, isFinished: Bool
            let stages: [StageView]
            let comparison: [ComparisonView]
            let tooSmall: Bool
            let distributed: String?
            /// Nil when the results do not say (an empty text would still open the section).
            let steps: String?
            let hasStages, hasArtefacts: Bool
            let hasComparison: Bool
            let wall, memory: String?
            let charts: [RunCharts.Chart]
            let log: String
            let artefacts: [ArtefactView]
        }
        var charts: [RunCharts.Chart] = []
        if let results {
            charts += [
                RunCharts.bbqBias(
                    results, context: "ambig", title: "BBQ bias score, ambiguous contexts (0 is unbiased)"),
                RunCharts.bbqBias(
                    results, context: "disambig", title: "BBQ bias score, disambiguated contexts (0 is unbiased)"),
                RunCharts.losses(results, stage: "sft", title: "SL-CAI supervised fine-tuning loss"),
                RunCharts.losses(results, stage: "dpo", title: "RL-CAI preference (DPO) loss"),
            ].compactMap { $0 }
        }
        let view = View(
            organiserEmail: organiser.email, csrf: csrf, id: run.id, state: run.state.rawValue,
            profile: run.request.profile.rawValue, seed: String(run.request.seed),
            parameters: run.request.parameters.isEmpty
                ? nil
                : run.request.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: ", "),
            constitution: conversation.map { "\($0.settings.title) v\(stored?.version ?? 0)" }
                ?? "constitution \(run.request.ccaiConstitutionID)",
            constitutionSha256: run.ccaiSHA256, baseline: run.request.baselineSource,
            baselineSha256: run.request.baselineSHA256, pipelineCommand: run.request.pipelineCommand,
            pipelineVersion: run.pipelineVersion ?? "", created: Self.date(run.createdAt), createdBy: run.createdBy,
            started: Self.date(run.startedAt), finished: Self.date(run.finishedAt), failure: run.failure,
            lastMessage: summary.lastMessage, retryOf: run.request.retryOf, live: !run.state.isFinished,
            isFinished: run.state.isFinished,
            stages: summary.stages.map {
                StageView(
                    label: [$0.arm, $0.stage].compactMap { $0 }.joined(separator: " · "), step: $0.step, of: $0.of,
                    percent: Int(($0.fraction * 100).rounded()))
            },
            comparison: (summary.comparison ?? []).map { row in
                ComparisonView(
                    label: RunCharts.readable(row.label)
                        + (row.circular ? " (circular: judged with an arm's own principles)" : ""),
                    better: Self.betterLabel(row.better), base: Self.number(row.base),
                    ccai: Self.number(row.ccai, interval: row.ccaiCi95),
                    baseline: Self.number(row.baseline, interval: row.baselineCi95),
                    difference: Self.number(row.difference, signed: true, interval: row.differenceCi95),
                    winner: row.verdict.map { $0.replacingOccurrences(of: "ccai", with: "CCAI") }
                        ?? row.winner.map { $0 == "ccai" ? "CCAI" : $0 } ?? "—",
                    ccaiWins: row.winner == "ccai", baselineWins: row.winner == "baseline",
                    detail: [
                        row.n.map { "n = \($0)" }, row.pValue.map { "p = \(String(format: "%.3g", $0))" },
                        row.pHolm.map { "Holm-adjusted p = \(String(format: "%.3g", $0))" },
                    ].compactMap { $0 }.joined(separator: ", "))
            },
            tooSmall: summary.tooSmallToDetect == true,
            distributed: summary.distributed.map {
                "\($0.worldSize ?? 1) process\(($0.worldSize ?? 1) == 1 ? "" : "es")\($0.backend.map { " (\($0))" } ?? "")"
            },
            steps: (summary.optimizerSteps ?? [:]).sorted { $0.key < $1.key }.map { arm, stages in
                "\(arm == "ccai" ? "CCAI" : arm): "
                    + stages.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.uppercased())" }.joined(
                        separator: ", ")
            }.joined(separator: "; ").nonEmpty,
            hasStages: !summary.stages.isEmpty, hasArtefacts: !(summary.artefacts ?? []).isEmpty,
            hasComparison: !(summary.comparison ?? []).isEmpty,
            wall: results?.wallSeconds.map { String(format: "%.0f s", $0) },
            memory: results?.peakRSSBytes.map { String(format: "%.0f MiB", $0 / 1_048_576) }, charts: charts,
            log: (summary.logTail ?? []).joined(separator: "\n"),
            artefacts: (summary.artefacts ?? []).map {
                ArtefactView(
                    path: $0.path, size: ByteSize.text(Int64($0.bytes)),
                    url: $0.url.replacingOccurrences(of: "/api/v1/runs/", with: "/admin/runs/"))
            })
        return services.views.page(title: "Run \(run.id)", view, admin: true, refresh: run.state.isFinished ? nil : 5)
    }

    static func betterLabel(_ better: String) -> String {
        switch better {
        case "higher": "higher is better"
        case "lower": "lower is better"
        case "none": "no better direction"
        default: "closer to 0 is better"
        }
    }

    static func number(_ value: Double?, signed: Bool = false, interval: [Double]? = nil) -> String {
        guard let value else { return "—" }
        func text(_ value: Double, signed: Bool) -> String {
            let magnitude = abs(value)
            let format = magnitude >= 100 ? "%.1f" : magnitude >= 1 ? "%.2f" : "%.3f"
            return String(format: signed && value > 0 ? "+" + format : format, value)
        }
        guard let interval, interval.count == 2, let low = interval.first, let high = interval.last else {
            return text(value, signed: signed)
        }
        return "\(text(value, signed: signed)) [\(text(low, signed: false)), \(text(high, signed: false))]"
    }
}

extension String {
    /// The text, or nil when it is empty (Mustache opens a section for an empty string).
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
