import Foundation

/// A setting that is missing or malformed; the message names the variable and says what it should look like.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]

    public var description: String {
        "Invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads `GREENLIGHT_*` variables, collecting every problem so that one start-up reports them all.
///
/// Any setting `NAME` can instead be given as `NAME_FILE`, the path of a file holding its value (how Docker and
/// Kubernetes secrets arrive): the file's content is used, without its trailing line break. Setting both, or naming
/// a file that cannot be read, is a problem reported with the setting's name.
public struct EnvironmentReader {
    public let values: [String: String]
    public private(set) var problems: [String] = []
    /// Every setting read, for the start-up banner; secrets are masked.
    public private(set) var effective: [(name: String, value: String)] = []

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The value of `name`, from the variable itself or from the file `name_FILE` names; nil when unset or empty.
    private mutating func value(_ name: String) -> String? {
        let direct = values[name].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = values[name + "_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) else { return direct }
        guard direct == nil else {
            problems.append("\(name) and \(name)_FILE are both set: keep one of them")
            return direct
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            problems.append("\(name)_FILE names \"\(path)\", which cannot be read: check the path and its permissions")
            return nil
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        return text.isEmpty ? nil : text
    }

    /// A string setting; empty counts as unset.
    public mutating func string(_ name: String, default defaultValue: String, secret: Bool = false) -> String {
        let value = value(name) ?? defaultValue
        effective.append((name, secret ? "***" : value))
        return value
    }

    /// A setting without a default of ours; nil (and left out of the banner) when unset or empty.
    public mutating func optional(_ name: String, secret: Bool = false) -> String? {
        guard let value = value(name) else { return nil }
        effective.append((name, secret ? "***" : value))
        return value
    }

    /// A required string with no default.
    public mutating func required(_ name: String, example: String) -> String {
        guard let value = value(name) else {
            problems.append("\(name) is required (for example \(name)=\(example))")
            return ""
        }
        effective.append((name, value))
        return value
    }

    /// `true` or `false` (any case).
    public mutating func bool(_ name: String, default defaultValue: Bool) -> Bool {
        let text = string(name, default: String(defaultValue)).lowercased()
        guard let value = Bool(text) else {
            problems.append("\(name) must be true or false, not \"\(text)\"")
            return defaultValue
        }
        return value
    }

    public mutating func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        let text = string(name, default: String(defaultValue))
        guard let value = Int(text), range.contains(value) else {
            problems.append("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
            return defaultValue
        }
        return value
    }

    /// A setting turned into a value by `parse`, which throws an error whose description says what is wrong.
    public mutating func parse<T>(
        _ name: String, default defaultValue: String, masked: (T) -> String, _ parse: (String) throws -> T
    ) -> T? {
        let text = value(name) ?? defaultValue
        do {
            let value = try parse(text)
            effective.append((name, masked(value)))
            return value
        } catch {
            problems.append("\(name) is not usable: \(error)")
            return nil
        }
    }

    /// An absolute http(s) URL without a trailing slash.
    public mutating func httpURL(_ name: String, default defaultValue: String) -> String {
        let text = string(name, default: defaultValue)
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme),
            url.host != nil
        else {
            problems.append("\(name) must be an absolute http(s) URL such as http://127.0.0.1:8081, not \"\(text)\"")
            return defaultValue
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// Records a problem found by checks of the caller's own.
    public mutating func report(_ problem: String) {
        problems.append(problem)
    }

    /// Throws a `ConfigurationError` listing every problem found so far.
    public func validate() throws {
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    /// One line per setting, for the start-up log.
    public var banner: String {
        effective.sorted { $0.name < $1.name }.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
    }
}
