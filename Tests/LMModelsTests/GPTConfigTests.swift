import Foundation
import XCTest
@testable import LMModels

final class GPTConfigTests: XCTestCase {
    func testDefaultsAreGPT2AndRoundTrip() throws {
        let c = GPTConfig()
        XCTAssertEqual(c.nEmbd, 768); XCTAssertEqual(c.kvHeads, 12); XCTAssertEqual(c.hiddenSize, 3072); XCTAssertTrue(c.tieEmbeddings)
        var rope = GPTConfig(); rope.position = .rope; rope.ropeLayout = .interleaved; rope.nKVHead = 4; rope.mlp = .swiglu
        XCTAssertEqual(try GPTConfig.decode(try rope.jsonData(), source: "x.json"), rope)
    }

    func testUnknownKeyIsAnErrorNamingTheKeyAndFile() {
        let json = #"{"n_layer": 2, "n_embed": 64}"#.data(using: .utf8)!
        XCTAssertThrowsError(try GPTConfig.decode(json, source: "cfg.json")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cfg.json") && text.contains("'n_embed'"), text)
        }
    }

    func testInvalidValuesNameTheField() {
        for (json, field) in [(#"{"n_embd": 100, "n_head": 3}"#, "n_embd"), (#"{"n_kv_head": 5}"#, "n_kv_head"),
                              (#"{"dropout": 1.5}"#, "dropout"), (#"{"position": "xpos"}"#, "position"),
                              (#"{"n_layer": "two"}"#, "n_layer")] {
            XCTAssertThrowsError(try GPTConfig.decode(json.data(using: .utf8)!, source: "c.json")) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error)")
            }
        }
    }
}
