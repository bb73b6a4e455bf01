public import CharterDomain
public import CharterStore
public import Foundation
import GRDB

extension SQLiteStore {
    public func createRun(_ request: NewComparisonRun, by actor: Actor) async throws -> ComparisonRun {
        let parameters = String(decoding: try Self.parameterEncoder.encode(request.parameters), as: UTF8.self)
        return try await write { db in
            guard
                let constitution = try Row.fetchOne(
                    db, sql: "SELECT conversation_id, sha256 FROM constitution WHERE id = ?",
                    arguments: [request.ccaiConstitutionID])
            else { throw CharterError.notFound("Constitution") }
            let ccaiSHA256: String = constitution["sha256"]
            let now = Date()
            try db.execute(
                sql: """
                    INSERT INTO comparison_run (state, ccai_constitution_id, ccai_sha256, baseline_source,
                        baseline_body, baseline_sha256, profile, seed, parameters, pipeline_command, retry_of,
                        created_at, created_by)
                    VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    request.ccaiConstitutionID, ccaiSHA256, request.baselineSource, request.baselineBody,
                    request.baselineSHA256, request.profile.rawValue, request.seed, parameters,
                    request.pipelineCommand, request.retryOf, now, actor.name,
                ])
            let id = db.lastInsertedRowID
            try Self.audit(
                db, actor, .runCreate, conversationID: constitution["conversation_id"],
                detail:
                    "run \(id): constitution \(request.ccaiConstitutionID) against \(request.baselineSource), profile \(request.profile.rawValue)"
                    + (request.retryOf.map { ", retry of run \($0)" } ?? ""))
            return ComparisonRun(
                id: id, state: .queued, request: request, ccaiSHA256: ccaiSHA256, createdAt: now, createdBy: actor.name)
        }
    }

    public func run(id: Int64) async throws -> ComparisonRun? {
        try await pool.read { db in try Self.fetchRun(db, id: id) }
    }

    public func runs(offset: Int, limit: Int) async throws -> Page<ComparisonRun> {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM comparison_run") ?? 0
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM comparison_run ORDER BY id DESC LIMIT ? OFFSET ?",
                arguments: [max(0, limit), max(0, offset)]
            ).map(Self.run)
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func runs(in states: Set<RunState>) async throws -> [ComparisonRun] {
        guard !states.isEmpty else { return [] }
        let names = states.map(\.rawValue).sorted()
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT * FROM comparison_run WHERE state IN (\(databaseQuestionMarks(count: names.count))) ORDER BY id",
                arguments: StatementArguments(names)
            ).map(Self.run)
        }
    }

    public func updateRun(id: Int64, expecting: Set<RunState>, _ change: RunChange, by actor: Actor?) async throws
        -> ComparisonRun?
    {
        try await write { db in
            guard let current = try Self.fetchRun(db, id: id) else { throw CharterError.notFound("Run") }
            guard expecting.contains(current.state) else { return nil }
            var assignments: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            func set(_ column: String, _ value: (any DatabaseValueConvertible)?) {
                guard let value else { return }
                assignments.append("\(column) = ?")
                arguments.append(value)
            }
            set("state", change.state?.rawValue)
            set("started_at", change.startedAt)
            set("finished_at", change.finishedAt)
            set("failure", change.failure)
            set("directory", change.directory)
            set("owner_pid", change.ownerPID)
            set("pipeline_pid", change.pipelinePID)
            set("progress", change.progress)
            set("results", change.results)
            set("pipeline_version", change.pipelineVersion)
            set("owner_server", change.owner)
            set("lease_expires_at", change.leaseExpiresAt)
            guard !assignments.isEmpty else { return current }
            arguments.append(id)
            try db.execute(
                sql: "UPDATE comparison_run SET \(assignments.joined(separator: ", ")) WHERE id = ?",
                arguments: StatementArguments(arguments))
            if let actor, let state = change.state {
                let conversationID = try Int64.fetchOne(
                    db, sql: "SELECT conversation_id FROM constitution WHERE id = ?",
                    arguments: [current.request.ccaiConstitutionID])
                try Self.audit(
                    db, actor, .runState(state), conversationID: conversationID,
                    detail: "run \(id): \(current.state.rawValue) → \(state.rawValue)"
                        + (change.failure.map { " (\($0))" } ?? ""))
            }
            return try Self.fetchRun(db, id: id)
        }
    }

    static let parameterEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func fetchRun(_ db: Database, id: Int64) throws -> ComparisonRun? {
        try Row.fetchOne(db, sql: "SELECT * FROM comparison_run WHERE id = ?", arguments: [id]).map(run)
    }

    static func run(_ row: Row) -> ComparisonRun {
        let parametersText: String = row["parameters"]
        let parameters =
            (try? JSONDecoder().decode([String: RunParameter].self, from: Data(parametersText.utf8))) ?? [:]
        let request = NewComparisonRun(
            ccaiConstitutionID: row["ccai_constitution_id"], baselineSource: row["baseline_source"],
            baselineBody: row["baseline_body"], baselineSHA256: row["baseline_sha256"],
            profile: RunProfile(rawValue: row["profile"]) ?? .smoke, seed: row["seed"], parameters: parameters,
            pipelineCommand: row["pipeline_command"], retryOf: row["retry_of"])
        return ComparisonRun(
            id: row["id"], state: RunState(rawValue: row["state"]) ?? .failed, request: request,
            ccaiSHA256: row["ccai_sha256"], createdAt: row["created_at"], createdBy: row["created_by"],
            startedAt: row["started_at"], finishedAt: row["finished_at"], failure: row["failure"],
            directory: row["directory"], ownerPID: row["owner_pid"], pipelinePID: row["pipeline_pid"],
            progress: row["progress"], results: row["results"], pipelineVersion: row["pipeline_version"],
            owner: row["owner_server"], leaseExpiresAt: row["lease_expires_at"])
    }

    public func claimNextRun(owner: String, ownerPID: Int32, leaseExpiresAt: Date, at now: Date) async throws
        -> ComparisonRun?
    {
        try await write { db in
            guard
                let id = try Int64.fetchOne(
                    db, sql: "SELECT id FROM comparison_run WHERE state = 'queued' ORDER BY id LIMIT 1")
            else { return nil }
            try db.execute(
                sql: """
                    UPDATE comparison_run SET state = 'running', started_at = ?, owner_server = ?, owner_pid = ?,
                        lease_expires_at = ?
                    WHERE id = ?
                    """, arguments: [now, owner, ownerPID, leaseExpiresAt, id])
            return try Self.fetchRun(db, id: id)
        }
    }

    public func renewRunLeases(owner: String, until: Date) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "UPDATE comparison_run SET lease_expires_at = ? WHERE state = 'running' AND owner_server = ?",
                arguments: [until, owner])
            return db.changesCount
        }
    }

    public func takeOverRun(id: Int64, owner: String, ownerPID: Int32, leaseExpiresAt: Date, expiredBy: Date)
        async throws -> ComparisonRun?
    {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE comparison_run SET owner_server = ?, owner_pid = ?, lease_expires_at = ?
                    WHERE id = ? AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                    """, arguments: [owner, ownerPID, leaseExpiresAt, id, expiredBy])
            return db.changesCount == 0 ? nil : try Self.fetchRun(db, id: id)
        }
    }
}
