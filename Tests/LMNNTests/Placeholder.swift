import XCTest
final class LMNNTestsPlaceholder: XCTestCase {}
