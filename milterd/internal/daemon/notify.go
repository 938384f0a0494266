package daemon

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// The states md-milterd sends.
const (
	sddaemonReady    = sddaemon.SdNotifyReady    // READY=1
	sddaemonStopping = sddaemon.SdNotifyStopping // STOPPING=1
)

// notify sends state (READY=1, STOPPING=1, ...) to the service manager
// through $NOTIFY_SOCKET (sd_notify(3)), as a unit with Type=notify expects.
// Without NOTIFY_SOCKET it does nothing and returns nil. NOTIFY_SOCKET stays
// in the environment: STOPPING=1 follows READY=1.
func notify(state string) error {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("cannot notify the service manager (%s on %s): %w",
			strings.ReplaceAll(state, "\n", " "), os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// notifyReadyFor is what the waiting parent of a background child sends
// once the child reports that it serves: the child becomes the service's
// main process (MAINPID=) and the service is ready; the parent exits next.
// The child itself never sends READY=1 (it is not the main process yet).
func notifyReadyFor(pid int) error {
	return notify("READY=1\nMAINPID=" + strconv.Itoa(pid))
}
