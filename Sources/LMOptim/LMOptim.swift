// LMOptim: see README.md
