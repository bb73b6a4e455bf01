#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IP address range in CIDR notation ("10.0.0.0/8", "::1/128", or one address).
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    let network: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let address = IPAddress.bytes(String(first)) else { return nil }
        var prefix = address.count * 8
        if parts.count == 2, let last = parts.last {
            guard let given = Int(last), (0...address.count * 8).contains(given) else { return nil }
            prefix = given
        }
        self.prefix = prefix
        network = IPAddress.masked(address, prefix: prefix)
    }

    public func contains(_ address: String) -> Bool {
        guard var bytes = IPAddress.bytes(address) else { return false }
        // An IPv4 address seen through an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address.
        if bytes.count == 16, network.count == 4, bytes.prefix(12) == IPAddress.mappedPrefix[...] {
            bytes = Array(bytes.suffix(4))
        }
        guard bytes.count == network.count else { return false }
        return IPAddress.masked(bytes, prefix: prefix) == network
    }

    public var description: String {
        "\(IPAddress.text(network))/\(prefix)"
    }

    /// A comma-separated list; nil when any item is not a CIDR.
    public static func list(_ text: String) -> [CIDR]? {
        var result: [CIDR] = []
        for item in text.split(separator: ",") {
            let trimmed = item.trimmingCharacters(in: " \t")
            guard !trimmed.isEmpty else { continue }
            guard let cidr = CIDR(trimmed) else { return nil }
            result.append(cidr)
        }
        return result
    }
}

enum IPAddress {
    static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    static func bytes(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, prefix - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8.max >> bits)
        }
    }

    static func text(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        var index = 0
        while index + 1 < bytes.count {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
            index += 2
        }
        return groups.joined(separator: ":")
    }
}

/// Who a request really comes from behind reverse proxies. `Forwarded` (RFC 7239) and
/// `X-Forwarded-For` are written by every hop, so a client can put anything at their start;
/// only the hops added by proxies we trust are believed. Walking from the nearest hop back, the
/// first address that is not a trusted proxy is the client.
public enum ForwardedFor {
    public static func client(peer: String, forwarded: [String], xForwardedFor: [String], trusted: [CIDR]) -> String {
        guard !trusted.isEmpty, trusted.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwarded.isEmpty ? xForwardedFor.flatMap(plainHops) : forwarded.flatMap(forwardedHops)
        var client = peer
        for hop in hops.reversed() {
            guard IPAddress.bytes(hop) != nil else { return client }
            client = hop
            if !trusted.contains(where: { $0.contains(hop) }) { return hop }
        }
        return client
    }

    static func plainHops(_ header: String) -> [String] {
        header.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }.filter { !$0.isEmpty }
    }

    /// The `for=` of each element of a `Forwarded` header, without quotes, brackets or port.
    static func forwardedHops(_ header: String) -> [String] {
        var hops: [String] = []
        for element in header.split(separator: ",") {
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let key = parts.first, let rawValue = parts.last,
                    key.trimmingCharacters(in: " \t").lowercased() == "for"
                else { continue }
                var value = rawValue.trimmingCharacters(in: " \t\"")
                if value.hasPrefix("[") {
                    // "[2001:db8::1]:4711"
                    value = String(value.dropFirst().prefix { $0 != "]" })
                } else if value.filter({ $0 == ":" }).count == 1, let colon = value.firstIndex(of: ":") {
                    value = String(value[..<colon])
                }
                hops.append(value)
            }
        }
        return hops
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
