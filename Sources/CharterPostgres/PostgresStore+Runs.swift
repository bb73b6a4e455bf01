public import CharterDomain
public import CharterStore
public import Foundation

extension PostgresStore {
    public func createRun(_ request: NewComparisonRun, by actor: Actor) async throws -> ComparisonRun {
        let parameters = String(decoding: try Self.parameterEncoder.encode(request.parameters), as: UTF8.self)
        return try await write { sql in
            guard
                let constitution = try await sql.row(
                    "SELECT conversation_id, sha256 FROM constitution WHERE id = ?", request.ccaiConstitutionID)
            else { throw CharterError.notFound("Constitution") }
            let ccaiSHA256: String = try constitution("sha256")
            let conversationID: Int64 = try constitution("conversation_id")
            let now = Date()
            guard
                let id = try await sql.value(
                    Int64.self,
                    """
                    INSERT INTO comparison_run (state, ccai_constitution_id, ccai_sha256, baseline_source,
                        baseline_body, baseline_sha256, profile, seed, parameters, pipeline_command, retry_of,
                        created_at, created_by)
                    VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    RETURNING id
                    """, request.ccaiConstitutionID, ccaiSHA256, request.baselineSource, request.baselineBody,
                    request.baselineSHA256, request.profile.rawValue, request.seed, parameters,
                    request.pipelineCommand, request.retryOf, now, actor.name)
            else { throw StorageUnavailable(reason: "a run's insert returned no id") }
            try await sql.audit(
                actor, .runCreate, conversationID: conversationID,
                detail:
                    "run \(id): constitution \(request.ccaiConstitutionID) against \(request.baselineSource), profile \(request.profile.rawValue)"
                    + (request.retryOf.map { ", retry of run \($0)" } ?? ""))
            return ComparisonRun(
                id: id, state: .queued, request: request, ccaiSHA256: ccaiSHA256, createdAt: now, createdBy: actor.name)
        }
    }

    public func run(id: Int64) async throws -> ComparisonRun? {
        try await readOne { sql in try await sql.comparisonRun(id: id) }
    }

    public func runs(offset: Int, limit: Int) async throws -> Page<ComparisonRun> {
        try await read { sql in
            let total = try await sql.count("SELECT COUNT(*) FROM comparison_run")
            let items = try await sql.rows(
                "SELECT * FROM comparison_run ORDER BY id DESC LIMIT ? OFFSET ?", max(0, limit), max(0, offset)
            ).map(ComparisonRun.init)
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func runs(in states: Set<RunState>) async throws -> [ComparisonRun] {
        guard !states.isEmpty else { return [] }
        let names = states.map(\.rawValue).sorted()
        return try await readOne { sql in
            try await sql.rows("SELECT * FROM comparison_run WHERE state = ANY(?::text[]) ORDER BY id", names)
                .map(ComparisonRun.init)
        }
    }

    public func updateRun(id: Int64, expecting: Set<RunState>, _ change: RunChange, by actor: Actor?) async throws
        -> ComparisonRun?
    {
        try await write { sql in
            // The row, locked: a racing update waits here, then reads the state this one left.
            guard let current = try await sql.comparisonRun(id: id, lock: true) else {
                throw CharterError.notFound("Run")
            }
            guard expecting.contains(current.state) else { return nil }
            var assignments: [String] = []
            var values: [any SQLBindable] = []
            func set<Value: SQLBindable>(_ column: String, _ value: Value?) {
                guard let value else { return }
                assignments.append("\(column) = ?")
                values.append(value)
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
            try await sql.execute(
                "UPDATE comparison_run SET \(assignments.joined(separator: ", ")) WHERE id = ?", values: values + [id])
            if let actor, let state = change.state {
                let conversationID = try await sql.value(
                    Int64.self, "SELECT conversation_id FROM constitution WHERE id = ?",
                    current.request.ccaiConstitutionID)
                try await sql.audit(
                    actor, .runState(state), conversationID: conversationID,
                    detail: "run \(id): \(current.state.rawValue) → \(state.rawValue)"
                        + (change.failure.map { " (\($0))" } ?? ""))
            }
            return try await sql.comparisonRun(id: id)
        }
    }

    /// A run's parameters as stored: the same JSON as on SQLite.
    static let parameterEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension PostgresStore {
    public func claimNextRun(owner: String, ownerPID: Int32, leaseExpiresAt: Date, at now: Date) async throws
        -> ComparisonRun?
    {
        // SKIP LOCKED: a server claiming at the same moment passes over the run another is
        // taking and gets the next one, instead of waiting and then finding it gone.
        try await write { sql in
            try await sql.row(
                """
                UPDATE comparison_run SET state = 'running', started_at = ?, owner_server = ?, owner_pid = ?,
                    lease_expires_at = ?
                WHERE id = (SELECT id FROM comparison_run WHERE state = 'queued' ORDER BY id
                            FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING *
                """, now, owner, ownerPID, leaseExpiresAt
            ).map(ComparisonRun.init)
        }
    }

    public func renewRunLeases(owner: String, until: Date) async throws -> Int {
        try await write { sql in
            try await sql.execute(
                "UPDATE comparison_run SET lease_expires_at = ? WHERE state = 'running' AND owner_server = ? RETURNING id",
                until, owner)
        }
    }

    public func takeOverRun(id: Int64, owner: String, ownerPID: Int32, leaseExpiresAt: Date, expiredBy: Date)
        async throws -> ComparisonRun?
    {
        try await write { sql in
            try await sql.row(
                """
                UPDATE comparison_run SET owner_server = ?, owner_pid = ?, lease_expires_at = ?
                WHERE id = ? AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                RETURNING *
                """, owner, ownerPID, leaseExpiresAt, id, expiredBy
            ).map(ComparisonRun.init)
        }
    }
}

extension SQLConnection {
    /// The run, with its row locked (`FOR UPDATE`) when asked.
    func comparisonRun(id: Int64, lock: Bool = false) async throws -> ComparisonRun? {
        try await row("SELECT * FROM comparison_run WHERE id = ?" + (lock ? " FOR UPDATE" : ""), id).map(
            ComparisonRun.init)
    }
}

extension ComparisonRun {
    init(_ row: SQLRow) throws {
        let parametersText: String = try row("parameters")
        let parameters =
            (try? JSONDecoder().decode([String: RunParameter].self, from: Data(parametersText.utf8))) ?? [:]
        let request = NewComparisonRun(
            ccaiConstitutionID: try row("ccai_constitution_id"), baselineSource: try row("baseline_source"),
            baselineBody: try row("baseline_body"), baselineSHA256: try row("baseline_sha256"),
            profile: RunProfile(rawValue: try row("profile")) ?? .smoke, seed: try row("seed"),
            parameters: parameters, pipelineCommand: try row("pipeline_command"), retryOf: try row("retry_of"))
        self.init(
            id: try row("id"), state: RunState(rawValue: try row("state")) ?? .failed, request: request,
            ccaiSHA256: try row("ccai_sha256"), createdAt: try row("created_at"), createdBy: try row("created_by"),
            startedAt: try row("started_at"), finishedAt: try row("finished_at"), failure: try row("failure"),
            directory: try row("directory"), ownerPID: try row("owner_pid"), pipelinePID: try row("pipeline_pid"),
            progress: try row("progress"), results: try row("results"), pipelineVersion: try row("pipeline_version"),
            owner: try row("owner_server"), leaseExpiresAt: try row("lease_expires_at"))
    }
}
