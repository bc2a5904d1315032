// The families' "training lowers the loss" check in one place: 60 AdamW steps (lr 1e-2, weight decay 0.1) on a short
// repeating sequence (period 11, batch 2 × 16), which a model whose forward and backward work memorizes.
import LMModels
import LMOptim
import LMTensor

/// The loss of the first and of the last step; `loss` computes one step's loss on the batch.
func memorizationLosses(_ parameters: [(name: String, tensor: Tensor)], loss: (TokenBatch) -> Tensor) -> (first: Double, last: Double) {
    let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(parameters, learningRate: 1e-2, weightDecay: 0.1))
    let sequence = (0..<33).map { ($0 * 5) % 11 }
    let batch = TokenBatch(inputs: Array(sequence[0..<16]) + Array(sequence[16..<32]),
                           targets: Array(sequence[1..<17]) + Array(sequence[17..<33]), batch: 2, length: 16)
    var first = 0.0, last = 0.0
    for step in 0..<60 {
        optimizer.zeroGrad()
        let value = loss(batch)
        value.backward()
        optimizer.step()
        if step == 0 { first = Double(value.item()) }
        last = Double(value.item())
    }
    return (first, last)
}
