// Old vs new Float exp on the loops that use it (1 thread, 8192×768 floats, 15 interleaved runs each): GELU forward
// and backward (16 lanes), softmax rows (old: scalar fastExp loop + SIMD16 sum; new: SIMDMath.expShifted), and a
// scalar sigmoid map. Built and run by run.sh; results in BENCHMARKS.md "Strided and padded attention".
import Foundation
typealias V16 = SIMD16<Float>
@inline(__always) func load(_ p: UnsafePointer<Float>) -> V16 { UnsafeRawPointer(p).loadUnaligned(as: V16.self) }
@inline(__always) func store(_ v: V16, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self) }
let rows = 8192, C = 768, n = rows * C
let x = UnsafeMutablePointer<Float>.allocate(capacity: n), y = UnsafeMutablePointer<Float>.allocate(capacity: n), g = UnsafeMutablePointer<Float>.allocate(capacity: n)
for i in 0..<n { x[i] = Float(sin(Double(i) * 0.001) * 4); g[i] = Float(cos(Double(i) * 0.003)) }
let c: Float = 0.7978845608028654

@inline(never) func geluFwdOld() { var i = 0; while i + 16 <= n { let v = load(x + i); let u = c * (v + 0.044715 * v * v * v); let t = 1 - 2 / (Old.exp(2 * u) + 1); store(0.5 * v * (1 + t), y + i); i += 16 } }
@inline(never) func geluFwdNew() { var i = 0; while i + 16 <= n { let v = load(x + i); let u = c * (v + 0.044715 * v * v * v); let t = 1 - 2 / (New.exp(2 * u) + 1); store(0.5 * v * (1 + t), y + i); i += 16 } }
@inline(never) func geluBwdOld() { var i = 0; while i + 16 <= n { let v = load(x + i); let v2 = v * v; let u: V16 = c * (v + 0.044715 * v2 * v); let t = 1 - 2 / (Old.exp(2 * u) + 1); let one = V16(repeating: 1); let slope: V16 = (one + 0.134145 * v2) * c; let sech2: V16 = one - t * t; let d: V16 = 0.5 * (one + t) + 0.5 * v * sech2 * slope; store(load(g + i) * d, y + i); i += 16 } }
@inline(never) func geluBwdNew() { var i = 0; while i + 16 <= n { let v = load(x + i); let v2 = v * v; let u: V16 = c * (v + 0.044715 * v2 * v); let t = 1 - 2 / (New.exp(2 * u) + 1); let one = V16(repeating: 1); let slope: V16 = (one + 0.134145 * v2) * c; let sech2: V16 = one - t * t; let d: V16 = 0.5 * (one + t) + 0.5 * v * sech2 * slope; store(load(g + i) * d, y + i); i += 16 } }
@inline(never) func softmaxOld() { for r in 0..<rows { let xr = x + r * C, yr = y + r * C; let m: Float = 4; for j in 0..<C { yr[j] = Old.fastExp(xr[j] - m) }; let inv = 1 / Old.sum(yr, C); for j in 0..<C { yr[j] *= inv } } }
@inline(never) func softmaxNew() { for r in 0..<rows { let xr = x + r * C, yr = y + r * C; let m: Float = 4; let inv = 1 / New.expShifted(xr, yr, C, by: m); for j in 0..<C { yr[j] *= inv } } }
@inline(never) func sigmoidOld() { for i in 0..<n { y[i] = 1 / (1 + Old.fastExp(-x[i])) } }
@inline(never) func sigmoidNew() { for i in 0..<n { y[i] = 1 / (1 + Float.newFastExp(-x[i])) } }

func time(_ f: () -> Void) -> Double { let t0 = DispatchTime.now().uptimeNanoseconds; f(); return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6 }
let pairs: [(String, () -> Void, () -> Void)] = [("gelu fwd", geluFwdOld, geluFwdNew), ("gelu bwd", geluBwdOld, geluBwdNew),
    ("softmax fwd", softmaxOld, softmaxNew), ("sigmoid map (scalar exp)", sigmoidOld, sigmoidNew)]
for (name, a, b) in pairs {
    var ta: [Double] = [], tb: [Double] = []
    a(); b()
    for _ in 0..<15 { ta.append(time(a)); tb.append(time(b)) }
    ta.sort(); tb.sort()
    print(String(format: "%-26@ old median %.2f ms (min %.2f)   new median %.2f ms (min %.2f)   new/old %.3f", name as NSString, ta[7], ta[0], tb[7], tb[0], tb[7] / ta[7]))
}
