// Hostile input (issue 12): a binary whose header passes but whose sections are damaged, non-finite or impossible
// ARPA numbers, counts no file can hold, NaN fallback discounts and special files given as models. Each must be an
// NGramError naming the file and the field, never a crash, a hang or a silently wrong model.
#if canImport(Glibc)
import Glibc
#endif
import XCTest
import _TestSupport
@testable import LMNGram

final class NGramHardeningTests: XCTestCase {
    /// A valid order-3 binary written from the lmplz fixture, its bytes and its layout.
    private func validBinary(_ name: String) throws -> (path: String, bytes: [UInt8], layout: NGramBinaryLayout) {
        let path = temporaryPath(name)
        try NGramModel(tables: try ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa"))).write(binaryTo: path)
        let bytes = try readFileBytes(path)
        let layout = try bytes.withUnsafeBytes { try NGramBinaryLayout(validating: $0, file: path) }
        return (path, bytes, layout)
    }

    /// The first occupied slot of order `n`'s table.
    private func firstOccupiedSlot(_ bytes: [UInt8], _ layout: NGramBinaryLayout, order n: Int) -> Int {
        bytes.withUnsafeBytes { raw in
            (0..<layout.tableSlots[n - 1]).first { raw.loadUnaligned(fromByteOffset: layout.tableOffsets[n - 1] + $0 * 16, as: UInt64.self) != 0 }!
        }
    }

    private func assertRefused(_ bytes: [UInt8], at path: String, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for method in NGramModel.LoadMethod.allCases {
            XCTAssertThrowsError(try NGramModel(binaryFile: path, method: method), "\(method)", file: file, line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path) && message.contains(text), message, file: file, line: line)
            }
        }
    }

    func testDamagedWordIdInABinaryIsRefusedOnLoad() throws {
        var (path, bytes, layout) = try validBinary("damaged-id.lmkbin")
        let slot = firstOccupiedSlot(bytes, layout, order: 3)
        let offset = layout.wordIdOffsets[2] + (slot * 3 + 1) * 4
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(0x7FFF_FF00), toByteOffset: offset, as: UInt32.self) }
        try assertRefused(bytes, at: path, mentioning: "word id")
    }

    func testNonFiniteOrPositiveProbabilityInABinaryIsRefused() throws {
        let (path, original, layout) = try validBinary("nonfinite.lmkbin")
        let slot = firstOccupiedSlot(original, layout, order: 2)
        for value in [Float.nan, .infinity, 0.5] {
            var bytes = original
            bytes.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: layout.tableOffsets[1] + slot * 16 + 8, as: Float.self) }
            try assertRefused(bytes, at: path, mentioning: "probability")
        }
        var bytes = original
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: Float.nan, toByteOffset: layout.unigramOffset + 4 * 8 + 4, as: Float.self) }
        try assertRefused(bytes, at: path, mentioning: "unigram 4")
    }

    func testFullHashTableIsRefused() throws {
        // Filling every empty slot would make a lookup of an absent n-gram probe forever.
        var (path, bytes, layout) = try validBinary("full.lmkbin")
        bytes.withUnsafeMutableBytes { raw in
            for slot in 0..<layout.tableSlots[1] where raw.loadUnaligned(fromByteOffset: layout.tableOffsets[1] + slot * 16, as: UInt64.self) == 0 {
                raw.storeBytes(of: UInt64(slot + 1), toByteOffset: layout.tableOffsets[1] + slot * 16, as: UInt64.self)
            }
        }
        try assertRefused(bytes, at: path, mentioning: "2-gram table holds")
        var (_, vocabularyBytes, vocabularyLayout) = try validBinary("fullvocab.lmkbin")
        vocabularyBytes.withUnsafeMutableBytes { raw in
            for slot in 0..<vocabularyLayout.vocabularyTableSlots {
                let at = vocabularyLayout.vocabularyTableOffset + slot * 16 + 8
                if raw.loadUnaligned(fromByteOffset: at, as: UInt64.self) == 0 { raw.storeBytes(of: UInt64(1), toByteOffset: at, as: UInt64.self) }
            }
        }
        try assertRefused(vocabularyBytes, at: path, mentioning: "vocabulary table holds")
    }

    private func parse(_ text: String) throws -> NGramTables {
        var bytes = Array(text.utf8)
        bytes.append(0)
        return try bytes.withUnsafeBytes { try ARPAFormat.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()), file: "bad.arpa") }
    }

    private func arpa(probability: String, backoff: String = "0", count: String = "4") -> String {
        "\\data\\\nngram 1=\(count)\n\n\\1-grams:\n-1.0\t<unk>\t0\n-1.0\t<s>\t\(backoff)\n\(probability)\t</s>\t0\n-0.5\tword\t0\n\n\\end\\\n"
    }

    func testARPAInfinitePositiveOrNaNNumbersAreRefused() throws {
        XCTAssertNoThrow(try parse(arpa(probability: "-0.5")))
        for (probability, backoff, expected) in [("inf", "0", "must be finite"), ("-inf", "0", "must be finite"), ("0.5", "0", "≤ 0"),
                                                 ("-0.5", "inf", "must be finite"), ("1e39", "0", "must be finite"), ("nan", "0", "decimal number")] {
            XCTAssertThrowsError(try parse(arpa(probability: probability, backoff: backoff))) { error in
                XCTAssertTrue("\(error)".contains("bad.arpa:") && "\(error)".contains(expected), "\(probability) \(backoff): \(error)")
            }
        }
    }

    func testARPACountsTheFileCannotHoldAreRefusedBeforeAllocating() {
        for count in ["100000000000", "9223372036854775807"] {
            XCTAssertThrowsError(try parse(arpa(probability: "-0.5", count: count))) { error in
                XCTAssertTrue("\(error)".contains("claims more 1-grams"), "\(error)")
            }
        }
    }

    func testNaNOrOutOfRangeFallbackDiscountsAreRefused() {
        for fallback in [[Double.nan, 1, 1.5], [0.5, -1, 1.5], [0.5, 1, 4], [0.5, .infinity, 1.5]] {
            let options = KneserNeyOptions(order: 3, discountFallback: fallback)
            XCTAssertThrowsError(try estimateKneserNey(corpusFile: ngramFixture("shakespeare500.txt"), options: options)) { error in
                XCTAssertTrue("\(error)".contains("discount fallback"), "\(fallback): \(error)")
            }
        }
    }

    func testSpecialFilesAreRefusedAsModels() throws {
        let fifo = temporaryPath("model.fifo")
        unlink(fifo)
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        // Each would block forever in open(2) or read(2) if it were not refused first.
        XCTAssertThrowsError(try NGramModel.checkModelFile(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try NGramModel(binaryFile: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        let directory = temporaryPath("model-directory")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertThrowsError(try NGramModel.checkModelFile(directory)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
    }
}
