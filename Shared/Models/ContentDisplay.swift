import Foundation

/// What people are shown of a request's content (the review page, the email): the title, the details as rows of a
/// table, the links and an agent's action; the title and action nil and the lists empty when the request has none
/// (a template tests a list with `{{^empty(request.details)}}`). Its parts are `Encodable` as the compiler writes it,
/// so that page and email values holding them can be read without reflection (`TemplateFields`).
public struct ContentDisplay: Sendable, Equatable {
    /// One row of the details table: `deploy.region` → `eu-west-1`.
    public struct Row: Sendable, Equatable, Encodable {
        public var label: String
        public var value: String
    }

    public struct Link: Sendable, Equatable, Encodable {
        public var url: String
        /// The link's label, or its URL.
        public var label: String
    }

    public struct Action: Sendable, Equatable, Encodable {
        public var tool: String
        /// The arguments as indented JSON, exactly as they will be run.
        public var arguments: String
        public var digest: String
    }

    public var title: String?
    public var details: [Row]
    public var links: [Link]
    public var action: Action?

    public init(title: String?, details: JSONValue?, links: [RequestLink]?, action: AgentAction?) {
        self.title = title
        self.details = details.map { Self.rows(of: $0, prefix: "") } ?? []
        // Intake takes only http(s) links; one that reached the event otherwise (another producer) is not shown.
        self.links = (links ?? []).filter { link in
            let scheme = link.url.prefix { $0 != ":" }.lowercased()
            return scheme == "http" || scheme == "https"
        }.map { Link(url: $0.url, label: $0.label ?? $0.url) }
        self.action = action.map { Action(tool: $0.tool, arguments: Self.indented($0.arguments), digest: $0.digest) }
    }

    /// The table of a details object: nested objects flattened into dotted labels, members sorted by name (JSON
    /// objects have no order), lists of plain values joined with commas, anything else as JSON.
    static func rows(of value: JSONValue, prefix: String) -> [Row] {
        guard case .object(let members) = value else { return [Row(label: prefix, value: text(of: value))] }
        return members.sorted { $0.key < $1.key }.flatMap { key, member -> [Row] in
            let label = prefix.isEmpty ? key : "\(prefix).\(key)"
            if case .object(let inner) = member, !inner.isEmpty { return rows(of: member, prefix: label) }
            return [Row(label: label, value: text(of: member))]
        }
    }

    static func text(of value: JSONValue) -> String {
        switch value {
        case .null: "—"
        case .bool(let flag): flag ? "yes" : "no"
        case .number(let number): JSONCanonical.number(number)
        case .string(let string): string
        case .array(let items):
            items.allSatisfy { if case .array = $0 { false } else if case .object = $0 { false } else { true } }
                ? items.map(text(of:)).joined(separator: ", ") : value.jsonText
        case .object: value.jsonText
        }
    }

    /// JSON with two-space indentation and sorted members, for reading.
    static func indented(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.jsonText
    }
}
