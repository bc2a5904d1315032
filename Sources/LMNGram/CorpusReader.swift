// Reads a plain-text corpus (one sentence per line, words separated by whitespace) into word ids, building the
// vocabulary in the same single pass. Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>`, then words in order of first appearance,
// as lmplz numbers them. A literal `<s>` or `</s>` in the text is an error naming the line (lmplz refuses them too).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A corpus as word ids: each sentence is stored as `<s> w1 … wk </s>` in `tokens`.
public struct TokenizedCorpus {
    /// Vocabulary in id order.
    public var vocabulary: [String]
    /// All sentences back to back, each framed by `<s>` (id 1) and `</s>` (id 2).
    public var tokens: [UInt32]
    /// Number of sentences (lines).
    public var sentenceCount: Int
    /// Number of words, markers excluded.
    public var wordCount: Int { tokens.count - 2 * sentenceCount }
}

/// Incremental vocabulary over byte strings: open addressing on a hash of the bytes, words copied once into `bytes`.
struct VocabularyBuilder {
    var bytes: [UInt8] = []
    var offsets: [Int] = [0]
    private var table: [UInt32] = Array(repeating: 0, count: 1 << 16)
    private var mask = (1 << 16) - 1

    init() {
        for special in [SpecialWord.unknownText, SpecialWord.sentenceBeginText, SpecialWord.sentenceEndText] {
            var text = special
            _ = text.withUTF8 { id(of: UnsafeRawBufferPointer($0)) }
        }
    }

    var count: Int { offsets.count - 1 }

    /// Linear probing for `word`: its id if known, else the empty slot where it would go.
    @inline(__always)
    private func probe(_ word: UnsafeRawBufferPointer) -> (id: UInt32?, slot: Int) {
        let hash = NGramHashing.hashBytes(word.baseAddress!, word.count)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = table[index]
            if stored == 0 { return (nil, index) }
            let id = Int(stored - 1)
            let start = offsets[id], length = offsets[id + 1] - start
            if length == word.count {
                let equal = bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, word.baseAddress!, length) == 0 }
                if equal { return (UInt32(id), index) }
            }
            index = (index + 1) & mask
        }
    }

    /// The id of `word` if it is known, without adding it.
    func existingId(of word: UnsafeRawBufferPointer) -> UInt32? { probe(word).id }

    /// The id of `word`, adding it when new.
    @inline(__always)
    mutating func id(of word: UnsafeRawBufferPointer) -> UInt32 {
        let (found, index) = probe(word)
        if let found { return found }
        let id = count
        bytes.append(contentsOf: word)
        offsets.append(bytes.count)
        table[index] = UInt32(id + 1)
        if count * 2 > table.count { grow() }
        return UInt32(id)
    }

    private mutating func grow() {
        let size = table.count * 2
        var newTable = [UInt32](repeating: 0, count: size)
        let newMask = size - 1
        bytes.withUnsafeBufferPointer { storage in
            for id in 0..<count {
                let start = offsets[id]
                var index = Int(truncatingIfNeeded: NGramHashing.hashBytes(storage.baseAddress! + start, offsets[id + 1] - start)) & newMask
                while newTable[index] != 0 { index = (index + 1) & newMask }
                newTable[index] = UInt32(id + 1)
            }
        }
        table = newTable
        mask = newMask
    }

    func words() -> [String] {
        (0..<count).map { id in String(decoding: bytes[offsets[id] ..< offsets[id + 1]], as: UTF8.self) }
    }
}

/// Reads a whole file into memory; errors name the file.
public func readFileBytes(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY)
    if descriptor < 0 { throw NGramError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw NGramError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
    if (info.st_mode & S_IFMT) == S_IFDIR { throw NGramError(file: path, "is a directory; expected a text file") }
    var result = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    if info.st_size > 0 { result.reserveCapacity(Int(info.st_size)) }
    while true {
        let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if got < 0 {
            if errno == EINTR { continue }
            throw NGramError(file: path, "read failed: \(String(cString: strerror(errno)))")
        }
        if got == 0 { break }
        result.append(contentsOf: chunk[0..<got])
    }
    return result
}

/// Splits `text` into sentences (lines) and words and maps them to ids. `file` is used in error messages only.
/// A final line without a newline counts as a sentence; an empty last line after the final newline does not.
public func tokenizeCorpus(_ text: UnsafeRawBufferPointer, file: String) throws -> TokenizedCorpus {
    var vocabulary = VocabularyBuilder()
    var tokens: [UInt32] = []
    tokens.reserveCapacity(text.count / 4 + 16)
    var sentences = 0
    var lineStart = 0
    var lineNumber = 0
    let count = text.count
    while lineStart < count {
        lineNumber += 1
        var lineEnd = lineStart
        if let base = text.baseAddress,
           let found = memchr(base + lineStart, 0x0A, count - lineStart) {
            lineEnd = base.distance(to: UnsafeRawPointer(found))
        } else {
            lineEnd = count
        }
        tokens.append(SpecialWord.sentenceBegin)
        try forEachWord(in: UnsafeRawBufferPointer(rebasing: text[lineStart..<lineEnd])) { word in
            let id = vocabulary.id(of: word)
            if id == SpecialWord.sentenceBegin || id == SpecialWord.sentenceEnd {
                throw NGramError(file: file, line: lineNumber,
                                 "the corpus contains the reserved word \(id == 1 ? "<s>" : "</s>"); sentence markers are added by LMKit (remove them from the text)")
            }
            tokens.append(id)
        }
        tokens.append(SpecialWord.sentenceEnd)
        sentences += 1
        lineStart = lineEnd + 1
    }
    return TokenizedCorpus(vocabulary: vocabulary.words(), tokens: tokens, sentenceCount: sentences)
}
