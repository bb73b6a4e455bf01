import CharterStoreContract
import Testing

/// The PostgreSQL back end against the whole store contract, each requirement in a schema of
/// its own on the test server.
@Suite struct PostgresStoreContractTests {
    @Test(arguments: StoreContract.requirements)
    func postgres(_ requirement: StoreRequirement) async throws {
        let store = try await PostgresTestServer.store()
        do {
            try await requirement.check(on: store)
        } catch {
            await PostgresTestServer.drop(store)
            throw error
        }
        await PostgresTestServer.drop(store)
    }
}
