import Foundation
import Mustache
import Synchronization

/// The Mustache templates the pages and emails are rendered from: the built-in ones (`Defaults/`, shipped as a
/// resource bundle next to the executables), each replaced by a file of the same name in the operator's directory
/// (`GREENLIGHT_TEMPLATE_DIR`). Every template is parsed when the library is made, so a broken one stops the
/// service at start rather than at the first page or email.
public struct TemplateLibrary: Sendable {
    private let library: MustacheLibrary
    /// The operator's directory; nil when only the built-in templates are used.
    public let directory: String?
    /// The built-in templates that directory replaced, and the ones it added (partials of its own), by name.
    public let replaced: [String]
    public let added: [String]

    /// The built-in templates, each replaced by a `NAME.mustache` in `directory` when there is one.
    public init(overrides directory: String? = nil) throws(TemplateError) {
        guard let defaults = Bundle.module.url(forResource: "Defaults", withExtension: nil) else {
            throw TemplateError(
                .missingDefault, path: Bundle.module.bundlePath, reason: "the built-in templates are not in the bundle")
        }
        var templates = try Self.load(defaults.path)
        for name in TemplateName.allCases where templates[name.rawValue] == nil {
            throw TemplateError(
                .missingDefault, path: defaults.path, reason: "the built-in template \(name.rawValue).mustache is missing")
        }
        var replaced: [String] = []
        var added: [String] = []
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw TemplateError(
                    .directoryNotFound, path: directory,
                    reason: "no such directory: name a directory of .mustache files, or leave the setting unset for "
                        + "the built-in templates")
            }
            for (name, template) in try Self.load(directory).sorted(by: { $0.key < $1.key }) {
                if templates[name] == nil { added.append(name) } else { replaced.append(name) }
                templates[name] = template
            }
        }
        library = MustacheLibrary(templates: templates)
        self.directory = directory
        self.replaced = replaced
        self.added = added
    }

    /// Renders a template with `values`, a value whose stored properties the template names (`{{request.id}}`), or
    /// values already `prepare`d.
    public func render(_ name: TemplateName, _ values: Any) -> String {
        let reflected = (values as? TemplateValues)?.reflected ?? ReflectedValues.reflect(values)
        // Every TemplateName has a template (checked when the library was made).
        return library.render(reflected, withTemplate: name.rawValue) ?? ""
    }

    /// `values` read once for several renders (an email's subject, text and HTML): rendering the result is rendering
    /// `values`, without reading them again.
    public func prepare(_ values: Any) -> TemplateValues {
        TemplateValues(reflected: ReflectedValues.reflect(values))
    }

    /// For the start-up banner: the directory and what it changed; empty with only the built-in templates.
    public var summary: String {
        guard let directory else { return "" }
        let replacing = replaced.isEmpty ? "" : " replacing \(replaced.joined(separator: ","))"
        let adding = added.isEmpty ? "" : " adding \(added.joined(separator: ","))"
        return directory + (replacing.isEmpty && adding.isEmpty ? " (no templates in it)" : replacing + adding)
    }

    /// A plain-text template is parsed after a `CONTENT_TYPE: TEXT` pragma of its own line, so that nothing in it is
    /// HTML-escaped whatever its file says.
    private static let plainTextPragma = "{{% CONTENT_TYPE: TEXT }}\n"

    /// Parses every `*.mustache` file directly in `directory`, by name. (Not `MustacheLibrary(directory:)`: it
    /// cannot make a template plain text by its name, and it ignores a directory it cannot read.)
    private static func load(_ directory: String) throws(TemplateError) -> [String: MustacheTemplate] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw TemplateError(
                .unreadable, path: directory, reason: "the directory cannot be read: check its permissions")
        }
        var templates: [String: MustacheTemplate] = [:]
        for file in files where file.hasSuffix(".mustache") {
            let path = (directory as NSString).appendingPathComponent(file)
            let name = String(file.dropLast(".mustache".count))
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TemplateError(.unreadable, path: path, reason: "the file cannot be read: check its permissions")
            }
            var text = String(decoding: data, as: UTF8.self)
            // A file's final line break is not part of its template (as in most template engines), so a partial
            // used within a line, like page-status, keeps the line whole.
            if text.last?.isNewline == true { text.removeLast() }
            let plainText = TemplateName.isPlainText(name)
            if plainText { text = plainTextPragma + text }
            do {
                templates[name] = try MustacheTemplate(string: text)
            } catch let error as MustacheTemplate.ParserError {
                throw TemplateError(
                    .malformed, path: path, reason: explain(error.error),
                    line: error.context.lineNumber - (plainText ? 1 : 0), column: error.context.columnNumber)
            } catch {
                throw TemplateError(.malformed, path: path, reason: "\(error)")
            }
        }
        return templates
    }

    /// What a parse error means, in words.
    private static func explain(_ error: any Error) -> String {
        switch error as? MustacheTemplate.Error {
        case .sectionCloseNameIncorrect?: "a closing tag {{/name}} does not match the section it closes"
        case .unfinishedName?: "a tag is not closed, or its name has a character names cannot have"
        case .expectedSectionEnd?: "a section {{#name}} or {{^name}} is never closed"
        case .invalidSetDelimiter?: "a set-delimiter tag {{=<% %>=}} is malformed"
        case .transformAppliedToInheritanceSection?: "a block {{$name}} cannot have a transform"
        case .illegalTokenInsideInheritSection?, .textInsideInheritSection?:
            "inside {{<parent}} … {{/parent}} only blocks {{$name}} … {{/name}} may stand"
        case .invalidConfigVariableSyntax?, .unrecognisedConfigVariable?:
            "a pragma {{% … }} is malformed or unknown (only CONTENT_TYPE: TEXT or HTML is known)"
        case nil: "\(error)"
        }
    }
}

/// Values read once for several renders of a `TemplateLibrary` (`prepare`).
public struct TemplateValues {
    let reflected: Any
}

/// Template values reflected once per render. Left to itself the renderer makes a `Mirror` of a value for every name a
/// template looks up in it, and of every enclosing value the lookup climbs through, which under load was most of the
/// notifier's CPU (emails) and much of the callback receiver's (pages). Here every plain struct or class becomes a
/// table of its stored properties, read once (through its `Encodable` conformance when it is `TemplateFields`, with a
/// `Mirror` otherwise); a lookup is then a dictionary read, with the same answers: a property
/// that is nil is not there (the lookup climbs on, as it did), arrays keep their elements' order and transforms
/// (`empty(…)`), and anything the renderer treats specially (strings, numbers, dictionaries, lambdas, custom
/// renderings, anything with a `description`) is passed as it is.
///
/// What a value is — passed as it is, an optional, an array, a struct or class to reflect — depends on its type
/// alone, so it is found out once per type (six protocol casts and a `Mirror`) and remembered: under load those
/// casts were half of the reflecting.
struct ReflectedValues: MustacheParent, CustomStringConvertible {
    let fields: [String: Any]
    /// The value reflected, for a template that prints it whole (`{{request}}`).
    let original: Any

    func child(named name: String) -> Any? { fields[name] }

    var description: String { String(describing: original) }

    static func reflect(_ value: Any) -> Any {
        switch shape(of: value) {
        case .asItIs, .other:
            return value
        case .array:
            // A box (`AnyHashable`) is an array or not by what it holds: one that is not is passed as it is.
            guard let array = value as? [Any] else { return value }
            // An array of values passed as they are stays the array it was (its element type keeps transforms such as
            // `sorted(…)` that need comparable elements).
            if array.allSatisfy({ shape(of: $0) == .asItIs }) { return value }
            return array.map(reflect)
        case .optional:
            return unwrapped(value).map(reflect) ?? value
        case .encodedFields:
            if let encodable = value as? any TemplateFields, let fields = FieldsEncoder.fields(of: encodable) {
                return ReflectedValues(fields: fields, original: value)
            }
            return mirrored(value)
        case .fields:
            return mirrored(value)
        }
    }

    /// A struct's or class's stored properties, read with a `Mirror`.
    static func mirrored(_ value: Any) -> ReflectedValues {
        let mirror = Mirror(reflecting: value)
        var fields: [String: Any] = [:]
        fields.reserveCapacity(Int(mirror.children.count))
        for child in mirror.children {
            guard let label = child.label, let present = unwrapped(child.value) else { continue }
            fields[label] = reflect(present)
        }
        return ReflectedValues(fields: fields, original: value)
    }

    /// What the renderer is given for a value of one type.
    enum Shape {
        /// Read by the renderer as it is: strings, numbers, dictionaries, lambdas, custom renderings, and anything with
        /// a `description`.
        case asItIs
        case array
        case optional
        /// A struct or class: a table of its stored properties.
        case fields
        /// The same, read through its `Encodable` conformance (`TemplateFields`).
        case encodedFields
        /// Anything else (an enum without a `description`, a tuple), passed as it is.
        case other
    }

    private static let shapes = Mutex<[ObjectIdentifier: Shape]>([:])

    /// The shape of `value`'s type, found out the first time a value of that type is seen.
    static func shape(of value: Any) -> Shape {
        let type = ObjectIdentifier(Swift.type(of: value))
        if let known = shapes.withLock({ $0[type] }) { return known }
        let shape: Shape
        // An optional first: a cast from `Any` looks through one, and would take an optional string for a string (and
        // a nil one for something else).
        if value is any OptionalValue {
            shape = .optional
        } else if value is [Any] {
            shape = .array
        } else if value is any MustacheParent || value is any MustacheTransformable || value is any MustacheCustomRenderable
            || value is any MustacheCustomRepresentation || value is MustacheLambda || value is any CustomStringConvertible
        {
            shape = .asItIs
        } else {
            switch Mirror(reflecting: value).displayStyle {
            case .struct, .class: shape = value is any TemplateFields ? .encodedFields : .fields
            default: shape = .other
            }
        }
        shapes.withLock { $0[type] = shape }
        return shape
    }

    /// The value an optional holds, nil for none; any other value as it is.
    private static func unwrapped(_ value: Any) -> Any? {
        guard shape(of: value) == .optional, let optional = value as? any OptionalValue else { return value }
        return optional.held
    }
}

/// An optional of any type, so that what it holds can be read without a `Mirror`.
private protocol OptionalValue {
    var held: Any? { get }
}

extension Optional: OptionalValue {
    var held: Any? { self.map { $0 as Any } }
}
