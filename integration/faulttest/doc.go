// Package faulttest holds fault-injection tests of md-multiplexor. They
// build the real md-multiplexor binary and a misbehaving worker program
// (internal/testworker), start one multiplexor per test in a spool directory
// of its own, and check over the control socket that a worker which crashes,
// hangs, runs out of memory, writes garbage or half a line, or refuses to
// exit is killed and replaced while every other request is still answered.
//
// Run as root, the tests start the multiplexor with -U defang, as in
// production, and fail with instructions if that user does not exist; run as
// any other user, they start it without -U. The tests wait on real timeouts
// (-b 10, the 10 s + 10 s kill sequence), so they run in parallel: TestMain
// raises -test.parallel to 32 unless it is given. Run them with
//
//	go test -count=1 ./faulttest/
//
// Set MD_BIN_DIR to test an already built md-multiplexor instead of building
// one. The package has no non-test code; it is not for use by other packages.
package faulttest
