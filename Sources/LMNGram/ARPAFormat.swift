// ARPA back-off model files (Docs/Formats.md, "ARPA"): reading with line-numbered errors, and atomic writing in the
// layout lmplz produces (tab-separated `log10p<TAB>w1 … wn[<TAB>log10 back-off]`, sections in order, `\end\`).
// Reading is strict about the header counts and section order, tolerant of spaces vs tabs and of blank lines.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import _LMSupport

/// Reads and writes ARPA files.
public enum ARPAFormat {
    /// Reads an ARPA file. Errors name the file and line: missing `\data\`, wrong `ngram N=count` header,
    /// missing or out-of-order section, bad float, wrong field count, unknown word, missing `\end\`.
    /// `progress` receives the fraction of n-grams read (every 2^16 lines), for progress bars on large files.
    public static func read(path: String, progress: ((Double) -> Void)? = nil) throws -> NGramTables {
        var bytes = try readFileBytes(path)
        bytes.append(0)   // strtod needs a terminator after the last field
        return try bytes.withUnsafeBytes { try parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()), file: path, progress: progress) }
    }

    /// Parses ARPA text held in memory. The byte after `text` must be readable and not part of a number.
    public static func parse(_ text: UnsafeRawBufferPointer, file: String, progress: ((Double) -> Void)? = nil) throws -> NGramTables {
        var reader = LineReader(text: text, file: file)
        // \data\ header.
        guard let dataLine = reader.nextNonBlank() else {
            throw NGramError(file: file, line: reader.lineNumber, "empty file; expected an ARPA model starting with \\data\\")
        }
        guard reader.trimmed(dataLine) == "\\data\\" else {
            throw NGramError(file: file, line: reader.lineNumber, "expected \\data\\, found \"\(reader.preview(dataLine))\"; not an ARPA file")
        }
        var counts: [Int] = []
        let fileBytes = text.count
        while let line = reader.next() {
            let text = reader.trimmed(line)
            if text.isEmpty { if counts.isEmpty { continue } else { break } }
            guard text.hasPrefix("ngram "), let equals = text.firstIndex(of: "=") else {
                if text.hasPrefix("\\") && !counts.isEmpty { reader.pushBack(); break }
                throw NGramError(file: file, line: reader.lineNumber, "expected \"ngram N=count\" in the \\data\\ section, found \"\(reader.preview(line))\"")
            }
            let orderText = text[text.index(text.startIndex, offsetBy: 6)..<equals].trimmingSpaces()
            let countText = text[text.index(after: equals)...].trimmingSpaces()
            guard let order = Int(orderText), let count = Int(countText), count >= 0 else {
                throw NGramError(file: file, line: reader.lineNumber, "bad count line \"\(text)\": expected \"ngram N=count\" with integers")
            }
            guard order == counts.count + 1 else {
                throw NGramError(file: file, line: reader.lineNumber, "\"ngram \(order)=…\" out of order: expected ngram \(counts.count + 1)=count")
            }
            guard order <= NGramModel.maximumOrder else {
                throw NGramError(file: file, line: reader.lineNumber, "order \(order) exceeds LMKit's maximum of \(NGramModel.maximumOrder)")
            }
            // Each n-gram line holds at least a number and n words, each followed by a separator (2n + 2 bytes), so a
            // count the file cannot hold is damage, refused before it sizes any allocation.
            guard count <= fileBytes / (2 * order + 2) else {
                throw NGramError(file: file, line: reader.lineNumber, "\"ngram \(order)=\(count)\" claims more \(order)-grams than the file's \(fileBytes) bytes can hold")
            }
            counts.append(count)
        }
        guard !counts.isEmpty else {
            throw NGramError(file: file, line: reader.lineNumber, "\\data\\ section lists no \"ngram N=count\" lines")
        }
        guard counts[0] >= 1 else { throw NGramError(file: file, line: nil, "\\data\\ says ngram 1=0; a model needs unigrams") }

        var vocabulary = VocabularyBuilder()
        var seen = [Bool](repeating: false, count: 3)
        var orders: [NGramOrderTable] = []
        var unigramProbabilities = [Float](repeating: 0, count: 3)
        var unigramBackoffs = [Float](repeating: 0, count: 3)
        var ids = [UInt32](repeating: 0, count: NGramModel.maximumOrder)

        for n in 1...counts.count {
            guard let header = reader.nextNonBlank() else {
                throw NGramError(file: file, line: reader.lineNumber, "missing section \\\(n)-grams: (end of file)")
            }
            guard reader.trimmed(header) == "\\\(n)-grams:" else {
                throw NGramError(file: file, line: reader.lineNumber, "expected section header \\\(n)-grams:, found \"\(reader.preview(header))\"")
            }
            var table = NGramOrderTable(order: n)
            if n > 1 {
                table.wordIds.reserveCapacity(counts[n - 1] * n)
                table.log10Probabilities.reserveCapacity(counts[n - 1])
                table.log10Backoffs.reserveCapacity(counts[n - 1])
            }
            let total = Double(max(1, counts.reduce(0, +)))
            let before = Double(counts[0..<(n - 1)].reduce(0, +))
            for entry in 0..<counts[n - 1] {
                if let progress, entry & 0xFFFF == 0 { progress((before + Double(entry)) / total) }
                guard let line = reader.next(), !reader.isBlank(line), text[line.lowerBound] != UInt8(ascii: "\\") else {
                    throw NGramError(file: file, line: reader.lineNumber, "section \\\(n)-grams: ends after \(entry) n-grams but \\data\\ says ngram \(n)=\(counts[n - 1])")
                }
                // Fields: probability, n words, optional back-off.
                var fields: [Range<Int>] = []
                fields.reserveCapacity(n + 2)
                var i = line.lowerBound
                while i < line.upperBound {
                    while i < line.upperBound && isWordSeparator(text[i]) { i += 1 }
                    let start = i
                    while i < line.upperBound && !isWordSeparator(text[i]) { i += 1 }
                    if i > start { fields.append(start..<i) }
                }
                guard fields.count == n + 1 || fields.count == n + 2 else {
                    throw NGramError(file: file, line: reader.lineNumber, "expected \(n + 1) or \(n + 2) fields (log10 probability, \(n) word\(n > 1 ? "s" : ""), optional back-off), found \(fields.count)")
                }
                let probability = try parseFloat(text, fields[0], file: file, line: reader.lineNumber, field: "log10 probability")
                var backoff: Float = 0
                if fields.count == n + 2 {
                    backoff = try parseFloat(text, fields[n + 1], file: file, line: reader.lineNumber, field: "log10 back-off")
                }
                if n == 1 {
                    let word = UnsafeRawBufferPointer(rebasing: text[fields[1]])
                    let before = vocabulary.count
                    let id = Int(vocabulary.id(of: word))
                    if id < 3 {
                        if seen[id] { throw duplicate(text, fields[1...1], file: file, line: reader.lineNumber) }
                        seen[id] = true
                    } else if vocabulary.count == before {
                        throw duplicate(text, fields[1...1], file: file, line: reader.lineNumber)
                    } else {
                        unigramProbabilities.append(0)
                        unigramBackoffs.append(0)
                    }
                    unigramProbabilities[id] = probability
                    unigramBackoffs[id] = backoff
                } else {
                    for j in 0..<n {
                        let word = UnsafeRawBufferPointer(rebasing: text[fields[j + 1]])
                        guard let id = vocabulary.existingId(of: word) else {
                            throw NGramError(file: file, line: reader.lineNumber, "word \"\(String(decoding: word, as: UTF8.self))\" of this \(n)-gram is not among the 1-grams")
                        }
                        ids[j] = id
                    }
                    table.append(words: ids[0..<n], log10Probability: probability, log10Backoff: backoff)
                }
            }
            if n == 1 {
                if !seen[Int(SpecialWord.unknown)] {
                    // KenLM substitutes -100 for a missing <unk> (lm/read_arpa.cc); we do the same.
                    unigramProbabilities[Int(SpecialWord.unknown)] = -100
                }
                for (id, name) in [(1, "<s>"), (2, "</s>")] where !seen[id] {
                    throw NGramError(file: file, line: reader.lineNumber, "the 1-grams lack \(name); an ARPA model must contain <s> and </s>")
                }
                table.wordIds = (0..<UInt32(vocabulary.count)).map { $0 }
                table.log10Probabilities = unigramProbabilities
                table.log10Backoffs = unigramBackoffs
            }
            orders.append(table)
        }
        guard let end = reader.nextNonBlank() else {
            throw NGramError(file: file, line: reader.lineNumber, "missing \\end\\ after the \\\(counts.count)-grams: section (truncated file?)")
        }
        guard reader.trimmed(end) == "\\end\\" else {
            throw NGramError(file: file, line: reader.lineNumber, "expected \\end\\ after \(counts.last!) \(counts.count)-grams, found \"\(reader.preview(end))\" (more n-grams than \\data\\ says?)")
        }
        return NGramTables(vocabulary: vocabulary.words(), orders: orders)
    }

    private static func duplicate(_ text: UnsafeRawBufferPointer, _ fields: ArraySlice<Range<Int>>, file: String, line: Int) -> NGramError {
        let word = String(decoding: UnsafeRawBufferPointer(rebasing: text[fields.first!]), as: UTF8.self)
        return NGramError(file: file, line: line, "the 1-gram \"\(word)\" appears twice")
    }

    private static func parseFloat(_ text: UnsafeRawBufferPointer, _ field: Range<Int>, file: String, line: Int,
                                   field name: String) throws -> Float {
        var end: UnsafeMutablePointer<CChar>?
        let start = (text.baseAddress! + field.lowerBound).assumingMemoryBound(to: CChar.self)
        let value = strtod(start, &end)
        let shown = String(decoding: UnsafeRawBufferPointer(rebasing: text[field]), as: UTF8.self)
        guard let end, UnsafeRawPointer(end) == text.baseAddress! + field.upperBound, !value.isNaN else {
            throw NGramError(file: file, line: line, "bad \(name) \"\(shown)\": expected a decimal number")
        }
        // inf would make every score infinite (perplexity 0 or inf); a probability above 1 is not one. lmplz writes
        // log10(0) as -99, never -inf.
        guard value.isFinite, Float(value).isFinite else {
            throw NGramError(file: file, line: line, "bad \(name) \"\(shown)\": must be finite (ARPA writes log10(0) as -99)")
        }
        if name == "log10 probability" && value > 0 {
            throw NGramError(file: file, line: line, "bad \(name) \"\(shown)\": a log10 probability must be ≤ 0")
        }
        return Float(value)
    }

    /// Writes `tables` as an ARPA file, atomically. N-grams keep the order they have in `tables`.
    public static func write(_ tables: NGramTables, to path: String) throws {
        let writer = try ARPAStreamWriter(path: path, vocabulary: tables.vocabulary, counts: tables.counts)
        for table in tables.orders { try writer.write(table) }
        try writer.finish()
    }

    @inline(__always)
    static func appendFloat(_ value: Float, to buffer: inout [UInt8]) {
        if value == 0 {
            buffer.append(0x30)
        } else {
            var text = format(value)
            text.withUTF8 { buffer.append(contentsOf: $0) }
        }
    }

    /// Shortest round-tripping decimal for a Float, "0" for zero and "-99" for lmplz's log10(0) stand-in.
    static func format(_ value: Float) -> String {
        if value == 0 { return "0" }
        if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
        return value.description
    }
}

/// Writes an ARPA file one order at a time (the header needs only the counts), then commits it atomically.
/// Estimation hands orders over as it finishes them, so the whole model is never held in list form.
public final class ARPAStreamWriter {
    private let writer: AtomicFileWriter
    private let counts: [Int]
    private var blob: [UInt8] = []
    private var offsets: [Int] = [0]
    private var nextOrder = 1

    /// Creates the temporary file and writes the `\data\` section.
    public init(path: String, vocabulary: [String], counts: [Int]) throws {
        writer = try rethrowingFileErrors(as: { NGramError($0) }) { try AtomicFileWriter(path: path) }
        self.counts = counts
        offsets.reserveCapacity(vocabulary.count + 1)
        for word in vocabulary {
            blob.append(contentsOf: word.utf8)
            offsets.append(blob.count)
        }
        try rethrowingFileErrors(as: { NGramError($0) }) {
            try writer.write("\n\\data\\\n")
            for (n, count) in counts.enumerated() { try writer.write("ngram \(n + 1)=\(count)\n") }
        }
    }

    /// Writes the next order's section; orders must come 1, 2, … with the counts given at creation.
    public func write(_ table: NGramOrderTable) throws {
        try rethrowingFileErrors(as: { NGramError($0) }) { try writeSection(table) }
    }

    private func writeSection(_ table: NGramOrderTable) throws {
        let n = table.order
        precondition(n == nextOrder && table.count == counts[n - 1], "ARPA sections must come in order with the announced counts")
        nextOrder += 1
        try writer.write("\n\\\(n)-grams:\n")
        // Lines are assembled in one reusable byte buffer: per-line Strings cost more than the formatting itself.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 17)
        let highest = counts.count
        try table.wordIds.withUnsafeBufferPointer { ids in
            try blob.withUnsafeBufferPointer { words in
                for i in 0..<table.count {
                    ARPAFormat.appendFloat(table.log10Probabilities[i], to: &buffer)
                    for j in 0..<n {
                        buffer.append(j == 0 ? 0x09 : 0x20)
                        let id = Int(ids[i * n + j])
                        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: words[offsets[id]..<offsets[id + 1]]))
                    }
                    if n < highest {
                        buffer.append(0x09)
                        ARPAFormat.appendFloat(table.log10Backoffs[i], to: &buffer)
                    }
                    buffer.append(0x0A)
                    if buffer.count >= 1 << 16 {
                        try buffer.withUnsafeBytes { try writer.write($0) }
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
        try buffer.withUnsafeBytes { try writer.write($0) }
    }

    /// Writes `\end\`, fsyncs and renames the file into place.
    public func finish() throws {
        precondition(nextOrder == counts.count + 1, "ARPA file finished after \(nextOrder - 1) of \(counts.count) orders")
        try rethrowingFileErrors(as: { NGramError($0) }) {
            try writer.write("\n\\end\\\n")
            try writer.commit()
        }
    }
}

/// Splits a byte buffer into lines (LF, CR stripped) and tracks the 1-based line number of the last line returned.
struct LineReader {
    let text: UnsafeRawBufferPointer
    let file: String
    private var position = 0
    private var previousPosition = 0
    private(set) var lineNumber = 0

    init(text: UnsafeRawBufferPointer, file: String) {
        self.text = text
        self.file = file
    }

    mutating func next() -> Range<Int>? {
        guard position < text.count else { return nil }
        previousPosition = position
        lineNumber += 1
        let start = position
        var end: Int
        if let found = memchr(text.baseAddress! + start, 0x0A, text.count - start) {
            end = text.baseAddress!.distance(to: UnsafeRawPointer(found))
            position = end + 1
        } else {
            end = text.count
            position = end
        }
        if end > start && text[end - 1] == 0x0D { end -= 1 }
        return start..<end
    }

    /// Un-reads the last line (once).
    mutating func pushBack() {
        position = previousPosition
        lineNumber -= 1
    }

    mutating func nextNonBlank() -> Range<Int>? {
        while let line = next() { if !isBlank(line) { return line } }
        return nil
    }

    func isBlank(_ line: Range<Int>) -> Bool { line.allSatisfy { isWordSeparator(text[$0]) } }

    func trimmed(_ line: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: text[line]), as: UTF8.self).trimmingSpaces()
    }

    func preview(_ line: Range<Int>) -> String {
        let shown = String(decoding: UnsafeRawBufferPointer(rebasing: text[line.prefix(60)]), as: UTF8.self)
        return line.count > 60 ? shown + "…" : shown
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
