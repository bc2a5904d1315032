// `lmkit bench ngram`: LMKit vs KenLM on the same gcide corpus in one command — build time and peak RSS of
// `lmkit ngram build` vs `lmplz -o N -S 1G` (both as child processes, measured with wait4), and query words/s of
// LMKit's mmap model vs the Python `kenlm` module. Corpus preparation and the KenLM side live in
// Benchmarks/reference/ngram_reference.py; this file never times anything but the work it names.
import Foundation
import LMNGram
#if canImport(Glibc)
import Glibc
#endif

/// Settings of the n-gram benchmark.
public struct NGramBenchmarkOptions {
    /// Training words taken from gcide (the test text is the next quarter).
    public var words: Int = 2_000_000
    /// Model order.
    public var order: Int = 5
    /// Working directory for the corpus and models.
    public var workDirectory: String = "/tmp/lmkit-bench-ngram"
    /// Path of this `lmkit` executable (spawned for the build so its peak RSS is its own).
    public var lmkitExecutable: String = "/proc/self/exe"
    /// Python interpreter for the reference script.
    public var python: String = "python3"

    public init() {}
}

/// Runs the benchmark and prints the comparison table; throws with a message when a step fails.
public enum NGramBenchmark {
    /// Result of one child process.
    struct ChildRun {
        var seconds: Double
        var cpuSeconds: Double
        var peakResidentKilobytes: Int
    }

    static func referenceScript() -> String {
        let local = "Benchmarks/reference/ngram_reference.py"
        if FileManager.default.fileExists(atPath: local) { return local }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("reference/ngram_reference.py").path
    }

    /// Runs the Python reference script and decodes the JSON object it prints last.
    static func reference(_ options: NGramBenchmarkOptions, _ arguments: [String]) throws -> [String: Any] {
        try Bench.runPythonJSON(python: options.python, script: referenceScript(), arguments)
    }

    /// Spawns `executable arguments`, waits with wait4 and returns wall time and the child's own peak RSS.
    static func spawnAndMeasure(_ executable: String, _ arguments: [String], stderrPath: String) throws -> ChildRun {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let start = DispatchTime.now().uptimeNanoseconds
        let status = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard status == 0 else { throw NGramError(file: executable, "cannot start: \(String(cString: strerror(status)))") }
        var waitStatus: Int32 = 0
        var usage = rusage()
        guard wait4(pid, &waitStatus, 0, &usage) == pid else {
            throw NGramError(file: executable, "wait4 failed: \(String(cString: strerror(errno)))")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard waitStatus == 0 else { throw NGramError(file: executable, "\(arguments.joined(separator: " ")) exited with status \(waitStatus)") }
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return ChildRun(seconds: seconds, cpuSeconds: cpu, peakResidentKilobytes: Int(usage.ru_maxrss))
    }

    public static func run(_ options: NGramBenchmarkOptions) throws {
        let work = options.workDirectory
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let prepared = try reference(options, ["prepare", "--out", work, "--words", String(options.words)])
        let train = work + "/train.txt", test = work + "/test.txt"
        print("n-gram benchmark: gcide \(prepared["train_words"] ?? "?") training words (\(prepared["train_lines"] ?? "?") lines), order \(options.order)")

        // Build: both tools as child processes writing an ARPA file.
        let lmkitExecutable = options.lmkitExecutable == "/proc/self/exe"
            ? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            : options.lmkitExecutable
        let lmkitBuild = try spawnAndMeasure(lmkitExecutable, ["ngram", "build", "-o", String(options.order), "--text", train,
                                                               "--arpa", work + "/lmkit.arpa"],
                                            stderrPath: work + "/lmkit-build.log")
        // The binary for the query test is made outside the timing (lmplz's build writes ARPA only).
        try NGramModel(tables: ARPAFormat.read(path: work + "/lmkit.arpa")).write(binaryTo: work + "/lmkit.lmkbin")
        let lmplz = try reference(options, ["lmplz", "--out", work, "--order", String(options.order)])
        let lmplzSeconds = lmplz["seconds"] as? Double ?? .nan
        let lmplzRSS = lmplz["peak_rss_kb"] as? Int ?? 0
        let lmplzCPU = lmplz["cpu_seconds"] as? Double ?? .nan

        // Query: LMKit's mmap binary in process (best of 3, tokenization included) vs Python kenlm on lmplz's ARPA.
        let text = try readFileBytes(test)
        var best = Double.infinity
        var score = NGramCorpusScore()
        var bestMethod = NGramModel.LoadMethod.read
        var perMethod: [(NGramModel.LoadMethod, Double)] = []
        for method in NGramModel.LoadMethod.allCases {
            let model = try NGramModel(binaryFile: work + "/lmkit.lmkbin", method: method)
            _ = text.withUnsafeBytes { scoreCorpus(model, $0) }   // warm-up: page in the mmap
            var methodBest = Double.infinity
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                score = text.withUnsafeBytes { scoreCorpus(model, $0) }
                methodBest = min(methodBest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            perMethod.append((method, methodBest))
            if methodBest < best { best = methodBest; bestMethod = method }
        }
        let kenlmQuery = try reference(options, ["query", "--model", lmplz["arpa"] as? String ?? "", "--text", test])
        let kenlmTokens = kenlmQuery["tokens"] as? Int ?? 0
        let kenlmSeconds = kenlmQuery["seconds"] as? Double ?? .nan
        let kenlmTotal = kenlmQuery["log10_total"] as? Double ?? .nan

        let lmkitRate = Double(score.tokenCount) / best
        let kenlmRate = Double(kenlmTokens) / kenlmSeconds
        func row(_ name: String, _ mine: String, _ theirs: String, _ ratio: String) {
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + mine.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + theirs.padding(toLength: 24, withPad: " ", startingAt: 0) + ratio)
        }
        row("", "LMKit", "KenLM", "ratio (LMKit speed / KenLM)")
        row("build -o \(options.order) → ARPA (s)", String(format: "%.2f", lmkitBuild.seconds),
            String(format: "%.2f (lmplz -S 1G)", lmplzSeconds), String(format: "%.2f×", lmplzSeconds / lmkitBuild.seconds))
        row("build CPU user+sys (s)", String(format: "%.2f", lmkitBuild.cpuSeconds),
            String(format: "%.2f", lmplzCPU), String(format: "%.2f×", lmplzCPU / lmkitBuild.cpuSeconds))
        row("build peak RSS (MB)", String(format: "%.0f", Double(lmkitBuild.peakResidentKilobytes) / 1024),
            String(format: "%.0f", Double(lmplzRSS) / 1024), "")
        for (method, seconds) in perMethod {
            row("  LMKit query, load \(method.rawValue)", String(format: "%.0f", Double(score.tokenCount) / seconds), "", "")
        }
        row("query (words/s, incl. </s>), \(bestMethod.rawValue)", String(format: "%.0f", lmkitRate), String(format: "%.0f (python kenlm)", kenlmRate),
            String(format: "%.2f×", lmkitRate / kenlmRate))
        row("test log10 total (check)", String(format: "%.3f", score.log10Total), String(format: "%.3f", kenlmTotal),
            String(format: "|diff| %.2e", abs(score.log10Total - kenlmTotal)))
        print("test text: \(score.tokenCount) tokens, \(score.outOfVocabularyCount) OOV; perplexity \(String(format: "%.3f", score.perplexityIncludingOOVs))")
    }
}
