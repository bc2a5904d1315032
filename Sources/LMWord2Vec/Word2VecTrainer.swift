// Trains word2vec embeddings: skip-gram or CBOW, negative sampling and/or hierarchical softmax, frequent-word
// subsampling, dynamic (shrunk) windows, linear learning-rate decay, Hogwild threads over byte ranges of the corpus.
// The per-pair updates are word2vec.c's hand-derived ones (tmikolov/word2vec: word2vec.c `TrainModelThread`), with
// gensim 4.4's random streams and tables (`word2vec_inner.pyx`: `random_int32`, `bisect_left(cum_table, ...)`).
// Not autograd, not a Tensor: rows of two Float matrices updated in place with LMKernels' vector kernels.
import _LMSupport
import Foundation
import LMKernels
import Synchronization

/// Hyper-parameters, named as in word2vec.c / gensim. Defaults are gensim 4.4's `Word2Vec(...)` defaults.
public struct Word2VecConfiguration: Sendable, Equatable {
    /// Skip-gram (predict context from word; gensim `sg=1`) or CBOW (predict word from the context mean; `sg=0`).
    public enum Architecture: String, Sendable { case skipGram = "skipgram", cbow }
    /// gensim's default is CBOW (`sg=0`); `lmkit word2vec train` defaults to skip-gram, as the parity run.
    public var architecture: Architecture = .cbow
    /// Embedding dimension (`vector_size`, `-size`).
    public var vectorSize = 100
    /// Maximum context distance; each position uses a window drawn uniformly from 1...window (`shrink_windows`).
    public var window = 5
    /// Negative samples per positive pair (`negative`); 0 disables negative sampling.
    public var negative = 5
    /// Hierarchical softmax over a Huffman tree (`hs=1`).
    public var hierarchicalSoftmax = false
    /// Subsampling threshold for frequent words (`sample`); 0 disables.
    public var sample = 1e-3
    /// Words with fewer occurrences are ignored (`min_count`).
    public var minCount = 5
    /// Keep at most this many words by raising `minCount` (gensim `max_final_vocab`); nil = no limit.
    public var maxFinalVocab: Int? = nil
    /// Initial learning rate (`alpha`). word2vec.c uses 0.05 for CBOW; gensim 0.025 for both.
    public var alpha: Float = 0.025
    /// Final learning rate (`min_alpha`); the rate decays linearly over all epochs' tokens.
    public var minAlpha: Float = 0.0001
    /// Passes over the corpus (`epochs`, `-iter`).
    public var epochs = 5
    /// Hogwild worker threads (`workers`, `-threads`); each owns a byte range of the corpus.
    public var threads = 3
    /// Seed of every random stream (initial vectors, subsampling, windows, negatives). One thread ⇒ deterministic.
    public var seed: UInt64 = 1
    /// CBOW: average (true, `cbow_mean=1`) or sum the context vectors.
    public var cbowMean = true

    /// gensim 4.4 defaults.
    public init() {}

    /// Throws a `Word2VecError` naming the first invalid field.
    /// Largest accepted `vectorSize` (the real limit is memory, checked when the model is made).
    public static let maximumVectorSize = 1 << 20
    /// Largest accepted `negative`.
    public static let maximumNegative = 1000
    /// Largest accepted `window`.
    public static let maximumWindow = 10_000

    public func validate() throws {
        func fail(_ m: String) throws -> Never { throw Word2VecError("invalid word2vec configuration: \(m)") }
        if vectorSize < 1 || vectorSize > Self.maximumVectorSize { try fail("vector size must be in 1...\(Self.maximumVectorSize), got \(vectorSize)") }
        if window < 1 { try fail("window must be >= 1, got \(window)") }
        // Each positive pair costs `negative` updates; beyond a few thousand a run never ends (word2vec.c uses 5–20).
        if negative < 0 || negative > Self.maximumNegative { try fail("negative must be in 0...\(Self.maximumNegative), got \(negative)") }
        if window > Self.maximumWindow { try fail("window must be in 1...\(Self.maximumWindow), got \(window)") }
        if negative == 0 && !hierarchicalSoftmax { try fail("need negative > 0 or hierarchical softmax (hs)") }
        if !(sample >= 0) { try fail("sample must be >= 0, got \(sample)") }
        if minCount < 1 { try fail("min_count must be >= 1, got \(minCount)") }
        if let m = maxFinalVocab, m < 1 { try fail("max_final_vocab must be >= 1, got \(m)") }
        if !(alpha > 0) || !alpha.isFinite || !(minAlpha >= 0) || minAlpha > alpha { try fail("need 0 <= min_alpha <= alpha and alpha > 0 (finite), got alpha \(alpha), min_alpha \(minAlpha)") }
        if !sample.isFinite { try fail("sample must be finite, got \(sample)") }
        if epochs < 1 { try fail("epochs must be >= 1, got \(epochs)") }
        if threads < 1 || threads > 512 { try fail("threads must be in 1...512, got \(threads)") }
    }
}

/// A snapshot of training progress, reported to the caller's callback about twice a second.
public struct Word2VecProgress: Sendable {
    /// Fraction of all epochs' tokens processed, 0...1.
    public var fraction: Double
    /// Current learning rate.
    public var alpha: Float
    /// Corpus tokens processed so far (all epochs), and tokens actually trained (after vocabulary and subsampling).
    public var rawWords: Int
    /// Tokens trained so far (after vocabulary trimming and subsampling).
    public var effectiveWords: Int
    /// Seconds since training started.
    public var elapsed: Double
}

/// Result of `Word2VecModel.train`.
public struct Word2VecTrainingReport: Sendable {
    /// Corpus tokens read over all epochs (gensim's "raw words").
    public var rawWords: Int
    /// Tokens trained after dropping out-of-vocabulary words and subsampling (gensim's "effective words").
    public var effectiveWords: Int
    /// Wall-clock training time in seconds, vocabulary building excluded.
    public var seconds: Double
    /// Effective words per second, the figure gensim logs as "effective words/s".
    public var effectiveWordsPerSecond: Double { Double(effectiveWords) / max(seconds, 1e-9) }
}

/// A word2vec model: vocabulary plus input (`syn0`, the word vectors) and output (`syn1neg`, `syn1`) weights.
public final class Word2VecModel: @unchecked Sendable {
    /// The hyper-parameters the model was created with.
    public let configuration: Word2VecConfiguration
    /// The vocabulary; row `i` of every weight matrix belongs to `vocabulary.words[i]`.
    public let vocabulary: Word2VecVocabulary
    let tree: HuffmanTree?
    let syn0: UnsafeMutablePointer<Float>
    let syn1neg: UnsafeMutablePointer<Float>?
    let syn1: UnsafeMutablePointer<Float>?
    /// Floats per row: `vectorSize` rounded up to a multiple of 16 so rows start on 64-byte cache lines and the kernels
    /// run without a scalar tail. The padding stays exactly zero (every update adds `g · 0` to it), so it never changes
    /// a result; measured A/B in BENCHMARKS.md "Word2Vec".
    let stride: Int

    static let maxExp: Float = 6
    static let expTableSize = 1000
    /// word2vec.c's sigmoid table: `σ(x)` at 1000 points over [-6, 6).
    static let expTable: [Float] = (0..<expTableSize).map { i in
        let e = exp((Double(i) / Double(expTableSize) * 2 - 1) * Double(maxExp))
        return Float(e / (e + 1))
    }

    /// Creates a model over `vocabulary` with word2vec.c's initialisation: `syn0` uniform in ±0.5/size from the seeded
    /// LCG, output weights zero.
    public init(vocabulary: Word2VecVocabulary, configuration: Word2VecConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        self.vocabulary = vocabulary
        let dim = configuration.vectorSize
        stride = (dim + 15) / 16 * 16
        // syn0, syn1neg and/or syn1, plus the two copies the saved WordVectors hold (vectors and unit vectors).
        let tables = 3 + (configuration.negative > 0 ? 1 : 0) + (configuration.hierarchicalSoftmax ? 1 : 0)
        try MachineMemory.check(Double(vocabulary.words.count) * Double(stride) * 4 * Double(tables),
                                for: "word2vec with \(vocabulary.words.count) words × vector size \(dim)",
                                error: { Word2VecError($0) })
        let n = vocabulary.words.count * stride
        func allocateZeroed() -> UnsafeMutablePointer<Float> {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
            return raw.initializeMemory(as: Float.self, repeating: 0, count: n)
        }
        syn0 = allocateZeroed()
        var r = configuration.seed
        let invSize = 1 / Float(dim)
        for w in 0..<vocabulary.words.count {
            for i in 0..<dim {
                r = r &* 25_214_903_917 &+ 11
                syn0[w * stride + i] = (Float(r & 0xFFFF) / 65536 - 0.5) * invSize
            }
        }
        syn1neg = configuration.negative > 0 ? allocateZeroed() : nil
        if configuration.hierarchicalSoftmax {
            syn1 = allocateZeroed()
            tree = HuffmanTree(counts: vocabulary.counts)
        } else { syn1 = nil; tree = nil }
    }

    deinit { syn0.deallocate(); syn1neg?.deallocate(); syn1?.deallocate() }

    /// The trained input vectors as `WordVectors` (copied), in vocabulary order.
    public var wordVectors: WordVectors {
        let dim = configuration.vectorSize
        var vectors = [Float](); vectors.reserveCapacity(vocabulary.words.count * dim)
        for w in 0..<vocabulary.words.count { vectors.append(contentsOf: UnsafeBufferPointer(start: syn0 + w * stride, count: dim)) }
        return WordVectors(words: vocabulary.words, dimension: dim, vectors: vectors)
    }

    /// Trains for `configuration.epochs` passes over `corpus` with `configuration.threads` Hogwild threads.
    /// `progress` is called from a worker thread about twice a second.
    @discardableResult
    public func train(corpus: CorpusFile, progress: (@Sendable (Word2VecProgress) -> Void)? = nil) -> Word2VecTrainingReport {
        let shared = SharedProgress()
        let threads = configuration.threads
        let ranges = corpus.partitions(threads)
        let totalWords = Int(vocabulary.totalTokenCount) * configuration.epochs
        let start = Date()
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            let thread = Thread { [self] in
                var worker = Worker(model: self, corpus: corpus, range: ranges[t], threadIndex: t, shared: shared,
                                    totalWords: totalWords, start: start, progress: t == 0 ? progress : nil)
                worker.run()
                group.leave()
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
        group.wait()
        let seconds = Date().timeIntervalSince(start)
        return Word2VecTrainingReport(rawWords: shared.raw.load(ordering: .relaxed),
                                      effectiveWords: shared.effective.load(ordering: .relaxed), seconds: seconds)
    }
}

/// Counters shared by the Hogwild workers (the weights themselves are shared without synchronisation, by design).
final class SharedProgress: Sendable {
    let raw = Atomic<Int>(0)
    let effective = Atomic<Int>(0)
    /// Receives the OR of the prefetching loads; never read, it only makes those loads observable.
    let prefetchSink = Atomic<UInt32>(0)
}

/// One training thread: its random stream, sentence buffer and scratch rows.
struct Worker {
    let model: Word2VecModel
    let corpus: CorpusFile
    let range: Range<Int>
    let shared: SharedProgress
    let totalWords: Int
    let start: Date
    let progress: (@Sendable (Word2VecProgress) -> Void)?
    var nextRandom: UInt64
    var alpha: Float
    var lastReport = Date()
    /// Scratch for one pair's output rows (positive target first, then the negatives).
    let targets: UnsafeMutablePointer<Int>
    /// Keeps the early row loads (a software prefetch) from being optimised away.
    var prefetchSink: UInt32 = 0

    init(model: Word2VecModel, corpus: CorpusFile, range: Range<Int>, threadIndex: Int, shared: SharedProgress,
         totalWords: Int, start: Date, progress: (@Sendable (Word2VecProgress) -> Void)?) {
        self.model = model; self.corpus = corpus; self.range = range; self.shared = shared
        self.totalWords = totalWords; self.start = start; self.progress = progress
        nextRandom = model.configuration.seed &+ UInt64(threadIndex) &* 0x9E37_79B9
        alpha = model.configuration.alpha
        targets = .allocate(capacity: model.configuration.negative + 1)
    }

    /// gensim `random_int32`: returns the top 32 of the 48-bit LCG state, then advances it.
    @inline(__always)
    mutating func random32() -> UInt64 {
        let r = nextRandom >> 16
        nextRandom = (nextRandom &* 25_214_903_917 &+ 11) & 0xFFFF_FFFF_FFFF
        return r
    }

    mutating func run() {
        let config = model.configuration
        let vocabulary = model.vocabulary
        let table = vocabulary.table
        let sampling = config.sample > 0
        let dim = model.stride
        let sentence = UnsafeMutablePointer<Int32>.allocate(capacity: CorpusFile.maxSentenceLength)
        let work = UnsafeMutablePointer<Float>.allocate(capacity: dim)
        let neu1 = UnsafeMutablePointer<Float>.allocate(capacity: dim)
        let sampleInt = UnsafeMutablePointer<UInt64>.allocate(capacity: vocabulary.sampleInt.count)
        sampleInt.initialize(from: vocabulary.sampleInt, count: vocabulary.sampleInt.count)
        let negatives = NegativeSampler(cumTable: vocabulary.cumTable)
        defer { sentence.deallocate(); work.deallocate(); neu1.deallocate(); sampleInt.deallocate() }

        var length = 0, rawInSentence = 0, rawSinceUpdate = 0, effectiveSinceUpdate = 0
        for _ in 0..<config.epochs {
            corpus.forEachToken(in: range) { token, endsLine in
                rawInSentence += 1
                let id = table.find(token)
                if id >= 0 && (!sampling || sampleInt[Int(id)] >= random32()) {
                    sentence[length] = id
                    length += 1
                }
                if endsLine || rawInSentence == CorpusFile.maxSentenceLength {
                    trainSentence(sentence, length, work: work, neu1: neu1, negatives: negatives)
                    effectiveSinceUpdate += length
                    rawSinceUpdate += rawInSentence
                    length = 0; rawInSentence = 0
                    if rawSinceUpdate >= 10_000 {
                        update(raw: &rawSinceUpdate, effective: &effectiveSinceUpdate)
                    }
                }
            }
            trainSentence(sentence, length, work: work, neu1: neu1, negatives: negatives)
            effectiveSinceUpdate += length
            rawSinceUpdate += rawInSentence
            length = 0; rawInSentence = 0
            update(raw: &rawSinceUpdate, effective: &effectiveSinceUpdate)
        }
        negatives.deallocate()
        targets.deallocate()
        shared.prefetchSink.store(prefetchSink, ordering: .relaxed)  // an observable use, so the early loads stay
    }

    /// Publishes this thread's counts and recomputes the linearly decaying learning rate from global progress.
    mutating func update(raw: inout Int, effective: inout Int) {
        let done = shared.raw.wrappingAdd(raw, ordering: .relaxed).newValue
        let eff = shared.effective.wrappingAdd(effective, ordering: .relaxed).newValue
        raw = 0; effective = 0
        let config = model.configuration
        let fraction = min(1, Double(done) / Double(max(totalWords, 1)))
        alpha = max(config.minAlpha, config.alpha - (config.alpha - config.minAlpha) * Float(fraction))
        if let progress {
            let now = Date()
            if now.timeIntervalSince(lastReport) >= 0.5 || fraction >= 1 {
                lastReport = now
                progress(Word2VecProgress(fraction: fraction, alpha: alpha, rawWords: done, effectiveWords: eff,
                                          elapsed: now.timeIntervalSince(start)))
            }
        }
    }

    @inline(__always)
    func sigmoidGradient(_ f: Float, label: Float) -> Float {
        // word2vec.c's negative-sampling rule: saturate outside ±MAX_EXP instead of skipping the pair.
        if f >= Word2VecModel.maxExp { return (label - 1) * alpha }
        if f <= -Word2VecModel.maxExp { return label * alpha }
        let index = Int((f + Word2VecModel.maxExp) * Float(Word2VecModel.expTableSize) / Word2VecModel.maxExp / 2)
        return (label - model.expTablePointer[index]) * alpha
    }

    /// Output-layer step for one (input row → target word): negatives from the unigram^0.75 table, then the Huffman
    /// path. Accumulates the input row's gradient into `work`.
    @inline(__always)
    mutating func outputStep(input: UnsafeMutablePointer<Float>, target: Int, work: UnsafeMutablePointer<Float>,
                             negatives: NegativeSampler) {
        let dim = model.stride
        if let syn1 = model.syn1, let tree = model.tree {
            tree.codes.withUnsafeBufferPointer { codes in
                tree.points.withUnsafeBufferPointer { points in
                    for d in tree.offsets[target]..<tree.offsets[target + 1] {
                        let node = syn1 + Int(points[d]) * dim
                        let f = VectorKernels.dot(input, node, count: dim)
                        // word2vec.c skips hierarchical-softmax nodes outside ±MAX_EXP.
                        if f <= -Word2VecModel.maxExp || f >= Word2VecModel.maxExp { continue }
                        let index = Int((f + Word2VecModel.maxExp) * Float(Word2VecModel.expTableSize) / Word2VecModel.maxExp / 2)
                        let g = (1 - Float(codes[d]) - model.expTablePointer[index]) * alpha
                        VectorKernels.outputLayerUpdate(gradient: g, input: input, output: node, accumulator: work, count: dim)
                    }
                }
            }
        }
        if let syn1neg = model.syn1neg {
            // Draw all k negatives first (same random sequence as drawing them one by one), then touch every cache
            // line of their rows so the k+1 memory misses overlap instead of being paid one after another: the
            // profile showed >50 % of time stalled on the first load of each syn1neg row.
            let k = model.configuration.negative
            targets[0] = target
            var m = 1
            for _ in 0..<k {
                let row = negatives.sample(nextRandom >> 16)
                nextRandom = (nextRandom &* 25_214_903_917 &+ 11) & 0xFFFF_FFFF_FFFF
                if row == target { continue }
                targets[m] = row
                m += 1
            }
            var sink: UInt32 = 0
            for t in 0..<m {
                let rowPointer = syn1neg + targets[t] * dim
                var o = 0
                while o < dim { sink |= rowPointer[o].bitPattern; o += 16 }  // one load per 64-byte line
            }
            prefetchSink &+= sink
            for t in 0..<m {
                let node = syn1neg + targets[t] * dim
                let f = VectorKernels.dot(input, node, count: dim)
                let g = sigmoidGradient(f, label: t == 0 ? 1 : 0)
                VectorKernels.outputLayerUpdate(gradient: g, input: input, output: node, accumulator: work, count: dim)
            }
        }
    }

    mutating func trainSentence(_ sentence: UnsafeMutablePointer<Int32>, _ n: Int, work: UnsafeMutablePointer<Float>,
                                neu1: UnsafeMutablePointer<Float>, negatives: NegativeSampler) {
        guard n > 1 else { return }
        let config = model.configuration
        let dim = model.stride, window = config.window
        let syn0 = model.syn0
        for i in 0..<n {
            let b = Int(random32() % UInt64(window))
            let lo = max(0, i - window + b), hi = min(n, i + window + 1 - b)
            let word = Int(sentence[i])
            switch config.architecture {
            case .skipGram:
                for j in lo..<hi where j != i {
                    let input = syn0 + Int(sentence[j]) * dim
                    VectorKernels.zero(work, count: dim)
                    outputStep(input: input, target: word, work: work, negatives: negatives)
                    VectorKernels.axpy(1, work, input, count: dim)
                }
            case .cbow:
                VectorKernels.zero(neu1, count: dim)
                var count = 0
                for j in lo..<hi where j != i {
                    VectorKernels.axpy(1, syn0 + Int(sentence[j]) * dim, neu1, count: dim)
                    count += 1
                }
                if count == 0 { continue }
                if config.cbowMean { VectorKernels.scale(neu1, by: 1 / Float(count), count: dim) }
                VectorKernels.zero(work, count: dim)
                outputStep(input: neu1, target: word, work: work, negatives: negatives)
                for j in lo..<hi where j != i {
                    VectorKernels.axpy(1, work, syn0 + Int(sentence[j]) * dim, count: dim)
                }
            }
        }
    }
}

extension Word2VecModel {
    var expTablePointer: UnsafePointer<Float> { Word2VecModel.expTableStorage }
    static let expTableStorage: UnsafePointer<Float> = {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: expTableSize + 1)
        p.initialize(from: expTable, count: expTableSize)
        p[expTableSize] = expTable[expTableSize - 1]
        return UnsafePointer(p)
    }()
}

/// Draws negative samples exactly as gensim does, `bisect_left(cum_table, r % cum_table[-1])`, but starts the search
/// from a 2¹⁸-bucket guide table instead of a binary search over the whole vocabulary (same result, fewer cache misses).
struct NegativeSampler {
    let cum: UnsafeMutablePointer<UInt32>
    let guide: UnsafeMutablePointer<Int32>
    let total: UInt64
    let shift: UInt64
    static let buckets = 1 << 18

    init(cumTable: [UInt32]) {
        cum = .allocate(capacity: cumTable.count)
        cum.initialize(from: cumTable, count: cumTable.count)
        total = UInt64(cumTable.last!)
        var s: UInt64 = 0
        while (total >> s) >= UInt64(NegativeSampler.buckets) { s += 1 }
        shift = s
        let bucketCount = Int(total >> s) + 1
        guide = .allocate(capacity: bucketCount)
        var idx = 0
        for b in 0..<bucketCount {
            let low = UInt64(b) << s
            while idx < cumTable.count - 1 && UInt64(cumTable[idx]) < low { idx += 1 }
            guide[b] = Int32(idx)
        }
    }

    /// `bisect_left(cum, random % total)`: the first index whose cumulative value is >= the draw.
    @inline(__always)
    func sample(_ random: UInt64) -> Int {
        let r = random % total
        var i = Int(guide[Int(r >> shift)])
        while UInt64(cum[i]) < r { i += 1 }
        return i
    }

    func deallocate() { cum.deallocate(); guide.deallocate() }
}
