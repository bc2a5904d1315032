// `lmkit bench tokenizer`: LMKit's byte-level BPE against tiktoken and HF `tokenizers` on the same text, rank file and
// machine, in one command: encode MB/s on 1 and 2 threads (tinyshakespeare repeated to ≥ 50 MB, and the
// awkward-string corpus), and training seconds + peak RSS at vocab 8192 / 32768 vs HF's ByteLevel BpeTrainer.
// The Python side is Benchmarks/reference/tokenizer_reference.py; each tool reports its own best of 2 runs.
import Foundation
import LMTokenizers

/// The tokenizer benchmark (release builds only; numbers go to BENCHMARKS.md).
public struct TokenizerBenchmark {
    let assets: String
    let megabytes: Int
    let trainVocabularySizes: [Int]
    let trainRepeat: Int
    let runReference: Bool
    let lmkitBinary: String

    public init(assets: String, megabytes: Int, trainVocabularySizes: [Int], trainRepeat: Int, runReference: Bool, lmkitBinary: String) {
        self.assets = assets; self.megabytes = megabytes; self.trainVocabularySizes = trainVocabularySizes
        self.trainRepeat = trainRepeat; self.runReference = runReference; self.lmkitBinary = lmkitBinary
    }

    /// The repository root: the current directory if it holds the corpus, else found from this source file.
    static func repositoryRoot() -> String {
        let cwd = FileManager.default.currentDirectoryPath
        if FileManager.default.fileExists(atPath: cwd + "/data/tinyshakespeare.txt") { return cwd }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Cuts after the first newline at or past each 64 KiB (byte offsets; the reference script uses the same rule).
    static func chunks(_ text: String, size: Int = 65536) -> [String] {
        let bytes = Array(text.utf8)
        var out: [String] = []
        var start = 0
        while start < bytes.count {
            var newline = start + size
            while newline < bytes.count && bytes[newline] != 0x0A { newline += 1 }
            let end = min(bytes.count, newline + 1)
            out.append(String(decoding: bytes[start..<end], as: UTF8.self)); start = end
        }
        return out
    }

    static func bestOf<T>(_ n: Int, _ body: () throws -> T) rethrows -> (Double, T) {
        var best = Double.infinity
        var result: T? = nil
        for _ in 0..<n {
            let t = DispatchTime.now().uptimeNanoseconds
            result = try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return (best, result!)
    }

    /// Runs a command; returns stdout, stderr and the exit status.
    static func shell(_ arguments: [String], environment: [String: String] = [:]) throws -> (String, String, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out; process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self), process.terminationStatus)
    }

    func reference(_ arguments: [String], environment: [String: String] = [:]) -> [String: Any]? {
        guard runReference else { return nil }
        let script = TokenizerBenchmark.repositoryRoot() + "/Benchmarks/reference/tokenizer_reference.py"
        guard let (out, err, status) = try? TokenizerBenchmark.shell(["python3", script] + arguments, environment: environment), status == 0,
              let line = out.split(separator: "\n").last,
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            print("  (reference run failed: python3 tokenizer_reference.py \(arguments.joined(separator: " ")))")
            return nil
        }
        _ = err
        return json
    }

    static func format(_ x: Double) -> String { String(format: "%.2f", x) }

    public func run() throws {
        let root = TokenizerBenchmark.repositoryRoot()
        let rankFile = assets + "/cl100k_base.tiktoken"
        guard FileManager.default.fileExists(atPath: rankFile) else {
            throw TokenizerError.io(path: rankFile, reason: "missing; run `python3 Scripts/fixtures/tokenizers_make_fixtures.py` first (it fetches the official rank files)")
        }
        let work = NSTemporaryDirectory() + "lmkit-bench-tokenizer"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let shakespeare = try String(contentsOfFile: root + "/data/tinyshakespeare.txt", encoding: .utf8)
        var big = ""
        while big.utf8.count < megabytes * 1_000_000 { big += shakespeare }
        let bigPath = work + "/shakespeare.txt"
        try writeFileAtomically(Data(big.utf8), to: bigPath)
        let awkwardJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/Tests/Fixtures/tokenizers/tiktoken_awkward.json"))) as! [String: Any]
        let awkwardOnce = (awkwardJSON["strings"] as! [String]).joined(separator: "\n") + "\n"
        var awkward = ""
        while awkward.utf8.count < 5_000_000 { awkward += awkwardOnce }
        let awkwardPath = work + "/awkward.txt"
        try writeFileAtomically(Data(awkward.utf8), to: awkwardPath)

        let tokenizer = try ByteLevelBPE.load(encoding: "cl100k_base", rankFile: rankFile)
        let tokenizerJSON = work + "/cl100k_tokenizer.json"
        try tokenizer.writeTokenizerJSON(to: tokenizerJSON)
        print("== tokenizer encode: cl100k_base, LMKit vs tiktoken \(runReference ? "and HF tokenizers " : "")(same rank file; HF loads LMKit's tokenizer.json), best of 2 with cold piece caches (HF: 1 run)")
        print("   1 thread = one call on the whole text; 2 threads = batch over 64 KiB line-aligned chunks. HF treats the special-token texts in the awkward corpus as specials (tiktoken's encode_ordinary does not), so its count there differs by design.")
        print("| corpus | MB | threads | LMKit MB/s | tiktoken MB/s | LMKit/tiktoken | HF MB/s | LMKit/HF | same token count |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (name, path, text) in megabytes == 0 ? [] : [("tinyshakespeare×\(big.utf8.count / shakespeare.utf8.count)", bigPath, big), ("awkward strings", awkwardPath, awkward)] {
            let mb = Double(text.utf8.count) / 1e6
            let chunks = TokenizerBenchmark.chunks(text)
            for threads in [1, 2] {
                let (seconds, count): (Double, Int)
                // Each run starts with empty piece caches (they persist across calls otherwise).
                if threads == 1 {
                    (seconds, count) = TokenizerBenchmark.bestOf(2) { tokenizer.clearCache(); return tokenizer.encodeOrdinary(text).count }
                } else {
                    (seconds, count) = TokenizerBenchmark.bestOf(2) { tokenizer.clearCache(); return tokenizer.encodeOrdinaryBatch(chunks, threads: threads).reduce(0) { $0 + $1.count } }
                }
                let ours = mb / seconds
                let tk = reference(["tiktoken", "--text", path, "--rank-file", rankFile, "--threads", "\(threads)"])
                let hf = reference(["hf", "--text", path, "--tokenizer-json", tokenizerJSON], environment: ["RAYON_NUM_THREADS": "\(threads)", "TOKENIZERS_PARALLELISM": threads > 1 ? "true" : "false"])
                let tkRate = tk?["mb_per_s"] as? Double, hfRate = hf?["mb_per_s"] as? Double
                let same = [tk?["tokens"] as? Int, hf?["tokens"] as? Int].compactMap { $0 }.allSatisfy { $0 == count }
                print("| \(name) | \(TokenizerBenchmark.format(mb)) | \(threads) | \(TokenizerBenchmark.format(ours)) | \(tkRate.map(TokenizerBenchmark.format) ?? "-") | "
                      + "\(tkRate.map { TokenizerBenchmark.format(ours / $0) + "×" } ?? "-") | \(hfRate.map(TokenizerBenchmark.format) ?? "-") | "
                      + "\(hfRate.map { TokenizerBenchmark.format(ours / $0) + "×" } ?? "-") | \(same ? "yes (\(count))" : "NO (LMKit \(count), tiktoken \(tk?["tokens"] ?? "-"), HF \(hf?["tokens"] ?? "-"))") |")
            }
        }

        if trainVocabularySizes.isEmpty { return }
        var corpus = ""
        for _ in 0..<trainRepeat { corpus += shakespeare }
        let corpusPath = work + "/train_corpus.txt"
        try writeFileAtomically(Data(corpus.utf8), to: corpusPath)
        print("\n== tokenizer training: byte-level BPE on tinyshakespeare×\(trainRepeat) (\(TokenizerBenchmark.format(Double(corpus.utf8.count) / 1e6)) MB), min_frequency 2; LMKit = `lmkit tokenizer train` process, HF = ByteLevelBPETokenizer.train on 2 rayon threads")
        print("| vocab | LMKit s | LMKit peak RSS MB | HF s | HF peak RSS MB | HF/LMKit time | same merges |")
        print("|---|---|---|---|---|---|---|")
        for vocab in trainVocabularySizes {
            let out = work + "/trained_\(vocab).json"
            let (_, err, status) = try TokenizerBenchmark.shell([lmkitBinary, "tokenizer", "train", "--input", corpusPath, "--vocab-size", "\(vocab)", "--out", out, "--quiet"])
            guard status == 0, let stats = err.split(separator: "\n").last(where: { $0.contains("training took") }) else {
                print("| \(vocab) | failed: \(err) |"); continue
            }
            // "... training took X s, peak RSS Y MB"
            let words = stats.split(separator: " ")
            let seconds = Double(words[words.firstIndex(of: "took")! + 1]) ?? .nan
            let rss = Double(words[words.firstIndex(of: "RSS")! + 1]) ?? .nan
            let hf = reference(["train", "--corpus", corpusPath, "--vocab-size", "\(vocab)", "--compare", out], environment: ["RAYON_NUM_THREADS": "2"])
            let hfSeconds = hf?["seconds"] as? Double, hfRSS = hf?["peak_rss_mb"] as? Double
            print("| \(vocab) | \(TokenizerBenchmark.format(seconds)) | \(TokenizerBenchmark.format(rss)) | \(hfSeconds.map(TokenizerBenchmark.format) ?? "-") | "
                  + "\(hfRSS.map(TokenizerBenchmark.format) ?? "-") | \(hfSeconds.map { TokenizerBenchmark.format($0 / seconds) + "×" } ?? "-") | \(hf?["merges_note"] as? String ?? "-") |")
        }
    }
}
