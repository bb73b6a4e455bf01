import CharterCompiler
import CharterDomain
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The organiser's constitution builder: choose the rule, preview what it keeps and why, edit
/// wording, publish versions, download and diff them. Works without JavaScript: every change is
/// a form.
struct ConstitutionPages: Sendable {
    let services: AppServices
    static let parameterNames = [
        "rule", "threshold", "min_votes_per_group", "min_participant_votes", "straight_lining", "merge_similarity",
        "exclude_flagged", "weighting", "weight_cap",
    ]

    /// A conversation's moderators read the builder.
    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/constitution", use: builder)
    }

    /// Whoever may read a constitution's conversation downloads it and diffs it with another
    /// readable one.
    var readerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("constitutions/{id}", use: download)
            .get("constitutions/{id}/diff/{other}", use: diff)
    }

    /// A conversation's owners word, group and publish.
    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("conversations/{slug}/principles/{statement}", use: setWording)
            .post("conversations/{slug}/principles/{statement}/grouping", use: setGrouping)
            .post("conversations/{slug}/constitutions", use: publish)
    }

    @Sendable func builder(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await page(request.query, context: context)
    }

    @Sendable func setWording(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let statement = try Self.statementID(context)
        let text = form["action"] == "reset" ? nil : try form.required("text")
        try await services.store.setPrincipleWording(
            conversationID: conversation.id, statementID: statement, text: text, by: Actor(context.organiser))
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/constitution?\(Self.query(from: form["return"] ?? ""))&done=reworded"
        )
    }

    @Sendable func setGrouping(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let statement = try Self.statementID(context)
        let grouping: PrincipleGrouping
        switch try form.required("action") {
        case "merge":
            guard let lead = Int64(try form.required("into")) else {
                throw AppError.badRequest("Choose the principle to merge into.")
            }
            grouping = .merge(into: lead)
        case "split": grouping = .split
        case "automatic": grouping = .automatic
        default: throw AppError.badRequest("The action must be merge, split or automatic.")
        }
        try await services.store.setPrincipleGrouping(
            conversationID: conversation.id, statementID: statement, grouping: grouping, by: Actor(context.organiser))
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/constitution?\(Self.query(from: form["return"] ?? ""))&done=regrouped"
        )
    }

    @Sendable func publish(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let parameters = try ConstitutionRoutes.ParametersBody(query: form).parameters()
        let (stored, _, created) = try await ConstitutionBuilding.publish(
            conversation: conversation, store: services.store, parameters: parameters, by: Actor(context.organiser))
        let done = created ? "published-\(stored.version)" : "unchanged-\(stored.version)"
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/constitution?\(Self.query(from: form))&done=\(done)")
    }

    @Sendable func download(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await ConstitutionRoutes(services: services).download(request, context: context)
    }

    /// Two versions by their ids: versions of one conversation are compared on its diff page
    /// (which offers every pair); versions of two conversations are compared here.
    @Sendable func diff(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let routes = ConstitutionRoutes(services: services)
        let old = try await routes.constitution(context, "id")
        let new = try await routes.constitution(context, "other")
        if old.conversationID == new.conversationID, old.conversationID == context.conversation.id {
            return Response.seeOther(
                ConstitutionVersionPages.diffPath(context.conversation.slug, from: old.version, to: new.version))
        }
        return try ConstitutionVersionPages(services: services).page(
            old: old, new: new, versions: [], context: context)
    }

    private static func statementID(_ context: some RequestContext) throws -> Int64 {
        guard let statement = Int64(try context.parameters.require("statement")) else {
            throw AppError.badRequest("The statement id must be a number.")
        }
        return statement
    }

    /// The compile parameters of a form or query, as a query string to carry them along.
    static func query(from form: Form) -> String {
        parameterNames.compactMap { name in
            form[name].flatMap { $0.isEmpty ? nil : $0 }.map {
                "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            }
        }.joined(separator: "&")
    }

    static func query(from encoded: String) -> String {
        query(from: Form(urlEncoded: encoded) ?? Form())
    }

    struct Option {
        let value, label: String
        let selected: Bool
    }

    struct SourceView {
        let statement: Int64
        let text: String
        /// Kept apart or merged by hand: offer the way back to automatic merging.
        let manual: Bool
        /// Not the lead: may be split off.
        let splittable: Bool
    }

    struct Target {
        let lead: Int64
        let label: String
    }

    struct ShareView {
        let label, percent, exact: String
    }

    struct PrincipleView {
        let lead: Int64
        let text: String
        let edited: Bool
        let score, scoreExact, gac, gacExact: String
        let shares: [ShareView]
        let sources: [SourceView]
        let targets: [Target]
        let slug, csrf, returnQuery: String
    }

    struct DecisionView {
        let statement: Int64
        let text, score, reason: String
        let kept: Bool
    }

    struct VersionView {
        let id: Int64
        let version: Int
        let shortHash, when, by: String
        let formats: [String]
        let previousID: Int64?
    }

    struct Hidden {
        let name, value: String
    }

    struct View: PageTemplate {
        static let template = "admin_constitution"
        let organiserEmail, csrf, slug, title: String
        let notice, error: String?
        let rules: [Option]
        let threshold, mergeSimilarity: String
        let minVotesPerGroup, minParticipantVotes: Int
        let straightLining: String
        let excludeFlagged: Bool
        let weighting: Bool
        let weightCap: String
        /// What weighting did, when it was asked for.
        let weightingNote: String?
        let summary: String
        /// Which opinion groups the rule ran over, in the analysis page's labels.
        let groupsNote: String
        let principleCount: Int
        let principles: [PrincipleView]
        let hiddenParameters: [Hidden]
        let nextVersion: Int
        let decisions: [DecisionView]
        let versions: [VersionView]
    }

    private func page(_ query: Form, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let organiser = context.organiser
        let csrf = context.csrf
        let parameters: CompileParameters
        var error: String?
        do {
            parameters = try ConstitutionRoutes.ParametersBody(query: query).parameters()
        } catch let failure as CharterError {
            parameters = CompileParameters()
            error = failure.message
        }
        let result = try await ConstitutionBuilding.compile(
            conversation: conversation, store: services.store, parameters: parameters)
        let wordings = try await services.store.principleWordings(conversationID: conversation.id)
        let groupings = try await services.store.principleGroupings(conversationID: conversation.id)
        let leads = result.constitution.principles.compactMap { p in
            p.sources?.first.map { Target(lead: $0.statement, label: "\(p.id): \(String(p.text.prefix(60)))") }
        }
        let versions = try await services.store.constitutions(conversationID: conversation.id)
        let r = result.constitution.report
        let summary =
            r.map {
                "\($0.participants) participants (\($0.removedForFewVotes) with too few votes, \($0.removedAsStraightLiners) "
                    + "straight-liners\($0.removedAsFlagged.map { " and \($0) flagged participants" } ?? "") left out), \($0.votes) votes, \($0.groups) opinion groups: \($0.statements) statements, "
                    + "\($0.eligible) eligible, \($0.selected) selected, \($0.principles) principles after merging."
            } ?? ""
        let returnQuery = Self.query(from: query)
        let f = { (value: Double?) in value.map { String(format: "%.3f", $0) } ?? "–" }
        let notice = query["done"].map { done -> String in
            if done.hasPrefix("published-") { return "Published version \(done.dropFirst("published-".count))." }
            if done.hasPrefix("unchanged-") {
                return
                    "Nothing changed since version \(done.dropFirst("unchanged-".count)), so no new version was published."
            }
            if done == "regrouped" { return "Grouping saved; it is used from now on." }
            return "Wording saved; it is used from now on."
        }
        let view = View(
            organiserEmail: organiser.email, csrf: csrf, slug: conversation.slug, title: conversation.settings.title,
            notice: notice, error: error,
            rules: SelectionRule.allCases.map {
                Option(value: $0.rawValue, label: $0.rawValue, selected: $0 == parameters.rule)
            },
            threshold: String(parameters.threshold), mergeSimilarity: String(parameters.mergeSimilarity),
            minVotesPerGroup: parameters.minimumVotesPerGroup, minParticipantVotes: parameters.filters.minimumVotes,
            straightLining: parameters.filters.straightLiningVotes.map(String.init) ?? "",
            excludeFlagged: parameters.filters.excludeFlagged == true, weighting: parameters.weighting != nil,
            weightCap: ReadableNumbers.significant(parameters.weighting?.cap ?? Weighting.defaultCap),
            weightingNote: Self.weightingNote(
                result.constitution.parameters?.weighting, report: result.constitution.report?.weighting),
            summary: summary,
            groupsNote: Self.groupsNote(result.groups),
            principleCount: result.constitution.principles.count,
            principles: result.constitution.principles.map { p in
                let lead = p.sources?.first?.statement ?? 0
                return PrincipleView(
                    lead: lead, text: p.text, edited: wordings[lead] != nil,
                    score: ReadableNumbers.significant(p.score), scoreExact: ReadableNumbers.exact(p.score),
                    gac: ReadableNumbers.significant(p.gac), gacExact: ReadableNumbers.exact(p.gac),
                    shares: (p.groupAgreeShares ?? []).enumerated().map { group, share in
                        ShareView(
                            label: ConstitutionCompiler.groupLetter(group), percent: ReadableNumbers.percent(share),
                            exact: ReadableNumbers.exact(share))
                    },
                    sources: (p.sources ?? []).enumerated().map { index, source in
                        SourceView(
                            statement: source.statement, text: source.text, manual: groupings[source.statement] != nil,
                            splittable: index > 0)
                    },
                    targets: leads.filter { $0.lead != lead }, slug: conversation.slug, csrf: csrf,
                    returnQuery: returnQuery)
            },
            hiddenParameters: Self.parameterNames.compactMap { name in
                query[name].flatMap { $0.isEmpty ? nil : Hidden(name: name, value: $0) }
            },
            nextVersion: (versions.first?.version ?? 0) + 1,
            decisions: result.decisions.map {
                DecisionView(
                    statement: $0.statement, text: $0.text, score: f($0.score), reason: $0.reason, kept: $0.kept)
            },
            versions: versions.enumerated().map { index, v in
                VersionView(
                    id: v.id, version: v.version, shortHash: String(v.sha256.prefix(12)),
                    when: ISO8601DateFormatter().string(from: v.createdAt), by: v.createdBy,
                    formats: ConstitutionFormat.allCases.map(\.rawValue),
                    previousID: index + 1 < versions.count ? versions[index + 1].id : nil)
            })
        return services.views.page(title: "Constitution builder", view, admin: true)
    }

    /// What weighting did, in a sentence.
    static func weightingNote(_ weighting: Weighting?, report: WeightingReport?) -> String? {
        guard let weighting, let report else { return nil }
        guard !weighting.targets.isEmpty else {
            return "Weighting is on, but no demographic question has target shares: every participant counts once."
        }
        let questions = weighting.targets.map(\.question).joined(separator: ", ")
        var note =
            "Participants are weighted to the target shares of \(questions) (\(report.answered) of "
            + "\(report.participants) answered): effective sample size "
            + "\(ReadableNumbers.significant(report.effectiveSampleSize)) of \(report.participants), largest weight "
            + "\(ReadableNumbers.significant(report.maxWeight)) (cap \(ReadableNumbers.significant(weighting.cap)))."
        if !report.converged {
            note +=
                " The targets are not met exactly (the largest gap is "
                + "\(ReadableNumbers.percent(report.largestGap))): the cap binds, or a target names an answer nobody gave."
        }
        return note
    }

    /// The groups a compile used, said in the analysis page's labels (A is the largest).
    static func groupsNote(_ groups: GroupsUsed) -> String {
        func list(_ sizes: [Int]) -> String {
            sizes.enumerated().map { "\(ConstitutionCompiler.groupLetter($0.offset)) \($0.element)" }
                .joined(separator: ", ")
        }
        if groups.sameAsAnalysisPage {
            return groups.k == 0
                ? "No opinion groups yet."
                : "The rule runs over the \(groups.k) opinion groups of the analysis page (\(list(groups.sizes)))."
        }
        var note =
            "The filters left participants out, so the others were clustered again: \(groups.k) group"
            + "\(groups.k == 1 ? "" : "s") (\(list(groups.sizes)))"
        guard let overlap = groups.overlap, let pageSizes = groups.pageSizes else { return note + "." }
        note += " against \(pageSizes.count) on the analysis page (\(list(pageSizes))). "
        note +=
            zip(overlap.indices, groups.closestPageGroup).map { index, closest in
                let here = ConstitutionCompiler.groupLetter(index)
                guard let closest else { return "\(here) has no one from the page's groups" }
                return
                    "\(here) here: \(overlap[index][closest]) of \(groups.sizes[index]) are in the page's \(ConstitutionCompiler.groupLetter(closest))"
            }.joined(separator: "; ") + "."
        return note
    }
}
