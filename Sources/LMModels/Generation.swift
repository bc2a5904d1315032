// Text generation, written once for every `IncrementalDecoding` family (KV cache, recurrent state, …), with the
// sampling controls users know from Hugging Face `generate` (greedy, temperature, top-k, top-p, repetition penalty,
// max new tokens, seed) applied in HF's order: repetition penalty, then temperature, then top-k, then top-p. Stop sequences are matched on text (`StopSequenceFilter`), so a
// stop string split across tokens is still caught and never printed. Everything is deterministic for a given seed.
import Foundation
import LMTensor
import LMTokenizers

/// Controls for `GPT.generate`.
public struct GenerationOptions: Sendable {
    public var maxNewTokens = 256
    /// 0 means greedy decoding (argmax); otherwise logits are divided by it before sampling.
    public var temperature = 1.0
    /// Keep only the k most likely tokens (nil or 0: no limit).
    public var topK: Int? = nil
    /// Keep the smallest set of most likely tokens whose probability reaches p (1: no limit).
    public var topP = 1.0
    /// > 1 discourages tokens already in the context (CTRL, Keskar et al. 2019): positive logits are divided by it,
    /// negative ones multiplied.
    public var repetitionPenalty = 1.0
    /// Seed of the sampling stream (Philox), so a run can be repeated exactly.
    public var seed: UInt64 = 1337
    /// Token ids that end generation (e.g. an end-of-text token); the stop token is not emitted.
    public var stopTokens: Set<Int> = []

    public init() {}

    /// Checks ranges; the error names the option.
    public func validate() throws {
        func fail(_ name: String, _ message: String) -> ConfigError { .invalidValue(field: name, message) }
        guard maxNewTokens >= 0 else { throw fail("max_new_tokens", "must be ≥ 0, got \(maxNewTokens)") }
        guard temperature >= 0 && temperature.isFinite else { throw fail("temperature", "must be ≥ 0, got \(temperature)") }
        if let k = topK, k < 0 { throw fail("top_k", "must be ≥ 0, got \(k)") }
        guard topP > 0 && topP <= 1 else { throw fail("top_p", "must be in (0, 1], got \(topP)") }
        guard repetitionPenalty > 0 && repetitionPenalty.isFinite else { throw fail("repetition_penalty", "must be > 0, got \(repetitionPenalty)") }
    }
}

/// Picks the next token from a row of logits according to `GenerationOptions`.
public struct TokenSampler {
    public let options: GenerationOptions
    let generator: Generator

    public init(_ options: GenerationOptions) {
        self.options = options
        generator = Generator(seed: options.seed)
    }

    /// The next token given `logits` (one per vocabulary entry) and the tokens seen so far.
    public func next(logits: [Float], history: [Int]) -> Int {
        var scores = logits.map(Double.init)
        if options.repetitionPenalty != 1 {
            for id in Set(history) where id >= 0 && id < scores.count {
                scores[id] = scores[id] < 0 ? scores[id] * options.repetitionPenalty : scores[id] / options.repetitionPenalty
            }
        }
        if options.temperature == 0 { return argmax(scores) }
        // Candidates most likely first; ties keep the lower id first so results do not depend on sort stability.
        var order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        if let k = options.topK, k > 0, k < order.count { order.removeSubrange(k...) }
        let maxScore = scores[order[0]]
        var weights = order.map { Foundation.exp((scores[$0] - maxScore) / options.temperature) }
        if options.topP < 1 {
            let total = weights.reduce(0, +)
            var cumulative = 0.0, keep = 0
            for w in weights {
                keep += 1
                cumulative += w / total
                if cumulative >= options.topP { break }
            }
            weights.removeSubrange(keep...)
        }
        return order[generator.multinomial(weights, samples: 1)[0]]
    }

    func argmax(_ scores: [Double]) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return best
    }
}

extension IncrementalDecoding {
    /// Continues `prompt` by up to `options.maxNewTokens` tokens, calling `onToken` with each new id as soon as it is
    /// chosen (return false to stop). Decodes through the family's `DecodingState`: the prompt is prefilled once, then
    /// each token is appended. When the context would pass the model's `contextLength`, decoding restarts from the last
    /// contextLength/2 tokens (the model never sees more positions than it was built for). Returns the new tokens.
    @discardableResult
    public func generate(prompt: [Int], options: GenerationOptions, onToken: (Int) -> Bool = { _ in true }) -> [Int] {
        precondition(!prompt.isEmpty, "generate: the prompt must contain at least one token")
        precondition((try? options.validate()) != nil, "generate: invalid options \(options)")
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        let sampler = TokenSampler(options)
        let window = config.contextLength ?? Int.max
        var state = makeDecodingState(batch: 1)
        var context = prompt, generated: [Int] = []
        var logits = noGrad { prefill(Array(prompt.suffix(window)), state: state) }
        while generated.count < options.maxNewTokens {
            let token = sampler.next(logits: logits, history: context)
            if options.stopTokens.contains(token) { break }
            generated.append(token)
            context.append(token)
            if !onToken(token) || generated.count == options.maxNewTokens { break }
            if state.length + 1 > window {
                state = makeDecodingState(batch: 1)
                logits = noGrad { prefill(Array(context.suffix(window / 2)), state: state) }
            } else {
                logits = noGrad { append(token, state: state) }
            }
        }
        return generated
    }
}

/// Holds back streamed text that could be the start of a stop sequence, and reports when one appears.
/// Feed it decoded text pieces; it returns what is safe to print. The stop sequence itself is never returned.
public struct StopSequenceFilter {
    public let stopSequences: [String]
    var held = ""
    public private(set) var stopped = false

    public init(_ stopSequences: [String]) { self.stopSequences = stopSequences.filter { !$0.isEmpty } }

    /// Text that can be emitted after appending `piece` (empty once a stop sequence was seen).
    public mutating func push(_ piece: String) -> String {
        guard !stopped else { return "" }
        held += piece
        if let range = stopSequences.compactMap({ held.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            stopped = true
            let out = String(held[..<range.lowerBound])
            held = ""
            return out
        }
        // Keep the longest suffix of `held` that is a proper prefix of some stop sequence.
        var keep = 0
        for stop in stopSequences {
            for length in stride(from: min(stop.count - 1, held.count), to: keep, by: -1) where held.hasSuffix(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let out = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return out
    }

    /// The text still held back at the end of generation (nothing if a stop sequence ended it).
    public mutating func finish() -> String {
        defer { held = "" }
        return stopped ? "" : held
    }
}

/// Text in, streamed text out: the sampling loop `lmkit sample` runs and a server would run, for any tokenizer and any
/// `IncrementalDecoding` model. Text is emitted as soon as it is complete (multi-byte characters split across tokens
/// are held back) and stop strings are never emitted.
public struct TextGeneration {
    public let model: any IncrementalDecoding
    public let tokenizer: any Tokenizer

    public init(model: any IncrementalDecoding, tokenizer: any Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// A problem with the request; the message names the input.
    public enum Failure: Error, CustomStringConvertible {
        case emptyPrompt
        case tokenOutsideVocabulary(id: Int, vocabularySize: Int)
        public var description: String {
            switch self {
            case .emptyPrompt: return "the prompt encodes to no tokens; give some text"
            case let .tokenOutsideVocabulary(id, size):
                return "the prompt has token id \(id), outside the model's vocabulary (\(size)); is the tokenizer the model's?"
            }
        }
    }

    /// Continues `prompt`, passing each piece of text to `onText` as it becomes printable (return false to stop early).
    /// Generation ends at `options.maxNewTokens`, a stop token, or the first of `stop` strings. Returns the whole
    /// generated text (without the prompt and without the stop string).
    @discardableResult
    public func generate(prompt: String, options: GenerationOptions, stop: [String] = [], onText: (String) -> Bool = { _ in true }) throws -> String {
        let ids = try tokenizer.encode(prompt)
        guard !ids.isEmpty else { throw Failure.emptyPrompt }
        let vocabularySize = model.config.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) { throw Failure.tokenOutsideVocabulary(id: bad, vocabularySize: vocabularySize) }
        var decoder = tokenizer.streamingDecoder()
        var filter = StopSequenceFilter(stop)
        var text = "", decodeError: Error?, consumerStopped = false
        func emit(_ piece: String) {
            guard !piece.isEmpty else { return }
            text += piece
            if !onText(piece) { consumerStopped = true }
        }
        model.generate(prompt: ids, options: options) { token in
            do { emit(filter.push(try decoder.push(token))) } catch { decodeError = error; return false }
            return !filter.stopped && !consumerStopped
        }
        if let decodeError { throw decodeError }
        if !consumerStopped { emit(filter.push(decoder.finish()) + filter.finish()) }
        return text
    }
}
