import CharterCompiler
import CharterDomain
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Compiling, publishing and downloading constitutions (organisers, `/api/v1`).
struct ConstitutionRoutes: Sendable {
    let services: AppServices

    struct ParametersBody: Decodable {
        var rule: String?
        var threshold: Double?
        var minVotesPerGroup: Int?
        var minParticipantVotes: Int?
        var straightLining: Int?
        var mergeSimilarity: Double?
        var excludeFlagged: Bool?
        /// Weight participants to the demographic target shares (raking), capped at `weightCap`.
        var weighting: Bool?
        var weightCap: Double?

        func parameters() throws -> CompileParameters {
            let rule =
                try rule.map { name in
                    guard let rule = SelectionRule(rawValue: name) else {
                        throw CharterError.invalid(field: "rule", message: "rule must be ccai, polis-gac or min-group")
                    }
                    return rule
                } ?? .ccai
            if let threshold, !(0...1).contains(threshold) {
                throw CharterError.invalid(field: "threshold", message: "threshold must be between 0 and 1")
            }
            if let mergeSimilarity, !(0...1.01).contains(mergeSimilarity) {
                throw CharterError.invalid(
                    field: "merge_similarity", message: "merge_similarity must be between 0 and 1")
            }
            for (name, value) in [
                ("min_votes_per_group", minVotesPerGroup), ("min_participant_votes", minParticipantVotes),
                ("straight_lining", straightLining),
            ] {
                if let value, !(0...1_000_000).contains(value) {
                    throw CharterError.invalid(field: name, message: "\(name) must be from 0 to 1000000")
                }
            }
            if let weightCap, !Weighting.capRange.contains(weightCap) {
                throw CharterError.invalid(field: "weight_cap", message: "weight_cap must be between 1 and 100")
            }
            return CompileParameters(
                rule: rule, threshold: threshold, minimumVotesPerGroup: minVotesPerGroup ?? 5,
                filters: ParticipantFilters(
                    minimumVotes: minParticipantVotes ?? 0, straightLiningVotes: straightLining,
                    excludeFlagged: excludeFlagged == true ? true : nil),
                mergeSimilarity: mergeSimilarity ?? 0.7,
                weighting: weighting == true ? Weighting(cap: weightCap ?? Weighting.defaultCap) : nil)
        }

        init(query: Form) throws {
            rule = query["rule"]
            threshold = try query["threshold"].flatMap { $0.isEmpty ? nil : $0 }.map {
                guard let value = Double($0) else { throw AppError.badRequest("threshold must be a number.") }
                return value
            }
            minVotesPerGroup = try query.integer("min_votes_per_group")
            minParticipantVotes = try query.integer("min_participant_votes")
            straightLining = try query.integer("straight_lining")
            excludeFlagged = try query.boolean("exclude_flagged")
            weighting = try query.boolean("weighting")
            weightCap = try query["weight_cap"].flatMap { $0.isEmpty ? nil : $0 }.map {
                guard let value = Double($0) else { throw AppError.badRequest("weight_cap must be a number.") }
                return value
            }
            mergeSimilarity = try query["merge_similarity"].flatMap { $0.isEmpty ? nil : $0 }.map {
                guard let value = Double($0) else { throw AppError.badRequest("merge_similarity must be a number.") }
                return value
            }
        }
    }

    struct VersionBody: Encodable {
        let id: Int64
        let conversation: String
        let version: Int
        let sha256: String
        let createdAt: Date
        let createdBy: String
        let report: CompileSummary?
        /// Set only in a publish's answer: true when nothing changed and nothing was stored.
        var unchanged: Bool? = nil
    }

    /// A conversation's moderators: preview a compilation, list and read versions.
    var moderatorRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("conversations/{slug}/compile", use: preview)
            .get("conversations/{slug}/constitutions", use: versions)
    }

    /// A conversation's owners: publish a version and word or group its principles.
    var ownerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .post("conversations/{slug}/constitutions", use: publish)
            .put("conversations/{slug}/principles/{statement}", use: setWording)
            .put("conversations/{slug}/principles/{statement}/grouping", use: setGrouping)
    }

    /// Whoever may read a constitution's conversation may download it and diff it with another
    /// readable one.
    var readerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("constitutions/{id}", use: download)
            .get("constitutions/{id}/diff/{other}", use: diff)
    }

    @Sendable func preview(_ request: Request, context: ConversationContext) async throws -> Response {
        let parameters = try ParametersBody(query: request.query).parameters()
        let result = try await ConstitutionBuilding.compile(
            conversation: context.conversation, store: services.store, parameters: parameters)
        struct Preview: Encodable {
            let constitution: Constitution
            let decisions: [StatementDecision]
        }
        return Response.json(Preview(constitution: try result.constitution.hashed(), decisions: result.decisions))
    }

    @Sendable func publish(_ request: Request, context: ConversationContext) async throws -> Response {
        let conversation = context.conversation
        let parameters = try await services.body.json(ParametersBody.self, from: request).parameters()
        let (stored, constitution, created) = try await ConstitutionBuilding.publish(
            conversation: conversation, store: services.store, parameters: parameters, by: Actor(context.organiser))
        var body = Self.version(stored, conversation: conversation, report: constitution.report)
        body.unchanged = !created
        return Response.json(body, status: created ? .created : .ok)
    }

    @Sendable func versions(_ request: Request, context: ConversationContext) async throws -> Response {
        let conversation = context.conversation
        let versions = try await services.store.constitutions(conversationID: conversation.id).map {
            Self.version($0, conversation: conversation, report: try? Constitution.decode($0.body).report)
        }
        return Response.json(["constitutions": versions])
    }

    @Sendable func setWording(_ request: Request, context: ConversationContext) async throws -> Response {
        let statement = try Self.statementID(context)
        struct Body: Decodable {
            let text: String?
        }
        let body = try await services.body.json(Body.self, from: request)
        try await services.store.setPrincipleWording(
            conversationID: context.conversation.id, statementID: statement, text: body.text,
            by: Actor(context.organiser))
        return Response(status: .noContent)
    }

    @Sendable func setGrouping(_ request: Request, context: ConversationContext) async throws -> Response {
        let statement = try Self.statementID(context)
        struct Body: Decodable {
            let mergeInto: Int64?
            let split: Bool?
            let automatic: Bool?
        }
        let body = try await services.body.json(Body.self, from: request)
        let grouping: PrincipleGrouping
        switch (body.mergeInto, body.split, body.automatic) {
        case (let lead?, nil, nil): grouping = .merge(into: lead)
        case (nil, true, nil): grouping = .split
        case (nil, nil, true): grouping = .automatic
        default:
            throw CharterError.invalid(
                field: "grouping",
                message: "Send exactly one of merge_into (a statement id), split: true or automatic: true.")
        }
        try await services.store.setPrincipleGrouping(
            conversationID: context.conversation.id, statementID: statement, grouping: grouping,
            by: Actor(context.organiser))
        return Response(status: .noContent)
    }

    @Sendable func diff(_ request: Request, context: ConversationContext) async throws -> Response {
        let old = try await constitution(context, "id")
        let new = try await constitution(context, "other")
        return Response.json(
            ConstitutionDiff(from: try Constitution.decode(old.body), to: try Constitution.decode(new.body)))
    }

    private static func statementID(_ context: some RequestContext) throws -> Int64 {
        guard let statement = Int64(try context.parameters.require("statement")) else {
            throw AppError.badRequest("The statement id must be a number.")
        }
        return statement
    }

    @Sendable func download(_ request: Request, context: some RequestContext) async throws -> Response {
        let stored = try await constitution(context, "id")
        let name = request.query["format"] ?? "json"
        guard let format = ConstitutionFormat(rawValue: name) else {
            throw AppError.badRequest("format must be json, md, cai or txt.")
        }
        let data = try await ConstitutionTranslations.rendered(
            try Constitution.decode(stored.body), format: format, conversationID: stored.conversationID,
            store: services.store)
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType,
                .contentDisposition: "attachment; filename=\"v\(stored.version)-\(format.fileName)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func constitution(_ context: some RequestContext, _ parameter: String) async throws -> StoredConstitution {
        guard let id = Int64(try context.parameters.require(parameter)) else {
            throw AppError.badRequest("A constitution id must be a number.")
        }
        guard let stored = try await services.store.constitution(id: id) else {
            throw CharterError.notFound("Constitution")
        }
        return stored
    }

    static func version(_ stored: StoredConstitution, conversation: Conversation, report: CompileSummary?)
        -> VersionBody
    {
        VersionBody(
            id: stored.id, conversation: conversation.slug, version: stored.version, sha256: stored.sha256,
            createdAt: stored.createdAt, createdBy: stored.createdBy, report: report)
    }
}
