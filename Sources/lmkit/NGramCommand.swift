// `lmkit ngram build|query|perplexity|convert`: wiring onto LMNGram (estimation, ARPA, binary, query), with the
// flag names of KenLM's lmplz / query where they exist. Progress goes to stderr; results to stdout or files.
// Every user error (bad flag, unreadable or malformed file) exits with a message naming the file and line.
import ArgumentParser
import Foundation
import LMNGram
import LMBenchmarks

struct NGramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ngram",
        abstract: "Kneser-Ney n-gram language models (KenLM-compatible ARPA, LMKit binary).",
        subcommands: [NGramBuildCommand.self, NGramQueryCommand.self, NGramPerplexityCommand.self, NGramConvertCommand.self])
}

/// Loads a model from an LMKit binary (detected by its magic) or an ARPA file.
func loadNGramModel(_ path: String, method: NGramModel.LoadMethod = .map) throws -> NGramModel {
    // A FIFO would block the open below forever; a directory has nothing to read.
    try NGramModel.checkModelFile(path)
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw NGramError(file: path, "cannot open the model file (expected an ARPA file or an LMKit binary)")
    }
    defer { try? handle.close() }
    // `readData(ofLength:)` traps on a read error (a directory); `read(upToCount:)` throws.
    guard let head = try? handle.read(upToCount: 8) ?? Data() else {
        throw NGramError(file: path, "cannot read the model file (expected an ARPA file or an LMKit binary)")
    }
    if head == Data("LMKNGRAM".utf8) { return try NGramModel(binaryFile: path, method: method) }
    let bar = ProgressBar("reading \(path)")
    let tables = try ARPAFormat.read(path: path) { bar.update($0, "n-grams") }
    bar.update(1, "building lookup tables")
    bar.finish()
    return try NGramModel(tables: tables)
}

func stderrLine(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

struct NGramBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Estimate an interpolated modified Kneser-Ney model from a text corpus (like lmplz).")

    @Option(name: [.customShort("o"), .long], help: "Model order N (lmplz -o).")
    var order: Int

    @Option(name: .long, help: "Corpus: one sentence per line, words separated by whitespace.")
    var text: String

    @Option(name: .long, help: "Write the model as an ARPA file here.")
    var arpa: String?

    @Option(name: .long, help: "Write the model in LMKit's mmap-able binary format here.")
    var binary: String?

    @Option(name: .long, parsing: .upToNextOption,
            help: "Per-order adjusted-count thresholds (lmplz --prune), e.g. --prune 0 0 1; first must be 0.")
    var prune: [Int] = []

    @Option(name: .long, parsing: .upToNextOption,
            help: "Fallback discounts for counts 1 2 3+ when the corpus is too small for Kneser-Ney discounts (lmplz --discount_fallback; default 0.5 1 1.5 when given without values).")
    var discountFallback: [Double] = []

    @Flag(name: .long, help: "Use lmplz's default fallback discounts 0.5 1 1.5 when needed.")
    var useDiscountFallback = false

    @Option(name: .long, help: "Allowed words, separated by whitespace (lmplz --limit_vocab_file): n-grams containing other corpus words are pruned; the model's vocabulary is these words that occur in the corpus plus <unk>, <s>, </s>.")
    var limitVocabFile: String?

    func validate() throws {
        if arpa == nil && binary == nil { throw ValidationError("give --arpa PATH and/or --binary PATH for the output") }
        if order < 1 || order > NGramModel.maximumOrder { throw ValidationError("--order must be 1…\(NGramModel.maximumOrder), got \(order)") }
        if !discountFallback.isEmpty && discountFallback.count != 3 {
            throw ValidationError("--discount-fallback takes 3 values (for adjusted counts 1, 2, 3+), got \(discountFallback.count)")
        }
    }

    func run() throws {
        try reportingErrors {
            let fallback: [Double]? = !discountFallback.isEmpty ? discountFallback
                : (useDiscountFallback ? KneserNeyOptions.defaultFallbackDiscounts : nil)
            let limit = try limitVocabFile.map { try KneserNeyOptions.readVocabularyLimit(path: $0) }
            let options = KneserNeyOptions(order: order, pruneThresholds: prune, discountFallback: fallback,
                                           vocabularyLimit: limit)
            let start = Date()
            let bar = ProgressBar("ngram build")
            // ARPA only: stream each order to the file as it is finished (lower peak memory); the binary needs it all.
            var streamed: ARPAStreamWriter?
            let sink: KneserNeyOutputSink? = (arpa != nil && binary == nil) ? KneserNeyOutputSink(
                begin: { vocabulary, counts in streamed = try ARPAStreamWriter(path: arpa!, vocabulary: vocabulary, counts: counts) },
                order: { try streamed!.write($0) }) : nil
            let result = try estimateKneserNey(corpusFile: text, options: options, progress: { stage, fraction in
                bar.update(fraction, stage.rawValue)
            }, sink: sink)
            bar.finish()
            try streamed?.finish()
            let counts = result.tables.orders.isEmpty ? [] : result.tables.counts
            stderrLine("read \(result.wordCount) words in \(result.sentenceCount) sentences")
            for (n, discount) in result.discounts.enumerated() {
                let amounts = discount.amounts[1...].map { String(format: "%.6f", $0) }.joined(separator: " ")
                let count = n < counts.count ? "\(counts[n]) n-grams, " : ""
                stderrLine("order \(n + 1): \(count)discounts \(amounts)\(discount.usedFallback ? " (fallback)" : "")")
            }
            if sink == nil, let arpa { try ARPAFormat.write(result.tables, to: arpa) }
            if let binary { try NGramModel(tables: result.tables).write(binaryTo: binary) }
            stderrLine(String(format: "done in %.2f s", Date().timeIntervalSince(start)))
        }
    }
}

/// Reads sentences (lines) from a file or stdin.
func readSentenceLines(_ path: String?) throws -> [String] {
    if let path {
        let bytes = try readFileBytes(path)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast(bytes.last == 0x0A ? 1 : 0).map(String.init)
    }
    var lines: [String] = []
    while let line = readLine() { lines.append(line) }
    return lines
}

/// The model arguments shared by `query` and `perplexity`.
struct NGramModelArguments: ParsableArguments {
    @Argument(help: "Model: ARPA file or LMKit binary.")
    var model: String

    @Option(help: "How to load an LMKit binary: map (mmap, instant) or read (into huge-page memory, like KenLM's -l read).")
    var load: NGramModel.LoadMethod = .map

    func loadModel() throws -> NGramModel { try loadNGramModel(model, method: load) }
}

struct NGramQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Score sentences like KenLM's query: per-word log10 p and n-gram length, totals and perplexity.")

    @OptionGroup var model: NGramModelArguments

    @Option(name: .long, help: "Sentences to score, one per line (default: stdin).")
    var text: String?

    @Flag(name: .long, help: "Do not start sentences with <s> (query -n).")
    var noBeginSentence = false

    @Flag(name: .long, help: "Do not score </s> at the end of each sentence.")
    var noEndSentence = false

    @Option(name: .long, help: "Output level: word (per-word scores), sentence (totals per sentence) or summary.")
    var verbosity: String = "word"

    func validate() throws {
        if !["word", "sentence", "summary"].contains(verbosity) {
            throw ValidationError("--verbosity must be word, sentence or summary, got \(verbosity)")
        }
    }

    func run() throws {
        try reportingErrors {
            let lm = try model.loadModel()
            let lines = try readSentenceLines(text)
            var corpus = NGramCorpusScore()
            var output = ""
            for line in lines {
                var ids: [UInt32] = []
                var words: [String] = []
                for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                    ids.append(lm.wordId(String(word)))
                    words.append(String(word))
                }
                words.append("</s>")
                var index = 0
                let sentence = lm.scoreSentence(ids, begin: !noBeginSentence, end: !noEndSentence) { score in
                    if verbosity == "word" {
                        output += "\(words[index])=\(score.wordId) \(score.ngramLength) \(score.log10Probability)\t"
                    }
                    index += 1
                }
                if verbosity != "summary" {
                    output += "Total: \(Float(sentence.log10Total)) OOV: \(sentence.outOfVocabularyCount)\n"
                }
                corpus.log10Total += sentence.log10Total
                corpus.log10OutOfVocabulary += sentence.log10OutOfVocabulary
                corpus.tokenCount += sentence.tokenCount
                corpus.outOfVocabularyCount += sentence.outOfVocabularyCount
                corpus.sentenceCount += 1
                if output.utf8.count > 1 << 16 { print(output, terminator: ""); output = "" }
            }
            print(output, terminator: "")
            printPerplexity(corpus)
        }
    }
}

func printPerplexity(_ corpus: NGramCorpusScore) {
    print("Perplexity including OOVs:\t\(corpus.perplexityIncludingOOVs)")
    print("Perplexity excluding OOVs:\t\(corpus.perplexityExcludingOOVs)")
    print("OOVs:\t\(corpus.outOfVocabularyCount)")
    print("Tokens:\t\(corpus.tokenCount)")
}

struct NGramPerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Corpus perplexity with and without OOVs (as KenLM's query summary).")

    @OptionGroup var model: NGramModelArguments

    @Option(name: .long, help: "Test text, one sentence per line.")
    var text: String

    func run() throws {
        try reportingErrors {
            let lm = try model.loadModel()
            let bytes = try readFileBytes(text)
            let corpus = bytes.withUnsafeBytes { scoreCorpus(lm, $0) }
            print("Sentences:\t\(corpus.sentenceCount)")
            printPerplexity(corpus)
        }
    }
}

struct NGramConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert ARPA → LMKit binary or LMKit binary → ARPA (input format detected from the file).")

    @Argument(help: "Input model (ARPA or LMKit binary).")
    var input: String

    @Argument(help: "Output path.")
    var output: String

    @Option(name: .long, help: "Output format: binary or arpa (default: the opposite of the input).")
    var to: String?

    func validate() throws {
        if let to, to != "binary" && to != "arpa" { throw ValidationError("--to must be binary or arpa, got \(to)") }
    }

    func run() throws {
        try reportingErrors {
            let lm = try loadNGramModel(input)
            let target = to ?? (lm.source.isEmpty ? "binary" : "arpa")
            if target == "binary" {
                try lm.write(binaryTo: output)
            } else {
                try ARPAFormat.write(lm.tables(), to: output)
            }
            stderrLine("wrote \(target) model (order \(lm.order), counts \(lm.counts.map(String.init).joined(separator: " "))) to \(output)")
        }
    }
}

/// `lmkit bench ngram`: build time, peak RSS and query speed vs KenLM (lmplz, Python kenlm) on gcide.
struct BenchNGramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ngram",
        abstract: "LMKit vs KenLM: build time and peak RSS (lmplz -S 1G), query words/s (python kenlm), on gcide.")

    @Option(help: "Training words taken from Debian dict-gcide.")
    var words: Int = 2_000_000

    @Option(name: [.customShort("o"), .long], help: "Model order.")
    var order: Int = 5

    @Option(help: "Working directory (corpus, models).")
    var workDirectory: String = "/tmp/lmkit-bench-ngram"

    @Option(help: "Python interpreter for Benchmarks/reference/ngram_reference.py.")
    var python: String = "python3"

    func validate() throws {
        if words < 1000 { throw ValidationError("--words must be at least 1000") }
        if order < 1 || order > NGramModel.maximumOrder { throw ValidationError("--order must be 1…\(NGramModel.maximumOrder)") }
    }

    func run() throws {
        var options = NGramBenchmarkOptions()
        options.words = words
        options.order = order
        options.workDirectory = workDirectory
        options.python = python
        try reportingErrors { try NGramBenchmark.run(options) }
    }
}

extension NGramModel.LoadMethod: ExpressibleByArgument {}
