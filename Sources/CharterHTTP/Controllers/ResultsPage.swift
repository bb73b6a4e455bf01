import CharterCompiler
import CharterDomain
import CharterMath
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The participants' results (`GET /c/{slug}/results`): the opinion groups in plain words, the
/// reader's own group, what every group agreed on, the opinion map with the reader marked, and
/// the published constitution with each principle's provenance. Read from the last stored
/// analysis and published version, never computed in the request; plain HTML, no JavaScript.
///
/// Open to everyone when the organiser made the results public, otherwise to a participant who
/// has voted on every statement shown (or on any, once the conversation has closed). Looking
/// never makes a participant.
struct ResultsPage: Sendable {
    let services: AppServices

    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("{slug}/results", use: show)
            .get("{slug}/results/constitution", use: constitution)
    }

    /// How many statements each list shows.
    static let representativeCount = 3
    static let consensusCount = 5

    /// The one place the results choose the text a statement is shown in: the organisers'
    /// translation into the reader's language when there is one, else the statement as written.
    struct ShownTexts {
        let conversation: Conversation
        let language: String
        let translations: [Int64: [StatementTranslation]]

        func callAsFunction(_ statement: Statement) -> String {
            guard statement.language(in: conversation) != language,
                let translation = translations[statement.id]?.first(where: { $0.language == language })
            else { return statement.text }
            return translation.text
        }
    }

    // MARK: View models

    struct StatementLine {
        let text: String
        let share: String
    }

    struct GroupView {
        let index: Int
        let letter: String
        let heading: String
        let yours: Bool
        let agreedIntro: String
        let agreed: [StatementLine]
        let hasAgreed: Bool
        let disagreedIntro: String
        let disagreed: [StatementLine]
        let hasDisagreed: Bool
    }

    struct ConsensusView {
        let text: String
        let shares: String
    }

    struct TableRow {
        let group: String
        let size: Int
        let yours: Bool
    }

    struct Figure {
        let name: String
        let value: Int
    }

    struct PrincipleView {
        let text: String
        let sources: [String]
        let hasSources: Bool
        let support: String?
    }

    struct FormatLink {
        let href: String
        let label: String
    }

    struct ConstitutionView {
        let name: String
        let intro: String
        let principles: [PrincipleView]
        let formats: [FormatLink]
    }

    struct PageView: PageTemplate {
        static let template = "results"
        let heading: String
        let question: String
        let backLink: String
        let ready: Bool
        let figures: [Figure]
        let youGroup: String?
        let youNote: String?
        let youPending: String?
        let svg: String
        let tableRows: [TableRow]
        let groups: [GroupView]
        let consensus: [ConsensusView]
        let constitution: ConstitutionView?
        let t: [String: String]
    }

    struct LockedView: PageTemplate {
        static let template = "results_locked"
        let heading: String
        let backLink: String
        let t: [String: String]
    }

    // MARK: Access

    /// Who reads the results, and whether they may.
    struct Reader {
        let participant: Participant?
        /// Votes on statements currently shown.
        let voted: Int
        let allowed: Bool
        /// The query values (xid, sig) links back to the conversation carry on.
        let hidden: [Views.HiddenField]
    }

    func reader(_ request: Request, conversation: Conversation) async throws -> Reader {
        let store = services.store
        let xid = request.query["xid"]
        let sig = request.query["sig"]
        let identity = try await services.identities.forReading(
            request, conversation: conversation, xid: xid, sig: sig)
        var participant: Participant?
        if let identity {
            participant = try await store.existingParticipant(conversationID: conversation.id, identity: identity)
        }
        var voted = 0
        var finished = false
        if let participant {
            voted = try await store.progress(conversationID: conversation.id, participantID: participant.id).voted
            if voted > 0, conversation.isOpen(at: Date()) {
                finished = try await store.unvotedStatements(
                    conversationID: conversation.id, participantID: participant.id
                ).isEmpty
            } else if voted > 0 {
                finished = true
            }
        }
        var hidden: [Views.HiddenField] = []
        if let xid, !xid.isEmpty {
            hidden.append(.init(name: "xid", value: xid))
            if let sig, !sig.isEmpty { hidden.append(.init(name: "sig", value: sig)) }
        }
        return Reader(
            participant: participant, voted: voted, allowed: conversation.settings.resultsPublic || finished,
            hidden: hidden)
    }

    // MARK: The page

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let language = services.language(request, conversation: conversation)
        let reader = try await reader(request, conversation: conversation)
        let base = "/c/\(conversation.slug)"
        let heading = language.text("results_title", ["title": conversation.settings.title])
        let languageSwitch = services.views.languageSwitch(
            language, action: "\(base)/results", hidden: reader.hidden)
        var response: Response
        if reader.allowed {
            let view = try await page(conversation, reader: reader, language: language, heading: heading)
            response = services.views.page(
                title: heading, view, language: language, languageSwitch: languageSwitch)
        } else {
            response = services.views.page(
                title: language.text("results_locked_title"),
                LockedView(
                    heading: language.text("results_locked_title"),
                    backLink: ParticipantPages.link(base, reader.hidden),
                    t: language.texts),
                status: .forbidden, language: language, languageSwitch: languageSwitch)
        }
        services.rememberLanguage(request, language, in: &response)
        return response
    }

    private func page(_ conversation: Conversation, reader: Reader, language: Language, heading: String)
        async throws -> PageView
    {
        let store = services.store
        let base = "/c/\(conversation.slug)"
        var statements: [Int64: Statement] = [:]
        for statement in try await store.allStatements(conversationID: conversation.id)
        where conversation.shows(statement) {
            statements[statement.id] = statement
        }
        let shown = ShownTexts(
            conversation: conversation, language: language.code,
            translations: try await store.translations(conversationID: conversation.id))
        let published = try await publishedConstitution(conversation)
        let constitution = published.map {
            constitutionView(
                $0.stored, $0.constitution, conversation: conversation, statements: statements, reader: reader,
                language: language, shown: shown)
        }
        let stored = try await store.latestAnalysis(conversationID: conversation.id)
        guard let stored, let result = try? ConversationAnalysis.decode(stored) else {
            if try await store.lastVoteEvent(conversationID: conversation.id) > 0 {
                services.analysis.conversationChanged(conversation.id)
            }
            return PageView(
                heading: heading, question: conversation.settings.question,
                backLink: ParticipantPages.link(base, reader.hidden),
                ready: false, figures: [], youGroup: nil, youNote: nil, youPending: nil, svg: "", tableRows: [],
                groups: [], consensus: [], constitution: constitution, t: language.texts)
        }
        func text(_ id: Int64) -> String? { statements[id].map { shown($0) } }
        func percent(_ count: Int, _ total: Int) -> String {
            String(Int((Double(count) / Double(max(total, 1)) * 100).rounded()))
        }

        // The reader's place in the analysis.
        let point = reader.participant.flatMap { participant in result.participants.first { $0.id == participant.id } }
        let yourGroup = point?.group
        var youGroup: String?
        var youNote: String?
        var youPending: String?
        if reader.participant != nil, reader.voted > 0 {
            if let yourGroup {
                youGroup = language.text("results_you_group", ["group": ConstitutionCompiler.groupLetter(yourGroup)])
            }
            let counted = point.map { $0.voteCount >= reader.voted } ?? false
            if !counted {
                youPending = language.text("results_you_pending")
            } else if yourGroup == nil {
                let needed = min(Analyzer.votesToBeClustered, max(result.statementCount, 1))
                youNote = language.count("results_you_unclustered", needed)
            }
        }

        let groups = result.groups.map { group in
            let letter = ConstitutionCompiler.groupLetter(group.id)
            let top = group.representative.enumerated()
                .filter { statements[$0.element.statement] != nil && $0.element.total > 0 }
                .sorted {
                    $0.element.repness != $1.element.repness
                        ? $0.element.repness > $1.element.repness : $0.offset < $1.offset
                }
                .prefix(Self.representativeCount).map(\.element)
            func lines(_ direction: AnalysisResult.Direction, _ key: String) -> [StatementLine] {
                top.filter { $0.direction == direction }.compactMap { rep in
                    text(rep.statement).map {
                        StatementLine(
                            text: $0,
                            share: language.text(key, ["percent": percent(rep.count, rep.total), "group": letter]))
                    }
                }
            }
            let agreed = lines(.agree, "results_group_share_agree")
            let disagreed = lines(.disagree, "results_group_share_disagree")
            return GroupView(
                index: group.id % AnalysisRoutes.palette.count, letter: letter,
                heading: language.count("results_group_heading", group.size, ["group": letter]),
                yours: group.id == yourGroup,
                agreedIntro: language.text("results_group_agreed", ["group": letter]), agreed: agreed,
                hasAgreed: !agreed.isEmpty,
                disagreedIntro: language.text("results_group_disagreed", ["group": letter]), disagreed: disagreed,
                hasDisagreed: !disagreed.isEmpty)
        }

        // What every group agreed on: a majority of every group, by group-aware consensus.
        let groupCount = result.groups.count
        let consensus =
            result.statements
            .filter { s in
                groupCount > 0 && !s.moderatedOut && statements[s.id] != nil && s.groupVotes.count == groupCount
                    && s.groupVotes.allSatisfy { $0.votes > 0 && 2 * $0.agree > $0.votes }
            }
            .sorted { $0.gac != $1.gac ? $0.gac > $1.gac : $0.id < $1.id }
            .prefix(Self.consensusCount)
            .compactMap { s in
                text(s.id).map {
                    ConsensusView(
                        text: $0,
                        shares: s.groupVotes.enumerated().map { index, votes in
                            language.text(
                                "results_share",
                                [
                                    "group": ConstitutionCompiler.groupLetter(index),
                                    "percent": percent(votes.agree, votes.votes),
                                ])
                        }.joined(separator: " · "))
                }
            }

        var descriptionParts = [language.text("results_map_desc")]
        if point != nil { descriptionParts.append(language.text("results_map_you_desc")) }
        if result.participants.count > ResultsMap.dotLimit {
            descriptionParts.append(language.text("results_map_many"))
        }
        let svg = ResultsMap.svg(
            result, you: point?.id,
            texts: .init(
                title: language.text("results_map_title"), description: descriptionParts.joined(separator: " "),
                you: language.text("results_map_you")))
        var tableRows = result.groups.map {
            TableRow(group: ConstitutionCompiler.groupLetter($0.id), size: $0.size, yours: $0.id == yourGroup)
        }
        let unclustered = result.participants.filter { $0.group == nil }.count
        if unclustered > 0 {
            tableRows.append(
                TableRow(
                    group: language.text("results_map_unclustered"), size: unclustered,
                    yours: point != nil && yourGroup == nil))
        }
        let figures = [
            Figure(name: language.text("results_figure_participants"), value: result.participantCount),
            Figure(name: language.text("results_figure_votes"), value: result.voteCount),
            Figure(name: language.text("results_figure_statements"), value: result.statementCount),
            Figure(name: language.text("results_figure_groups"), value: groupCount),
        ]
        return PageView(
            heading: heading, question: conversation.settings.question,
            backLink: ParticipantPages.link(base, reader.hidden),
            ready: true, figures: figures, youGroup: youGroup, youNote: youNote, youPending: youPending, svg: svg,
            tableRows: tableRows, groups: groups, consensus: consensus, constitution: constitution,
            t: language.texts)
    }

    // MARK: The constitution

    /// The newest published version, when it reads.
    private func publishedConstitution(_ conversation: Conversation) async throws
        -> (stored: StoredConstitution, constitution: Constitution)?
    {
        guard let stored = try await services.store.constitutions(conversationID: conversation.id).first,
            let constitution = try? Constitution.decode(stored.body)
        else { return nil }
        return (stored, constitution)
    }

    private func constitutionView(
        _ stored: StoredConstitution, _ constitution: Constitution, conversation: Conversation,
        statements: [Int64: Statement], reader: Reader, language: Language, shown: ShownTexts
    ) -> ConstitutionView {
        let principles = constitution.principles.map { principle in
            // A source reads as published; in the reader's language when its statement still
            // has the wording it was published with.
            let sources = (principle.sources ?? []).map { source in
                statements[source.statement].flatMap { $0.text == source.text ? shown($0) : nil }
                    ?? source.text
            }
            let support = principle.groupAgreeShares.flatMap { shares -> String? in
                guard !shares.isEmpty else { return nil }
                return shares.enumerated().map { index, share in
                    language.text(
                        "results_share",
                        [
                            "group": ConstitutionCompiler.groupLetter(index),
                            "percent": String(Int((share * 100).rounded())),
                        ])
                }.joined(separator: " · ")
            }
            return PrincipleView(text: principle.text, sources: sources, hasSources: !sources.isEmpty, support: support)
        }
        let path = "/c/\(conversation.slug)/results/constitution"
        let formats: [(ConstitutionFormat, String)] = [
            (.md, "results_format_md"), (.txt, "results_format_txt"), (.json, "results_format_json"),
        ]
        return ConstitutionView(
            name: constitution.name,
            intro: language.text("results_constitution_intro", ["version": String(stored.version)]),
            principles: principles,
            formats: formats.map { format, key in
                FormatLink(
                    href: ParticipantPages.link(path, reader.hidden + [.init(name: "format", value: format.rawValue)]),
                    label: language.text(key))
            })
    }

    /// The newest published constitution as a file, for whoever may read the results.
    @Sendable func constitution(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let reader = try await reader(request, conversation: conversation)
        guard reader.allowed else {
            throw AppError(
                .forbidden, code: "results_locked",
                message: "The results of this conversation are not open to you yet.")
        }
        let name = request.query["format"] ?? "md"
        guard let format = ConstitutionFormat(rawValue: name) else {
            throw AppError.badRequest("format must be json, md, cai or txt.")
        }
        guard let published = try await publishedConstitution(conversation) else {
            throw CharterError.notFound("Constitution")
        }
        let data = try published.constitution.rendered(format)
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType,
                .contentDisposition:
                    "attachment; filename=\"\(conversation.slug)-v\(published.stored.version)-\(format.fileName)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
