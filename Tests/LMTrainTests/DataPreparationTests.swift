// `prepare` writes nanoGPT's split and a meta.json that loads back; `loadTokenizer` reads the data directory's tokenizer
// of each kind (char, byte-level BPE incl. one without every byte token, WordPiece).
import Foundation
import LMTokenizers
import XCTest
import _TestSupport
@testable import LMTrain

final class DataPreparationTests: XCTestCase {
    func testCharPreparationMatchesNanoGPTSplit() throws {
        let dir = try makeScratchDirectory("prepare")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "naïve café — Ünïcödé\r\nline two 😀 end\tTab"
        try text.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let summary = try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/in.txt", outputDirectory: dir + "/d")
        let n = text.unicodeScalars.count
        XCTAssertEqual(summary.meta.trainTokens, Int(Double(n) * 0.9))
        XCTAssertEqual(summary.meta.trainTokens + summary.meta.valTokens, n)
        XCTAssertEqual(try DataMeta.load(directory: dir + "/d"), summary.meta)
        let tokenizer = try loadTokenizer(dir + "/d")
        XCTAssertTrue(tokenizer is CharTokenizer)
        let train = try TokenFile(path: dir + "/d/train.bin"), val = try TokenFile(path: dir + "/d/val.bin")
        XCTAssertEqual(try tokenizer.decode(train.tokens(0..<train.count)) + tokenizer.decode(val.tokens(0..<val.count)), text)
        var stream = tokenizer.streamingDecoder()
        XCTAssertEqual(try train.tokens(0..<5).map { try stream.push($0) }.joined(), "naïve")
    }

    func testBytePairPreparationFromTokenizerJSON() throws {
        let dir = try makeScratchDirectory("prepare-bpe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = String(repeating: "low lower lowest newer newest widest\n", count: 20)
        try corpus.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let bpe = try BPETrainer.train(files: [dir + "/in.txt"], vocabularySize: 280)
        try bpe.writeTokenizerJSON(to: dir + "/tokenizer.json")
        let summary = try DataPreparation.prepare(tokenizer: dir, inputPath: dir + "/in.txt", outputDirectory: dir + "/d", valFraction: 0.2)
        XCTAssertEqual(summary.meta.tokenizer, "bpe")
        let tokenizer = try loadTokenizer(dir + "/d")
        XCTAssertTrue(tokenizer is ByteLevelBPE)
        XCTAssertEqual(tokenizer.vocabularySize, bpe.vocabularySize)
        let train = try TokenFile(path: dir + "/d/train.bin")
        XCTAssertEqual(train.vocabularySize, bpe.vocabularySize)
        XCTAssertTrue(corpus.hasPrefix(try tokenizer.decode(train.tokens(0..<train.count))))
    }

    /// Every tokenizer `loadTokenizer` reads can prepare data; the copy in the data directory gives the same ids.
    func testPreparationWithEachTokenizerKind() throws {
        let dir = try makeScratchDirectory("prepare-kinds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "Hello 123 world!\n<|endoftext|> [MASK] naïve\u{04}!\n"
        try text.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        try CharTokenizer(corpus: text).write(to: dir + "/char_vocab.json")
        try (WordPiece.bertSpecialTokens + ["hello", "world", "1", "2", "3", "!", "<", "|", ">", "[", "]", "mask", "na", "##ive", "end", "##of", "##text"])
            .joined(separator: "\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let cases: [(spec: String, kind: String, file: String)] = [
            (dir + "/char_vocab.json", "char", "char_vocab.json"),
            (fixtureURL("tokenizers/missing_bytes_tokenizer.json").path, "bpe", "tokenizer.json"),
            (dir + "/vocab.txt", "wordpiece", "tokenizer.json"),
            (dir + "/char-data", "char", "char_vocab.json"),  // another data directory: its vocabulary is reused
        ]
        _ = try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/in.txt", outputDirectory: dir + "/char-data")
        for (index, c) in cases.enumerated() {
            let out = dir + "/d\(index)"
            let summary = try DataPreparation.prepare(tokenizer: c.spec, inputPath: dir + "/in.txt", outputDirectory: out, valFraction: 0.25)
            XCTAssertEqual(summary.meta.tokenizer, c.kind, c.spec)
            XCTAssertEqual(summary.meta.tokenizerFile, c.file, c.spec)
            let original = try loadTokenizer(c.spec), copy = try loadTokenizer(out)
            XCTAssertEqual(copy.vocabularySize, original.vocabularySize, c.spec)
            let train = try TokenFile(path: out + "/train.bin"), val = try TokenFile(path: out + "/val.bin")
            XCTAssertEqual(train.tokens(0..<train.count) + val.tokens(0..<val.count),
                           try original.encode(String(text.unicodeScalars.prefix(summary.meta.trainCharacters)))
                               + original.encode(String(text.unicodeScalars.dropFirst(summary.meta.trainCharacters))), c.spec)
            XCTAssertEqual(try copy.encode(text), try original.encode(text), c.spec)
        }
    }

    func testPrepareErrors() throws {
        let dir = try makeScratchDirectory("prepare-errors")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/missing.txt", outputDirectory: dir + "/d")) {
            XCTAssertTrue("\($0)".contains("missing.txt"))
        }
        try Data([0xFF, 0xFE, 0x00]).write(to: URL(fileURLWithPath: dir + "/bin.txt"))
        XCTAssertThrowsError(try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/bin.txt", outputDirectory: dir + "/d")) {
            XCTAssertTrue("\($0)".contains("UTF-8"))
        }
        try "hello".write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DataPreparation.prepare(tokenizer: dir + "/nope.json", inputPath: dir + "/in.txt", outputDirectory: dir + "/d")) {
            XCTAssertTrue("\($0)".contains("nope.json"))
        }
        XCTAssertThrowsError(try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/in.txt", outputDirectory: dir + "/d", valFraction: 1)) {
            XCTAssertTrue("\($0)".contains("--val-fraction"))
        }
    }
}

extension DataPreparationTests {
    /// prepare encodes the text in pieces; pieces cut before a newline that follows a letter or digit give the ids of
    /// the whole text (GPT-2's pattern with its "\n\n" token, and characters), and cover the range exactly.
    func testPiecesEncodeLikeTheWholeText() throws {
        var text = ""
        var i = 0
        while text.utf8.count < 5000 { text += ["word\n\n/x", "12\n\n\n.", "a \n\n b", "end.", "ünï\ncödé"][i % 5] + "\n"; i += 1 }
        let gpt2 = try loadTokenizer(fixtureURL("tokenizers/subset_gpt2.tiktoken").path, encoding: "gpt2")
        let chars = try CharTokenizer(corpus: text)
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { buffer in
            for size in [1, 7, 64, 1000] {
                let pieces = DataPreparation.pieces(buffer, 0..<buffer.count, pieceBytes: size)
                XCTAssertGreaterThan(pieces.count, size < 1000 ? 10 : 2)
                XCTAssertEqual(pieces.first?.lowerBound, 0)
                XCTAssertEqual(pieces.last?.upperBound, buffer.count)
                for (a, b) in zip(pieces, pieces.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                for tokenizer in [gpt2, chars] as [any Tokenizer] {
                    let ids = try pieces.flatMap { try tokenizer.encode(DataPreparation.text(buffer, $0)) }
                    XCTAssertEqual(ids, try tokenizer.encode(text), "piece size \(size)")
                }
            }
        }
    }
}
