package daemon

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// The states the daemons send.
const (
	Ready    = sddaemon.SdNotifyReady    // READY=1
	Stopping = sddaemon.SdNotifyStopping // STOPPING=1
)

// Notify sends state (READY=1, STOPPING=1, ...) to the service manager
// through $NOTIFY_SOCKET (sd_notify(3)), as a unit with Type=notify expects.
// Without NOTIFY_SOCKET it does nothing and returns nil. NOTIFY_SOCKET stays
// in the environment: STOPPING=1 follows READY=1. (A daemon's children
// inherit it; with NotifyAccess=main systemd ignores anything they send.)
func Notify(state string) error {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("cannot notify the service manager (%s on %s): %w",
			strings.ReplaceAll(state, "\n", " "), os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// NotifyReadyFor is what the waiting parent of a background child sends
// once the child reports that it serves: the child becomes the service's
// main process (MAINPID=) and the service is ready; the parent exits next.
// The child itself never sends READY=1 (it is not the main process yet).
func NotifyReadyFor(pid int) error {
	return Notify(Ready + "\nMAINPID=" + strconv.Itoa(pid))
}

// NotifyStopping sends STOPPING=1 when SIGTERM arrives, for a daemon whose
// run loop shuts down on the same signal and may take seconds to go (the
// multiplexor's workers), so that the unit shows "deactivating" meanwhile.
// Without NOTIFY_SOCKET it does nothing. warn gets a failure to send.
// stop ends the watch; if SIGTERM came, it returns only once STOPPING=1
// has been sent, so that the message is not lost when the run loop
// returns before the watch got to it.
func NotifyStopping(warn func(string)) (stop func()) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	quit, finished := make(chan struct{}), make(chan struct{})
	send := func() {
		if err := Notify(Stopping); err != nil {
			warn(err.Error())
		}
	}
	go func() {
		defer close(finished)
		select {
		case <-sigs:
			send()
		case <-quit:
			select {
			case <-sigs:
				send()
			default:
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(quit)
		<-finished
	}
}
