// The queryable n-gram model: one contiguous image in LMKit's binary layout (Docs/Formats.md, "LMKit n-gram binary"),
// either built in memory from `NGramTables` or mmap-loaded from a file, plus the back-off query over it.
// Lookup follows KenLM's probing model (lm/search_hashed.hh): per-order open-addressing tables keyed by 64-bit n-gram
// hashes extended leftwards, state = recent words + their back-offs. It does not store a trie or quantize values.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import _LMSupport

/// A decoder's context: up to N-1 most recent words (newest first) and the log10 back-offs of those contexts.
public struct NGramState: Equatable, Sendable {
    /// Number of context words held (≤ order - 1).
    public var length: Int
    /// `words[0]` is the newest word.
    public var words: SIMD16<UInt32>
    /// `backoffs[j]` is the log10 back-off of the context made of the `j + 1` newest words.
    public var backoffs: SIMD16<Float>

    public init() {
        length = 0
        words = .zero
        backoffs = .zero
    }

    public static func == (lhs: NGramState, rhs: NGramState) -> Bool {
        guard lhs.length == rhs.length else { return false }
        for j in 0..<lhs.length where lhs.words[j] != rhs.words[j] { return false }
        return true
    }
}

/// Score of one word given a state, as KenLM's `query` prints it.
public struct NGramWordScore: Equatable, Sendable {
    /// log10 p(word | context), back-offs included.
    public var log10Probability: Float
    /// Length of the longest n-gram matched (1 for a unigram or `<unk>`).
    public var ngramLength: Int
    /// The word's vocabulary id (0 = `<unk>`).
    public var wordId: UInt32
    /// True when the word is not in the vocabulary.
    public var isUnknown: Bool { wordId == SpecialWord.unknown }
}

/// Totals over sentences, with KenLM's two perplexities.
public struct NGramCorpusScore: Equatable, Sendable {
    /// Sum of log10 probabilities of all scored tokens (words and `</s>`).
    public var log10Total: Double = 0
    /// Sum of log10 probabilities of the out-of-vocabulary tokens.
    public var log10OutOfVocabulary: Double = 0
    /// Tokens scored (words plus one `</s>` per sentence when end-of-sentence is scored).
    public var tokenCount: Int = 0
    /// Out-of-vocabulary tokens among them.
    public var outOfVocabularyCount: Int = 0
    /// Sentences scored.
    public var sentenceCount: Int = 0

    public init() {}

    /// 10^(-total / tokens): KenLM's "Perplexity including OOVs".
    public var perplexityIncludingOOVs: Double {
        tokenCount == 0 ? .nan : pow(10, -log10Total / Double(tokenCount))
    }

    /// KenLM's "Perplexity excluding OOVs": OOV tokens and their probabilities left out.
    public var perplexityExcludingOOVs: Double {
        let count = tokenCount - outOfVocabularyCount
        return count == 0 ? .nan : pow(10, -(log10Total - log10OutOfVocabulary) / Double(count))
    }

    mutating func add(_ score: NGramWordScore) {
        log10Total += Double(score.log10Probability)
        tokenCount += 1
        if score.isUnknown {
            outOfVocabularyCount += 1
            log10OutOfVocabulary += Double(score.log10Probability)
        }
    }
}

/// One slot of the vocabulary table (16 bytes): the word's 64-bit hash and its id + 1 (0 = empty).
struct VocabularySlot {
    var hash: UInt64
    var idPlusOne: UInt64
}

/// One slot of an order's hash table (16 bytes): `key == 0` marks an empty slot.
@usableFromInline
struct NGramSlot {
    @usableFromInline var key: UInt64
    @usableFromInline var log10Probability: Float
    @usableFromInline var log10Backoff: Float
}

@usableFromInline
struct NGramTableView {
    @usableFromInline let slots: UnsafePointer<NGramSlot>
    @usableFromInline let mask: Int
    let wordIds: UnsafePointer<UInt32>
    let count: Int

    @inlinable @inline(__always)
    func find(_ key: UInt64) -> UnsafePointer<NGramSlot>? {
        var index = Int(truncatingIfNeeded: key) & mask
        while true {
            let slot = slots + index
            let stored = slot.pointee.key
            if stored == key { return slot }
            if stored == 0 { return nil }
            index = (index + 1) & mask
        }
    }
}

/// A back-off n-gram model ready to query. Immutable and thread-safe once made.
public final class NGramModel: @unchecked Sendable {
    /// Highest n-gram order supported by the binary layout and the state (15 context words).
    public static let maximumOrder = 16

    /// The model order N.
    public let order: Int
    /// Number of vocabulary words, `<unk>`, `<s>`, `</s>` included.
    public let vocabularySize: Int
    /// Number of n-grams per order.
    public let counts: [Int]
    /// Where the model came from (file path, or "" for a model built in memory).
    public let source: String

    let image: UnsafeRawBufferPointer
    private let release: () -> Void
    @usableFromInline let unigrams: UnsafePointer<SIMD2<Float>>
    @usableFromInline let orderTables: [NGramTableView]
    let vocabularyOffsets: UnsafePointer<UInt64>
    let vocabularyBlob: UnsafePointer<UInt8>
    let vocabularyTable: UnsafePointer<VocabularySlot>
    let vocabularyMask: Int

    init(image: UnsafeRawBufferPointer, source: String, release: @escaping () -> Void) throws {
        self.image = image
        self.release = release
        self.source = source
        let layout: NGramBinaryLayout
        do {
            layout = try NGramBinaryLayout(validating: image, file: source)
        } catch {
            release()
            throw error
        }
        order = layout.order
        vocabularySize = layout.vocabularySize
        counts = layout.counts
        let base = image.baseAddress!
        unigrams = (base + layout.unigramOffset).assumingMemoryBound(to: SIMD2<Float>.self)
        vocabularyOffsets = UnsafePointer((base + layout.vocabularyOffsetsOffset).assumingMemoryBound(to: UInt64.self))
        vocabularyBlob = UnsafePointer((base + layout.vocabularyBlobOffset).assumingMemoryBound(to: UInt8.self))
        vocabularyTable = UnsafePointer((base + layout.vocabularyTableOffset).assumingMemoryBound(to: VocabularySlot.self))
        vocabularyMask = layout.vocabularyTableSlots - 1
        var tables: [NGramTableView] = [NGramTableView(slots: UnsafePointer(bitPattern: 16)!, mask: 0,
                                                      wordIds: UnsafePointer(bitPattern: 16)!, count: layout.vocabularySize)]
        for n in stride(from: 2, through: layout.order, by: 1) {
            tables.append(NGramTableView(
                slots: UnsafePointer((base + layout.tableOffsets[n - 1]).assumingMemoryBound(to: NGramSlot.self)),
                mask: layout.tableSlots[n - 1] - 1,
                wordIds: UnsafePointer((base + layout.wordIdOffsets[n - 1]).assumingMemoryBound(to: UInt32.self)),
                count: layout.counts[n - 1]))
        }
        self.orderTables = tables
    }

    deinit { release() }

    /// Builds the lookup image in memory from list-form tables.
    public convenience init(tables: NGramTables) throws {
        let bytes = try NGramBinaryLayout.makeImage(from: tables)
        let (buffer, release) = try allocateHugePageMemory(bytes.count, file: "")
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        try self.init(image: UnsafeRawBufferPointer(buffer), source: "", release: release)
    }

    /// How a binary model file is brought into memory (KenLM's `query -l`).
    public enum LoadMethod: String, Sendable, CaseIterable {
        /// mmap the file: instant, pages read on first touch, shared between processes; 4 KiB pages.
        case map
        /// Read the file into anonymous memory advised for transparent huge pages: slower to load, but queries take
        /// far fewer TLB misses (the default, as KenLM's probing model allocates with huge pages too).
        case read
    }

    /// Loads a file written by `write(binaryTo:)`, by mmap or by reading it into huge-page memory.
    public convenience init(binaryFile path: String, method: LoadMethod) throws {
        if method == .map {
            try self.init(binaryFile: path)
            return
        }
        let file = try NGramModel.mapBinary(path)
        file.adviseSequential()
        let (buffer, release) = try allocateHugePageMemory(file.byteCount, file: path)
        buffer.copyMemory(from: file.bytes)
        try self.init(image: UnsafeRawBufferPointer(buffer), source: path, release: release)
    }

    /// Throws naming `path` unless it is a regular file: a FIFO would block a reader forever, a directory has nothing
    /// to read.
    public static func checkModelFile(_ path: String) throws {
        try rethrowingFileErrors(as: { NGramError(file: $0.path, "\($0.message) (expected an ARPA file or an LMKit binary)") }) {
            try FileReading.checkRegularFile(path)
        }
    }

    /// Memory-maps a file written by `write(binaryTo:)`; the pages are read lazily by the kernel.
    public convenience init(binaryFile path: String) throws {
        let file = try NGramModel.mapBinary(path)
        // The closure owns the mapping: it is unmapped when the model (or a failed init) drops the closure.
        try self.init(image: file.bytes, source: path, release: { withExtendedLifetime(file) {} })
    }

    /// Maps an LMKit binary read-only, checking it can hold the header.
    private static func mapBinary(_ path: String) throws -> MappedFile {
        let file = try rethrowingFileErrors(as: { NGramError($0) }) { try MappedFile(path: path) }
        guard file.byteCount >= NGramBinaryLayout.headerBytes else {
            throw NGramError(file: path, "file is \(file.byteCount) bytes, shorter than the \(NGramBinaryLayout.headerBytes)-byte header of an LMKit n-gram binary")
        }
        return file
    }

    /// Writes the image (the LMKit binary format) atomically to `path`.
    public func write(binaryTo path: String) throws {
        try rethrowingFileErrors(as: { NGramError($0) }) { try AtomicFile.write(image, to: path) }
    }

    // MARK: Vocabulary

    /// The id of a word given as UTF-8 bytes, or 0 (`<unk>`) when it is not in the vocabulary.
    public func wordId(utf8 bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return SpecialWord.unknown }
        // Words are identified by their 64-bit hash, as KenLM's vocabulary does: one cache miss per word instead of
        // three (slot, offsets, bytes). Collisions between vocabulary words are rejected when the model is built.
        let hash = NGramHashing.hashBytes(base, bytes.count)
        var index = Int(truncatingIfNeeded: hash) & vocabularyMask
        while true {
            let slot = vocabularyTable[index]
            if slot.idPlusOne == 0 { return SpecialWord.unknown }
            if slot.hash == hash { return UInt32(truncatingIfNeeded: slot.idPlusOne - 1) }
            index = (index + 1) & vocabularyMask
        }
    }

    /// The id of `word`, or 0 (`<unk>`) when it is not in the vocabulary.
    public func wordId(_ word: String) -> UInt32 {
        var word = word
        return word.withUTF8 { wordId(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// The text of word `id`.
    public func word(_ id: UInt32) -> String {
        precondition(Int(id) < vocabularySize, "word id \(id) out of range 0..<\(vocabularySize)")
        let start = Int(vocabularyOffsets[Int(id)])
        let end = Int(vocabularyOffsets[Int(id) + 1])
        return String(decoding: UnsafeBufferPointer(start: vocabularyBlob + start, count: end - start), as: UTF8.self)
    }

    // MARK: Query

    /// The state at the start of a sentence: context `<s>`.
    public var beginSentenceState: NGramState {
        var state = NGramState()
        if order > 1 {
            state.length = 1
            state.words[0] = SpecialWord.sentenceBegin
            state.backoffs[0] = unigrams[Int(SpecialWord.sentenceBegin)].y
        }
        return state
    }

    /// The empty context (scoring without `<s>`).
    public var nullContextState: NGramState { NGramState() }

    /// Scores `word` after `state` (back-off: longest match, plus the back-offs of the longer contexts not matched)
    /// and writes the successor state into `next`.
    public func score(_ word: UInt32, after state: NGramState, next: inout NGramState) -> NGramWordScore {
        let unigram = unigrams[Int(word)]
        var log10Probability = unigram.x
        var matched = 1
        next.words[0] = word
        next.backoffs[0] = unigram.y
        var key = NGramHashing.unigramKey(word)
        let contextLimit = min(state.length, order - 1)
        var k = 0
        while k < contextLimit {
            key = NGramHashing.extendLeft(key, with: state.words[k])
            guard let slot = orderTables[k + 1].find(NGramHashing.slotKey(key)) else { break }
            log10Probability = slot.pointee.log10Probability
            matched = k + 2
            if k + 1 < order - 1 {
                next.words[k + 1] = state.words[k]
                next.backoffs[k + 1] = slot.pointee.log10Backoff
            }
            k += 1
        }
        var j = matched - 1
        while j < state.length {
            log10Probability += state.backoffs[j]
            j += 1
        }
        next.length = min(matched, order - 1)
        // Drop context words whose n-gram has no extension (back-off stored as -0.0): no longer n-gram can match.
        while next.length > 0 && next.backoffs[next.length - 1].bitPattern == (-Float.zero).bitPattern { next.length -= 1 }
        return NGramWordScore(log10Probability: log10Probability, ngramLength: matched, wordId: word)
    }

    /// Scores a sentence given as word ids; `begin` starts from `<s>`, `end` scores `</s>` at the end.
    /// Calls `each` per token (for `query`-style output).
    public func scoreSentence(_ words: some Sequence<UInt32>, begin: Bool = true, end: Bool = true,
                              each: ((NGramWordScore) -> Void)? = nil) -> NGramCorpusScore {
        var total = NGramCorpusScore()
        var state = begin ? beginSentenceState : nullContextState
        var next = NGramState()
        for word in words {
            let score = score(word, after: state, next: &next)
            total.add(score)
            each?(score)
            swap(&state, &next)
        }
        if end {
            let score = score(SpecialWord.sentenceEnd, after: state, next: &next)
            total.add(score)
            each?(score)
        }
        total.sentenceCount = 1
        return total
    }

    /// Scores a sentence of whitespace-separated words (KenLM's `Model.score(sentence, bos, eos)`).
    public func scoreSentence(_ text: String, begin: Bool = true, end: Bool = true) -> NGramCorpusScore {
        var ids: [UInt32] = []
        var text = text
        text.withUTF8 { bytes in
            forEachWord(in: UnsafeRawBufferPointer(bytes)) { ids.append(wordId(utf8: $0)) }
        }
        return scoreSentence(ids, begin: begin, end: end)
    }

    // MARK: Dump

    /// The model back in list form (vocabulary in id order, each order's n-grams sorted by word ids).
    public func tables() -> NGramTables {
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize { vocabulary.append(word(UInt32(id))) }
        var orders: [NGramOrderTable] = []
        var unigramTable = NGramOrderTable(order: 1)
        for id in 0..<vocabularySize {
            unigramTable.append(words: CollectionOfOne(UInt32(id)), log10Probability: unigrams[id].x,
                                log10Backoff: unigrams[id].y)
        }
        orders.append(unigramTable)
        for n in stride(from: 2, through: order, by: 1) {
            let view = orderTables[n - 1]
            var filled: [Int] = []
            filled.reserveCapacity(view.count)
            for index in 0...view.mask where view.slots[index].key != 0 { filled.append(index) }
            filled.sort { a, b in
                for j in 0..<n {
                    let x = view.wordIds[a * n + j], y = view.wordIds[b * n + j]
                    if x != y { return x < y }
                }
                return false
            }
            var table = NGramOrderTable(order: n)
            table.wordIds.reserveCapacity(filled.count * n)
            for index in filled {
                table.append(words: UnsafeBufferPointer(start: view.wordIds + index * n, count: n),
                             log10Probability: view.slots[index].log10Probability,
                             log10Backoff: n == order ? 0 : view.slots[index].log10Backoff)
            }
            orders.append(table)
        }
        return NGramTables(vocabulary: vocabulary, orders: orders)
    }
}

/// Calls `body` with each run of non-whitespace bytes (space, tab, CR, LF, VT, FF and NUL separate words, as KenLM's
/// `util::kSpaces`).
@inlinable
public func forEachWord(in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
    let count = bytes.count
    guard let base = bytes.baseAddress else { return }
    var i = 0
    while i < count {
        while i < count && isWordSeparator(base.load(fromByteOffset: i, as: UInt8.self)) { i += 1 }
        let start = i
        while i < count && !isWordSeparator(base.load(fromByteOffset: i, as: UInt8.self)) { i += 1 }
        if i > start { try body(UnsafeRawBufferPointer(start: base + start, count: i - start)) }
    }
}

/// Whitespace that separates words in corpora and sentences (KenLM `util::kSpaces`: " \f\n\r\t\v" and NUL).
@inlinable @inline(__always)
public func isWordSeparator(_ byte: UInt8) -> Bool {
    byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) || byte == 0
}

/// Scores every line of `text` as a sentence (with `<s>` and `</s>`), for perplexity. Lines are split on LF.
public func scoreCorpus(_ model: NGramModel, _ text: UnsafeRawBufferPointer, begin: Bool = true, end: Bool = true) -> NGramCorpusScore {
    // Measured and rejected (gcide order 5, 589 K tokens): a first pass touching every slot a sentence will probe,
    // so cache misses overlap, gave no gain (4.03 M vs 4.03 M words/s); the out-of-order core already overlaps them.
    var total = NGramCorpusScore()
    var ids: [UInt32] = []
    var lineStart = 0
    while lineStart < text.count {
        var lineEnd = text.count
        if let found = memchr(text.baseAddress! + lineStart, 0x0A, text.count - lineStart) {
            lineEnd = text.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
        ids.removeAll(keepingCapacity: true)
        forEachWord(in: UnsafeRawBufferPointer(rebasing: text[lineStart..<lineEnd])) { ids.append(model.wordId(utf8: $0)) }
        let sentence = model.scoreSentence(ids, begin: begin, end: end)
        total.log10Total += sentence.log10Total
        total.log10OutOfVocabulary += sentence.log10OutOfVocabulary
        total.tokenCount += sentence.tokenCount
        total.outOfVocabularyCount += sentence.outOfVocabularyCount
        total.sentenceCount += 1
        lineStart = lineEnd + 1
    }
    return total
}

/// Anonymous memory rounded to 2 MiB and advised for transparent huge pages (a hint: without THP it is plain memory).
func allocateHugePageMemory(_ size: Int, file: String) throws -> (UnsafeMutableRawBufferPointer, () -> Void) {
    let hugePage = 2 << 20
    let rounded = max(hugePage, (size + hugePage - 1) / hugePage * hugePage)
    guard let memory = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), memory != MAP_FAILED else {
        throw NGramError(file: file, "cannot allocate \(rounded) bytes: \(String(cString: strerror(errno)))")
    }
    _ = madvise(memory, rounded, MADV_HUGEPAGE)
    return (UnsafeMutableRawBufferPointer(start: memory, count: size), { munmap(memory, rounded) })
}
