// Byte-level BPE training with HF `tokenizers`' BpeTrainer semantics: count pre-tokenized words first (streaming over
// files line by line, as HF's train_from_files feeds lines with their endings), then merge with incremental pair
// counts and a lazy max-heap instead of recounting every pair per merge (minbpe #5, tiktoken #299).
// Tie-breaking (documented in Docs/Formats.md and tested): the most frequent pair wins; equal counts go to the
// pair with the smallest (left id, right id); ids are specials first, then the 256 byte characters in code-point
// order of GPT-2's byte alphabet, then merges in order. Follows huggingface/tokenizers: models/bpe/trainer.rs.
import Foundation

/// What the trainer is doing, for progress bars.
public struct TrainingProgress: Sendable {
    public enum Phase: Sendable { case countingWords, merging }
    public let phase: Phase
    /// Bytes read (counting) or merges done (merging).
    public let done: Int
    /// Total bytes (0 if unknown) or merges wanted.
    public let total: Int
}

/// Trains a byte-level BPE tokenizer. Feed text with `add(text:)` / `add(file:)`, then call `train()`.
public final class BPETrainer {
    /// Target vocabulary size, counting special tokens and the 256 byte tokens.
    public let vocabularySize: Int
    /// Pairs seen fewer times than this are never merged (HF `min_frequency`; ByteLevelBPETokenizer's default is 2).
    public let minFrequency: Int
    /// The pre-tokenization pattern (the trained tokenizer encodes with the same one).
    public let pattern: SplitPattern
    /// Special tokens; they get ids 0..<count in this order and are never merged.
    public let specialTokens: [String]
    /// Called now and then with progress (on the calling thread).
    public var progress: ((TrainingProgress) -> Void)?

    private var wordTable = ByteSpanTable(expectedCount: 1 << 16)
    private var wordCounts: [Int] = []

    /// Largest vocabulary a trainer accepts: ids are Int32.
    public static let maximumVocabularySize = Int(Int32.max)

    public init(vocabularySize: Int, minFrequency: Int = 2, pattern: SplitPattern = .gpt2, specialTokens: [String] = []) throws {
        guard vocabularySize >= 256 + specialTokens.count else {
            throw TokenizerError.invalidArgument(name: "vocabularySize", expected: "at least 256 + the number of special tokens (\(256 + specialTokens.count)), got \(vocabularySize)")
        }
        guard vocabularySize <= Self.maximumVocabularySize else {
            throw TokenizerError.invalidArgument(name: "vocabularySize", expected: "at most \(Self.maximumVocabularySize) (token ids are 32-bit), got \(vocabularySize)")
        }
        guard minFrequency >= 0 else { throw TokenizerError.invalidArgument(name: "minFrequency", expected: "≥ 0, got \(minFrequency)") }
        guard Set(specialTokens).count == specialTokens.count, !specialTokens.contains("") else {
            throw TokenizerError.invalidArgument(name: "specialTokens", expected: "distinct non-empty strings")
        }
        try PreTokenizer.validate(pattern, location: "pattern")
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
        self.pattern = pattern
        self.specialTokens = specialTokens
    }

    /// Distinct pre-tokenized words counted so far.
    public var distinctWordCount: Int { wordCounts.count }

    // MARK: Counting words

    /// Counts the words of `text`, line by line (each line keeps its `\n`), as HF feeds lines to its pre-tokenizer.
    public func add(text: String) {
        var text = text
        text.withUTF8 { b in
            if let base = b.baseAddress { countLines(base, b.count) }
        }
    }

    /// Streams a file in 8 MiB blocks cut after the last newline, so memory holds one block plus the word counts.
    public func add(file path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            throw TokenizerError.io(path: path, reason: !exists ? "no such file" : (isDirectory.boolValue ? "is a directory, expected a text file" : "cannot be opened for reading"))
        }
        defer { try? handle.close() }
        let total = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var carry: [UInt8] = []
        var done = 0
        while true {
            let block: Data
            do { block = try handle.read(upToCount: 8 << 20) ?? Data() } catch {
                throw TokenizerError.io(path: path, reason: "read failed after \(done) bytes: \(error.localizedDescription)")
            }
            if block.isEmpty { break }
            done += block.count
            var buffer = carry
            buffer.append(contentsOf: block)
            var cut = buffer.count
            while cut > 0 && buffer[cut - 1] != 0x0A { cut -= 1 }
            if cut == 0 { carry = buffer; continue }  // a line longer than the block: keep reading
            buffer.withUnsafeBufferPointer { countLines($0.baseAddress!, cut) }
            carry = Array(buffer[cut...])
            progress?(TrainingProgress(phase: .countingWords, done: done, total: total))
        }
        if !carry.isEmpty { carry.withUnsafeBufferPointer { countLines($0.baseAddress!, $0.count) } }
    }

    /// Counts lines in `p[0..<n]`; large inputs are split across 2 threads, each with its own table, then merged.
    private func countLines(_ p: UnsafePointer<UInt8>, _ n: Int) {
        let threads = n > (1 << 20) ? 2 : 1
        if threads == 1 {
            BPETrainer.countLines(p, 0, n, pattern: pattern, into: &wordTable, counts: &wordCounts)
            return
        }
        var mid = n / 2
        while mid < n && p[mid - 1] != 0x0A { mid += 1 }
        var tables = [ByteSpanTable](repeating: ByteSpanTable(expectedCount: 1 << 15), count: 2)
        var counts = [[Int]](repeating: [], count: 2)
        let ranges = [(0, mid), (mid, n)]
        let pattern = self.pattern
        tables.withUnsafeMutableBufferPointer { t in
            counts.withUnsafeMutableBufferPointer { c in
                nonisolated(unsafe) let t = t, c = c
                nonisolated(unsafe) let p = p
                DispatchQueue.concurrentPerform(iterations: 2) { k in
                    BPETrainer.countLines(p, ranges[k].0, ranges[k].1, pattern: pattern, into: &t[k], counts: &c[k])
                }
            }
        }
        for k in 0..<2 {
            for entry in 0..<counts[k].count {
                let key = tables[k].key(at: entry)
                key.withUnsafeBufferPointer { b in
                    let index = wordTable.add(b.baseAddress!, b.count, 0)
                    if index == wordCounts.count { wordCounts.append(0) }
                    wordCounts[index] += counts[k][entry]
                }
            }
        }
    }

    private static func countLines(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int, pattern: SplitPattern,
                                   into table: inout ByteSpanTable, counts: inout [Int]) {
        let splitter = PreTokenizer(pattern)
        var start = from
        while start < to {
            var end = start
            while end < to && p[end] != 0x0A { end += 1 }
            if end < to { end += 1 }  // keep the newline with its line
            splitter.forEachPiece(p + start, end - start) { s, e in
                let index = table.add(p + start + s, e - s, 0)
                if index == counts.count { counts.append(0) }
                counts[index] += 1
            }
            start = end
        }
    }

    /// Adds an already-counted word (for callers with their own counting).
    public func add(word bytes: [UInt8], count: Int) {
        guard !bytes.isEmpty, count > 0 else { return }
        bytes.withUnsafeBufferPointer { b in
            let index = wordTable.add(b.baseAddress!, b.count, 0)
            if index == wordCounts.count { wordCounts.append(0) }
            wordCounts[index] += count
        }
    }

    // MARK: Merging

    /// The byte-level alphabet ids used by training: specials first, then bytes in code-point order of their characters.
    public static func alphabetOrder() -> [UInt8] {
        (0..<256).map { UInt8($0) }.sorted { ByteLevelAlphabet.characterForByte[Int($0)].value < ByteLevelAlphabet.characterForByte[Int($1)].value }
    }

    /// Runs the merges and returns the tokenizer (`.merges` rule, the trainer's pattern and specials).
    public func train() throws -> ByteLevelBPE {
        let result = trainMerges()
        return try ByteLevelBPE(tokens: result.tokens, merges: result.merges, specialTokens: result.specials,
                                pattern: pattern, source: "trainer")
    }

    /// The training result as plain data: tokens (bytes, id), merges (left bytes, right bytes) in order, specials.
    public func trainMerges() -> (tokens: [(bytes: [UInt8], id: Int)], merges: [([UInt8], [UInt8])], specials: [(String, Int)]) {
        var idBytes: [[UInt8]] = []
        var tokens: [(bytes: [UInt8], id: Int)] = []
        let specials = specialTokens.enumerated().map { ($0.element, $0.offset) }
        for s in specialTokens { idBytes.append(Array(s.utf8)) }
        var byteID = [Int32](repeating: 0, count: 256)
        // Sized for what merging can produce, not for the request: a vocabulary size of 10^11 must not allocate.
        var tokenTable = ByteSpanTable(expectedCount: min(vocabularySize, 256 + wordTable.arena.count + specialTokens.count))
        for b in BPETrainer.alphabetOrder() {
            byteID[Int(b)] = Int32(idBytes.count)
            tokens.append(([b], idBytes.count))
            tokenTable.insert([b], value: Int32(idBytes.count))
            idBytes.append([b])
        }

        // Words as runs in one flat symbol array; merges shrink a word in place.
        let wordCount = wordCounts.count
        var wordStart = [Int](repeating: 0, count: wordCount + 1)
        var wordLength = [Int32](repeating: 0, count: wordCount)
        var symbols: [Int32] = []
        symbols.reserveCapacity(wordTable.arena.count)
        for w in 0..<wordCount {
            wordStart[w] = symbols.count
            let key = wordTable.key(at: w)
            for b in key { symbols.append(byteID[Int(b)]) }
            wordLength[w] = Int32(key.count)
        }
        wordStart[wordCount] = symbols.count

        var merges: [([UInt8], [UInt8])] = []
        let wanted = vocabularySize - idBytes.count
        let progress = self.progress
        let baseCount = idBytes.count
        runBPEMerges(symbols: &symbols, wordStart: wordStart, wordLength: &wordLength, wordCounts: wordCounts,
                     vocabularySize: vocabularySize, minFrequency: minFrequency, vocabularyCount: { idBytes.count },
                     newToken: { left, right in
                         let newBytes = idBytes[Int(left)] + idBytes[Int(right)]
                         var newID = tokenTable.lookup(newBytes)
                         if newID < 0 {
                             newID = Int32(idBytes.count)
                             tokenTable.insert(newBytes, value: newID)
                             tokens.append((newBytes, idBytes.count))
                             idBytes.append(newBytes)
                         }
                         merges.append((idBytes[Int(left)], idBytes[Int(right)]))
                         if merges.count % 64 == 0 { progress?(TrainingProgress(phase: .merging, done: idBytes.count - baseCount, total: wanted)) }
                         return newID
                     })
        progress?(TrainingProgress(phase: .merging, done: wanted, total: wanted))
        return (tokens, merges, specials)
    }

    /// Convenience: trains on files (streamed) with HF's ByteLevelBPETokenizer defaults.
    public static func train(files: [String], vocabularySize: Int, minFrequency: Int = 2, pattern: SplitPattern = .gpt2,
                             specialTokens: [String] = [], progress: ((TrainingProgress) -> Void)? = nil) throws -> ByteLevelBPE {
        let trainer = try BPETrainer(vocabularySize: vocabularySize, minFrequency: minFrequency, pattern: pattern, specialTokens: specialTokens)
        trainer.progress = progress
        for f in files { try trainer.add(file: f) }
        return try trainer.train()
    }
}

/// Max-heap order through BinaryHeap's min-heap: higher count first, then the smaller (left, right) pair.
struct TrainerHeapEntry: Comparable {
    var count: Int
    let key: UInt64
    static func < (a: TrainerHeapEntry, b: TrainerHeapEntry) -> Bool {
        a.count != b.count ? a.count > b.count : a.key < b.key
    }
}

/// The merge loop shared by the BPE and WordPiece trainers (HF BpeTrainer semantics). Words are runs of symbol ids in
/// `symbols` (`wordStart[w]`, `wordLength[w]`, weight `wordCounts[w]`); merges rewrite them in place. `newToken` is
/// called for each merge in order with (left, right) and returns the merged id (adding it to the caller's vocabulary
/// when new); the loop stops when `vocabularyCount()` reaches `vocabularySize`, or the best count is below
/// `max(1, minFrequency)`. Best = highest count, ties to the smallest (left, right).
func runBPEMerges(symbols: inout [Int32], wordStart: [Int], wordLength: inout [Int32], wordCounts: [Int],
                  vocabularySize: Int, minFrequency: Int, vocabularyCount: () -> Int,
                  newToken: (Int32, Int32) -> Int32) {
    let wordCount = wordCounts.count
    // Pair statistics: pair -> index into counts / word lists.
    var pairIndex: [UInt64: Int32] = [:]
    var pairCount: [Int] = []
    var pairWords: [[Int32]] = []
    var pairKeys: [UInt64] = []
    @inline(__always) func indexOf(_ key: UInt64) -> Int {
        if let i = pairIndex[key] { return Int(i) }
        let i = pairCount.count
        pairIndex[key] = Int32(i)
        pairCount.append(0); pairWords.append([]); pairKeys.append(key)
        return i
    }
    for w in 0..<wordCount {
        let s = wordStart[w], len = Int(wordLength[w]), c = wordCounts[w]
        if len < 2 { continue }
        for k in s..<(s + len - 1) {
            let i = indexOf(PairTable.key(symbols[k], symbols[k + 1]))
            pairCount[i] += c
            if pairWords[i].last != Int32(w) { pairWords[i].append(Int32(w)) }
        }
    }
    var heap = BinaryHeap<TrainerHeapEntry>()
    for i in 0..<pairCount.count where pairCount[i] > 0 {
        heap.push(TrainerHeapEntry(count: pairCount[i], key: pairKeys[i]))
    }

    var changedPairs: [Int] = []
    var isChanged = [Bool]()
    while vocabularyCount() < vocabularySize, var top = heap.pop() {
        let i = Int(pairIndex[top.key]!)
        if top.count != pairCount[i] {  // stale: re-queue with the current count (counts only fall)
            top.count = pairCount[i]
            if top.count > 0 { heap.push(top) }
            continue
        }
        if top.count < 1 || top.count < minFrequency { break }
        let left = Int32(bitPattern: UInt32(top.key >> 32)), right = Int32(bitPattern: UInt32(truncatingIfNeeded: top.key))
        let newID = newToken(left, right)

        // Merge in every word that had the pair, applying HF's per-occurrence count changes.
        changedPairs.removeAll(keepingCapacity: true)
        let words = pairWords[i]
        symbols.withUnsafeMutableBufferPointer { sym in
            for w32 in words {
                let w = Int(w32), s = wordStart[w], c = wordCounts[w]
                var len = Int(wordLength[w])
                var k = 0
                while k < len - 1 {
                    if sym[s + k] == left && sym[s + k + 1] == right {
                        if k > 0 {
                            let prev = sym[s + k - 1]
                            pairCount[indexOf(PairTable.key(prev, left))] -= c
                            let j = indexOf(PairTable.key(prev, newID))
                            pairCount[j] += c
                            if pairWords[j].last != w32 { pairWords[j].append(w32) }
                            if j >= isChanged.count { isChanged.append(contentsOf: repeatElement(false, count: j + 1 - isChanged.count)) }
                            if !isChanged[j] { isChanged[j] = true; changedPairs.append(j) }
                        }
                        sym[s + k] = newID
                        // Remove the right symbol.
                        var m = k + 1
                        while m < len - 1 { sym[s + m] = sym[s + m + 1]; m += 1 }
                        len -= 1
                        if k < len - 1 {
                            let next = sym[s + k + 1]
                            pairCount[indexOf(PairTable.key(right, next))] -= c
                            let j = indexOf(PairTable.key(newID, next))
                            pairCount[j] += c
                            if pairWords[j].last != w32 { pairWords[j].append(w32) }
                            if j >= isChanged.count { isChanged.append(contentsOf: repeatElement(false, count: j + 1 - isChanged.count)) }
                            if !isChanged[j] { isChanged[j] = true; changedPairs.append(j) }
                        }
                    }
                    k += 1
                }
                wordLength[w] = Int32(len)
            }
        }
        for j in changedPairs {
            isChanged[j] = false
            if pairCount[j] > 0 { heap.push(TrainerHeapEntry(count: pairCount[j], key: pairKeys[j])) }
        }
    }
}
