module github.com/mdgo/md/integration

go 1.26.8

require (
	github.com/mdgo/md/internal v0.0.0
	github.com/mdgo/md/proto v0.0.0
	github.com/mdgo/md/worker v0.0.0
	github.com/miekg/dns v1.1.73
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/mdgo/md/internal => ../internal

replace github.com/mdgo/md/proto => ../proto

replace github.com/mdgo/md/worker => ../worker
