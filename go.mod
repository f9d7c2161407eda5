module github.com/pogoserver/pogo

go 1.26.8
