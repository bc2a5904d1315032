// `lmkit bench word2vec`: times LMKit's word2vec trainer and gensim 4.4 (Benchmarks/reference/word2vec_reference.py)
// on the same token file and hyper-parameters in one command, and prints effective words/s side by side with ratios.
// Effective words = tokens trained after vocabulary trimming and subsampling, gensim's own "effective words/s" counter.
// Vocabulary building is excluded from both timings. Release builds only (a debug build prints a warning).
import Foundation
import LMWord2Vec

/// Options of the word2vec benchmark; defaults are the issue's settings (skip-gram, 100, window 5, negative 5, sample 1e-3, min_count 5).
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

func runPython(_ python: String, _ arguments: [String]) throws -> [String: Any] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw Word2VecError("reference script failed (\(python) \(arguments.joined(separator: " "))), exit \(process.terminationStatus)")
    }
    let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    guard let object = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
        throw Word2VecError("reference script printed no JSON result: '\(lastLine)'")
    }
    return object
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
        print(String(format: "%7d  %14@  %13.0f  %@", threads, reference.map { String(format: "%.0f", $0) } ?? "-", ours, ratio))
    }
}
