// Counts heap allocations, so that a test can show a path makes none.
//
// Linking verdict_allocation_counter replaces the global operator new and
// delete (every form) of the whole test binary with ones that count and
// call malloc and free. ASan brings its own operator new; under it nothing
// is replaced and CountsAllocations() is false, so such tests skip. The
// count is process-wide: compare it before and after, on one thread.

#ifndef VERDICT_TESTS_TESTING_ALLOCATION_COUNTER_H_
#define VERDICT_TESTS_TESTING_ALLOCATION_COUNTER_H_

namespace verdict::testing {

// False when allocations cannot be counted (ASan).
bool CountsAllocations();

// Allocations made through operator new since the process started.
long Allocations();

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_ALLOCATION_COUNTER_H_
