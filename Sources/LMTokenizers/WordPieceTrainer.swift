// WordPiece training with HF WordPieceTrainer's settings (vocabulary size, min frequency, special tokens,
// continuing-subword prefix, alphabet limit): BERT-normalize and pre-tokenize, then BPE merges where a word's first
// character is a plain symbol and later ones carry the prefix ("##x"), and merging (a, ##b) gives "a" + "b".
// Deliberate difference: HF assigns "##x" ids in hash-map order (run to run nondeterministic); here they are
// sorted by code point, so results are reproducible but ids/tie-breaks can differ from HF. Follows
// huggingface/tokenizers: models/wordpiece/trainer.rs and models/bpe/trainer.rs.
import Foundation

/// Trains a BERT WordPiece vocabulary. Feed text with `add(text:)` / `add(file:)`, then `train()`.
public final class WordPieceTrainer {
    public let vocabularySize: Int
    public let minFrequency: Int
    public let specialTokens: [String]
    public let continuingSubwordPrefix: String
    /// At most this many distinct characters form the initial alphabet (the most frequent; HF default 1000).
    public let alphabetLimit: Int
    public let lowercase: Bool
    private let normalizer: WordPiece
    private var wordCounts: [String: Int] = [:]

    public init(vocabularySize: Int, minFrequency: Int = 2, specialTokens: [String] = WordPiece.bertSpecialTokens,
                continuingSubwordPrefix: String = "##", alphabetLimit: Int = 1000, lowercase: Bool = true) throws {
        guard vocabularySize > specialTokens.count else {
            throw TokenizerError.invalidArgument(name: "vocabularySize", expected: "more than the \(specialTokens.count) special tokens, got \(vocabularySize)")
        }
        guard vocabularySize <= BPETrainer.maximumVocabularySize else {
            throw TokenizerError.invalidArgument(name: "vocabularySize", expected: "at most \(BPETrainer.maximumVocabularySize) (token ids are 32-bit), got \(vocabularySize)")
        }
        guard specialTokens.contains("[UNK]") else {
            throw TokenizerError.invalidArgument(name: "specialTokens", expected: "to include [UNK] (WordPiece's unknown token)")
        }
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
        self.specialTokens = specialTokens
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.alphabetLimit = alphabetLimit
        self.lowercase = lowercase
        normalizer = try WordPiece(vocabulary: ["[UNK]"], lowercase: lowercase)
    }

    /// Counts the BERT words of `text`.
    public func add(text: String) {
        for word in normalizer.preTokenize(normalizer.normalize(text)) { wordCounts[word, default: 0] += 1 }
    }

    /// Counts a file's words line by line (memory holds the word counts, not the file).
    public func add(file path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TokenizerError.io(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot be opened for reading" : "no such file")
        }
        defer { try? handle.close() }
        var carry: [UInt8] = []
        while let block = try? handle.read(upToCount: 8 << 20), !block.isEmpty {
            var buffer = carry
            buffer.append(contentsOf: block)
            var cut = buffer.count
            while cut > 0 && buffer[cut - 1] != 0x0A { cut -= 1 }
            add(text: String(decoding: buffer[0..<cut], as: UTF8.self))
            carry = Array(buffer[cut...])
        }
        if !carry.isEmpty { add(text: String(decoding: carry, as: UTF8.self)) }
    }

    public func train() throws -> WordPiece {
        var vocabulary = specialTokens
        var idOf: [String: Int32] = [:]
        for (i, t) in vocabulary.enumerated() { idOf[t] = Int32(i) }
        // Alphabet: the most frequent characters (ties by code point), then sorted by code point.
        var charCounts: [Unicode.Scalar: Int] = [:]
        for (word, count) in wordCounts { for c in word.unicodeScalars { charCounts[c, default: 0] += count } }
        let kept = charCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.value < $1.key.value }
            .prefix(alphabetLimit).map { $0.key }.sorted { $0.value < $1.value }
        func intern(_ token: String) -> Int32 {
            if let id = idOf[token] { return id }
            let id = Int32(vocabulary.count)
            vocabulary.append(token); idOf[token] = id
            return id
        }
        for c in kept { _ = intern(String(c)) }
        let keptSet = Set(kept)
        var continuing: [Unicode.Scalar] = []
        for (word, _) in wordCounts { for c in word.unicodeScalars.dropFirst() where keptSet.contains(c) { continuing.append(c) } }
        for c in Set(continuing).sorted(by: { $0.value < $1.value }) { _ = intern(continuingSubwordPrefix + String(c)) }

        // Words as symbol runs (sorted for determinism).
        var symbols: [Int32] = [], wordStart: [Int] = [], wordLength: [Int32] = [], counts: [Int] = []
        for (word, count) in wordCounts.sorted(by: { $0.key < $1.key }) {
            wordStart.append(symbols.count)
            var length: Int32 = 0
            for (k, c) in word.unicodeScalars.enumerated() where keptSet.contains(c) {
                symbols.append(idOf[(k == 0 ? "" : continuingSubwordPrefix) + String(c)]!); length += 1
            }
            wordLength.append(length); counts.append(count)
        }
        wordStart.append(symbols.count)
        let prefix = continuingSubwordPrefix
        runBPEMerges(symbols: &symbols, wordStart: wordStart, wordLength: &wordLength, wordCounts: counts,
                     vocabularySize: vocabularySize, minFrequency: minFrequency, vocabularyCount: { vocabulary.count },
                     newToken: { left, right in
                         let r = vocabulary[Int(right)]
                         let stripped = r.unicodeScalars.starts(with: prefix.unicodeScalars) ? String(r.unicodeScalars.dropFirst(prefix.unicodeScalars.count)) : r
                         return intern(vocabulary[Int(left)] + stripped)
                     })
        return try WordPiece(vocabulary: vocabulary, lowercase: lowercase, continuingSubwordPrefix: continuingSubwordPrefix,
                             specialTokens: specialTokens, source: "trainer")
    }
}
