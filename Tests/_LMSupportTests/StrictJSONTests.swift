// Strict config decoding: unknown keys are errors with a "did you mean" hint; the known ones decode as Codable does.
import Foundation
import XCTest
@testable import _LMSupport

final class StrictJSONTests: XCTestCase {
    private struct Config: Codable, Equatable {
        var learningRate = 0.1
        var maxIters = 10
        enum CodingKeys: String, CodingKey, CaseIterable {
            case learningRate = "learning_rate"
            case maxIters = "max_iters"
        }
    }

    private let keys = Config.CodingKeys.allCases.map(\.rawValue)

    func testDecodesKnownKeys() throws {
        let config = try StrictJSON.decode(Config.self, from: Data(#"{"learning_rate": 0.5, "max_iters": 3}"#.utf8), allowedKeys: keys, source: "c.json")
        XCTAssertEqual(config, Config(learningRate: 0.5, maxIters: 3))
    }

    func testUnknownKeyCarriesTheDidYouMeanHint() {
        XCTAssertThrowsError(try StrictJSON.decode(Config.self, from: Data(#"{"learning_rat": 0.5, "zzz": 1}"#.utf8), allowedKeys: keys, source: "c.json")) {
            XCTAssertEqual($0 as? ConfigError, .unknownKeys(file: "c.json", ["learning_rat", "zzz"], allowed: keys))
            XCTAssertEqual("\($0)", "c.json: unknown keys 'learning_rat' (did you mean 'learning_rate'?), 'zzz'; allowed: learning_rate, max_iters")
        }
    }

    func testMalformedInputNamesTheFile() {
        XCTAssertThrowsError(try StrictJSON.decode(Config.self, from: Data("[1]".utf8), allowedKeys: keys, source: "c.json")) {
            XCTAssertEqual("\($0)", "c.json: expected a JSON object at the top level")
        }
        XCTAssertThrowsError(try StrictJSON.decode(Config.self, from: Data(#"{"learning_rate": 0.5, "max_iters": "x"}"#.utf8), allowedKeys: keys, source: "c.json")) {
            XCTAssertTrue("\($0)".hasPrefix("c.json: field 'max_iters': "), "\($0)")
        }
    }

    func testSuggestionIsTheClosestKeyWithinTwoEdits() {
        XCTAssertEqual(StrictJSON.suggestion(for: "max_iter", among: keys), "max_iters")
        XCTAssertEqual(StrictJSON.suggestion(for: "learnin_rat", among: keys), "learning_rate")
        XCTAssertNil(StrictJSON.suggestion(for: "lr", among: keys))
        XCTAssertNil(StrictJSON.suggestion(for: "anything", among: []))
    }
}
