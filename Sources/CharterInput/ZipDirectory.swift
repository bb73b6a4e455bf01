import Foundation
import ZIPFoundation

/// The directory of a zip archive (APPNOTE.TXT §4.3), read with checked access only: every
/// field of every record is bounds-checked, and an entry's bytes must lie inside the archive.
/// Stored and deflated entries are read; zip64, encryption and other methods are refused, since
/// an import is far below zip64's sizes.
enum ZipDirectory {
    struct Entry: Equatable {
        var name: String
        var method: Int
        var crc32: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        /// Where the entry's stored bytes start.
        var dataOffset: Int
    }

    static func malformed(_ why: String) -> ImportReadError {
        .malformed("The body is not a readable zip archive (\(why)).")
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> Int? {
        guard at >= 0, at <= bytes.count - 2 else { return nil }
        return Int(bytes[at]) | Int(bytes[at + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> Int? {
        guard at >= 0, at <= bytes.count - 4 else { return nil }
        return Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }

    /// The end-of-central-directory record: the last "PK\u{5}\u{6}" whose comment ends the data.
    static func endOfCentralDirectory(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 22 else { return nil }
        var index = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while index >= lowest {
            if u32(bytes, index) == 0x0605_4B50, let comment = u16(bytes, index + 20),
                index + 22 + comment == bytes.count
            {
                return index
            }
            index -= 1
        }
        return nil
    }

    static func entries(_ bytes: [UInt8]) throws(ImportReadError) -> [Entry] {
        guard let end = endOfCentralDirectory(bytes) else { throw malformed("no end of central directory") }
        guard let count = u16(bytes, end + 10), let size = u32(bytes, end + 12), let start = u32(bytes, end + 16)
        else { throw malformed("short end record") }
        guard count != 0xFFFF, size != 0xFFFF_FFFF, start != 0xFFFF_FFFF else {
            throw malformed("zip64 is not supported")
        }
        guard start + size <= end else { throw malformed("the central directory lies outside the archive") }
        var entries: [Entry] = []
        var cursor = start
        for _ in 0..<count {
            guard u32(bytes, cursor) == 0x0201_4B50, let flags = u16(bytes, cursor + 8),
                let method = u16(bytes, cursor + 10), let crc = u32(bytes, cursor + 16),
                let compressed = u32(bytes, cursor + 20), let uncompressed = u32(bytes, cursor + 24),
                let nameLength = u16(bytes, cursor + 28), let extraLength = u16(bytes, cursor + 30),
                let commentLength = u16(bytes, cursor + 32), let local = u32(bytes, cursor + 42),
                cursor + 46 + nameLength <= end
            else { throw malformed("a damaged directory record") }
            guard compressed != 0xFFFF_FFFF, uncompressed != 0xFFFF_FFFF, local != 0xFFFF_FFFF else {
                throw malformed("zip64 is not supported")
            }
            guard flags & 1 == 0 else { throw malformed("encrypted entries are not supported") }
            let name = String(decoding: bytes[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            guard u32(bytes, local) == 0x0403_4B50, let localName = u16(bytes, local + 26),
                let localExtra = u16(bytes, local + 28)
            else { throw malformed("\(name) has no local header") }
            let dataOffset = local + 30 + localName + localExtra
            guard dataOffset + compressed <= start else { throw malformed("\(name) lies outside the archive") }
            entries.append(
                Entry(
                    name: name, method: method, crc32: UInt32(crc), compressedSize: compressed,
                    uncompressedSize: uncompressed, dataOffset: dataOffset))
            cursor += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    private struct Stop: Error {
        var tooLarge: Bool
    }

    /// The entry's content; throws `.tooLarge` past `limit` bytes, `.malformed` when the bytes
    /// do not inflate to what the directory says.
    static func inflate(_ entry: Entry, in bytes: [UInt8], limit: Int, name: String) throws(ImportReadError) -> Data {
        let stored = Data(bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)])
        switch entry.method {
        case 0:
            guard stored.count <= limit else { throw .tooLarge("\(name) is larger than the import allows.") }
            return stored
        case 8:
            var output = Data()
            var position = 0
            do {
                let crc = try Data.decompress(
                    size: Int64(stored.count), bufferSize: 64 * 1024, skipCRC32: false,
                    provider: { _, chunkSize in
                        // Past its own bytes a stream that has not ended is damaged: stop, where
                        // ZIPFoundation would ask again for ever.
                        guard position < stored.count else { throw Stop(tooLarge: false) }
                        let end = min(stored.count, position + chunkSize)
                        var chunk = Data(stored[(stored.startIndex + position)..<(stored.startIndex + end)])
                        position = end
                        // ZIPFoundation tells zlib every chunk is `chunkSize` long, so a short last
                        // chunk is padded: zlib must never read past it. The CRC catches any
                        // output the padding adds to a stream that does not end in its bytes.
                        if chunk.count < chunkSize { chunk.append(Data(count: chunkSize - chunk.count)) }
                        return chunk
                    },
                    consumer: { chunk in
                        guard output.count + chunk.count <= limit else { throw Stop(tooLarge: true) }
                        output.append(chunk)
                    })
                guard crc == entry.crc32 else { throw Stop(tooLarge: false) }
            } catch let stop as Stop where stop.tooLarge {
                throw .tooLarge("\(name) inflates beyond what the import allows; the import refuses it.")
            } catch {
                throw .malformed("\(name) in the zip cannot be read.")
            }
            return output
        default:
            throw malformed("\(name) uses compression method \(entry.method); only stored and deflate are read")
        }
    }
}
