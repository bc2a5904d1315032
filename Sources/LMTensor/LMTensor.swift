// LMTensor: see README.md
