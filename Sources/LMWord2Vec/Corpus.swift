// Streaming access to a training corpus file: memory-mapped read-only and tokenized in place, so a corpus is never
// copied into memory and pages are reclaimable. Follows gensim's `LineSentence`/`Text8Corpus`: one sentence per line,
// tokens separated by ASCII whitespace, sentences longer than 10 000 tokens cut into 10 000-token pieces.
// Does not lower-case, strip punctuation or decode text: tokens are the raw bytes between whitespace.
import _LMSupport
import Foundation

/// Errors from reading corpora, vector files and evaluation files; each names the file and, where known, the line.
public struct Word2VecError: Error, CustomStringConvertible, Equatable {
    /// The human-readable message, e.g. `vectors.txt:12: expected 100 values after the word, found 99`.
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A corpus file mapped into memory. Thread-safe for reading.
public final class CorpusFile: @unchecked Sendable {
    /// The path the corpus was opened from.
    public let path: String
    /// File size in bytes.
    public let byteCount: Int
    let bytes: UnsafePointer<UInt8>
    private let mapping: MappedFile

    /// gensim's `MAX_WORDS_IN_BATCH`: longer lines are split into sentences of at most this many tokens.
    public static let maxSentenceLength = 10_000

    /// Opens and maps `path`; throws a `Word2VecError` naming the file if it cannot be read or is empty.
    public init(path: String) throws {
        self.path = path
        mapping = try rethrowingFileErrors(as: { Word2VecError($0.description) }) { try MappedFile(path: path) }
        byteCount = mapping.byteCount
        guard let base = mapping.base else { throw Word2VecError("\(path): corpus is empty") }
        mapping.adviseSequential()
        bytes = UnsafePointer(base.assumingMemoryBound(to: UInt8.self))
    }

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D || b == 0x0B || b == 0x0C
    }

    /// Calls `body(token, endsSentence)` for each token whose first byte lies in `range`, in order. `endsSentence`
    /// is true for the last token of a line. A token that starts before `range` is skipped, one that starts inside
    /// it is read to its end even past `range`, so adjacent ranges see every token exactly once.
    @inline(__always)
    func forEachToken(in range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>, Bool) -> Void) {
        var i = range.lowerBound
        if i > 0 { while i < byteCount && !CorpusFile.isSpace(bytes[i - 1]) && i < range.upperBound { i += 1 } }
        let end = range.upperBound
        while i < end {
            while i < byteCount && CorpusFile.isSpace(bytes[i]) { i += 1 }
            if i >= end { break }
            let start = i
            while i < byteCount && !CorpusFile.isSpace(bytes[i]) { i += 1 }
            // The token ends a sentence if the next non-blank byte (spaces/tabs/CR only) is a newline or EOF.
            var j = i
            while j < byteCount && (bytes[j] == 0x20 || bytes[j] == 0x09 || bytes[j] == 0x0D) { j += 1 }
            body(UnsafeBufferPointer(start: bytes + start, count: i - start), j >= byteCount || bytes[j] == 0x0A)
        }
    }

    /// `parts` byte ranges of nearly equal size covering the file, for one training thread each.
    func partitions(_ parts: Int) -> [Range<Int>] {
        (0..<parts).map { p in (byteCount * p / parts)..<(byteCount * (p + 1) / parts) }
    }
}
