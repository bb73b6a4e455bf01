import CharterDomain
import CharterPipeline
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Comparison runs over the JSON API: queue one, follow it, cancel or repeat it, download its
/// artefacts (organisers and researchers, `/api/v1/runs`).
struct RunRoutes: Sendable {
    let services: AppServices

    struct CreateBody: Decodable {
        var constitutionId: Int64
        /// "charter" (the default) for Charter's own baseline.
        var baseline: String?
        var baselineConstitutionId: Int64?
        var profile: String?
        var seed: Int64?
        var parameters: [String: RunParameter]?
    }

    /// Any organiser lists runs and starts one (on a constitution they own, checked on the body).
    var organiserRoutes: RouteCollection<OrganiserContext> {
        RouteCollection(context: OrganiserContext.self)
            .post("runs", use: create)
            .get("runs", use: list)
    }

    /// Whoever may read the run's conversation follows the run and downloads its artefacts.
    var readerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("runs/{id}", use: show)
            .get("runs/{id}/artefact", use: artefact)
    }

    /// The owners cancel and repeat it.
    var ownerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .post("runs/{id}/cancel", use: cancel)
            .post("runs/{id}/retry", use: retry)
    }

    @Sendable func create(_ request: Request, context: OrganiserContext) async throws -> Response {
        let organiser = context.organiser
        let data = Data(try await services.body.bytes(request).readableBytesView)
        if request.headers[.contentType] != nil, request.mediaType != "application/json" {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json."
            )
        }
        let body: CreateBody
        do {
            body = try RequestBodyReader.jsonDecoder.decode(CreateBody.self, from: data)
        } catch let error as DecodingError {
            throw AppError.badRequest("The JSON body is malformed: \(RequestBodyReader.describe(error))")
        }
        let baseline = try Self.baseline(
            name: body.baseline, constitutionID: body.baselineConstitutionId,
            uploaded: try Self.uploadedBaseline(in: data))
        try await services.requireRunRights(organiser, constitutionID: body.constitutionId, baseline: baseline)
        let run = try await services.runs.enqueue(
            constitutionID: body.constitutionId, baseline: baseline, profile: try Self.profile(body.profile),
            seed: body.seed, parameters: body.parameters ?? [:], by: Actor(organiser))
        return Response.json(try await RunSummary.make(run, services: services), status: .created)
    }

    @Sendable func list(_ request: Request, context: OrganiserContext) async throws -> Response {
        let offset = try request.query.integer("offset") ?? 0
        let limit = try request.query.integer("limit", in: 1...200) ?? 50
        let page = try await services.store.runs(offset: offset, limit: limit)
        var items: [RunSummary] = []
        for run in page.items { items.append(try await RunSummary.make(run, services: services, detail: false)) }
        struct Body: Encodable {
            let runs: [RunSummary]
            let total, offset, limit: Int
        }
        return Response.json(Body(runs: items, total: page.total, offset: offset, limit: limit))
    }

    @Sendable func show(_ request: Request, context: ConversationContext) async throws -> Response {
        Response.json(try await RunSummary.make(try await run(context), services: services))
    }

    @Sendable func cancel(_ request: Request, context: ConversationContext) async throws -> Response {
        let cancelled = try await services.runs.cancel(id: try await run(context).id, by: Actor(context.organiser))
        return Response.json(try await RunSummary.make(cancelled, services: services))
    }

    @Sendable func retry(_ request: Request, context: ConversationContext) async throws -> Response {
        let again = try await services.runs.retry(id: try await run(context).id, by: Actor(context.organiser))
        return Response.json(try await RunSummary.make(again, services: services), status: .created)
    }

    func run(_ context: some RequestContext) async throws -> ComparisonRun {
        guard let id = Int64(try context.parameters.require("id")) else {
            throw AppError.badRequest("A run id must be a number.")
        }
        guard let run = try await services.store.run(id: id) else { throw CharterError.notFound("Run") }
        return run
    }

    /// One of the run's artefacts, named by its path in the run folder; only files the folder
    /// listing offers can be asked for, so no path leads outside it.
    @Sendable func artefact(_ request: Request, context: some RequestContext) async throws -> Response {
        let run = try await run(context)
        guard let path = request.query["path"], !path.isEmpty else {
            throw AppError.badRequest("Name the artefact with ?path=.")
        }
        guard let directory = run.directory else { throw CharterError.notFound("Artefact") }
        let workspace = RunWorkspace(directory: URL(fileURLWithPath: directory))
        guard workspace.artefacts().contains(where: { $0.path == path }) else {
            throw CharterError.notFound("Artefact")
        }
        let file = workspace.directory.appendingPathComponent(path)
        let fileName = file.lastPathComponent.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }
        let contentType =
            switch file.pathExtension {
            case "json": "application/json; charset=utf-8"
            case "jsonl": "application/jsonl; charset=utf-8"
            default: "text/plain; charset=utf-8"
            }
        let body = try await FileIO().loadFile(path: file.path, context: context)
        return Response(
            status: .ok,
            headers: [
                .contentType: contentType,
                .contentDisposition: "attachment; filename=\"run-\(run.id)-\(fileName)\"",
            ],
            body: body)
    }

    static func profile(_ name: String?) throws -> RunProfile {
        guard let name else { return .smoke }
        guard let profile = RunProfile(rawValue: name) else {
            throw CharterError.invalid(
                field: "profile",
                message: "profile must be one of \(RunProfile.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return profile
    }

    static func baseline(name: String?, constitutionID: Int64?, uploaded: Data?) throws -> BaselineChoice {
        switch (name, constitutionID, uploaded) {
        case (nil, nil, nil), ("charter", nil, nil): return .charter
        case (nil, let id?, nil): return .constitution(id)
        case (nil, nil, let data?): return .uploaded(data, name: "in the request")
        case (let other?, nil, nil):
            throw CharterError.invalid(field: "baseline", message: "baseline must be \"charter\", not \"\(other)\".")
        default:
            throw CharterError.invalid(
                field: "baseline",
                message:
                    "Give one baseline: \"baseline\": \"charter\", baseline_constitution_id, or baseline_constitution.")
        }
    }

    /// The `baseline_constitution` object of the body, as the constitution file it stands for.
    static func uploadedBaseline(in body: Data) throws -> Data? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let baseline = object["baseline_constitution"], !(baseline is NSNull)
        else { return nil }
        guard JSONSerialization.isValidJSONObject(baseline), baseline is [String: Any] else {
            throw CharterError.invalid(
                field: "baseline_constitution", message: "baseline_constitution must be a constitution object.")
        }
        return try JSONSerialization.data(withJSONObject: baseline)
    }
}

/// A run as the API and the run page show it.
struct RunSummary: Encodable {
    struct Stage: Encodable {
        let arm: String?
        let stage: String
        let step, of: Int
        let fraction: Double
    }

    struct Comparison: Encodable {
        let metric, label, better: String
        let ccai, baseline, difference: Double?
        let winner: String?
        // Results version 2.
        let base: Double?
        let ccaiCi95, baselineCi95, differenceCi95: [Double]?
        let n: Int?
        let pValue, pHolm: Double?
        let significant: Bool?
        let verdict: String?
        let circular: Bool
    }

    struct Distributed: Encodable {
        let worldSize: Int?
        let backend: String?
    }

    struct Artefact: Encodable {
        let path: String
        let bytes: Int
        let url: String
    }

    let id: Int64
    let state: String
    let profile: String
    let seed: Int64
    let parameters: [String: RunParameter]
    let constitutionId: Int64
    let constitutionSha256: String
    let baselineSource: String
    let baselineSha256: String
    let pipelineCommand: String
    let pipelineVersion: String?
    let retryOf: Int64?
    let createdAt: Date
    let createdBy: String
    let startedAt: Date?
    let finishedAt: Date?
    let failure: String?
    let stages: [Stage]
    let lastMessage: String?
    let logTail: [String]?
    let comparison: [Comparison]?
    let tooSmallToDetect: Bool?
    let distributed: Distributed?
    /// Optimiser steps per arm and training stage.
    let optimizerSteps: [String: [String: Int]]?
    let wallSeconds: Double?
    let peakRssBytes: Double?
    let artefacts: [Artefact]?

    static func make(_ run: ComparisonRun, services: AppServices, detail: Bool = true) async throws -> RunSummary {
        let progress = run.progress.flatMap { try? RunProgress.decode($0) }
        let results = run.results.flatMap { try? RunResults.parse($0) }
        let workspace = run.directory.map { RunWorkspace(directory: URL(fileURLWithPath: $0)) }
        return RunSummary(
            id: run.id, state: run.state.rawValue, profile: run.request.profile.rawValue, seed: run.request.seed,
            parameters: run.request.parameters, constitutionId: run.request.ccaiConstitutionID,
            constitutionSha256: run.ccaiSHA256, baselineSource: run.request.baselineSource,
            baselineSha256: run.request.baselineSHA256, pipelineCommand: run.request.pipelineCommand,
            pipelineVersion: run.pipelineVersion, retryOf: run.request.retryOf, createdAt: run.createdAt,
            createdBy: run.createdBy, startedAt: run.startedAt, finishedAt: run.finishedAt, failure: run.failure,
            stages: (progress?.stages ?? []).map {
                Stage(arm: $0.arm, stage: $0.stage, step: $0.step, of: $0.of, fraction: $0.fraction)
            },
            lastMessage: progress?.lastMessage,
            logTail: detail
                ? workspace.map { $0.tail("stdout.log", lines: 20) + $0.tail("stderr.log", lines: 20) } : nil,
            comparison: results?.comparison.map {
                Comparison(
                    metric: $0.name, label: $0.label, better: $0.better.rawValue, ccai: $0.ccai, baseline: $0.baseline,
                    difference: $0.difference, winner: $0.winner, base: $0.base, ccaiCi95: $0.ccaiCI,
                    baselineCi95: $0.baselineCI, differenceCi95: $0.differenceCI, n: $0.n, pValue: $0.pValue,
                    pHolm: $0.pHolm, significant: $0.significant, verdict: $0.verdict, circular: $0.circular)
            },
            tooSmallToDetect: results.map(\.tooSmallToDetect),
            distributed: results?.distributed.map { Distributed(worldSize: $0.worldSize, backend: $0.backend) },
            optimizerSteps: results.flatMap { results in
                let steps = results.arms.compactMapValues(\.optimizerSteps)
                return steps.isEmpty ? nil : steps
            },
            wallSeconds: results?.wallSeconds, peakRssBytes: results?.peakRSSBytes,
            artefacts: detail
                ? (workspace?.artefacts() ?? []).map {
                    Artefact(
                        path: $0.path, bytes: $0.bytes,
                        url:
                            "/api/v1/runs/\(run.id)/artefact?path=\($0.path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? $0.path)"
                    )
                } : nil)
    }
}
