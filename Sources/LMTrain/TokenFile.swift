// Token files: a 32-byte little-endian header (magic "LMKTOKEN", version, bytes per token, token count, vocabulary
// size) followed by the token ids as uint16 (vocabulary ≤ 65536) or uint32 — Docs/Formats.md "Token file". Written
// atomically and read through a read-only mmap (both from _LMSupport). The header exists because nanoGPT's raw
// uint16 train.bin cannot be told from any other file (llm.c's shards carry one for the same reason).
import _LMSupport
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
    private let file: MappedFile
    private let base: UnsafeRawPointer

    /// Opens and validates `path`: magic, version, dtype, size against the header, and every id < vocabulary size.
    public init(path: String) throws {
        self.path = path
        file = try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) { try MappedFile(path: path) }
        let size = file.byteCount
        guard size >= Self.headerByteCount, let raw = file.base.map({ UnsafeRawPointer($0) }) else {
            throw TokenFileError(path: path, "truncated: \(size) bytes, shorter than the \(Self.headerByteCount)-byte token file header")
        }
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
        count = Int(count64)
        vocabularySize = Int(vocab64)
        bytesPerToken = width
        base = raw + Self.headerByteCount
    }

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
            ? Int(UInt16(littleEndian: base.load(fromByteOffset: index * 2, as: UInt16.self)))
            : Int(UInt32(littleEndian: base.load(fromByteOffset: index * 4, as: UInt32.self)))
    }

    /// Tokens `range` as Ints.
    public func tokens(_ range: Range<Int>) -> [Int] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "TokenFile: range \(range) outside 0..<\(count)")
        var out = [Int](repeating: 0, count: range.count)
        if bytesPerToken == 2 {
            let p = base.assumingMemoryBound(to: UInt16.self)
            for i in 0..<range.count { out[i] = Int(UInt16(littleEndian: p[range.lowerBound + i])) }
        } else {
            let p = base.assumingMemoryBound(to: UInt32.self)
            for i in 0..<range.count { out[i] = Int(UInt32(littleEndian: p[range.lowerBound + i])) }
        }
        return out
    }

    /// Copies `length` tokens from `start` into `destination` (no allocation; the batch sampler's path).
    @inline(__always) public func copyTokens(from start: Int, length: Int, into destination: UnsafeMutablePointer<Int>) {
        precondition(start >= 0 && start + length <= count, "TokenFile: \(start)..<\(start + length) outside 0..<\(count)")
        if bytesPerToken == 2 {
            let p = base.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<length { destination[i] = Int(UInt16(littleEndian: p[i])) }
        } else {
            let p = base.assumingMemoryBound(to: UInt32.self) + start
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
        try writeAtomically(bytes, to: path)
    }
}

/// Writes a token file piece by piece, so memory holds one piece of ids rather than the whole file: the header goes
/// first with a zero count, ids are appended, and `finish` writes the count and commits atomically (a failure leaves
/// the old file, if any, in place and no temporary file behind).
final class TokenFileWriter {
    let path: String, vocabularySize: Int, width: Int
    private let writer: AtomicFileWriter
    private(set) var count = 0

    init(path: String, vocabularySize: Int) throws {
        guard vocabularySize > 0, vocabularySize <= Int(UInt32.max) + 1 else {
            throw TokenFileError(path: path, "vocabulary size \(vocabularySize) must be in 1...4294967296")
        }
        self.path = path
        self.vocabularySize = vocabularySize
        width = TokenFile.bytesPerToken(forVocabularySize: vocabularySize)
        writer = try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) { try AtomicFileWriter(path: path) }
        var header = [UInt8](repeating: 0, count: TokenFile.headerByteCount)
        header.withUnsafeMutableBytes { raw in
            for i in 0..<8 { raw[i] = TokenFile.magic[i] }
            raw.storeBytes(of: TokenFile.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(width).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt64(vocabularySize).littleEndian, toByteOffset: 24, as: UInt64.self)
        }
        try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) { try writer.write(header) }
    }

    func append(_ tokens: [Int]) throws {
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw TokenFileError(path: path, "token \(count + bad) is \(tokens[bad]), outside the vocabulary 0..<\(vocabularySize)")
        }
        var bytes = [UInt8](repeating: 0, count: tokens.count * width)
        bytes.withUnsafeMutableBytes { raw in
            if width == 2 {
                for (i, t) in tokens.enumerated() { raw.storeBytes(of: UInt16(t).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            } else {
                for (i, t) in tokens.enumerated() { raw.storeBytes(of: UInt32(t).littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        }
        try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) { try writer.write(bytes) }
        count += tokens.count
    }

    func finish() throws {
        var total = UInt64(count).littleEndian
        try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) {
            try withUnsafeBytes(of: &total) { try writer.overwrite($0, at: 16) }
            try writer.commit()
        }
    }
}

/// Replaces `path` with `bytes` atomically (_LMSupport's `AtomicFile`); a failure is a `TokenFileError` naming the
/// file and the failed system call. Every file LMTrain writes goes through here.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    try rethrowingFileErrors(as: { TokenFileError(path: path, $0.message) }) { try AtomicFile.write(bytes, to: path) }
}
