// `lmkit tokenizer train|encode|decode|info` and `lmkit bench tokenizer`: wiring onto LMTokenizers and
// LMBenchmarks. Inputs come from files or stdin; every error names the file or flag and exits non-zero.
import ArgumentParser
import Foundation
import LMBenchmarks
import LMTokenizers

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, run and inspect byte-level BPE, WordPiece and character tokenizers.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self, TokenizerInfo.self, TokenizerConvert.self])
}

/// How to find a tokenizer: anything `loadTokenizer` reads, a rank file with a named encoding, or GPT-2 vocab.json + merges.txt.
struct TokenizerSource: ParsableArguments {
    @Option(name: .shortAndLong, help: "tokenizer.json (BPE or WordPiece), char_vocab.json, vocab.txt (WordPiece), a .tiktoken rank file, or a directory holding one (a data directory of `lmkit prepare`, a model directory).")
    var tokenizer: String?
    @Option(help: "With a rank file not named after its encoding: gpt2, r50k_base, cl100k_base or o200k_base (pattern and special tokens).")
    var encoding: String?
    @Option(help: "GPT-2 vocab.json / encoder.json (with --merges).")
    var vocab: String?
    @Option(help: "GPT-2 merges.txt / vocab.bpe (with --vocab).")
    var merges: String?

    func load() throws -> any Tokenizer {
        if let vocab, let merges { return try ByteLevelBPE.load(vocabJSON: vocab, merges: merges) }
        if vocab != nil || merges != nil { throw ValidationError("--vocab and --merges go together") }
        guard let path = tokenizer else { throw ValidationError("give --tokenizer PATH (or --vocab and --merges)") }
        return try loadTokenizer(path, encoding: encoding)
    }
}

/// What to do with bytes that are not UTF-8 (Python's `errors=`): fail naming the offset, or replace with U+FFFD.
enum UTF8ErrorHandling: String, ExpressibleByArgument, CaseIterable {
    case strict, replace
}

/// Reads each input file (or stdin when none) as UTF-8 text, naming the file on failure. Invalid UTF-8 is an error
/// naming the byte offset (as `prepare` and `eval` do) unless `errors` is `.replace`.
func readInputs(_ files: [String], errors: UTF8ErrorHandling = .strict) throws -> [(name: String, text: String)] {
    func text(_ data: Data, _ name: String) throws -> String {
        if errors == .strict, let offset = firstInvalidUTF8Offset(data) {
            throw TokenizerError.io(path: name, reason: "invalid UTF-8 at byte offset \(offset) (byte 0x\(String(data[data.startIndex + offset], radix: 16, uppercase: true))); pass --errors replace to substitute U+FFFD")
        }
        return String(decoding: data, as: UTF8.self)
    }
    if files.isEmpty {
        return [("<stdin>", try text(FileHandle.standardInput.readDataToEndOfFile(), "<stdin>"))]
    }
    return try files.map { path in
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        var info = stat()
        if exists && !isDirectory.boolValue && stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
            throw TokenizerError.io(path: path, reason: "not a regular file (a FIFO or device cannot be read as input)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.io(path: path, reason: !exists ? "no such file" : (isDirectory.boolValue ? "is a directory" : "cannot be read"))
        }
        return (path, try text(data, path))
    }
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a tokenizer on text files and write tokenizer.json.")
    @Option(name: .long, parsing: .upToNextOption, help: "Training text files (UTF-8).") var input: [String]
    @Option(name: .long, help: "Vocabulary size, special tokens and the 256 bytes included.") var vocabSize: Int
    @Option(name: .long, help: "bpe (byte-level, HF ByteLevelBPETokenizer compatible) or wordpiece (BERT).") var type: String = "bpe"
    @Option(name: .long, help: "Output tokenizer.json.") var out: String
    @Option(name: .long, help: "Minimum pair (bpe) / word-piece (wordpiece) frequency.") var minFrequency: Int = 2
    @Option(name: .long, help: "bpe split pattern: gpt2, cl100k or o200k.") var pattern: String = "gpt2"
    @Option(name: .long, parsing: .upToNextOption, help: "Special tokens (bpe default: none; wordpiece default: [PAD] [UNK] [CLS] [SEP] [MASK]).")
    var special: [String] = []
    @Flag(name: .long, help: "No progress bar.") var quiet = false

    func validate() throws {
        if input.isEmpty { throw ValidationError("--input needs at least one file") }
        if vocabSize < 1 { throw ValidationError("--vocab-size must be positive") }
        if type != "bpe" && type != "wordpiece" { throw ValidationError("--type must be bpe or wordpiece, got \(type)") }
        if SplitPattern(name: pattern) == nil { throw ValidationError("--pattern must be gpt2, cl100k or o200k, got \(pattern)") }
    }

    func run() throws {
        let start = Date()
        let bar = ProgressBar("tokenizer train", enabled: !quiet)
        try reportingErrors {
            if type == "bpe" {
                let tokenizer = try BPETrainer.train(files: input, vocabularySize: vocabSize, minFrequency: minFrequency,
                                                     pattern: SplitPattern(name: pattern)!, specialTokens: special) { p in bar.update(p.total > 0 ? Double(p.done) / Double(p.total) : 0, p.phase == .countingWords ? "counting words" : "merging") }
                bar.finish()
                let seconds = Date().timeIntervalSince(start)
                try tokenizer.writeTokenizerJSON(to: out)
                FileHandle.standardError.write(Data("wrote \(out): \(tokenizer.vocabularySize) tokens, \(tokenizer.mergeCount) merges; training took \(String(format: "%.3f", seconds)) s, peak RSS \(peakRSSMegabytes()) MB\n".utf8))
            } else {
                let trainer = try WordPieceTrainer(vocabularySize: vocabSize, minFrequency: minFrequency,
                                                   specialTokens: special.isEmpty ? WordPiece.bertSpecialTokens : special)
                for f in input { try trainer.add(file: f) }
                let tokenizer = try trainer.train()
                try tokenizer.writeTokenizerJSON(to: out)
                FileHandle.standardError.write(Data("wrote \(out): \(tokenizer.vocabularySize) tokens in \(String(format: "%.2f", Date().timeIntervalSince(start))) s\n".utf8))
            }
        }
    }
}

/// This process's peak resident set size in MB: VmHWM from /proc/self/status (getrusage's ru_maxrss is kept across
/// exec on Linux, so a child of a large process would report its parent's size).
func peakRSSMegabytes() -> String {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
        return String(format: "%.1f", kb / 1024)
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return String(format: "%.1f", Double(usage.ru_maxrss) / 1024)
}

/// Encodes `path` (stdin when nil) chunk by chunk and prints the ids as one line. Chunks (about 1 MiB) end only just
/// before a "\n" that follows an ASCII letter or digit: no split pattern (GPT-2, cl100k, o200k, Llama 3) joins a piece
/// across that point — a letter/digit piece never takes a newline, and the whitespace run starting at the newline is
/// whole in the next chunk — and no special token holds a newline, so the ids equal those of the whole text. (Cutting
/// after a newline is wrong: GPT-2's `\s+(?!\S)` then sees "\n\n" at the end of a chunk as one piece where the whole
/// text gives two.) A line longer than the chunk size is read whole. Invalid UTF-8 is an error naming the byte offset
/// in the input unless `errors` is `.replace`.
func streamEncode(_ path: String?, errors: UTF8ErrorHandling, chunkBytes: Int = 1 << 20,
                  encode: (String, String) throws -> [Int]) throws {
    let name = path ?? "<stdin>"
    let handle: FileHandle
    if let path {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        var info = stat()
        guard exists, !isDirectory.boolValue, stat(path, &info) == 0 else {
            throw TokenizerError.io(path: path, reason: !exists ? "no such file" : (isDirectory.boolValue ? "is a directory" : "cannot be read"))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TokenizerError.io(path: path, reason: "not a regular file (a FIFO or device cannot be read as input)")
        }
        guard let opened = FileHandle(forReadingAtPath: path) else { throw TokenizerError.io(path: path, reason: "cannot be read") }
        handle = opened
    } else {
        handle = FileHandle.standardInput
    }
    defer { if path != nil { try? handle.close() } }
    var pending: [UInt8] = []
    var consumed = 0  // input bytes before `pending`
    var wroteAny = false
    let output = FileHandle.standardOutput
    func emit(_ count: Int) throws {
        let bytes = pending[..<count]
        if errors == .strict, let bad = firstInvalidUTF8Offset(bytes) {
            throw TokenizerError.io(path: name, reason: "invalid UTF-8 at byte offset \(consumed + bad) (byte 0x\(String(bytes[bytes.startIndex + bad], radix: 16, uppercase: true))); pass --errors replace to substitute U+FFFD")
        }
        let ids = try encode(String(decoding: bytes, as: UTF8.self), name)
        if !ids.isEmpty {
            output.write(Data(((wroteAny ? " " : "") + ids.map(String.init).joined(separator: " ")).utf8))
            wroteAny = true
        }
        pending.removeFirst(count)
        consumed += count
    }
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: chunkBytes) ?? Data() } catch {
            throw TokenizerError.io(path: name, reason: "read failed: \(error.localizedDescription)")
        }
        if chunk.isEmpty {
            try emit(pending.count)
            break
        }
        pending.append(contentsOf: chunk)
        func isASCIIAlphanumeric(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
        if pending.count >= chunkBytes, let cut = pending.indices.dropFirst().last(where: { pending[$0] == 0x0A && isASCIIAlphanumeric(pending[$0 - 1]) }) {
            try emit(cut)
        }
    }
    output.write(Data("\n".utf8))
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "Print token ids of files or stdin (one line per input).")
    @OptionGroup var source: TokenizerSource
    @Option(name: .long, help: "Special tokens to encode as special ids: none, all, or a comma-separated list. Others in the text are an error unless --ordinary.")
    var allowSpecial: String = "none"
    @Flag(name: .long, help: "Treat special-token text as ordinary text (tiktoken encode_ordinary).") var ordinary = false
    @Option(name: .long, help: "Invalid UTF-8 in the input: strict (an error naming the byte offset) or replace (U+FFFD).")
    var errors: UTF8ErrorHandling = .strict
    @Argument(help: "Input files; stdin when none.") var files: [String] = []

    func run() throws {
        let tokenizer = try reportingErrors { try source.load() }
        // add_prefix_space would put a space before every chunk, so such a tokenizer reads its input whole.
        if let bpe = tokenizer as? ByteLevelBPE, !bpe.addPrefixSpace {
            // Byte-level BPE streams: memory holds one chunk and its ids, not the input (50 MB of random bytes
            // peaked at 2.36 GB when the whole input was one String and one id array).
            let allowed: SpecialTokenSet = allowSpecial == "all" ? .all : (allowSpecial == "none" ? .none : .some(Set(allowSpecial.split(separator: ",").map(String.init))))
            for name in files.isEmpty ? ["-"] : files {
                try reportingErrors {
                    try streamEncode(name == "-" ? nil : name, errors: errors) { text, inputName in
                        if ordinary { return bpe.encodeOrdinary(text) }
                        do { return try bpe.encode(text, allowedSpecial: allowed) } catch let e as TokenizerError {
                            throw TokenizerError.malformed(location: inputName, expected: "\(e) (CLI: --allow-special TOKEN,… or --ordinary)")
                        }
                    }
                }
            }
            return
        }
        for input in try reportingErrors({ try readInputs(files, errors: errors) }) {
            let ids: [Int] = try reportingErrors {
                switch tokenizer {
                case let bpe as ByteLevelBPE:
                    if ordinary { return bpe.encodeOrdinary(input.text) }
                    let allowed: SpecialTokenSet = allowSpecial == "all" ? .all : (allowSpecial == "none" ? .none : .some(Set(allowSpecial.split(separator: ",").map(String.init))))
                    do { return try bpe.encode(input.text, allowedSpecial: allowed) } catch let e as TokenizerError {
                        throw TokenizerError.malformed(location: input.name, expected: "\(e) (CLI: --allow-special TOKEN,… or --ordinary)")
                    }
                case let wp as WordPiece: return try wp.encode(input.text).ids  // BERT: [CLS] … [SEP]
                default:
                    do { return try tokenizer.encode(input.text) } catch let e as TokenizerError {
                        throw TokenizerError.malformed(location: input.name, expected: "\(e)")
                    }
                }
            }
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Turn whitespace-separated token ids (files or stdin) back into text.")
    @OptionGroup var source: TokenizerSource
    @Argument(help: "Files of ids; stdin when none.") var files: [String] = []

    func run() throws {
        let tokenizer = try reportingErrors { try source.load() }
        for input in try reportingErrors({ try readInputs(files, errors: .replace) }) {
            var ids: [Int] = []
            for (n, field) in input.text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "," || $0 == "\r" }).enumerated() {
                guard let id = Int(field) else { throw ValidationError("\(input.name): item \(n + 1) \(String(field).debugDescription) is not an integer token id") }
                ids.append(id)
            }
            let text: String = try reportingErrors { try tokenizer.decode(ids) }
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

struct TokenizerInfo: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Describe a tokenizer file.")
    @OptionGroup var source: TokenizerSource

    func run() throws {
        switch try reportingErrors({ try source.load() }) {
        case let bpe as ByteLevelBPE:
            print("model: byte-level BPE (\(bpe.mergeRule == .ranks ? "tiktoken rank rule" : "merges-list rule"))")
            print("vocabulary size: \(bpe.vocabularySize) (\(bpe.ordinaryTokenCount) ordinary, \(bpe.specialTokens.count) special)")
            print("merges: \(bpe.mergeCount)")
            let patternName: String
            switch bpe.pattern { case .gpt2: patternName = "gpt2"; case .cl100k: patternName = "cl100k"; case .o200k: patternName = "o200k"; case let .regex(r): patternName = "regex \(r)" }
            print("pattern: \(bpe.splitsDigits ? "digits isolated, then " : "")\(patternName)\(bpe.addPrefixSpace ? " (add_prefix_space)" : "")")
            print("special tokens: " + bpe.specialTokens.map { "\($0.token)=\($0.id)" }.joined(separator: " "))
            if !bpe.missingBytes.isEmpty {
                print("bytes without a token (dropped when encoding, as HF tokenizers does): \(bpe.missingBytes.count): "
                      + bpe.missingBytes.map { String(format: "0x%02X", $0) }.joined(separator: " "))
            }
        case let wp as WordPiece:
            print("model: WordPiece (lowercase: \(wp.lowercase), strip accents: \(wp.stripAccents))")
            print("vocabulary size: \(wp.vocabularySize)")
            print("special tokens: \(wp.specialTokens.joined(separator: " "))")
            print("continuing-subword prefix: \(wp.continuingSubwordPrefix), max input chars per word: \(wp.maxInputCharactersPerWord)")
        case let tokenizer:
            print("model: \(tokenizer is CharTokenizer ? "character vocabulary" : "\(type(of: tokenizer))")")
            print("vocabulary size: \(tokenizer.vocabularySize)")
            let specials = tokenizer.specialTokenIDs.sorted { $0.value < $1.value }.map { "\($0.key)=\($0.value)" }
            print("special tokens: " + (specials.isEmpty ? "none" : specials.joined(separator: " ")))
        }
    }
}

struct TokenizerConvert: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert",
        abstract: "Write a tokenizer in another format: tokenizer.json (.json), a tiktoken rank file (.tiktoken), GPT-2 vocab.json + merges.txt (--merges-out), or vocab.txt (WordPiece).")
    @OptionGroup var source: TokenizerSource
    @Option(name: .long, help: "Output file; the format follows the extension.") var out: String
    @Option(name: .long, help: "With a vocab.json --out: where to write merges.txt.") var mergesOut: String?

    func run() throws {
        let tokenizer = try reportingErrors { try source.load() }
        try reportingErrors {
            switch tokenizer {
            case let bpe as ByteLevelBPE:
                if let mergesOut { try bpe.writeVocabAndMerges(vocabJSON: out, merges: mergesOut) }
                else if out.hasSuffix(".tiktoken") { try bpe.writeRankFile(to: out) }
                else if out.hasSuffix(".json") { try bpe.writeTokenizerJSON(to: out) }
                else { throw TokenizerError.invalidArgument(name: "--out", expected: "a .json or .tiktoken path (or vocab.json with --merges-out), got \(out)") }
            case let wp as WordPiece:
                if out.hasSuffix(".txt") { try wp.writeVocabTXT(to: out) }
                else if out.hasSuffix(".json") { try wp.writeTokenizerJSON(to: out) }
                else { throw TokenizerError.invalidArgument(name: "--out", expected: "a .json or .txt path for WordPiece, got \(out)") }
            case let chars as CharTokenizer:
                guard out.hasSuffix(".json") else { throw TokenizerError.invalidArgument(name: "--out", expected: "a .json path for a character vocabulary, got \(out)") }
                try chars.write(to: out)
            default:
                throw TokenizerError.unsupported(location: "--tokenizer", feature: "converting a \(type(of: tokenizer))")
            }
        }
    }
}

struct TokenizerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenizer", abstract: "Tokenizer encode and training speed vs tiktoken and HF tokenizers.")
    @Option(help: "Directory with cl100k_base.tiktoken (Scripts/fixtures/tokenizers_make_fixtures.py fetches it).")
    var assets: String = ProcessInfo.processInfo.environment["LMKIT_TOKENIZER_ASSETS"] ?? "/tmp/lmkit-tokenizer-assets"
    @Option(help: "Encode benchmark text size in MB (tinyshakespeare repeated).") var megabytes: Int = 50
    @Option(help: "Training vocabulary sizes.") var trainVocab: [Int] = [8192, 32768]
    @Option(help: "Training corpus: tinyshakespeare repeated this many times.") var trainRepeat: Int = 10
    @Flag(help: "Skip the Python reference runs.") var noReference = false
    @Flag(help: "Only the encode benchmark.") var encodeOnly = false
    @Flag(help: "Only the training benchmark.") var trainOnly = false

    func run() throws {
        try reportingErrors {
            try TokenizerBenchmark(assets: assets, megabytes: trainOnly ? 0 : megabytes, trainVocabularySizes: encodeOnly ? [] : trainVocab,
                                   trainRepeat: trainRepeat, runReference: !noReference,
                                   lmkitBinary: CommandLine.arguments[0]).run()
        }
    }
}
