import Foundation
import Synchronization

/// How amounts and times are shown to people (emails and pages), the same everywhere.
public enum HumanFormat {
    /// `USD 5,000.00`, `JPY 1,200`, `BHD 0.500`, `-USD 42.50`: the ISO code, then the amount in its currency's minor
    /// units (ISO 4217, from Foundation's currency data), halves rounded away from zero. The same on every host: the
    /// locale is fixed to `en_US` (comma groups, a decimal point), and the no-break space after the code is a plain
    /// one so that subjects, tables and logs stay ASCII.
    public static func amount(_ amount: Double, currency: String) -> String {
        let style = moneyStyles.withLock { styles in
            if let style = styles[currency] { return style }
            let style = FloatingPointFormatStyle<Double>.Currency(code: currency).locale(moneyLocale).presentation(.isoCode)
                .rounded(rule: .toNearestOrAwayFromZero)
            if styles.count < 512 { styles[currency] = style }
            return style
        }
        // The no-break space (C2 A0 in UTF-8) made plain, byte by byte: every email and page shows an amount.
        let formatted = style.format(amount)
        var out: [UInt8] = []
        out.reserveCapacity(formatted.utf8.count)
        var afterC2 = false
        for byte in formatted.utf8 {
            if afterC2 {
                afterC2 = false
                if byte == 0xA0 {
                    out.append(UInt8(ascii: " "))
                    continue
                }
                out.append(0xC2)
            }
            if byte == 0xC2 { afterC2 = true } else { out.append(byte) }
        }
        if afterC2 { out.append(0xC2) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Each currency's style, made once (making one costs more than formatting with it); bounded, since currency codes
    /// come from requests.
    private static let moneyStyles = Mutex<[String: FloatingPointFormatStyle<Double>.Currency]>([:])

    /// The amount of a request that has one (its currency is USD unless it names another); nil otherwise.
    public static func amount(_ amount: Double?, currency: String?) -> String? {
        amount.map { self.amount($0, currency: currency ?? "USD") }
    }

    private static let moneyLocale = Locale(identifier: "en_US")

    /// `2026-11-28 02:42 UTC`.
    public static func utc(_ date: Date) -> String {
        let parts = Timestamp.utcParts(Int64(date.timeIntervalSince1970.rounded(.down)))
        var out: [UInt8] = []
        out.reserveCapacity(20)
        Timestamp.appendDayAndMinute(parts, separator: " ", to: &out)
        out.append(contentsOf: " UTC".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// `24 hours`, `90 minutes`, `2 days`, `less than a minute`.
    public static func duration(from start: Date, to end: Date) -> String {
        let seconds = max(0, Int(end.timeIntervalSince(start).rounded()))
        func plural(_ n: Int, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s")" }
        switch seconds {
        case ..<60: return seconds <= 1 ? "less than a minute" : plural(seconds, "second")
        case ..<(2 * 3600): return plural(Int((Double(seconds) / 60).rounded()), "minute")
        case ..<(2 * 86_400): return plural(Int((Double(seconds) / 3600).rounded()), "hour")
        default: return plural(Int((Double(seconds) / 86_400).rounded()), "day")
        }
    }
}
