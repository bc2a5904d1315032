// LMCheckpoint: see README.md
