import XCTest
final class LMKernelsTestsPlaceholder: XCTestCase {}
