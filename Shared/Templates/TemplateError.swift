/// Why the templates cannot be used: the operator's directory is missing or unreadable, or a template in it (or a
/// built-in one) does not parse. Descriptions name the file and, for a parse error, the line and column.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The override directory does not exist or is not a directory.
        case directoryNotFound
        /// A directory or template file cannot be read.
        case unreadable
        /// A template is not valid Mustache.
        case malformed
        /// A built-in template is missing from the resource bundle (a broken installation).
        case missingDefault
    }

    public var code: Code
    /// The directory or file concerned.
    public var path: String
    public var reason: String
    /// Where in the file a `.malformed` template went wrong (1-based).
    public var line: Int?
    public var column: Int?

    public init(_ code: Code, path: String, reason: String, line: Int? = nil, column: Int? = nil) {
        self.code = code
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column
    }

    public var description: String {
        var place = "\"\(path)\""
        if let line { place += ", line \(line)" + (column.map { ", column \($0)" } ?? "") }
        return "\(place): \(reason)"
    }
}
