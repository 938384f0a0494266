module github.com/mdgo/md/proto

go 1.26.8

require github.com/mdgo/md/internal v0.0.0

replace github.com/mdgo/md/internal => ../internal
