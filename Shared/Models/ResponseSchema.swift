import Foundation

/// The typed answers a request asks of whoever decides it: a documented subset of JSON Schema. The schema is an
/// object whose `properties` are strings (with `enum`, `minLength`, `maxLength`), numbers or integers (with `enum`,
/// `minimum`, `maximum`) or booleans, each with an optional `title` and `description`, and whose `required` names
/// the ones that must be answered. Any other keyword is refused when the request is made — a rule that would not be
/// enforced is not accepted silently. The review page renders the fields as labelled inputs (the required ones first,
/// then by name); the answers are checked on the server, whichever way the decision comes, and returned in the
/// outcome as `response`.
public struct ResponseSchema: Codable, Sendable, Equatable {
    public var properties: [String: ResponseField]
    public var required: [String]

    public init(properties: [String: ResponseField], required: [String] = []) {
        self.properties = properties
        self.required = required
    }

    public static let maxProperties = 20
    /// A string answer without its own `maxLength` is held to this.
    public static let defaultMaxLength = 1000

    /// The fields in the order the page shows them: the required ones as listed, then the others by name.
    public var orderedFields: [(name: String, field: ResponseField)] {
        let rest = properties.keys.filter { !required.contains($0) }.sorted()
        return (required + rest).compactMap { name in properties[name].map { (name, $0) } }
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case type, properties, required, title, description, additionalProperties
    }

    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), of: "responseSchema")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let type = try container.decodeIfPresent(String.self, forKey: .type), type != "object" {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "must be \"object\": the answers are an object of named fields")
        }
        if let additional = try container.decodeIfPresent(Bool.self, forKey: .additionalProperties), additional {
            throw DecodingError.dataCorruptedError(
                forKey: .additionalProperties, in: container,
                debugDescription: "must be false or left out: only the listed properties are answers")
        }
        properties = try container.decode([String: ResponseField].self, forKey: .properties)
        required = try container.decodeIfPresent([String].self, forKey: .required) ?? []
        // Allowed for people reading the schema, shown nowhere; checked for their type all the same.
        _ = try container.decodeIfPresent(String.self, forKey: .title)
        _ = try container.decodeIfPresent(String.self, forKey: .description)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("object", forKey: .type)
        try container.encode(properties, forKey: .properties)
        if !required.isEmpty { try container.encode(required, forKey: .required) }
        try container.encode(false, forKey: .additionalProperties)
    }

    /// What is wrong with the schema beyond its shape, as field errors under `field`.
    public func problems(field: String = "responseSchema") -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        if properties.isEmpty { errors.append(.init(field: "\(field).properties", message: "must name at least one field")) }
        if properties.count > Self.maxProperties {
            errors.append(.init(field: "\(field).properties", message: "must name at most \(Self.maxProperties) fields"))
        }
        for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
            let path = "\(field).properties.\(name)"
            if name.isEmpty || name.unicodeScalars.count > 64 || !name.unicodeScalars.allSatisfy(Self.isNameCharacter) {
                errors.append(.init(field: path, message: "a field name must be 1 to 64 letters, digits, '_' or '-'"))
            }
            errors += property.problems(field: path)
        }
        for (index, name) in required.enumerated() where properties[name] == nil {
            errors.append(.init(field: "\(field).required[\(index)]", message: "names \"\(name)\", which is not one of the properties"))
        }
        if Set(required).count != required.count {
            errors.append(.init(field: "\(field).required", message: "must not name a field twice"))
        }
        return errors
    }

    /// Checks answers against the schema: an object with only the schema's fields, each of its type and within its
    /// bounds, and every required one there. Field names are `response.<name>`.
    public func check(_ response: JSONValue?) -> [Problem.FieldError] {
        let answers: [String: JSONValue]
        switch response {
        case nil, .null?: answers = [:]
        case .object(let object)?: answers = object
        default: return [.init(field: "response", message: "must be a JSON object of the request's answers")]
        }
        var errors: [Problem.FieldError] = []
        for name in answers.keys.sorted() where properties[name] == nil {
            let known = orderedFields.map(\.name).joined(separator: ", ")
            errors.append(.init(field: "response.\(name)", message: "is not asked for by this request (its fields: \(known))"))
        }
        for (name, field) in orderedFields {
            guard let answer = answers[name], answer != .null else {
                if required.contains(name) { errors.append(.init(field: "response.\(name)", message: "is required")) }
                continue
            }
            if let problem = field.check(answer) { errors.append(.init(field: "response.\(name)", message: problem)) }
        }
        return errors
    }

    /// Reads answers from a form's fields (`response.<name>` → text): numbers and integers parsed, a checkbox's
    /// presence is `true` and its absence `false`, empty text left out. What cannot be read is an error.
    public func answers(fromForm form: [String: String]) -> (JSONValue, [Problem.FieldError]) {
        var answers: [String: JSONValue] = [:]
        var errors: [Problem.FieldError] = []
        for (name, field) in orderedFields {
            let text = form["response.\(name)"]?.trimmingCharacters(in: .whitespacesAndNewlines)
            switch field.type {
            case .boolean:
                answers[name] = .bool(text.map { ["on", "true", "1", "yes"].contains($0.lowercased()) } ?? false)
            case .string:
                if let text, !text.isEmpty { answers[name] = .string(text) }
            case .number, .integer:
                guard let text, !text.isEmpty else { continue }
                if let number = Double(text), number.isFinite {
                    answers[name] = .number(number)
                } else {
                    errors.append(.init(field: "response.\(name)", message: "must be a number"))
                }
            }
        }
        return (.object(answers), errors)
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-": true
        default: false
        }
    }
}

/// One typed answer of a `ResponseSchema`.
public struct ResponseField: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case string, number, integer, boolean }

    public var type: Kind
    public var title: String?
    public var description: String?
    public var `enum`: [JSONValue]?
    public var minLength: Int?
    public var maxLength: Int?
    public var minimum: Double?
    public var maximum: Double?

    public init(
        type: Kind, title: String? = nil, description: String? = nil, enum values: [JSONValue]? = nil,
        minLength: Int? = nil, maxLength: Int? = nil, minimum: Double? = nil, maximum: Double? = nil
    ) {
        self.type = type
        self.title = title
        self.description = description
        self.enum = values
        self.minLength = minLength
        self.maxLength = maxLength
        self.minimum = minimum
        self.maximum = maximum
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case type, title, description, `enum`, minLength, maxLength, minimum, maximum
    }

    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), of: "a responseSchema field")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(Kind.self, forKey: .type)
        title = try container.decodeIfPresent(String.self, forKey: .title)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        self.enum = try container.decodeIfPresent([JSONValue].self, forKey: .enum)
        minLength = try container.decodeIfPresent(Int.self, forKey: .minLength)
        maxLength = try container.decodeIfPresent(Int.self, forKey: .maxLength)
        minimum = try container.decodeIfPresent(Double.self, forKey: .minimum)
        maximum = try container.decodeIfPresent(Double.self, forKey: .maximum)
    }

    /// The label a form shows: the title, or the field's name.
    public func label(_ name: String) -> String { title ?? name }

    /// The longest a string answer may be.
    public var effectiveMaxLength: Int { maxLength ?? ResponseSchema.defaultMaxLength }

    func problems(field: String) -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        func fail(_ keyword: String, _ message: String) { errors.append(.init(field: "\(field).\(keyword)", message: message)) }
        if let title, title.unicodeScalars.count > 200 { fail("title", "must be at most 200 characters") }
        if let description, description.unicodeScalars.count > 1000 { fail("description", "must be at most 1000 characters") }
        let isNumeric = type == .number || type == .integer
        if type != .string, minLength != nil || maxLength != nil { fail("maxLength", "applies to string fields only") }
        if !isNumeric, minimum != nil || maximum != nil { fail("minimum", "applies to number and integer fields only") }
        if let maxLength, !(1...ResponseSchema.defaultMaxLength * 10).contains(maxLength) {
            fail("maxLength", "must be from 1 to \(ResponseSchema.defaultMaxLength * 10)")
        }
        if let minLength, minLength < 0 || minLength > effectiveMaxLength { fail("minLength", "must be from 0 to maxLength") }
        if let minimum, let maximum, minimum > maximum { fail("minimum", "must not be greater than maximum") }
        if let values = self.enum {
            if type == .boolean { fail("enum", "does not apply to boolean fields") }
            if values.isEmpty || values.count > 50 { fail("enum", "must list 1 to 50 values") }
            for (index, value) in values.enumerated() {
                if let problem = checkType(value) { fail("enum[\(index)]", problem) }
            }
        }
        return errors
    }

    /// Why an answer does not fit the field; nil when it does.
    public func check(_ answer: JSONValue) -> String? {
        if let problem = checkType(answer) { return problem }
        if let values = self.enum, !values.contains(answer) {
            return "must be one of \(values.map(\.jsonText).joined(separator: ", "))"
        }
        switch answer {
        case .string(let text):
            if text.unicodeScalars.count > effectiveMaxLength { return "must be at most \(effectiveMaxLength) characters" }
            if let minLength, text.unicodeScalars.count < minLength { return "must be at least \(minLength) characters" }
        case .number(let number):
            if let minimum, number < minimum { return "must be at least \(JSONCanonical.number(minimum))" }
            if let maximum, number > maximum { return "must be at most \(JSONCanonical.number(maximum))" }
        default: break
        }
        return nil
    }

    private func checkType(_ answer: JSONValue) -> String? {
        switch (type, answer) {
        case (.string, .string), (.boolean, .bool): return nil
        case (.number, .number(let number)): return number.isFinite ? nil : "must be a finite number"
        case (.integer, .number(let number)):
            return number.isFinite && number.rounded() == number && number.magnitude <= 9_007_199_254_740_991
                ? nil : "must be a whole number"
        case (.string, _): return "must be a string"
        case (.number, _): return "must be a number"
        case (.integer, _): return "must be a whole number"
        case (.boolean, _): return "must be true or false"
        }
    }
}

/// A coding key for any member name: to see which members an object has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// Refuses an object with a member not in `allowed`, naming it (a keyword Greenlight would not enforce), or with
    /// one sent as `null` (no member is nullable: one not meant is left out, as the published schemas say).
    static func refuseUnknown(in decoder: any Decoder, allowed: [String], of what: String) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let members = container.allKeys.sorted { $0.stringValue < $1.stringValue }
        if let unknown = members.first(where: { !allowed.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: container,
                debugDescription: "is not supported in \(what) (supported: \(allowed.joined(separator: ", ")))")
        }
        if let null = try members.first(where: { try container.decodeNil(forKey: $0) }) {
            throw DecodingError.dataCorruptedError(
                forKey: null, in: container, debugDescription: "must not be null; leave it out instead")
        }
    }
}
