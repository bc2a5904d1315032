#!/bin/sh
# Times the pre-unification exp forms (old.swift) against Sources/LMKernels/SIMDMath+Exp.swift, copied into a
# standalone binary with the package's release flags. Usage: sh Benchmarks/micro/exp/run.sh (from the repository root).
set -e
dir=$(mktemp -d)
here=$(dirname "$0")
sed -n '/^extension SIMDMath {/,$p' Sources/LMKernels/SIMDMath+Exp.swift \
  | sed 's/extension SIMDMath {/enum New {\n    typealias V = SIMD16<Float>/; s/public static func fastExp/static func newFastExp/; s/Float.fastExp(x\[i\] - shift)/Float.newFastExp(x[i] - shift)/' \
  > "$dir/new.swift"
swiftc -Ounchecked -Xcc -march=x86-64-v3 "$here/old.swift" "$dir/new.swift" "$here/main.swift" -o "$dir/expbench"
"$dir/expbench"
rm -rf "$dir"
