// LMNN: see README.md
