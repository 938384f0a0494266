module github.com/mdgo/md/milterd

go 1.26.8
