public import CharterDomain
public import CharterStore
import Foundation
public import GRDB

/// Charter's SQLite database, in GRDB's recommended shape: one pool (WAL: one writer, many
/// concurrent readers), the schema as versioned migrations, and the `CharterStore` operations.
public final class SQLiteStore: Sendable {
    public let pool: DatabasePool
    let votes: VoteCommitter

    /// Opens (creating if needed) the database file and brings its schema up to date.
    public init(path: String, fastVoting: FastVoting = FastVoting()) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        // Another process (an admin command beside a running server) may hold the write lock.
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        try Self.createPrivateFile(path)
        pool = try DatabasePool(path: path, configuration: config)
        // GRDB sets synchronous = NORMAL on the writer when it enables WAL; a vote is only
        // acknowledged once it survives a power loss, which takes FULL.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The writer walks the vote and participant indexes on every vote: with SQLite's
            // 2 MiB default they fall out of its cache once a conversation is large, and each
            // miss is a read system call inside the commit.
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        try Self.migrator.migrate(pool)
        votes = VoteCommitter(pool: pool, fastVoting: fastVoting)
    }

    public var voteCommitStatistics: VoteCommitStatistics { votes.statistics }

    /// Creates an empty file readable by its owner only (0600), unless the path exists already.
    /// SQLite gives its -wal and -shm files the database file's mode, so they follow.
    static func createPrivateFile(_ path: String) throws {
        guard path != ":memory:", !path.isEmpty, !FileManager.default.fileExists(atPath: path) else { return }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            close(fd)
        } else if errno != EEXIST {
            throw StorageUnavailable(reason: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A write transaction whose storage failures become `StorageUnavailable`.
    func write<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(updates)
        } catch {
            throw Self.storageError(error)
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    public func writerSynchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The schema's versions, oldest first.
    public static var migrationIdentifiers: [String] { migrator.migrations }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 core schema") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conversation (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        slug TEXT NOT NULL UNIQUE,
                        title TEXT NOT NULL,
                        question TEXT NOT NULL,
                        description TEXT NOT NULL DEFAULT '',
                        state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
                        closes_at DATETIME,
                        participant_statements_allowed BOOLEAN NOT NULL,
                        strict_moderation BOOLEAN NOT NULL,
                        max_statement_length INTEGER NOT NULL CHECK (max_statement_length > 0),
                        min_votes_before_submit INTEGER NOT NULL DEFAULT 0,
                        completion_threshold INTEGER,
                        completion_code TEXT,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE participant (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        xid TEXT,
                        anonymous_id TEXT,
                        created_at DATETIME NOT NULL,
                        CHECK ((xid IS NULL) != (anonymous_id IS NULL)),
                        UNIQUE (conversation_id, xid),
                        UNIQUE (conversation_id, anonymous_id)
                    );
                    CREATE TABLE statement (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        author_id INTEGER REFERENCES participant(id),
                        text TEXT NOT NULL,
                        duplicate_key TEXT NOT NULL,
                        is_seed BOOLEAN NOT NULL,
                        is_meta BOOLEAN NOT NULL DEFAULT 0,
                        moderation TEXT NOT NULL CHECK (moderation IN ('pending', 'accepted', 'rejected')),
                        reason TEXT,
                        created_at DATETIME NOT NULL,
                        UNIQUE (conversation_id, duplicate_key)
                    );
                    CREATE INDEX statement_by_moderation ON statement(conversation_id, moderation);
                    CREATE TABLE vote_event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id),
                        participant_id INTEGER NOT NULL REFERENCES participant(id),
                        statement_id INTEGER NOT NULL REFERENCES statement(id),
                        value INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX vote_event_by_participant ON vote_event(participant_id, id);
                    CREATE INDEX vote_event_by_conversation ON vote_event(conversation_id, id);
                    CREATE TRIGGER vote_event_is_append_only_update BEFORE UPDATE ON vote_event
                        BEGIN SELECT RAISE(ABORT, 'vote_event is append-only'); END;
                    CREATE TRIGGER vote_event_is_append_only_delete BEFORE DELETE ON vote_event
                        BEGIN SELECT RAISE(ABORT, 'vote_event is append-only'); END;
                    CREATE TABLE vote (
                        participant_id INTEGER NOT NULL REFERENCES participant(id),
                        statement_id INTEGER NOT NULL REFERENCES statement(id),
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id),
                        value INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
                        event_id INTEGER NOT NULL REFERENCES vote_event(id),
                        created_at DATETIME NOT NULL,
                        PRIMARY KEY (participant_id, statement_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX vote_by_conversation ON vote(conversation_id);
                    CREATE TABLE organiser (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        email TEXT NOT NULL UNIQUE,
                        password_hash TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE api_token (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        organiser_id INTEGER NOT NULL REFERENCES organiser(id) ON DELETE CASCADE,
                        token_hash TEXT NOT NULL UNIQUE,
                        label TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE organiser_session (
                        token_hash TEXT PRIMARY KEY,
                        organiser_id INTEGER NOT NULL REFERENCES organiser(id) ON DELETE CASCADE,
                        expires_at DATETIME NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE audit_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        organiser_id INTEGER REFERENCES organiser(id),
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        conversation_id INTEGER REFERENCES conversation(id),
                        statement_id INTEGER REFERENCES statement(id),
                        detail TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX audit_by_conversation ON audit_log(conversation_id, id);
                    CREATE TABLE setting (
                        key TEXT PRIMARY KEY,
                        value TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2 imports and analyses") { db in
            try db.execute(
                sql: """
                    ALTER TABLE participant ADD COLUMN source_id TEXT;
                    CREATE UNIQUE INDEX participant_by_source ON participant(conversation_id, source_id)
                        WHERE source_id IS NOT NULL;
                    ALTER TABLE statement ADD COLUMN source_id TEXT;
                    CREATE UNIQUE INDEX statement_by_source ON statement(conversation_id, source_id)
                        WHERE source_id IS NOT NULL;
                    CREATE TABLE analysis (
                        conversation_id INTEGER PRIMARY KEY REFERENCES conversation(id) ON DELETE CASCADE,
                        computed_at DATETIME NOT NULL,
                        vote_count INTEGER NOT NULL,
                        last_vote_event INTEGER NOT NULL,
                        duration_ms REAL NOT NULL,
                        parameters TEXT NOT NULL,
                        result BLOB NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v3 constitutions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE constitution (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id),
                        version INTEGER NOT NULL,
                        sha256 TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at DATETIME NOT NULL,
                        created_by TEXT NOT NULL,
                        UNIQUE (conversation_id, version)
                    );
                    CREATE TRIGGER constitution_is_immutable_update BEFORE UPDATE ON constitution
                        BEGIN SELECT RAISE(ABORT, 'a published constitution is immutable'); END;
                    CREATE TRIGGER constitution_is_immutable_delete BEFORE DELETE ON constitution
                        BEGIN SELECT RAISE(ABORT, 'a published constitution is immutable'); END;
                    CREATE TABLE principle_wording (
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        statement_id INTEGER NOT NULL REFERENCES statement(id) ON DELETE CASCADE,
                        text TEXT NOT NULL,
                        updated_at DATETIME NOT NULL,
                        updated_by TEXT NOT NULL,
                        PRIMARY KEY (conversation_id, statement_id)
                    );
                    """)
        }
        migrator.registerMigration("v4 principle grouping") { db in
            try db.execute(
                sql: """
                    CREATE TABLE principle_grouping (
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        statement_id INTEGER NOT NULL REFERENCES statement(id) ON DELETE CASCADE,
                        lead_id INTEGER REFERENCES statement(id) ON DELETE CASCADE,
                        updated_at DATETIME NOT NULL,
                        updated_by TEXT NOT NULL,
                        PRIMARY KEY (conversation_id, statement_id)
                    );
                    """)
        }
        migrator.registerMigration("v5 comparison runs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE comparison_run (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        state TEXT NOT NULL
                            CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
                        ccai_constitution_id INTEGER NOT NULL REFERENCES constitution(id),
                        ccai_sha256 TEXT NOT NULL,
                        baseline_source TEXT NOT NULL,
                        baseline_body BLOB NOT NULL,
                        baseline_sha256 TEXT NOT NULL,
                        profile TEXT NOT NULL,
                        seed INTEGER NOT NULL,
                        parameters TEXT NOT NULL,
                        pipeline_command TEXT NOT NULL,
                        retry_of INTEGER REFERENCES comparison_run(id),
                        created_at DATETIME NOT NULL,
                        created_by TEXT NOT NULL,
                        started_at DATETIME,
                        finished_at DATETIME,
                        failure TEXT,
                        directory TEXT,
                        owner_pid INTEGER,
                        pipeline_pid INTEGER,
                        progress BLOB,
                        results BLOB,
                        pipeline_version TEXT
                    );
                    CREATE INDEX comparison_run_by_state ON comparison_run(state, id);
                    CREATE TRIGGER comparison_run_finished_is_final BEFORE UPDATE ON comparison_run
                        WHEN OLD.state IN ('succeeded', 'failed', 'cancelled')
                        BEGIN SELECT RAISE(ABORT, 'a finished run does not change'); END;
                    """)
        }
        migrator.registerMigration("v6 fast voting") { db in
            try db.execute(
                sql: """
                    ALTER TABLE participant ADD COLUMN fast_votes INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE participant ADD COLUMN flagged_at DATETIME;
                    """)
        }
        // The vote path keeps each conversation and the statements it shows in memory between
        // transactions. Triggers count every change to them, whichever process makes it, so one
        // primary-key read tells the cache whether it is still true. The vote path and the last
        // vote now read a participant's `vote` rows, so the event log's index by participant
        // only cost every vote an insert.
        migrator.registerMigration("v7 vote path") { db in
            let bump = { (conversation: String) in
                """
                INSERT INTO conversation_revision (conversation_id, revision) VALUES (\(conversation), 1)
                    ON CONFLICT (conversation_id) DO UPDATE SET revision = revision + 1;
                """
            }
            try db.execute(
                sql: """
                    CREATE TABLE conversation_revision (
                        conversation_id INTEGER PRIMARY KEY REFERENCES conversation(id) ON DELETE CASCADE,
                        revision INTEGER NOT NULL
                    );
                    INSERT INTO conversation_revision (conversation_id, revision) SELECT id, 1 FROM conversation;
                    DROP INDEX vote_event_by_participant;
                    CREATE TRIGGER conversation_revision_on_insert AFTER INSERT ON conversation
                        BEGIN \(bump("NEW.id")) END;
                    CREATE TRIGGER conversation_revision_on_update AFTER UPDATE ON conversation
                        BEGIN \(bump("NEW.id")) END;
                    CREATE TRIGGER conversation_revision_on_statement_insert AFTER INSERT ON statement
                        BEGIN \(bump("NEW.conversation_id")) END;
                    CREATE TRIGGER conversation_revision_on_statement_update AFTER UPDATE ON statement
                        BEGIN \(bump("NEW.conversation_id")) \(bump("OLD.conversation_id")) END;
                    CREATE TRIGGER conversation_revision_on_statement_delete AFTER DELETE ON statement
                        BEGIN \(bump("OLD.conversation_id")) END;
                    """)
        }
        // Hardening: panel ids follow a policy per conversation, organisers hold roles on the
        // conversations they run, and imports may only add to conversations an import made.
        // Existing conversations keep the open policy they had; every existing organiser keeps
        // access to every existing conversation, as an owner, and the first becomes the admin.
        migrator.registerMigration("v8 access") { db in
            try db.execute(
                sql: """
                    ALTER TABLE conversation ADD COLUMN xid_policy TEXT NOT NULL DEFAULT 'open'
                        CHECK (xid_policy IN ('open', 'bound', 'signed', 'allow-list'));
                    ALTER TABLE conversation ADD COLUMN origin TEXT NOT NULL DEFAULT 'native'
                        CHECK (origin IN ('native', 'polis-import'));
                    UPDATE conversation SET origin = 'polis-import' WHERE EXISTS (
                        SELECT 1 FROM statement WHERE statement.conversation_id = conversation.id
                            AND statement.source_id IS NOT NULL);
                    CREATE TABLE participant_binding (
                        participant_id INTEGER PRIMARY KEY REFERENCES participant(id) ON DELETE CASCADE,
                        binder TEXT NOT NULL,
                        bound_at DATETIME NOT NULL
                    );
                    CREATE TABLE xid_allowed (
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        xid TEXT NOT NULL,
                        PRIMARY KEY (conversation_id, xid)
                    ) WITHOUT ROWID;
                    ALTER TABLE organiser ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT 0;
                    UPDATE organiser SET is_admin = 1 WHERE id = (SELECT MIN(id) FROM organiser);
                    CREATE TABLE conversation_member (
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        organiser_id INTEGER NOT NULL REFERENCES organiser(id) ON DELETE CASCADE,
                        role TEXT NOT NULL CHECK (role IN ('owner', 'moderator')),
                        PRIMARY KEY (conversation_id, organiser_id)
                    ) WITHOUT ROWID;
                    INSERT INTO conversation_member (conversation_id, organiser_id, role)
                        SELECT conversation.id, organiser.id, 'owner' FROM conversation, organiser;
                    CREATE TABLE participant_origin (
                        participant_id INTEGER PRIMARY KEY REFERENCES participant(id) ON DELETE CASCADE,
                        address_key TEXT NOT NULL
                    );
                    """)
        }
        // Several servers: a running run belongs to one server, which renews its lease; another
        // may take it over only once the lease has run out.
        migrator.registerMigration("v9 run leases") { db in
            try db.execute(
                sql: """
                    ALTER TABLE comparison_run ADD COLUMN owner_server TEXT;
                    ALTER TABLE comparison_run ADD COLUMN lease_expires_at DATETIME;
                    """)
        }
        // The organiser's desk: a moderator's rewording keeps the first wording, a reworded copy
        // names the statement it rewords, and each run of analyses that found the same number of
        // opinion groups is counted.
        migrator.registerMigration("v10 rewording and group counts") { db in
            try db.execute(
                sql: """
                    ALTER TABLE statement ADD COLUMN original_text TEXT;
                    ALTER TABLE statement ADD COLUMN reworded_from INTEGER REFERENCES statement(id);
                    CREATE TABLE analysis_group_count (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        group_count INTEGER NOT NULL,
                        analyses INTEGER NOT NULL,
                        first_at DATETIME NOT NULL,
                        last_at DATETIME NOT NULL
                    );
                    CREATE INDEX analysis_group_count_by_conversation ON analysis_group_count(conversation_id, id);
                    """)
        }
        // A statement's page: its scores over time (the last analysis of each hour) and its
        // moderation history from the audit log.
        migrator.registerMigration("v11 statement history") { db in
            try db.execute(
                sql: """
                    CREATE TABLE statement_score (
                        statement_id INTEGER NOT NULL REFERENCES statement(id) ON DELETE CASCADE,
                        hour DATETIME NOT NULL,
                        gac DOUBLE NOT NULL,
                        ccai DOUBLE NOT NULL,
                        votes INTEGER NOT NULL,
                        PRIMARY KEY (statement_id, hour)
                    ) WITHOUT ROWID;
                    CREATE INDEX audit_log_by_statement ON audit_log(statement_id, id);
                    """)
        }
        // Languages: a conversation's own language, each statement's language (nil: the
        // conversation's), and organisers' translations of statements.
        migrator.registerMigration("v12 languages") { db in
            try db.execute(
                sql: """
                    ALTER TABLE conversation ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
                    ALTER TABLE conversation ADD COLUMN results_public BOOLEAN NOT NULL DEFAULT 0;
                    ALTER TABLE statement ADD COLUMN language TEXT;
                    CREATE TABLE statement_translation (
                        statement_id INTEGER NOT NULL REFERENCES statement(id) ON DELETE CASCADE,
                        language TEXT NOT NULL,
                        text TEXT NOT NULL,
                        updated_at DATETIME NOT NULL,
                        PRIMARY KEY (statement_id, language)
                    ) WITHOUT ROWID;
                    """)
        }
        // Demographics: the organiser's questions per conversation (as JSON, with their target
        // shares), each participant's response (answered, skipped, withdrawn) and their answers,
        // which a withdrawal deletes.
        migrator.registerMigration("v13 demographics") { db in
            try db.execute(
                sql: """
                    CREATE TABLE demographic_settings (
                        conversation_id INTEGER PRIMARY KEY REFERENCES conversation(id) ON DELETE CASCADE,
                        questions TEXT NOT NULL,
                        after_votes INTEGER NOT NULL DEFAULT 1,
                        consent TEXT NOT NULL DEFAULT '',
                        updated_at DATETIME NOT NULL
                    );
                    CREATE TABLE demographic_response (
                        participant_id INTEGER PRIMARY KEY REFERENCES participant(id) ON DELETE CASCADE,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        state TEXT NOT NULL CHECK (state IN ('answered', 'skipped', 'withdrawn')),
                        responded_at DATETIME NOT NULL
                    );
                    CREATE INDEX demographic_response_by_conversation ON demographic_response(conversation_id);
                    CREATE TABLE demographic_answer (
                        participant_id INTEGER NOT NULL REFERENCES demographic_response(participant_id) ON DELETE CASCADE,
                        question_key TEXT NOT NULL,
                        option_key TEXT NOT NULL,
                        conversation_id INTEGER NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
                        PRIMARY KEY (participant_id, question_key)
                    ) WITHOUT ROWID;
                    CREATE INDEX demographic_answer_by_conversation ON demographic_answer(conversation_id);
                    """)
        }
        return migrator
    }

    /// A write that fails because of the storage itself (a full disk, a read-only file, an I/O
    /// error, a lock held too long) is the server's trouble, not the request's: it becomes
    /// `StorageUnavailable`, which clients see as 503, and nothing of it was written.
    static func storageError(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED,
            .SQLITE_NOMEM, .SQLITE_PROTOCOL:
            return StorageUnavailable(reason: "\(error.resultCode)")
        default:
            return error
        }
    }
}
