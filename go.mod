module github.com/edgemq/edgemq

go 1.26.8

require go.bug.st/serial v1.8.0

require golang.org/x/sys v0.43.0 // indirect
