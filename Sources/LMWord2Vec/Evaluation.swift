// Intrinsic evaluation of word vectors: analogy accuracy on a questions-words file (per section and total) and
// Spearman/Pearson correlation on a word-pair similarity file (wordsim353). Follows gensim 4.4
// `KeyedVectors.evaluate_word_analogies` and `evaluate_word_pairs` rule for rule (upper-cased lookup among the
// `restrictVocab` most frequent words, first row per upper-cased form, top-5 3CosAdd, OOV questions skipped).
// Does not implement 3CosMul or `dummy4unknown`.
import _LMSupport
import Foundation

/// Accuracy of one analogy section (or the total).
public struct AnalogySection: Sendable, Equatable {
    /// Section title from the `: name` header line.
    public var name: String
    /// Questions whose first admissible top-5 prediction was the expected word.
    public var correct: Int
    /// Answerable questions predicted wrongly.
    public var incorrect: Int
    /// `correct / (correct + incorrect)`, 0 when the section had no answerable question (as gensim logs it).
    public var accuracy: Double { correct + incorrect == 0 ? 0 : Double(correct) / Double(correct + incorrect) }
}

/// Result of an analogy evaluation.
public struct AnalogyResult: Sendable {
    /// Sections in file order.
    public var sections: [AnalogySection]
    /// All sections together (gensim's "Total accuracy").
    public var total: AnalogySection
    /// Questions skipped because a word is not among the `restrictVocab` most frequent words.
    public var outOfVocabulary: Int
    /// Well-formed questions read.
    public var questionCount: Int
}

/// Result of a word-pair similarity evaluation.
public struct WordPairResult: Sendable {
    /// Pearson correlation of gold scores and cosine similarities.
    public var pearson: Double
    /// Spearman rank correlation (average ranks for ties), gensim's headline number.
    public var spearman: Double
    /// Percentage of pairs skipped because a word is out of vocabulary.
    public var outOfVocabularyPercent: Double
    /// Pairs that entered the correlations.
    public var pairsUsed: Int
}

extension WordVectors {
    /// Upper-cased word → row among the first `restrictVocab` rows, the most frequent (first) row winning.
    func caseInsensitiveIndex(restrictVocab: Int) -> [String: Int] {
        var map = [String: Int]()
        for r in (0..<max(0, min(restrictVocab, words.count))).reversed() { map[words[r].uppercased()] = r }
        return map
    }

    /// Evaluates analogies in `path` (gensim `evaluate_word_analogies`). `restrictVocab` defaults to 30 000, word2vec.c
    /// `compute-accuracy`'s threshold (gensim 4.4's own default is 300 000; pass it explicitly to compare).
    /// Runs the questions on `threads` threads. Throws naming the file and line for a question before any section.
    public func evaluateAnalogies(path: String, restrictVocab: Int = 30_000, threads: Int = 1) throws -> AnalogyResult {
        guard restrictVocab >= 1 else { throw Word2VecError("restrict_vocab must be ≥ 1, got \(restrictVocab)") }
        guard threads >= 1 && threads <= 512 else { throw Word2VecError("threads must be in 1...512, got \(threads)") }
        try rethrowingFileErrors(as: { Word2VecError($0.description) }) { try FileReading.checkRegularFile(path) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Word2VecError("\(path): cannot read analogy file (UTF-8 text expected)")
        }
        let ok = caseInsensitiveIndex(restrictVocab: restrictVocab)
        struct Question { var section: Int; var rows: (Int, Int, Int); var upper: (String, String, String); var expected: String }
        var sectionNames: [String] = []
        var questions: [Question] = []
        var oov = 0, questionCount = 0
        for (n, lineSub) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(lineSub)
            if line.hasPrefix(": ") {
                sectionNames.append(line.drop(while: { $0 == ":" || $0 == " " }).trimmingCharacters(in: .whitespacesAndNewlines))
                continue
            }
            let parts = line.split(whereSeparator: { $0.isWhitespace }).map { $0.uppercased() }
            if line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && parts.isEmpty { continue }
            guard !sectionNames.isEmpty else {
                throw Word2VecError("\(path):\(n + 1): question before the first ': section' header")
            }
            guard parts.count == 4 else { continue }  // gensim skips malformed lines
            questionCount += 1
            guard let a = ok[parts[0]], let b = ok[parts[1]], let c = ok[parts[2]], ok[parts[3]] != nil else {
                oov += 1; continue
            }
            questions.append(Question(section: sectionNames.count - 1, rows: (a, b, c),
                                      upper: (parts[0], parts[1], parts[2]), expected: parts[3]))
        }
        // Each question: 3CosAdd top 5 among the restricted rows; first prediction that is not a question word wins.
        var verdicts = [Bool](repeating: false, count: questions.count)
        let workers = max(1, min(threads, questions.count))
        verdicts.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var q = w
                while q < questions.count {
                    let question = questions[q]
                    let sims = mostSimilar(positiveRows: [question.rows.1, question.rows.2], negativeRows: [question.rows.0],
                                           topn: 5, restrictVocab: restrictVocab)
                    var predicted: String? = nil
                    for s in sims {
                        let p = words[s.row].uppercased()
                        predicted = p
                        if ok[p] != nil && p != question.upper.0 && p != question.upper.1 && p != question.upper.2 { break }
                    }
                    out[q] = predicted == question.expected
                    q += workers
                }
            }
        }
        var sections = sectionNames.map { AnalogySection(name: $0, correct: 0, incorrect: 0) }
        for (q, question) in questions.enumerated() {
            if verdicts[q] { sections[question.section].correct += 1 } else { sections[question.section].incorrect += 1 }
        }
        let total = AnalogySection(name: "Total accuracy", correct: sections.reduce(0) { $0 + $1.correct },
                                   incorrect: sections.reduce(0) { $0 + $1.incorrect })
        return AnalogyResult(sections: sections, total: total, outOfVocabulary: oov, questionCount: questionCount)
    }

    /// Evaluates word-pair similarities in `path` (gensim `evaluate_word_pairs`): lines `word1<TAB>word2<TAB>score`,
    /// `#` comments skipped, malformed lines skipped, pairs with a word outside the first `restrictVocab` rows skipped.
    public func evaluateWordPairs(path: String, restrictVocab: Int = 300_000, delimiter: Character = "\t") throws -> WordPairResult {
        guard restrictVocab >= 1 else { throw Word2VecError("restrict_vocab must be ≥ 1, got \(restrictVocab)") }
        try rethrowingFileErrors(as: { Word2VecError($0.description) }) { try FileReading.checkRegularFile(path) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Word2VecError("\(path): cannot read word-pair file (UTF-8 text expected)")
        }
        let ok = caseInsensitiveIndex(restrictVocab: restrictVocab)
        var gold: [Double] = [], model: [Double] = []
        var oov = 0
        for lineSub in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if lineSub.hasPrefix("#") { continue }
            let parts = lineSub.split(separator: delimiter, omittingEmptySubsequences: false)
            guard parts.count == 3,
                  let score = Double(parts[2].trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            guard let a = ok[parts[0].uppercased()], let b = ok[parts[1].uppercased()] else { oov += 1; continue }
            gold.append(score)
            model.append(Double(similarity(row: a, row: b)))
        }
        guard gold.count >= 2 else {
            throw Word2VecError("\(path): fewer than 2 usable word pairs (wrong format or all out of vocabulary)")
        }
        return WordPairResult(pearson: pearsonCorrelation(gold, model), spearman: spearmanCorrelation(gold, model),
                              outOfVocabularyPercent: Double(oov) / Double(gold.count + oov) * 100, pairsUsed: gold.count)
    }
}

/// Pearson correlation coefficient of two equal-length samples.
public func pearsonCorrelation(_ x: [Double], _ y: [Double]) -> Double {
    let n = Double(x.count)
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for i in x.indices {
        sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (y[i] - my) * (y[i] - my)
    }
    return sxy / (sxx * syy).squareRoot()
}

/// Ranks starting at 1, ties given their average rank (scipy `rankdata(method='average')`).
public func averageRanks(_ x: [Double]) -> [Double] {
    let order = x.indices.sorted { x[$0] < x[$1] }
    var ranks = [Double](repeating: 0, count: x.count)
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
        let rank = Double(i + j) / 2 + 1
        for k in i...j { ranks[order[k]] = rank }
        i = j + 1
    }
    return ranks
}

/// Spearman rank correlation (Pearson of average ranks), as `scipy.stats.spearmanr`.
public func spearmanCorrelation(_ x: [Double], _ y: [Double]) -> Double {
    pearsonCorrelation(averageRanks(x), averageRanks(y))
}
