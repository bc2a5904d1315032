// `prepare` writes nanoGPT's split and a meta.json that loads back; TextTokenizer loads both kinds.
import Foundation
import LMTokenizers
import XCTest
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
        let tokenizer = try TextTokenizer.load(dataDirectory: dir + "/d")
        XCTAssertEqual(tokenizer.kindName, "char")
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
        let tokenizer = try TextTokenizer.load(dataDirectory: dir + "/d")
        XCTAssertEqual(tokenizer.vocabularySize, bpe.vocabularySize)
        let train = try TokenFile(path: dir + "/d/train.bin")
        XCTAssertEqual(train.vocabularySize, bpe.vocabularySize)
        XCTAssertTrue(corpus.hasPrefix(try tokenizer.decode(train.tokens(0..<train.count))))
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
