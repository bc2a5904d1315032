// The training vocabulary: counted in one streaming pass over a corpus, trimmed by `min_count`/`max_final_vocab`,
// sorted by descending count, with the subsampling keep-probabilities and the unigram^0.75 negative-sampling table.
// Follows gensim 4.4 `Word2Vec.prepare_vocab` and `make_cum_table` exactly (same integers), so that the same random
// stream picks the same words. Does not prune during counting (gensim's `max_vocab_size`): the count table is kept whole.
import Foundation

/// Vocabulary of a word2vec model, most frequent word first.
public struct Word2VecVocabulary: Sendable {
    /// Words, by descending count (ties keep first-occurrence order).
    public let words: [String]
    /// Corpus count of each word.
    public let counts: [Int64]
    /// Total number of corpus tokens seen while counting, including words later dropped by `min_count`.
    public let totalTokenCount: Int64
    /// Number of lines (sentences before the 10 000-token split) in the corpus.
    public let sentenceCount: Int
    /// Keep-threshold per word as gensim's `sample_int`: a word is kept when `sampleInt > next 32-bit random`.
    /// `⌊min(1, (sqrt(c / t) + 1) · t / c) · (2³² − 1)⌋` with `t = sample · retained tokens`.
    public let sampleInt: [UInt64]
    /// gensim's `cum_table`: cumulative `count^0.75` scaled to `2³¹ − 1`, used to draw negative samples.
    public let cumTable: [UInt32]
    /// Sum of counts of the retained words.
    public var retainedTokenCount: Int64 { counts.reduce(0, +) }

    let table: WordTable

    /// Id of `word`, or nil when it is not in the vocabulary.
    public func index(of word: String) -> Int? {
        var w = word
        let id = w.withUTF8 { table.find($0) }
        return id < 0 ? nil : Int(id)
    }

    /// Counts `corpus` in one pass and keeps words with `count >= minCount`; when `maxFinalVocab` is set, raises the
    /// threshold as gensim does (`count of the word ranked maxFinalVocab + 1`) so at most that many words remain.
    /// - Parameters:
    ///   - sample: frequent-word subsampling threshold (gensim `sample`, word2vec.c `-sample`); 0 disables it.
    ///   - progress: called with the fraction of bytes counted, from the calling thread.
    public init(counting corpus: CorpusFile, minCount: Int = 5, maxFinalVocab: Int? = nil, sample: Double = 1e-3,
                progress: ((Double) -> Void)? = nil) throws {
        var raw = WordTable(capacity: 1 << 18)
        var rawCounts: [Int64] = []
        var total: Int64 = 0
        var lines = 0
        let chunk = 1 << 24
        var start = 0
        while start < corpus.byteCount {
            let end = min(corpus.byteCount, start + chunk)
            corpus.forEachToken(in: start..<end) { token, endsLine in
                let (id, inserted) = raw.findOrInsert(token)
                if inserted { rawCounts.append(1) } else { rawCounts[Int(id)] += 1 }
                total += 1
                if endsLine { lines += 1 }
            }
            start = end
            progress?(Double(end) / Double(corpus.byteCount))
        }
        guard total > 0 else { throw Word2VecError("\(corpus.path): corpus holds no tokens") }
        try self.init(rawTable: raw, rawCounts: rawCounts, totalTokenCount: total, sentenceCount: lines,
                      minCount: minCount, maxFinalVocab: maxFinalVocab, sample: sample, source: corpus.path)
    }

    /// Builds a vocabulary from explicit `(word, count)` pairs in first-occurrence order (tests, `build_vocab_from_freq`).
    public init(wordCounts: [(String, Int64)], minCount: Int = 5, maxFinalVocab: Int? = nil, sample: Double = 1e-3) throws {
        var raw = WordTable(capacity: wordCounts.count)
        var counts: [Int64] = []
        for (word, count) in wordCounts {
            var w = word
            let (id, inserted) = w.withUTF8 { raw.findOrInsert($0) }
            if inserted { counts.append(count) } else { counts[Int(id)] += count }
        }
        try self.init(rawTable: raw, rawCounts: counts, totalTokenCount: counts.reduce(0, +), sentenceCount: 0,
                      minCount: minCount, maxFinalVocab: maxFinalVocab, sample: sample, source: "word counts")
    }

    private init(rawTable raw: WordTable, rawCounts: [Int64], totalTokenCount: Int64, sentenceCount: Int,
                 minCount: Int, maxFinalVocab: Int?, sample: Double, source: String) throws {
        guard minCount >= 1 else { throw Word2VecError("min_count must be at least 1, got \(minCount)") }
        guard sample >= 0 else { throw Word2VecError("sample must be >= 0, got \(sample)") }
        var threshold = Int64(minCount)
        if let maxFinalVocab, maxFinalVocab < rawCounts.count {
            guard maxFinalVocab >= 1 else { throw Word2VecError("max_final_vocab must be at least 1") }
            let sorted = rawCounts.sorted(by: >)
            threshold = max(threshold, sorted[maxFinalVocab] + 1)
        }
        let kept = rawCounts.indices.filter { rawCounts[$0] >= threshold }
            .sorted { rawCounts[$0] != rawCounts[$1] ? rawCounts[$0] > rawCounts[$1] : $0 < $1 }
        guard !kept.isEmpty else {
            throw Word2VecError("\(source): no word occurs at least \(threshold) times; lower min_count")
        }
        var table = WordTable(capacity: kept.count)
        var words: [String] = []
        words.reserveCapacity(kept.count)
        raw.keyBytes.withUnsafeBufferPointer { arena in
            for id in kept {
                let bytes = UnsafeBufferPointer(rebasing: arena[raw.keyStarts[id]..<raw.keyStarts[id + 1]])
                _ = table.findOrInsert(bytes)
                words.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        let counts = kept.map { rawCounts[$0] }
        self.words = words
        self.counts = counts
        self.table = table
        self.totalTokenCount = totalTokenCount
        self.sentenceCount = sentenceCount
        self.sampleInt = Word2VecVocabulary.sampleThresholds(counts: counts, sample: sample)
        self.cumTable = Word2VecVocabulary.cumulativeTable(counts: counts)
    }

    /// gensim `prepare_vocab`: `threshold_count = sample · retain_total` (or `sample·(3+√5)/2` when `sample >= 1`).
    static func sampleThresholds(counts: [Int64], sample: Double) -> [UInt64] {
        let retained = Double(counts.reduce(0, +))
        let thresholdCount: Double
        if sample == 0 { thresholdCount = retained }
        else if sample < 1 { thresholdCount = sample * retained }
        else { thresholdCount = Double(Int(sample * (3 + 5.0.squareRoot()) / 2)) }
        return counts.map { c in
            let v = Double(c)
            var p = ((v / thresholdCount).squareRoot() + 1) * (thresholdCount / v)
            if p >= 1 || sample == 0 { p = 1 }
            return UInt64(p * 4294967295.0)  // np.uint32(p * (2**32 - 1)): truncation
        }
    }

    /// gensim `make_cum_table(ns_exponent=0.75, domain=2**31 - 1)`: `round(Σ_{j≤i} c_j^0.75 / Σ c^0.75 · domain)`.
    static func cumulativeTable(counts: [Int64]) -> [UInt32] {
        let domain = Double(Int32.max)
        var trainWordsPow = 0.0
        for c in counts { trainWordsPow += pow(Double(c), 0.75) }
        var cumulative = 0.0
        return counts.map { c in
            cumulative += pow(Double(c), 0.75)
            return UInt32((cumulative / trainWordsPow * domain).rounded(.toNearestOrEven))
        }
    }
}
