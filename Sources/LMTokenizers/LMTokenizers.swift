// LMTokenizers: see README.md
