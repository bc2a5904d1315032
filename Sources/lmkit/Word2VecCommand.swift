// `lmkit word2vec train|similar|analogy|evaluate` and `lmkit bench word2vec`: argument parsing and printing only;
// the work is in LMWord2Vec (and LMBenchmarks for the bench). Flag names follow word2vec.c (-size, -window, -iter …)
// with gensim's names as aliases (--vector-size, --epochs, --workers).
import ArgumentParser
import Foundation
import LMBenchmarks
import LMWord2Vec

struct Word2VecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "word2vec",
        abstract: "Train word2vec embeddings and query or evaluate word vectors (word2vec.c / gensim compatible).",
        subcommands: [Word2VecTrain.self, Word2VecSimilar.self, Word2VecAnalogy.self, Word2VecEvaluate.self])
}

extension WordVectorFormat: ExpressibleByArgument {}
extension Word2VecConfiguration.Architecture: ExpressibleByArgument {}

struct Word2VecTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train vectors on a corpus (one sentence per line, or one long text8-style line).")

    @Option(name: [.customLong("input"), .customLong("train")], help: "Corpus file: whitespace-separated tokens.")
    var input: String
    @Option(name: [.customLong("output")], help: "Where to write the vectors.")
    var output: String
    @Option(help: "Vector file format: text or binary.") var format: WordVectorFormat = .text
    @Option(help: "skipgram or cbow.") var architecture: Word2VecConfiguration.Architecture = .skipGram
    @Option(name: [.customLong("size"), .customLong("vector-size")], help: "Vector dimension.") var size = 100
    @Option(help: "Maximum context distance (windows shrink randomly per word).") var window = 5
    @Option(help: "Negative samples per pair; 0 disables negative sampling.") var negative = 5
    @Option(help: "1 = hierarchical softmax (Huffman tree).") var hs = 0
    @Option(help: "Subsampling threshold for frequent words; 0 disables.") var sample = 1e-3
    @Option(name: [.customLong("min-count")], help: "Ignore words rarer than this.") var minCount = 5
    @Option(name: [.customLong("max-vocab"), .customLong("max-final-vocab")], help: "Keep at most this many words (gensim max_final_vocab).") var maxVocab: Int?
    @Option(help: "Initial learning rate.") var alpha: Float = 0.025
    @Option(name: [.customLong("min-alpha")], help: "Final learning rate.") var minAlpha: Float = 0.0001
    @Option(name: [.customLong("epochs"), .customLong("iter")], help: "Passes over the corpus.") var epochs = 5
    @Option(name: [.customLong("threads"), .customLong("workers")], help: "Hogwild training threads.") var threads = 2
    @Option(help: "Random seed; with --threads 1 training is deterministic.") var seed: UInt64 = 1
    @Option(name: [.customLong("cbow-mean")], help: "CBOW: 1 = average context vectors, 0 = sum.") var cbowMean = 1
    @Flag(help: "No progress output.") var quiet = false

    func run() throws {
        try reportingErrors {
            var c = Word2VecConfiguration()
            c.architecture = architecture; c.vectorSize = size; c.window = window; c.negative = negative
            c.hierarchicalSoftmax = hs != 0; c.sample = sample; c.minCount = minCount; c.maxFinalVocab = maxVocab
            c.alpha = alpha; c.minAlpha = minAlpha; c.epochs = epochs; c.threads = threads; c.seed = seed; c.cbowMean = cbowMean != 0
            try c.validate()
            // Fail before hours of training, not after, when the output cannot be written.
            let outputDirectory = URL(fileURLWithPath: output).deletingLastPathComponent().path
            guard FileManager.default.isWritableFile(atPath: outputDirectory) else {
                throw Word2VecError("\(output): output directory \(outputDirectory) does not exist or is not writable")
            }
            let corpus = try CorpusFile(path: input)
            let vocabBar = ProgressBar("vocabulary", enabled: !quiet)
            let vocabulary = try Word2VecVocabulary(counting: corpus, minCount: minCount, maxFinalVocab: maxVocab, sample: sample,
                                                    progress: { f in vocabBar.update(f, "") })
            vocabBar.finish()
            if !quiet {
                FileHandle.standardError.write("\(input): \(vocabulary.totalTokenCount) tokens, \(vocabulary.words.count) words kept (min_count \(minCount))\n".data(using: .utf8)!)
            }
            let model = try Word2VecModel(vocabulary: vocabulary, configuration: c)
            let bar: ProgressBar? = quiet ? nil : ProgressBar("training")
            let report = model.train(corpus: corpus, progress: bar.map { bar in
                { @Sendable p in bar.update(p.fraction, String(format: "alpha %.5f  %.0fk words/s", p.alpha, Double(p.effectiveWords) / max(p.elapsed, 1e-9) / 1000)) }
            })
            bar?.finish()
            try model.wordVectors.save(path: output, format: format)
            print(String(format: "trained %d raw / %d effective words in %.2f s: %.0f effective words/s; wrote %d vectors to %@",
                         report.rawWords, report.effectiveWords, report.seconds, report.effectiveWordsPerSecond,
                         vocabulary.words.count, output))
        }
    }
}

struct Word2VecSimilar: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "similar", abstract: "Nearest words by cosine (gensim most_similar).")
    @Option(help: "Vector file (text or binary, detected).") var vectors: String
    @Argument(help: "Positive words.") var positive: [String]
    @Option(name: .customLong("negative"), help: "A negative word (repeatable).") var negative: [String] = []
    @Option(help: "How many neighbours.") var topn = 10
    @Option(name: .customLong("restrict-vocab"), help: "Search only the N most frequent words.") var restrictVocab: Int?

    func run() throws {
        try reportingErrors {
            let wv = try WordVectors.load(path: vectors)
            for (word, sim) in try wv.mostSimilar(positive: positive, negative: negative, topn: topn, restrictVocab: restrictVocab) {
                print(String(format: "%@\t%.6f", word, sim))
            }
        }
    }
}

struct Word2VecAnalogy: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "analogy", abstract: "Analogy accuracy on a questions-words file, per section and total.")
    @Option(help: "Vector file (text or binary, detected).") var vectors: String
    @Option(help: "Analogy file, e.g. gensim's test_data/questions-words.txt.") var questions: String
    @Option(name: .customLong("restrict-vocab"), help: "Only the N most frequent words count (word2vec.c compute-accuracy: 30000).") var restrictVocab = 30_000
    @Option(help: "Threads for evaluation.") var threads = 2

    func run() throws {
        try reportingErrors {
            let wv = try WordVectors.load(path: vectors)
            let r = try wv.evaluateAnalogies(path: questions, restrictVocab: restrictVocab, threads: threads)
            for s in r.sections + [r.total] {
                print(String(format: "%@: %.1f%% (%d/%d)", s.name, s.accuracy * 100, s.correct, s.correct + s.incorrect))
            }
            print(String(format: "questions with out-of-vocabulary words: %.1f%% (%d/%d)",
                         Double(r.outOfVocabulary) / Double(max(1, r.questionCount)) * 100, r.outOfVocabulary, r.questionCount))
        }
    }
}

struct Word2VecEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Word-pair similarity correlation (Spearman, Pearson), e.g. on wordsim353.tsv.")
    @Option(help: "Vector file (text or binary, detected).") var vectors: String
    @Option(help: "Tab-separated 'word1 word2 score' file; '#' lines are comments.") var pairs: String
    @Option(name: .customLong("restrict-vocab"), help: "Only the N most frequent words count (gensim default 300000).") var restrictVocab = 300_000

    func run() throws {
        try reportingErrors {
            let wv = try WordVectors.load(path: vectors)
            let r = try wv.evaluateWordPairs(path: pairs, restrictVocab: restrictVocab)
            print(String(format: "spearman %.4f\npearson %.4f\npairs %d, out of vocabulary %.1f%%", r.spearman, r.pearson, r.pairsUsed, r.outOfVocabularyPercent))
        }
    }
}

struct BenchWord2VecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "word2vec", abstract: "LMKit vs gensim word2vec training speed (effective words/s) on gcide.")
    @Option(help: "Corpus (tokens); default: the first --words words of Debian dict-gcide, prepared by the reference script.") var corpus: String?
    @Option(help: "Words of gcide to use when preparing the corpus.") var words = 2_000_000
    @Option(help: "skipgram or cbow.") var architecture: Word2VecConfiguration.Architecture = .skipGram
    @Option(help: "Epochs.") var epochs = 1
    @Option(help: "Thread counts to compare (comma-separated).") var threads = "1,2"
    @Option(help: "Python interpreter for gensim.") var python = "python3"
    @Flag(name: .customLong("skip-reference"), help: "Only time LMKit.") var skipReference = false
    @Flag(help: "Time the vector kernels (LMKit SIMD vs OpenBLAS sdot/saxpy) instead of training.") var kernels = false

    func run() throws {
        if kernels { runVectorKernelBenchmark(); return }
        try reportingErrors {
            var options = Word2VecBenchmarkOptions()
            options.corpus = corpus; options.words = words; options.architecture = architecture; options.epochs = epochs
            options.threadCounts = try parsePositiveIntegers(threads)
            options.python = python; options.runReference = !skipReference
            try runWord2VecBenchmark(options)
        }
    }
}
