// Package compattest checks that md-multiplexor is a drop-in replacement for
// MIMEDefang's mimedefang-multiplexor as seen from its control, unprivileged
// and notification sockets.
//
// The test starts the original (/usr/bin/mimedefang-multiplexor) and ours
// (bin/md-multiplexor) side by side with identical flags, the original worker
// /usr/bin/mimedefang.pl and a trivial filter, drives the same traffic
// through both, and then compares:
//
//   - the output of /usr/bin/md-mx-ctrl for every command of the golden
//     index (testdata/golden/md-mx-ctrl/index.tsv), and of our
//     md-mx-ctrl, against each multiplexor, with volatile numbers (process
//     ids, ages, uptimes, timings) masked but column layout kept;
//   - the raw replies of the priv and unpriv sockets, including the empty
//     reply of busyworkers when nothing is busy;
//   - the counters that do not depend on timing (msgs, the load counts, the
//     busy histogram, free, activations), exactly and against the expected
//     values;
//   - the sequence of -O notifications for a relayok, for the traffic, and
//     for the kills of a reread;
//   - which idle workers the idle timer kills (TestIdleTimeoutKeepsMinimum,
//     with -m 1 -x 3 -i 10): as many as leave -m running, no more.
//
// It is not a unit test of md-multiplexor and it does not test the milter.
// It needs root (the multiplexors drop to the user defang, as packaged), the
// Debian mimedefang package (`apt-get install -y mimedefang`) and built
// binaries (`make build`; MD_BIN_DIR overrides ../../bin). MD_GOLDEN_DIR
// overrides testdata/golden. Run it with
//
//	go test -count=1 -v ./compattest/
//
// The package has no non-test code.
package compattest
