import XCTest
final class LMTensorTestsPlaceholder: XCTestCase {}
