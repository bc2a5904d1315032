// `lmkit bench bert`: sentence-embedding throughput of LMModels' SentenceEncoder (the real all-MiniLM-L6-v2 or any
// sentence-transformers BERT directory) vs sentence-transformers' encode() on torch CPU
// (Benchmarks/reference/bert_embed_reference.py), same sentences, batch size and thread count, in one command,
// alternating sides round by round. Reports sentences/s of the whole encode (tokenization included on both sides)
// and the lowest per-sentence cosine between the two sides' embeddings, so a fast wrong answer cannot pass as a win.
// `mlmStep` times one masked-LM training step of LMModels' BERT (BERT-mini shape) vs transformers' BertForMaskedLM
// (Benchmarks/reference/bert_mlm_reference.py): forward, loss, backward, clip 1.0, AdamW, same shape, threads, dropout.
import Foundation
import LMCheckpoint
import LMKernels
import LMModels
import LMOptim
import LMTensor
import _CBLAS

public enum BERTBenchmark {
    public struct Result {
        public var threads: Int
        public var sentences: Int
        public var lmkitSeconds: [Double]
        public var referenceSeconds: [Double]
        /// The lowest cosine between LMKit's and sentence-transformers' embedding of the same sentence.
        public var minimumCosine: Double?
        /// Multiply-add FLOPs of the encoder's products over the padded batches both sides run (`encoderFLOPs`).
        public var flops: Double
        /// LMKit's sgemm peak on these threads (`GPTBenchmark.sgemmPeakGFLOPs`).
        public var peakGFLOPs: Double
    }

    /// FLOPs of one `encode` pass: per layer, the four C×C projections and the two C×I MLP products on every padded
    /// position, and QKᵀ and P·V on T×T per sequence (the pooler, norms and GELU are not counted). Both sides sort by
    /// length and pad each batch to its longest, so both do these products.
    public static func encoderFLOPs(lengths: [Int], batchSize: Int, config: BERTConfig) -> Double {
        let C = Double(config.hiddenSize), I = Double(config.intermediateSize), layers = Double(config.numHiddenLayers)
        let sorted = lengths.sorted(by: >)
        return stride(from: 0, to: sorted.count, by: batchSize).reduce(0.0) { total, start in
            let batch = sorted[start..<min(start + batchSize, sorted.count)]
            let B = Double(batch.count), T = Double(batch.first!)
            return total + layers * (2 * B * T * (4 * C * C + 2 * C * I) + 4 * B * T * T * C)
        }
    }

    /// `count` sentences of mixed length (3 to 60 words, seeded), as the "1 000 sentences of mixed length".
    public static func sentences(count: Int) -> [String] {
        let words = ["the", "model", "reads", "a", "sentence", "and", "writes", "one", "vector", "for", "it", "while", "every",
                     "token", "attends", "to", "others", "in", "its", "batch", "quick", "brown", "fox", "jumps", "over", "lazy",
                     "dog", "rain", "falls", "on", "green", "hills", "near", "river", "city", "people", "walk", "slowly", "home",
                     "after", "work", "tomorrow", "music", "plays", "softly", "science", "explains", "why", "stars", "shine"]
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        return (0..<count).map { _ in
            let n = 3 + next() % 58
            return (0..<n).map { _ in words[next() % words.count] }.joined(separator: " ") + "."
        }
    }

    /// Times `encode` of `count` sentences on `threads` threads, LMKit then the reference, `rounds` times each.
    public static func run(model: String, count: Int, threads: Int, batchSize: Int, rounds: Int, reference: Bool,
                           log: (String) -> Void = { print($0) }) throws -> Result {
        Parallel.threadCount = threads
        let encoder = try SentenceEncoder.load(model)
        let texts = sentences(count: count)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmkit-bench-bert-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sentencesFile = directory + "/sentences.txt", referenceOutput = directory + "/reference.npy"
        try (texts.joined(separator: "\n") + "\n").write(toFile: sentencesFile, atomically: true, encoding: .utf8)
        _ = try encoder.encode(Array(texts.prefix(batchSize)), batchSize: batchSize)  // warm-up, as the reference does
        let flops = encoderFLOPs(lengths: try texts.map { try encoder.tokenIDs($0).count }, batchSize: batchSize, config: encoder.model.config)
        var result = Result(threads: threads, sentences: count, lmkitSeconds: [], referenceSeconds: [], minimumCosine: nil,
                            flops: flops, peakGFLOPs: GPTBenchmark.sgemmPeakGFLOPs())
        var ours: [[Float]] = []
        for round in 1...rounds {
            let t0 = DispatchTime.now().uptimeNanoseconds
            ours = try encoder.encode(texts, batchSize: batchSize)
            result.lmkitSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            log(String(format: "  round %d: LMKit %.3f s", round, result.lmkitSeconds.last!))
            guard reference else { continue }
            let ref = try Bench.runReference("bert_embed_reference.py", ["--model", model, "--sentences", sentencesFile, "--threads", "\(threads)",
                                                                         "--batch-size", "\(batchSize)", "--output", referenceOutput])
            result.referenceSeconds.append(ref["seconds"] ?? .nan)
            log(String(format: "  round %d: sentence-transformers %.3f s", round, result.referenceSeconds.last!))
        }
        if reference, let data = FileManager.default.contents(atPath: referenceOutput), let theirs = NPY.readFloat32Matrix(data) {
            let D = theirs.shape[1]
            result.minimumCosine = ours.indices.map { i in
                let a = ours[i], b = theirs.values[(i * D)..<((i + 1) * D)]
                let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                return dot / (a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() * b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            }.min()
        }
        return result
    }

    /// Best round per side, sentences/s and the ratio.
    public static func format(_ r: Result, batchSize: Int) -> String {
        let ours = r.lmkitSeconds.min()!, rate = Double(r.sentences) / ours
        var s = String(format: "embed %d sentences, batch %d, %d thread(s): LMKit %.3f s (%.1f sentences/s)", r.sentences, batchSize, r.threads, ours, rate)
        if let theirs = r.referenceSeconds.min() {
            s += String(format: ", sentence-transformers %.3f s (%.1f sentences/s), LMKit/torch speed ratio %.2fx", theirs, Double(r.sentences) / theirs, theirs / ours)
        }
        if let cosine = r.minimumCosine { s += String(format: ", min cosine %.6f", cosine) }
        s += " (best of \(r.lmkitSeconds.count) alternating rounds per side)"
        // What the products alone allow: every product at the sgemm peak and nothing else costing time.
        let bound = r.flops / (r.peakGFLOPs * 1e9)
        s += String(format: "\n  products %.1f GFLOP; LMKit %.1f GF/s = %.0f%% of its sgemm peak %.0f GF/s", r.flops / 1e9,
                    r.flops / ours / 1e9, 100 * r.flops / ours / 1e9 / r.peakGFLOPs, r.peakGFLOPs)
        if let theirs = r.referenceSeconds.min() {
            s += String(format: "; torch %.1f GF/s = %.0f%% of that peak; products alone at peak take %.3f s, a bound of %.2fx torch",
                        r.flops / theirs / 1e9, 100 * r.flops / theirs / 1e9 / r.peakGFLOPs, bound, theirs / bound)
        }
        return s
    }

    /// One masked-LM training step, median seconds per side over `iters` steps after `warmup`, alternating `rounds`.
    public static func mlmStep(threads: Int, batch: Int = 32, length: Int = 128, iters: Int = 5, warmup: Int = 2, rounds: Int,
                               reference: Bool, log: (String) -> Void = { print($0) }) throws -> String {
        Parallel.threadCount = threads
        var config = BERTConfig()
        (config.numHiddenLayers, config.hiddenSize, config.numAttentionHeads, config.intermediateSize) = (4, 256, 4, 1024)
        (config.maxPositionEmbeddings, config.maskTokenId, config.specialTokenIds) = (length, 103, [101, 102, 103])
        let model = BERT(config, initializer: Generator(seed: 1337))
        model.train()
        let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: 5e-4, weightDecay: 0.01))
        let tokens = Generator(seed: 7).integers(batch * length, low: 1000, high: config.vocabSize)
        let data = TokenBatch(inputs: tokens, targets: tokens, batch: batch, length: length)
        let masks = Generator(seed: 11)
        func step() throws -> Float {
            let loss = model.loss(data, generator: masks)
            loss.backward()
            try GradientClipping.clipGradientNorm(model.parameters(), maxNorm: 1.0)
            optimizer.step()
            optimizer.zeroGrad()
            return loss.item()
        }
        let parameters = model.namedParameters().reduce(0) { $0 + $1.tensor.count }
        let firstLoss = try step()
        for _ in 1..<Swift.max(warmup, 1) { _ = try step() }
        var ours: [Double] = [], theirs: [Double] = []
        var referenceLoss = Double.nan
        for round in 1...rounds {
            var times: [Double] = []
            for _ in 0..<iters {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try step()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
            ours.append(times.sorted()[times.count / 2])
            log(String(format: "  round %d: LMKit %.3f s/step", round, ours.last!))
            guard reference else { continue }
            let ref = try Bench.runReference("bert_mlm_reference.py", ["--threads", "\(threads)", "--batch", "\(batch)", "--length", "\(length)",
                                                                       "--iters", "\(iters)", "--warmup", "\(warmup)"])
            if let n = ref["parameters"], Int(n) != parameters {
                throw BenchError(message: "bert_mlm_reference.py built \(Int(n)) parameters, LMKit \(parameters): not the same model")
            }
            theirs.append(ref["seconds"] ?? .nan)
            referenceLoss = ref["first_loss"] ?? .nan
            log(String(format: "  round %d: BertForMaskedLM %.3f s/step", round, theirs.last!))
        }
        var s = String(format: "MLM step (L4 H256 A4 I1024, vocab %d, batch %d × %d, dropout 0.1), %d thread(s), %d parameters: LMKit %.3f s/step (first loss %.3f)",
                       config.vocabSize, batch, length, threads, parameters, ours.min()!, firstLoss)
        if let best = theirs.min() {
            s += String(format: ", BertForMaskedLM %.3f s/step (first loss %.3f), LMKit/torch speed ratio %.2fx", best, referenceLoss, best / ours.min()!)
        }
        return s + " (median of \(iters) steps per round, best of \(rounds) alternating rounds per side)"
    }
}
