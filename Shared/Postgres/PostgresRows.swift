/// The rows a statement returned, copied out of libpq's result, in text format.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// The number of rows an INSERT, UPDATE or DELETE touched.
    public let affectedRows: Int
    /// The server's command tag (`INSERT 0 1`, `COMMIT`, and `ROLLBACK` for a `COMMIT` of a failed transaction).
    public var command = ""

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.first.map { PostgresRow(columns: columns, values: $0) } }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        values.lazy.map { PostgresRow(columns: columns, values: $0) }.makeIterator()
    }

    /// Decodes every row into a tuple of the given types, in column order.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> [(repeat each T)] {
        try map { try $0.decode(types) }
    }

    /// Decodes the first column of every row.
    public func column<T: PostgresDecodable>(_ type: T.Type) throws -> [T] {
        try values.map { row in
            guard let first = row.first else { throw PostgresError(.decodingFailed, "the result has no columns") }
            return try T.decode(postgresText: first)
        }
    }
}

/// One row.
public struct PostgresRow: Sendable {
    public let columns: [String]
    let values: [String?]

    /// Decodes the row's columns, in order, into a tuple: `row.decode((String, Int?, Date).self)`.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
        var index = 0
        func next<U: PostgresDecodable>(_ type: U.Type) throws -> U {
            defer { index += 1 }
            guard index < values.count else {
                throw PostgresError(.decodingFailed, "the row has \(values.count) columns; more were asked for")
            }
            do {
                return try U.decode(postgresText: values[index])
            } catch var error as PostgresError {
                error.reason = "column \(columns[index]): \(error.reason)"
                throw error
            }
        }
        return (repeat try next((each T).self))
    }

    /// The value of the column named `name`.
    public func decode<T: PostgresDecodable>(_ type: T.Type, column name: String) throws -> T {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresError(.decodingFailed, "no column named \(name)")
        }
        return try T.decode(postgresText: values[index])
    }
}
