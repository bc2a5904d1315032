// Supervised fine-tuning data as LLaDA prepares it (ML-GSAI/LLaDA: GUIDELINES.md, "supervised fine-tuning"): a JSONL
// file, one {"prompt": …, "response": …} object a line (other keys, e.g. an id, are ignored), each example tokenized
// as prompt + response + end-of-text and padded with end-of-text to block_size. The padding belongs to the response —
// LLaDA trains on it, so a diffusion model learns where its answer ends — and the prompt length travels with every
// batch (`TokenBatch.promptLengths`). For next-token models the targets are the response and its first end-of-text.
// Not here: chat templates (the prompt is used as written) and packing several examples into one row.
import Foundation
import LMModels
import LMTensor
import LMTokenizers

/// Tokenized SFT examples, every one `length` tokens long.
public struct SFTExamples {
    /// The file the examples came from (for messages).
    public let source: String
    public let length: Int
    /// Row-major [count, length]: prompt, response, end-of-text padding.
    public let tokens: [Int]
    public let promptLengths: [Int]
    /// Index of each example's first end-of-text token (prompt + response length).
    public let responseEnds: [Int]

    public var count: Int { promptLengths.count }

    /// Reads `path` (JSONL) and tokenizes it. Errors name the file and line: a line that is not an object with string
    /// "prompt" and "response", or an example longer than `length` with its end-of-text token.
    public init(path: String, tokenizer: any Tokenizer, endOfText: Int, length: Int) throws {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw TrainError.invalidInput("\(path): cannot read it as UTF-8 text (sft_data is a JSONL file of {\"prompt\", \"response\"})")
        }
        var tokens: [Int] = [], promptLengths: [Int] = [], responseEnds: [Int] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            let place = "\(path):\(index + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TrainError.invalidInput("\(place): not a JSON object (each line is {\"prompt\": \"…\", \"response\": \"…\"})")
            }
            guard let prompt = object["prompt"] as? String, let response = object["response"] as? String else {
                throw TrainError.invalidInput("\(place): needs string fields \"prompt\" and \"response\", got keys \(object.keys.sorted())")
            }
            let promptIds: [Int], responseIds: [Int]
            do { (promptIds, responseIds) = (try tokenizer.encode(prompt), try tokenizer.encode(response)) } catch {
                throw TrainError.invalidInput("\(place): cannot tokenize (\(error))")
            }
            let used = promptIds.count + responseIds.count + 1
            guard used <= length else {
                throw TrainError.invalidInput("\(place): prompt (\(promptIds.count) tokens) + response (\(responseIds.count)) + end-of-text is \(used) tokens, more than block_size \(length)")
            }
            tokens += promptIds + responseIds + [Int](repeating: endOfText, count: length - used + 1)
            promptLengths.append(promptIds.count)
            responseEnds.append(used - 1)
        }
        guard !promptLengths.isEmpty else { throw TrainError.invalidInput("\(path): no examples") }
        self.init(source: path, length: length, tokens: tokens, promptLengths: promptLengths, responseEnds: responseEnds)
    }

    init(source: String, length: Int, tokens: [Int], promptLengths: [Int], responseEnds: [Int]) {
        self.source = source; self.length = length; self.tokens = tokens
        self.promptLengths = promptLengths; self.responseEnds = responseEnds
    }

    /// The examples in `range`.
    public func subset(_ range: Range<Int>) -> SFTExamples {
        SFTExamples(source: source, length: length, tokens: Array(tokens[(range.lowerBound * length)..<(range.upperBound * length)]),
                    promptLengths: Array(promptLengths[range]), responseEnds: Array(responseEnds[range]))
    }

    /// `size` examples drawn uniformly with replacement (as get_batch draws windows). Targets: the next token where
    /// it belongs to the response or is its first end-of-text, -1 elsewhere.
    public func batch(_ size: Int, generator: Generator) -> TokenBatch {
        let L = length
        var inputs: [Int] = [], targets: [Int] = [], prompts: [Int] = []
        for example in generator.integers(size, low: 0, high: count) {
            let row = tokens[(example * L)..<((example + 1) * L)]
            inputs += row
            targets += (0..<L).map { i in i + 1 >= promptLengths[example] && i + 1 <= responseEnds[example] ? row[row.startIndex + i + 1] : -1 }
            prompts.append(promptLengths[example])
        }
        return TokenBatch(inputs: inputs, targets: targets, batch: size, length: L, promptLengths: prompts)
    }
}
