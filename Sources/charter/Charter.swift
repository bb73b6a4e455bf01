import ArgumentParser
import CharterDomain
import CharterHTTP
import CharterInput
import CharterPipeline
import CharterPostgres
import CharterSQLite
import CharterServices
import CharterStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

@main
struct Charter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charter",
        abstract: "Charter: the public writes the constitution an AI model is trained on.",
        subcommands: [
            Serve.self, Import.self, Export.self, Analyze.self, Compile.self, Render.self, RunCommand.self, Backup.self,
            Restore.self, MigrateStore.self, Admin.self,
        ])

    static func main() async {
        LoggingSystem.bootstrap(LogLines.init)
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every command that opens the database shares.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: "The database: a SQLite file (the default) or a postgres://user@host:port/db URL (env CHARTER_DATABASE).")
    var database: String = ProcessInfo.processInfo.environment["CHARTER_DATABASE"] ?? "./charter.sqlite"

    func location() throws -> DatabaseLocation {
        do { return try DatabaseLocation(database) } catch { throw ValidationError(error.message) }
    }

    /// The SQLite file a command that works on files (backup, restore) is given, or a refusal
    /// naming PostgreSQL's own tools for the same job.
    func sqlitePath(for purpose: String) throws -> String {
        switch try location() {
        case .sqlite(let path): return path
        case .postgres(let url):
            throw ValidationError(
                """
                \(purpose) works on a SQLite file; \(DatabaseLocation.postgres(url: url)) is a PostgreSQL database. \
                Use PostgreSQL's own tools: `pg_dump --format=custom --file=charter.dump URL` for a consistent \
                snapshot while servers run (`pg_restore --clean --dbname=URL charter.dump` to restore it into a \
                database no server is using), or `pg_basebackup` with WAL archiving for point-in-time recovery.
                """)
        }
    }

    /// The store and the conversation a command names.
    func conversation(_ slug: String) async throws -> (any CharterStore, Conversation) {
        let store = try await open()
        guard let conversation = try await store.conversation(slug: slug) else {
            throw ValidationError("No conversation with the slug \(slug).")
        }
        return (store, conversation)
    }

    /// The store the location names: a SQLite file, or a PostgreSQL database.
    func open() async throws -> any CharterStore {
        switch try location() {
        case .sqlite: return try openSQLite()
        case .postgres(let url):
            do {
                return try await PostgresStore(url: url)
            } catch {
                throw ValidationError("Cannot open the database \(try location()): \(error)")
            }
        }
    }

    func openSQLite() throws -> SQLiteStore {
        let path = try sqlitePath(for: "This command")
        do {
            return try SQLiteStore(path: path)
        } catch {
            throw ValidationError("Cannot open the database \(path): \(error)")
        }
    }

    /// The file beside a SQLite database that holds the instance secret by default; PostgreSQL
    /// has none (every server must be given the same secret).
    var defaultSecretBase: String? {
        if case .sqlite(let path) = try? location() { path } else { nil }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @Option(help: "The address to listen on (env CHARTER_HOST).")
    var host: String = ProcessInfo.processInfo.environment["CHARTER_HOST"] ?? "127.0.0.1"

    @Option(help: "The port to listen on (env CHARTER_PORT).")
    var port: Int = ProcessInfo.processInfo.environment["CHARTER_PORT"].flatMap(Int.init) ?? 8080

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Create the demo conversation from seeds/demo if it does not exist.")
    var seedDemo = false

    @Option(help: "The folder holding demo/ (env CHARTER_SEEDS).")
    var seeds: String = ProcessInfo.processInfo.environment["CHARTER_SEEDS"] ?? "seeds"

    @Option(help: "The folder of static files served under /static (env CHARTER_PUBLIC).")
    var publicDirectory: String = ProcessInfo.processInfo.environment["CHARTER_PUBLIC"] ?? "Public"

    @Option(help: "The largest request body accepted, in bytes (env CHARTER_MAX_BODY).")
    var maxBody: Int = ProcessInfo.processInfo.environment["CHARTER_MAX_BODY"].flatMap(Int.init) ?? 64 * 1024

    @Option(help: "Votes per participant as rate/burst, e.g. 5/30 (env CHARTER_VOTE_LIMIT); 'off' for none.")
    var voteLimit: String = ProcessInfo.processInfo.environment["CHARTER_VOTE_LIMIT"] ?? "5/30"

    @Option(help: "Votes per IP address as rate/burst (env CHARTER_VOTE_IP_LIMIT); 'off' for none.")
    var voteIPLimit: String = ProcessInfo.processInfo.environment["CHARTER_VOTE_IP_LIMIT"] ?? "300/2000"

    @Option(help: "Statements per participant as rate/burst (env CHARTER_STATEMENT_LIMIT); 'off' for none.")
    var statementLimit: String = ProcessInfo.processInfo.environment["CHARTER_STATEMENT_LIMIT"] ?? "0.1/5"

    @Option(help: "Statements per IP address as rate/burst (env CHARTER_STATEMENT_IP_LIMIT); 'off' for none.")
    var statementIPLimit: String = ProcessInfo.processInfo.environment["CHARTER_STATEMENT_IP_LIMIT"] ?? "2/60"

    @Option(help: "New participants per address: rate per second / burst, or 'off' (env CHARTER_PARTICIPANT_IP_LIMIT).")
    var participantIPLimit: String = ProcessInfo.processInfo.environment["CHARTER_PARTICIPANT_IP_LIMIT"] ?? "0.2/30"

    @Option(
        help:
            "Reverse proxies whose Forwarded / X-Forwarded-For name the client, as CIDRs separated by commas (env CHARTER_TRUSTED_PROXIES)."
    )
    var trustedProxies: String = ProcessInfo.processInfo.environment["CHARTER_TRUSTED_PROXIES"] ?? ""

    @Option(help: "Most bytes an import may unpack to (env CHARTER_IMPORT_MAX_BYTES).")
    var importMaxBytes: Int =
        ProcessInfo.processInfo.environment["CHARTER_IMPORT_MAX_BYTES"].flatMap(Int.init) ?? 256 * 1024 * 1024

    @Option(help: "Most an import's zip entry may inflate, as a ratio (env CHARTER_IMPORT_MAX_RATIO).")
    var importMaxRatio: Int = ProcessInfo.processInfo.environment["CHARTER_IMPORT_MAX_RATIO"].flatMap(Int.init) ?? 50

    @Option(help: "Most rows of an imported CSV file (env CHARTER_IMPORT_MAX_ROWS).")
    var importMaxRows: Int =
        ProcessInfo.processInfo.environment["CHARTER_IMPORT_MAX_ROWS"].flatMap(Int.init) ?? 10_000_000

    @Option(help: "Most columns of an imported CSV file (env CHARTER_IMPORT_MAX_COLUMNS).")
    var importMaxColumns: Int =
        ProcessInfo.processInfo.environment["CHARTER_IMPORT_MAX_COLUMNS"].flatMap(Int.init) ?? 100_000

    @Flag(help: "Mark cookies Secure (serve behind HTTPS) (env CHARTER_SECURE_COOKIES=1).")
    var secureCookies = ProcessInfo.processInfo.environment["CHARTER_SECURE_COOKIES"] == "1"

    @Option(help: "Seconds at least between two analyses of one conversation (env CHARTER_ANALYSIS_INTERVAL).")
    var analysisInterval: Double =
        ProcessInfo.processInfo.environment["CHARTER_ANALYSIS_INTERVAL"].flatMap(Double.init)
        ?? 5

    @Option(help: "Log level: trace, debug, info, notice, warning, error (env CHARTER_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["CHARTER_LOG_LEVEL"] ?? "info"

    @Option(
        help: "A file holding the instance secret (env CHARTER_SECRET takes precedence); default <database>.secret.")
    var secretFile: String? = ProcessInfo.processInfo.environment["CHARTER_SECRET_FILE"]

    @Option(help: "Seconds a connection may stay silent before it is closed (env CHARTER_IDLE_TIMEOUT).")
    var idleTimeout: Double = ProcessInfo.processInfo.environment["CHARTER_IDLE_TIMEOUT"].flatMap(Double.init) ?? 30

    @Option(
        help:
            "Seconds a client has to send a whole request head, however steadily it trickles (env CHARTER_HEADER_TIMEOUT)."
    )
    var headerTimeout: Double =
        ProcessInfo.processInfo.environment["CHARTER_HEADER_TIMEOUT"].flatMap(Double.init) ?? 20

    @Option(
        help:
            "Seconds a client has to send a request body, plus one per 500 bytes received (env CHARTER_BODY_TIMEOUT)."
    )
    var bodyTimeout: Double = ProcessInfo.processInfo.environment["CHARTER_BODY_TIMEOUT"].flatMap(Double.init) ?? 20

    @OptionGroup var pipeline: PipelineOptions

    static func limit(_ text: String, _ name: String) throws -> RateLimit {
        if text == "off" { return .unlimited }
        guard let limit = RateLimit(text) else {
            throw ValidationError("\(name) must look like 5/30 (rate per second / burst) or 'off'.")
        }
        return limit
    }

    func run() async throws {
        var logger = Logger(label: "charter")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var configuration = HTTPConfiguration()
        configuration.maxBodyBytes = maxBody
        configuration.secureCookies = secureCookies
        configuration.publicDirectory = publicDirectory
        for (value, name) in [
            (idleTimeout, "--idle-timeout"), (headerTimeout, "--header-timeout"), (bodyTimeout, "--body-timeout"),
        ]
        where !(value > 0 && value.isFinite) {
            throw ValidationError("\(name) must be a positive number of seconds.")
        }
        configuration.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        configuration.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        configuration.bodyTimeout = .milliseconds(Int64(bodyTimeout * 1000))
        configuration.rateLimits.votesPerParticipant = try Self.limit(voteLimit, "--vote-limit")
        configuration.rateLimits.votesPerIP = try Self.limit(voteIPLimit, "--vote-ip-limit")
        configuration.rateLimits.statementsPerParticipant = try Self.limit(statementLimit, "--statement-limit")
        configuration.rateLimits.statementsPerIP = try Self.limit(statementIPLimit, "--statement-ip-limit")
        configuration.rateLimits.participantsPerIP = try Self.limit(participantIPLimit, "--participant-ip-limit")
        guard let proxies = CIDR.list(trustedProxies) else {
            throw ValidationError("--trusted-proxies takes CIDRs separated by commas, like 10.0.0.0/8,::1/128.")
        }
        configuration.trustedProxies = proxies
        for (value, name) in [
            (importMaxBytes, "--import-max-bytes"), (importMaxRatio, "--import-max-ratio"),
            (importMaxRows, "--import-max-rows"), (importMaxColumns, "--import-max-columns"),
        ] where value < 1 {
            throw ValidationError("\(name) must be at least 1.")
        }
        configuration.importLimits = ImportLimits(
            maxUncompressedBytes: importMaxBytes, maxCompressionRatio: importMaxRatio,
            csv: CSV.Limits(rows: importMaxRows, columns: importMaxColumns))

        let location = try database.location()
        let store = try await database.open()
        logger.info("database open", metadata: ["database": "\(location)"])
        if seedDemo {
            let created = try await DemoSeed.ensure(in: store, seedsDirectory: seeds)
            logger.info(created ? "demo conversation created" : "demo conversation already present")
        }
        let secret = try await InstanceSecret.load(
            environment: ProcessInfo.processInfo.environment["CHARTER_SECRET"], secretFile: secretFile,
            databasePath: database.defaultSecretBase, store: store)
        guard analysisInterval > 0, analysisInterval.isFinite else {
            throw ValidationError("--analysis-interval must be a positive number of seconds.")
        }
        var analysisConfiguration = AnalysisService.Configuration()
        analysisConfiguration.debounce = .milliseconds(Int64(analysisInterval * 1000))
        let analysis = AnalysisService(
            store: store, configuration: analysisConfiguration, logger: Logger(label: "charter.analysis"))
        let runConfiguration = try pipeline.configuration()
        let runs = RunService(
            store: store, configuration: runConfiguration,
            executor: try pipeline.executor(grace: runConfiguration.grace),
            logger: Logger(label: "charter.runs"))
        let app = try await buildApplication(
            store: store, configuration: configuration, secret: secret, host: host, port: port, logger: logger,
            analysis: analysis, runs: runs)
        var background: [any Service] = [app, analysis, runs]
        if let coordination = store as? any ServerCoordination {
            background.append(
                CoordinationService(
                    coordination: coordination, analysis: analysis, logger: Logger(label: "charter.coordination")))
        }
        let services = ServiceGroup(
            configuration: .init(
                services: background, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
        logger.info("stopped")
    }
}

enum DemoSeed {
    /// Creates the demo conversation and its seed statements unless a conversation with its
    /// slug exists. Returns whether it created one.
    static func ensure(in store: any CharterStore, seedsDirectory: String) async throws -> Bool {
        let folder = URL(fileURLWithPath: seedsDirectory).appendingPathComponent("demo")
        let settingsData: Data
        let statementsText: String
        do {
            settingsData = try Data(contentsOf: folder.appendingPathComponent("conversation.json"))
            statementsText = try String(contentsOf: folder.appendingPathComponent("statements.txt"), encoding: .utf8)
        } catch {
            throw ValidationError("Cannot read the demo seeds in \(folder.path): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        let settings = try decoder.decode(ConversationSettings.self, from: settingsData)
        if try await store.conversation(slug: settings.slug) != nil { return false }
        let conversation = try await store.createConversation(settings, by: .system)
        let lines = statementsText.split(whereSeparator: \.isNewline).map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        _ = try await store.addSeedStatements(conversationID: conversation.id, texts: lines, by: .system)
        return true
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage organiser accounts, API tokens and signed panel links.",
        subcommands: [CreateOrganiser.self, CreateToken.self, SignXIDs.self])
}

struct CreateOrganiser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-organiser", abstract: "Create an organiser account.")

    @Option(help: "The organiser's email, used to sign in.")
    var email: String

    @Option(help: "A file holding the password (its first line; '-' for standard input). At least 12 characters.")
    var passwordFile: String

    @Flag(help: "Make the organiser an instance admin (the first organiser always is).")
    var admin = false

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let raw: String
        if passwordFile == "-" {
            raw = readLine(strippingNewline: true) ?? ""
        } else {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw ValidationError("Cannot read the password file \(passwordFile).")
            }
            raw = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
        guard raw.count >= 12 else { throw ValidationError("The password must be at least 12 characters.") }
        let store = try await database.open()
        do {
            let organiser = try await store.createOrganiser(
                email: email, passwordHash: try PasswordHasher().hash(raw), isAdmin: admin)
            print(
                "Created organiser \(organiser.email) (id \(organiser.id))\(organiser.isAdmin ? ", instance admin" : "")."
            )
        } catch let error as CharterError {
            throw ValidationError(error.message)
        }
    }
}

struct CreateToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-token", abstract: "Create an API token for an organiser; prints it once.")

    @Option(help: "The organiser's email.")
    var email: String

    @Option(help: "What the token is for.")
    var label: String = "api"

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let store = try await database.open()
        guard let (organiser, _) = try await store.organiserCredentials(email: email) else {
            throw ValidationError("No organiser with the email \(email).")
        }
        let token = SecureToken.make(prefix: "co_")
        try await store.storeAPIToken(organiserID: organiser.id, tokenHash: SecureToken.digest(token), label: label)
        print(token)
    }
}

struct SignXIDs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-xids",
        abstract: "Turn panel ids (one per line on standard input) into signed join links, as CSV: xid,link.",
        discussion: """
            For conversations whose xid_policy is signed. The signature is the lowercase hex \
            HMAC-SHA256 of the NFC-normalised id under the conversation's xid secret, which is derived \
            from the instance secret: run this with the same CHARTER_SECRET or --secret-file as the server.
            """)

    @Argument(help: "The conversation's slug.")
    var slug: String

    @Option(help: "The server's public address, e.g. https://charter.example.org.")
    var baseURL: String = "http://127.0.0.1:8080"

    @Option(help: "The instance secret file (default <database>.secret; env CHARTER_SECRET takes precedence).")
    var secretFile: String? = ProcessInfo.processInfo.environment["CHARTER_SECRET_FILE"]

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let (store, conversation) = try await database.conversation(slug)
        let secret = try await InstanceSecret.load(
            environment: ProcessInfo.processInfo.environment["CHARTER_SECRET"], secretFile: secretFile,
            databasePath: database.defaultSecretBase, store: store)
        if conversation.settings.xidPolicy != .signed {
            FileHandle.standardError.write(
                Data("note: \(slug)'s xid_policy is \(conversation.settings.xidPolicy.rawValue), not signed.\n".utf8))
        }
        let key = Signer(secret: secret).xidSecret(conversationID: conversation.id)
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        print("xid,link")
        while let line = readLine(strippingNewline: true) {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let xid: String
            do {
                xid = try ParticipantIdentity.validatedXID(line)
            } catch {
                throw ValidationError("\(line.prefix(80)): \(error.message)")
            }
            let encoded = xid.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? xid
            let link = "\(base)/c/\(conversation.slug)?xid=\(encoded)&sig=\(Signer.xidSignature(xid: xid, secret: key))"
            let cell = "\"" + CSVInjection.neutralised(xid).replacingOccurrences(of: "\"", with: "\"\"") + "\""
            print("\(cell),\(link)")
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database into a new file while the server runs (SQLite's online backup).")

    @Argument(help: "The backup file to create.")
    var file: String

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        _ = try database.sqlitePath(for: "charter backup")
        let store = try database.openSQLite()
        do {
            try store.backup(to: file)
        } catch let error as SQLiteStore.BackupError {
            throw ValidationError(error.description)
        }
        print("Backed up \(database.database) to \(file).")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the database with a backup, after checking it. Stop the server first.")

    @Argument(help: "The backup file.")
    var file: String

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        do {
            try SQLiteStore.restore(from: file, to: try database.sqlitePath(for: "charter restore"))
        } catch let error as SQLiteStore.BackupError {
            throw ValidationError(error.description)
        }
        print("Restored \(database.database) from \(file).")
    }
}
