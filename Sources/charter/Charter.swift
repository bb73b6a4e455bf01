import ArgumentParser
import CharterConfiguration
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
            Restore.self, MigrateStore.self, Admin.self, Config.self,
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
struct DatabaseOptions: ParsableArguments, SettingFlags {
    @Option(name: .setting(Settings.database), help: .setting(Settings.database))
    var database: String?

    var flags: [String: String?] { [Settings.database.name: database] }

    /// The database `--database`, else `CHARTER_DATABASE`, else the default names.
    func location() throws -> DatabaseLocation {
        try configured { () throws(ConfigurationError) in try configurationInput(self).database() }
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
        try await Self.open(try location())
    }

    static func open(_ location: DatabaseLocation) async throws -> any CharterStore {
        switch location {
        case .sqlite(let path): return try openSQLite(path)
        case .postgres(let url):
            do {
                return try await PostgresStore(url: url)
            } catch {
                throw ValidationError("Cannot open the database \(location): \(error)")
            }
        }
    }

    func openSQLite() throws -> SQLiteStore {
        try Self.openSQLite(try sqlitePath(for: "This command"))
    }

    static func openSQLite(_ path: String) throws -> SQLiteStore {
        do {
            return try SQLiteStore(path: path)
        } catch {
            throw ValidationError("Cannot open the database \(path): \(error)")
        }
    }

    /// The file beside a SQLite database that holds the instance secret by default; PostgreSQL
    /// has none (every server must be given the same secret).
    var defaultSecretBase: String? {
        (try? location())?.sqlitePath
    }
}

extension DatabaseLocation {
    /// The SQLite file, nil for a PostgreSQL database.
    var sqlitePath: String? {
        if case .sqlite(let path) = self { path } else { nil }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @OptionGroup var server: ServerOptions

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Create the demo conversation from seeds/demo if it does not exist.")
    var seedDemo = false

    @OptionGroup var secretSource: SecretOptions

    @OptionGroup var pipeline: PipelineOptions

    func run() async throws {
        // Every setting is read and checked before anything is opened: a bad value stops here.
        let input = configurationInput(server, database, secretSource, pipeline)
        let settings = try configured { () throws(ConfigurationError) in try CharterConfiguration(input) }
        var logger = Logger(label: "charter")
        logger.logLevel = settings.server.logLevel
        for unknown in input.unknownVariables() {
            logger.warning("unknown environment variable: \(unknown)")
        }

        let store = try await DatabaseOptions.open(settings.database)
        logger.info("database open", metadata: ["database": "\(settings.database)"])
        if seedDemo {
            let created = try await DemoSeed.ensure(in: store, seedsDirectory: settings.server.seedsDirectory)
            logger.info(created ? "demo conversation created" : "demo conversation already present")
        }
        let secret = try await InstanceSecret.load(
            environment: settings.secret.environment, secretFile: settings.secret.file,
            databasePath: settings.database.sqlitePath, store: store)
        let analysis = AnalysisService(
            store: store, configuration: settings.server.analysis, logger: Logger(label: "charter.analysis"))
        let runs = RunService(
            store: store, configuration: settings.runs.configuration, executor: settings.runs.makeExecutor(),
            logger: Logger(label: "charter.runs"))
        let app = try await buildApplication(
            store: store, configuration: settings.server.http, secret: secret, host: settings.server.host,
            port: settings.server.port, logger: logger, analysis: analysis, runs: runs)
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

    @OptionGroup var secretSource: SecretOptions

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let source = try configured { () throws(ConfigurationError) in try configurationInput(secretSource).secret() }
        let (store, conversation) = try await database.conversation(slug)
        let secret = try await InstanceSecret.load(
            environment: source.environment, secretFile: source.file, databasePath: database.defaultSecretBase,
            store: store)
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
        print("Backed up \(try database.location()) to \(file).")
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
        print("Restored \(try database.location()) from \(file).")
    }
}
