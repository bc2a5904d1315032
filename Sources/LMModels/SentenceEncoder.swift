// A sentence-transformers directory as an encoder of sentences into vectors (`lmkit embed`): modules.json names the
// modules — the Transformer (a Hugging Face BERT directory, usually the root), Pooling (1_Pooling/config.json: CLS,
// mean, max or mean·√length) and an optional Normalize — and sentence_bert_config.json the truncation length.
// Follows sentence-transformers' SentenceTransformer.encode: the texts are sorted by length (longest first), batched,
// each padded to its batch's longest, [CLS] text [SEP] truncated to max_seq_length, then put back in input order.
// Not read: Dense / LayerNorm / other modules (an error naming the module type), prompts, non-BERT transformers.
import Foundation
import LMTensor
import LMTokenizers

/// A loaded sentence-transformers model: `encode` turns texts into embeddings equal to sentence-transformers' `encode()`.
public final class SentenceEncoder {
    /// How token vectors become one sentence vector (sentence-transformers' Pooling modes).
    public enum Pooling: String, Sendable { case cls, mean, max, meanSqrtLength = "mean_sqrt_len" }

    /// The encoder (a BERT without head).
    public let model: BERT
    public let tokenizer: WordPiece
    public let pooling: Pooling
    /// Whether embeddings are scaled to unit length (a Normalize module).
    public let normalize: Bool
    /// Tokens per text including [CLS] and [SEP]; longer texts are truncated.
    public let maxSequenceLength: Int
    /// Width of an embedding.
    public var dimension: Int { model.config.hiddenSize }

    public init(model: BERT, tokenizer: WordPiece, pooling: Pooling, normalize: Bool, maxSequenceLength: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.maxSequenceLength = maxSequenceLength
        model.eval()
    }

    /// Reads a sentence-transformers directory (modules.json with Transformer, Pooling and optional Normalize).
    /// Every unsupported module or pooling mode is an error naming the file and the value.
    public static func load(_ path: String) throws -> SentenceEncoder {
        let modulesPath = path + "/modules.json"
        guard let data = FileManager.default.contents(atPath: modulesPath) else {
            throw HuggingFaceError.badFile(file: modulesPath, "cannot be read (a sentence-transformers directory lists its modules there)")
        }
        guard let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw HuggingFaceError.badFile(file: modulesPath, "expected a JSON array of {\"idx\", \"name\", \"path\", \"type\"} objects")
        }
        var transformerPath: String?, poolingPath: String?, normalize = false
        for module in modules {
            let type = module["type"] as? String ?? "", relative = module["path"] as? String ?? ""
            let modulePath = relative.isEmpty ? path : path + "/" + relative
            switch type {
            case "sentence_transformers.models.Transformer": transformerPath = modulePath
            case "sentence_transformers.models.Pooling": poolingPath = modulePath
            case "sentence_transformers.models.Normalize": normalize = true
            default:
                throw HuggingFaceError.badFile(file: modulesPath, "module type \(type.debugDescription) is not supported (Transformer, Pooling, Normalize are)")
            }
        }
        guard let transformerPath else { throw HuggingFaceError.badFile(file: modulesPath, "has no sentence_transformers.models.Transformer module") }
        guard let poolingPath else { throw HuggingFaceError.badFile(file: modulesPath, "has no sentence_transformers.models.Pooling module") }
        let loaded = try HuggingFaceModelDirectory.load(transformerPath, loadTokenizer: false)
        guard let bert = loaded.model as? BERT else {
            throw HuggingFaceError.badFile(file: transformerPath + "/config.json", "is not a BERT model (model_type \"bert\")")
        }
        let tokenizer = try HuggingFaceModelDirectory.wordPiece(transformerPath)
        var maxLength = bert.config.maxPositionEmbeddings
        if let data = FileManager.default.contents(atPath: transformerPath + "/sentence_bert_config.json"),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let length = object["max_seq_length"] as? Int {
            maxLength = min(length, maxLength)
        }
        return SentenceEncoder(model: bert, tokenizer: tokenizer, pooling: try readPooling(poolingPath + "/config.json"),
                               normalize: normalize, maxSequenceLength: maxLength)
    }

    /// The one pooling mode set in 1_Pooling/config.json.
    static func readPooling(_ file: String) throws -> Pooling {
        guard let data = FileManager.default.contents(atPath: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HuggingFaceError.badFile(file: file, "cannot be read as a JSON object")
        }
        let modes: [(String, Pooling?)] = [("pooling_mode_cls_token", .cls), ("pooling_mode_mean_tokens", .mean),
                                           ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLength),
                                           ("pooling_mode_weightedmean_tokens", nil), ("pooling_mode_lasttoken", nil)]
        let on = modes.filter { object[$0.0] as? Bool == true }
        guard on.count == 1, let mode = on[0].1 else {
            throw HuggingFaceError.badFile(file: file, "sets \(on.map(\.0)); LMKit supports exactly one of cls, mean, max, mean_sqrt_len")
        }
        return mode
    }

    /// Ids of one text as sentence-transformers feeds it: [CLS] text [SEP], truncated to `maxSequenceLength`.
    public func tokenIDs(_ text: String) throws -> [Int] {
        try tokenizer.encode(text, maxLength: maxSequenceLength).ids
    }

    /// Embeddings [texts.count][dimension] in input order. Texts are sorted longest first and run `batchSize` at a
    /// time, each batch padded to its longest (key lengths in the fused attention). `progress` gets the number of
    /// texts done after each batch.
    public func encode(_ texts: [String], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        precondition(batchSize > 0, "SentenceEncoder: batchSize must be positive")
        let ids = try texts.map(tokenIDs)
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count || (ids[$0].count == ids[$1].count && $0 < $1) }
        var out = [[Float]](repeating: [], count: texts.count)
        let pad = model.config.padTokenId
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let members = Array(order[start..<min(start + batchSize, order.count)])
            let lengths = members.map { ids[$0].count }
            let T = lengths.max()!
            let tokens = members.flatMap { ids[$0] + [Int](repeating: pad, count: T - ids[$0].count) }
            let hidden = noGrad { model(tokens, batch: members.count, length: T, lengths: lengths).hidden }.toArray()  // [B, T, H]
            for (b, index) in members.enumerated() {
                out[index] = pool(hidden, row: b, length: lengths[b], width: T)
            }
            progress?(min(start + batchSize, order.count))
        }
        return out
    }

    /// One sentence vector from hidden states [B, T, H] (row `row`, `length` real positions).
    func pool(_ hidden: [Float], row: Int, length n: Int, width T: Int) -> [Float] {
        let H = dimension, base = row * T * H
        var v = [Float](repeating: 0, count: H)
        switch pooling {
        case .cls:
            v = Array(hidden[base..<(base + H)])
        case .max:
            v = [Float](repeating: -.infinity, count: H)
            for t in 0..<n { for h in 0..<H { v[h] = Swift.max(v[h], hidden[base + t * H + h]) } }
        case .mean, .meanSqrtLength:
            var sum = [Double](repeating: 0, count: H)
            for t in 0..<n { for h in 0..<H { sum[h] += Double(hidden[base + t * H + h]) } }
            let divisor = pooling == .mean ? Double(n) : Double(n).squareRoot()
            v = sum.map { Float($0 / divisor) }
        }
        if normalize {
            let norm = Swift.max(v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), 1e-12)
            v = v.map { Float(Double($0) / norm) }
        }
        return v
    }
}

extension SentenceEncoder {
    /// Indices of `embeddings` ordered by cosine similarity to `query`, highest first (ties by index), with the scores:
    /// semantic search (`lmkit embed --query`).
    public static func rank(query: [Float], _ embeddings: [[Float]]) -> [(index: Int, score: Double)] {
        func norm(_ v: [Float]) -> Double { Swift.max(v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), 1e-12) }
        let q = norm(query)
        let scores = embeddings.map { e in zip(query, e).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / (q * norm(e)) }
        return scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.map { ($0, scores[$0]) }
    }
}
