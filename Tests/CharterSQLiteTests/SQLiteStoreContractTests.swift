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

@Suite struct StoreContractCoverageTests {
    /// Every requirement of `CharterStore` is called by some part of the contract, so a back end
    /// that passes it has been tested on all of them.
    @Test func theContractExercisesEveryStoreRequirement() async throws {
        var called = Set<String>()
        for requirement in StoreContract.requirements {
            let database = try TemporaryDatabase()
            let store = RecordingStore(try database.open())
            try await requirement.check(on: store)
            called.formUnion(store.called)
        }
        let missed = RecordingStore.requirements.subtracting(called).sorted()
        #expect(missed == [], "\(missed.joined(separator: ", "))")
    }
}
