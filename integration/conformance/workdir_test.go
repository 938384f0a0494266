package conformance

import (
	"github.com/mdgo/md/proto"
	"github.com/mdgo/md/worker/workdir"
)

// The conformance harness builds its working directories with package
// workdir (shared with the benchmark driver); these are the harness's
// names for it.

// header is one top-level header field as the milter sees it: the name, and
// the raw value (folding kept, without the trailing newline).
type header struct {
	name, value string
}

// splitMessage splits a message with LF line endings into its header fields
// and body (workdir.SplitMessage).
func splitMessage(msg []byte) ([]header, []byte) {
	whs, body := workdir.SplitMessage(msg)
	hs := make([]header, len(whs))
	for i, h := range whs {
		hs[i] = header{name: h.Name, value: h.Value}
	}
	return hs, body
}

func unfold(v string) string { return workdir.Unfold(v) }

func commandsEncode(s string) string { return proto.EncodeCommands(s) }

// buildWorkDir writes INPUTMSG, HEADERS and COMMANDS for raw into dir the
// way md-milterd spools a message (workdir.Build).
func buildWorkDir(dir string, raw []byte, mxID, queueID string) error {
	return workdir.Build(dir, raw, mxID, queueID)
}
