// swift-tools-version:6.0
// LMKit: train and run language models in Swift on Linux CPUs. See Docs/Architecture.md for the import rules.
import PackageDescription

// Numeric targets need FMA/AVX2/F16C: without them Swift lowers SIMD `addingProduct` to `fmaf` library calls and runs
// ~100x slower (shared/reference/swift-on-this-machine.md §2). x86-64-v3 is portable to every AVX2 CPU; never `native`.
#if arch(x86_64)
let numericFlags: [SwiftSetting] = [
    .swiftLanguageMode(.v5),
    .unsafeFlags(["-Xcc", "-march=x86-64-v3"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]
#else
let numericFlags: [SwiftSetting] = [.swiftLanguageMode(.v5), .unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
#endif

let package = Package(
    name: "LMKit",
    platforms: [.macOS(.v15)],  // Synchronization.Atomic (WorkerPool)
    products: [
        .library(name: "LMKit", targets: ["LMKernels", "LMTensor", "LMNN", "LMOptim", "LMCheckpoint", "LMTokenizers", "LMNGram", "LMWord2Vec", "LMModels", "LMTrain"]),
        .executable(name: "lmkit", targets: ["lmkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // MARK: Public targets
        .target(name: "LMKernels", dependencies: ["_CBLAS", "_CFFTW", .product(name: "RealModule", package: "swift-numerics")], swiftSettings: numericFlags),
        .target(name: "LMTensor", dependencies: ["LMKernels"], swiftSettings: numericFlags),
        .target(name: "LMNN", dependencies: ["LMTensor"], swiftSettings: numericFlags),
        .target(name: "LMOptim", dependencies: ["LMTensor"], swiftSettings: numericFlags),
        .target(name: "LMCheckpoint", dependencies: ["LMTensor", "_LMSupport"], swiftSettings: numericFlags),
        .target(name: "LMTokenizers", dependencies: ["_LMSupport"], swiftSettings: numericFlags),
        .target(name: "LMModels", dependencies: ["LMTensor", "LMNN", "LMCheckpoint", "LMTokenizers", "_LMSupport"], swiftSettings: numericFlags),
        .target(name: "LMTrain", dependencies: ["LMTensor", "LMNN", "LMOptim", "LMCheckpoint", "LMTokenizers", "LMModels", "_LMSupport"], swiftSettings: numericFlags),
        .target(name: "LMNGram", dependencies: ["_LMSupport"], swiftSettings: numericFlags),
        .target(name: "LMWord2Vec", dependencies: ["LMKernels", "_LMSupport"], swiftSettings: numericFlags),
        // Data-parallel training over Open MPI (`mpirun -np N lmkit train`); LMTrain only sees its DataParallelGroup seam.
        .target(name: "LMDistributed", dependencies: ["_CMPI", "LMTensor", "LMTrain"], swiftSettings: numericFlags),
        .target(name: "LMBenchmarks",
                dependencies: ["_CBLAS", "LMKernels", "LMTensor", "LMNN", "LMOptim", "LMTokenizers", "LMNGram", "LMWord2Vec", "LMModels", "LMTrain"],
                path: "Benchmarks/LMBenchmarks", swiftSettings: numericFlags),

        // MARK: Implementation details (not API)
        .systemLibrary(name: "_CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // FFTW 3, float and double: S4D's long convolutions (LMKernels/FFTConvolution.swift).
        .systemLibrary(name: "_CFFTW", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),
        // Open MPI (`make` installs it when missing, like OpenBLAS and FFTW): LMDistributed's collectives.
        .systemLibrary(name: "_CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // Atomic writes, read-only mappings, strict JSON configs: Foundation only, `package` access (ConfigError and
        // StrictJSON are public because LMModels re-exports them).
        .target(name: "_LMSupport", swiftSettings: numericFlags),
        .target(name: "_TestSupport", dependencies: ["LMTensor"], swiftSettings: numericFlags),

        // MARK: Executables
        .executableTarget(name: "lmkit",
                          dependencies: ["LMTensor", "LMNN", "LMOptim", "LMCheckpoint", "LMTokenizers", "LMNGram", "LMWord2Vec", "LMModels", "LMTrain", "LMBenchmarks", "LMDistributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: numericFlags),

        // MARK: Tests (Tests/Fixtures holds committed reference values; Scripts/fixtures/ regenerates them)
        .testTarget(name: "LMKernelsTests", dependencies: ["LMKernels", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMTensorTests", dependencies: ["LMTensor", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMNNTests", dependencies: ["LMNN", "LMOptim", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMOptimTests", dependencies: ["LMOptim", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMCheckpointTests", dependencies: ["LMCheckpoint", "LMNN", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMTokenizersTests", dependencies: ["LMTokenizers", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMNGramTests", dependencies: ["LMNGram", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMModelsTests", dependencies: ["LMModels", "LMOptim", "LMCheckpoint", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMTrainTests", dependencies: ["LMTrain", "LMModels", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMDistributedTests", dependencies: ["LMTrain", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "LMWord2VecTests", dependencies: ["LMWord2Vec", "_TestSupport"], swiftSettings: numericFlags),
        .testTarget(name: "_LMSupportTests", dependencies: ["_LMSupport"], swiftSettings: numericFlags),
    ]
)
