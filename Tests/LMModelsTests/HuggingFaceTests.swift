// Hugging Face checkpoints: logits of the transformers-written tiny GPT-2 and Llama directories against transformers'
// own logits (Scripts/fixtures/hf_models_fixture.py), tokenizer.json, save -> reload, sharded and hub-style GPT-2
// files, the RoPE layout converter, and every error path of config.json and the tensors.
import Foundation
import LMCheckpoint
import LMTensor
import LMTokenizers
import XCTest
import _TestSupport
@testable import LMModels

private struct HFFixture: Decodable {
    let inputs: [[Int]]
    let prompts: [String]
    let prompt_ids: [[Int]]
}

/// transformers' logits for input `index` of `model` ("hf_gpt2_tiny" / "hf_llama_tiny"), flattened [length · vocab].
private func expectedLogits(_ model: String, _ index: Int) throws -> [Double] {
    try SafetensorsFile(path: fixtureURL("models/hf_models_logits.safetensors").path).tensor("\(model)/\(index)").toArray().map(Double.init)
}

private let gpt2Directory = fixtureURL("models/hf_gpt2_tiny").path
private let llamaDirectory = fixtureURL("models/hf_llama_tiny").path

/// A fresh scratch directory, removed when the test ends.
private func scratchDirectory(_ test: XCTestCase) throws -> String {
    let path = NSTemporaryDirectory() + "lmkit-hf-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A copy of a fixture directory whose config.json has `edit` applied (and optionally other tensors).
private func editedCopy(_ test: XCTestCase, of source: String, config edit: (inout [String: Any]) -> Void = { _ in },
                        tensors editTensors: ((inout [String: Tensor]) -> Void)? = nil) throws -> String {
    let dir = try scratchDirectory(test)
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
    edit(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
    if let editTensors {
        var tensors = try SafetensorsFile(path: source + "/model.safetensors").tensors()
        editTensors(&tensors)
        try saveSafetensors(tensors, to: dir + "/model.safetensors")
    } else {
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
    }
    return dir
}

private func logits(_ model: GPT, _ ids: [Int]) -> [Double] {
    model(ids, batch: 1, length: ids.count).toArray().map(Double.init)
}

final class HuggingFaceTests: XCTestCase {
    private func fixture() throws -> HFFixture { try loadFixture("models/hf_models.json") }

    func testGPT2LogitsMatchTransformers() throws {
        let f = try fixture()
        let loaded = try HuggingFaceModelDirectory.load(gpt2Directory)
        XCTAssertEqual(loaded.config.architecture, .gpt2)
        for (index, ids) in f.inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expectedLogits("hf_gpt2_tiny", index), rtol: 0, atol: 1e-4)
        }
    }

    func testLlamaLogitsMatchTransformers() throws {
        let f = try fixture()
        let loaded = try HuggingFaceModelDirectory.load(llamaDirectory)
        XCTAssertEqual(loaded.config.architecture, .llama)
        XCTAssertEqual(loaded.model.config.kvHeads, 2)
        for (index, ids) in f.inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expectedLogits("hf_llama_tiny", index), rtol: 0, atol: 1e-4)
        }
    }

    func testOtherConfigPathsMatchTransformers() throws {
        // GPT-2 with an untied head and n_inner; Llama with attention/MLP biases, a tied head, one KV head, rope_theta 500.
        let f = try fixture()
        let gpt2 = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_gpt2_untied_tiny").path)
        XCTAssertFalse(gpt2.model.config.tieEmbeddings); XCTAssertEqual(gpt2.model.config.hiddenSize, 40)
        XCTAssertNil(gpt2.tokenizer)
        let llama = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_llama_bias_tied_tiny").path)
        XCTAssertTrue(llama.model.config.bias); XCTAssertTrue(llama.model.config.tieEmbeddings)
        XCTAssertEqual(llama.model.config.kvHeads, 1); XCTAssertEqual(llama.model.config.ropeTheta, 500)
        for (index, ids) in f.inputs.enumerated() {
            assertClose(logits(gpt2.model, ids), try expectedLogits("hf_gpt2_untied_tiny", index), rtol: 0, atol: 1e-4)
            assertClose(logits(llama.model, ids), try expectedLogits("hf_llama_bias_tied_tiny", index), rtol: 0, atol: 1e-4)
        }
        for loaded in [gpt2, llama] {
            let out = try scratchDirectory(self) + "/saved"
            try HuggingFaceModelDirectory.save(loaded.model, to: out, architecture: loaded.config.architecture)
            let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
            let reference = try SafetensorsFile(path: loaded.path + "/model.safetensors").tensors()
            XCTAssertEqual(Set(written.keys), Set(reference.keys))
            for (name, tensor) in reference { XCTAssertEqual(written[name]?.toArray(), tensor.toArray(), name) }
        }
    }

    func testConfigMapping() throws {
        let gpt2 = try GPTConfig(huggingFace: Data(contentsOf: URL(fileURLWithPath: gpt2Directory + "/config.json")), source: "gpt2")
        XCTAssertEqual([gpt2.vocabSize, gpt2.blockSize, gpt2.nLayer, gpt2.nHead, gpt2.nEmbd, gpt2.hiddenSize], [288, 32, 2, 4, 32, 128])
        XCTAssertEqual(gpt2.position, .learned); XCTAssertEqual(gpt2.norm, .layerNorm); XCTAssertEqual(gpt2.mlp, .gelu)
        XCTAssertTrue(gpt2.tieEmbeddings); XCTAssertTrue(gpt2.bias); XCTAssertEqual(gpt2.dropout, 0.1); XCTAssertEqual(gpt2.normEps, 1e-5)
        let llama = try GPTConfig(huggingFace: Data(contentsOf: URL(fileURLWithPath: llamaDirectory + "/config.json")), source: "llama")
        XCTAssertEqual([llama.vocabSize, llama.blockSize, llama.nLayer, llama.nHead, llama.kvHeads, llama.nEmbd, llama.hiddenSize],
                       [288, 64, 2, 4, 2, 32, 64])
        XCTAssertEqual(llama.position, .rope); XCTAssertEqual(llama.ropeLayout, .halfSplit); XCTAssertEqual(llama.ropeTheta, 10000)
        XCTAssertEqual(llama.norm, .rmsNorm); XCTAssertEqual(llama.mlp, .swiglu); XCTAssertFalse(llama.bias)
        XCTAssertFalse(llama.tieEmbeddings); XCTAssertEqual(llama.normEps, 1e-5)
        // transformers 4.x style: rope_theta at the top level and rope_scaling null.
        let v4 = """
        {"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
         "num_attention_heads": 2, "rope_theta": 500000.0, "rope_scaling": null, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-6}
        """
        let c = try GPTConfig(huggingFace: Data(v4.utf8), source: "v4.json")
        XCTAssertEqual(c.ropeTheta, 500000); XCTAssertEqual(c.kvHeads, 2); XCTAssertEqual(c.normEps, 1e-6); XCTAssertEqual(c.blockSize, 2048)
    }

    func testTokenizerFromDirectory() throws {
        let f = try fixture()
        let loaded = try HuggingFaceModelDirectory.load(gpt2Directory)
        let tokenizer = try XCTUnwrap(loaded.tokenizer)
        for (prompt, ids) in zip(f.prompts, f.prompt_ids) {
            XCTAssertEqual(tokenizer.encodeOrdinary(prompt), ids)
            XCTAssertEqual(try tokenizer.decode(ids), prompt)
        }
        XCTAssertNil(try HuggingFaceModelDirectory.load(gpt2Directory, loadTokenizer: false).tokenizer)
    }

    func testSaveReloadRoundTripIsExact() throws {
        let f = try fixture()
        // The bias + tied-head Llama covers the bias tensors of the Llama layout.
        for source in [gpt2Directory, llamaDirectory, fixtureURL("models/hf_llama_bias_tied_tiny").path] {
            let original = try HuggingFaceModelDirectory.load(source)
            let out = try scratchDirectory(self) + "/saved"
            try HuggingFaceModelDirectory.save(original.model, to: out, architecture: original.config.architecture,
                                               specialTokenIDs: original.config.specialTokenIDs, tokenizer: original.tokenizer)
            let reloaded = try HuggingFaceModelDirectory.load(out)
            XCTAssertEqual(reloaded.config.gpt, original.config.gpt, source)
            XCTAssertEqual(reloaded.config.specialTokenIDs, original.config.specialTokenIDs)
            let a = original.model.stateDict(), b = reloaded.model.stateDict()
            XCTAssertEqual(Set(a.keys), Set(b.keys))
            for (name, tensor) in a { XCTAssertEqual(tensor.toArray(), b[name]!.toArray(), "\(source): \(name)") }
            // The saved tensors are transformers' own names and values (tied head not written, as save_pretrained does).
            let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
            let reference = try SafetensorsFile(path: source + "/model.safetensors").tensors()
            XCTAssertEqual(Set(written.keys), Set(reference.keys))
            for (name, tensor) in reference { XCTAssertEqual(written[name]?.toArray(), tensor.toArray(), name) }
            XCTAssertEqual(logits(reloaded.model, f.inputs[1]), logits(original.model, f.inputs[1]))
            if original.tokenizer != nil { XCTAssertEqual(reloaded.tokenizer?.encodeOrdinary(f.prompts[0]), f.prompt_ids[0]) }
        }
    }

    func testHubStyleGPT2FileWithoutPrefixAndWithMaskBuffers() throws {
        // openai-community/gpt2's model.safetensors: GPT2Model names (no "transformer."), plus attn.bias / attn.masked_bias.
        let f = try fixture()
        let dir = try editedCopy(self, of: gpt2Directory, config: { $0["architectures"] = ["GPT2Model"]; $0["n_ctx"] = 32 }) { tensors in
            tensors = Dictionary(uniqueKeysWithValues: tensors.map { (String($0.key.dropFirst("transformer.".count)), $0.value) })
            for i in 0..<2 {
                tensors["h.\(i).attn.bias"] = Tensor.trilMask(32, 32).reshape([1, 1, 32, 32])
                tensors["h.\(i).attn.masked_bias"] = Tensor.full([], -1e4)
            }
        }
        let model = try HuggingFaceModelDirectory.load(dir).model
        assertClose(logits(model, f.inputs[0]), try expectedLogits("hf_gpt2_tiny", 0), rtol: 0, atol: 1e-4)
    }

    func testShardedCheckpoint() throws {
        let f = try fixture()
        let dir = try scratchDirectory(self)
        try FileManager.default.copyItem(atPath: llamaDirectory + "/config.json", toPath: dir + "/config.json")
        let tensors = try SafetensorsFile(path: llamaDirectory + "/model.safetensors").tensors()
        var shards: [[String: Tensor]] = [[:], [:]], weightMap: [String: String] = [:]
        for (index, name) in tensors.keys.sorted().enumerated() {
            let shard = index % 2
            shards[shard][name] = tensors[name]
            weightMap[name] = "model-0000\(shard + 1)-of-00002.safetensors"
        }
        for (i, shard) in shards.enumerated() { try saveSafetensors(shard, to: dir + "/model-0000\(i + 1)-of-00002.safetensors") }
        try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": weightMap])
            .write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let model = try HuggingFaceModelDirectory.load(dir).model
        assertClose(logits(model, f.inputs[0]), try expectedLogits("hf_llama_tiny", 0), rtol: 0, atol: 1e-4)
        // A tensor listed in the index but absent from its shard names both.
        var broken = weightMap; broken["model.norm.weight"] = "model-00001-of-00002.safetensors"
        broken["lm_head.weight"] = broken["lm_head.weight"] == "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": broken]).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(dir)) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors.index.json"), "\(error)")
        }
    }

    func testRoPELayoutConversionKeepsLogits() throws {
        let f = try fixture()
        let llama = try HuggingFaceModelDirectory.load(llamaDirectory)
        var interleavedConfig = llama.model.config
        interleavedConfig.ropeLayout = .interleaved
        let converted = GPT.convertRoPELayout(llama.model.stateDict(), config: llama.model.config, from: .halfSplit, to: .interleaved)
        XCTAssertNotEqual(converted["transformer.h.0.attn.c_attn.weight"]!.toArray(),
                          llama.model.stateDict()["transformer.h.0.attn.c_attn.weight"]!.toArray())
        let interleaved = try GPT(interleavedConfig, stateDict: converted)
        assertClose(logits(interleaved, f.inputs[1]), try expectedLogits("hf_llama_tiny", 1), rtol: 0, atol: 1e-4)
        assertClose(logits(interleaved, f.inputs[1]), logits(llama.model, f.inputs[1]), rtol: 0, atol: 1e-5)
        // Saving the interleaved model as HF Llama converts back: the file equals transformers' file.
        let out = try scratchDirectory(self) + "/saved"
        try HuggingFaceModelDirectory.save(interleaved, to: out)
        let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
        let reference = try SafetensorsFile(path: llamaDirectory + "/model.safetensors").tensors()
        for (name, tensor) in reference { XCTAssertEqual(written[name]?.toArray(), tensor.toArray(), name) }
    }

    func testConversionThroughTheNanoGPTLayout() throws {
        // HF -> nanoGPT layout with interleaved RoPE -> HF: same logits on the way, transformers' tensors at the end.
        let f = try fixture()
        let root = try scratchDirectory(self)
        let source = try ModelDirectoryConversion.load(llamaDirectory)
        XCTAssertEqual(source.layout, .huggingFace)
        try ModelDirectoryConversion.save(source, to: root + "/gpt", layout: .nanoGPT, ropeLayout: .interleaved)
        let middle = try ModelDirectoryConversion.load(root + "/gpt")
        XCTAssertEqual(middle.layout, .nanoGPT)
        XCTAssertEqual(middle.model.config.ropeLayout, .interleaved)
        assertClose(logits(middle.model, f.inputs[1]), try expectedLogits("hf_llama_tiny", 1), rtol: 0, atol: 1e-4)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: root + "/gpt/tokenizer.json")),
                       try Data(contentsOf: URL(fileURLWithPath: llamaDirectory + "/tokenizer.json")))
        try ModelDirectoryConversion.save(middle, to: root + "/hf", layout: .huggingFace)
        let written = try SafetensorsFile(path: root + "/hf/model.safetensors").tensors()
        for (name, tensor) in try SafetensorsFile(path: llamaDirectory + "/model.safetensors").tensors() {
            XCTAssertEqual(written[name]?.toArray(), tensor.toArray(), name)
        }
        XCTAssertThrowsError(try ModelDirectoryConversion.save(middle, to: root + "/x", layout: .huggingFace, ropeLayout: .interleaved))
        // A tied GPT-2 in the nanoGPT layout stores the head once; a wrong tensor there names the file.
        try ModelDirectoryConversion.save(try ModelDirectoryConversion.load(gpt2Directory), to: root + "/gpt2", layout: .nanoGPT)
        XCTAssertNil(try SafetensorsFile(path: root + "/gpt2/model.safetensors").entry("lm_head.weight"))
        XCTAssertNoThrow(try ModelDirectoryConversion.load(root + "/gpt2"))
        var tensors = try SafetensorsFile(path: root + "/gpt2/model.safetensors").tensors()
        tensors["transformer.ln_f.bias"] = Tensor.zeros([7])
        try saveSafetensors(tensors, to: root + "/gpt2/model.safetensors")
        XCTAssertThrowsError(try ModelDirectoryConversion.load(root + "/gpt2")) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors") && "\(error)".contains("transformer.ln_f.bias"), "\(error)")
        }
    }

    // MARK: errors

    private func assertConfigError(_ edit: @escaping (inout [String: Any]) -> Void, base: String = llamaDirectory,
                                   mentions words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try editedCopy(self, of: base, config: edit)
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(dir), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("config.json"), text, file: file, line: line)
            for word in words { XCTAssertTrue(text.contains(word), "'\(word)' not in: \(text)", file: file, line: line) }
        }
    }

    func testUnsupportedConfigsAreErrorsNamingKeyAndValue() throws {
        try assertConfigError({ $0["model_type"] = "mistral" }, mentions: ["model_type", "\"mistral\""])
        try assertConfigError({ $0["rope_scaling"] = ["rope_type": "linear", "factor": 2.0] }, mentions: ["rope_scaling", "linear"])
        try assertConfigError({ $0["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0] },
                              mentions: ["rope_parameters", "llama3"])
        try assertConfigError({ $0["hidden_act"] = "gelu" }, mentions: ["hidden_act", "\"gelu\"", "silu"])
        try assertConfigError({ $0["head_dim"] = 16 }, mentions: ["head_dim", "16", "8"])
        try assertConfigError({ $0["attention_bias"] = true }, mentions: ["mlp_bias"])
        try assertConfigError({ $0["sliding_window"] = 4096 }, mentions: ["sliding_window", "4096"])
        try assertConfigError({ $0["pretraining_tp"] = 2 }, mentions: ["pretraining_tp", "2"])
        try assertConfigError({ $0["num_attention_heads"] = "four" }, mentions: ["num_attention_heads", "\"four\"", "integer"])
        try assertConfigError({ $0.removeValue(forKey: "hidden_size") }, mentions: ["hidden_size", "missing"])
        try assertConfigError({ $0["num_key_value_heads"] = 3 }, mentions: ["n_kv_head", "3"])
        try assertConfigError({ $0["architectures"] = ["LlamaForSequenceClassification"] }, mentions: ["architectures", "LlamaForSequenceClassification"])
        try assertConfigError({ $0["activation_function"] = "relu" }, base: gpt2Directory, mentions: ["activation_function", "\"relu\""])
        try assertConfigError({ $0["scale_attn_by_inverse_layer_idx"] = true }, base: gpt2Directory, mentions: ["scale_attn_by_inverse_layer_idx"])
        try assertConfigError({ $0["attn_pdrop"] = 0.2 }, base: gpt2Directory, mentions: ["attn_pdrop", "0.2"])
        try assertConfigError({ $0["n_ctx"] = 64 }, base: gpt2Directory, mentions: ["n_ctx", "64", "n_positions"])
    }

    func testTensorProblemsAreErrorsNamingTheTensor() throws {
        func assertTensorError(_ base: String, _ edit: @escaping (inout [String: Tensor]) -> Void, mentions words: [String],
                               line: UInt = #line) throws {
            let dir = try editedCopy(self, of: base, tensors: edit)
            XCTAssertThrowsError(try HuggingFaceModelDirectory.load(dir), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("model.safetensors"), text, line: line)
                for word in words { XCTAssertTrue(text.contains(word), "'\(word)' not in: \(text)", line: line) }
            }
        }
        try assertTensorError(llamaDirectory, { $0.removeValue(forKey: "model.layers.1.self_attn.k_proj.weight") },
                              mentions: ["model.layers.1.self_attn.k_proj.weight", "missing"])
        try assertTensorError(llamaDirectory, { $0["model.layers.0.self_attn.q_proj.weight"] = Tensor.zeros([16, 32]) },
                              mentions: ["model.layers.0.self_attn.q_proj.weight", "[16, 32]", "[32, 32]"])
        try assertTensorError(llamaDirectory, { $0["model.layers.2.mlp.up_proj.weight"] = Tensor.zeros([64, 32]) },
                              mentions: ["unexpected", "model.layers.2.mlp.up_proj.weight"])
        try assertTensorError(llamaDirectory, { $0.removeValue(forKey: "lm_head.weight") }, mentions: ["lm_head.weight", "missing"])
        // Known computed buffers are skipped, not reported.
        let withBuffer = try editedCopy(self, of: llamaDirectory, tensors: { $0["model.rotary_emb.inv_freq"] = Tensor.ones([4]) })
        XCTAssertNoThrow(try HuggingFaceModelDirectory.load(withBuffer))
        // GPT-2 Conv1D given in Linear layout is caught by its shape.
        try assertTensorError(gpt2Directory, { $0["transformer.h.0.mlp.c_fc.weight"] = $0["transformer.h.0.mlp.c_fc.weight"]!.transpose(0, 1).contiguous() },
                              mentions: ["transformer.h.0.mlp.c_fc.weight", "[128, 32]", "[32, 128]"])
        // A tied head that differs from the embedding contradicts the config.
        try assertTensorError(gpt2Directory, { $0["lm_head.weight"] = Tensor.zeros([288, 32]) },
                              mentions: ["lm_head.weight", "tie_word_embeddings"])
    }

    func testDirectoryProblems() throws {
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load("/nonexistent/model")) { XCTAssertTrue("\($0)".contains("/nonexistent/model")) }
        let empty = try scratchDirectory(self)
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(empty)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        try FileManager.default.copyItem(atPath: gpt2Directory + "/config.json", toPath: empty + "/config.json")
        _ = FileManager.default.createFile(atPath: empty + "/pytorch_model.bin", contents: Data([0x80]))
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(empty)) { XCTAssertTrue("\($0)".contains("pytorch_model.bin"), "\($0)") }
        _ = FileManager.default.createFile(atPath: empty + "/config.json", contents: Data("{not json".utf8))
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(empty)) { XCTAssertTrue("\($0)".contains("not valid JSON"), "\($0)") }
        // A tokenizer with more ids than the model's vocabulary.
        let small = try editedCopy(self, of: gpt2Directory, config: { $0["vocab_size"] = 50 }) { tensors in
            tensors["transformer.wte.weight"] = tensors["transformer.wte.weight"]!.slice(0, 0, 50).contiguous()
        }
        try FileManager.default.copyItem(atPath: gpt2Directory + "/tokenizer.json", toPath: small + "/tokenizer.json")
        XCTAssertThrowsError(try HuggingFaceModelDirectory.load(small)) { XCTAssertTrue("\($0)".contains("vocab_size is 50"), "\($0)") }
        XCTAssertNoThrow(try HuggingFaceModelDirectory.load(small, loadTokenizer: false))
    }

    func testSavingAConfigTheArchitectureCannotExpress() throws {
        let llama = try HuggingFaceModelDirectory.load(llamaDirectory).model
        let out = try scratchDirectory(self) + "/x"
        XCTAssertThrowsError(try HuggingFaceModelDirectory.save(llama, to: out, architecture: .gpt2)) { error in
            XCTAssertTrue("\(error)".contains("'position'"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/model.safetensors"), "nothing is written for an inexpressible model")
    }
}
