public import CharterDomain
import Foundation

/// How the audit log words a change of settings.
public enum AuditText {
    public static func describeChanges(from old: ConversationSettings, to new: ConversationSettings) -> String {
        let before = Mirror(reflecting: old).children
        let after = Mirror(reflecting: new).children
        let changes = zip(before, after).compactMap { old, new -> String? in
            let o = auditText(old.value)
            let n = auditText(new.value)
            return o == n ? nil : "\(old.label ?? "?"): \(o) → \(n)"
        }
        return changes.isEmpty ? "no changes" : changes.joined(separator: "; ")
    }

    /// A setting's value as an organiser reads it in the audit log.
    public static func auditText(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return "none" }
            return auditText(wrapped)
        }
        switch value {
        case let text as String: return "\"\(text)\""
        case let date as Date: return ISO8601DateFormatter().string(from: date)
        case let raw as any RawRepresentable: return "\(raw.rawValue)"
        default: return "\(value)"
        }
    }
}
