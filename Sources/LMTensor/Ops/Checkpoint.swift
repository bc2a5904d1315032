// Gradient checkpointing (torch.utils.checkpoint with use_reentrant=False): the wrapped function runs forward without
// recording a graph, so none of its inner activations stay alive; backward runs it again with recording on and
// back-propagates through that fresh graph. Random streams the function draws from (dropout) are rewound to where
// they stood at the forward call, so the replay sees the same masks and the gradients are bitwise those of the
// un-checkpointed graph; afterwards they are put back where the forward pass left them.

extension Tensor {
    /// `body(inputs)`, keeping only `inputs` and the output for backward. Parameters `body` uses (captured, not passed)
    /// still get their gradients: the replay's own backward accumulates them into `.grad` as usual. `generators`: every
    /// random stream `body` draws from. Outside grad mode this is just `body(inputs)`.
    public static func checkpoint(_ inputs: [Tensor], generators: [Generator] = [], _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
        guard gradModeEnabled else { return body(inputs) }
        let before = generators.map(\.offset)
        let autocast = Autocast.dtype  // the replay computes in the forward's precision, wherever backward is called
        let output = noGrad { body(inputs) }
        let after = generators.map(\.offset)
        output.requiresGrad = true
        output.gradNode = GradNode(name: "checkpoint", inputs: inputs) { g in
            for (generator, offset) in zip(generators, before) { generator.offset = offset }
            let replayInputs = inputs.map { $0.detach().requiringGrad($0.requiresGrad) }
            gradModeEnabled = true
            let replayed = Autocast.with(autocast) { body(replayInputs) }
            gradModeEnabled = false  // backward closures run under noGrad
            for (generator, offset) in zip(generators, after) { generator.offset = offset }
            if replayed.requiresGrad { replayed.backward(g) }
            return zip(inputs, replayInputs).map { input, replay in
                input.requiresGrad ? (replay.grad ?? Tensor(zeros: input.shape, dtype: input.dtype)) : nil
            }
        }
        return output
    }
}
