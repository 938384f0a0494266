module github.com/mdgo/md/internal

go 1.26.8

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	golang.org/x/sys v0.50.0
)

require github.com/inconshreveable/mousetrap v1.1.0 // indirect
