// Reading and writing the word2vec vector formats (Docs/Formats.md "word2vec vectors"): text ("N D" header, then
// "word v1 … vD" per line) and binary ("N D\n", then "word " + D little-endian float32 per entry, word2vec.c adds "\n").
// Compatible with word2vec.c and gensim `KeyedVectors.load_word2vec_format`/`save_word2vec_format`. Errors name the
// file and line (text) or entry and byte offset (binary). Writes are atomic (_LMSupport's AtomicFile).
import _LMSupport
import Foundation

/// On-disk encoding of a word2vec vector file.
public enum WordVectorFormat: String, Sendable, CaseIterable {
    case text, binary
}

extension WordVectors {
    /// Loads a word2vec vector file. `format` nil means detect: binary unless the rest of the first entry's line
    /// (at most 4·D bytes) consists of number characters only.
    public static func load(path: String, format: WordVectorFormat? = nil) throws -> WordVectors {
        let data = try rethrowingFileErrors(as: { Word2VecError("\($0.description) (expected a word2vec vector file)") }) {
            try FileReading.contents(path)
        }
        return try data.withUnsafeBytes { raw -> WordVectors in
            let bytes = raw.bindMemory(to: UInt8.self)
            var pos = 0
            // Header: "count dimension\n".
            while pos < bytes.count && bytes[pos] != 0x0A { pos += 1 }
            guard pos < bytes.count else { throw Word2VecError("\(path):1: missing header line 'COUNT DIMENSION'") }
            let header = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<pos]), as: UTF8.self)
                .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard header.count == 2, let count = Int(header[0]), let dim = Int(header[1]), count >= 0, dim > 0 else {
                throw Word2VecError("\(path):1: header must be 'COUNT DIMENSION' (two positive integers), found '\(header.joined(separator: " "))'")
            }
            pos += 1
            // The header is not trusted with allocation sizes: every entry and every value takes at least a byte, so
            // a claim beyond the file's size is refused before anything is reserved, and reservations are capped by
            // the file's size (a smaller truncation is reported by the parser, naming the entry).
            let remaining = bytes.count - pos
            guard count <= remaining, dim <= remaining else {
                throw Word2VecError("\(path):1: header claims \(count) vectors of dimension \(dim), more than the file's \(bytes.count) bytes can hold (truncated file or damaged header)")
            }
            let resolved = format ?? detectFormat(bytes, from: pos, dimension: dim)
            switch resolved {
            case .text: return try parseText(bytes, from: pos, count: count, dimension: dim, path: path)
            case .binary: return try parseBinary(bytes, from: pos, count: count, dimension: dim, path: path)
            }
        }
    }

    private static func detectFormat(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, dimension: Int) -> WordVectorFormat {
        var i = start
        while i < bytes.count && bytes[i] != 0x20 && bytes[i] != 0x0A { i += 1 }
        let end = min(bytes.count, i + 1 + 4 * dimension)
        var j = i + 1
        while j < end {
            let b = bytes[j]
            if b == 0x0A { return .text }  // a whole first line of number characters
            let numeric = (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x2D || b == 0x2B || b == 0x65 || b == 0x45
                || b == 0x20 || b == 0x0D || b == 0x09 || b == 0x6E || b == 0x61 || b == 0x69 || b == 0x66
            if !numeric { return .binary }
            j += 1
        }
        return .text
    }

    private static func parseText(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, count: Int, dimension: Int,
                                  path: String) throws -> WordVectors {
        var words: [String] = []
        var vectors = [Float]()
        words.reserveCapacity(min(count, bytes.count / 2))
        vectors.reserveCapacity(min(count.multipliedReportingOverflow(by: dimension).partialValue, bytes.count / 2))
        var pos = start
        var line = 1
        var field = [CChar](repeating: 0, count: 64)
        while words.count < count {
            line += 1
            guard pos < bytes.count else {
                throw Word2VecError("\(path):\(line): unexpected end of file: header says \(count) vectors, found \(words.count)")
            }
            var end = pos
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var lineEnd = end
            while lineEnd > pos && (bytes[lineEnd - 1] == 0x20 || bytes[lineEnd - 1] == 0x0D || bytes[lineEnd - 1] == 0x09) { lineEnd -= 1 }
            var i = pos
            while i < lineEnd && bytes[i] != 0x20 { i += 1 }
            guard i > pos else { throw Word2VecError("\(path):\(line): empty word (blank line or leading space)") }
            words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[pos..<i]), as: UTF8.self))
            var values = 0
            while i < lineEnd {
                while i < lineEnd && bytes[i] == 0x20 { i += 1 }
                if i >= lineEnd { break }
                let s = i
                while i < lineEnd && bytes[i] != 0x20 { i += 1 }
                let length = i - s
                guard length < field.count else {
                    throw Word2VecError("\(path):\(line): value \(values + 1) is not a number")
                }
                let value: Float? = field.withUnsafeMutableBufferPointer { f in
                    for k in 0..<length { f[k] = CChar(bitPattern: bytes[s + k]) }
                    f[length] = 0
                    var endPointer: UnsafeMutablePointer<CChar>? = nil
                    let v = strtof(f.baseAddress!, &endPointer)
                    return endPointer == f.baseAddress! + length ? v : nil
                }
                guard let value else {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[s..<i]), as: UTF8.self)
                    throw Word2VecError("\(path):\(line): value \(values + 1) of '\(words.last!)' is not a number: '\(text)'")
                }
                values += 1
                guard values <= dimension else { break }
                vectors.append(value)
            }
            guard values == dimension else {
                throw Word2VecError("\(path):\(line): expected \(dimension) values after the word '\(words.last!)' (header dimension), found \(values > dimension ? "more" : String(values))")
            }
            pos = end + 1
        }
        return WordVectors(words: words, dimension: dimension, vectors: vectors)
    }

    private static func parseBinary(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, count: Int, dimension: Int,
                                    path: String) throws -> WordVectors {
        var words: [String] = []
        var vectors = [Float]()
        words.reserveCapacity(min(count, bytes.count / 2))
        vectors.reserveCapacity(min(count.multipliedReportingOverflow(by: dimension).partialValue, bytes.count / 4))
        var pos = start
        let rowBytes = 4 * dimension
        for entry in 0..<count {
            // word2vec.c writes "\n" after each vector; gensim does not. Both readers skip it before a word.
            while pos < bytes.count && (bytes[pos] == 0x0A || bytes[pos] == 0x0D) { pos += 1 }
            let wordStart = pos
            while pos < bytes.count && bytes[pos] != 0x20 { pos += 1 }
            guard pos < bytes.count else {
                throw Word2VecError("\(path): truncated binary vectors: entry \(entry + 1) of \(count) (byte offset \(wordStart)) has no word terminated by a space")
            }
            let word = String(decoding: UnsafeBufferPointer(rebasing: bytes[wordStart..<pos]), as: UTF8.self)
            pos += 1
            guard bytes.count - pos >= rowBytes else {
                throw Word2VecError("\(path): truncated binary vectors: entry \(entry + 1) of \(count) ('\(word)') needs \(rowBytes) bytes at offset \(pos), only \(bytes.count - pos) left")
            }
            words.append(word)
            // Little-endian float32, as written by word2vec.c and numpy on x86/ARM.
            let row = UnsafeRawPointer(bytes.baseAddress! + pos)
            for k in 0..<dimension { vectors.append(row.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)) }
            pos += rowBytes
        }
        return WordVectors(words: words, dimension: dimension, vectors: vectors)
    }

    /// Writes the vectors in `format` to `path` atomically. Throws if a word contains whitespace (the formats cannot
    /// represent it) or the file cannot be written.
    public func save(path: String, format: WordVectorFormat) throws {
        var out = [UInt8]()
        out.reserveCapacity(format == .binary ? words.count * (dimension * 4 + 16) : words.count * dimension * 12)
        out.append(contentsOf: Array("\(words.count) \(dimension)\n".utf8))
        for (r, word) in words.enumerated() {
            if word.isEmpty || word.utf8.contains(where: { CorpusFile.isSpace($0) }) {
                throw Word2VecError("\(path): cannot save word \(r + 1) '\(word)': word2vec formats forbid empty words and whitespace in words")
            }
            out.append(contentsOf: Array(word.utf8))
            let row = vectors[(r * dimension)..<((r + 1) * dimension)]
            switch format {
            case .binary:
                out.append(0x20)
                row.withUnsafeBytes { out.append(contentsOf: $0) }
                out.append(0x0A)
            case .text:
                for v in row {
                    out.append(0x20)
                    out.append(contentsOf: Array(v.description.utf8))
                }
                out.append(0x0A)
            }
        }
        try rethrowingFileErrors(as: { Word2VecError($0.description) }) { try AtomicFile.write(out, to: path) }
    }
}
