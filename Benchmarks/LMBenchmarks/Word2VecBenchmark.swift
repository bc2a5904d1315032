// `lmkit bench word2vec`: times LMKit's word2vec trainer and gensim 4.4 (Benchmarks/reference/word2vec_reference.py)
// on the same token file and hyper-parameters in one command, and prints effective words/s side by side with ratios.
// Effective words = tokens trained after vocabulary trimming and subsampling, gensim's own "effective words/s" counter.
// Vocabulary building is excluded from both timings. Release builds only (a debug build prints a warning).
import Foundation
import LMKernels
import LMWord2Vec
import _CBLAS

/// Options of the word2vec benchmark; defaults are the settings (skip-gram, 100, window 5, negative 5, sample 1e-3, min_count 5).
public struct Word2VecBenchmarkOptions: Sendable {
    public var corpus: String?
    public var words = 2_000_000
    public var architecture: Word2VecConfiguration.Architecture = .skipGram
    public var epochs = 1
    public var threadCounts = [1, 2]
    public var python = "python3"
    public var runReference = true
    public var referenceScript = "Benchmarks/reference/word2vec_reference.py"
    public init() {}
}

/// `arguments[0]` is the script.
func runPython(_ python: String, _ arguments: [String]) throws -> [String: Any] {
    try Bench.runPythonJSON(python: python, script: arguments[0], Array(arguments.dropFirst()))
}

/// Runs the benchmark and prints the table to stdout.
public func runWord2VecBenchmark(_ options: Word2VecBenchmarkOptions) throws {
    #if DEBUG
    print("warning: debug build; benchmark numbers are meaningless. Use `swift build -c release`.")
    #endif
    let corpusPath: String
    if let c = options.corpus { corpusPath = c } else {
        corpusPath = NSTemporaryDirectory() + "lmkit-gcide-\(options.words).txt"
        if !FileManager.default.fileExists(atPath: corpusPath) {
            print("preparing \(corpusPath) from Debian dict-gcide (first \(options.words) words)…")
            _ = try runPython(options.python, [options.referenceScript, "prepare", corpusPath, "--max-words", String(options.words)])
        }
    }
    var config = Word2VecConfiguration()
    config.architecture = options.architecture
    config.vectorSize = 100; config.window = 5; config.negative = 5; config.sample = 1e-3; config.minCount = 5
    config.epochs = options.epochs; config.seed = 1
    let corpus = try CorpusFile(path: corpusPath)
    let vocabulary = try Word2VecVocabulary(counting: corpus, minCount: config.minCount, sample: config.sample)
    print("corpus \(corpusPath): \(vocabulary.totalTokenCount) tokens, \(vocabulary.words.count) words; "
          + "\(options.architecture.rawValue), size 100, window 5, negative 5, sample 1e-3, min_count 5, epochs \(options.epochs)")
    print("threads  gensim words/s  LMKit words/s  ratio   (effective words/s; gensim's own counter)")
    for threads in options.threadCounts {
        var reference: Double? = nil
        if options.runReference {
            let r = try runPython(options.python, [options.referenceScript, "train", corpusPath, "--sg", options.architecture == .skipGram ? "1" : "0",
                                                   "--workers", String(threads), "--epochs", String(options.epochs)])
            reference = (r["effective_words_per_s"] as? NSNumber)?.doubleValue
        }
        config.threads = threads
        let model = try Word2VecModel(vocabulary: vocabulary, configuration: config)
        let report = model.train(corpus: corpus)
        let ours = report.effectiveWordsPerSecond
        let ratio = reference.map { String(format: "%.2fx", ours / $0) } ?? "-"
        let referenceText = reference.map { String(format: "%.0f", $0) } ?? "-"
        print(String(format: "%7d  ", threads) + String(repeating: " ", count: max(0, 14 - referenceText.count)) + referenceText
              + String(format: "  %13.0f  ", ours) + ratio)
    }
}

/// Times `VectorKernels.dot`/`axpy` against OpenBLAS `cblas_sdot`/`cblas_saxpy` at word2vec sizes, on rows drawn at
/// random from a 25 000-row matrix (word2vec's access pattern) — the measurement behind Vector.swift's decision note.
public func runVectorKernelBenchmark() {
    print("kernel   dim   LMKit ns/call  OpenBLAS ns/call  (random rows of a 25000 x dim matrix, 2M calls)")
    for dim in [100, 200, 300] {
        let rows = 25_000
        let matrix = UnsafeMutablePointer<Float>.allocate(capacity: rows * dim)
        for i in 0..<(rows * dim) { matrix[i] = Float(i % 97) * 0.001 }
        let calls = 2_000_000
        var pick = [Int](repeating: 0, count: calls)
        var r: UInt64 = 7
        for i in 0..<calls { r = r &* 25_214_903_917 &+ 11; pick[i] = Int((r >> 16) % UInt64(rows)) }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: dim)
        x.initialize(repeating: 0.5, count: dim)
        func time(_ body: () -> Float) -> (Double, Float) {
            let t = Date(); let s = body(); return (Date().timeIntervalSince(t) * 1e9 / Double(calls), s)
        }
        let (ours, s1) = time { var s: Float = 0; for p in pick { s += VectorKernels.dot(x, matrix + p * dim, count: dim) }; return s }
        let (blas, s2) = time { var s: Float = 0; for p in pick { s += cblas_sdot(Int32(dim), x, 1, matrix + p * dim, 1) }; return s }
        let (oursAxpy, _) = time { for p in pick { VectorKernels.axpy(1e-6, x, matrix + p * dim, count: dim) }; return 0 }
        let (blasAxpy, _) = time { for p in pick { cblas_saxpy(Int32(dim), 1e-6, x, 1, matrix + p * dim, 1) }; return 0 }
        print(String(format: "dot     %4d   %13.1f  %16.1f", dim, ours, blas))
        print(String(format: "axpy    %4d   %13.1f  %16.1f", dim, oursAxpy, blasAxpy))
        if abs(s1 - s2) > 1e-2 * abs(s2) { print("warning: dot results differ: \(s1) vs \(s2)") }
        matrix.deallocate(); x.deallocate()
    }
}
