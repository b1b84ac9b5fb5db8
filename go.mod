module github.com/edgemq/edgemq

go 1.26.8
