// Interpolated modified Kneser-Ney estimation with back-off weights, the model KenLM's `lmplz` builds
// (Heafield et al. 2013, "Scalable Modified Kneser-Ney Language Model Estimation"; Chen & Goodman 1998, eq. 26):
// adjusted counts (continuation counts below the top order, raw counts for the top order and for n-grams that start
// with <s>), three discounts per order from the count-of-counts, unigrams interpolated with the uniform distribution
// over the vocabulary minus <s>. In memory, not lmplz's on-disk streams: n-grams are packed into 128-bit keys and sorted.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options of `estimateKneserNey`, named after lmplz's flags.
public struct KneserNeyOptions: Sendable {
    /// Model order N (`lmplz -o`).
    public var order: Int
    /// `--prune`: per order (index 0 = unigrams), n-grams whose adjusted count is ≤ the threshold are dropped.
    /// Unigram pruning is not supported (lmplz rejects it too); missing entries mean 0, and thresholds must not decrease.
    public var pruneThresholds: [Int]
    /// `--discount_fallback`: discounts for adjusted counts 1, 2, 3+ used when an order's count-of-counts give
    /// discounts out of range (tiny or artificial corpora); nil makes that an error, as lmplz does by default.
    public var discountFallback: [Double]?
    /// `--limit_vocab_file`: when set, n-grams containing a corpus word outside this set are pruned (`<unk>`, `<s>`,
    /// `</s>` are always kept). As in lmplz, the pruned words still count towards the discounts and the denominators;
    /// their mass moves to the back-off, so each context's distribution over the kept vocabulary sums to 1, and the
    /// unigram interpolation is uniform over the kept vocabulary. The model's vocabulary is the kept words only.
    public var vocabularyLimit: Set<String>?

    public init(order: Int, pruneThresholds: [Int] = [], discountFallback: [Double]? = nil,
                vocabularyLimit: Set<String>? = nil) {
        self.order = order
        self.pruneThresholds = pruneThresholds
        self.discountFallback = discountFallback
        self.vocabularyLimit = vocabularyLimit
    }

    /// Reads a `--limit_vocab_file`: words separated by any whitespace (spaces, tabs, newlines), as lmplz reads it.
    public static func readVocabularyLimit(path: String) throws -> Set<String> {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path) } catch let error as NGramError {
            throw NGramError(file: path, "cannot read the vocabulary limit file: \(error.message)")
        }
        var words = Set<String>()
        var start = 0
        for i in 0...bytes.count {
            let isSpace = i == bytes.count || bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D
                || bytes[i] == 0x0B || bytes[i] == 0x0C
            if isSpace {
                if i > start { words.insert(String(decoding: bytes[start..<i], as: UTF8.self)) }
                start = i + 1
            }
        }
        return words
    }

    /// lmplz's default fallback discounts (`--discount_fallback` with no values).
    public static let defaultFallbackDiscounts: [Double] = [0.5, 1.0, 1.5]
}

/// The discounts of one order: `amounts[k]` is subtracted from an adjusted count k (k = 1, 2, 3+; `amounts[0]` = 0).
public struct KneserNeyDiscount: Equatable, Sendable {
    public var amounts: [Double]
    /// Count-of-counts t1…t4 the discounts came from.
    public var countOfCounts: [Int]
    /// True when `discountFallback` replaced out-of-range values.
    public var usedFallback: Bool

    @inline(__always) func amount(for count: UInt32) -> Double { amounts[Int(min(count, 3))] }
}

/// Result of estimation: the model in list form plus the statistics lmplz prints.
public struct KneserNeyResult {
    public var tables: NGramTables
    /// Discounts per order (index 0 = unigrams).
    public var discounts: [KneserNeyDiscount]
    /// Number of words read (sentence markers excluded) and sentences.
    public var wordCount: Int
    public var sentenceCount: Int
}

/// Stage names reported through `progress`.
public enum KneserNeyStage: String, Sendable {
    case counting = "counting", adjusting = "adjusting counts", discounting = "discounts",
         probabilities = "probabilities", done = "done"
}

/// Receives a model order by order as estimation finishes each one, so it can be written without holding the whole
/// model (`ARPAStreamWriter`). `begin` comes first, with the vocabulary and the n-gram count of every order.
public struct KneserNeyOutputSink {
    public var begin: (_ vocabulary: [String], _ counts: [Int]) throws -> Void
    public var order: (NGramOrderTable) throws -> Void

    public init(begin: @escaping ([String], [Int]) throws -> Void, order: @escaping (NGramOrderTable) throws -> Void) {
        self.begin = begin
        self.order = order
    }
}

/// Estimates a model from a corpus file (one sentence per line). Errors name the file and line.
/// With `sink`, each order goes to it as soon as it is complete and `result.tables.orders` stays empty (lower peak memory).
public func estimateKneserNey(corpusFile path: String, options: KneserNeyOptions,
                              progress: ((KneserNeyStage, Double) -> Void)? = nil,
                              sink: KneserNeyOutputSink? = nil) throws -> KneserNeyResult {
    var corpus = try readFileBytes(path).withUnsafeBytes { try tokenizeCorpus($0, file: path) }
    var estimator = try KneserNeyEstimator(corpus: corpus, options: options, file: path, progress: progress)
    corpus = TokenizedCorpus(vocabulary: [], tokens: [], sentenceCount: 0)   // the estimator holds the only copy now
    return try estimator.run(sink: sink)
}

/// Estimates a model from an already tokenized corpus. `file` only labels errors.
public func estimateKneserNey(corpus: TokenizedCorpus, options: KneserNeyOptions, file: String = "",
                              progress: ((KneserNeyStage, Double) -> Void)? = nil,
                              sink: KneserNeyOutputSink? = nil) throws -> KneserNeyResult {
    var estimator = try KneserNeyEstimator(corpus: corpus, options: options, file: file, progress: progress)
    return try estimator.run(sink: sink)
}

/// Packs n-grams of ≤ N words into one UInt128, `bitsPerWord` bits per word.
/// "Suffix keys" put word i of an n-gram at bits i*B (the newest word is most significant), so sorting them groups
/// n-grams by suffix; "context keys" put the oldest word most significant, so sorting groups them by context.
struct NGramKeyCodec {
    let bitsPerWord: Int
    let wordMask: UInt128

    init(vocabularySize: Int) {
        var bits = 1
        while (1 << bits) < vocabularySize { bits += 1 }
        bitsPerWord = bits
        wordMask = (UInt128(1) << UInt128(bits)) - 1
    }

    @inline(__always) func word(_ key: UInt128, _ index: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: (key >> UInt128(index * bitsPerWord)) & wordMask)
    }

    /// Suffix key → context key for an n-gram of `n` words (and back: the map is its own inverse).
    @inline(__always) func reverse(_ key: UInt128, _ n: Int) -> UInt128 {
        var result: UInt128 = 0
        var source = key
        for _ in 0..<n {
            result = (result << UInt128(bitsPerWord)) | (source & wordMask)
            source >>= UInt128(bitsPerWord)
        }
        return result
    }

    /// Drops the oldest word of a suffix key (the n-gram's suffix) or the newest of a context key (its context).
    @inline(__always) func dropLowWord(_ key: UInt128) -> UInt128 { key >> UInt128(bitsPerWord) }
}

/// One order's n-grams in suffix-key order with their adjusted counts, then their probabilities and back-offs.
struct OrderState {
    var suffixKeys: [UInt128] = []
    var adjustedCounts: [UInt32] = []
    /// Occurrences in the corpus; `--prune` compares these with the thresholds (as lmplz does).
    var rawCounts: [UInt32] = []
    var log10Probabilities: [Float] = []
    var backoffs: [Float] = []      // gamma (linear) of the n-gram as a context; 1 when it is none
    var probabilities: [Float] = [] // interpolated p, linear
    /// (context key, index into suffixKeys), sorted by context key.
    var contextOrder = ContextOrder()
}

/// The n-grams of one order in context-key order. Normally `packed` holds (context key << indexBits) | index, 16 bytes
/// per n-gram read sequentially; when key and index do not fit in 128 bits only the indices are kept and keys are
/// recomputed from the suffix keys. Measured on gcide 2 M words, order 5 (peak RSS / user CPU): (key, index) structs
/// 290 MB / 2.6 s; packed 238 MB / 2.6-2.9 s; indices only 224 MB / 4.2-4.8 s (random access to the keys).
struct ContextOrder {
    var packed: [UInt128] = []
    var indices: [UInt32] = []
    var indexBits = 0

    var count: Int { packed.isEmpty ? indices.count : packed.count }

    @inline(__always) func index(_ i: Int) -> Int {
        packed.isEmpty ? Int(indices[i]) : Int(truncatingIfNeeded: packed[i] & ((UInt128(1) << UInt128(indexBits)) - 1))
    }

    @inline(__always) func key(_ i: Int, _ suffixKeys: [UInt128], _ codec: NGramKeyCodec, _ n: Int) -> UInt128 {
        packed.isEmpty ? codec.reverse(suffixKeys[Int(indices[i])], n) : packed[i] >> UInt128(indexBits)
    }
}

struct ContextItem {
    var key: UInt128
    var index: Int
}

struct KneserNeyEstimator {
    let corpus: TokenizedCorpus
    let options: KneserNeyOptions
    let file: String
    let progress: ((KneserNeyStage, Double) -> Void)?
    let codec: NGramKeyCodec
    let order: Int
    let vocabularySize: Int
    /// With a vocabulary limit: per word id, whether n-grams containing it are pruned; empty otherwise.
    let prunedWord: [Bool]
    /// With a vocabulary limit: old word id → id in the kept vocabulary (UInt32.max for pruned words); empty otherwise.
    let keptId: [UInt32]
    /// The vocabulary of the output model (the kept words, in corpus id order).
    let outputVocabulary: [String]

    init(corpus: TokenizedCorpus, options: KneserNeyOptions, file: String,
         progress: ((KneserNeyStage, Double) -> Void)?) throws {
        self.corpus = corpus
        self.options = options
        self.file = file
        self.progress = progress
        order = options.order
        vocabularySize = corpus.vocabulary.count
        codec = NGramKeyCodec(vocabularySize: vocabularySize)
        if let limit = options.vocabularyLimit {
            var pruned = corpus.vocabulary.map { !limit.contains($0) }
            for special in [SpecialWord.unknown, SpecialWord.sentenceBegin, SpecialWord.sentenceEnd] where Int(special) < pruned.count {
                pruned[Int(special)] = false
            }
            var kept = [UInt32](repeating: .max, count: pruned.count)
            var next: UInt32 = 0
            var words: [String] = []
            for id in pruned.indices where !pruned[id] {
                kept[id] = next
                next += 1
                words.append(corpus.vocabulary[id])
            }
            prunedWord = pruned
            keptId = kept
            outputVocabulary = words
        } else {
            prunedWord = []
            keptId = []
            outputVocabulary = corpus.vocabulary
        }
        guard order >= 1, order <= NGramModel.maximumOrder else {
            throw NGramError(file: file, "order \(order) is outside 1…\(NGramModel.maximumOrder)")
        }
        guard codec.bitsPerWord * order <= 128 else {
            throw NGramError(file: file, "order \(order) with a vocabulary of \(vocabularySize) words needs \(codec.bitsPerWord * order) bits per n-gram key; LMKit packs n-grams into 128 bits (lower the order or limit the vocabulary)")
        }
        if let fallback = options.discountFallback, fallback.count != 3 {
            throw NGramError(file: file, "discount fallback needs 3 values (for adjusted counts 1, 2, 3+), got \(fallback.count)")
        }
        // A discount D_k must lie in [0, k] (it is subtracted from adjusted counts ≥ k); NaN or out-of-range values
        // would give every probability as log10(0).
        if let fallback = options.discountFallback, let bad = fallback.indices.first(where: { !(fallback[$0] >= 0 && fallback[$0] <= Double($0 + 1)) }) {
            throw NGramError(file: file, "discount fallback \(bad + 1) is \(fallback[bad]); expected a number in 0…\(bad + 1) (for adjusted count \(bad + 1)\(bad == 2 ? "+" : ""))")
        }
        let thresholds = options.pruneThresholds
        if let first = thresholds.first, first != 0 {
            throw NGramError(file: file, "pruning unigrams is not supported (first --prune threshold must be 0, as in lmplz)")
        }
        guard thresholds.count <= order else {
            throw NGramError(file: file, "\(thresholds.count) --prune thresholds for an order-\(order) model; expected at most \(order)")
        }
        for i in thresholds.indices {
            guard thresholds[i] >= 0 else { throw NGramError(file: file, "--prune threshold for order \(i + 1) is negative") }
            if i > 0, thresholds[i] < thresholds[i - 1] {
                throw NGramError(file: file, "--prune thresholds must not decrease with the order (order \(i + 1): \(thresholds[i]) < \(thresholds[i - 1]))")
            }
        }
    }

    /// lmplz's rule: the last --prune value applies to all higher orders.
    func threshold(_ n: Int) -> UInt32 {
        let thresholds = options.pruneThresholds
        guard let last = thresholds.last else { return 0 }
        return UInt32(n - 1 < thresholds.count ? thresholds[n - 1] : last)
    }

    /// Which n-grams survive `--prune`: raw count above the order's threshold (lmplz compares occurrences, not
    /// continuation counts: with `--prune 0 0 1 2` a trigram seen twice after one word stays), or needed by a surviving
    /// (n+1)-gram as its suffix (for interpolation) or its context (for the back-off). Indexed like `suffixKeys`.
    func survivors(_ states: [OrderState]) -> [[Bool]] {
        var survives = [[Bool]](repeating: [], count: order + 1)
        for n in stride(from: order, through: 2, by: -1) {
            let t = threshold(n)
            var flags = states[n].rawCounts.map { $0 > t }
            if !prunedWord.isEmpty {
                for (i, key) in states[n].suffixKeys.enumerated() where flags[i] {
                    for j in 0..<n where prunedWord[Int(codec.word(key, j))] {
                        flags[i] = false
                        break
                    }
                }
            }
            if n < order {
                let higher = states[n + 1].suffixKeys
                let keys = states[n].suffixKeys
                let lowMask: UInt128 = (UInt128(1) << UInt128(n * codec.bitsPerWord)) - 1
                var cursor = 0
                for i in 0..<higher.count where survives[n + 1][i] {
                    let suffix = codec.dropLowWord(higher[i])
                    while keys[cursor] < suffix { cursor += 1 }
                    flags[cursor] = true
                    if let prefix = Self.binarySearch(keys, higher[i] & lowMask) { flags[prefix] = true }
                }
            }
            survives[n] = flags
        }
        return survives
    }

    static func binarySearch(_ keys: [UInt128], _ key: UInt128) -> Int? {
        var low = 0, high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low < keys.count && keys[low] == key ? low : nil
    }

    /// Sorts keys and collapses runs into (key, count).
    static func sortAndCount(_ keys: inout [UInt128]) -> (keys: [UInt128], counts: [UInt32]) {
        keys.sort()
        var unique: [UInt128] = []
        var counts: [UInt32] = []
        unique.reserveCapacity(keys.count / 2)
        counts.reserveCapacity(keys.count / 2)
        var i = 0
        while i < keys.count {
            let key = keys[i]
            var j = i + 1
            while j < keys.count && keys[j] == key { j += 1 }
            unique.append(key)
            counts.append(UInt32(j - i))
            i = j
        }
        return (unique, counts)
    }

    mutating func run(sink: KneserNeyOutputSink? = nil) throws -> KneserNeyResult {
        progress?(.counting, 0)
        let tokens = corpus.tokens
        let B = codec.bitsPerWord
        // Sentence boundaries: positions of <s>.
        var unigramCounts = [UInt32](repeating: 0, count: vocabularySize)
        var states = [OrderState](repeating: OrderState(), count: order + 1)   // states[n] for n ≥ 2

        if order == 1 {
            for token in tokens where token != SpecialWord.sentenceBegin { unigramCounts[Int(token)] += 1 }
        } else {
            // Top-order n-grams within each sentence, and the sentence-initial n-grams of lower orders (lmplz pads with
            // <s> and collapses "<s> <s> …" into the shorter "<s> …" n-gram, which keeps its raw count).
            var topKeys: [UInt128] = []
            topKeys.reserveCapacity(tokens.count)
            var beginKeys = [[UInt128]](repeating: [], count: order)
            var start = 0
            while start < tokens.count {
                var end = start + 1
                while tokens[end] != SpecialWord.sentenceEnd { end += 1 }
                let length = end - start + 1
                if length >= order {
                    for i in start...(end + 1 - order) {
                        var key: UInt128 = 0
                        for j in stride(from: order - 1, through: 0, by: -1) {
                            key = (key << UInt128(B)) | UInt128(tokens[i + j])
                        }
                        topKeys.append(key)
                    }
                }
                var key: UInt128 = UInt128(SpecialWord.sentenceBegin)
                for n in stride(from: 2, through: min(order - 1, length), by: 1) {
                    key |= UInt128(tokens[start + n - 1]) << UInt128((n - 1) * B)
                    beginKeys[n].append(key)
                }
                start = end + 1
            }
            progress?(.counting, 0.5)
            let (topUnique, topCounts) = Self.sortAndCount(&topKeys)
            topKeys = []
            states[order].suffixKeys = topUnique
            states[order].adjustedCounts = topCounts
            states[order].rawCounts = topCounts
            progress?(.adjusting, 0)
            // Lower orders: continuation counts of suffixes (runs in the sorted higher order) merged with <s> n-grams.
            for n in stride(from: order - 1, through: 2, by: -1) {
                let (beginUnique, beginCounts) = Self.sortAndCount(&beginKeys[n])
                let higher = states[n + 1].suffixKeys
                let higherRaw = states[n + 1].rawCounts
                var keys: [UInt128] = []
                var counts: [UInt32] = []
                var raw: [UInt32] = []
                keys.reserveCapacity(higher.count)
                counts.reserveCapacity(higher.count)
                raw.reserveCapacity(higher.count)
                var i = 0, b = 0
                while i < higher.count || b < beginUnique.count {
                    let suffix = i < higher.count ? codec.dropLowWord(higher[i]) : UInt128.max
                    if b < beginUnique.count && beginUnique[b] < suffix {
                        keys.append(beginUnique[b])
                        counts.append(beginCounts[b])
                        raw.append(beginCounts[b])
                        b += 1
                        continue
                    }
                    var j = i + 1
                    var occurrences = higherRaw[i]
                    while j < higher.count && codec.dropLowWord(higher[j]) == suffix {
                        occurrences &+= higherRaw[j]
                        j += 1
                    }
                    keys.append(suffix)
                    counts.append(UInt32(j - i))
                    raw.append(occurrences)
                    i = j
                }
                states[n].suffixKeys = keys
                states[n].adjustedCounts = counts
                states[n].rawCounts = raw
            }
            for key in states[2].suffixKeys { unigramCounts[Int(codec.word(key, 1))] += 1 }
        }

        progress?(.discounting, 0)
        var discounts: [KneserNeyDiscount] = []
        discounts.append(try discount(order: 1, counts: unigramCounts))
        for n in stride(from: 2, through: order, by: 1) {
            discounts.append(try discount(order: n, counts: states[n].adjustedCounts))
        }

        let pruning = (1...order).contains { threshold($0) > 0 } || !prunedWord.isEmpty
        let survives = pruning ? survivors(states) : []
        if let sink {
            var counts = [outputVocabulary.count]
            for n in stride(from: 2, through: order, by: 1) {
                counts.append(pruning ? survives[n].lazy.filter { $0 }.count : states[n].suffixKeys.count)
            }
            try sink.begin(outputVocabulary, counts)
        }
        func output(_ table: NGramOrderTable, into tables: inout NGramTables) throws {
            let table = keptId.isEmpty ? table : renumbered(table)
            if let sink { try sink.order(table) } else { tables.orders.append(table) }
        }

        progress?(.probabilities, 0)
        // Unigrams: p(w) = (a(w) - D) / Σa + γ / (|V| - 1); <s> gets no mass of its own.
        var unigramProbabilities = [Float](repeating: 0, count: vocabularySize)
        var unigramBackoffs = [Float](repeating: 1, count: vocabularySize)
        do {
            var denominator = 0.0
            var bucket = [0.0, 0.0, 0.0, 0.0]
            // A word outside the vocabulary limit keeps its count in the denominator; its whole count goes to γ.
            var prunedMass = 0.0
            for (id, count) in unigramCounts.enumerated() where count > 0 {
                denominator += Double(count)
                if !prunedWord.isEmpty && prunedWord[id] { prunedMass += Double(count) } else { bucket[Int(min(count, 3))] += 1 }
            }
            let d = discounts[0]
            let gamma = (d.amounts[1] * bucket[1] + d.amounts[2] * bucket[2] + d.amounts[3] * bucket[3] + prunedMass) / denominator
            let uniform = 1.0 / Double(outputVocabulary.count - 1)
            for id in 0..<vocabularySize {
                let count = unigramCounts[id]
                let discounted = count > 0 ? (Double(count) - d.amount(for: count)) / denominator : 0
                unigramProbabilities[id] = Float(discounted + gamma * uniform)
            }
        }

        var tables = NGramTables(vocabulary: outputVocabulary, orders: [])
        var previousProbabilities = unigramProbabilities
        // Higher orders, lowest first: group by context for the discounted mass and γ, then interpolate with the
        // suffix's probability (a merge-join, since both orders are sorted by suffix key).
        for n in stride(from: 2, through: order, by: 1) {
            progress?(.probabilities, Double(n - 1) / Double(order))
            var state = states[n]
            states[n] = OrderState()
            let count = state.suffixKeys.count
            state.contextOrder = contextSorted(state.suffixKeys, order: n)
            var discounted = [Float](repeating: 0, count: count)
            var gammaOfContext = [Float](repeating: 0, count: count)
            let d = discounts[n - 1]
            var lowerCursor = 0
            var g = 0
            while g < count {
                let context = codec.dropLowWord(state.contextOrder.key(g, state.suffixKeys, codec, n))
                var end = g
                var denominator = 0.0
                // Discounted mass of the group (Σ D(a)); a pruned n-gram's whole count moves to the back-off, keeping Σp = 1.
                var discountMass = 0.0
                while end < count {
                    let index = state.contextOrder.index(end)
                    if end > g && codec.dropLowWord(state.contextOrder.key(end, state.suffixKeys, codec, n)) != context { break }
                    let a = state.adjustedCounts[index]
                    denominator += Double(a)
                    discountMass += pruning && !survives[n][index] ? Double(a) : d.amount(for: a)
                    end += 1
                }
                let gamma = discountMass / denominator
                for k in g..<end {
                    let index = state.contextOrder.index(k)
                    let a = state.adjustedCounts[index]
                    discounted[index] = Float((Double(a) - d.amount(for: a)) / denominator)
                    gammaOfContext[index] = Float(gamma)
                }
                // Record γ as the back-off of the context n-gram (order n-1).
                if n == 2 {
                    unigramBackoffs[Int(context)] = Float(gamma)
                } else {
                    func lowerKey(_ i: Int) -> UInt128 { previousContextOrder.key(i, previousSuffixKeys, codec, n - 1) }
                    while lowerCursor < previousContextOrder.count && lowerKey(lowerCursor) < context { lowerCursor += 1 }
                    guard lowerCursor < previousContextOrder.count, lowerKey(lowerCursor) == context else {
                        throw NGramError(file: file, "internal error: the context of an order-\(n) n-gram is missing from order \(n - 1)")
                    }
                    previousBackoffs[previousContextOrder.index(lowerCursor)] = Float(gamma)
                }
                g = end
            }
            // Interpolate: p(w | h) = discounted + γ(h) · p(w | h') with h' = h minus its oldest word.
            var probabilities = [Float](repeating: 0, count: count)
            if n == 2 {
                for i in 0..<count {
                    let suffix = Int(codec.word(state.suffixKeys[i], 1))
                    probabilities[i] = discounted[i] + gammaOfContext[i] * unigramProbabilities[suffix]
                }
            } else {
                var cursor = 0
                for i in 0..<count {
                    let suffix = codec.dropLowWord(state.suffixKeys[i])
                    while previousSuffixKeys[cursor] < suffix { cursor += 1 }
                    probabilities[i] = discounted[i] + gammaOfContext[i] * previousProbabilities[cursor]
                }
            }
            // Order n-1 is complete now (its back-offs came from order n): emit it.
            if n == 2 {
                try output(unigramTable(unigramProbabilities, unigramBackoffs), into: &tables)
            } else {
                try output(emit(order: n - 1, suffixKeys: previousSuffixKeys, contextOrder: previousContextOrder,
                                 probabilities: previousProbabilities, backoffs: previousBackoffs,
                                 keep: pruning ? survives[n - 1] : nil), into: &tables)
            }
            previousProbabilities = probabilities
            previousSuffixKeys = state.suffixKeys
            previousContextOrder = state.contextOrder
            previousBackoffs = [Float](repeating: 1, count: count)
        }
        if order == 1 {
            try output(unigramTable(unigramProbabilities, unigramBackoffs), into: &tables)
        } else {
            try output(emit(order: order, suffixKeys: previousSuffixKeys, contextOrder: previousContextOrder,
                             probabilities: previousProbabilities, backoffs: nil,
                             keep: pruning ? survives[order] : nil), into: &tables)
        }
        progress?(.done, 1)
        return KneserNeyResult(tables: tables, discounts: discounts, wordCount: corpus.wordCount,
                               sentenceCount: corpus.sentenceCount)
    }

    /// Off only in tests, to exercise the unpacked `ContextOrder` used for very wide keys.
    var packContextKeys = true

    // Order n-1 data carried into the next loop iteration.
    var previousSuffixKeys: [UInt128] = []
    var previousContextOrder = ContextOrder()
    var previousBackoffs: [Float] = []

    func unigramTable(_ probabilities: [Float], _ backoffs: [Float]) -> NGramOrderTable {
        var table = NGramOrderTable(order: 1)
        table.wordIds = (0..<UInt32(vocabularySize)).map { $0 }
        table.log10Probabilities = probabilities.map { log10Clamped($0) }
        table.log10Backoffs = backoffs.map { log10Clamped($0) }
        // <s> is only ever a context, never predicted; lmplz writes its log10 probability as 0.
        table.log10Probabilities[Int(SpecialWord.sentenceBegin)] = 0
        return table
    }

    static let log10OfZero: Float = -99

    /// With a vocabulary limit: drops the pruned words' unigrams and renumbers ids into the kept vocabulary. The map is
    /// monotonic, so tables stay in the same order (and higher orders never contain a pruned word).
    func renumbered(_ table: NGramOrderTable) -> NGramOrderTable {
        var result = NGramOrderTable(order: table.order)
        for i in 0..<table.count {
            let words = table.words(at: i)
            if words.contains(where: { prunedWord[Int($0)] }) { continue }
            result.append(words: words.map { keptId[Int($0)] }, log10Probability: table.log10Probabilities[i],
                          log10Backoff: table.log10Backoffs[i])
        }
        return result
    }

    func log10Clamped(_ value: Float) -> Float { value > 0 ? Float(log10(Double(value))) : Self.log10OfZero }

    func emit(order n: Int, suffixKeys: [UInt128], contextOrder: ContextOrder, probabilities: [Float], backoffs: [Float]?,
              keep: [Bool]?) -> NGramOrderTable {
        var table = NGramOrderTable(order: n)
        table.wordIds.reserveCapacity(contextOrder.count * n)
        table.log10Probabilities.reserveCapacity(contextOrder.count)
        table.log10Backoffs.reserveCapacity(contextOrder.count)
        for position in 0..<contextOrder.count {
            let index = contextOrder.index(position)
            if let keep, !keep[index] { continue }
            // Context keys hold the oldest word in the highest bits (read in order: no random access to suffixKeys).
            let key = contextOrder.key(position, suffixKeys, codec, n)
            for j in stride(from: n - 1, through: 0, by: -1) { table.wordIds.append(codec.word(key, j)) }
            table.log10Probabilities.append(log10Clamped(probabilities[index]))
            table.log10Backoffs.append(backoffs.map { log10Clamped($0[index]) } ?? 0)
        }
        return table
    }

    /// Indices of the n-grams (given by suffix keys) in context-key order. When the key and the index fit in
    /// 128 bits together they are packed and sorted as plain UInt128s, which is 3× faster than sorting structs with
    /// a closure (measured on gcide order 5: the struct sort was 11% of the build).
    func contextSorted(_ suffixKeys: [UInt128], order n: Int) -> ContextOrder {
        var indexBits = 1
        while (1 << indexBits) < suffixKeys.count { indexBits += 1 }
        if packContextKeys && n * codec.bitsPerWord + indexBits <= 128 {
            var packed = [UInt128](repeating: 0, count: suffixKeys.count)
            for i in suffixKeys.indices {
                packed[i] = (codec.reverse(suffixKeys[i], n) << UInt128(indexBits)) | UInt128(i)
            }
            packed.sort()
            return ContextOrder(packed: packed, indices: [], indexBits: indexBits)
        }
        var items = suffixKeys.indices.map { ContextItem(key: codec.reverse(suffixKeys[$0], n), index: $0) }
        items.sort { $0.key < $1.key }
        return ContextOrder(packed: [], indices: items.map { UInt32($0.index) }, indexBits: 0)
    }

    /// Chen & Goodman's discounts from the count-of-counts t1…t4: Y = t1 / (t1 + 2 t2), D_k = k - (k+1) Y t_{k+1} / t_k.
    func discount(order n: Int, counts: [UInt32]) throws -> KneserNeyDiscount {
        var t = [0, 0, 0, 0, 0]
        for count in counts where count >= 1 && count <= 4 { t[Int(count)] += 1 }
        var problem: String?
        var amounts = [0.0, 0.0, 0.0, 0.0]
        if let zero = (1...3).first(where: { t[$0] == 0 }) {
            problem = "no \(n)-grams with adjusted count \(zero), so the discount for adjusted count \(zero + 1 > 3 ? "3+" : String(zero + 1)) cannot be computed"
        } else {
            let y = Double(t[1]) / (Double(t[1]) + 2 * Double(t[2]))
            for k in 1...3 {
                amounts[k] = Double(k) - Double(k + 1) * y * Double(t[k + 1]) / Double(t[k])
                if amounts[k] < 0 || amounts[k] > Double(k) {
                    problem = "the discount for adjusted count \(k == 3 ? "3+" : String(k)) is \(amounts[k]), outside [0, \(k)]"
                    break
                }
            }
        }
        if let problem {
            guard let fallback = options.discountFallback else {
                throw NGramError(file: file, "order \(n): \(problem) (count-of-counts t1…t4 = \(t[1]), \(t[2]), \(t[3]), \(t[4])); the corpus is too small or artificial for Kneser-Ney discounts: pass --discount-fallback (lmplz's --discount_fallback) to use \(Self.describe(KneserNeyOptions.defaultFallbackDiscounts))")
            }
            return KneserNeyDiscount(amounts: [0] + fallback, countOfCounts: Array(t[1...4]), usedFallback: true)
        }
        return KneserNeyDiscount(amounts: amounts, countOfCounts: Array(t[1...4]), usedFallback: false)
    }

    static func describe(_ values: [Double]) -> String { values.map { String($0) }.joined(separator: " ") }
}
