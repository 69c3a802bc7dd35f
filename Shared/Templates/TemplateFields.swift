/// A value whose stored properties are what a template sees of it (`{{request.id}}`), read through its `Encodable`
/// conformance instead of a `Mirror`. Reflecting a page's values was a tenth of the callback receiver's CPU under
/// load (for every property, a `Mirror` looks up the field's type by its mangled name and casts the value), where the
/// compiler's conformance hands each property over directly.
///
/// Conform with the conformance the compiler writes: no `CodingKeys` and no `encode(to:)` of the type's own, so that
/// each property reaches the template under its own name, as with reflection. A value whose encoding is anything else
/// than one keyed container (a single value, a list, a nested container) is reflected instead, as if it did not
/// conform. The properties' types need only be `Encodable`: each is then given to the template as reflection would
/// give it (passed as it is, unwrapped, listed, or read as fields in its turn).
public protocol TemplateFields: Encodable {}

/// Reads a `TemplateFields` value's properties into a table, as `ReflectedValues` does with a `Mirror`: a property
/// that is nil is left out (the compiler's conformance encodes optionals with `encodeIfPresent`), and every value
/// goes through `ReflectedValues.reflect`.
final class FieldsEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private(set) var fields: [String: Any] = [:]
    /// The value encoded itself in some other way than one keyed container: reflect it instead.
    private(set) var refused = false

    /// `value`'s properties, or nil when its encoding is not one keyed container of them.
    static func fields(of value: any TemplateFields) -> [String: Any]? {
        let encoder = FieldsEncoder()
        do {
            try value.encode(to: encoder)
        } catch {
            return nil
        }
        return encoder.refused ? nil : encoder.fields
    }

    func store(_ value: Any, _ key: some CodingKey) {
        fields[key.stringValue] = ReflectedValues.reflect(value)
    }

    func refuse() -> Refused {
        refused = true
        return Refused()
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Container(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { refuse() }

    func singleValueContainer() -> any SingleValueEncodingContainer { refuse() }

    /// The one keyed container of a value's properties.
    struct Container<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: FieldsEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) {}
        mutating func encode(_ value: Bool, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: String, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Double, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Float, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Int, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Int8, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Int16, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Int32, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: Int64, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: UInt, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: UInt8, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: UInt16, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: UInt32, forKey key: Key) { encoder.store(value, key) }
        mutating func encode(_ value: UInt64, forKey key: Key) { encoder.store(value, key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) { encoder.store(value, key) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            _ = encoder.refuse()
            return KeyedEncodingContainer(Container<NestedKey>(encoder: FieldsEncoder()))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { encoder.refuse() }

        mutating func superEncoder() -> any Encoder {
            _ = encoder.refuse()
            return FieldsEncoder()
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            _ = encoder.refuse()
            return FieldsEncoder()
        }
    }

    /// What a value that encodes itself otherwise is given: takes everything and keeps nothing (the value is then
    /// reflected).
    struct Refused: UnkeyedEncodingContainer, SingleValueEncodingContainer {
        var codingPath: [any CodingKey] { [] }
        var count: Int { 0 }

        mutating func encodeNil() {}
        mutating func encode(_ value: Bool) {}
        mutating func encode(_ value: String) {}
        mutating func encode(_ value: Double) {}
        mutating func encode(_ value: Float) {}
        mutating func encode(_ value: Int) {}
        mutating func encode(_ value: Int8) {}
        mutating func encode(_ value: Int16) {}
        mutating func encode(_ value: Int32) {}
        mutating func encode(_ value: Int64) {}
        mutating func encode(_ value: UInt) {}
        mutating func encode(_ value: UInt8) {}
        mutating func encode(_ value: UInt16) {}
        mutating func encode(_ value: UInt32) {}
        mutating func encode(_ value: UInt64) {}
        mutating func encode<T: Encodable>(_ value: T) {}

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            KeyedEncodingContainer(Container<NestedKey>(encoder: FieldsEncoder()))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { Refused() }

        mutating func superEncoder() -> any Encoder { FieldsEncoder() }
    }
}
