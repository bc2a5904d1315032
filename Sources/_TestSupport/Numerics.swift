// Comparison and finite-difference gradient checking for tests. Not API.
import LMTensor
import XCTest

/// Asserts |actual - expected| ≤ atol + rtol·|expected| elementwise, reporting the worst element.
public func assertClose(_ actual: [Double], _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(message()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1, worstExcess = 0.0
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        if a == e { continue }  // equal infinities
        let excess = Swift.abs(a - e) - (atol + rtol * Swift.abs(e))
        if !(excess <= 0) && (worst < 0 || !(excess <= worstExcess)) { worst = i; worstExcess = excess }
    }
    if worst >= 0 {
        XCTFail("\(message()): element \(worst) is \(actual[worst]), expected \(expected[worst]) (rtol \(rtol), atol \(atol))",
                file: file, line: line)
    }
}

public func assertClose(_ actual: Tensor, _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual.toDoubles(), expected, rtol: rtol, atol: atol, message(), file: file, line: line)
}

/// Checks the autograd gradients of `f` at float64 `inputs` against central finite differences of
/// L = Σ f(x) ⊙ W for a fixed random W. Every input with `requiresGrad` is checked.
/// Returns the largest absolute difference seen.
@discardableResult
public func gradcheck(_ name: String, _ inputs: [Tensor], eps: Double = 1e-6, rtol: Double = 1e-5, atol: Double = 1e-7,
                      file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) -> Double {
    precondition(inputs.allSatisfy { $0.dtype == .float64 }, "gradcheck runs in float64")
    for x in inputs { x.grad = nil }
    let out = f(inputs)
    let w = Tensor.randn(out.shape, generator: Generator(seed: 99), dtype: .float64)
    (out * w).sum().backward()
    var worst = 0.0
    func loss() -> Double { noGrad { (f(inputs) * w).sum().toDoubles()[0] } }
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        precondition(x.isContiguous, "gradcheck inputs must be contiguous")
        let analytic = x.grad?.toDoubles() ?? [Double](repeating: 0, count: x.count)
        let p = x.pointer(Double.self)
        var numeric = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let saved = p[i]
            p[i] = saved + eps; let up = loss()
            p[i] = saved - eps; let down = loss()
            p[i] = saved
            numeric[i] = (up - down) / (2 * eps)
            worst = Swift.max(worst, Swift.abs(numeric[i] - analytic[i]))
        }
        assertClose(analytic, numeric, rtol: rtol, atol: atol, "\(name): gradient of input \(k)", file: file, line: line)
    }
    return worst
}
