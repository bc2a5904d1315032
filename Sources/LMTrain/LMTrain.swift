// LMTrain: token files, batches, the training loop and its checkpoints, on top of LMModels.
// Re-exports LMModels so `import LMTrain` is enough to build, train and sample a model.
@_exported import LMModels
