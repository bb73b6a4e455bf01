import CharterStoreContract
import CharterTestSupport
import Testing

/// The SQLite back end against the whole store contract, each requirement on a new file.
@Suite struct SQLiteStoreContractTests {
    @Test(arguments: StoreContract.requirements)
    func sqlite(_ requirement: StoreRequirement) async throws {
        let database = try TemporaryDatabase()
        try await requirement.check(on: try database.open())
    }
}
