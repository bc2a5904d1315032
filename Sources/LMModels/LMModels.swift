// LMModels: neural language models on top of LMNN. The strict config decoding every model and training config uses
// lives in the support layer (_LMSupport, not API); these aliases keep `ConfigError` and `StrictJSON` part of this
// target's public API, so `import LMModels` (or LMTrain, which re-exports it) is all a user needs to match on them.
import _LMSupport

/// A configuration that cannot be used; see `_LMSupport.ConfigError`.
public typealias ConfigError = _LMSupport.ConfigError
/// JSON decoding that rejects unknown keys; see `_LMSupport.StrictJSON`.
public typealias StrictJSON = _LMSupport.StrictJSON
