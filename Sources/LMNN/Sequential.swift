// Sequential container: applies its layers in order. State-dict keys are numbered from the container itself
// (`0.weight`, `2.bias`), exactly as torch.nn.Sequential names them, by overriding `children`.

import LMTensor

/// Layers applied one after another.
public final class Sequential: Module, UnaryLayer {
    public let layers: [any UnaryLayer]

    public init(_ layers: [any UnaryLayer]) { self.layers = layers }
    public convenience init(_ layers: any UnaryLayer...) { self.init(layers) }

    override public var children: [(name: String, value: Any)] {
        layers.enumerated().map { (String($0.offset), $0.element as Any) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}
