import CharterCompiler
import CharterDomain
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
                if let value, value < 0 { throw CharterError.invalid(field: name, message: "\(name) must be ≥ 0") }
            }
            return CompileParameters(
                rule: rule, threshold: threshold, minimumVotesPerGroup: minVotesPerGroup ?? 5,
                filters: ParticipantFilters(
                    minimumVotes: minParticipantVotes ?? 0, straightLiningVotes: straightLining,
                    excludeFlagged: excludeFlagged == true ? true : nil),
                mergeSimilarity: mergeSimilarity ?? 0.7)
        }

        init(query: Form) throws {
            rule = query["rule"]
            threshold = try query["threshold"].map {
                guard let value = Double($0) else { throw AppError.badRequest("threshold must be a number.") }
                return value
            }
            minVotesPerGroup = try query.integer("min_votes_per_group")
            minParticipantVotes = try query.integer("min_participant_votes")
            straightLining = try query.integer("straight_lining")
            excludeFlagged = try query.boolean("exclude_flagged")
            mergeSimilarity = try query["merge_similarity"].map {
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
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/v1/conversations/{slug}/compile") { request, context in
            _ = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let parameters = try ParametersBody(query: request.query).parameters()
            let result = try await ConstitutionBuilding.compile(
                conversation: conversation, store: services.store, parameters: parameters)
            struct Preview: Encodable {
                let constitution: Constitution
                let decisions: [StatementDecision]
            }
            return Response.json(Preview(constitution: try result.constitution.hashed(), decisions: result.decisions))
        }
        router.post("/api/v1/conversations/{slug}/constitutions") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let parameters = try await services.body.json(ParametersBody.self, from: request).parameters()
            let (stored, constitution) = try await ConstitutionBuilding.publish(
                conversation: conversation, store: services.store, parameters: parameters, by: Actor(organiser))
            return Response.json(
                Self.version(stored, conversation: conversation, report: constitution.report), status: .created)
        }
        router.get("/api/v1/conversations/{slug}/constitutions") { _, context in
            _ = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let versions = try await services.store.constitutions(conversationID: conversation.id).map {
                Self.version($0, conversation: conversation, report: try? Constitution.decode($0.body).report)
            }
            return Response.json(["constitutions": versions])
        }
        router.put("/api/v1/conversations/{slug}/principles/{statement}") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            guard let statement = Int64(try context.parameters.require("statement")) else {
                throw AppError.badRequest("The statement id must be a number.")
            }
            struct Body: Decodable {
                let text: String?
            }
            let body = try await services.body.json(Body.self, from: request)
            try await services.store.setPrincipleWording(
                conversationID: conversation.id, statementID: statement, text: body.text, by: Actor(organiser))
            return Response(status: .noContent)
        }
        router.put("/api/v1/conversations/{slug}/principles/{statement}/grouping") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            guard let statement = Int64(try context.parameters.require("statement")) else {
                throw AppError.badRequest("The statement id must be a number.")
            }
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
                conversationID: conversation.id, statementID: statement, grouping: grouping, by: Actor(organiser))
            return Response(status: .noContent)
        }
        router.get("/api/v1/constitutions/{id}") { request, context in
            _ = try context.requireOrganiser()
            return try await download(request, context: context)
        }
        router.get("/api/v1/constitutions/{id}/diff/{other}") { _, context in
            _ = try context.requireOrganiser()
            let old = try await constitution(context, "id")
            let new = try await constitution(context, "other")
            return Response.json(
                ConstitutionDiff(from: try Constitution.decode(old.body), to: try Constitution.decode(new.body)))
        }
    }

    func download(_ request: Request, context: AppRequestContext) async throws -> Response {
        let stored = try await constitution(context, "id")
        let name = request.query["format"] ?? "json"
        guard let format = ConstitutionFormat(rawValue: name) else {
            throw AppError.badRequest("format must be json, md, cai or txt.")
        }
        let data = try Constitution.decode(stored.body).rendered(format)
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType,
                .contentDisposition: "attachment; filename=\"v\(stored.version)-\(format.fileName)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func constitution(_ context: AppRequestContext, _ parameter: String) async throws -> StoredConstitution {
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
