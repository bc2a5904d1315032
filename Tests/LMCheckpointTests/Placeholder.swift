import XCTest
final class LMCheckpointTestsPlaceholder: XCTestCase {}
