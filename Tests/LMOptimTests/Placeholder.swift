import XCTest
final class LMOptimTestsPlaceholder: XCTestCase {}
