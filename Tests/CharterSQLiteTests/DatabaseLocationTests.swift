import CharterDomain
import CharterStore
import Testing

@Suite struct DatabaseLocationTests {
    @Test(
        arguments: [
            ("./charter.sqlite", DatabaseLocation.sqlite(path: "./charter.sqlite")),
            ("  /var/lib/charter/db.sqlite \n", .sqlite(path: "/var/lib/charter/db.sqlite")),
            ("sqlite:///var/lib/charter.sqlite", .sqlite(path: "/var/lib/charter.sqlite")),
            ("file:charter.sqlite", .sqlite(path: "charter.sqlite")),
            ("odd://name/with/colon", nil),
            ("./folder://x.sqlite", .sqlite(path: "./folder://x.sqlite")),
            ("postgres://charter@127.0.0.1:5432/charter", .postgres(url: "postgres://charter@127.0.0.1:5432/charter")),
            ("postgresql://u:pw@db.example.org/charter", .postgres(url: "postgresql://u:pw@db.example.org/charter")),
            ("postgres://127.0.0.1:5432/", nil),
            ("postgres:///charter", nil),
            ("", nil),
            ("sqlite:", nil),
        ] as [(String, DatabaseLocation?)])
    func aLocationIsAFileOrAPostgresURL(_ text: String, _ expected: DatabaseLocation?) {
        let parsed = try? DatabaseLocation(text)
        #expect(parsed == expected, "\(text)")
    }

    @Test func aPasswordNeverReachesTheLogs() throws {
        let location = try DatabaseLocation("postgres://charter:s3cret@db:5432/charter")
        #expect(!location.description.contains("s3cret"))
        #expect(location.description.contains("db:5432/charter"))
    }
}
