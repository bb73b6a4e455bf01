import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// Password hashing with PBKDF2-HMAC-SHA256. The stored form names its parameters
/// (`pbkdf2-sha256$<rounds>$<salt>$<hash>`), so the work factor can rise without
/// invalidating existing accounts.
public struct PasswordHasher: Sendable {
    /// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
    public static let defaultRounds = 600_000
    public let rounds: Int
    /// Counts key derivations, so a test can prove that an unknown e-mail costs the same work as
    /// a wrong password without timing anything.
    public let evaluations: EvaluationCounter

    public final class EvaluationCounter: Sendable {
        private let count = Mutex(0)
        public init() {}
        public var value: Int { count.withLock { $0 } }
        func increment() { count.withLock { $0 += 1 } }
    }

    public init(rounds: Int = PasswordHasher.defaultRounds, evaluations: EvaluationCounter = EvaluationCounter()) {
        self.rounds = rounds
        self.evaluations = evaluations
    }

    /// A hash of a random password with this hasher's work factor: what a sign-in with an
    /// unknown e-mail is checked against, so it costs what a wrong password costs.
    public func decoy() -> String {
        (try? hash(SecureToken.make()))
            ?? "pbkdf2-sha256$\(rounds)$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    }

    public func hash(_ password: String) throws -> String {
        let salt = SecureToken.randomBytes(16)
        let key = try derive(password, salt: salt, rounds: rounds)
        return "pbkdf2-sha256$\(rounds)$\(Base64URL.encode(salt))$\(Base64URL.encode(key))"
    }

    public func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds > 0,
            let salt = Base64URL.decode(String(parts[2])), let expected = Base64URL.decode(String(parts[3])),
            let actual = try? derive(password, salt: salt, rounds: rounds)
        else { return false }
        return ConstantTime.equal(actual, expected)
    }

    private func derive(_ password: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        evaluations.increment()
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32,
            unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// HMAC-SHA256 signatures for values the server hands out and must recognise again
/// (participant cookies and tokens, CSRF tokens).
public struct Signer: Sendable {
    private let keyBytes: [UInt8]
    /// The HMAC with the key already absorbed: every request signs or verifies a token, and
    /// copying this state is cheaper than deriving the padded key again. Never mutated: each
    /// signature works on a copy, and swift-crypto's digests copy their context on write, so
    /// concurrent copies only read it (hence the unchecked `Sendable`).
    private nonisolated(unsafe) let keyed: HMAC<SHA256>

    public init(secret: String) {
        keyBytes = Array(SHA256.hash(data: Array("charter-signing:\(secret)".utf8)))
        keyed = HMAC<SHA256>(key: SymmetricKey(data: keyBytes))
    }

    public func signature(of value: String, purpose: String) -> String {
        var mac = keyed
        mac.update(data: Array(purpose.utf8))
        mac.update(data: [0])
        mac.update(data: Array(value.utf8))
        return Base64URL.encode(Array(mac.finalize()))
    }

    /// A conversation's xid secret: what signs its panel links (`sig`). Derived from the instance
    /// secret and the conversation, so no key that mints links sits in the database.
    public func xidSecret(conversationID: Int64) -> String {
        Self.hex(
            HMAC<SHA256>.authenticationCode(
                for: Array("xid-secret\u{0}\(conversationID)".utf8), using: SymmetricKey(data: keyBytes)))
    }

    /// The `sig` of a panel link: the lowercase hex HMAC-SHA256 of the NFC-normalised xid under
    /// the conversation's xid secret, as a survey tool or `charter admin sign-xids` computes it.
    public static func xidSignature(xid: String, secret: String) -> String {
        hex(
            HMAC<SHA256>.authenticationCode(
                for: Array(xid.precomposedStringWithCanonicalMapping.utf8),
                using: SymmetricKey(data: Array(secret.utf8))))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `value.signature`, for a value that holds no '.'.
    public func sign(_ value: String, purpose: String) -> String {
        "\(value).\(signature(of: value, purpose: purpose))"
    }

    /// The value of a signed string, or nil when the signature does not match.
    public func verified(_ signed: String, purpose: String) -> String? {
        guard let dot = signed.lastIndex(of: ".") else { return nil }
        let value = String(signed[..<dot])
        let given = Array(signed[signed.index(after: dot)...].utf8)
        let expected = Array(signature(of: value, purpose: purpose).utf8)
        return ConstantTime.equal(given, expected) ? value : nil
    }
}

public enum SecureToken {
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// A random token of 256 bits, URL- and cookie-safe.
    public static func make(prefix: String = "") -> String {
        prefix + Base64URL.encode(randomBytes(32))
    }

    /// What the database keeps of a bearer secret: its SHA-256, so a leaked database reveals
    /// no usable token.
    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

enum ConstantTime {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Written out rather than Foundation's base64 and three replacements: every participant
    /// request signs or checks a token, and that detour was a measurable share of a vote.
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ string: String) -> [UInt8]? {
        var s = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }
}
