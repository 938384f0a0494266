module github.com/mdgo/md/worker

go 1.26.8

require (
	blitiri.com.ar/go/spf v1.6.0
	github.com/miekg/dns v1.1.73
	github.com/spf13/cobra v1.10.2
	github.com/yuin/gopher-lua v1.1.2
	golang.org/x/net v0.63.0
	golang.org/x/text v0.44.0
)

require golang.org/x/sys v0.50.0 // indirect

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mdgo/md/internal v0.0.0
	github.com/mdgo/md/proto v0.0.0
	github.com/spf13/pflag v1.0.9 // indirect
)

replace github.com/mdgo/md/proto => ../proto

replace github.com/mdgo/md/internal => ../internal
