module github.com/mdgo/md/internal

go 1.26.8
