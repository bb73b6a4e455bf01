import CharterCompiler
import CharterDomain
import CharterMath
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The opinion map, groups, consensus and statement table for organisers, as an HTML page and
/// as `GET /api/v1/conversations/{slug}/analysis`. Both serve the last stored analysis with its
/// age; neither waits for a computation.
struct AnalysisRoutes: Sendable {
    let services: AppServices
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]

    /// A conversation's moderators read the analysis, through the API and on the page.
    var apiRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("conversations/{slug}/analysis", use: analysis)
    }

    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/analysis", use: page)
            .get("conversations/{slug}/analysis/statements.csv", use: statementsCSV)
            .get("conversations/{slug}/analysis/participants.csv", use: participantsCSV)
    }

    /// One line on each measure, shown where the measure appears.
    static let measures: [(name: String, explanation: String)] = [
        (
            "Silhouette",
            "How well separated the opinion groups are, from −1 to 1: near 1, each participant is much closer to their own group than to the next; near 0, the groups blur."
        ),
        (
            "GAC",
            "Group-aware consensus: the product over groups of each group's (smoothed) agree share, so it is high only when every group agrees."
        ),
        (
            "CCAI score",
            "The CCAI study's selection score: the product over groups of each group's plain agree share; a statement needs it above the threshold in every group's name."
        ),
        (
            "Extremity",
            "How far the statement sits from the centre of the opinion map: high for statements that divide the groups."
        ),
    ]

    @Sendable func statementsCSV(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let result = try await storedResult(conversation)
        let texts = Dictionary(
            uniqueKeysWithValues: try await services.store.allStatements(conversationID: conversation.id).map {
                ($0.id, $0.text)
            })
        let sources = try await services.store.sourceIDs(conversationID: conversation.id)
        let csv = AnalysisCSV.statements(
            result, texts: texts, sources: sources.statements, groupLabel: ConstitutionCompiler.groupLetter)
        return Self.csv(csv, filename: "\(conversation.slug)-analysis-statements.csv")
    }

    @Sendable func participantsCSV(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let result = try await storedResult(conversation)
        let sources = try await services.store.sourceIDs(conversationID: conversation.id)
        let csv = AnalysisCSV.participants(
            result, sources: sources.participants, groupLabel: ConstitutionCompiler.groupLetter)
        return Self.csv(csv, filename: "\(conversation.slug)-analysis-participants.csv")
    }

    private func storedResult(_ conversation: Conversation) async throws -> AnalysisResult {
        guard let stored = try await services.store.latestAnalysis(conversationID: conversation.id) else {
            throw AppError(
                .notFound, code: "no_analysis",
                message: "There is no analysis of this conversation yet; it is computed once there are votes.")
        }
        return try ConversationAnalysis.decode(stored)
    }

    static func csv(_ text: String, filename: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Recomputing costs the server work, so it is the owners'.
    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("conversations/{slug}/analysis", use: recompute)
    }

    @Sendable func analysis(_ request: Request, context: ConversationContext) async throws -> Response {
        let conversation = context.conversation
        struct Body: Encodable {
            let status: String
            let computedAt: Date?
            let ageSeconds: Double?
            let voteCount: Int?
            let stale: Bool
            let analysis: AnalysisReport?
        }
        let last = try await services.store.lastVoteEvent(conversationID: conversation.id)
        guard let stored = try await services.store.latestAnalysis(conversationID: conversation.id) else {
            if last > 0 { services.analysis.conversationChanged(conversation.id) }
            return Response.json(
                Body(
                    status: "none", computedAt: nil, ageSeconds: nil, voteCount: nil, stale: last > 0, analysis: nil
                ))
        }
        let result = try ConversationAnalysis.decode(stored)
        let sources = try await services.store.sourceIDs(conversationID: conversation.id)
        let report = AnalysisReport(
            result, participantSources: sources.participants, statementSources: sources.statements,
            computedAt: stored.computedAt)
        let body = Body(
            status: "ready", computedAt: stored.computedAt,
            ageSeconds: max(0, Date().timeIntervalSince(stored.computedAt)),
            voteCount: stored.voteCount, stale: last > stored.lastVoteEvent, analysis: report)
        return Response.json(body)
    }

    @Sendable func recompute(_ request: Request, context: AdminConversationContext) async throws -> Response {
        _ = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let done = await services.analysis.analyze(conversation.id) != nil
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/analysis?done=\(done ? "recomputed" : "failed")")
    }

    static func letter(_ group: Int) -> String { ConstitutionCompiler.groupLetter(group) }

    struct GroupView {
        struct Line {
            let share, othersShare: Int
            let verb, text: String
        }
        let index: Int
        let letter: String
        let size: Int
        let representative: [Line]
    }

    struct ConsensusView {
        let share, count, total: Int
        let text: String
    }

    struct Column {
        let label, href: String
        let active: Bool
        let arrow: String
    }

    struct Row {
        let id: Int64
        let text: String
        let votes: Int
        let agreeShare: String
        let gac, gacExact, ccai, ccaiExact, extremity, extremityExact: String
        let moderatedOut: Bool
        let groupShares: [Share]
    }

    struct Share {
        let label, percent, exact: String
    }

    struct Measure {
        let name, explanation: String
    }

    struct MapPoint {
        let kind, label, x, y, detail: String
    }

    /// One demographic question's make-up of the sample and of each opinion group.
    struct CompositionView {
        struct Cell {
            let text: String
            let hidden: Bool
        }
        struct Row {
            let label: String
            let cells: [Cell]
        }
        struct TargetRow {
            let label, target, sample, difference: String
        }
        let key, question: String
        let columns: [String]
        let rows: [Row]
        let hasTargets: Bool
        let targetRows: [TargetRow]
    }

    struct PageView: PageTemplate {
        static let template = "admin_analysis"
        let organiserEmail, csrf, slug, title: String
        let notice: String?
        let ready: Bool
        let computing: Bool
        let age: String
        let voteCount, participantCount, statementCount, k: Int
        let stale: Bool
        let silhouettes: String
        let svg: String
        let groups: [GroupView]
        let consensusAgree, consensusDisagree: [ConsensusView]
        let columns: [Column]
        let rows: [Row]
        let measures: [Measure]
        let silhouetteExplanation: String
        let mapPoints: [MapPoint]
        let participantPointsListed: Bool
        let demographics: [CompositionView]
        let hasDemographics: Bool
    }

    @Sendable func page(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let organiser = context.organiser
        let csrf = context.csrf
        let store = services.store
        let stored = try await store.latestAnalysis(conversationID: conversation.id)
        let last = try await store.lastVoteEvent(conversationID: conversation.id)
        let notice = request.query["done"].map {
            $0 == "recomputed" ? "Analysis recomputed." : "The analysis failed; see the log."
        }
        guard let stored else {
            if last > 0 { services.analysis.conversationChanged(conversation.id) }
            let view = PageView(
                organiserEmail: organiser.email, csrf: csrf, slug: conversation.slug,
                title: conversation.settings.title,
                notice: notice, ready: false, computing: last > 0, age: "", voteCount: 0, participantCount: 0,
                statementCount: 0, k: 0, stale: false, silhouettes: "", svg: "", groups: [], consensusAgree: [],
                consensusDisagree: [], columns: [], rows: [], measures: [], silhouetteExplanation: "", mapPoints: [],
                participantPointsListed: false, demographics: [], hasDemographics: false)
            return services.views.page(title: "Opinion map", view, admin: true)
        }
        let result = try ConversationAnalysis.decode(stored)
        let texts = Dictionary(
            uniqueKeysWithValues: try await store.allStatements(conversationID: conversation.id).map {
                ($0.id, $0.text)
            })
        func text(_ id: Int64) -> String { texts[id] ?? "statement \(id)" }
        func percent(_ p: Double) -> Int { Int((p * 100).rounded()) }

        let groups = result.groups.map { group in
            GroupView(
                index: group.id, letter: Self.letter(group.id), size: group.size,
                representative: group.representative.map {
                    .init(
                        share: percent($0.probability), othersShare: percent($0.othersProbability),
                        verb: $0.direction == .agree ? "agree" : "disagree", text: text($0.statement))
                })
        }
        let consensus = { (list: [AnalysisResult.ConsensusStatement]) in
            list.map {
                ConsensusView(
                    share: percent($0.probability), count: $0.count, total: $0.total, text: text($0.statement))
            }
        }

        let sortKeys = ["id", "text", "votes", "agree", "gac", "ccai", "extremity"]
        let sort = request.query["sort"].flatMap { sortKeys.contains($0) ? $0 : nil } ?? "gac"
        let ascending = request.query["dir"] == "asc"
        var statements = result.statements
        statements.sort { a, b in
            let order: Bool? =
                switch sort {
                case "id": a.id == b.id ? nil : a.id < b.id
                case "text": text(a.id) == text(b.id) ? nil : text(a.id) < text(b.id)
                case "votes": a.votes == b.votes ? nil : a.votes < b.votes
                case "agree":
                    Self.share(a.agree, a.votes) == Self.share(b.agree, b.votes)
                        ? nil : Self.share(a.agree, a.votes) < Self.share(b.agree, b.votes)
                case "ccai": a.ccaiAgreeProduct == b.ccaiAgreeProduct ? nil : a.ccaiAgreeProduct < b.ccaiAgreeProduct
                case "extremity": a.extremity == b.extremity ? nil : a.extremity < b.extremity
                default: a.gac == b.gac ? nil : a.gac < b.gac
                }
            guard let order else { return a.id < b.id }
            return ascending ? order : !order
        }
        let base = "/admin/conversations/\(conversation.slug)/analysis"
        let labels = [
            "id": "#", "text": "Statement", "votes": "Votes", "agree": "Agree", "gac": "GAC",
            "ccai": "CCAI score", "extremity": "Extremity",
        ]
        let columns = sortKeys.map { key in
            Column(
                label: labels[key]!,
                href: "\(base)?sort=\(key)&dir=\(key == sort && !ascending ? "asc" : "desc")",
                active: key == sort, arrow: ascending ? "▲" : "▼")
        }
        let rows = statements.map { s in
            Row(
                id: s.id, text: text(s.id), votes: s.votes,
                agreeShare: ReadableNumbers.percent(Self.share(s.agree, s.votes)),
                gac: ReadableNumbers.significant(s.gac), gacExact: ReadableNumbers.exact(s.gac),
                ccai: ReadableNumbers.significant(s.ccaiAgreeProduct),
                ccaiExact: ReadableNumbers.exact(s.ccaiAgreeProduct),
                extremity: ReadableNumbers.significant(s.extremity, digits: 2),
                extremityExact: ReadableNumbers.exact(s.extremity), moderatedOut: s.moderatedOut,
                groupShares: s.groupVotes.enumerated().map { index, votes in
                    let share = votes.votes == 0 ? nil : Self.share(votes.agree, votes.votes)
                    return Share(
                        label: Self.letter(index), percent: ReadableNumbers.percent(share),
                        exact: share.map { "\(votes.agree) of \(votes.votes) agree (\($0))" } ?? "no votes")
                })
        }
        let listed = result.participants.count <= OpinionMap.focusableParticipants
        let compositions = Self.compositions(
            result, settings: try await store.demographics(conversationID: conversation.id),
            answers: try await store.demographicAnswers(conversationID: conversation.id),
            language: conversation.settings.language)
        var mapPoints = result.groups.map { group in
            let centre = OpinionMap.centre(of: group.id, in: result)
            return MapPoint(
                kind: "group", label: Self.letter(group.id), x: ReadableNumbers.significant(centre?.x),
                y: ReadableNumbers.significant(centre?.y), detail: "\(group.size) participants")
        }
        mapPoints += result.statements.filter { !$0.moderatedOut }.sorted { $0.id < $1.id }.map { s in
            MapPoint(
                kind: "statement", label: "#\(s.id)", x: ReadableNumbers.significant(s.x),
                y: ReadableNumbers.significant(s.y), detail: text(s.id))
        }
        if listed {
            mapPoints += result.participants.map { p in
                MapPoint(
                    kind: "participant", label: "participant \(p.id)", x: ReadableNumbers.significant(p.x),
                    y: ReadableNumbers.significant(p.y),
                    detail: p.group.map { "group \(Self.letter($0))" } ?? "not clustered")
            }
        }
        let view = PageView(
            organiserEmail: organiser.email, csrf: csrf, slug: conversation.slug, title: conversation.settings.title,
            notice: notice, ready: true, computing: false, age: Self.age(Date().timeIntervalSince(stored.computedAt)),
            voteCount: stored.voteCount, participantCount: result.participantCount,
            statementCount: result.statementCount,
            k: result.k, stale: last > stored.lastVoteEvent,
            silhouettes: result.silhouettes.map {
                "k=\($0.k): \(ReadableNumbers.significant($0.silhouette, digits: 2))"
            }
            .joined(separator: ", "),
            svg: OpinionMap.svg(result, text: text), groups: groups, consensusAgree: consensus(result.consensus.agree),
            consensusDisagree: consensus(result.consensus.disagree), columns: columns, rows: rows,
            measures: Self.measures.dropFirst().map { Measure(name: $0.name, explanation: $0.explanation) },
            silhouetteExplanation: Self.measures[0].explanation, mapPoints: mapPoints,
            participantPointsListed: listed, demographics: compositions, hasDemographics: !compositions.isEmpty)
        return services.views.page(title: "Opinion map", view, admin: true)
    }

    static func share(_ count: Int, _ total: Int) -> Double { total == 0 ? 0 : Double(count) / Double(total) }

    /// Each demographic question's make-up of the analysed participants and of each group, and
    /// the sample against the organiser's target shares; cells of fewer than 5 participants
    /// read "fewer than 5" (see `DemographicComposition`).
    static func compositions(
        _ result: AnalysisResult, settings: DemographicsSettings, answers: [Int64: [String: String]],
        language: String
    ) -> [CompositionView] {
        let participants = result.participants.map(\.id)
        let groups = result.groups.map(\.members)
        let hidden = "fewer than \(DemographicComposition.minimumCell)"
        func percent(_ share: Double) -> String { ReadableNumbers.percent(share) }
        return settings.questions.map { question in
            let composition = DemographicComposition.compute(
                question: question, answers: answers, participants: participants, groups: groups)
            let labels =
                question.options.map { DemographicsSettings.text($0.label, language: language, fallback: language) }
                + ["Prefer not to say", "No answer"]
            let columns =
                ["All participants (\(composition.columnTotals.first ?? 0))"]
                + result.groups.indices.map { g in
                    "Group \(letter(g)) (\(g + 1 < composition.columnTotals.count ? composition.columnTotals[g + 1] : 0))"
                }
            let rows = composition.cells.enumerated().map { r, cells in
                CompositionView.Row(
                    label: r < labels.count ? labels[r] : composition.rows[r],
                    cells: cells.enumerated().map { c, count in
                        guard let count else { return CompositionView.Cell(text: hidden, hidden: true) }
                        let total = c < composition.columnTotals.count ? composition.columnTotals[c] : 0
                        return CompositionView.Cell(text: "\(count) (\(percent(share(count, total))))", hidden: false)
                    })
            }
            var targetRows: [CompositionView.TargetRow] = []
            if let targets = question.targets {
                for (r, option) in question.options.enumerated() {
                    let target = targets[option.key] ?? 0
                    let sample = composition.answeredShare(row: r)
                    let difference = sample.map { (($0 - target) * 100) }
                    targetRows.append(
                        .init(
                            label: labels[r], target: percent(target), sample: sample.map(percent) ?? hidden,
                            difference: difference.map { String(format: "%+.1f points", $0) } ?? hidden))
                }
            }
            return CompositionView(
                key: question.key,
                question: DemographicsSettings.text(question.text, language: language, fallback: language),
                columns: columns, rows: rows, hasTargets: question.targets != nil, targetRows: targetRows)
        }
    }

    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        if s < 172_800 { return "\(s / 3600) h" }
        return "\(s / 86400) days"
    }
}

/// The opinion map as SVG, built with presentation attributes only (the CSP allows no inline
/// styles) and every text escaped.
enum OpinionMap {
    static func svg(_ result: AnalysisResult, text: (Int64) -> String) -> String {
        let width = 640.0
        let height = 420.0
        let pad = 24.0
        let points = result.participants
        let xs = points.map(\.x) + result.statements.filter { !$0.moderatedOut }.map(\.x)
        let ys = points.map(\.y) + result.statements.filter { !$0.moderatedOut }.map(\.y)
        let minX = xs.min() ?? -1
        let maxX = xs.max() ?? 1
        let minY = ys.min() ?? -1
        let maxY = ys.max() ?? 1
        let spanX = max(maxX - minX, 1e-9)
        let spanY = max(maxY - minY, 1e-9)
        func sx(_ x: Double) -> String { String(format: "%.1f", pad + (x - minX) / spanX * (width - 2 * pad)) }
        func sy(_ y: Double) -> String {
            String(format: "%.1f", height - pad - (y - minY) / spanY * (height - 2 * pad))
        }
        // The map is a group of focusable marks, each with its text as its accessible name, so
        // it reads with a keyboard and a screen reader; the table beside it lists the same.
        var out =
            #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(Int(width)) \#(Int(height))" role="group" aria-label="Opinion map: participants, opinion groups and numbered statements">"#
        let focusable = points.count <= focusableParticipants
        for p in points {
            let color = p.group.map { AnalysisRoutes.palette[$0 % AnalysisRoutes.palette.count] } ?? "#b0b7bf"
            let label =
                "participant \(p.id), \(p.group.map { "group \(AnalysisRoutes.letter($0))" } ?? "not clustered"), \(p.voteCount) votes"
            let focus = focusable ? #" tabindex="0" role="img" aria-label="\#(escape(label))""# : ""
            out +=
                #"<circle class="mark" cx="\#(sx(p.x))" cy="\#(sy(p.y))" r="2.5" fill="\#(color)" fill-opacity="0.55"\#(focus)><title>\#(escape(label))</title></circle>"#
        }
        for group in result.groups {
            guard let (cx, cy) = centre(of: group.id, in: result) else { continue }
            let color = AnalysisRoutes.palette[group.id % AnalysisRoutes.palette.count]
            let label = "group \(AnalysisRoutes.letter(group.id)): \(group.size) participants"
            out +=
                #"<g class="mark" tabindex="0" role="img" aria-label="\#(label)"><title>\#(label)</title><circle cx="\#(sx(cx))" cy="\#(sy(cy))" r="14" fill="none" stroke="\#(color)" stroke-width="3"/>"#
            out +=
                #"<text x="\#(sx(cx))" y="\#(sy(cy))" dy="5" text-anchor="middle" font-size="14" font-weight="bold" fill="\#(color)" aria-hidden="true">\#(AnalysisRoutes.letter(group.id))</text></g>"#
        }
        for s in result.statements where !s.moderatedOut {
            let label = "statement \(s.id): \(text(s.id)) · GAC \(ReadableNumbers.significant(s.gac))"
            out +=
                #"<g class="mark" tabindex="0" role="img" aria-label="\#(escape(label))"><title>\#(escape(label))</title><rect x="\#(sx(s.x))" y="\#(sy(s.y))" width="5" height="5" transform="translate(-2.5 -2.5)" fill="black" fill-opacity="0.6"/>"#
            out +=
                #"<text x="\#(sx(s.x))" y="\#(sy(s.y))" dx="4" dy="-4" font-size="10" fill="dimgray" aria-hidden="true">\#(s.id)</text></g>"#
        }
        return out + "</svg>"
    }

    /// Up to this many participants, each point is a focusable mark and a row of the table;
    /// beyond it a keyboard would tab through thousands, so the groups stand for them and the
    /// participants' CSV report lists every point.
    static let focusableParticipants = 300

    static func centre(of group: Int, in result: AnalysisResult) -> (x: Double, y: Double)? {
        let members = result.participants.filter { $0.group == group }
        guard !members.isEmpty else { return nil }
        return (
            members.map(\.x).reduce(0, +) / Double(members.count),
            members.map(\.y).reduce(0, +) / Double(members.count)
        )
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
