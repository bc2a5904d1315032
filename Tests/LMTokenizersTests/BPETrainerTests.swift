// The incremental BPE trainer against (1) a tiny, obviously-correct trainer that recounts every pair per merge, on
// random corpora, and (2) HF `tokenizers`' ByteLevelBPETokenizer trained on tinyshakespeare at vocab 512 and 4096
// (fixture from Scripts/fixtures/tokenizers_make_fixtures.py): identical merges, in order, and identical ids.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

/// The oracle: recount all pairs each step; best = highest count, ties to the smallest (left id, right id);
/// merge left to right without overlap in every word. Same id layout as BPETrainer.
func oracleTrain(words: [([UInt8], Int)], vocabularySize: Int, minFrequency: Int, specials: [String]) -> [([UInt8], [UInt8])] {
    var idBytes: [[UInt8]] = specials.map { Array($0.utf8) }
    var byteID = [Int](repeating: 0, count: 256)
    for b in BPETrainer.alphabetOrder() { byteID[Int(b)] = idBytes.count; idBytes.append([b]) }
    var seqs = words.map { ($0.0.map { byteID[Int($0)] }, $0.1) }
    var merges: [([UInt8], [UInt8])] = []
    while idBytes.count < vocabularySize {
        var counts: [[Int]: Int] = [:]
        for (s, c) in seqs where s.count >= 2 { for k in 0..<(s.count - 1) { counts[[s[k], s[k + 1]], default: 0] += c } }
        guard let best = counts.max(by: { $0.value != $1.value ? $0.value < $1.value : ($0.key[0], $0.key[1]) > ($1.key[0], $1.key[1]) }),
              best.value >= max(1, minFrequency) else { break }
        let (l, r) = (best.key[0], best.key[1])
        let newBytes = idBytes[l] + idBytes[r]
        let newID = idBytes.firstIndex(of: newBytes) ?? idBytes.count
        if newID == idBytes.count { idBytes.append(newBytes) }
        merges.append((idBytes[l], idBytes[r]))
        for w in 0..<seqs.count {
            var s = seqs[w].0, k = 0
            while k < s.count - 1 {
                if s[k] == l && s[k + 1] == r { s[k] = newID; s.remove(at: k + 1) }
                k += 1
            }
            seqs[w].0 = s
        }
    }
    return merges
}

final class BPETrainerTests: XCTestCase {
    func testIncrementalTrainerEqualsOracleOnRandomCorpora() throws {
        var rng = SplitMix64(seed: 2024)
        for trial in 0..<40 {
            // Small alphabets make many ties and overlapping pairs ("aaa"), the cases where merge order is fragile.
            let alphabet = Array("abcab aab\n".utf8) + (trial % 3 == 0 ? Array("éz😀".utf8) : [])
            var text: [UInt8] = []
            for _ in 0..<(50 + Int(rng.next() % 400)) { text.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            let corpus = String(decoding: text, as: UTF8.self)
            let vocabularySize = 257 + Int(rng.next() % 60)
            let minFrequency = Int(rng.next() % 3)
            let specials = trial % 2 == 0 ? ["<|endoftext|>"] : []
            let trainer = try BPETrainer(vocabularySize: vocabularySize + specials.count, minFrequency: minFrequency, specialTokens: specials)
            trainer.add(text: corpus)
            let fast = trainer.trainMerges().merges
            // The oracle gets the same counted words (word counting is shared; its splitting is tested elsewhere).
            var words: [[UInt8]: Int] = [:]
            for line in linesKeepingNewlines(corpus) {
                for piece in SplitPattern.gpt2.split(line) { words[Array(piece.utf8), default: 0] += 1 }
            }
            let slow = oracleTrain(words: words.map { ($0.key, $0.value) }, vocabularySize: vocabularySize + specials.count,
                                   minFrequency: minFrequency, specials: specials)
            XCTAssertEqual(fast.count, slow.count, "trial \(trial): merge count")
            for (k, (a, b)) in zip(fast, slow).enumerated() where a.0 != b.0 || a.1 != b.1 {
                XCTFail("trial \(trial): merge \(k) is \(a) here, \(b) in the oracle"); break
            }
        }
    }

    struct HFTrainFixture: Decodable {
        struct Run: Decodable { let merges: [String]; let vocab_size: Int; let sample_ids: [Int] }
        let min_frequency: Int
        let special_tokens: [String]
        let runs: [String: Run]
    }

    func testMatchesHuggingFaceByteLevelTrainerOnTinyShakespeare() throws {
        let fixture: HFTrainFixture = try loadFixture("tokenizers/hf_bpe_train_shakespeare.json")
        let corpus = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data/tinyshakespeare.txt").path
        for (size, run) in fixture.runs.sorted(by: { Int($0.key)! < Int($1.key)! }) {
            let tokenizer = try BPETrainer.train(files: [corpus], vocabularySize: Int(size)!, minFrequency: fixture.min_frequency,
                                                 specialTokens: fixture.special_tokens)
            let merges = tokenizer.orderedMerges.map {
                ByteLevelAlphabet.encode(tokenizer.bytes(forID: Int($0.0))!) + " " + ByteLevelAlphabet.encode(tokenizer.bytes(forID: Int($0.1))!)
            }
            XCTAssertEqual(merges.count, run.merges.count, "vocab \(size): merge count")
            if let k = zip(merges, run.merges).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                XCTFail("vocab \(size): merge \(k) is \(merges[k].debugDescription), HF has \(run.merges[k].debugDescription)")
            }
            XCTAssertEqual(tokenizer.vocabularySize, run.vocab_size)
            XCTAssertEqual(try tokenizer.encode("First Citizen:\nBefore we proceed any further, hear me speak."), run.sample_ids)
        }
    }

    func testRejectsBadOptions() {
        XCTAssertThrowsError(try BPETrainer(vocabularySize: 100))
        XCTAssertThrowsError(try BPETrainer(vocabularySize: 300, specialTokens: ["a", "a"]))
        XCTAssertThrowsError(try BPETrainer.train(files: ["/nonexistent/corpus.txt"], vocabularySize: 300)) { error in
            XCTAssertEqual(error as? TokenizerError, .io(path: "/nonexistent/corpus.txt", reason: "no such file"))
        }
    }
}

/// Lines with their trailing "\n" (the last line may have none), as HF's lines_with_ending.
func linesKeepingNewlines(_ text: String) -> [String] {
    var lines: [String] = []
    var current = ""
    for c in text.unicodeScalars {
        current.unicodeScalars.append(c)
        if c == "\n" { lines.append(current); current = "" }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}
