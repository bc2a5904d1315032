// The one user-facing error type of LMTrain: bad files, flags and configs, each message naming what is wrong and where.
import Foundation

/// A user-facing error of LMTrain (bad files, flags, configs); the message names what is wrong and where.
public enum TrainError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    public var description: String {
        switch self {
        case .invalidInput(let message): return message
        }
    }
}
