module github.com/mdgo/md/milterd

go 1.26.8

require (
	github.com/d--j/go-milter v0.10.1
	github.com/emersion/go-message v0.18.2 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/text v0.28.0 // indirect
)
