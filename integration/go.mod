module github.com/mdgo/md/integration

go 1.26.8
