module github.com/mdgo/md/multiplexor

go 1.26.8

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/prometheus/client_golang v1.25.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/sys v0.50.0
)
