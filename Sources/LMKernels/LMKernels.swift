// LMKernels: see README.md
