import CharterCompiler
import CharterDomain
import CharterStore
import Foundation
import Hummingbird

/// A published constitution read in the browser, version by version, and the changes between
/// any two versions of a conversation with the parameter changes behind them. Plain pages and
/// a GET form: no JavaScript needed.
struct ConstitutionVersionPages: Sendable {
    let services: AppServices

    /// A conversation's moderators read its versions and compare them.
    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/constitution/versions/{version}", use: version)
            .get("conversations/{slug}/constitution/diff", use: diff)
    }

    static func versionPath(_ slug: String, _ version: Int) -> String {
        "/admin/conversations/\(slug)/constitution/versions/\(version)"
    }

    static func diffPath(_ slug: String, from: Int, to: Int) -> String {
        "/admin/conversations/\(slug)/constitution/diff?from=\(from)&to=\(to)"
    }

    // MARK: One version

    struct Number {
        let shown, exact: String

        init(_ value: Double?) {
            shown = ReadableNumbers.significant(value)
            exact = ReadableNumbers.exact(value)
        }
    }

    struct Share {
        let label, percent, exact: String
    }

    struct SourceView {
        let statement: Int64
        let sourceID: String?
        let text: String
    }

    struct PrincipleView {
        let id, text: String
        let critique, revision: String?
        let hasScores: Bool
        let score, gac: Number
        let shares: [Share]
        let votes: Int?
        let sources: [SourceView]
    }

    struct Fact {
        let name, value: String
    }

    struct Format {
        let id: Int64
        let format: String
    }

    @Sendable func version(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let versions = try await services.store.constitutions(conversationID: conversation.id)
        let stored = try Self.find(try Self.number(context.parameters.require("version"), "version"), in: versions)
        let constitution = try Constitution.decode(stored.body)
        struct View: PageTemplate {
            static let template = "admin_constitution_version"
            let organiserEmail, csrf, slug, title: String
            let version: Int
            let id: Int64
            let sha256, when, by, name, description: String
            let previous, next: Int?
            let compareFrom: Int?
            let parameters: [Fact]
            let snapshot: [Fact]
            let summary: String?
            let principleCount: Int
            let principles: [PrincipleView]
            let formats: [Format]
        }
        let index = versions.firstIndex { $0.id == stored.id }
        let older = index.flatMap { $0 + 1 < versions.count ? versions[$0 + 1].version : nil }
        let newer = index.flatMap { $0 > 0 ? versions[$0 - 1].version : nil }
        let view = View(
            organiserEmail: context.organiser.email, csrf: context.csrf, slug: conversation.slug,
            title: conversation.settings.title, version: stored.version, id: stored.id, sha256: stored.sha256,
            when: RunPages.date(stored.createdAt), by: stored.createdBy, name: constitution.name,
            description: constitution.description, previous: older, next: newer, compareFrom: older,
            parameters: Self.parameterFacts(constitution.parameters).map { Fact(name: $0.name, value: $0.value) },
            snapshot: Self.snapshotFacts(constitution).map { Fact(name: $0.name, value: $0.value) },
            summary: constitution.report.map(Self.summary),
            principleCount: constitution.principles.count,
            principles: constitution.principles.map { p in
                PrincipleView(
                    id: p.id, text: p.text, critique: p.critique, revision: p.revision,
                    hasScores: p.score != nil || p.gac != nil || p.groupAgreeShares != nil,
                    score: Number(p.score), gac: Number(p.gac),
                    shares: (p.groupAgreeShares ?? []).enumerated().map { group, share in
                        Share(
                            label: ConstitutionCompiler.groupLetter(group), percent: ReadableNumbers.percent(share),
                            exact: ReadableNumbers.exact(share))
                    }, votes: p.votes,
                    sources: (p.sources ?? []).map {
                        SourceView(statement: $0.statement, sourceID: $0.sourceId, text: $0.text)
                    })
            },
            formats: ConstitutionFormat.allCases.map { Format(id: stored.id, format: $0.rawValue) })
        return services.views.page(
            title: "\(conversation.settings.title): constitution version \(stored.version)", view, admin: true)
    }

    // MARK: Two versions

    struct Choice {
        let version: Int
        let label: String
        let selected: Bool
    }

    struct ChangeView {
        let statement: String
        let before, after: String?
        let scoreBefore, scoreAfter: Number
    }

    struct ParameterChange: Equatable {
        let name, before, after: String
    }

    @Sendable func diff(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let versions = try await services.store.constitutions(conversationID: conversation.id)
        guard let latest = versions.first else {
            throw AppError(
                .notFound, code: "not_found",
                message: "Nothing is published yet: publish a version from the constitution builder first.")
        }
        let query = request.query
        let toNumber = try query["to"].map { try Self.number($0, "to") } ?? latest.version
        let fromNumber =
            try query["from"].map { try Self.number($0, "from") }
            ?? versions.first { $0.version < toNumber }?.version ?? toNumber
        let old = try Self.find(fromNumber, in: versions)
        let new = try Self.find(toNumber, in: versions)
        return try page(old: old, new: new, versions: versions, context: context)
    }

    /// The diff page of two stored versions; `versions` are the conversation's, for the picker.
    func page(
        old: StoredConstitution, new: StoredConstitution, versions: [StoredConstitution],
        context: AdminConversationContext
    ) throws -> Response {
        let conversation = context.conversation
        let before = try Constitution.decode(old.body)
        let after = try Constitution.decode(new.body)
        let diff = ConstitutionDiff(from: before, to: after)
        struct View: PageTemplate {
            static let template = "admin_diff"
            let organiserEmail, csrf, slug, title: String
            let from, to: Int
            let same: Bool
            /// Both versions are this conversation's: offer every pair of its versions.
            let picker: Bool
            let fromChoices, toChoices: [Choice]
            let parameterChanges: [ParameterChange]
            let snapshotChanges: [ParameterChange]
            let addedCount, removedCount, rewordedCount, rescoredCount: Int
            let added, removed, reworded, rescored: [ChangeView]
        }
        func choices(_ selected: Int) -> [Choice] {
            versions.map {
                Choice(
                    version: $0.version,
                    label: "version \($0.version), \(RunPages.date($0.createdAt)) (\($0.sha256.prefix(8)))",
                    selected: $0.version == selected)
            }
        }
        func views(_ changes: [ConstitutionDiff.Change]) -> [ChangeView] {
            changes.map {
                ChangeView(
                    statement: $0.key.replacingOccurrences(of: "statement ", with: "#"), before: $0.before,
                    after: $0.after, scoreBefore: Number($0.scoreBefore), scoreAfter: Number($0.scoreAfter))
            }
        }
        let view = View(
            organiserEmail: context.organiser.email, csrf: context.csrf, slug: conversation.slug,
            title: conversation.settings.title, from: old.version, to: new.version, same: old.id == new.id,
            picker: old.conversationID == conversation.id && new.conversationID == conversation.id,
            fromChoices: choices(old.version), toChoices: choices(new.version),
            parameterChanges: Self.changes(
                Self.parameterFacts(before.parameters), Self.parameterFacts(after.parameters)),
            snapshotChanges: Self.changes(Self.snapshotFacts(before), Self.snapshotFacts(after)),
            addedCount: diff.added.count, removedCount: diff.removed.count, rewordedCount: diff.reworded.count,
            rescoredCount: diff.rescored.count, added: views(diff.added), removed: views(diff.removed),
            reworded: views(diff.reworded), rescored: views(diff.rescored))
        return services.views.page(
            title: "\(conversation.settings.title): changes from version \(old.version) to \(new.version)", view,
            admin: true)
    }

    // MARK: Parameters and snapshots as named values

    /// The recorded compile parameters as named values, in the order people read them; the
    /// rule and its threshold go together as "selection" ("ccai 0.72").
    static func parameterFacts(_ parameters: CompileParameters?) -> [(name: String, value: String)] {
        guard let p = parameters else { return [("parameters", "not recorded")] }
        return [
            ("selection", "\(p.rule.rawValue) \(exact(p.threshold))"),
            ("votes needed in every group", "\(p.minimumVotesPerGroup)"),
            ("participants' minimum votes", "\(p.filters.minimumVotes)"),
            ("straight-liners left out", p.filters.straightLiningVotes.map { "over \($0) votes" } ?? "no"),
            ("flagged participants left out", p.filters.excludeFlagged == true ? "yes" : "no"),
            ("merge similarity", exact(p.mergeSimilarity)),
            ("merge share difference", exact(p.mergeShareDifference)),
            (
                "weighting",
                p.weighting.map { w in
                    w.targets.isEmpty
                        ? "on, no targets (cap \(exact(w.cap)))"
                        : "raked to the targets of \(w.targets.map(\.question).joined(separator: ", ")), cap \(exact(w.cap))"
                } ?? "no"
            ),
        ]
    }

    /// The votes a version came from.
    static func snapshotFacts(_ constitution: Constitution) -> [(name: String, value: String)] {
        guard let s = constitution.snapshot else { return [] }
        return [
            ("votes", "\(s.votes)"), ("participants", "\(s.participants)"), ("opinion groups", "\(s.groups)"),
            (
                "group sizes",
                s.groupSizes.enumerated().map { "\(ConstitutionCompiler.groupLetter($0.offset)) \($0.element)" }
                    .joined(separator: ", ")
            ),
            ("last vote event", "\(s.lastVoteEvent)"),
        ]
    }

    /// Each named value that differs, as `name: old → new`; a name on one side only shows
    /// "none" on the other.
    static func changes(_ old: [(name: String, value: String)], _ new: [(name: String, value: String)])
        -> [ParameterChange]
    {
        let before = Dictionary(old.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        var names = new.map(\.name)
        names += old.map(\.name).filter { !names.contains($0) }
        return names.compactMap { name in
            let was = before[name] ?? "none"
            let now = after[name] ?? "none"
            return was == now ? nil : ParameterChange(name: name, before: was, after: now)
        }
    }

    static func summary(_ r: CompileSummary) -> String {
        "\(r.participants) participants (\(r.removedForFewVotes) with too few votes and \(r.removedAsStraightLiners) "
            + "straight-liners\(r.removedAsFlagged.map { " and \($0) flagged participants" } ?? "") left out), "
            + "\(r.votes) votes, \(r.groups) opinion groups: \(r.statements) statements, \(r.eligible) eligible, "
            + "\(r.selected) selected, \(r.principles) principles after merging."
    }

    /// A parameter exactly as it was set ("0.72", "5").
    static func exact(_ value: Double) -> String {
        RunParameter.number(value).description
    }

    // MARK: Finding versions

    /// A version number from the path or the query; anything else is a 400 that says so.
    static func number(_ text: String, _ name: String) throws -> Int {
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)), number >= 1 else {
            throw AppError.badRequest(
                "'\(name)' must be a version number (1, 2, 3…), not \"\(text.prefix(40))\".")
        }
        return number
    }

    static func find(_ version: Int, in versions: [StoredConstitution]) throws -> StoredConstitution {
        guard let stored = versions.first(where: { $0.version == version }) else {
            let known = versions.map(\.version).sorted()
            let have =
                known.isEmpty
                ? "nothing is published yet"
                : known.count == 1
                    ? "only version \(known[0]) is published"
                    : "its versions are \(known[0]) to \(known[known.count - 1])"
            throw AppError(
                .notFound, code: "not_found",
                message: "There is no version \(version) of this conversation's constitution: \(have).")
        }
        return stored
    }
}
