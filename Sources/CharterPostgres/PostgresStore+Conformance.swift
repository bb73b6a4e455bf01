public import CharterStore

extension PostgresStore: CharterStore {}
