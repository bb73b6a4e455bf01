import CharterDomain
import CharterStore
import Foundation
import Testing

extension StoreContract {
    static let extended: [StoreRequirement] = participants + access + analysis + constitutions + runs + races

    static let participants: [StoreRequirement] = [
        // The back end's query for what participants see must say what `Conversation.shows` says,
        // for every moderation state, meta or not, strict or not.
        StoreRequirement("theVisibleStatementsAreExactlyTheOnesTheConversationShows") { f in
            for strict in [false, true] {
                let c = try await f.conversation(strict ? "strict" : "open", strict: strict)
                let seeded = try await f.seed(c, ["Accepted", "Rejected", "Meta", "Meta rejected"])
                var pending: [Statement] = []
                for text in ["Pending", "Pending meta", "Pending accepted"] {
                    pending.append(
                        try await f.store.submitStatement(
                            conversationID: c.id, participant: .anonymous("author-\(text)"), text: text, at: Date()))
                }
                for (ids, action) in [
                    ([seeded[1].id, seeded[3].id], ModerationAction.reject(reason: "")),
                    ([seeded[2].id, seeded[3].id, pending[1].id], .markMeta(true)),
                    ([pending[2].id], .accept),
                ] {
                    _ = try await f.store.moderate(
                        statementIDs: ids, conversationID: c.id, action: action, by: f.organiser)
                }
                let conversation = try #require(try await f.store.conversation(id: c.id))
                let all = try await f.store.allStatements(conversationID: c.id)
                let visible = try await f.store.visibleStatements(conversationID: c.id)
                #expect(visible.map(\.id) == all.filter(conversation.shows).map(\.id), "strict: \(strict)")
                let unvoted = try await f.store.unvotedStatements(conversationID: c.id, participantID: nil)
                #expect(Set(unvoted.map(\.id)) == Set(visible.map(\.id)))
                let progress = try await f.store.progress(conversationID: c.id, participantID: nil)
                #expect(progress.total == visible.count)
            }
        },

        StoreRequirement("participantsAreListedFoundAndFlaggedForFastVoting") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, (1...12).map { "Statement \($0)" })
            let at = Date()
            // Twelve votes in the same instant: eleven came too fast to have been read.
            for statement in s {
                _ = try await f.store.castVote(
                    conversationID: c.id, participant: .anonymous("hurried"), statementID: statement.id,
                    value: .agree, at: at)
            }
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("careful"), statementID: s[0].id, value: .pass, at: at)
            let all = try await f.store.participants(conversationID: c.id)
            #expect(all.count == 2)
            let hurried = try #require(
                try await f.store.existingParticipant(conversationID: c.id, identity: .anonymous("hurried")))
            let byID = try await f.store.participant(id: hurried.id)
            #expect(byID == hurried)
            #expect(try await f.store.participant(id: 987_654) == nil)
            let flagged = try await f.store.flaggedParticipants(conversationID: c.id)
            #expect(flagged.map(\.participant.id) == [hurried.id])
            #expect(flagged.first?.votes == 12 && (flagged.first?.fastVotes ?? 0) >= 10)
            let events = try await f.store.lastVoteEvent(conversationID: c.id)
            #expect(events > 0)
        },

        StoreRequirement("joinersKeepTheirFirstOrigin") { f in
            let c = try await f.conversation()
            let p = try await f.store.participant(conversationID: c.id, identity: .anonymous("b1"))
            let q = try await f.store.participant(conversationID: c.id, identity: .anonymous("b2"))
            try await f.store.recordParticipantOrigin(participantID: p.id, addressKey: "first")
            try await f.store.recordParticipantOrigin(participantID: p.id, addressKey: "second")
            try await f.store.recordParticipantOrigin(participantID: q.id, addressKey: "first")
            let joiners = try await f.store.joiners(conversationID: c.id)
            #expect(joiners.count == 2)
            #expect(Set(joiners.compactMap(\.address)) == ["first"])
        },

        StoreRequirement("panelIDsBindReleaseAndFollowTheAllowList") { f in
            let c = try await f.conversation()
            let first = try await f.store.bindXID(conversationID: c.id, xid: "panel-1", binder: "browser-a")
            #expect(first.created && first.held)
            let same = try await f.store.bindXID(conversationID: c.id, xid: "panel-1", binder: "browser-a")
            #expect(!same.created && same.held && same.participant.id == first.participant.id)
            let other = try await f.store.bindXID(conversationID: c.id, xid: "panel-1", binder: "browser-b")
            #expect(!other.held)
            #expect(try await f.store.xidBinder(conversationID: c.id, xid: "panel-1") == "browser-a")
            #expect(try await f.store.releaseXID(conversationID: c.id, xid: "panel-1", by: f.organiser))
            #expect(try await !f.store.releaseXID(conversationID: c.id, xid: "panel-1", by: f.organiser))
            let rebound = try await f.store.bindXID(conversationID: c.id, xid: "panel-1", binder: "browser-b")
            #expect(rebound.held && rebound.participant.id == first.participant.id)

            try await f.store.setAllowedXIDs(conversationID: c.id, xids: ["a", "b", "c"], by: f.organiser)
            #expect(try await f.store.allowedXIDCount(conversationID: c.id) == 3)
            #expect(try await f.store.isXIDAllowed(conversationID: c.id, xid: "b"))
            #expect(try await !f.store.isXIDAllowed(conversationID: c.id, xid: "z"))
            try await f.store.setAllowedXIDs(conversationID: c.id, xids: ["z"], by: f.organiser)
            #expect(try await f.store.allowedXIDCount(conversationID: c.id) == 1)
            #expect(try await !f.store.isXIDAllowed(conversationID: c.id, xid: "b"))
            let actions = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50).items.map(\.action)
            #expect(actions.contains(AuditAction.participantRelease.rawValue))
            #expect(actions.filter { $0 == AuditAction.conversationAllowList.rawValue }.count == 2)
        },
    ]

    static let access: [StoreRequirement] = [
        StoreRequirement("rolesAreGivenTakenAndTheLastOwnerStays") { f in
            let first = try await f.store.createOrganiser(email: "first@example.org", passwordHash: "h")
            #expect(first.isAdmin)
            let owner = try await f.store.createOrganiser(email: "owner@example.org", passwordHash: "h")
            let helper = try await f.store.createOrganiser(email: "helper@example.org", passwordHash: "h")
            #expect(!owner.isAdmin)
            let c = try await f.conversation()
            let by = Actor(first)
            try await f.store.setMembership(conversationID: c.id, organiserID: owner.id, role: .owner, by: by)
            try await f.store.setMembership(conversationID: c.id, organiserID: helper.id, role: .moderator, by: by)
            #expect(try await f.store.membership(conversationID: c.id, organiserID: helper.id) == .moderator)
            #expect(try await f.store.role(of: first, conversationID: c.id) == .owner)
            let members = try await f.store.members(conversationID: c.id)
            #expect(
                Set(members.map { "\($0.0.email) \($0.1.rawValue)" }).isSuperset(of: [
                    "owner@example.org owner", "helper@example.org moderator",
                ]))
            #expect(try await f.store.memberConversationIDs(organiserID: helper.id) == [c.id])
            try await f.store.setMembership(conversationID: c.id, organiserID: helper.id, role: nil, by: by)
            #expect(try await f.store.membership(conversationID: c.id, organiserID: helper.id) == nil)
            let owners = try await f.store.members(conversationID: c.id).filter { $0.1 == .owner }
            for (index, member) in owners.enumerated() {
                if index == owners.count - 1 {
                    await #expect(throws: CharterError.self) {
                        try await f.store.setMembership(
                            conversationID: c.id, organiserID: member.0.id, role: nil, by: by)
                    }
                } else {
                    try await f.store.setMembership(conversationID: c.id, organiserID: member.0.id, role: nil, by: by)
                }
            }
            try await f.store.setAdmin(organiserID: helper.id, isAdmin: true, by: by)
            let everyone = try await f.store.organisers()
            #expect(everyone.count == 3 && everyone.first { $0.id == helper.id }?.isAdmin == true)
            #expect(try await f.store.organiser(id: owner.id)?.email == "owner@example.org")
        },

        StoreRequirement("theAuditLogPagesNewestFirstAndSettingsCanBeRemoved") { f in
            let c = try await f.conversation()
            _ = try await f.seed(c, (1...7).map { "Line \($0)" })
            let page = try await f.store.auditLog(conversationID: nil, offset: 2, limit: 3)
            #expect(page.total == 8 && page.items.count == 3)
            let all = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50).items
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.createdAt >= $1.createdAt && $0.id > $1.id })
            #expect(all.last?.action == AuditAction.conversationCreate.rawValue)
            _ = try await f.store.settingInsertingIfAbsent("old-secret", value: "x")
            try await f.store.deleteSetting("old-secret")
            #expect(try await f.store.setting("old-secret") == nil)
            let counts = try await f.store.counts()
            #expect(counts == StoreCounts(conversations: 1, participants: 0, statements: 7, votes: 0))
        },
    ]

    static let analysis: [StoreRequirement] = [
        StoreRequirement("theAnalysisSnapshotIsTheCurrentVotesAndAnalysesAreKept") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B", "C"])
            _ = try await f.store.moderate(
                statementIDs: [s[2].id], conversationID: c.id, action: .reject(reason: ""), by: f.organiser)
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[0].id, value: .agree, at: Date())
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[0].id, value: .disagree,
                at: Date())
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("q"), statementID: s[1].id, value: .pass, at: Date())
            let snapshot = try await f.store.analysisSnapshot(conversationID: c.id)
            #expect(snapshot.participants.count == 2 && snapshot.values.count == 2)
            #expect(Set(snapshot.values) == [-1, 0])
            #expect(snapshot.rejected == [s[2].id])
            let last = try await f.store.lastVoteEvent(conversationID: c.id)
            #expect(snapshot.lastVoteEvent == last && last > 0)
            #expect(try await f.store.latestAnalysis(conversationID: c.id) == nil)
            let stored = StoredAnalysis(
                conversationID: c.id, computedAt: Date(timeIntervalSince1970: 1_800_000_000), voteCount: 2,
                lastVoteEvent: last, durationMs: 1.5, parameters: "{}", result: Data("{\"k\":2}".utf8))
            try await f.store.saveAnalysis(stored)
            var newer = stored
            newer.voteCount = 3
            newer.computedAt = stored.computedAt.addingTimeInterval(1)
            try await f.store.saveAnalysis(newer)
            #expect(try await f.store.latestAnalysis(conversationID: c.id) == newer)
        },

        StoreRequirement("aPolisImportIsIdempotentAndKeepsSourceIDs") { f in
            let export = PolisExport(
                topic: "Imported", description: "From Polis",
                comments: [
                    .init(
                        id: 0, authorID: 10, text: "First comment", moderated: 1, isMeta: false, isSeed: true,
                        groupInformedConsensus: nil, timestamp: 1_700_000_000_000),
                    .init(
                        id: 1, authorID: 11, text: "Second comment", moderated: -1, isMeta: false, isSeed: false,
                        groupInformedConsensus: nil, timestamp: 1_700_000_100_000),
                ],
                participants: [.init(id: 10, xid: nil, groupID: 0), .init(id: 11, xid: "x-11", groupID: 1)],
                votes: [
                    .init(participant: 10, comment: 0, value: 1), .init(participant: 11, comment: 0, value: -1),
                    .init(participant: 11, comment: 1, value: 0),
                ])
            let settings = ConversationSettings(slug: "imported", title: "Imported", question: "From Polis")
            let first = try await f.store.importPolis(export, settings: settings, by: f.organiser)
            #expect(first.createdConversation && first.statementsAdded == 2 && first.votesAdded == 3)
            let again = try await f.store.importPolis(export, settings: settings, by: f.organiser)
            #expect(!again.createdConversation && again.statementsAdded == 0 && again.votesAdded == 0)
            let ids = try await f.store.sourceIDs(conversationID: first.conversation.id)
            #expect(Set(ids.statements.values) == ["0", "1"])
            #expect(Set(ids.participants.values) == ["10", "11"])
            let statements = try await f.store.allStatements(conversationID: first.conversation.id)
            #expect(statements.first { $0.text == "Second comment" }?.moderation == .rejected)
            let votes = try await f.store.votes(conversationID: first.conversation.id)
            #expect(votes.count == 3)
            let log = try await f.store.auditLog(conversationID: first.conversation.id, offset: 0, limit: 10)
            #expect(log.items.contains { $0.action == AuditAction.conversationImport.rawValue })
        },
    ]

    static let constitutions: [StoreRequirement] = [
        StoreRequirement("publishingTheLatestVersionsContentAgainStoresNothing") { f in
            let c = try await f.conversation()
            let first = try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { _ in
                (Data("same".utf8), "sha-same")
            }
            await #expect(throws: CharterError.constitutionUnchanged(version: first.version)) {
                _ = try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { _ in
                    (Data("same".utf8), "sha-same")
                }
            }
            let changed = try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { _ in
                (Data("other".utf8), "sha-other")
            }
            // Only the latest version counts: going back to earlier content is a new version.
            let back = try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { _ in
                (Data("same".utf8), "sha-same")
            }
            let versions: [Int] = [first.version, changed.version, back.version]
            #expect(versions == [1, 2, 3])
            let stored = try await f.store.constitutions(conversationID: c.id)
            #expect(stored.count == 3)
            let audited = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50).items
            let publishes = audited.filter { $0.action == "constitution.publish" }
            #expect(publishes.count == 3)
        },
        StoreRequirement("constitutionsAreVersionedAndPrinciplesKeepTheirWordingAndGrouping") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B", "C"])
            var versions: [StoredConstitution] = []
            for _ in 0..<2 {
                versions.append(
                    try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { version in
                        (Data("version \(version)".utf8), "sha-\(version)")
                    })
            }
            #expect(versions.map(\.version) == [1, 2])
            #expect(String(decoding: versions[1].body, as: UTF8.self) == "version 2")
            let read = try await f.store.constitution(id: versions[0].id)
            #expect(read?.version == 1 && read?.sha256 == "sha-1" && read?.body == versions[0].body)
            #expect(read?.conversationID == c.id && read?.createdBy == "tester")
            #expect(try await f.store.constitutions(conversationID: c.id).map(\.version).sorted() == [1, 2])
            #expect(try await f.store.constitution(id: 999_999) == nil)

            try await f.store.setPrincipleWording(
                conversationID: c.id, statementID: s[0].id, text: "A, said well", by: f.organiser)
            #expect(try await f.store.principleWordings(conversationID: c.id) == [s[0].id: "A, said well"])
            try await f.store.setPrincipleWording(
                conversationID: c.id, statementID: s[0].id, text: nil, by: f.organiser)
            #expect(try await f.store.principleWordings(conversationID: c.id).isEmpty)

            try await f.store.setPrincipleGrouping(
                conversationID: c.id, statementID: s[1].id, grouping: .merge(into: s[0].id), by: f.organiser)
            try await f.store.setPrincipleGrouping(
                conversationID: c.id, statementID: s[2].id, grouping: .split, by: f.organiser)
            let groupings = try await f.store.principleGroupings(conversationID: c.id)
            #expect(groupings.count == 2 && groupings[s[1].id] == .some(s[0].id) && groupings[s[2].id] == .some(nil))
            try await f.store.setPrincipleGrouping(
                conversationID: c.id, statementID: s[1].id, grouping: .automatic, by: f.organiser)
            #expect(try await f.store.principleGroupings(conversationID: c.id).keys.sorted() == [s[2].id])
            let actions = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50).items.map(\.action)
            for action in [AuditAction.constitutionPublish, .principleReword, .principleRewordReset, .principleGroup] {
                #expect(actions.contains(action.rawValue), "\(action.rawValue)")
            }
        },
    ]

    static func newRun(_ f: Fixture) async throws -> NewComparisonRun {
        let c = try await f.conversation("run-\(UUID().uuidString.prefix(8).lowercased())")
        let constitution = try await f.store.publishConstitution(conversationID: c.id, by: f.organiser) { _ in
            (Data("body".utf8), "sha")
        }
        return NewComparisonRun(
            ccaiConstitutionID: constitution.id, baselineSource: "charter", baselineBody: Data("baseline".utf8),
            baselineSHA256: "bsha", profile: .smoke, seed: 7, parameters: ["learning_rate": .number(0.001)],
            pipelineCommand: "/bin/true")
    }

    static let runs: [StoreRequirement] = [
        StoreRequirement("runsAreQueuedListedAndChangedOnlyFromTheExpectedState") { f in
            let request = try await newRun(f)
            let run = try await f.store.createRun(request, by: f.organiser)
            #expect(run.state == .queued && run.request == request)
            let second = try await f.store.createRun(request, by: f.organiser)
            let read = try await f.store.run(id: run.id)
            #expect(read?.id == run.id && read?.state == .queued && read?.request == request)
            let page = try await f.store.runs(offset: 0, limit: 1)
            #expect(page.total == 2 && page.items.map(\.id) == [second.id])
            let started = try await f.store.updateRun(
                id: run.id, expecting: [.queued], RunChange(state: .running, startedAt: Date(), ownerPID: 42),
                by: nil)
            #expect(started?.state == .running)
            let refused = try await f.store.updateRun(
                id: run.id, expecting: [.queued], RunChange(state: .cancelled), by: f.organiser)
            #expect(refused == nil)
            #expect(try await f.store.runs(in: [.queued]).map(\.id) == [second.id])
            #expect(try await f.store.runs(in: [.running, .queued]).map(\.id) == [run.id, second.id])
            _ = try await f.store.updateRun(
                id: second.id, expecting: [.queued], RunChange(state: .cancelled), by: f.organiser)
            let log = try await f.store.auditLog(conversationID: nil, offset: 0, limit: 50).items.map(\.action)
            #expect(log.contains(AuditAction.runCreate.rawValue))
            #expect(log.contains(AuditAction.runState(.cancelled).rawValue))
            var missing = request
            missing.ccaiConstitutionID = 999_999
            await #expect(throws: (any Error).self) { try await f.store.createRun(missing, by: f.organiser) }
        }
    ]

    /// Check-then-write operations, raced: on a back end with several writers (PostgreSQL's
    /// READ COMMITTED) each must still end with exactly one winner.
    static let races: [StoreRequirement] = [
        StoreRequirement("racingCreatorsOfOneSlugGetOneConversation") { f in
            let outcomes = await racing(8) { _ in
                try await f.store.createConversation(
                    ConversationSettings(slug: "contested", title: "T", question: "Q"), by: f.organiser)
            }
            #expect(outcomes.successes.count == 1)
            #expect(outcomes.failures.allSatisfy { $0 is CharterError })
            let conversations = try await f.store.conversations()
            #expect(conversations.count == 1)
        },

        StoreRequirement("racingFirstUsesOfAnIdentityGetOneParticipant") { f in
            let c = try await f.conversation()
            let outcomes = await racing(8) { _ in
                try await f.store.participant(conversationID: c.id, identity: .external("panel-9"))
            }
            #expect(outcomes.failures.isEmpty)
            #expect(Set(outcomes.successes.map(\.id)).count == 1)
            #expect(try await f.store.participants(conversationID: c.id).count == 1)
        },

        StoreRequirement("racingAuthorsOfOneStatementGetOneStatement") { f in
            let c = try await f.conversation()
            let outcomes = await racing(8) { i in
                try await f.store.submitStatement(
                    conversationID: c.id, participant: .anonymous("author-\(i)"), text: "Same idea", at: Date())
            }
            #expect(outcomes.successes.count == 1)
            #expect(outcomes.failures.allSatisfy { ($0 as? CharterError)?.code == "duplicate_statement" })
            #expect(try await f.store.allStatements(conversationID: c.id).count == 1)
        },

        StoreRequirement("racingVotersOnOneStatementRecordOneVoteEach") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["Only"])
            let outcomes = await racing(8) { _ in
                try await f.store.castVote(
                    conversationID: c.id, participant: .external("same-person"), statementID: s[0].id,
                    value: .agree, at: Date())
            }
            #expect(outcomes.successes.count == 1)
            #expect(outcomes.failures.allSatisfy { ($0 as? CharterError) == .duplicateVote })
            #expect(try await f.store.voteEvents(conversationID: c.id).count == 1)
        },

        StoreRequirement("racingBindersOfOnePanelIDLeaveOneHolder") { f in
            let c = try await f.conversation()
            let outcomes = await racing(8) { i in
                try await f.store.bindXID(conversationID: c.id, xid: "contested", binder: "browser-\(i)")
            }
            #expect(outcomes.failures.isEmpty)
            #expect(outcomes.successes.filter(\.held).count == 1)
            #expect(outcomes.successes.filter(\.created).count == 1)
        },

        StoreRequirement("racingRunClaimsStartARunOnce") { f in
            let run = try await f.store.createRun(try await newRun(f), by: f.organiser)
            let outcomes = await racing(8) { i in
                try await f.store.updateRun(
                    id: run.id, expecting: [.queued], RunChange(state: .running, ownerPID: Int32(100 + i)), by: nil)
            }
            #expect(outcomes.failures.isEmpty)
            #expect(outcomes.successes.compactMap { $0 }.count == 1)
        },

        StoreRequirement("racingServersClaimEachQueuedRunOnceOldestFirst") { f in
            let request = try await newRun(f)
            var queued: [Int64] = []
            for _ in 0..<3 { queued.append(try await f.store.createRun(request, by: f.organiser).id) }
            let now = Date()
            let lease = now.addingTimeInterval(30)
            let outcomes = await racing(8) { i in
                try await f.store.claimNextRun(
                    owner: "server-\(i)", ownerPID: Int32(100 + i), leaseExpiresAt: lease, at: now)
            }
            #expect(outcomes.failures.isEmpty)
            let claimed = outcomes.successes.compactMap { $0 }
            #expect(claimed.map(\.id).sorted() == queued)
            #expect(claimed.allSatisfy { $0.state == .running && $0.owner?.hasPrefix("server-") == true })
            #expect(Set(claimed.compactMap(\.owner)).count == 3)
            let again = try await f.store.claimNextRun(owner: "late", ownerPID: 1, leaseExpiresAt: lease, at: now)
            #expect(again == nil)
            // The oldest goes first to a lone claimer.
            let fourth = try await f.store.createRun(request, by: f.organiser)
            _ = try await f.store.createRun(request, by: f.organiser)
            let first = try await f.store.claimNextRun(owner: "solo", ownerPID: 1, leaseExpiresAt: lease, at: now)
            #expect(first?.id == fourth.id)
            #expect(first?.startedAt != nil && first?.leaseExpiresAt != nil && first?.ownerPID == 1)
        },

        StoreRequirement("leasesAreRenewedByTheirOwnerAndTakenOverOnlyOnceExpired") { f in
            let request = try await newRun(f)
            let now = Date()
            let run = try await f.store.createRun(request, by: f.organiser)
            _ = try await f.store.claimNextRun(
                owner: "a", ownerPID: 1, leaseExpiresAt: now.addingTimeInterval(10), at: now)
            // Not while the lease runs.
            let early = try await f.store.takeOverRun(
                id: run.id, owner: "b", ownerPID: 2, leaseExpiresAt: now.addingTimeInterval(40), expiredBy: now)
            #expect(early == nil)
            let renewed = try await f.store.renewRunLeases(owner: "a", until: now.addingTimeInterval(60))
            #expect(renewed == 1)
            let none = try await f.store.renewRunLeases(owner: "nobody", until: now.addingTimeInterval(60))
            #expect(none == 0)
            let held = try await f.store.run(id: run.id)
            #expect(held?.owner == "a")
            #expect(abs((held?.leaseExpiresAt ?? .distantPast).timeIntervalSince(now.addingTimeInterval(60))) < 1)
            let stillEarly = try await f.store.takeOverRun(
                id: run.id, owner: "b", ownerPID: 2, leaseExpiresAt: now.addingTimeInterval(90),
                expiredBy: now.addingTimeInterval(30))
            #expect(stillEarly == nil)
            // Once it has run out, exactly one of several servers takes the run.
            let later = now.addingTimeInterval(61)
            let outcomes = await racing(8) { i in
                try await f.store.takeOverRun(
                    id: run.id, owner: "taker-\(i)", ownerPID: Int32(10 + i),
                    leaseExpiresAt: later.addingTimeInterval(30),
                    expiredBy: later)
            }
            #expect(outcomes.failures.isEmpty)
            let winners = outcomes.successes.compactMap { $0 }
            #expect(winners.count == 1)
            #expect(winners.first?.state == .running && winners.first?.owner?.hasPrefix("taker-") == true)
            // A run that is not running is never taken over.
            let queued = try await f.store.createRun(request, by: f.organiser)
            let notRunning = try await f.store.takeOverRun(
                id: queued.id, owner: "b", ownerPID: 2, leaseExpiresAt: later, expiredBy: .distantFuture)
            #expect(notRunning == nil)
            // The owner and lease can be set by an update too.
            let updated = try await f.store.updateRun(
                id: run.id, expecting: [.running], RunChange(owner: "c", leaseExpiresAt: later), by: nil)
            #expect(updated?.owner == "c")
        },

        StoreRequirement("racingFirstSettingsAgreeOnOneValue") { f in
            let outcomes = await racing(8) { i in
                try await f.store.settingInsertingIfAbsent("instance-secret", value: "value-\(i)")
            }
            #expect(outcomes.failures.isEmpty && Set(outcomes.successes).count == 1)
        },
    ]

    /// Runs `count` copies of `body` at once and collects what each returned or threw.
    static func racing<Value: Sendable>(
        _ count: Int, _ body: @escaping @Sendable (Int) async throws -> Value
    ) async -> (successes: [Value], failures: [any Error]) {
        await withTaskGroup(of: Result<Value, any Error>.self) { group in
            for i in 0..<count {
                group.addTask {
                    do { return .success(try await body(i)) } catch { return .failure(error) }
                }
            }
            var successes: [Value] = []
            var failures: [any Error] = []
            for await result in group {
                switch result {
                case .success(let value): successes.append(value)
                case .failure(let error): failures.append(error)
                }
            }
            return (successes, failures)
        }
    }
}
