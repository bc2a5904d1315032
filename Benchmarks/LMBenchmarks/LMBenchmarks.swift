// LMBenchmarks
