import XCTest
@testable import LMTrain
