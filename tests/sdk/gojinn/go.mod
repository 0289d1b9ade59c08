module github.com/pauloappbr/gojinn

go 1.21
