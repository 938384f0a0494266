module github.com/mdgo/md/proto

go 1.26.8
