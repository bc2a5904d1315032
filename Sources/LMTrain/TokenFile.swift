// Token files: a 32-byte little-endian header (magic "LMKTOKEN", version, bytes per token, token count, vocabulary
// size) followed by the token ids as uint16 (vocabulary ≤ 65536) or uint32 — Docs/Formats.md "Token file". Written
// atomically (temp file, fsync, rename, fsync of the directory), read through a read-only mmap. The header exists
// because nanoGPT's raw uint16 train.bin cannot be told from any other file (llm.c's shards carry one for the same reason).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A token file that cannot be read or written; the message names the file and what is wrong.
public struct TokenFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// A memory-mapped token file. `tokens[i]` reads one id; the mapping lives as long as the value.
public final class TokenFile: @unchecked Sendable {
    /// "LMKTOKEN" in file order.
    public static let magic: [UInt8] = Array("LMKTOKEN".utf8)
    public static let version: UInt32 = 1
    public static let headerByteCount = 32

    public let path: String
    /// Number of tokens.
    public let count: Int
    /// Vocabulary size the ids were written for; every id is below it.
    public let vocabularySize: Int
    /// 2 (uint16) or 4 (uint32).
    public let bytesPerToken: Int
    private let base: UnsafeRawPointer?
    private let mappedByteCount: Int

    /// Opens and validates `path`: magic, version, dtype, size against the header, and every id < vocabulary size.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TokenFileError(path: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw TokenFileError(path: path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw TokenFileError(path: path, "not a regular file") }
        let size = Int(info.st_size)
        guard size >= Self.headerByteCount else {
            throw TokenFileError(path: path, "truncated: \(size) bytes, shorter than the \(Self.headerByteCount)-byte token file header")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw TokenFileError(path: path, "cannot mmap \(size) bytes: \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawPointer(mapped)
        // From here on, a failure must unmap.
        do {
            let magic = (0..<8).map { raw.load(fromByteOffset: $0, as: UInt8.self) }
            guard magic == Self.magic else {
                let hint = path.hasSuffix(".bin")
                    ? " (nanoGPT's raw uint16 .bin files have no header: re-create it with `lmkit prepare`)" : ""
                throw TokenFileError(path: path, "not an LMKit token file: the first 8 bytes are \(magic.map { String(format: "%02x", $0) }.joined()), expected the magic \"LMKTOKEN\"\(hint)")
            }
            let version = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            guard version == Self.version else {
                throw TokenFileError(path: path, "token file version \(version) is not supported (this build reads version \(Self.version)); re-create it with `lmkit prepare`")
            }
            let width = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
            guard width == 2 || width == 4 else {
                throw TokenFileError(path: path, "corrupt header: bytes per token is \(width), expected 2 (uint16) or 4 (uint32)")
            }
            let count64 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            let vocab64 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            guard vocab64 > 0, vocab64 <= (width == 2 ? 65536 : UInt64(UInt32.max) + 1) else {
                throw TokenFileError(path: path, "corrupt header: vocabulary size \(vocab64) does not fit \(width == 2 ? "uint16" : "uint32") ids (must be 1...\(width == 2 ? "65536" : "4294967296"))")
            }
            let dataBytes = UInt64(size - Self.headerByteCount)
            let (needed, overflow) = count64.multipliedReportingOverflow(by: UInt64(width))
            if overflow || needed > dataBytes {
                throw TokenFileError(path: path, "truncated: the header promises \(count64) tokens of \(width) bytes but only \(dataBytes) bytes of tokens follow (\(dataBytes / UInt64(width)) tokens)")
            }
            if needed < dataBytes {
                throw TokenFileError(path: path, "corrupt: \(dataBytes - needed) unexpected bytes after the \(count64) tokens the header announces")
            }
            if let (index, id) = Self.firstOutOfRange(raw + Self.headerByteCount, count: Int(count64), width: width, limit: Int(vocab64)) {
                throw TokenFileError(path: path, "corrupt: token \(index) is \(id), not below the vocabulary size \(vocab64) in the header")
            }
        } catch {
            munmap(mapped, size)
            throw error
        }
        // Assigned only after every check, so a failed init never reaches deinit with a mapping to release twice.
        count = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        vocabularySize = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        bytesPerToken = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        base = raw + Self.headerByteCount
        mappedByteCount = size
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base - Self.headerByteCount), mappedByteCount) } }

    /// The first id ≥ `limit`, with its index (a vectorizable max pass first, the exact position only on failure).
    private static func firstOutOfRange(_ base: UnsafeRawPointer, count: Int, width: Int, limit: Int) -> (Int, Int)? {
        func scan<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> (Int, Int)? {
            let p = base.assumingMemoryBound(to: T.self)
            var largest: T = 0
            for i in 0..<count { largest = Swift.max(largest, T(littleEndian: p[i])) }
            guard Int(largest) >= limit else { return nil }
            for i in 0..<count where Int(T(littleEndian: p[i])) >= limit { return (i, Int(T(littleEndian: p[i]))) }
            return nil
        }
        return width == 2 ? scan(UInt16.self) : scan(UInt32.self)
    }

    /// Token `index` (0..<count).
    @inline(__always) public subscript(index: Int) -> Int {
        precondition(index >= 0 && index < count, "TokenFile: index \(index) outside 0..<\(count)")
        return bytesPerToken == 2
            ? Int(UInt16(littleEndian: base!.load(fromByteOffset: index * 2, as: UInt16.self)))
            : Int(UInt32(littleEndian: base!.load(fromByteOffset: index * 4, as: UInt32.self)))
    }

    /// Tokens `range` as Ints.
    public func tokens(_ range: Range<Int>) -> [Int] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "TokenFile: range \(range) outside 0..<\(count)")
        var out = [Int](repeating: 0, count: range.count)
        if bytesPerToken == 2 {
            let p = base!.assumingMemoryBound(to: UInt16.self)
            for i in 0..<range.count { out[i] = Int(UInt16(littleEndian: p[range.lowerBound + i])) }
        } else {
            let p = base!.assumingMemoryBound(to: UInt32.self)
            for i in 0..<range.count { out[i] = Int(UInt32(littleEndian: p[range.lowerBound + i])) }
        }
        return out
    }

    /// Copies `length` tokens from `start` into `destination` (no allocation; the batch sampler's path).
    @inline(__always) public func copyTokens(from start: Int, length: Int, into destination: UnsafeMutablePointer<Int>) {
        precondition(start >= 0 && start + length <= count, "TokenFile: \(start)..<\(start + length) outside 0..<\(count)")
        if bytesPerToken == 2 {
            let p = base!.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<length { destination[i] = Int(UInt16(littleEndian: p[i])) }
        } else {
            let p = base!.assumingMemoryBound(to: UInt32.self) + start
            for i in 0..<length { destination[i] = Int(UInt32(littleEndian: p[i])) }
        }
    }

    /// 2 when every id of a `vocabularySize` vocabulary fits uint16, else 4.
    public static func bytesPerToken(forVocabularySize vocabularySize: Int) -> Int { vocabularySize <= 65536 ? 2 : 4 }

    /// Writes `tokens` (each in 0..<vocabularySize) to `path` atomically; uint16 when the vocabulary allows it.
    public static func write(_ tokens: [Int], vocabularySize: Int, to path: String) throws {
        guard vocabularySize > 0, vocabularySize <= Int(UInt32.max) + 1 else {
            throw TokenFileError(path: path, "vocabulary size \(vocabularySize) must be in 1...4294967296")
        }
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw TokenFileError(path: path, "token \(bad) is \(tokens[bad]), outside the vocabulary 0..<\(vocabularySize)")
        }
        let width = bytesPerToken(forVocabularySize: vocabularySize)
        var bytes = [UInt8](repeating: 0, count: headerByteCount + tokens.count * width)
        bytes.withUnsafeMutableBytes { raw in
            for i in 0..<8 { raw[i] = magic[i] }
            raw.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(width).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt64(tokens.count).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: UInt64(vocabularySize).littleEndian, toByteOffset: 24, as: UInt64.self)
            let body = raw.baseAddress! + headerByteCount
            if width == 2 {
                let p = body.assumingMemoryBound(to: UInt16.self)
                for (i, t) in tokens.enumerated() { p[i] = UInt16(t).littleEndian }
            } else {
                let p = body.assumingMemoryBound(to: UInt32.self)
                for (i, t) in tokens.enumerated() { p[i] = UInt32(t).littleEndian }
            }
        }
        try AtomicFile.write(bytes, to: path)
    }
}

/// Atomic file replacement: a temporary file in the destination directory, fsync, rename, fsync of the directory.
/// A crash or Ctrl-C at any point leaves either the old file or the new one, never a mix.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write($0, to: path) }
    }

    public static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TokenFileError(path: path, "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd); unlink(temporary)
                throw TokenFileError(path: path, "write failed: \(reason)")
            }
            done += n
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TokenFileError(path: path, "fsync failed: \(reason)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TokenFileError(path: path, "cannot move the finished file into place: \(reason)")
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 { fsync(directoryFD); close(directoryFD) }
    }
}
